"""The Private Peripheral Bus (0xE0000000-0xE00FFFFF): ITM, DWT, the System Control Space
(ICTR/ACTLR, SysTick, NVIC, SCB, CoreDebug, FPU control).

Registers are data: each block below is a table of offset -> (name, read, write) for its
scalar registers and (first, end, read, write) for its register arrays; the window
dispatches by table. SysTick is its own device (mcusim/systick.py).

Addresses and reset values: Armv7-M ARM (DDI 0403E) B3.2 (SCB), B3.3 (SysTick), B3.4
(NVIC), C1.8 (DWT), C1.6 (CoreDebug DEMCR), B3.2.20 (CPACR), B3.2.22+ (FPCCR/FPCAR);
Armv6-M ARM (DDI 0419) for the M0+ subset. CPUID values from each core's TRM.
"""

from __future__ import annotations

from mcusim import nvic as N
from mcusim.systick import SysTick

PPB_BASE = 0xE0000000
PPB_SIZE = 0x100000
SCS = 0xE000                 # System Control Space offset in the PPB

CPUID = {
    "cortex-m0": 0x410CC601,   # Cortex-M0+ r0p1 (DDI 0484C 4.3.1)
    "cortex-m3": 0x412FC231,   # r2p1
    "cortex-m4": 0x410FC241,   # r0p1
    "cortex-m7": 0x411FC272,   # r1p2
    "cortex-m33": 0x410FD214,  # r0p4
}

# offsets from PPB_BASE
DWT_CTRL, DWT_CYCCNT = 0x1000, 0x1004
ICTR, ACTLR = 0xE004, 0xE008
NVIC_ISER, NVIC_ICER, NVIC_ISPR, NVIC_ICPR, NVIC_IABR = 0xE100, 0xE180, 0xE200, 0xE280, 0xE300
NVIC_IPR = 0xE400
CPUID_REG, ICSR, VTOR, AIRCR, SCR, CCR = 0xED00, 0xED04, 0xED08, 0xED0C, 0xED10, 0xED14
SHPR1, SHCSR, CFSR, HFSR, DFSR, MMFAR, BFAR, AFSR = 0xED18, 0xED24, 0xED28, 0xED2C, 0xED30, 0xED34, 0xED38, 0xED3C
CPACR = 0xED88
DHCSR, DEMCR = 0xEDF0, 0xEDFC
STIR = 0xEF00
FPCCR, FPCAR, FPDSCR = 0xEF34, 0xEF38, 0xEF3C

SCR_SLEEPONEXIT, SCR_SLEEPDEEP, SCR_SEVONPEND = 1 << 1, 1 << 2, 1 << 4
CCR_STKALIGN, CCR_DIV_0_TRP, CCR_L1_CACHES = 1 << 9, 1 << 4, 0x30000

# Accepted silently: MPU (no regions modelled), cache maintenance (the cache model reads
# the CCR enables), ETM/TPIU/ROM tables, Armv7-M feature registers.
_SILENT = ((0xED90, 0xEDF0), (0xEF50, 0xEF80), (0x1F00, 0x2000), (0xED78, 0xED88))


class SystemControlSpace:
    """MMIO model of the PPB: the window dispatches each word to its block's table."""

    def __init__(self, machine, ref_clock_divider: int = 8):
        m = machine
        self.m = m
        self.exc: N.ExceptionState = m.exc
        self.v6m = m.core.arch == "armv6-m"
        self.systick = SysTick(m, ref_clock_divider)
        # SCB and CoreDebug state (reset values, B3.2)
        self.vtor = 0
        self.aircr_prigroup = 0
        self.scr = 0
        self.ccr = CCR_STKALIGN if not self.v6m else 0x208   # v6-M: STKALIGN|UNALIGN_TRP RAO
        self.shcsr = 0
        self.cfsr = self.hfsr = self.mmfar = self.bfar = 0
        self.cpacr = 0
        self.cpacr_mask = 0xF << 20  # CP10/CP11; attached coprocessors add their fields
        self.demcr = 0
        self.actlr = 0
        self.dwt_ctrl = 0x40000000  # NUMCOMP=4
        self.cyc_base = 0           # CYCCNT value at cycle cyc_t0
        self.cyc_t0 = 0
        self.fpccr = 0xC0000000     # ASPEN | LSPEN (reset values, B3.2.22)
        self.fpcar = 0
        self.fpdscr = 0
        self.warned: set[int] = set()
        st = self.systick
        now = m.now_precise
        # scalar registers: offset -> (name, read(), write(value))
        self.registers: dict[int, tuple] = {
            DWT_CTRL: ("DWT_CTRL", lambda: self.dwt_ctrl, self._w_dwt_ctrl),
            DWT_CYCCNT: ("DWT_CYCCNT", lambda: self.cyccnt(now()), self._w_cyccnt),
            ICTR: ("ICTR", lambda: max(0, (self.exc.num_irqs + 31) // 32 - 1), None),
            ACTLR: ("ACTLR", lambda: self.actlr, self._w_actlr),
            CPUID_REG: ("CPUID", lambda: CPUID.get(m.core.unicorn_cpu, 0), None),
            ICSR: ("ICSR", self._icsr, self._w_icsr),
            VTOR: ("VTOR", lambda: self.vtor, lambda v: setattr(self, "vtor", v & 0xFFFFFF80)),
            AIRCR: ("AIRCR", lambda: 0xFA050000 | (self.aircr_prigroup << 8), self._w_aircr),
            SCR: ("SCR", lambda: self.scr, lambda v: setattr(self, "scr", v & 0x16)),
            CCR: ("CCR", lambda: self.ccr, self._w_ccr),
            SHCSR: ("SHCSR", self._shcsr, self._w_shcsr),
            CFSR: ("CFSR", lambda: self.cfsr, lambda v: setattr(self, "cfsr", self.cfsr & ~v)),
            HFSR: ("HFSR", lambda: self.hfsr, lambda v: setattr(self, "hfsr", self.hfsr & ~v)),
            MMFAR: ("MMFAR", lambda: self.mmfar, self._setter("mmfar")),
            BFAR: ("BFAR", lambda: self.bfar, self._setter("bfar")),
            CPACR: ("CPACR", lambda: self.cpacr, self._w_cpacr),
            DEMCR: ("DEMCR", lambda: self.demcr, self._w_demcr),
            STIR: ("STIR", lambda: 0, self._w_stir),
            FPCCR: ("FPCCR", lambda: self.fpccr, self._w_fpccr),
            FPCAR: ("FPCAR", lambda: self.fpcar, lambda v: setattr(self, "fpcar", v & ~7)),
            FPDSCR: ("FPDSCR", lambda: self.fpdscr, lambda v: setattr(self, "fpdscr", v & 0x07C00000)),
        }
        for off, (name, rd, wr) in st.registers.items():
            self.registers[SCS + off] = (name, (lambda rd=rd: rd(now())),
                                         None if wr is None else (lambda v, wr=wr: wr(v, now())))
        # register arrays: (first, end, name, read(offset), write(offset, value))
        self.arrays = [
            (0x0000, 0x0080, "ITM_STIM", lambda off: 1, self._w_itm),   # FIFO always ready
            (NVIC_ISER, NVIC_ISER + 0x40, "NVIC_ISER", self._r_enabled, self._w_iser),
            (NVIC_ICER, NVIC_ICER + 0x40, "NVIC_ICER", self._r_enabled, self._w_icer),
            (NVIC_ISPR, NVIC_ISPR + 0x40, "NVIC_ISPR", self._r_pending, self._w_ispr),
            (NVIC_ICPR, NVIC_ICPR + 0x40, "NVIC_ICPR", self._r_pending, self._w_icpr),
            (NVIC_IABR, NVIC_IABR + 0x40, "NVIC_IABR", self._r_active, None),
            (NVIC_IPR, NVIC_IPR + 0x1F0, "NVIC_IPR", self._r_prio, self._w_prio_word),
            (SHPR1, SHPR1 + 12, "SHPR", self._r_prio, self._w_prio_word),
        ]

    # ------------------------------------------------------------------ the window
    def read(self, off: int, size: int) -> int:
        word = self.read_word(off & ~3)
        return (word >> ((off & 3) * 8)) & ((1 << (size * 8)) - 1)

    def write(self, off: int, size: int, value: int) -> None:
        if size < 4 and (NVIC_IPR <= off < NVIC_IPR + 0x1F0 or SHPR1 <= off < SHPR1 + 12):
            for i in range(size):                     # priority registers are byte-accessible
                self._w_prio_byte(off + i, (value >> (8 * i)) & 0xFF)
            return
        if size < 4:
            value = (value & ((1 << (size * 8)) - 1)) << ((off & 3) * 8)
        self.write_word(off & ~3, value & 0xFFFFFFFF)

    def read_word(self, off: int) -> int:
        reg = self.registers.get(off)
        if reg is not None:
            return reg[1]()
        for lo, hi, _name, rd, _wr in self.arrays:
            if lo <= off < hi:
                return rd(off)
        return 0          # MPU (no regions), ID registers, DHCSR: read as zero

    def write_word(self, off: int, v: int) -> None:
        reg = self.registers.get(off)
        if reg is not None:
            if reg[2] is not None:
                reg[2](v)
            return
        for lo, hi, _name, _rd, wr in self.arrays:
            if lo <= off < hi:
                if wr is not None:
                    wr(off, v)
                return
        if off not in self.warned and not any(a <= off < b for a, b in _SILENT):
            self.warned.add(off)
            self.m.warn_once(f"ppb-{off:x}",
                             f"write to unmodelled system register 0x{PPB_BASE + off:08x} ignored")

    def _w_actlr(self, v: int) -> None:
        self.actlr = v
        self.m.actlr_changed(v)            # DISDEFWBUF (bit 1): the write buffer on/off

    def _setter(self, attr: str):
        return lambda v: setattr(self, attr, v)

    # ------------------------------------------------------------------ ITM, DWT, debug
    def _w_itm(self, off: int, v: int) -> None:
        if off == 0:                                  # stimulus port 0 is a console
            self.m.output(bytes([v & 0xFF]), 1)

    def cyccnt(self, now: int) -> int:
        if self.dwt_ctrl & 1 and self.demcr & (1 << 24):
            return (self.cyc_base + now - self.cyc_t0) & 0xFFFFFFFF
        return self.cyc_base & 0xFFFFFFFF

    def _cyc_freeze_or_run(self, now: int, new_ctrl: int, new_demcr: int) -> None:
        cur = self.cyccnt(now)
        self.dwt_ctrl, self.demcr = new_ctrl, new_demcr
        self.cyc_base, self.cyc_t0 = cur, now

    def _w_dwt_ctrl(self, v: int) -> None:
        self._cyc_freeze_or_run(self.m.now_precise(),
                                (self.dwt_ctrl & ~0x0FFFFFFF) | (v & 0x0FFFFFFF), self.demcr)

    def _w_cyccnt(self, v: int) -> None:
        self.cyc_base, self.cyc_t0 = v, self.m.now_precise()

    def _w_demcr(self, v: int) -> None:
        self._cyc_freeze_or_run(self.m.now_precise(), self.dwt_ctrl, v & 0x010F07F1)

    # ------------------------------------------------------------------ NVIC
    def _bank(self, off: int) -> int:
        return N.EXTERNAL0 + 32 * ((off & 0x3F) >> 2)

    def _r_enabled(self, off: int) -> int:
        return _bits(self.exc.enabled, self._bank(off))

    def _r_pending(self, off: int) -> int:
        return _bits(self.exc.pending, self._bank(off))

    def _r_active(self, off: int) -> int:
        return _bits(self.exc.active, self._bank(off))

    def _w_iser(self, off: int, v: int) -> None:
        _set_bits(self.exc.enabled, self._bank(off), v, True)
        self.m.irq_state_changed()

    def _w_icer(self, off: int, v: int) -> None:
        _set_bits(self.exc.enabled, self._bank(off), v, False)

    def _w_ispr(self, off: int, v: int) -> None:
        base = self._bank(off)
        for i in range(32):
            if v >> i & 1:
                self.exc.pend(base + i)
        self.m.irq_state_changed()

    def _w_icpr(self, off: int, v: int) -> None:
        _set_bits(self.exc.pending, self._bank(off), v, False)

    def _prio_num(self, off: int) -> int:
        return N.EXTERNAL0 + off - NVIC_IPR if off >= NVIC_IPR else 4 + off - SHPR1

    def _r_prio(self, off: int) -> int:
        exc, n0 = self.exc, self._prio_num(off)
        return sum((exc.prio[n0 + i] if n0 + i < exc.count else 0) << (8 * i) for i in range(4))

    def _w_prio_word(self, off: int, v: int) -> None:
        for i in range(4):
            self._w_prio_byte(off + i, (v >> (8 * i)) & 0xFF)

    def _w_prio_byte(self, off: int, value: int) -> None:
        self.exc.set_priority(self._prio_num(off), value)
        self.m.irq_state_changed()

    def _w_stir(self, v: int) -> None:
        if not self.v6m:
            self.exc.pend(N.EXTERNAL0 + (v & 0x1FF))
            self.m.irq_state_changed()

    # ------------------------------------------------------------------ SCB
    def _icsr(self) -> int:
        exc = self.exc
        v = self.m.ipsr() & 0x1FF
        hp = exc.highest_pending()
        if hp is not None:
            v |= (hp[0] & 0x1FF) << 12
            if hp[0] >= N.EXTERNAL0:
                v |= 1 << 22
        if exc.active_count() <= 1:
            v |= 1 << 11  # RETTOBASE
        for bit, num in ((31, N.NMI), (28, N.PENDSV), (26, N.SYSTICK)):
            if exc.pending[num]:
                v |= 1 << bit
        return v

    def _w_icsr(self, v: int) -> None:
        exc = self.exc
        if v & (1 << 31):
            exc.pend(N.NMI)
        if v & (1 << 28):
            exc.pend(N.PENDSV)
        if v & (1 << 27):
            exc.pending[N.PENDSV] = False
        if v & (1 << 26):
            exc.pend(N.SYSTICK)
        if v & (1 << 25):
            exc.pending[N.SYSTICK] = False
        self.m.irq_state_changed()

    def _w_aircr(self, v: int) -> None:
        if (v >> 16) != 0x05FA:
            return                                   # VECTKEY: ignored without the key
        if not self.v6m:
            self.aircr_prigroup = (v >> 8) & 7
            self.exc.prigroup = self.aircr_prigroup
        if v & (1 << 2):
            self.m.request_reset("firmware requested a system reset (AIRCR.SYSRESETREQ)")
        self.m.irq_state_changed()

    def _w_ccr(self, v: int) -> None:
        if self.v6m:
            return
        # keep BP/IC/DC (bits 18:16, Cortex-M7 L1 cache enables, read by the cache model)
        # besides the Armv7-M bits
        old = self.ccr
        self.ccr = (v & 0x7031B) | CCR_STKALIGN
        if (old ^ self.ccr) & CCR_L1_CACHES:
            self.m.caches_changed(self.ccr)          # L1 caches on/off: re-cost blocks
        self.m.div0_trap(bool(v & CCR_DIV_0_TRP))

    def _shcsr(self) -> int:
        exc = self.exc
        v = self.shcsr & (0x7 << 16)
        for bit, num in ((0, N.MEMMANAGE), (1, N.BUSFAULT), (3, N.USAGEFAULT), (7, N.SVCALL),
                         (8, N.DEBUGMON), (10, N.PENDSV), (11, N.SYSTICK)):
            if exc.active[num]:
                v |= 1 << bit
        for bit, num in ((12, N.USAGEFAULT), (13, N.MEMMANAGE), (14, N.BUSFAULT), (15, N.SVCALL)):
            if exc.pending[num]:
                v |= 1 << bit
        return v

    def _w_shcsr(self, v: int) -> None:
        exc = self.exc
        self.shcsr = v & (0x7 << 16)
        exc.enabled[N.MEMMANAGE] = bool(v & (1 << 16))
        exc.enabled[N.BUSFAULT] = bool(v & (1 << 17))
        exc.enabled[N.USAGEFAULT] = bool(v & (1 << 18))
        self.m.irq_state_changed()

    def _w_cpacr(self, v: int) -> None:
        self.cpacr = v & self.cpacr_mask
        self.m.cpacr_changed(self.cpacr)

    def _w_fpccr(self, v: int) -> None:
        self.fpccr = (self.fpccr & 0x1FF) | (v & 0xC0000000) | (v & 0x1FF)


def _bits(arr: list, base: int) -> int:
    v = 0
    for i in range(32):
        if base + i < len(arr) and arr[base + i]:
            v |= 1 << i
    return v


def _set_bits(arr: list, base: int, v: int, value: bool) -> None:
    for i in range(32):
        if v >> i & 1 and base + i < len(arr):
            arr[base + i] = value
