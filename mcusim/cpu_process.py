"""The CPU as a SimPy process: Unicorn runs in slices up to the next scheduled event; the
CPU's synchronous events (SVC, BKPT, EXC_RETURN branches, faults Unicorn raises or
reports as errors) are handled between and inside slices; WFI/WFE put it to sleep until
an event can wake it.

It owns the CPU's position (the PC the next slice starts at), its power state (run,
sleep, deep sleep, with the log the energy accounting integrates) and the reasons a slice
stopped. The machine owns the outcome of the run.
"""

from __future__ import annotations

import math
import time

from unicorn import UC_HOOK_INTR, UC_HOOK_MEM_INVALID, UcError
from unicorn import arm_const as A

from mcusim import faults as F
from mcusim import nvic as N
from mcusim.scs import SCR_SLEEPDEEP
from mcusim.semihost import Exit

_WFI = (b"\x30\xbf", b"\x20\xbf")                          # WFI, WFE (16-bit)
_WFI_W = (b"\xaf\xf3\x03\x80", b"\xaf\xf3\x02\x80")        # WFI.W, WFE.W


class CpuProcess:
    def __init__(self, machine):
        self.m = machine
        self.uc = machine.uc
        self.pc = 0                       # where the next slice starts
        self.sleeping: str | bool = False
        self.sleep_cycles = self.deepsleep_cycles = 0
        self.state_log: list[tuple[int, str]] = [(0, "run")]
        self.host_in_cpu = 0.0            # host seconds inside Unicorn
        self._stop_flag = self._sleep_request = False
        self._after_stop = None           # a fault to take once the slice stopped
        self._bad_access = None
        self.uc.hook_add(UC_HOOK_INTR, self._hook_intr)
        self.uc.hook_add(UC_HOOK_MEM_INVALID, self._hook_invalid)

    # ------------------------------------------------------------------ the process
    def run(self, max_cycles: int, wall_deadline: float | None, progress):
        m, tb = self.m, self.m.timebase
        self.wall_deadline = wall_deadline
        env = tb.env
        while m.outcome is None:
            if self.sleeping:
                if m.exc.any_pending_enabled():
                    self._wake()
                    continue
                nxt = env.peek()
                if nxt == math.inf or not tb.can_be_woken():
                    m.end("limit", "the core is asleep (WFI/WFE) with nothing that can wake it")
                    break
                if nxt >= max_cycles:
                    self._sleep_until(max_cycles)
                    m.end("limit", f"cycle limit {max_cycles} reached while asleep")
                    break
                self._sleep_until(int(nxt))
                yield env.timeout(int(nxt) - env.now)
                continue
            with m.host_change("host"):
                handler = m.exceptions.take_pending(self.pc)
            if handler is not None:
                self.pc = handler
            if m.outcome:
                break
            tb.deadline = min(max_cycles, tb.cycles + m.slice_cycles, env.peek())
            t_slice = tb.cycles
            self.run_slice()
            for hook in m.slice_hooks:
                # bus masters (DMA, accelerators) that held the shared bus during the
                # slice delay the CPU's own accesses: transaction-level contention
                tb.cycles += hook(t_slice, tb.cycles)
            if m.verifier is not None and m.verifier.after_slice():
                break                    # the reference CPU computed something else
            if m.outcome is None and tb.cycles >= max_cycles:
                m.end("limit", f"cycle limit {max_cycles} reached")
            if m.outcome is None and wall_deadline and time.monotonic() > wall_deadline:
                m.end("limit", "wall-clock timeout reached")
            if progress:
                progress(m)
            yield env.timeout(max(0, tb.cycles - env.now))

    def run_slice(self) -> None:
        m, uc, tb = self.m, self.uc, self.m.timebase
        self._stop_flag = False
        self._bad_access = None
        tb.in_slice = True
        t0 = time.perf_counter()
        try:
            m.coster.emu_run(uc, self.pc)
            err = None
        except UcError as e:
            err = e
        finally:
            tb.in_slice = False
            self.host_in_cpu += time.perf_counter() - t0
        self.pc = uc.reg_read(A.UC_ARM_REG_PC)
        if m.outcome:
            return
        if err is not None:
            with m.host_change("uerr"):
                self._emulation_error(err)
            return
        if self._stop_flag:
            if self._sleep_request:
                self._sleep_request = False
                self._go_to_sleep()
            elif self._after_stop is not None:
                kind, bit, pc, debug = self._after_stop
                self._after_stop = None
                with m.host_change("host"):
                    self._take_fault(kind, bit, pc, None)
                if debug and m.fault is None and m.outcome is None:
                    m.scs.hfsr |= 1 << 31                 # HFSR.DEBUGEVT
            return
        if tb.cycles >= tb.deadline:
            return                                        # stopped at the deadline
        if self._after_wfx(self.pc):                      # emu_start returned: WFI/WFE
            self._go_to_sleep()

    def stop(self) -> None:
        """End the current slice (the run ended, or the simulator has work to do)."""
        self._stop_flag = True
        if self.m.timebase.in_slice:
            self.m.coster.emu_stop(self.uc)

    def stopped(self) -> bool:
        return self.m.outcome is not None or self._stop_flag

    # ------------------------------------------------------------------ synchronous events
    def _hook_invalid(self, uc, access, address, size, value, ud) -> bool:
        self._bad_access = (access, address)
        return False

    def _hook_intr(self, uc, intno, ud) -> None:
        m = self.m
        v = m.verifier
        if v is not None:
            v.begin("intr", intno)
        try:
            self._on_intr(uc, intno)
        finally:
            if v is not None:
                v.end()
        self._intr_count += 1
        if not self._intr_count & 255 and self.wall_deadline and m.outcome is None \
                and time.monotonic() > self.wall_deadline:
            # a slice full of host calls (semihosting in a loop) can last long: --timeout
            # is checked inside it too, not only between slices
            m.end("limit", "wall-clock timeout reached")
        if m.outcome:
            m.coster.emu_stop(uc)

    _intr_count = 0
    wall_deadline: float | None = None

    def _on_intr(self, uc, intno) -> None:
        ci = self.m.custom_instructions
        if intno == 17 and ci is not None and ci.trap(uc):
            return                 # a custom instruction (mcusim/accelerators/coprocessor.py)
        exc = self.m.exceptions
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
            exc.record_context()
            handler = exc.exception_entry(N.SVCALL, pc)
            self.pc = handler if handler is not None else pc
            return
        fault = F.fault_of_intr(intno, pc)
        if fault is not None:
            exc.record_context()
            self._take_fault(fault[0], fault[1], pc & ~1, None)
            return
        self._stop_after(N.USAGEFAULT, N.CFSR_UNDEFINSTR, pc & ~1)

    def div_by_zero(self, pc: int) -> None:
        """SDIV/UDIV by zero with CCR.DIV_0_TRP (from the divide's code hook): a precise
        UsageFault at the divide."""
        self.m.exceptions.record_context()
        with self.m.host_change("code"):
            self._take_fault(N.USAGEFAULT, N.CFSR_DIVBYZERO, pc, None)
        if self.m.outcome:
            self.m.coster.emu_stop(self.uc)

    def _take_fault(self, kind: int, cfsr_bit: int, pc: int, address) -> None:
        handler = self.m.exceptions.fault(kind, cfsr_bit, pc, address)
        self.pc = handler if handler is not None else pc

    def _stop_after(self, kind, bit, pc, debug_event=False) -> None:
        self._after_stop = (kind, bit, pc, debug_event)
        self.stop()

    def _exception_return(self, exc_return: int) -> None:
        addr, sleep = self.m.exceptions.exception_return(exc_return)
        if addr is not None:
            self.pc = addr
        if sleep:                                        # SCR.SLEEPONEXIT
            self._stop_flag = self._sleep_request = True

    def _semihost(self, pc: int) -> None:
        m, uc = self.m, self.uc
        op = uc.reg_read(A.UC_ARM_REG_R0)
        arg = uc.reg_read(A.UC_ARM_REG_R1)
        try:
            r = m.semihost.call(op, arg)
        except Exit as e:
            m.exit_code = e.status
            m.end("exit")
            return
        except UcError:
            r = 0xFFFFFFFF
        uc.reg_write(A.UC_ARM_REG_R0, r & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_PC, (pc + 2) | 1)

    def _emulation_error(self, err: UcError) -> None:
        pc = self.pc
        self.m.exceptions.record_context()
        code = err.errno
        if F.is_fetch_error(code) and pc >= 0xF0000000 and self.m.exceptions.ipsr():
            self._exception_return(pc | 1)     # Armv6-M: EXC_RETURN surfaces as a fetch fault
            return
        kind, bit = F.fault_of_error(code, pc, lambda a: F.is_coprocessor(self.uc, a))
        addr = self._bad_access[1] if self._bad_access else None
        self._take_fault(kind, bit, pc, addr if bit in (N.CFSR_PRECISERR, 0) else None)

    # ------------------------------------------------------------------ sleep
    def _after_wfx(self, pc: int) -> bool:
        try:
            return (bytes(self.uc.mem_read(pc - 2, 2)) in _WFI
                    or bytes(self.uc.mem_read(pc - 4, 4)) in _WFI_W)
        except UcError:
            return False

    def _go_to_sleep(self) -> None:
        m = self.m
        if m.exc.any_pending_enabled():
            return  # WFI completes at once when an interrupt is already pending
        self.sleeping = "deepsleep" if m.scs.scr & SCR_SLEEPDEEP else "sleep"
        self.state_log.append((m.timebase.cycles, self.sleeping))

    def _sleep_until(self, until: int) -> None:
        tb = self.m.timebase
        d = until - tb.cycles
        if d > 0:
            if self.sleeping == "deepsleep":
                self.deepsleep_cycles += d
            else:
                self.sleep_cycles += d
            tb.cycles = until

    def _wake(self) -> None:
        self.sleeping = False
        self.state_log.append((self.m.timebase.cycles, "run"))
