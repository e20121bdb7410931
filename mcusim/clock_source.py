"""Where the core clock of a run comes from (docs/clocks.md), and what the firmware's clock
and power control (RCC, PWR voltage scaling, ICACHE) changes in the timing parts.

Modes: "override" (--clock-mhz: the run starts at that clock); "reset" (from the reset
state: the reset clock, then what the firmware's RCC configuration makes it); "auto" (the
catalog's run clock until the firmware first touches a clock-control register, which makes
the run one from reset, from cycle 0); "run" (auto, at the end of a run that never did).
"""

from __future__ import annotations


class ClockSource:
    def __init__(self, clock, clock_mhz, reset_clock: bool, start_state: str):
        self.clock = clock
        reset = reset_clock or start_state == "reset"
        self.mode = "override" if clock_mhz else "reset" if reset else "auto"
        self.rcc = None                 # the RCC model (kernel clocks), when the MCU has one
        self.devices: dict = {}         # the peripherals (their reset_state())
        self.memory_model = self.coster = None

    def wire(self, devices: dict, memory_model, coster) -> None:
        self.devices, self.memory_model, self.coster = devices, memory_model, coster
        self.rcc = next((d for d in devices.values() if hasattr(d, "kernel_hz")), None)

    def access(self, in_slice: bool) -> None:
        """The firmware (not the simulator) accessed a clock-control register: in "auto"
        mode it manages its own clock, so the run is one from reset (retroactively: the
        cycles so far count at the reset clock; they ran with the run configuration's flash
        timing, typically the few hundred cycles of start-up code before SystemInit)."""
        if self.mode == "auto" and in_slice:
            self.start_from_reset()

    def start_from_reset(self) -> None:
        self.mode = "reset"
        if self.rcc is not None:
            self.clock.restart(self.rcc.reset_state_clock())
        for dev in self.devices.values():
            f = getattr(dev, "reset_state", None)
            if f is not None:
                f()

    def run_ended(self) -> None:
        if self.mode == "auto":
            self.mode = "run"           # the firmware never touched its clock

    def set_voltage_range(self, name: str) -> None:
        if self.mode != "reset":
            return                      # run configuration or --clock-mhz: the catalog's range
        if self.memory_model is not None:
            self.memory_model.set_voltage_range(name)
        self.coster.recost()

    def kernel_clock_hz(self, name: str) -> float | None:
        return self.rcc.kernel_hz(name) if self.rcc is not None else None

    def icache_changed(self, enabled: bool, ways: int, invalidate: bool) -> None:
        if self.memory_model is not None:
            self.memory_model.set_st_icache(enabled, ways, invalidate)
        self.coster.recost()
