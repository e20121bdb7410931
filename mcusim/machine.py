"""The machine: a thin assembly of explicitly wired parts (docs/architecture.md).

    Clock, CPU (Unicorn) --- MemoryMap (regions, MMIO windows)
      |                          |
    BlockCoster (timing) -- Timebase (cycles, SimPy events, spin-waits)
      |                          |
    ExceptionModel (mcusim/exceptions.py) -- SystemControlSpace (NVIC, SCB, SysTick, DWT)
      |
    devices: STM32 peripherals, semihosting, the simulator's control block, bus masters

Time is counted in core clock cycles. Unicorn runs in slices; the block hook adds each
translated block's cost (decided once per block, in bulk) and stops the slice at a block
boundary when the next scheduled event is due. The CPU is one SimPy process; devices
schedule SimPy events; interrupts they raise are taken at the next block boundary.
Devices use the machine only through `mcusim.devices.MachineInterface`.
"""

from __future__ import annotations

import sys
import time

from unicorn import UC_ARCH_ARM, UC_MODE_THUMB, Uc
from unicorn import arm_const as A

from mcusim import faults as F
from mcusim import nvic as N
from mcusim.timing.blocks import load_timing, make_coster
from mcusim.timing.memory import memory_model_wanted
from mcusim.timing.native import make_memory_model
from mcusim.cpu import vector_table_reset
from mcusim.clock_source import ClockSource
from mcusim.cpu_process import CpuProcess
from mcusim.output import ProgramOutput
from mcusim.elf import Firmware
from mcusim.errors import UserError
from mcusim.exceptions import ExceptionModel
from mcusim.memory_map import MemoryMap, round_up
from mcusim.peripherals import Unmodelled, model_class
from mcusim.peripherals.simdev import SIMDEV_BASE, SIMDEV_SIZE, SimDevice
from mcusim.scs import PPB_BASE, PPB_SIZE, SystemControlSpace
from mcusim.semihost import Semihosting
from mcusim.timebase import Clock, Timebase
from mcusim.trace import RunTrace

UC_CPUS = {
    "cortex-m0": A.UC_CPU_ARM_CORTEX_M0, "cortex-m3": A.UC_CPU_ARM_CORTEX_M3,
    "cortex-m4": A.UC_CPU_ARM_CORTEX_M4, "cortex-m7": A.UC_CPU_ARM_CORTEX_M7,
    "cortex-m33": A.UC_CPU_ARM_CORTEX_M33,
}
MAX_SLICE = 4_000_000       # cycles; bounds the wall-clock check interval


class Machine:
    def __init__(self, mcu, *, clock_mhz: float | None = None, mode: str = "fast",
                 uart_input: bytes = b"", semihost_dir: str | None = None,
                 stdout=None, stderr=None, warn=None, timing=None, profile: bool = False,
                 skip_spin_waits: bool = True, reset_clock: bool = False):
        self.mcu, self.core, self.mode = mcu, mcu.core, mode
        self.v6m = self.core.arch == "armv6-m"
        self.has_fpu = bool(self.core.fpu)
        self._warn = warn or (lambda msg: print(f"mcusim: warning: {msg}", file=sys.stderr))
        self.warned: set[str] = set()
        self.program_output = ProgramOutput(stdout, stderr, self.warn_once)
        self.captured, self.captured_err = self.program_output.out, self.program_output.err
        self.output_dropped = self.program_output.dropped     # bytes of program output not kept
        cpu = UC_CPUS.get(self.core.unicorn_cpu)
        if cpu is None:
            raise UserError(f"core {self.core.name}: no Unicorn CPU model {self.core.unicorn_cpu!r}")
        # the parts, in dependency order
        self.clock = Clock(float(clock_mhz if clock_mhz else mcu.clock_mhz) * 1e6)
        self.clock_source = ClockSource(self.clock, clock_mhz, reset_clock, mcu.start_state)
        self.gpio_log: list[tuple[int, str, int, int]] = []   # (cycle, port, pin, level)
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=cpu)
        self.memory = MemoryMap(self.uc, mcu)
        timing = timing if timing is not None else load_timing(self.core, self.warn_once)
        self.memory_model = make_memory_model(
            mcu, mode, self.uc, self.memory, self.clock, timing,
            self.warn_once) if memory_model_wanted() else None
        self.coster = make_coster(self, timing, self.memory_model)
        if profile:
            self.coster.enable_profile()
        self.timebase = Timebase(self.coster, self.uc, self.memory, skip_spin_waits)
        self.clock.subscribe(lambda hz: self.coster.recost())   # wait states follow the clock
        self.env = self.timebase.env
        self.exc = N.ExceptionState(mcu.num_irqs, self.core.nvic_prio_bits, self.v6m)
        self.scs = SystemControlSpace(self, mcu.systick.ref_clock_divider)
        self.exceptions = ExceptionModel(self.uc, self.core, self.exc, self.scs, self.memory,
                                         self.coster, self._charge, self._fatal)
        self.simdev = SimDevice(self)
        self.semihost = Semihosting(self, semihost_dir)
        self.uarts: list = []
        self.uart_host = None         # a live serial link (mcusim serve)
        self.peripherals: dict[str, object] = {}
        self.flash_acr = None         # the FLASH interface model (ACR for the memory model)
        self.slice_hooks: list = []   # f(t0, t1) -> extra CPU stall cycles, after each slice
        self.verifier = None          # mcusim.verify.Verifier when --verify
        self.accelerators = None      # [[accelerators]] plugins (mcusim/accelerators/)
        self.custom_instructions = None   # their trapped coprocessor instructions
        self.slice_cycles = MAX_SLICE
        # the run's outcome
        self.outcome: str | None = None
        self.exit_code: int | None = None
        self.fault = None
        self.limit_reason: str | None = None
        self.fw: Firmware | None = None
        self._map_devices()
        self.cpu = CpuProcess(self)
        self.coster.install(self.uc)
        if self.memory_model is not None:     # its hooks after the coster's block hook
            self.memory_model.connect(self.coster, self.timebase)
        self.clock_source.wire(self.peripherals, self.memory_model, self.coster)
        if self.clock_mode == "reset":
            self.clock_source.start_from_reset()
        from mcusim.peripherals.dma import DMA_BASE, DMA_SIZE, DmaEngine
        from mcusim.system import attach_system
        self.system = attach_system(self)
        self.system.devices["dma"] = dma = DmaEngine(self.system)
        self.map_device(DMA_BASE, DMA_SIZE, dma)
        if mcu.accelerators:
            from mcusim.accelerators.attach import attach_accelerators
            self.accelerators = attach_accelerators(self)
        if uart_input:
            self.feed_uart(uart_input)

    def _map_devices(self) -> None:
        mem = self.memory
        mem.map_device(PPB_BASE, PPB_SIZE, self.scs)
        mem.map_device(SIMDEV_BASE, SIMDEV_SIZE, self.simdev)
        specs = sorted(self.mcu.peripherals, key=lambda p: p.base)
        ranges = [p for p in specs if p.model == "unmodelled"]
        devices = {}
        for p in specs:
            if p.model == "unmodelled":
                continue
            cls = model_class(p.model)        # the catalog schema refused unknown models
            dev = devices[p.name] = (p, cls(self, p))
            self.peripherals[p.name] = dev[1]
            if p.model == "stm32-flash":
                self.flash_acr = dev[1]
        mem.map_peripherals(devices, ranges, lambda spec: Unmodelled(self, spec))

    def map_device(self, base: int, size: int, dev) -> None:
        """Map another device (bus masters, accelerators) into the address space."""
        self.memory.map_device(base, round_up(size), dev)

    # ------------------------------------------------------------------ loading and reset
    def load(self, fw: Firmware) -> None:
        self.fw = fw
        self.memory.load(fw)

    def reset(self) -> None:
        """Take reset as the core does: SP_main and the reset vector from the vector table
        at the boot address (VTOR's reset value; aliased to flash)."""
        boot = self.mcu.boot_address
        path = self.fw.path if self.fw is not None else "firmware"
        self.scs.vtor = boot
        self.cpu.pc = self.entry_pc = vector_table_reset(self.uc, self.memory, boot, path,
                                                         self.mcu.name)

    # ------------------------------------------------------------------ the device interface
    @property
    def cycles(self) -> int:
        return self.coster.cycles

    @cycles.setter
    def cycles(self, v: int) -> None:
        self.coster.cycles = v

    @property
    def clock_hz(self) -> float:
        return self.clock.hz

    def now(self) -> int:
        return self.coster.cycles

    def now_precise(self) -> int:
        return self.timebase.now_precise()

    def schedule(self, at: int, cb, name: str = "", wakes: bool = True):
        return self.timebase.schedule(at, cb, name, wakes)

    def poll(self, key: str, value: int, ready_at: int | None) -> bool:
        return self.timebase.poll(key, value, ready_at)

    def seconds(self) -> float:
        return self.clock.seconds(self.cycles)

    def set_clock(self, hz: float, source: str = "") -> None:
        self.clock.set(hz, self.cycles)

    # clock and power control (ClockSource, docs/clocks.md)
    @property
    def clock_mode(self) -> str:
        return self.clock_source.mode

    def clock_control_access(self) -> None:
        self.clock_source.access(self.timebase.in_slice)

    def set_voltage_range(self, name: str) -> None:
        self.clock_source.set_voltage_range(name)

    def kernel_clock_hz(self, name: str) -> float | None:
        return self.clock_source.kernel_clock_hz(name)

    def icache_changed(self, enabled: bool, ways: int, invalidate: bool) -> None:
        self.clock_source.icache_changed(enabled, ways, invalidate)

    def gpio_changed(self, port: str, pin: int, level: int) -> None:
        self.gpio_log.append((self.now_precise(), port, pin, level))

    def flash_acr_changed(self, value: int) -> None:
        if self.memory_model is not None:
            self.memory_model.set_flash_acr(value)
        self.coster.recost()

    def caches_changed(self, ccr: int) -> None:
        if self.memory_model is not None:
            self.memory_model.set_ccr(ccr)
        self.coster.recost()

    def actlr_changed(self, value: int) -> None:
        if self.memory_model is not None:
            self.memory_model.set_actlr(value)

    def pend_irq(self, irq: int) -> None:
        self.pend_exception(N.EXTERNAL0 + irq)

    def pend_exception(self, num: int) -> None:
        self.exc.pend(num)
        self.irq_state_changed()

    def irq_state_changed(self) -> None:
        """Enable/pending/priority changed: stop at the next block boundary to look."""
        self.timebase.stop_soon()

    def ipsr(self) -> int:
        return self.exceptions.ipsr()

    def request_reset(self, why: str) -> None:
        self.end("limit", reason=why)

    def host_closed(self) -> None:
        self.end("exit", reason="the host closed the serial link")
        if self.exit_code is None:
            self.exit_code = 0

    def cpacr_changed(self, value: int) -> None:
        """CPACR is kept for reads; Unicorn's M-profile models have the FPU enabled and
        expose no CPACR to gate it (a known gap, in the README)."""

    def div0_trap(self, on: bool) -> None:
        self.coster.set_div0_trap(on)

    def div_by_zero(self, pc: int) -> None:
        """SDIV/UDIV by zero with CCR.DIV_0_TRP: a precise UsageFault at the divide."""
        self.cpu.div_by_zero(pc)

    def host_write(self, addr: int, data: bytes) -> None:
        self.memory.host_write(addr, data)

    def write_memory(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def read_memory(self, addr: int, size: int) -> bytes:
        return self.memory.read(addr, size)

    def region_at(self, addr: int):
        return self.memory.region_at(addr)

    def output(self, data: bytes, handle: int = 1, source: str | None = None) -> None:
        self.program_output.write(data, handle)

    def warn_once(self, key: str, msg: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self._warn(msg)

    def register_uart(self, uart) -> None:
        self.uarts.append(uart)

    def feed_uart(self, data: bytes, index: int = 0) -> None:
        if not self.uarts:
            raise UserError(f"{self.mcu.name}: no UART modelled to receive input")
        console = self.mcu.console
        target = self.peripherals.get(console) if console else None
        (target or self.uarts[index]).feed(data)

    def can_be_woken(self) -> bool:
        return self.timebase.can_be_woken()

    def may_spin(self, addr: int) -> bool:
        """The CPU reached `b .` at `addr`. In a fault handler that is an unhandled fault,
        and with nothing that can ever interrupt it a hang: both end the run (False).
        Otherwise the core spins until the next event (fast-forwarded by the coster)."""
        if self.ipsr() in (N.NMI, N.HARDFAULT, N.MEMMANAGE, N.BUSFAULT, N.USAGEFAULT):
            self.exceptions.unhandled("handler spins")
            return False
        if not self.timebase.can_be_woken() and not self.exc.any_pending_enabled():
            sym = self.fw.function_at(addr) if self.fw is not None else None
            where = f"0x{addr:08x}" + (f" ({sym})" if sym else "")
            self.end("limit", f"firmware spins forever at {where} with no interrupt source")
            return False
        return True

    def stopped(self) -> bool:
        """The current slice must end (the run ended, or the simulator has work to do)."""
        return self.cpu.stopped()

    def diverge(self) -> None:
        """--verify found the reference CPU computing something else: the run ends with
        outcome "diverged" (whatever it was going to be)."""
        self.outcome, self.limit_reason, self.exit_code = "diverged", None, None
        self.cpu.stop()

    # ------------------------------------------------------------------ faults and exceptions
    def _charge(self, cycles: int) -> None:
        self.coster.cycles += cycles

    def _fatal(self, f) -> None:
        F.annotate(f, self.fw, self.uc)
        self.fault = f
        self.end("fault")

    def host_change(self, kind: str):
        """Brackets a change the simulator makes to the CPU's state (exception entry and
        return, semihosting, faults): --verify replays it into its reference CPU."""
        v = self.verifier
        return _NO_CHANGE if v is None else v.change(kind)

    def end(self, outcome: str, reason: str | None = None) -> None:
        """The run ends (the first outcome stands)."""
        if self.outcome is None:
            self.outcome = outcome
            if reason:
                self.limit_reason = reason
        self.cpu.stop()

    # ------------------------------------------------------------------ running
    def run(self, max_cycles: int | None = None, timeout: float | None = None,
            progress=None) -> RunTrace:
        """Run until the firmware exits, faults or reaches a limit; returns the run's trace
        (also kept as `self.trace`)."""
        limit = max_cycles if max_cycles else 1 << 62
        t0 = time.perf_counter()
        wall = time.monotonic() + timeout if timeout else None
        self.env.run(until=self.env.process(self.cpu.run(limit, wall, progress)))
        self.clock_source.run_ended()
        if self.verifier is not None:
            self.verifier.finish()
        if self.memory_model is not None:
            self.memory_model.finish()
        self.stack_peak = self.memory.stack_peak()
        self.host_seconds = time.perf_counter() - t0
        self.host_outside_cpu = self.host_seconds - self.cpu.host_in_cpu
        self.semihost.close()
        self.program_output.finish()
        self.trace = RunTrace.of(self)
        return self.trace

    # ------------------------------------------------------------------ results
    @property
    def instructions(self) -> int:
        return self.coster.instructions()

    @property
    def exception_cycles(self) -> int:
        return self.exceptions.cycles

    @property
    def exceptions_taken(self) -> int:
        return self.exceptions.taken

    @property
    def spin_cycles(self) -> int:
        return self.timebase.spin_cycles

    def cause_snapshot(self) -> tuple:
        """(core, branch, exception, sleep, bus) cycles so far; differences over an
        interval split it by cause, and the rest of its cycles are memory stalls."""
        core, branch = self.coster.cause_snapshot()
        # the block now executing is already charged in full: take back the part after
        # the accessing instruction (its issue cycles), so the snapshot is as of now
        core -= max(0, self.cycles - self.now_precise())
        bus = self.system.stats().get("cpu_stall_cycles", 0) if getattr(self, "system", None) else 0
        return (core, branch, self.exceptions.cycles,
                self.cpu.sleep_cycles + self.cpu.deepsleep_cycles, bus)


class _NoChange:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_CHANGE = _NoChange()
