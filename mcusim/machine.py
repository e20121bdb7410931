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

import math
import sys
import time

from unicorn import UC_ARCH_ARM, UC_HOOK_INTR, UC_HOOK_MEM_INVALID, UC_MODE_THUMB, Uc, UcError
from unicorn import arm_const as A

from mcusim import faults as F
from mcusim import nvic as N
from mcusim.blocks import make_coster
from mcusim.elf import Firmware
from mcusim.errors import UserError
from mcusim.exceptions import ExceptionModel
from mcusim.memory_map import MemoryMap, round_up
from mcusim.peripherals import Unmodelled, model_class
from mcusim.peripherals.simdev import SIMDEV_BASE, SIMDEV_SIZE, SimDevice
from mcusim.scs import PPB_BASE, PPB_SIZE, SCR_SLEEPDEEP, SystemControlSpace
from mcusim.semihost import Exit, Semihosting
from mcusim.timebase import Clock, Timebase

UC_CPUS = {
    "cortex-m0": A.UC_CPU_ARM_CORTEX_M0, "cortex-m3": A.UC_CPU_ARM_CORTEX_M3,
    "cortex-m4": A.UC_CPU_ARM_CORTEX_M4, "cortex-m7": A.UC_CPU_ARM_CORTEX_M7,
    "cortex-m33": A.UC_CPU_ARM_CORTEX_M33,
}
MAX_SLICE = 4_000_000       # cycles; bounds the wall-clock check interval
_WFI = (b"\x30\xbf", b"\x20\xbf")                          # WFI, WFE (16-bit)
_WFI_W = (b"\xaf\xf3\x03\x80", b"\xaf\xf3\x02\x80")        # WFI.W, WFE.W


class Machine:
    def __init__(self, mcu, *, clock_mhz: float | None = None, mode: str = "fast",
                 uart_input: bytes = b"", semihost_dir: str | None = None,
                 stdout=None, stderr=None, warn=None, timing=None, profile: bool = False,
                 skip_spin_waits: bool = True):
        self.mcu, self.core, self.mode = mcu, mcu.core, mode
        self.v6m = self.core.arch == "armv6-m"
        self.has_fpu = bool(self.core.fpu)
        self._stdout = stdout if stdout is not None else sys.stdout.buffer
        self._stderr = stderr if stderr is not None else sys.stderr.buffer
        self._warn = warn or (lambda msg: print(f"mcusim: warning: {msg}", file=sys.stderr))
        self.warned: set[str] = set()
        self.captured, self.captured_err = bytearray(), bytearray()
        cpu = UC_CPUS.get(self.core.unicorn_cpu)
        if cpu is None:
            raise UserError(f"core {self.core.name}: no Unicorn CPU model {self.core.unicorn_cpu!r}")
        # the parts, in dependency order
        self.clock = Clock(float(clock_mhz if clock_mhz else mcu.clock_mhz) * 1e6)
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=cpu)
        self.memory = MemoryMap(self.uc, mcu)
        self.coster = make_coster(self, timing)
        if profile:
            self.coster.enable_profile()
        self.timebase = Timebase(self.coster, self.uc, self.memory, skip_spin_waits)
        self.env = self.timebase.env
        self.exc = N.ExceptionState(mcu.num_irqs, self.core.nvic_prio_bits, self.v6m)
        self.scs = SystemControlSpace(self)
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
        self.slice_cycles = MAX_SLICE
        # run state
        self.sleeping: str | bool = False
        self.sleep_cycles = self.deepsleep_cycles = 0
        self.state_log: list[tuple[int, str]] = [(0, "run")]
        self.outcome: str | None = None
        self.exit_code: int | None = None
        self.fault = None
        self.limit_reason: str | None = None
        self.pc = 0
        self.fw: Firmware | None = None
        self._stop_flag = self._sleep_request = False
        self._after_stop = None       # a fault to take once the slice stopped
        self._bad_access = None
        self._map_devices()
        self.uc.hook_add(UC_HOOK_INTR, self._hook_intr)
        self.uc.hook_add(UC_HOOK_MEM_INVALID, self._hook_invalid)
        self.coster.install(self.uc)
        from mcusim.timing.memory import attach_memory_model
        self.memory_model = attach_memory_model(self)
        from mcusim.peripherals.dma import DMA_BASE, DMA_SIZE, DmaEngine
        from mcusim.system import attach_system
        self.system = attach_system(self)
        self.system.devices["dma"] = dma = DmaEngine(self.system)
        self.map_device(DMA_BASE, DMA_SIZE, dma)
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
            cls = model_class(p.model)
            if cls is None:
                self.warn_once(f"model-{p.model}", f"peripheral {p.name}: no model {p.model!r}; "
                               "treated as unmodelled")
                ranges.append(p)
                continue
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
        uc = self.uc
        boot = int(getattr(self.mcu, "boot_address", 0) or 0)
        try:
            sp = int.from_bytes(uc.mem_read(boot, 4), "little")
            pc = int.from_bytes(uc.mem_read(boot + 4, 4), "little")
        except UcError:
            raise UserError(f"{self.mcu.name}: no memory at the boot address 0x{boot:08x}") from None
        path = self.fw.path if self.fw is not None else "firmware"
        r, _ = self.memory.region_at(pc & ~1)
        if r is None or r.access == "rw" and r.kind not in ("sram", "tcm"):
            raise UserError(f"{path}: the vector table's reset handler 0x{pc:08x} points "
                            f"outside flash (no vector table at 0x{boot:08x}?)")
        if not pc & 1:
            raise UserError(f"{path}: reset vector 0x{pc:08x} is not a Thumb address (bit 0 clear)")
        rs, _ = self.memory.region_at((sp - 4) & 0xFFFFFFFF)
        if rs is None or rs.access == "rx":
            raise UserError(f"{path}: initial stack pointer 0x{sp:08x} is not in RAM")
        self.scs.vtor = boot
        uc.reg_write(A.UC_ARM_REG_CONTROL, 0)
        uc.reg_write(A.UC_ARM_REG_MSP, sp & ~3)
        uc.reg_write(A.UC_ARM_REG_SP, sp & ~3)
        uc.reg_write(A.UC_ARM_REG_LR, 0xFFFFFFFF)
        self.pc = self.entry_pc = pc & ~1

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

    @property
    def clock_changes(self) -> list:
        return self.clock.changes

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

    def cycles_to_seconds(self, cycles: int) -> float:
        return self.clock.seconds(cycles)

    def set_clock(self, hz: float, source: str = "") -> None:
        self.clock.set(hz, self.cycles)
        self.coster.clock_changed()

    def flash_acr_changed(self, value: int) -> None:
        self.coster.clock_changed()

    def caches_changed(self) -> None:
        self.coster.clock_changed()

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
        self._end("limit", reason=why)

    def host_closed(self) -> None:
        self._end("exit", reason="the host closed the serial link")
        if self.exit_code is None:
            self.exit_code = 0

    def cpacr_changed(self, value: int) -> None:
        """CPACR is kept for reads; Unicorn's M-profile models have the FPU enabled and
        expose no CPACR to gate it (a known gap, in the README)."""

    def div0_trap(self, on: bool) -> None:
        self.coster.set_div0_trap(on)

    def div_by_zero(self, pc: int) -> None:
        """SDIV/UDIV by zero with CCR.DIV_0_TRP: a precise UsageFault at the divide."""
        self.exceptions.record_context()
        with self._host_change("code"):
            self._take_fault(N.USAGEFAULT, N.CFSR_DIVBYZERO, pc, None)

    def host_write(self, addr: int, data: bytes) -> None:
        self.memory.host_write(addr, data)

    def write_memory(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def read_memory(self, addr: int, size: int) -> bytes:
        return self.memory.read(addr, size)

    def region_at(self, addr: int):
        return self.memory.region_at(addr)

    @property
    def regions(self) -> list:
        return self.memory.regions

    def output(self, data: bytes, handle: int = 1, source: str | None = None) -> None:
        buf, sink = (self.captured_err, self._stderr) if handle == 2 else (self.captured, self._stdout)
        buf += data
        if sink is not None:
            sink.write(data)
            sink.flush()

    def warn_once(self, key: str, msg: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self._warn(msg)

    def register_uart(self, uart) -> None:
        self.uarts.append(uart)

    def feed_uart(self, data: bytes, index: int = 0) -> None:
        if not self.uarts:
            raise UserError(f"{self.mcu.name}: no UART modelled to receive input")
        console = getattr(self.mcu, "console", None)
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
            self._end("limit", f"firmware spins forever at {where} with no interrupt source")
            return False
        return True

    def stopped(self) -> bool:
        """The current slice must end (the run ended, or the simulator has work to do)."""
        return self.outcome is not None or self._stop_flag

    def diverge(self) -> None:
        """--verify found the reference CPU computing something else: the run ends with
        outcome "diverged" (whatever it was going to be)."""
        self.outcome, self.limit_reason, self.exit_code = "diverged", None, None
        self._stop_flag = True

    # ------------------------------------------------------------------ faults and exceptions
    def _charge(self, cycles: int) -> None:
        self.coster.cycles += cycles

    def _fatal(self, f) -> None:
        F.annotate(f, self.fw, self.uc)
        self.fault = f
        self._end("fault")

    def _take_fault(self, kind: int, cfsr_bit: int, pc: int, address) -> None:
        handler = self.exceptions.fault(kind, cfsr_bit, pc, address)
        self.pc = handler if handler is not None else pc

    def _host_change(self, kind: str):
        """Brackets a change the simulator makes to the CPU's state (exception entry and
        return, semihosting, faults): --verify replays it into its reference CPU."""
        v = self.verifier
        return _NO_CHANGE if v is None else v.change(kind)

    def _hook_invalid(self, uc, access, address, size, value, ud) -> bool:
        self._bad_access = (access, address)
        return False

    def _hook_intr(self, uc, intno, ud) -> None:
        v = self.verifier
        if v is not None:
            v.begin("intr", intno)
        try:
            self._on_intr(uc, intno)
        finally:
            if v is not None:
                v.end()
        if self.outcome:
            uc.emu_stop()

    def _on_intr(self, uc, intno) -> None:
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        if pc >= 0xF0000000 and intno in (3, 8):        # an EXC_RETURN branch
            self._exception_return(pc | 1)
            return
        if intno == 7:                                   # BKPT; PC at the BKPT
            if uc.mem_read(pc, 2)[0] == 0xAB:
                self._semihost(pc)
                return
            # no debugger attached: BKPT escalates to HardFault (C1.7.1)
            self._stop_after(N.HARDFAULT, 0, pc, debug_event=True)
            return
        if intno == 2:                                   # SVC; PC after the instruction
            self.exceptions.record_context()
            handler = self.exceptions.exception_entry(N.SVCALL, pc)
            self.pc = handler if handler is not None else pc
            return
        fault = F.fault_of_intr(intno, pc)
        if fault is not None:
            self.exceptions.record_context()
            self._take_fault(fault[0], fault[1], pc & ~1, None)
            return
        self._stop_after(N.USAGEFAULT, N.CFSR_UNDEFINSTR, pc & ~1)

    def _stop_after(self, kind, bit, pc, debug_event=False) -> None:
        self._stop_flag = True
        self._after_stop = (kind, bit, pc, debug_event)
        self.uc.emu_stop()

    def _exception_return(self, exc_return: int) -> None:
        addr, sleep = self.exceptions.exception_return(exc_return)
        if addr is not None:
            self.pc = addr
        if sleep:
            self._stop_flag = self._sleep_request = True

    def _semihost(self, pc: int) -> None:
        uc = self.uc
        op = uc.reg_read(A.UC_ARM_REG_R0)
        arg = uc.reg_read(A.UC_ARM_REG_R1)
        try:
            r = self.semihost.call(op, arg)
        except Exit as e:
            self.exit_code = e.status
            self._end("exit")
            return
        except UcError:
            r = 0xFFFFFFFF
        uc.reg_write(A.UC_ARM_REG_R0, r & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_PC, (pc + 2) | 1)

    def _end(self, outcome: str, reason: str | None = None) -> None:
        if self.outcome is None:
            self.outcome = outcome
            if reason:
                self.limit_reason = reason
        self._stop_flag = True
        if self.timebase.in_slice:
            self.uc.emu_stop()

    # ------------------------------------------------------------------ running
    def run(self, max_cycles: int | None = None, timeout: float | None = None, progress=None):
        self.max_cycles = max_cycles if max_cycles else 1 << 62
        self.wall_deadline = time.monotonic() + timeout if timeout else None
        self.progress = progress
        self.host_in_cpu = 0.0
        t0 = time.perf_counter()
        self.env.run(until=self.env.process(self._cpu()))
        if self.verifier is not None:
            self.verifier.finish()
        if self.memory_model is not None:
            self.memory_model.finish()
        self.stack_peak = self.memory.stack_peak()
        self.host_seconds = time.perf_counter() - t0
        self.host_outside_cpu = self.host_seconds - self.host_in_cpu
        self.semihost.close()
        return self

    def _cpu(self):
        env, tb = self.env, self.timebase
        while self.outcome is None:
            if self.sleeping:
                if self.exc.any_pending_enabled():
                    self._wake()
                    continue
                nxt = env.peek()
                if nxt == math.inf or not tb.can_be_woken():
                    self._end("limit", "the core is asleep (WFI/WFE) with nothing that can wake it")
                    break
                if nxt >= self.max_cycles:
                    self._sleep_account(self.max_cycles)
                    self._end("limit", f"cycle limit {self.max_cycles} reached while asleep")
                    break
                self._sleep_account(int(nxt))
                yield env.timeout(int(nxt) - env.now)
                continue
            with self._host_change("host"):
                handler = self.exceptions.take_pending(self.pc)
            if handler is not None:
                self.pc = handler
            if self.outcome:
                break
            nxt = env.peek()
            tb.deadline = min(self.max_cycles, self.cycles + self.slice_cycles, nxt)
            t_slice = self.cycles
            self._run_slice()
            for hook in self.slice_hooks:
                # bus masters (DMA, accelerators) that held the shared bus during the
                # slice delay the CPU's own accesses: transaction-level contention
                self.cycles += hook(t_slice, self.cycles)
            if self.verifier is not None and self.verifier.after_slice():
                break                    # the reference CPU computed something else
            if self.outcome is None and self.cycles >= self.max_cycles:
                self._end("limit", f"cycle limit {self.max_cycles} reached")
            if self.outcome is None and self.wall_deadline and time.monotonic() > self.wall_deadline:
                self._end("limit", "wall-clock timeout reached")
            if self.progress:
                self.progress(self)
            yield env.timeout(max(0, self.cycles - env.now))

    def _run_slice(self) -> None:
        uc, tb = self.uc, self.timebase
        self._stop_flag = False
        self._bad_access = None
        tb.in_slice = True
        t0 = time.perf_counter()
        try:
            self.coster.emu_run(uc, self.pc)
            err = None
        except UcError as e:
            err = e
        finally:
            tb.in_slice = False
            self.host_in_cpu += time.perf_counter() - t0
        self.pc = uc.reg_read(A.UC_ARM_REG_PC)
        if self.outcome:
            return
        if err is not None:
            with self._host_change("uerr"):
                self._emulation_error(err)
            return
        if self._stop_flag:
            if self._sleep_request:
                self._sleep_request = False
                self._go_to_sleep()
            elif self._after_stop is not None:
                kind, bit, pc, debug = self._after_stop
                self._after_stop = None
                with self._host_change("host"):
                    self._take_fault(kind, bit, pc, None)
                if debug and self.fault is None and self.outcome is None:
                    self.scs.hfsr |= 1 << 31             # HFSR.DEBUGEVT
            return
        if self.cycles >= tb.deadline:
            return                                        # stopped at the deadline
        if self._after_wfx(self.pc):                      # emu_start returned: WFI/WFE
            self._go_to_sleep()

    def _emulation_error(self, err: UcError) -> None:
        pc = self.pc
        self.exceptions.record_context()
        code = err.errno
        if F.is_fetch_error(code) and pc >= 0xF0000000 and self.ipsr():
            self._exception_return(pc | 1)     # Armv6-M: EXC_RETURN surfaces as a fetch fault
            return
        kind, bit = F.fault_of_error(code, pc, lambda a: F.is_coprocessor(self.uc, a))
        addr = self._bad_access[1] if self._bad_access else None
        self._take_fault(kind, bit, pc, addr if bit in (N.CFSR_PRECISERR, 0) else None)

    def _after_wfx(self, pc: int) -> bool:
        try:
            return (bytes(self.uc.mem_read(pc - 2, 2)) in _WFI
                    or bytes(self.uc.mem_read(pc - 4, 4)) in _WFI_W)
        except UcError:
            return False

    def _go_to_sleep(self) -> None:
        if self.exc.any_pending_enabled():
            return  # WFI completes at once when an interrupt is already pending
        self.sleeping = "deepsleep" if self.scs.scr & SCR_SLEEPDEEP else "sleep"
        self.state_log.append((self.cycles, self.sleeping))

    def _sleep_account(self, until: int) -> None:
        d = until - self.cycles
        if d > 0:
            if self.sleeping == "deepsleep":
                self.deepsleep_cycles += d
            else:
                self.sleep_cycles += d
            self.cycles = until

    def _wake(self) -> None:
        self.sleeping = False
        self.state_log.append((self.cycles, "run"))

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
        return (core, branch, self.exceptions.cycles, self.sleep_cycles + self.deepsleep_cycles, bus)


class _NoChange:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_CHANGE = _NoChange()
