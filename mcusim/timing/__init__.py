"""Timing models: per-block core cost (``core``); the memory model lives in ``memory``."""

from .core import BlockCost, CoreTiming, TimingError, div_cycles, load_timing_table

__all__ = ["BlockCost", "CoreTiming", "TimingError", "div_cycles", "load_timing_table"]
