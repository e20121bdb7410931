"""Exception model of the M-profile architecture: NVIC, SCB, priorities, pending/active.

Numbers and rules follow the Armv7-M ARM (DDI 0403E) B1.5 and the Armv6-M ARM (DDI 0419)
B1.5: exception numbers, priority grouping (AIRCR.PRIGROUP), execution priority from active
exceptions and PRIMASK/FAULTMASK/BASEPRI, fault escalation to HardFault.
"""

from __future__ import annotations

# Exception numbers (Armv7-M ARM B1.5.2)
RESET, NMI, HARDFAULT, MEMMANAGE, BUSFAULT, USAGEFAULT = 1, 2, 3, 4, 5, 6
SECUREFAULT = 7
SVCALL, DEBUGMON, PENDSV, SYSTICK = 11, 12, 14, 15
EXTERNAL0 = 16

EXC_NAMES = {
    NMI: "NMI", HARDFAULT: "HardFault", MEMMANAGE: "MemManage", BUSFAULT: "BusFault",
    USAGEFAULT: "UsageFault", SECUREFAULT: "SecureFault", SVCALL: "SVCall",
    DEBUGMON: "DebugMonitor", PENDSV: "PendSV", SYSTICK: "SysTick",
}

# CFSR bits (B3.2.15): MMFSR [7:0], BFSR [15:8], UFSR [31:16]
CFSR_IACCVIOL, CFSR_DACCVIOL, CFSR_MMARVALID = 1 << 0, 1 << 1, 1 << 7
CFSR_IBUSERR, CFSR_PRECISERR, CFSR_IMPRECISERR, CFSR_BFARVALID = 1 << 8, 1 << 9, 1 << 10, 1 << 15
CFSR_UNDEFINSTR, CFSR_INVSTATE, CFSR_INVPC, CFSR_NOCP = 1 << 16, 1 << 17, 1 << 18, 1 << 19
CFSR_UNALIGNED, CFSR_DIVBYZERO = 1 << 24, 1 << 25
HFSR_VECTTBL, HFSR_FORCED = 1 << 1, 1 << 30

CFSR_NAMES = {
    CFSR_IACCVIOL: "IACCVIOL", CFSR_DACCVIOL: "DACCVIOL", CFSR_IBUSERR: "IBUSERR",
    CFSR_PRECISERR: "PRECISERR", CFSR_IMPRECISERR: "IMPRECISERR", CFSR_UNDEFINSTR: "UNDEFINSTR",
    CFSR_INVSTATE: "INVSTATE", CFSR_INVPC: "INVPC", CFSR_NOCP: "NOCP",
    CFSR_UNALIGNED: "UNALIGNED", CFSR_DIVBYZERO: "DIVBYZERO",
}


def exception_name(num: int) -> str:
    if num >= EXTERNAL0:
        return f"IRQ{num - EXTERNAL0}"
    return EXC_NAMES.get(num, f"exception {num}")


class ExceptionState:
    """Enabled, pending, active and priority state of every exception number."""

    def __init__(self, num_irqs: int, prio_bits: int, armv6m: bool):
        self.num_irqs = num_irqs
        self.count = EXTERNAL0 + num_irqs
        self.prio_bits = prio_bits
        self.prio_mask = (0xFF << (8 - prio_bits)) & 0xFF
        self.armv6m = armv6m
        self.enabled = [False] * self.count
        self.pending = [False] * self.count
        self.active = [False] * self.count
        self.prio = [0] * self.count             # 8-bit priority register values
        self.prigroup = 0
        # Fixed priorities (B1.5.4): Reset -3, NMI -2, HardFault -1; system handlers enabled.
        for n in (NMI, HARDFAULT, SVCALL, PENDSV, SYSTICK, DEBUGMON):
            self.enabled[n] = True
        # MemManage/BusFault/UsageFault are enabled by SHCSR (off at reset).
        self.any_pending = False

    # -- priorities -------------------------------------------------------------------
    def group_priority(self, num: int) -> int:
        if num == NMI:
            return -2
        if num == HARDFAULT:
            return -1
        p = self.prio[num]
        if self.armv6m:
            return p
        # PRIGROUP n: group priority is bits [7:n+1]
        mask = (0xFF << (self.prigroup + 1)) & 0xFF
        return p & mask

    def set_priority(self, num: int, value: int) -> None:
        if num in (NMI, HARDFAULT) or not (0 < num < self.count):
            return
        self.prio[num] = value & self.prio_mask

    def execution_priority(self, primask: int, faultmask: int, basepri: int) -> int:
        """Current execution priority (B1.5.4): lowest group priority among active
        exceptions, boosted by PRIMASK (0), FAULTMASK (-1) and BASEPRI."""
        prio = 256
        for n in range(2, self.count):
            if self.active[n]:
                gp = self.group_priority(n)
                if gp < prio:
                    prio = gp
        if self.active[NMI]:
            prio = -2
        if basepri & 0xFF and not self.armv6m:
            bp = basepri & self.prio_mask
            mask = (0xFF << (self.prigroup + 1)) & 0xFF
            if (bp & mask) < prio:
                prio = bp & mask
        if primask & 1 and prio > 0:
            prio = 0
        if faultmask & 1 and prio > -1:
            prio = -1
        return prio

    def pend(self, num: int) -> None:
        if 0 < num < self.count:
            self.pending[num] = True
            self.any_pending = True

    def highest_pending(self) -> tuple[int, int] | None:
        """(exception number, group priority) of the pending enabled exception that would
        be taken first, or None. Ties go to the lowest exception number."""
        if not self.any_pending:
            return None
        best = None
        best_p = 999
        any_p = False
        for n in range(1, self.count):
            if self.pending[n]:
                any_p = True
                if not self.enabled[n]:
                    continue
                gp = self.group_priority(n)
                if gp < best_p:
                    best, best_p = n, gp
        self.any_pending = any_p
        if best is None:
            return None
        return best, best_p

    def any_pending_enabled(self) -> bool:
        """True when some enabled exception is pending (WFI wakes on it even if masked)."""
        return any(self.pending[n] and self.enabled[n] for n in range(1, self.count))

    def active_count(self) -> int:
        return sum(1 for n in range(1, self.count) if self.active[n])
