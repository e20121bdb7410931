"""Power models and energy accounting (pure Python; the machine supplies a Timeline).

    model = PowerModel.from_catalog("stm32l4r5", load_mcu("stm32l4r5"))
    report = account(Timeline.constant(cycles, 120e6, windows=[...]), model)

See :mod:`mcusim.power.model` for the current model and its units,
:mod:`mcusim.power.energy` for the accounting method and its approximations.
"""

from .energy import EnergyReport, Segment, Timeline, account, build_segments
from .model import LOCATIONS, PowerModel
from .trace import plot_power_trace, trace_rows, write_power_trace_csv

__all__ = [
    "PowerModel", "LOCATIONS", "Timeline", "Segment", "EnergyReport", "account",
    "build_segments", "write_power_trace_csv", "plot_power_trace", "trace_rows",
]
