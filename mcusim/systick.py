"""SysTick (Armv7-M ARM B3.3; Armv6-M B3.3): a 24-bit down-counter on the core clock
(CLKSOURCE=1) or the implementation's reference clock (CLKSOURCE=0; HCLK/8 on STM32, from
the catalog).

Modelled analytically from the cycle at which it was (re)started, and driven by one
scheduled event per wrap -- never per cycle. Registers as data: `REGISTERS`.
"""

from __future__ import annotations

from mcusim import nvic as N

# offsets inside the System Control Space (0xE000E000)
CSR, RVR, CVR, CALIB = 0x010, 0x014, 0x018, 0x01C
CSR_ENABLE, CSR_TICKINT, CSR_CLKSOURCE, CSR_COUNTFLAG = 1, 2, 4, 1 << 16


class SysTick:
    BASE, SIZE = 0x010, 0x10         # its window inside the SCS

    def __init__(self, machine, ref_clock_divider: int = 8):
        self.m = machine
        self.ctrl = 0
        self.load = 0
        self.countflag = False
        self.t0 = 0           # cycle at which the counter held value v0
        self.v0 = 0
        self.event = None
        self.ref_div = int(ref_clock_divider)
        self.registers = {     # offset -> (name, read(now), write(value, now))
            CSR: ("SYST_CSR", self._read_csr, self._write_csr),
            RVR: ("SYST_RVR", lambda now: self.load, self._write_rvr),
            CVR: ("SYST_CVR", self.value, self._write_cvr),
            CALIB: ("SYST_CALIB", lambda now: self._calib(), None),
        }

    # ------------------------------------------------------------------ the counter
    def _div(self) -> int:
        return 1 if self.ctrl & CSR_CLKSOURCE else self.ref_div

    def _ticks_since(self, now: int) -> int:
        return (now - self.t0) // self._div()

    def value(self, now: int) -> int:
        if not self.ctrl & CSR_ENABLE:
            return self.v0
        t = self._ticks_since(now)
        if t <= self.v0:
            return self.v0 - t
        period = self.load + 1
        d = (t - self.v0) % period
        return 0 if d == 0 else period - d

    def _next_zero(self, now: int) -> int | None:
        """Cycle of the next 1->0 transition strictly after `now` (None: never)."""
        if not self.ctrl & CSR_ENABLE:
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
        if self.ctrl & CSR_TICKINT:
            self.m.pend_exception(N.SYSTICK)
        self._reschedule(at)

    # ------------------------------------------------------------------ registers
    def read(self, off: int, now: int) -> int:
        reg = self.registers.get(off)
        return reg[1](now) if reg is not None else 0

    def write(self, off: int, value: int, now: int) -> None:
        reg = self.registers.get(off)
        if reg is not None and reg[2] is not None:
            reg[2](value, now)

    def _read_csr(self, now: int) -> int:
        v = self.ctrl | (CSR_COUNTFLAG if self.countflag else 0)
        self.countflag = False
        if not v & CSR_COUNTFLAG and self.event is not None:
            # a wait for COUNTFLAG: set by the wrap event at the next block boundary
            self.m.poll("SYST_CSR", v, self.event.at)
        return v

    def _calib(self) -> int:
        # B3.3.6: NOREF (31) = 0, the reference clock (HCLK/ref_div) exists; TENMS = the
        # reload for 10 ms on it; SKEW (30) when 10 ms is not a whole count
        ticks = self.m.clock_hz / self.ref_div / 100
        skew = 0 if ticks == int(ticks) else 1 << 30
        return skew | ((int(ticks) - 1) & 0xFFFFFF)

    def _write_csr(self, value: int, now: int) -> None:
        was = self.ctrl & CSR_ENABLE
        cur = self.value(now)
        self.ctrl = value & 7
        if self.ctrl & CSR_ENABLE and not was:
            self.t0, self.v0 = now, cur
        elif was and not self.ctrl & CSR_ENABLE:
            self.v0 = cur
        else:
            self.t0, self.v0 = now, cur
        self._reschedule(now)

    def _write_rvr(self, value: int, now: int) -> None:
        self.load = value & 0xFFFFFF
        if self.ctrl & CSR_ENABLE:
            self.t0, self.v0 = now, self.value(now)
            self._reschedule(now)

    def _write_cvr(self, value: int, now: int) -> None:
        # Any write clears the counter to 0 and COUNTFLAG; it reloads on the next tick
        # without an interrupt.
        self.countflag = False
        self.t0, self.v0 = now, 0
        if self.ctrl & CSR_ENABLE:
            if self.load:
                # next zero one full period after the reload
                self.t0, self.v0 = now + self._div(), self.load
            self._reschedule(now)
