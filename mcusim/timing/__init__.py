"""Timing: the core timing model (``core``: per-block cost from the TRM tables), the memory
model (``memory``: wait states, flash accelerators, caches) and the block hook that charges
their costs in bulk (``blocks``)."""

from .core import BlockCost, CoreTiming, TimingError, div_cycles, load_timing_table

__all__ = ["BlockCost", "CoreTiming", "TimingError", "div_cycles", "load_timing_table"]
