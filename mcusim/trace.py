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
    accel_begin: dict | None = None   # accelerator counters at the ends (mcusim/accelerators)
    accel_end: dict | None = None
    activity: dict | None = None      # activity event counts (mcusim/power/activity.py)
    activity_begin: tuple | None = None   # (while open) the meter's snapshot at the start


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
    accelerators: list | None = None  # per accelerator plugin: description and counters
    host_seconds: float = 0.0
    host_in_cpu: float = 0.0
    warnings: list[str] = field(default_factory=list)
    clock_mode: str = "run"           # run | reset | override (mcusim.machine.Machine)
    gpio: list[tuple[int, str, int, int]] = field(default_factory=list)  # pin changes:
    #                                   (cycle, port "PC", pin, level)
    activity: dict | None = None      # the run's activity event counts (power/activity.py)

    @property
    def clock_hz(self) -> float:
        return self.clock.hz

    @property
    def clock_changes(self) -> list[tuple[int, float]]:
        return self.clock.changes

    def seconds(self, cycles: int | None = None) -> float:
        return self.clock.seconds(self.cycles if cycles is None else cycles)

    @classmethod
    def of(cls, m) -> "RunTrace":
        """The trace of a finished machine, read from its parts' public state."""
        pwr = m.peripherals.get("pwr")
        lpms = pwr.low_power_mode() if pwr is not None and hasattr(pwr, "low_power_mode") \
            and getattr(pwr, "regs", None) else None
        sd, mm, cpu = m.simdev, m.memory_model, m.cpu
        return cls(
            mcu=m.mcu, mode=m.mode, outcome=m.outcome, exit_code=m.exit_code, fault=m.fault,
            limit_reason=m.limit_reason, cycles=m.cycles, instructions=m.instructions,
            clock=m.clock, power_states=list(cpu.state_log), sleep_cycles=cpu.sleep_cycles,
            deepsleep_cycles=cpu.deepsleep_cycles, deep_sleep_mode=lpms,
            exception_cycles=m.exceptions.cycles, exceptions_taken=m.exceptions.taken,
            causes=m.coster.cause_snapshot(),
            bus_stall_cycles=int(m.system.stats().get("cpu_stall_cycles", 0)),
            blocks=list(m.coster.block_cycles()), call_tree=m.coster.profile_nodes(),
            layers=list(sd.layers), windows=list(sd.windows), arena_bytes=sd.arena_bytes,
            runtime_error=(sd.error, sd.error_arg) if sd.error else None,
            stack_peak=m.stack_peak, stdout=bytes(m.captured), stderr=bytes(m.captured_err),
            firmware=m.fw, entry_pc=getattr(m, "entry_pc", 0),
            memory_stats=(mm.summary() if hasattr(mm, "summary") else dict(mm.stats))
            if mm is not None and hasattr(mm, "stats") else {},
            system_stats=m.system.stats(),
            verify=m.verifier.summary() if m.verifier is not None else None,
            accelerators=m.accelerators.summary() if m.accelerators is not None else None,
            host_seconds=m.host_seconds, host_in_cpu=cpu.host_in_cpu, warnings=sorted(m.warned),
            clock_mode=getattr(m, "clock_mode", "run"), gpio=list(getattr(m, "gpio_log", ())),
            activity=sd.activity_total() if hasattr(sd, "activity_total") else None)

    def region_at(self, addr: int):
        """The catalog memory region holding `addr` (aliases included), or None."""
        from mcusim.memory_map import mcu_regions, region_in
        return region_in(mcu_regions(self.mcu), addr)[0]
