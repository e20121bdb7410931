"""The machine: a Unicorn Cortex-M core, the MCU's memory map, the exception model done in
the host, semihosting, MMIO peripherals, and the SimPy system that owns time.

Time is counted in core clock cycles. Unicorn runs in slices; a block hook adds each
translated block's cost (decided once per block, in bulk) and stops the slice at a block
boundary when the next scheduled event (SysTick wrap, timer update, UART byte) is due. The
CPU is one SimPy process; timers and peripherals schedule SimPy events; interrupts they
raise are taken at the next block boundary.
"""

from __future__ import annotations

import ctypes
import math
import sys
import time
from dataclasses import dataclass, field

import simpy
from unicorn import (UC_ARCH_ARM, UC_HOOK_INTR, UC_HOOK_MEM_INVALID,
                     UC_MODE_THUMB, UC_PROT_ALL, UC_PROT_EXEC, UC_PROT_READ, Uc, UcError)
from unicorn import arm_const as A
from unicorn.unicorn_const import (UC_ERR_EXCEPTION, UC_ERR_FETCH_PROT, UC_ERR_FETCH_UNMAPPED,
                                   UC_ERR_INSN_INVALID, UC_ERR_READ_PROT, UC_ERR_READ_UNALIGNED,
                                   UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_PROT,
                                   UC_ERR_WRITE_UNALIGNED, UC_ERR_WRITE_UNMAPPED)

from mcusim import nvic as N
from mcusim.blocks import make_coster
from mcusim.cpu import read_banked, write_mode
from mcusim.elf import Firmware
from mcusim.errors import UserError
from mcusim.peripherals import Unmodelled, model_class
from mcusim.peripherals.simdev import SIMDEV_BASE, SIMDEV_SIZE, SimDevice
from mcusim.scs import PPB_BASE, PPB_SIZE, SCR_SLEEPDEEP, SCR_SLEEPONEXIT, SystemControlSpace
from mcusim.semihost import Exit, Semihosting

UC_CPUS = {
    "cortex-m0": A.UC_CPU_ARM_CORTEX_M0,
    "cortex-m3": A.UC_CPU_ARM_CORTEX_M3,
    "cortex-m4": A.UC_CPU_ARM_CORTEX_M4,
    "cortex-m7": A.UC_CPU_ARM_CORTEX_M7,
    "cortex-m33": A.UC_CPU_ARM_CORTEX_M33,
}

UNTIL = 0xFFFFFFFE          # never executed: EXC_RETURN values end in 1/9/D, not E
MAX_SLICE = 4_000_000       # cycles; bounds the wall-clock check interval
PAGE = 0x400

_CONTROL_SPSEL, _CONTROL_FPCA = 2, 4
_EPSR_T = 1 << 24          # EPSR: Thumb bit set, ITSTATE clear
_FAULT_EXCEPTIONS = (N.HARDFAULT, N.MEMMANAGE, N.BUSFAULT, N.USAGEFAULT)


@dataclass
class FaultInfo:
    type: str                  # HardFault, BusFault, UsageFault, MemManage, Lockup
    pc: int
    address: int | None
    cause: str                 # e.g. "PRECISERR", "UNDEFINSTR", "FORCED <- PRECISERR"
    symbol: str | None = None
    line: str | None = None
    lr: int | None = None
    call_chain: list = field(default_factory=list)
    message: str = ""


class _Scheduled:
    __slots__ = ("at", "cb", "name", "cancelled")

    def __init__(self, at, cb, name):
        self.at, self.cb, self.name, self.cancelled = at, cb, name, False

    def cancel(self):
        self.cancelled = True


class Machine:
    def __init__(self, mcu, *, clock_mhz: float | None = None, mode: str = "fast",
                 uart_input: bytes = b"", semihost_dir: str | None = None,
                 stdout=None, stderr=None, warn=None, timing=None, profile: bool = False,
                 skip_spin_waits: bool = True):
        self.mcu = mcu
        self.core = mcu.core
        self.mode = mode
        self.clock_hz = float(clock_mhz if clock_mhz else mcu.clock_mhz) * 1e6
        self.clock_changes: list[tuple[int, float]] = [(0, self.clock_hz)]
        self._stdout = stdout if stdout is not None else sys.stdout.buffer
        self._stderr = stderr if stderr is not None else sys.stderr.buffer
        self._warn = warn or (lambda msg: print(f"mcusim: warning: {msg}", file=sys.stderr))
        self.warned: set[str] = set()
        self.captured = bytearray()
        self.captured_err = bytearray()
        self.has_fpu = bool(self.core.fpu)
        self.v6m = self.core.arch == "armv6-m"

        cpu = UC_CPUS.get(self.core.unicorn_cpu)
        if cpu is None:
            raise UserError(f"core {self.core.name}: no Unicorn CPU model {self.core.unicorn_cpu!r}")
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=cpu)
        self.coster = make_coster(self, timing)
        if profile:
            self.coster.enable_profile()

        self.exc = N.ExceptionState(mcu.num_irqs, self.core.nvic_prio_bits, self.v6m)
        self.scs = SystemControlSpace(self)
        self.simdev = SimDevice(self)
        self.semihost = Semihosting(self, semihost_dir)
        self.uarts: list = []
        self.uart_host = None         # a live serial link (mcusim serve)
        self._mmio_seq = 0            # MMIO accesses so far (one precise time per access)
        self._precise_cache = (-1, -1, 0)
        self._quiet_pending = 0       # scheduled events that cannot wake the core
        self._poll_key, self._poll_n = None, 0
        self.skip_spin_waits = skip_spin_waits
        self.stack_range = None       # (low, high) of the stack the ELF declares
        self.spin_cycles = 0          # cycles of fast-forwarded spin-waits on status flags
        self.slice_hooks: list = []   # f(t0, t1) -> extra CPU stall cycles, after each slice
        self.peripherals: dict[str, object] = {}
        self.flash_acr = None
        self.mmio_ranges: list[tuple[int, int]] = []   # (base, size) of every MMIO mapping
        self.mmio_log: list | None = None   # (write, address, size, value) when verifying
        self.verifier = None                # mcusim.verify.Verifier when --verify
        self.slice_cycles = MAX_SLICE       # longest CPU slice (--verify checkpoints)

        # time
        self.env = simpy.Environment()
        self.sleep_cycles = 0
        self.deepsleep_cycles = 0
        self.sleeping = False
        self.state_log: list[tuple[int, str]] = [(0, "run")]
        self.exception_cycles = 0
        self.exceptions_taken = 0

        # outcome
        self.outcome: str | None = None
        self.exit_code: int | None = None
        self.fault: FaultInfo | None = None
        self.limit_reason: str | None = None
        self._pending_fault = None
        self._stop_flag = False
        self._div0_trap = False

        self._map_memory()
        self._map_peripherals()
        self._install_hooks()
        self.memory_model = _attach_memory_model(self)
        from mcusim.system import attach_system
        self.system = attach_system(self)
        if uart_input:
            self.feed_uart(uart_input)

    # ------------------------------------------------------------------ memory map
    def _map_memory(self) -> None:
        uc = self.uc
        self.regions = []
        self._buffers = []
        self.region_buffers: dict[str, ctypes.Array] = {}
        for r in self.mcu.memories:
            if r.base % PAGE or r.size % PAGE:
                raise UserError(f"{self.mcu.name}: memory {r.name} must be 1 KB aligned")
            buf = ctypes.create_string_buffer(r.size)
            self._buffers.append(buf)
            self.region_buffers[r.name] = buf
            perms = UC_PROT_READ | UC_PROT_EXEC if r.access == "rx" else UC_PROT_ALL
            if r.access == "rw":
                perms = UC_PROT_ALL  # XN is a permission of the MPU/default map, not of RAM
            for base in (r.base, *r.aliases):
                uc.mem_map_ptr(base, r.size, perms, ctypes.addressof(buf))
                self.regions.append((base, base + r.size, r))

    def region_at(self, addr: int):
        for lo, hi, r in self.regions:
            if lo <= addr < hi:
                return r, lo
        return None, None

    def _mmio(self, base: int, size: int, dev) -> None:
        def rd(uc, off, sz, ud):
            self._mmio_addr = base + off
            self._mmio_seq += 1
            v = dev.read(off, sz)
            if self.mmio_log is not None:
                self.mmio_log.append((False, base + off, sz, v))
            return v

        def wr(uc, off, sz, val, ud):
            self._mmio_addr = base + off
            self._mmio_seq += 1
            if self.mmio_log is not None:
                self.mmio_log.append((True, base + off, sz, val))
            dev.write(off, sz, val)

        self.uc.mmio_map(base, size, rd, None, wr, None)
        self.mmio_ranges.append((base, size))

    def _map_peripherals(self) -> None:
        self._mmio(PPB_BASE, PPB_SIZE, self.scs)
        self._mmio(SIMDEV_BASE, SIMDEV_SIZE, self.simdev)
        specs = sorted(self.mcu.peripherals, key=lambda p: p.base)
        modelled = [p for p in specs if p.model != "unmodelled"]
        ranges = [p for p in specs if p.model == "unmodelled"]
        for p in modelled:
            cls = model_class(p.model)
            if cls is None:
                self.warn_once(f"model-{p.model}", f"peripheral {p.name}: no model {p.model!r}; "
                               "treated as unmodelled")
                ranges.append(p)
                continue
            dev = cls(self, p)
            self.peripherals[p.name] = dev
            if p.model == "stm32-flash":
                self.flash_acr = dev
            self._mmio(p.base, _round_up(p.size), dev)
        # Unmodelled ranges minus the modelled blocks inside them.
        taken = sorted((p.base, p.base + _round_up(p.size)) for p in modelled
                       if p.name in self.peripherals)
        for p in ranges:
            lo, hi = p.base, p.base + _round_up(p.size)
            cur = lo
            for a, b in taken:
                if b <= cur or a >= hi:
                    continue
                if a > cur:
                    self._mmio(cur, a - cur, _Offset(Unmodelled(self, p), cur - p.base))
                cur = max(cur, b)
            if cur < hi:
                self._mmio(cur, hi - cur, _Offset(Unmodelled(self, p), cur - p.base))

    # ------------------------------------------------------------------ loading
    STACK_PAINT = 0xCD
    _STACK_SYMBOLS = (("__stack_limit", "__stack_top"), ("__StackLimit", "__StackTop"))

    def load(self, fw: Firmware) -> None:
        self.fw = fw
        for seg in fw.segments:
            if seg.data:
                self._check_range(seg.paddr, len(seg.data), fw.path, "load address")
                self.uc.mem_write(seg.paddr, seg.data)
            if seg.memsz:
                self._check_range(seg.vaddr, seg.memsz, fw.path, "address")
        # The stack's high-water mark: paint the stack the ELF declares, look after the run.
        self.stack_range = None
        for lo_name, hi_name in self._STACK_SYMBOLS:
            lo, hi = fw.symbol(lo_name), fw.symbol(hi_name)
            if lo is not None and hi is not None and 0 < hi - lo <= 1 << 20:
                r, rlo = self.region_at(lo)
                if r is None or hi > rlo + r.size:
                    raise UserError(f"{fw.path}: its stack (0x{lo:08x}-0x{hi:08x}) lies outside "
                                    f"the RAM of {self.mcu.name}")
                self.uc.mem_write(lo, bytes([self.STACK_PAINT]) * (hi - lo))
                self.stack_range = (lo, hi)
                break

    def measure_stack(self) -> int | None:
        """Bytes of the declared stack the firmware touched (None without a declaration)."""
        if self.stack_range is None:
            return None
        lo, hi = self.stack_range
        data = bytes(self.uc.mem_read(lo, hi - lo))
        untouched = next((i for i, b in enumerate(data) if b != self.STACK_PAINT), len(data))
        return (hi - lo) - untouched

    def _check_range(self, addr: int, size: int, path: str, what: str) -> None:
        if not self.covers(addr, size):
            raise UserError(f"{path}: segment at {what} 0x{addr:08x} (+{size} bytes) lies "
                            f"outside the memory map of {self.mcu.name}")

    def covers(self, addr: int, size: int) -> bool:
        """Is [addr, addr+size) memory, possibly across adjacent regions (the L4R5's
        SRAM1, SRAM2 and SRAM3 are one contiguous range)?"""
        end = addr + max(size, 1)
        while addr < end:
            r, lo = self.region_at(addr)
            if r is None:
                return False
            addr = lo + r.size
        return True

    def host_write(self, addr: int, data: bytes) -> None:
        """A write to memory by the simulator itself (exception stacking, semihosting,
        bus masters): the one path, so --verify can replay it."""
        self.uc.mem_write(addr, bytes(data))
        if self.verifier is not None:
            self.verifier.host_wrote(addr, bytes(data))

    def write_memory(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def read_memory(self, addr: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(addr, size))

    def reset(self) -> None:
        """Take reset as the core does: SP_main and the reset vector from the vector table
        at the boot address (VTOR's reset value, 0 on these cores; aliased to flash)."""
        uc = self.uc
        boot = int(getattr(self.mcu, "boot_address", 0) or 0)
        try:
            sp = int.from_bytes(uc.mem_read(boot, 4), "little")
            pc = int.from_bytes(uc.mem_read(boot + 4, 4), "little")
        except UcError:
            raise UserError(f"{self.mcu.name}: no memory at the boot address 0x{boot:08x}") from None
        path = getattr(self, "fw", None) and self.fw.path or "firmware"
        r, _ = self.region_at(pc & ~1)
        if r is None or r.access == "rw" and r.kind not in ("sram", "tcm"):
            raise UserError(f"{path}: the vector table's reset handler 0x{pc:08x} points "
                            f"outside flash (no vector table at 0x{boot:08x}?)")
        if not pc & 1:
            raise UserError(f"{path}: reset vector 0x{pc:08x} is not a Thumb address (bit 0 clear)")
        rs, lo = self.region_at((sp - 4) & 0xFFFFFFFF)
        if rs is None or rs.access == "rx":
            raise UserError(f"{path}: initial stack pointer 0x{sp:08x} is not in RAM")
        self.scs.vtor = boot
        uc.reg_write(A.UC_ARM_REG_CONTROL, 0)
        uc.reg_write(A.UC_ARM_REG_MSP, sp & ~3)
        uc.reg_write(A.UC_ARM_REG_SP, sp & ~3)
        uc.reg_write(A.UC_ARM_REG_LR, 0xFFFFFFFF)
        self.pc = pc & ~1
        self.entry_pc = self.pc
        if self.has_fpu:
            # Unicorn's M-profile models start with the FPU accessible; the architecture
            # starts with CPACR=0 (B3.2.20). Mirror what firmware writes (cpacr_changed).
            pass

    # ------------------------------------------------------------------ time
    # The cycle counter and the slice deadline live in the block coster (plain attributes
    # for the Python hook, a C struct for the native one).
    @property
    def cycles(self) -> int:
        return self.coster.cycles

    @cycles.setter
    def cycles(self, v: int) -> None:
        self.coster.cycles = v

    @property
    def deadline(self) -> int:
        return self.coster.deadline

    @deadline.setter
    def deadline(self, v: int) -> None:
        self.coster.deadline = v

    def now(self) -> int:
        return self.cycles

    def now_precise(self) -> int:
        """The cycle at which the instruction doing the current MMIO access executes."""
        if not self._in_slice:
            return self.cycles
        seq, cyc, val = self._precise_cache
        if seq == self._mmio_seq and cyc == self.cycles:
            return val                 # the same access asked again
        val = self.coster.precise_now(self)
        self._precise_cache = (self._mmio_seq, self.cycles, val)
        return val

    def seconds(self) -> float:
        return self.cycles_to_seconds(self.now())

    def cycles_to_seconds(self, cycles: int) -> float:
        # piecewise over clock changes
        total = 0.0
        for i, (c0, hz) in enumerate(self.clock_changes):
            c1 = self.clock_changes[i + 1][0] if i + 1 < len(self.clock_changes) else None
            if cycles <= c0:
                break
            end = cycles if c1 is None or cycles < c1 else c1
            total += (end - c0) / hz
        return total

    def set_clock(self, hz: float, source: str = "") -> None:
        if hz == self.clock_hz:
            return
        self.clock_hz = float(hz)
        self.clock_changes.append((self.now(), self.clock_hz))
        self.coster.clock_changed()

    def flash_acr_changed(self, value: int) -> None:
        self.coster.clock_changed()

    def schedule(self, at: int, cb, name: str = "", wakes: bool = True) -> _Scheduled:
        """Call cb(at) at cycle `at` (a SimPy event). Returns a handle with cancel().
        `wakes=False` marks bookkeeping events (e.g. the memory model's sampling windows)
        that cannot wake a sleeping core: a core asleep with only those pending has
        nothing to wake it."""
        ev = _Scheduled(int(at), cb, name)
        env = self.env
        if not wakes:
            self._quiet_pending += 1

        def proc():
            yield env.timeout(max(0, ev.at - env.now))
            if not wakes:
                self._quiet_pending -= 1
            if not ev.cancelled:
                ev.cb(ev.at)

        env.process(proc())
        if ev.at < self.deadline:
            self.deadline = ev.at
        return ev

    def poll(self, key: str, value: int, ready_at: int | None) -> bool:
        """A status-register read that is not ready yet (`value`), whose state changes at
        cycle `ready_at`. When the same code has read the same value from it several times
        in a row, the firmware is spin-waiting: advance the clock to the change (or to the
        next event, whichever is first), as the loop would. Cycles and energy stay those
        of the loop; the skipped iterations are not counted as instructions. Returns True
        when the clock moved (the caller re-reads its state)."""
        if not self.skip_spin_waits:
            return False
        pc = self.uc.reg_read(A.UC_ARM_REG_PC)
        k = (key, pc, value)
        if k != self._poll_key:
            self._poll_key, self._poll_n = k, 1
            return False
        self._poll_n += 1
        if self._poll_n < 4 or ready_at is None:
            return False
        self._poll_n = 0
        now = self.now_precise()
        target = min(int(ready_at), self.deadline)
        if target <= now:
            return False
        self.coster.charge_current(pc & ~1, target - now)
        self.coster.loop_iterations(pc & ~1, target - now)
        self.spin_cycles += target - now
        return True

    def cause_snapshot(self) -> tuple:
        """(core, branch, exception, sleep, bus) cycles so far; differences over an
        interval split it by cause, and the rest of its cycles are memory stalls."""
        core, branch = self.coster.cause_snapshot()
        # the block now executing is already charged in full: take back the part after
        # the accessing instruction (its issue cycles), so the snapshot is as of now
        core -= max(0, self.cycles - self.now_precise())
        bus = self.system.stats().get("cpu_stall_cycles", 0) if getattr(self, "system", None) else 0
        return (core, branch, self.exception_cycles, self.sleep_cycles + self.deepsleep_cycles, bus)

    def can_be_woken(self) -> bool:
        """Some pending SimPy event (timer, peripheral, bus master) may raise an interrupt."""
        return len(self.env._queue) > self._quiet_pending

    # ------------------------------------------------------------------ output
    def output(self, data: bytes, handle: int = 1, source: str | None = None) -> None:
        if handle == 2:
            self.captured_err += data
            if self._stderr is not None:
                self._stderr.write(data)
                self._stderr.flush()
        else:
            self.captured += data
            if self._stdout is not None:
                self._stdout.write(data)
                self._stdout.flush()

    def warn_once(self, key: str, msg: str) -> None:
        if key in self.warned:
            return
        self.warned.add(key)
        self._warn(msg)

    def feed_uart(self, data: bytes, index: int = 0) -> None:
        if not self.uarts:
            raise UserError(f"{self.mcu.name}: no UART modelled to receive input")
        console = getattr(self.mcu, "console", None)
        target = self.peripherals.get(console) if console else None
        (target or self.uarts[index]).feed(data)

    # ------------------------------------------------------------------ interrupts
    def pend_irq(self, irq: int) -> None:
        self.pend_exception(N.EXTERNAL0 + irq)

    def pend_exception(self, num: int) -> None:
        self.exc.pend(num)
        self.irq_state_changed()

    def irq_state_changed(self) -> None:
        """Enable/pending/priority changed: stop at the next block boundary to look."""
        self.deadline = 0 if self._in_slice else self.deadline

    def host_closed(self) -> None:
        self._end("exit", reason="the host closed the serial link")
        if self.exit_code is None:
            self.exit_code = 0

    def request_reset(self, why: str) -> None:
        self._end("limit", reason=why)

    def cpacr_changed(self, value: int) -> None:
        """CPACR is kept for reads; Unicorn's M-profile models have the FPU enabled and
        expose no CPACR to gate it, so FP code before CP10/CP11 are enabled runs instead
        of raising NOCP (a known gap, in the README)."""

    def div0_trap(self, on: bool) -> None:
        self._div0_trap = on
        self.coster.set_div0_trap(on)

    def div_by_zero(self, pc: int) -> None:
        """SDIV/UDIV by zero with CCR.DIV_0_TRP: a precise UsageFault at the divide."""
        self._record_lr()
        with self._host_change("code"):
            self._fault(N.USAGEFAULT, N.CFSR_DIVBYZERO, pc, None)
        if self.outcome:
            self.uc.emu_stop()

    def ipsr(self) -> int:
        return self.uc.reg_read(A.UC_ARM_REG_IPSR) & 0x1FF

    def _exec_priority(self) -> int:
        uc = self.uc
        primask = uc.reg_read(A.UC_ARM_REG_PRIMASK)
        if self.v6m:
            return self.exc.execution_priority(primask, 0, 0)
        return self.exc.execution_priority(primask, uc.reg_read(A.UC_ARM_REG_FAULTMASK),
                                           uc.reg_read(A.UC_ARM_REG_BASEPRI))

    def _take_pending(self) -> bool:
        """Enter the highest-priority pending exception if it preempts. True if taken."""
        hp = self.exc.highest_pending()
        if hp is None:
            return False
        num, prio = hp
        if prio >= self._exec_priority():
            return False
        with self._host_change("host"):
            self._enter_exception(num, self.pc)
        return True

    # ------------------------------------------------------------------ exceptions
    def _push_frame(self, ret_addr: int) -> int:
        """Stack the basic or extended frame (B1.5.6) and return the EXC_RETURN value."""
        uc = self.uc
        control = uc.reg_read(A.UC_ARM_REG_CONTROL)
        ipsr = self.ipsr()
        thread = ipsr == 0
        use_psp = thread and bool(control & _CONTROL_SPSEL)
        fp = self.has_fpu and bool(control & _CONTROL_FPCA)
        sp = uc.reg_read(A.UC_ARM_REG_SP)
        size = 0x68 if fp else 0x20
        xpsr = uc.reg_read(A.UC_ARM_REG_XPSR)
        frame_sp = (sp - size)
        align = 0
        if frame_sp & 4 and (self.scs.ccr & 0x200 or fp):
            frame_sp -= 4
            align = 1 << 9
        regs = [uc.reg_read(r) for r in (A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2,
                                         A.UC_ARM_REG_R3, A.UC_ARM_REG_R12, A.UC_ARM_REG_LR)]
        words = regs + [ret_addr & ~1, (xpsr & ~(1 << 9)) | align | (1 << 24)]
        if fp:
            words += [uc.reg_read(A.UC_ARM_REG_S0 + i) for i in range(16)]
            words += [uc.reg_read(A.UC_ARM_REG_FPSCR), 0]
        data = b"".join((w & 0xFFFFFFFF).to_bytes(4, "little") for w in words)
        try:
            self.host_write(frame_sp, data)
            r, lo = self.region_at(frame_sp)
            if r is None or r.access == "rx" or frame_sp + len(data) > lo + r.size:
                raise UcError(UC_ERR_WRITE_UNMAPPED)
        except UcError:
            self._lockup(f"stacking fault: SP 0x{sp:08x} is not in RAM", frame_sp)
            return 0
        stacks = read_banked(uc, self.v6m)
        stacks["psp" if use_psp else "msp"] = frame_sp
        self._entry_stacks = stacks
        if fp:
            # FP state is saved at entry. With lazy stacking (FPCCR.LSPEN) the hardware
            # only reserves the space and saves on the handler's first FP instruction; the
            # saved values are the same, and LSPACT/FPCAR show the reservation (B3.2.23).
            scs = self.scs
            if scs.fpccr & (1 << 30):
                scs.fpccr |= 1
            scs.fpcar = frame_sp + 0x20
            uc.reg_write(A.UC_ARM_REG_FPSCR, scs.fpdscr)   # the handler's FPSCR (FPDSCR)
        # handler mode runs on MSP with FPCA clear (set by _enter_exception)
        self._entry_control = control & ~(_CONTROL_SPSEL | _CONTROL_FPCA)
        exc_return = 0xFFFFFFE1 if fp else 0xFFFFFFF1
        if thread:
            exc_return |= 0x8
            if use_psp:
                exc_return |= 0x4
        if self.core.arch.startswith("armv8"):
            exc_return |= 0x60  # S=1 (secure stack), DCRS=1: a secure-only v8-M run
        return exc_return

    def _vector(self, num: int) -> int:
        try:
            return int.from_bytes(self.uc.mem_read(self.scs.vtor + 4 * num, 4), "little")
        except UcError:
            return 0

    def _enter_exception(self, num: int, ret_addr: int) -> None:
        uc = self.uc
        exc_return = self._push_frame(ret_addr)
        if self.outcome:
            return
        vec = self._vector(num)
        self.exc.pending[num] = False
        self.exc.active[num] = True
        st = self._entry_stacks
        write_mode(uc, ipsr=num, control=self._entry_control, msp=st["msp"], psp=st["psp"],
                   v6m=self.v6m)
        uc.reg_write(A.UC_ARM_REG_EPSR, _EPSR_T)   # the handler starts outside any IT block
        uc.reg_write(A.UC_ARM_REG_LR, exc_return)
        self.exceptions_taken += 1
        self.cycles += self.core.exc_entry_cycles
        self.exception_cycles += self.core.exc_entry_cycles
        self.coster.branch_flush()
        if self.coster.prof:
            self.coster.prof_clear_pending()
            self.coster.prof_push(ret_addr & ~1, vec & ~1)
        self._check_handler(num, vec)
        self.pc = vec & ~1
        uc.reg_write(A.UC_ARM_REG_PC, vec | 1)

    def _check_handler(self, num: int, vec: int) -> None:
        """A fault handler that is missing, or that only spins (`b .`), is an unhandled
        fault: end the run with a report instead of spinning until the cycle limit."""
        if num not in _FAULT_EXCEPTIONS and num != N.NMI:
            if vec == 0:
                self._lockup(f"{N.exception_name(num)} taken with no handler (vector is 0)", None)
            return
        spins = False
        if vec & ~1:
            try:
                spins = bytes(self.uc.mem_read(vec & ~1, 2)) == b"\xfe\xe7"
            except UcError:
                spins = True
        if vec == 0 or spins:
            self._report_fault(unhandled=True)

    def _exception_return(self, exc_return: int) -> None:
        uc = self.uc
        num = self.ipsr()
        if 0 < num < self.exc.count:
            self.exc.active[num] = False
        to_thread = bool(exc_return & 0x8)
        use_psp = bool(exc_return & 0x4)
        fp = not (exc_return & 0x10)
        # Tail-chain: a pending exception that beats the context being returned to runs
        # next without unstacking (B1.5.12); costs the tail-chain latency only.
        hp = self.exc.highest_pending()
        if hp is not None and hp[1] < self._exec_priority():
            vec = self._vector(hp[0])
            self.exc.pending[hp[0]] = False
            self.exc.active[hp[0]] = True
            uc.reg_write(A.UC_ARM_REG_IPSR, hp[0])
            uc.reg_write(A.UC_ARM_REG_EPSR, _EPSR_T)   # a BX LR ending an IT block left ITSTATE
            uc.reg_write(A.UC_ARM_REG_LR, exc_return)
            self.exceptions_taken += 1
            self.cycles += self.core.tail_chain_cycles
            self.exception_cycles += self.core.tail_chain_cycles
            self.coster.branch_flush()
            if self.coster.prof:
                self.coster.prof_clear_pending()
                ret = self.coster.prof_top_ret()
                self.coster.prof_pop()
                # the chained handler returns where the first would have
                if ret is not None:
                    self.coster.prof_push(ret, vec & ~1)
            self._check_handler(hp[0], vec)
            self.pc = vec & ~1
            uc.reg_write(A.UC_ARM_REG_PC, vec | 1)
            return
        sp = uc.reg_read(A.UC_ARM_REG_PSP) if (to_thread and use_psp) else uc.reg_read(A.UC_ARM_REG_SP)
        size = 0x68 if fp else 0x20
        try:
            data = bytes(uc.mem_read(sp, size))
        except UcError:
            self._lockup(f"unstacking fault at SP 0x{sp:08x}", sp)
            return
        w = [int.from_bytes(data[i:i + 4], "little") for i in range(0, size, 4)]
        if fp:
            self.scs.fpccr &= ~1   # LSPACT: the reserved FP state is restored/discarded
        xpsr = w[7]
        new_sp = sp + size + (4 if xpsr & (1 << 9) else 0)
        control = uc.reg_read(A.UC_ARM_REG_CONTROL)
        stacks = read_banked(uc, self.v6m)          # handler mode: privileged, direct
        if to_thread and use_psp:
            stacks["psp"] = new_sp
            control |= _CONTROL_SPSEL
        else:
            stacks["msp"] = new_sp
            control &= ~_CONTROL_SPSEL
        control = (control & ~_CONTROL_FPCA) | (_CONTROL_FPCA if fp and self.has_fpu else 0)
        if to_thread:
            xpsr &= ~0x1FF
        # mode, CONTROL (an unprivileged thread's nPRIV last) and both stack pointers
        write_mode(uc, ipsr=xpsr & 0x1FF, control=control, msp=stacks["msp"],
                   psp=stacks["psp"], v6m=self.v6m)
        for reg, val in zip((A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2, A.UC_ARM_REG_R3,
                             A.UC_ARM_REG_R12, A.UC_ARM_REG_LR), w[:6]):
            uc.reg_write(reg, val)
        if fp and self.has_fpu:
            for i in range(16):
                uc.reg_write(A.UC_ARM_REG_S0 + i, w[8 + i])
            uc.reg_write(A.UC_ARM_REG_FPSCR, w[24])
        # all of the stacked xPSR: flags, GE (SIMD), ITSTATE, T, IPSR (XPSR alone skips GE)
        uc.reg_write(A.UC_ARM_REG_XPSR_NZCVQG, xpsr & ~(1 << 9))
        self.cycles += self.core.exc_exit_cycles
        self.exception_cycles += self.core.exc_exit_cycles
        self.coster.branch_flush()
        self.pc = w[6] & ~1
        uc.reg_write(A.UC_ARM_REG_PC, w[6] | 1)
        if to_thread and self.scs.scr & SCR_SLEEPONEXIT:
            self._stop_flag = True
            self._sleep_request = True

    # ------------------------------------------------------------------ faults
    def _fault(self, kind: int, cfsr_bit: int, pc: int, address: int | None) -> None:
        """A synchronous fault at `pc` (B1.5.14): set the fault status, escalate to
        HardFault when the handler is disabled or cannot preempt, and take it."""
        scs = self.scs
        scs.cfsr |= cfsr_bit
        if address is not None:
            if kind == N.BUSFAULT:
                scs.bfar = address
                scs.cfsr |= N.CFSR_BFARVALID
            elif kind == N.MEMMANAGE:
                scs.mmfar = address
                scs.cfsr |= N.CFSR_MMARVALID
        cause = N.CFSR_NAMES.get(cfsr_bit, "")
        target = kind
        if self.v6m:
            target = N.HARDFAULT
            if kind != N.HARDFAULT:
                cause = f"{N.exception_name(kind)} {cause}".strip()
        elif kind != N.HARDFAULT and (not self.exc.enabled[kind]
                                      or self.exc.group_priority(kind) >= self._exec_priority()):
            target = N.HARDFAULT
            scs.hfsr |= N.HFSR_FORCED
            cause = f"FORCED <- {N.exception_name(kind)} {cause}".strip()
        self._pending_fault = FaultInfo(N.exception_name(target), pc, address, cause)
        if self.exc.active[N.HARDFAULT] or self._exec_priority() < 0:
            self._lockup(f"{N.exception_name(kind)} while in HardFault or NMI (lockup)", address)
            return
        self.pc = pc
        self._enter_exception(target, pc)

    def _lockup(self, why: str, address: int | None) -> None:
        pf = self._pending_fault
        pc = pf.pc if pf else self.pc
        self.fault = FaultInfo(pf.type if pf else "Lockup", pc,
                               pf.address if pf else address, pf.cause if pf else "", message=why)
        self._annotate(self.fault)
        self._end("fault")

    def _report_fault(self, unhandled: bool) -> None:
        pf = self._pending_fault or FaultInfo("HardFault", self.pc, None, "")
        self.fault = pf
        pf.message = "no handler" if unhandled else "handler spins"
        self._annotate(pf)
        self._end("fault")

    def _annotate(self, f: FaultInfo) -> None:
        fw = getattr(self, "fw", None)
        if fw is None:
            return
        f.symbol = fw.function_at(f.pc)
        f.line = fw.line_at(f.pc)
        chain = []
        # The stacked frame of the fault holds the LR of the faulting context.
        try:
            lr = self._fault_lr
        except AttributeError:
            lr = None
        f.lr = lr
        if lr is not None and lr < 0xF0000000:
            chain.append((lr & ~1, fw.function_at(lr)))
        chain += self._stack_return_addresses(getattr(self, "_fault_sp", None), fw,
                                              skip={a for a, _ in chain}, limit=4)
        f.call_chain = chain

    def _stack_return_addresses(self, sp, fw, skip=(), limit=4) -> list:
        """Callers further up: words on the faulting context's stack that are return
        addresses, i.e. Thumb addresses inside a function right after a BL/BLX (a
        heuristic, as debuggers' stack scans without unwind tables)."""
        out = []
        if sp is None:
            return out
        try:
            words = bytes(self.uc.mem_read(sp, 256))
        except UcError:
            return out
        for i in range(0, len(words), 4):
            v = int.from_bytes(words[i:i + 4], "little")
            a = v & ~1
            if not v & 1 or a in skip or fw.function_at(a) is None:
                continue
            try:
                prev = bytes(self.uc.mem_read(a - 4, 4))
            except UcError:
                continue
            hw1 = int.from_bytes(prev[:2], "little")
            hw2 = int.from_bytes(prev[2:], "little")
            bl = (hw1 & 0xF800) == 0xF000 and (hw2 & 0xD000) in (0xD000, 0xC000)
            blx_reg = (hw2 & 0xFF87) == 0x4780
            if bl or blx_reg:
                out.append((a, fw.function_at(a)))
                skip = set(skip) | {a}
                if len(out) >= limit:
                    break
        return out

    # ------------------------------------------------------------------ hooks
    def _install_hooks(self) -> None:
        uc = self.uc
        self._in_slice = False
        self._sleep_request = False
        self._bad_access = None
        self.coster.install(uc)
        uc.hook_add(UC_HOOK_INTR, self._hook_intr)
        uc.hook_add(UC_HOOK_MEM_INVALID, self._hook_invalid)

    def _hook_invalid(self, uc, access, address, size, value, ud) -> bool:
        self._bad_access = (access, address)
        return False

    def _hook_intr(self, uc, intno, ud) -> None:
        v = self.verifier
        if v is None:
            self._on_intr(uc, intno)
            return
        v.begin("intr", intno)
        try:
            self._on_intr(uc, intno)
        finally:
            v.end()

    def _on_intr(self, uc, intno) -> None:
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        if pc >= 0xF0000000 and intno in (3, 8):
            self._exception_return(pc | 1)
            return
        if intno == 7:  # BKPT
            imm = uc.mem_read(pc, 2)[0]
            if imm == 0xAB:
                self._semihost(pc)
                return
            self._stop_flag = True
            self._pending_bkpt = pc
            uc.emu_stop()
            return
        if intno == 2:  # SVC: PC is after the instruction
            self.pc = pc
            self._record_lr()
            self._enter_exception(N.SVCALL, pc)
            if self.outcome:
                uc.emu_stop()
            return
        # Faults that QEMU's M-profile model raises itself
        fault = {17: (N.USAGEFAULT, N.CFSR_NOCP), 18: (N.USAGEFAULT, N.CFSR_INVSTATE),
                 22: (N.USAGEFAULT, N.CFSR_UNALIGNED), 23: (N.USAGEFAULT, N.CFSR_DIVBYZERO),
                 1: (N.USAGEFAULT, N.CFSR_UNDEFINSTR)}.get(intno)
        if intno == 3:   # prefetch abort: an instruction fetch the bus refused
            fault = (N.BUSFAULT, N.CFSR_IBUSERR)
        if fault is not None and intno in (1, 3) and _execute_never(pc):
            fault = (N.MEMMANAGE, N.CFSR_IACCVIOL)
        if fault is not None:
            self._record_lr()
            self._fault(fault[0], fault[1], pc & ~1, None)
            if self.outcome:
                uc.emu_stop()
            return
        self._stop_flag = True
        self._unknown_intr = (intno, pc)
        uc.emu_stop()

    def _record_lr(self) -> None:
        self._fault_lr = self.uc.reg_read(A.UC_ARM_REG_LR)
        self._fault_sp = self.uc.reg_read(A.UC_ARM_REG_SP)

    def _semihost(self, pc: int) -> None:
        uc = self.uc
        op = uc.reg_read(A.UC_ARM_REG_R0)
        arg = uc.reg_read(A.UC_ARM_REG_R1)
        try:
            r = self.semihost.call(op, arg)
        except Exit as e:
            self.exit_code = e.status
            self._end("exit")
            uc.emu_stop()
            return
        except UcError:
            r = 0xFFFFFFFF
        uc.reg_write(A.UC_ARM_REG_R0, r & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_PC, (pc + 2) | 1)

    def _host_change(self, kind: str):
        """Brackets a change the simulator makes to the CPU's state (exception entry and
        return, semihosting, faults): --verify replays it into its reference CPU."""
        v = self.verifier
        return _NO_CHANGE if v is None else v.change(kind)

    def _end(self, outcome: str, reason: str | None = None) -> None:
        if self.outcome is None:
            self.outcome = outcome
            if reason:
                self.limit_reason = reason
        self._stop_flag = True
        if self._in_slice:
            self.uc.emu_stop()

    # ------------------------------------------------------------------ running
    def run(self, max_cycles: int | None = None, timeout: float | None = None, progress=None):
        self.max_cycles = max_cycles if max_cycles else 1 << 62
        self.wall_deadline = time.monotonic() + timeout if timeout else None
        self.progress = progress
        self.host_seconds = 0.0
        self.host_in_cpu = 0.0
        t0 = time.perf_counter()
        proc = self.env.process(self._cpu())
        self.env.run(until=proc)
        if self.verifier is not None:
            self.verifier.finish()
        if self.memory_model is not None and hasattr(self.memory_model, "finish"):
            self.memory_model.finish()
        self.stack_peak = self.measure_stack()
        self.host_seconds = time.perf_counter() - t0
        self.host_outside_cpu = self.host_seconds - self.host_in_cpu
        self.semihost.close()
        return self

    def _cpu(self):
        env = self.env
        while self.outcome is None:
            if self.sleeping:
                if self.exc.any_pending_enabled():
                    self._wake()
                    continue
                nxt = env.peek()
                if nxt == math.inf or not self.can_be_woken():
                    self._end("limit", "the core is asleep (WFI/WFE) with nothing that can wake it")
                    break
                if nxt >= self.max_cycles:
                    self.cycles = self.max_cycles
                    self._sleep_account(self.max_cycles)
                    self._end("limit", f"cycle limit {self.max_cycles} reached while asleep")
                    break
                self._sleep_account(int(nxt))
                yield env.timeout(int(nxt) - env.now)
                self.cycles = env.now
                continue
            if self._take_pending() and self.outcome:
                break
            nxt = env.peek()
            deadline = min(self.max_cycles, self.cycles + self.slice_cycles)
            if nxt < deadline:
                deadline = int(nxt)
            self.deadline = deadline
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
            if self.cycles > env.now:
                yield env.timeout(self.cycles - env.now)
            else:
                yield env.timeout(0)

    def _run_slice(self) -> None:
        uc = self.uc
        self._stop_flag = False
        self._bad_access = None
        self._in_slice = True
        start_pc = self.pc
        t0 = time.perf_counter()
        try:
            self.coster.emu_run(uc, start_pc)
            err = None
        except UcError as e:
            err = e
        finally:
            self._in_slice = False
            self.host_in_cpu += time.perf_counter() - t0
        self.pc = uc.reg_read(A.UC_ARM_REG_PC)
        if self.outcome:
            return
        if err is not None:
            with self._host_change("uerr"):
                self._handle_uc_error(err)
            return
        if self._stop_flag:
            if self._sleep_request:
                self._sleep_request = False
                self._go_to_sleep()
            elif getattr(self, "_pending_bkpt", None) is not None:
                pc = self._pending_bkpt
                self._pending_bkpt = None
                # no debugger attached: BKPT escalates to HardFault (C1.7.1)
                with self._host_change("host"):
                    self._fault(N.HARDFAULT, 0, pc, None)
                if self.fault is None and self.outcome is None:
                    self.scs.hfsr |= 1 << 31  # DEBUGEVT
            elif getattr(self, "_unknown_intr", None) is not None:
                intno, pc = self._unknown_intr
                self._unknown_intr = None
                with self._host_change("host"):
                    self._fault(N.USAGEFAULT, N.CFSR_UNDEFINSTR, pc & ~1, None)
            return
        if self.cycles >= self.deadline:
            return  # the block hook stopped the slice at the deadline
        # emu_start returned by itself: the core executed WFI or WFE.
        if self._after_wfx(self.pc):
            self._go_to_sleep()

    def _after_wfx(self, pc: int) -> bool:
        try:
            h = bytes(self.uc.mem_read(pc - 2, 2))
            if h in (b"\x30\xbf", b"\x20\xbf"):
                return True
            w = bytes(self.uc.mem_read(pc - 4, 4))
            return w in (b"\xaf\xf3\x03\x80", b"\xaf\xf3\x02\x80")
        except UcError:
            return False

    def _go_to_sleep(self) -> None:
        deep = bool(self.scs.scr & SCR_SLEEPDEEP)
        if self.exc.any_pending_enabled():
            return  # WFI completes at once when an interrupt is already pending
        self.sleeping = "deepsleep" if deep else "sleep"
        self.state_log.append((self.cycles, self.sleeping))

    def _sleep_account(self, until: int) -> None:
        d = until - self.cycles
        if d <= 0:
            return
        if self.sleeping == "deepsleep":
            self.deepsleep_cycles += d
        else:
            self.sleep_cycles += d
        self.cycles = until

    def _wake(self) -> None:
        self.sleeping = False
        self.state_log.append((self.cycles, "run"))

    def _handle_uc_error(self, err: UcError) -> None:
        code = err.errno
        pc = self.pc
        self._record_lr()
        bad = self._bad_access
        addr = bad[1] if bad else None
        if code in (UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_WRITE_PROT,
                    UC_ERR_READ_PROT, UC_ERR_READ_UNALIGNED, UC_ERR_WRITE_UNALIGNED):
            self._fault(N.BUSFAULT, N.CFSR_PRECISERR, pc, addr)
        elif code in (UC_ERR_FETCH_UNMAPPED, UC_ERR_FETCH_PROT) and pc >= 0xF0000000 and self.ipsr():
            # Armv6-M model: the EXC_RETURN branch surfaces as a fetch fault
            self._exception_return(pc | 1)
        elif code in (UC_ERR_FETCH_UNMAPPED, UC_ERR_FETCH_PROT, UC_ERR_INSN_INVALID,
                      UC_ERR_EXCEPTION) and _execute_never(pc):
            # The default memory map marks the Peripheral, Device and System regions
            # Execute Never (Armv7-M B3.1): a MemManage fault (IACCVIOL) on Armv7-M/v8-M.
            self._fault(N.MEMMANAGE, N.CFSR_IACCVIOL, pc, None)
        elif code in (UC_ERR_FETCH_UNMAPPED, UC_ERR_FETCH_PROT):
            # A branch to a bad address: the fault is taken at the target address.
            self._fault(N.BUSFAULT, N.CFSR_IBUSERR, pc, None)
        elif code == UC_ERR_INSN_INVALID:
            cause = N.CFSR_NOCP if self._is_coprocessor(pc) else N.CFSR_UNDEFINSTR
            self._fault(N.USAGEFAULT, cause, pc, None)
        elif code == UC_ERR_EXCEPTION:
            self._fault(N.USAGEFAULT, N.CFSR_UNDEFINSTR, pc, None)
        else:
            self._fault(N.HARDFAULT, 0, pc, addr)

    def _is_coprocessor(self, pc: int) -> bool:
        try:
            hw = int.from_bytes(self.uc.mem_read(pc, 2), "little")
            hw2 = int.from_bytes(self.uc.mem_read(pc + 2, 2), "little")
        except UcError:
            return False
        # Thumb-2 coprocessor space: 111x 11xx xxxx xxxx, coprocessor field in hw2[11:8]
        return (hw & 0xEC00) == 0xEC00 and ((hw2 >> 8) & 0xE) == 0xA

    # ------------------------------------------------------------------ results
    @property
    def instructions(self) -> int:
        return self.coster.instructions()


class _NoChange:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_CHANGE = _NoChange()


def _attach_memory_model(machine):
    """The memory timing model (mcusim/timing/memory.py): wait states, flash accelerator,
    caches; it sets machine.coster.memory and, in detailed mode, its own hooks."""
    try:
        from mcusim.timing.memory import attach_memory_model
    except ImportError:
        return None
    return attach_memory_model(machine)


class _Offset:
    """Adapts a device mapped at a sub-range to offsets from its own base."""

    def __init__(self, dev, delta):
        self.dev, self.delta = dev, delta

    def read(self, off, size):
        return self.dev.read(off + self.delta, size)

    def write(self, off, size, value):
        self.dev.write(off + self.delta, size, value)


def _execute_never(addr: int) -> bool:
    """XN regions of the default memory map: Peripheral 0x40000000-0x5FFFFFFF, Device
    0xA0000000-0xDFFFFFFF, System 0xE0000000- (Armv7-M ARM B3.1, Table B3-1)."""
    return 0x40000000 <= addr < 0x60000000 or addr >= 0xA0000000


def _round_up(n: int) -> int:
    return (n + PAGE - 1) // PAGE * PAGE
