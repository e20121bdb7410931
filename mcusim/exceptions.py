"""The M-profile exception model, done in the host (Unicorn has no NVIC and no exception
entry or return for M-profile cores; DESIGN.md).

Named after the Armv7-M ARM pseudocode (DDI 0403E B1.5.6-B1.5.8, B1.5.14; Armv6-M ARM
DDI 0419 B1.5; Armv8-M for EXC_RETURN.S/DCRS of a secure-only run): `push_stack` and
`exception_taken` form ExceptionEntry, `exception_return` is ExceptionReturn with
tail-chaining, `fault` raises a synchronous fault with escalation to HardFault, and
`lockup` is what the core does when a fault cannot be taken.

Collaborators are passed in: the CPU, the NVIC state (`mcusim.nvic.ExceptionState`), the
SCB registers (`mcusim.scs.SystemControlSpace`), the memory map (stack writes), the block
coster (branch refill and call-tree bookkeeping), and a `charge(cycles)` for the
architectural latencies. The outcome of an unrecoverable fault goes to `on_fatal`.
"""

from __future__ import annotations

from unicorn import UcError
from unicorn import arm_const as A

from mcusim import nvic as N
from mcusim.cpu import (CONTROL_FPCA, CONTROL_SPSEL, EPSR_T, read_banked, write_exclusive,
                        write_mode)
from mcusim.faults import FaultInfo

FAULT_EXCEPTIONS = (N.HARDFAULT, N.MEMMANAGE, N.BUSFAULT, N.USAGEFAULT)
_FRAME, _FRAME_FP = 0x20, 0x68        # basic and extended (FP) frame sizes
_XPSR_ALIGN = 1 << 9                  # stacked xPSR bit 9: the frame was realigned
_RETPSR_SFPA = 1 << 20                # Armv8-M RETPSR bit 20: CONTROL_S.SFPA of the context
CONTROL_SFPA = 1 << 3                 # Armv8-M CONTROL.SFPA (secure FP state active)


class ExceptionModel:
    def __init__(self, cpu, core, state: N.ExceptionState, scb, memory, coster, charge,
                 on_fatal):
        self.cpu = cpu
        self.core = core
        self.state = state
        self.scb = scb
        self.memory = memory
        self.coster = coster
        self.charge = charge                  # charge(cycles): exception latency
        self.on_fatal = on_fatal              # on_fatal(FaultInfo): the run ends
        self.v6m = core.arch == "armv6-m"
        self.has_fpu = bool(core.fpu)
        self.v8m = core.arch.startswith("armv8")
        self.cycles = 0                       # entry/exit/tail-chain cycles so far
        self.taken = 0                        # exceptions taken
        self.pending_fault: FaultInfo | None = None
        self.fault_lr: int | None = None      # LR and SP of the context that faulted
        self.fault_sp: int | None = None
        self.failed = False                   # lockup or unhandled fault: the run ends

    # ------------------------------------------------------------------ state
    def ipsr(self) -> int:
        return self.cpu.reg_read(A.UC_ARM_REG_IPSR) & 0x1FF

    def execution_priority(self) -> int:
        r = self.cpu.reg_read
        primask = r(A.UC_ARM_REG_PRIMASK)
        if self.v6m:
            return self.state.execution_priority(primask, 0, 0)
        return self.state.execution_priority(primask, r(A.UC_ARM_REG_FAULTMASK),
                                             r(A.UC_ARM_REG_BASEPRI))

    def record_context(self) -> None:
        """Keep LR and SP of the context a synchronous exception interrupts (for the fault
        report's call chain)."""
        self.fault_lr = self.cpu.reg_read(A.UC_ARM_REG_LR)
        self.fault_sp = self.cpu.reg_read(A.UC_ARM_REG_SP)

    def vector(self, num: int) -> int:
        try:
            return int.from_bytes(self.cpu.mem_read(self.scb.vtor + 4 * num, 4), "little")
        except UcError:
            return 0

    # ------------------------------------------------------------------ entry
    def take_pending(self, pc: int) -> int | None:
        """Take the highest-priority pending exception if it preempts execution at `pc`.
        Returns the handler address, or None."""
        hp = self.state.highest_pending()
        if hp is None or hp[1] >= self.execution_priority():
            return None
        return self.exception_entry(hp[0], pc)

    def exception_entry(self, num: int, ret_addr: int) -> int | None:
        """PushStack + ExceptionTaken. Returns the handler address (None if the run ended)."""
        frame = self.push_stack(ret_addr)
        if frame is None:
            return None
        exc_return, control, msp, psp = frame
        return self.exception_taken(num, exc_return, control, msp, psp, ret_addr)

    def push_stack(self, ret_addr: int):
        """Stack the basic or extended frame (B1.5.6). Returns (EXC_RETURN, handler
        CONTROL, MSP, PSP) or None after a stacking lockup."""
        cpu = self.cpu
        control = cpu.reg_read(A.UC_ARM_REG_CONTROL)
        thread = self.ipsr() == 0
        use_psp = thread and bool(control & CONTROL_SPSEL)
        fp = self.has_fpu and bool(control & CONTROL_FPCA)
        sp = cpu.reg_read(A.UC_ARM_REG_SP)
        size = _FRAME_FP if fp else _FRAME
        xpsr = cpu.reg_read(A.UC_ARM_REG_XPSR)
        frame_sp = sp - size
        align = 0
        if frame_sp & 4 and (self.scb.ccr & 0x200 or fp):      # CCR.STKALIGN
            frame_sp -= 4
            align = _XPSR_ALIGN
        regs = [cpu.reg_read(r) for r in (A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2,
                                          A.UC_ARM_REG_R3, A.UC_ARM_REG_R12, A.UC_ARM_REG_LR)]
        sfpa = _RETPSR_SFPA if self.v8m and self.has_fpu and control & CONTROL_SFPA else 0
        words = regs + [ret_addr & ~1, (xpsr & ~_XPSR_ALIGN) | align | EPSR_T | sfpa]
        if fp:
            words += [cpu.reg_read(A.UC_ARM_REG_S0 + i) for i in range(16)]
            words += [cpu.reg_read(A.UC_ARM_REG_FPSCR), 0]
        data = b"".join((w & 0xFFFFFFFF).to_bytes(4, "little") for w in words)
        region, lo = self.memory.region_at(frame_sp)
        if region is None or region.access == "rx" or frame_sp + len(data) > lo + region.size:
            self.lockup(f"stacking fault: SP 0x{sp:08x} is not in RAM", frame_sp)
            return None
        self.memory.host_write(frame_sp, data)
        stacks = read_banked(cpu, self.v6m)
        stacks["psp" if use_psp else "msp"] = frame_sp
        if fp:
            # FP state is saved at entry. With lazy stacking (FPCCR.LSPEN) the hardware
            # only reserves the space and saves on the handler's first FP instruction; the
            # saved values are the same, and LSPACT/FPCAR show the reservation (B3.2.23).
            scb = self.scb
            if scb.fpccr & (1 << 30):
                scb.fpccr |= 1
            scb.fpcar = frame_sp + 0x20
            cpu.reg_write(A.UC_ARM_REG_FPSCR, scb.fpdscr)     # the handler's FPSCR
        exc_return = 0xFFFFFFE1 if fp else 0xFFFFFFF1
        if thread:
            exc_return |= 0x8
            if use_psp:
                exc_return |= 0x4
        if self.v8m:
            exc_return |= 0x60      # S=1 (secure stack), DCRS=1: a secure-only v8-M run
        # the handler runs on MSP with FPCA (and, on Armv8-M, SFPA) clear
        return (exc_return, control & ~(CONTROL_SPSEL | CONTROL_FPCA | CONTROL_SFPA),
                stacks["msp"], stacks["psp"])

    def exception_taken(self, num, exc_return, control, msp, psp, ret_addr) -> int | None:
        cpu = self.cpu
        vec = self.vector(num)
        self.state.pending[num] = False
        self.state.active[num] = True
        write_mode(cpu, ipsr=num, control=control, msp=msp, psp=psp, v6m=self.v6m)
        cpu.reg_write(A.UC_ARM_REG_EPSR, EPSR_T)       # the handler starts outside IT blocks
        cpu.reg_write(A.UC_ARM_REG_LR, exc_return)
        write_exclusive(cpu)                           # ClearExclusiveLocal
        self._latency(self.core.exc_entry_cycles)
        coster = self.coster
        if coster.prof:
            coster.prof_clear_pending()
            coster.prof_push(ret_addr & ~1, vec & ~1)
        if not self._handler_ok(num, vec):
            return None
        cpu.reg_write(A.UC_ARM_REG_PC, vec | 1)
        return vec & ~1

    def _latency(self, cycles: int) -> None:
        self.taken += 1
        self.cycles += cycles
        self.charge(cycles)
        self.coster.branch_flush()

    def _handler_ok(self, num: int, vec: int) -> bool:
        """A fault handler that is missing, or that only spins (`b .`), is an unhandled
        fault: the run ends with a report instead of spinning until the cycle limit."""
        if num not in FAULT_EXCEPTIONS and num != N.NMI:
            if vec == 0:
                self.lockup(f"{N.exception_name(num)} taken with no handler (vector is 0)", None)
                return False
            return True
        spins = False
        if vec & ~1:
            try:
                spins = bytes(self.cpu.mem_read(vec & ~1, 2)) == b"\xfe\xe7"
            except UcError:
                spins = True
        if vec == 0 or spins:
            self.unhandled("no handler")
            return False
        return True

    # ------------------------------------------------------------------ return
    def exception_return(self, exc_return: int) -> tuple[int | None, bool]:
        """ExceptionReturn (B1.5.8) with tail-chaining (B1.5.12). Returns (the address
        execution continues at or None if the run ended, sleep-on-exit requested)."""
        cpu = self.cpu
        num = self.ipsr()
        if 0 < num < self.state.count:
            self.state.active[num] = False
        to_thread = bool(exc_return & 0x8)
        use_psp = bool(exc_return & 0x4)
        fp = not exc_return & 0x10
        hp = self.state.highest_pending()
        if hp is not None and hp[1] < self.execution_priority():
            return self._tail_chain(hp[0], exc_return), False
        sp = cpu.reg_read(A.UC_ARM_REG_PSP) if to_thread and use_psp else cpu.reg_read(A.UC_ARM_REG_SP)
        size = _FRAME_FP if fp else _FRAME
        try:
            data = bytes(cpu.mem_read(sp, size))
        except UcError:
            self.lockup(f"unstacking fault at SP 0x{sp:08x}", sp)
            return None, False
        w = [int.from_bytes(data[i:i + 4], "little") for i in range(0, size, 4)]
        if fp:
            self.scb.fpccr &= ~1          # LSPACT: the reserved FP state is restored
        xpsr = w[7]
        new_sp = sp + size + (4 if xpsr & _XPSR_ALIGN else 0)
        control = cpu.reg_read(A.UC_ARM_REG_CONTROL)
        stacks = read_banked(cpu, self.v6m)          # handler mode: privileged, direct
        if to_thread and use_psp:
            stacks["psp"] = new_sp
            control |= CONTROL_SPSEL
        else:
            stacks["msp"] = new_sp
            control &= ~CONTROL_SPSEL
        control = (control & ~CONTROL_FPCA) | (CONTROL_FPCA if fp and self.has_fpu else 0)
        if self.v8m and self.has_fpu:
            control = (control & ~CONTROL_SFPA) | (CONTROL_SFPA if xpsr & _RETPSR_SFPA else 0)
        if to_thread:
            xpsr &= ~0x1FF
        # mode, CONTROL (an unprivileged thread's nPRIV last) and both stack pointers
        write_mode(cpu, ipsr=xpsr & 0x1FF, control=control, msp=stacks["msp"],
                   psp=stacks["psp"], v6m=self.v6m)
        for reg, val in zip((A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2, A.UC_ARM_REG_R3,
                             A.UC_ARM_REG_R12, A.UC_ARM_REG_LR), w[:6]):
            cpu.reg_write(reg, val)
        if fp and self.has_fpu:
            for i in range(16):
                cpu.reg_write(A.UC_ARM_REG_S0 + i, w[8 + i])
            cpu.reg_write(A.UC_ARM_REG_FPSCR, w[24])
        # all of the stacked xPSR: flags, GE (SIMD), ITSTATE, T, IPSR (XPSR alone skips GE)
        cpu.reg_write(A.UC_ARM_REG_XPSR_NZCVQG, xpsr & ~(_XPSR_ALIGN | _RETPSR_SFPA))
        write_exclusive(cpu)                           # ClearExclusiveLocal
        self.cycles += self.core.exc_exit_cycles
        self.charge(self.core.exc_exit_cycles)
        self.coster.branch_flush()
        cpu.reg_write(A.UC_ARM_REG_PC, w[6] | 1)
        return w[6] & ~1, bool(to_thread and self.scb.scr & (1 << 1))   # SCR.SLEEPONEXIT

    def _tail_chain(self, num: int, exc_return: int) -> int | None:
        """A pending exception that beats the context being returned to runs next without
        unstacking; it costs the tail-chain latency only."""
        cpu = self.cpu
        vec = self.vector(num)
        self.state.pending[num] = False
        self.state.active[num] = True
        cpu.reg_write(A.UC_ARM_REG_IPSR, num)
        cpu.reg_write(A.UC_ARM_REG_EPSR, EPSR_T)    # a BX LR ending an IT block left ITSTATE
        cpu.reg_write(A.UC_ARM_REG_LR, exc_return)
        write_exclusive(cpu)                        # ClearExclusiveLocal
        self._latency(self.core.tail_chain_cycles)
        coster = self.coster
        if coster.prof:
            coster.prof_clear_pending()
            ret = coster.prof_top_ret()
            coster.prof_pop()
            if ret is not None:               # the chained handler returns where the first would
                coster.prof_push(ret, vec & ~1)
        if not self._handler_ok(num, vec):
            return None
        cpu.reg_write(A.UC_ARM_REG_PC, vec | 1)
        return vec & ~1

    # ------------------------------------------------------------------ faults
    def fault(self, kind: int, cfsr_bit: int, pc: int, address: int | None) -> int | None:
        """A synchronous fault at `pc` (B1.5.14): set the fault status, escalate to
        HardFault when the handler is disabled or cannot preempt, and take it. Returns the
        handler address, or None when the run ended (lockup, no handler)."""
        scb = self.scb
        scb.cfsr |= cfsr_bit
        if address is not None:
            if kind == N.BUSFAULT:
                scb.bfar = address
                scb.cfsr |= N.CFSR_BFARVALID
            elif kind == N.MEMMANAGE:
                scb.mmfar = address
                scb.cfsr |= N.CFSR_MMARVALID
        cause = N.CFSR_NAMES.get(cfsr_bit, "")
        target = kind
        if self.v6m:
            target = N.HARDFAULT
            if kind != N.HARDFAULT:
                cause = f"{N.exception_name(kind)} {cause}".strip()
        elif kind != N.HARDFAULT and (not self.state.enabled[kind]
                                      or self.state.group_priority(kind) >= self.execution_priority()):
            target = N.HARDFAULT
            scb.hfsr |= N.HFSR_FORCED
            cause = f"FORCED <- {N.exception_name(kind)} {cause}".strip()
        self.pending_fault = FaultInfo(N.exception_name(target), pc, address, cause)
        if self.state.active[N.HARDFAULT] or self.execution_priority() < 0:
            self.lockup(f"{N.exception_name(kind)} while in HardFault or NMI (lockup)", address)
            return None
        return self.exception_entry(target, pc)

    def lockup(self, why: str, address: int | None) -> None:
        pf = self.pending_fault
        pc = pf.pc if pf else self.cpu.reg_read(A.UC_ARM_REG_PC)
        f = FaultInfo(pf.type if pf else "Lockup", pc, pf.address if pf else address,
                      pf.cause if pf else "", message=why)
        self._fatal(f)

    def unhandled(self, message: str) -> None:
        pf = self.pending_fault or FaultInfo("HardFault", self.cpu.reg_read(A.UC_ARM_REG_PC),
                                             None, "")
        pf.message = message
        self._fatal(pf)

    def _fatal(self, f: FaultInfo) -> None:
        f.lr = self.fault_lr
        f.sp = self.fault_sp
        self.failed = True
        self.on_fatal(f)
