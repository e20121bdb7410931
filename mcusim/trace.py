"""What a finished run produced, as one typed value: `RunTrace`.

`Machine.run()` returns it; the run record (mcusim/record.py), the energy accounting
(mcusim/power/run_energy.py), the inference report and the CLI read the trace, never the
machine's parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcusim.timebase import Clock


@dataclass
class Interval:
    """A marked stretch of the run (a layer, an inference window), in core cycles, with
    the cycles-by-cause snapshots at its ends."""
    index: int
    op: int
    macs: int
    begin: int
    end: int | None = None
    causes_begin: tuple = ()
    causes_end: tuple = ()


@dataclass
class RunTrace:
    mcu: object                       # McuSpec
    mode: str
    outcome: str | None               # exit | fault | limit | diverged
    exit_code: int | None
    fault: object | None              # mcusim.faults.FaultInfo
    limit_reason: str | None
    cycles: int
    instructions: int
    clock: Clock                      # the clock and its changes
    power_states: list[tuple[int, str]]          # (cycle, run | sleep | deepsleep)
    sleep_cycles: int
    deepsleep_cycles: int
    deep_sleep_mode: int | None       # the STM32 PWR low-power mode firmware selected
    exception_cycles: int
    exceptions_taken: int
    causes: tuple[int, int]           # core issue cycles, taken-branch refills
    bus_stall_cycles: int
    blocks: list[tuple[int, int, int, int]]      # (address, executions, cycles, instructions)
    call_tree: list[tuple[int, int, int, int]]   # (parent, function, cycles, calls); [] off
    layers: list[Interval]
    windows: list[Interval]
    arena_bytes: int | None
    runtime_error: tuple[int, int] | None        # (code, argument) the runtime reported
    stack_peak: int | None
    stdout: bytes
    stderr: bytes
    firmware: object | None           # mcusim.elf.Firmware (symbols, segments)
    entry_pc: int
    memory_stats: dict = field(default_factory=dict)   # the memory model's summary
    system_stats: dict | None = None
    verify: dict | None = None
    host_seconds: float = 0.0
    host_in_cpu: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def clock_hz(self) -> float:
        return self.clock.hz

    @property
    def clock_changes(self) -> list[tuple[int, float]]:
        return self.clock.changes

    def seconds(self, cycles: int | None = None) -> float:
        return self.clock.seconds(self.cycles if cycles is None else cycles)

    def region_at(self, addr: int):
        """The catalog memory region holding `addr` (aliases included), or None."""
        for r in self.mcu.memories:
            for base in (r.base, *r.aliases):
                if base <= addr < base + r.size:
                    return r
        return None
