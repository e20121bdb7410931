"""The Private Peripheral Bus: ITM, DWT, SysTick, NVIC, SCB, CoreDebug, FPU control.

Register addresses and reset values: Armv7-M ARM (DDI 0403E) B3.2 (SCB), B3.3 (SysTick),
B3.4 (NVIC), C1.8 (DWT), C1.6 (CoreDebug DEMCR), B3.2.20 (CPACR), B3.2.22+ (FPCCR/FPCAR);
Armv6-M ARM (DDI 0419) for the M0+ subset. CPUID values from each core's TRM.
"""

from __future__ import annotations

from mcusim import nvic as N

PPB_BASE = 0xE0000000
PPB_SIZE = 0x100000

CPUID = {
    "cortex-m0": 0x410CC601,   # Cortex-M0+ r0p1 (DDI 0484C 4.3.1)
    "cortex-m3": 0x412FC231,   # r2p1
    "cortex-m4": 0x410FC241,   # r0p1
    "cortex-m7": 0x411FC272,   # r1p2
    "cortex-m33": 0x410FD214,  # r0p4
}

# offsets from PPB_BASE
ITM_STIM0 = 0x0000
DWT_CTRL, DWT_CYCCNT = 0x1000, 0x1004
ICTR, ACTLR = 0xE004, 0xE008
SYST_CSR, SYST_RVR, SYST_CVR, SYST_CALIB = 0xE010, 0xE014, 0xE018, 0xE01C
NVIC_ISER, NVIC_ICER, NVIC_ISPR, NVIC_ICPR, NVIC_IABR = 0xE100, 0xE180, 0xE200, 0xE280, 0xE300
NVIC_IPR = 0xE400
CPUID_REG, ICSR, VTOR, AIRCR, SCR, CCR = 0xED00, 0xED04, 0xED08, 0xED0C, 0xED10, 0xED14
SHPR1, SHCSR, CFSR, HFSR, DFSR, MMFAR, BFAR, AFSR = 0xED18, 0xED24, 0xED28, 0xED2C, 0xED30, 0xED34, 0xED38, 0xED3C
CPACR = 0xED88
MPU_TYPE = 0xED90
DHCSR, DEMCR = 0xEDF0, 0xEDFC
STIR = 0xEF00
FPCCR, FPCAR, FPDSCR = 0xEF34, 0xEF38, 0xEF3C

SCR_SLEEPONEXIT, SCR_SLEEPDEEP, SCR_SEVONPEND = 1 << 1, 1 << 2, 1 << 4


class SysTick:
    """SysTick (B3.3): a 24-bit down-counter on the core clock (CLKSOURCE=1) or the
    implementation's reference clock (CLKSOURCE=0; HCLK/8 on STM32, from the catalog).

    Modelled analytically from the cycle at which it was (re)started, and driven by one
    scheduled event per wrap — never per cycle."""

    def __init__(self, machine):
        self.m = machine
        self.ctrl = 0
        self.load = 0
        self.countflag = False
        self.t0 = 0           # cycle at which the counter held value v0
        self.v0 = 0
        self.event = None
        self.ref_div = machine.mcu.raw.get("systick", {}).get("ref_clock_divider", 8)

    def _div(self) -> int:
        return 1 if self.ctrl & 4 else self.ref_div

    def _ticks_since(self, now: int) -> int:
        return (now - self.t0) // self._div()

    def value(self, now: int) -> int:
        if not self.ctrl & 1:
            return self.v0
        t = self._ticks_since(now)
        if t <= self.v0:
            return self.v0 - t
        period = self.load + 1
        d = (t - self.v0) % period
        return 0 if d == 0 else period - d

    def _next_zero(self, now: int) -> int | None:
        """Cycle of the next 1->0 transition strictly after `now` (None: never)."""
        if not self.ctrl & 1:
            return None
        div = self._div()
        t = self._ticks_since(now)
        if self.v0 > 0 and t < self.v0:
            return self.t0 + self.v0 * div
        if self.load == 0:
            return None
        period = self.load + 1
        k = (t - self.v0) // period + 1
        return self.t0 + (self.v0 + k * period) * div

    def _reschedule(self, now: int) -> None:
        if self.event is not None:
            self.event.cancel()
            self.event = None
        t = self._next_zero(now)
        if t is not None:
            self.event = self.m.schedule(t, self._fire, "systick")

    def _fire(self, at: int) -> None:
        self.event = None
        self.countflag = True
        if self.ctrl & 2:
            self.m.pend_exception(N.SYSTICK)
        self._reschedule(at)

    def read(self, off: int, now: int) -> int:
        if off == SYST_CSR:
            v = self.ctrl | (0x10000 if self.countflag else 0)
            self.countflag = False
            if not v & 0x10000 and self.event is not None:
                # a wait for COUNTFLAG: set by the wrap event at the next block boundary
                self.m.poll("SYST_CSR", v, self.event.at)
            return v
        if off == SYST_RVR:
            return self.load
        if off == SYST_CVR:
            return self.value(now)
        if off == SYST_CALIB:
            # Armv7-M B3.3.6: NOREF (31) = 0, the reference clock (HCLK/ref_div) exists;
            # TENMS = the reload for 10 ms on it; SKEW (30) when 10 ms is not a whole count
            ticks = self.m.clock_hz / self.ref_div / 100
            skew = 0 if ticks == int(ticks) else 1 << 30
            return skew | ((int(ticks) - 1) & 0xFFFFFF)
        return 0

    def write(self, off: int, value: int, now: int) -> None:
        if off == SYST_CSR:
            was = self.ctrl & 1
            cur = self.value(now)
            self.ctrl = value & 7
            if self.ctrl & 1 and not was:
                self.t0, self.v0 = now, cur
            elif was and not self.ctrl & 1:
                self.v0 = cur
            else:
                self.t0, self.v0 = now, cur
            self._reschedule(now)
        elif off == SYST_RVR:
            self.load = value & 0xFFFFFF
            if self.ctrl & 1:
                self.t0, self.v0 = now, self.value(now)
                self._reschedule(now)
        elif off == SYST_CVR:
            # Any write clears the counter to 0 and COUNTFLAG; it reloads on the next tick
            # without an interrupt.
            self.countflag = False
            self.t0, self.v0 = now, 0
            if self.ctrl & 1:
                if self.load:
                    # next zero one full period after the reload
                    self.t0, self.v0 = now + self._div(), self.load
                self._reschedule(now)


class SystemControlSpace:
    """MMIO model of the PPB region (0xE0000000-0xE00FFFFF)."""

    def __init__(self, machine):
        m = machine
        self.m = m
        self.exc: N.ExceptionState = m.exc
        self.v6m = m.core.arch == "armv6-m"
        self.systick = SysTick(m)
        self.vtor = 0
        self.aircr_prigroup = 0
        self.scr = 0
        self.ccr = 0x200 if not self.v6m else 0x208   # STKALIGN; v6-M: STKALIGN|UNALIGN_TRP RAO
        self.shcsr = 0
        self.cfsr = 0
        self.hfsr = 0
        self.mmfar = 0
        self.bfar = 0
        self.cpacr = 0
        self.demcr = 0
        self.dwt_ctrl = 0x40000000  # NUMCOMP=4
        self.cyc_base = 0           # CYCCNT value at cycle cyc_t0
        self.cyc_t0 = 0
        self.fpccr = 0xC0000000     # ASPEN | LSPEN (reset values, B3.2.22)
        self.fpcar = 0
        self.fpdscr = 0
        self.actlr = 0
        self.warned: set[int] = set()

    # -- DWT CYCCNT ---------------------------------------------------------------
    def cyccnt(self, now: int) -> int:
        if self.dwt_ctrl & 1 and self.demcr & (1 << 24):
            return (self.cyc_base + now - self.cyc_t0) & 0xFFFFFFFF
        return self.cyc_base & 0xFFFFFFFF

    def _cyc_freeze_or_run(self, now: int, new_ctrl: int, new_demcr: int) -> None:
        cur = self.cyccnt(now)
        self.dwt_ctrl = new_ctrl
        self.demcr = new_demcr
        self.cyc_base, self.cyc_t0 = cur, now

    # -- register access ----------------------------------------------------------
    def read(self, off: int, size: int) -> int:
        word = self.read_word(off & ~3)
        shift = (off & 3) * 8
        mask = (1 << (size * 8)) - 1
        return (word >> shift) & mask

    def write(self, off: int, size: int, value: int) -> None:
        if size < 4 and (NVIC_IPR <= off < NVIC_IPR + 0x1F0 or SHPR1 <= off < SHPR1 + 12):
            for i in range(size):
                self.write_prio_byte(off + i, (value >> (8 * i)) & 0xFF)
            return
        if size < 4:
            shift = (off & 3) * 8
            value = (value & ((1 << (size * 8)) - 1)) << shift
        self.write_word(off & ~3, value & 0xFFFFFFFF)

    def write_prio_byte(self, off: int, value: int) -> None:
        if off >= NVIC_IPR and off < NVIC_IPR + 0x1F0:
            self.exc.set_priority(N.EXTERNAL0 + off - NVIC_IPR, value)
        else:
            num = 4 + off - SHPR1
            self.exc.set_priority(num, value)
        self.m.irq_state_changed()

    def read_word(self, off: int) -> int:
        m = self.m
        exc = self.exc
        if off == ITM_STIM0 or (0 <= off < 0x80):
            return 1  # stimulus port FIFO ready
        if off == DWT_CTRL:
            return self.dwt_ctrl
        if off == DWT_CYCCNT:
            return self.cyccnt(m.now_precise())
        if off == ICTR:
            return max(0, (exc.num_irqs + 31) // 32 - 1)
        if off == ACTLR:
            return self.actlr
        if SYST_CSR <= off <= SYST_CALIB:
            return self.systick.read(off, m.now_precise())
        if NVIC_ISER <= off < NVIC_ISER + 0x40 or NVIC_ICER <= off < NVIC_ICER + 0x40:
            base = N.EXTERNAL0 + 32 * ((off & 0x3F) >> 2)
            return self._bits(exc.enabled, base)
        if NVIC_ISPR <= off < NVIC_ISPR + 0x40 or NVIC_ICPR <= off < NVIC_ICPR + 0x40:
            base = N.EXTERNAL0 + 32 * ((off & 0x3F) >> 2)
            return self._bits(exc.pending, base)
        if NVIC_IABR <= off < NVIC_IABR + 0x40:
            base = N.EXTERNAL0 + 32 * ((off & 0x3F) >> 2)
            return self._bits(exc.active, base)
        if NVIC_IPR <= off < NVIC_IPR + 0x1F0:
            n0 = N.EXTERNAL0 + off - NVIC_IPR
            return sum((exc.prio[n0 + i] if n0 + i < exc.count else 0) << (8 * i) for i in range(4))
        if off == CPUID_REG:
            return CPUID.get(m.core.unicorn_cpu, 0)
        if off == ICSR:
            return self._icsr()
        if off == VTOR:
            return self.vtor
        if off == AIRCR:
            return 0xFA050000 | (self.aircr_prigroup << 8)
        if off == SCR:
            return self.scr
        if off == CCR:
            return self.ccr
        if SHPR1 <= off < SHPR1 + 12:
            n0 = 4 + off - SHPR1
            return sum(exc.prio[n0 + i] << (8 * i) for i in range(4))
        if off == SHCSR:
            v = self.shcsr & (0x7 << 16)
            for bit, num in ((0, N.MEMMANAGE), (1, N.BUSFAULT), (3, N.USAGEFAULT), (7, N.SVCALL),
                             (8, N.DEBUGMON), (10, N.PENDSV), (11, N.SYSTICK)):
                if exc.active[num]:
                    v |= 1 << bit
            for bit, num in ((12, N.USAGEFAULT), (13, N.MEMMANAGE), (14, N.BUSFAULT), (15, N.SVCALL)):
                if exc.pending[num]:
                    v |= 1 << bit
            return v
        if off == CFSR:
            return self.cfsr
        if off == HFSR:
            return self.hfsr
        if off == MMFAR:
            return self.mmfar
        if off == BFAR:
            return self.bfar
        if off == CPACR:
            return self.cpacr
        if off == DEMCR:
            return self.demcr
        if off == FPCCR:
            return self.fpccr
        if off == FPCAR:
            return self.fpcar
        if off == FPDSCR:
            return self.fpdscr
        return 0  # MPU (no regions), ID registers, DHCSR: read as zero

    def write_word(self, off: int, v: int) -> None:
        m = self.m
        exc = self.exc
        if 0 <= off < 0x80:  # ITM stimulus ports: port 0 is a console
            if off == 0:
                m.output(bytes([v & 0xFF]), 1)
            return
        if off == DWT_CTRL:
            self._cyc_freeze_or_run(m.now_precise(), (self.dwt_ctrl & ~0x0FFFFFFF) | (v & 0x0FFFFFFF), self.demcr)
            return
        if off == DWT_CYCCNT:
            self.cyc_base, self.cyc_t0 = v, m.now_precise()
            return
        if off == ACTLR:
            self.actlr = v
            return
        if SYST_CSR <= off <= SYST_CALIB:
            self.systick.write(off, v, m.now_precise())
            return
        changed = False
        if NVIC_ISER <= off < NVIC_ISER + 0x40:
            self._set_bits(exc.enabled, N.EXTERNAL0 + 32 * ((off - NVIC_ISER) >> 2), v, True)
            changed = True
        elif NVIC_ICER <= off < NVIC_ICER + 0x40:
            self._set_bits(exc.enabled, N.EXTERNAL0 + 32 * ((off - NVIC_ICER) >> 2), v, False)
        elif NVIC_ISPR <= off < NVIC_ISPR + 0x40:
            base = N.EXTERNAL0 + 32 * ((off - NVIC_ISPR) >> 2)
            for i in range(32):
                if v >> i & 1:
                    exc.pend(base + i)
            changed = True
        elif NVIC_ICPR <= off < NVIC_ICPR + 0x40:
            self._set_bits(exc.pending, N.EXTERNAL0 + 32 * ((off - NVIC_ICPR) >> 2), v, False)
        elif NVIC_IPR <= off < NVIC_IPR + 0x1F0:
            for i in range(4):
                self.write_prio_byte(off + i, (v >> (8 * i)) & 0xFF)
            return
        elif off == ICSR:
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
            changed = True
        elif off == VTOR:
            self.vtor = v & 0xFFFFFF80
        elif off == AIRCR:
            if (v >> 16) == 0x05FA:
                if not self.v6m:
                    self.aircr_prigroup = (v >> 8) & 7
                    exc.prigroup = self.aircr_prigroup
                if v & (1 << 2):
                    m.request_reset("firmware requested a system reset (AIRCR.SYSRESETREQ)")
                changed = True
        elif off == SCR:
            self.scr = v & 0x16
        elif off == CCR:
            if not self.v6m:
                # keep BP/IC/DC (bits 18:16, Cortex-M7 L1 cache enables, read by the
                # cache model) besides the Armv7-M bits
                old = self.ccr
                self.ccr = (v & 0x7031B) | 0x200
                if (old ^ self.ccr) & 0x30000:
                    m.caches_changed()         # L1 caches on/off: re-cost blocks
                m.div0_trap(bool(v & (1 << 4)))
        elif SHPR1 <= off < SHPR1 + 12:
            for i in range(4):
                self.write_prio_byte(off + i, (v >> (8 * i)) & 0xFF)
            return
        elif off == SHCSR:
            self.shcsr = v & (0x7 << 16)
            exc.enabled[N.MEMMANAGE] = bool(v & (1 << 16))
            exc.enabled[N.BUSFAULT] = bool(v & (1 << 17))
            exc.enabled[N.USAGEFAULT] = bool(v & (1 << 18))
            changed = True
        elif off == CFSR:
            self.cfsr &= ~v  # write-one-to-clear
        elif off == HFSR:
            self.hfsr &= ~v
        elif off == MMFAR:
            self.mmfar = v
        elif off == BFAR:
            self.bfar = v
        elif off == CPACR:
            self.cpacr = v & (0xF << 20)
            m.cpacr_changed(self.cpacr)
        elif off == DEMCR:
            self._cyc_freeze_or_run(m.now_precise(), self.dwt_ctrl, v & 0x010F07F1)
        elif off == STIR:
            if not self.v6m:
                exc.pend(N.EXTERNAL0 + (v & 0x1FF))
                changed = True
        elif off == FPCCR:
            self.fpccr = (self.fpccr & 0x1FF) | (v & 0xC0000000) | (v & 0x1FF)
        elif off == FPCAR:
            self.fpcar = v & ~7
        elif off == FPDSCR:
            self.fpdscr = v & 0x07C00000
        else:
            # MPU registers (no regions modelled) and cache maintenance (0xEF50-0xEF7F:
            # ICIALLU, DCISW, ...) are accepted silently; the cache model, if any, reads
            # the CCR enables.
            if off not in self.warned and not (0xED90 <= off < 0xEDF0) \
                    and not (0xEF50 <= off < 0xEF80) and not (0x1F00 <= off < 0x2000) \
                    and not (0xED78 <= off < 0xED88):
                self.warned.add(off)
                m.warn_once(f"ppb-{off:x}", f"write to unmodelled system register 0x{PPB_BASE + off:08x} ignored")
            return
        if changed:
            m.irq_state_changed()

    def _icsr(self) -> int:
        m = self.m
        exc = self.exc
        ipsr = m.ipsr()
        v = ipsr & 0x1FF
        hp = exc.highest_pending()
        if hp is not None:
            v |= (hp[0] & 0x1FF) << 12
            if hp[0] >= N.EXTERNAL0:
                v |= 1 << 22
        if exc.active_count() <= 1:
            v |= 1 << 11  # RETTOBASE
        if exc.pending[N.NMI]:
            v |= 1 << 31
        if exc.pending[N.PENDSV]:
            v |= 1 << 28
        if exc.pending[N.SYSTICK]:
            v |= 1 << 26
        return v

    @staticmethod
    def _bits(arr: list, base: int) -> int:
        v = 0
        for i in range(32):
            if base + i < len(arr) and arr[base + i]:
                v |= 1 << i
        return v

    @staticmethod
    def _set_bits(arr: list, base: int, v: int, value: bool) -> None:
        for i in range(32):
            if v >> i & 1 and base + i < len(arr):
                arr[base + i] = value
