"""STM32 peripherals that firmware touches before and around main: RCC, PWR, FLASH
interface, USART/LPUART and the basic timers (TIM6/TIM7).

Register offsets and bits: RM0432 (STM32L4+), RM0444 (STM32G0), RM0455 (STM32H7A3/B3),
RM0456 (STM32U5). Where families differ, the difference is a table below, not a branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcusim.peripherals import register
from mcusim.peripherals.base import Peripheral
from mcusim.schema import FLOAT, HEXINT, INT, REG_MAP, FrozenMap, Spec, param

# ---------------------------------------------------------------------------------------
# RCC: ready flags follow enable bits; SYSCLK switch status follows the switch; the core
# clock follows the PLL configuration where the family's PLL is modelled (L4/L4+).
# ---------------------------------------------------------------------------------------

# Per family: (register offset, enable bit, ready bit) pairs, CFGR offset and SW/SWS fields.
_RCC_FAMILIES = {
    # RM0432 6.4: CR MSION0/MSIRDY1 HSION8/HSIRDY10 HSEON16/HSERDY17 PLLON24/PLLRDY25
    # PLLSAI1 26/27 PLLSAI2 28/29; BDCR LSEON0/LSERDY1 (0x90); CSR LSION0/LSIRDY1 (0x94);
    # CRRCR HSI48ON0/RDY1 (0x98). CFGR 0x08: SW[1:0], SWS[3:2].
    "stm32l4-rcc": dict(ready=[(0x00, 0, 1), (0x00, 8, 10), (0x00, 16, 17), (0x00, 24, 25),
                               (0x00, 26, 27), (0x00, 28, 29), (0x90, 0, 1), (0x94, 0, 1),
                               (0x98, 0, 1)],
                        cfgr=0x08, sw_bits=2, sws_shift=2, reset={0x00: 0x63, 0x0C: 0x1000}),
    # RM0444 5.4: CR HSION8/HSIRDY10 HSEON16/HSERDY17 PLLON24/PLLRDY25; CFGR 0x08 SW[2:0]
    # SWS[5:3]; CSR LSION0/LSIRDY1 (0x60); BDCR LSEON0/LSERDY1 (0x5C).
    "stm32g0-rcc": dict(ready=[(0x00, 8, 10), (0x00, 16, 17), (0x00, 24, 25), (0x5C, 0, 1),
                               (0x60, 0, 1)],
                        cfgr=0x08, sw_bits=3, sws_shift=3, reset={0x00: 0x500}),
    # RM0455 7.7: CR HSION0/HSIRDY2 CSION7/CSIRDY8 HSI48ON12/RDY13 HSEON16/RDY17
    # PLL1ON24/RDY25 PLL2 26/27 PLL3 28/29; CFGR 0x10 SW[2:0] SWS[5:3].
    "stm32h7-rcc": dict(ready=[(0x00, 0, 2), (0x00, 7, 8), (0x00, 12, 13), (0x00, 16, 17),
                               (0x00, 24, 25), (0x00, 26, 27), (0x00, 28, 29)],
                        cfgr=0x10, sw_bits=3, sws_shift=3, reset={0x00: 0x25}),
    # RM0456 11.8: CR MSISON0/MSISRDY2 HSION8/HSIRDY10 HSI48ON12/RDY13 HSEON16/RDY17
    # PLL1ON24/RDY25 PLL2 26/27 PLL3 28/29; CFGR1 0x1C SW[1:0] SWS[3:2].
    "stm32u5-rcc": dict(ready=[(0x00, 0, 2), (0x00, 8, 10), (0x00, 12, 13), (0x00, 16, 17),
                               (0x00, 24, 25), (0x00, 26, 27), (0x00, 28, 29)],
                        cfgr=0x1C, sw_bits=2, sws_shift=2, reset={0x00: 0x35}),
}

# L4 MSI ranges (RM0432 6.4.1 MSIRANGE): MHz
_L4_MSI_MHZ = [0.1, 0.2, 0.4, 0.8, 1, 2, 4, 8, 16, 24, 32, 48]


@dataclass(frozen=True, kw_only=True)
class RegisterFileParams(Spec):
    """a register file; `reset` overrides register reset values."""
    reset: FrozenMap = param(REG_MAP, FrozenMap(), "register values after reset "
                             "{\"offset\" = value}", min=0, max=0xFFFFFFFF)


class _RegisterFile(Peripheral):
    Params = RegisterFileParams

    def __init__(self, machine, spec, reset: dict | None = None):
        super().__init__(machine, spec)
        self.regs: dict[int, int] = dict(reset or {})
        self.regs.update(self.params.reset)

    def read_word(self, off: int) -> int:
        return self.regs.get(off, 0)

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        self.regs[off] = (self.regs.get(off, 0) & ~mask) | (value & mask)


@dataclass(frozen=True, kw_only=True)
class RccParams(RegisterFileParams):
    """RCC: ready flags follow enables; SYSCLK from the PLL (STM32L4/L4+)."""
    hse_hz: float = param(FLOAT, 8e6, "HSE crystal frequency (SYSCLK/PLL source)", gt=0,
                          max=1e9)


@register("stm32l4-rcc", "stm32g0-rcc", "stm32h7-rcc", "stm32u5-rcc")
class Stm32Rcc(_RegisterFile):
    Params = RccParams

    def __init__(self, machine, spec):
        fam = _RCC_FAMILIES[spec.model]
        super().__init__(machine, spec, fam["reset"])
        self.fam = fam
        self.family = spec.model

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        super().write_word(off, value, mask)
        v = self.regs[off]
        for reg, en, rdy in self.fam["ready"]:
            if reg == off:
                v = (v | (1 << rdy)) if v >> en & 1 else (v & ~(1 << rdy))
        self.regs[off] = v
        cfgr = self.fam["cfgr"]
        if off == cfgr:
            swmask = (1 << self.fam["sw_bits"]) - 1
            sw = v & swmask
            v = (v & ~(swmask << self.fam["sws_shift"])) | (sw << self.fam["sws_shift"])
            self.regs[off] = v
            self._apply_clock()

    def _apply_clock(self) -> None:
        hz = self.sysclk_hz()
        if hz:
            self.m.set_clock(hz, source="RCC")

    def sysclk_hz(self) -> float | None:
        """SYSCLK/HCLK from the register state, where the family is modelled (L4/L4+)."""
        if self.family != "stm32l4-rcc":
            return None
        cr = self.regs.get(0x00, 0)
        cfgr = self.regs.get(0x08, 0)
        sw = cfgr & 3
        msi = _L4_MSI_MHZ[min(11, (cr >> 4) & 0xF)] * 1e6
        hse = self.params.hse_hz
        if sw == 0:
            sys = msi
        elif sw == 1:
            sys = 16e6
        elif sw == 2:
            sys = hse
        else:
            p = self.regs.get(0x0C, 0x1000)
            src = p & 3
            fin = {1: msi, 2: 16e6, 3: hse}.get(src, 0.0)
            m = ((p >> 4) & 0xF) + 1          # RM0432: PLLM[3:0] at [7:4], /1../16
            n = (p >> 8) & 0x7F
            r = 2 * (((p >> 25) & 3) + 1)
            if not fin or n < 8:
                return None
            sys = fin / m * n / r
        hpre = (cfgr >> 4) & 0xF
        div = 1 if hpre < 8 else (2, 4, 8, 16, 64, 128, 256, 512)[hpre - 8]
        return sys / div


@dataclass(frozen=True, kw_only=True)
class PwrParams(RegisterFileParams):
    """PWR: status bits read back set; the low-power mode field."""
    status: FrozenMap = param(REG_MAP, FrozenMap(), "bits ORed into reads {\"offset\" = "
                              "bits} (voltage scaling done, regulator ready)", min=0,
                              max=0xFFFFFFFF)
    lpms_offset: int = param(INT, 0, "offset of the register holding the low-power mode",
                             min=0, max=0x3FC)
    lpms_mask: int = param(HEXINT, 0x7, "mask of the low-power mode field (CR1.LPMS on L4)",
                           min=0, max=0xFFFFFFFF)


@register("stm32-pwr")
class Stm32Pwr(_RegisterFile):
    """Power controller: a register file; status registers read back 'ready'
    (voltage scaling done, regulator in main mode) as the catalog's params say:
    params.status = {offset: value ORed into reads}. Low-power mode bits (CR1.LPMS on L4)
    are read by the machine on WFI with SLEEPDEEP."""

    Params = PwrParams

    def read_word(self, off: int) -> int:
        return self.regs.get(off, 0) | self.params.status.get(off, 0)

    def low_power_mode(self) -> int:
        return self.regs.get(self.params.lpms_offset, 0) & self.params.lpms_mask


@dataclass(frozen=True, kw_only=True)
class FlashParams(RegisterFileParams):
    """FLASH interface: where FLASH_ACR is."""
    acr_offset: int = param(INT, 0, "offset of FLASH_ACR in the block", min=0, max=0x3FC)


@register("stm32-flash")
class Stm32Flash(_RegisterFile):
    """Flash interface: ACR (LATENCY and accelerator enables) is kept for the timing
    model; the status register reads not-busy. Program/erase are not modelled."""

    Params = FlashParams

    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        self.acr_off = self.params.acr_offset

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        super().write_word(off, value, mask)
        if off == self.acr_off:
            self.m.flash_acr_changed(self.regs[off])

    @property
    def acr(self) -> int:
        return self.regs.get(self.acr_off, 0)


# ---------------------------------------------------------------------------------------
# USART / LPUART (the "v2" register layout shared by L4, G0, H7 and U5; RM0432 40.8)
# ---------------------------------------------------------------------------------------
CR1, CR2, CR3, BRR, ISR, ICR, RDR, TDR = 0x00, 0x04, 0x08, 0x0C, 0x1C, 0x20, 0x24, 0x28
ISR_RXNE, ISR_TC, ISR_TXE, ISR_TEACK, ISR_REACK = 1 << 5, 1 << 6, 1 << 7, 1 << 21, 1 << 22
CR1_UE, CR1_RE, CR1_TE, CR1_RXNEIE, CR1_TCIE, CR1_TXEIE = 1, 1 << 2, 1 << 3, 1 << 5, 1 << 6, 1 << 7


@register("stm32-usart", "stm32-lpuart")
class Stm32Usart(Peripheral):
    """Transmits to the run's output and receives bytes the host queued. Each byte
    occupies the line for its frame time (start + 8 data + stop bits at the baud rate
    set in BRR), so polling firmware waits as long as it would on the chip."""

    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        self.lp = spec.model == "stm32-lpuart"
        self.cr1 = self.cr2 = self.cr3 = 0
        self.brr = 0
        self.shift_free_at = 0     # cycle at which the shift register is empty
        self.tdr_free_at = 0       # cycle at which TDR is empty again (TXE)
        self.rx: bytearray = bytearray()
        self.event = None
        self.tx_bytes = 0
        machine.register_uart(self)

    def feed(self, data: bytes) -> None:
        self.rx += data
        self._update_irq()

    def byte_cycles(self) -> int:
        if not self.brr:
            return 0
        # baud = fck/BRR (USART, oversampling 16) or 256*fck/BRR (LPUART); fck = HCLK
        # (kernel clock PCLK with APB prescaler 1). 10 bits a frame (8N1).
        bits = 10
        if self.lp:
            return max(1, (bits * self.brr) // 256)
        return max(1, bits * self.brr)

    def _isr(self, now: int) -> int:
        v = 0
        if now >= self.tdr_free_at:
            v |= ISR_TXE
        if now >= self.shift_free_at:
            v |= ISR_TC
        if self.rx and self.cr1 & CR1_RE:
            v |= ISR_RXNE
        if self.cr1 & CR1_TE:
            v |= ISR_TEACK
        if self.cr1 & CR1_RE:
            v |= ISR_REACK
        return v

    def _pull_host(self) -> None:
        """With a live host link (mcusim serve), take what the host has sent; when the
        firmware keeps polling an empty receiver, wait for the host in real time."""
        host = self.m.uart_host
        if host is None or self.rx:
            return
        data = host.poll(0.0)
        if not data and self.m.now_precise() >= self.shift_free_at:
            # only a receiver wait counts as idle: not polls for TXE/TC while sending
            self._idle_polls += 1
            if self._idle_polls >= 64:
                data = host.poll(0.05)
        if data:
            self._idle_polls = 0
            self.rx += data
            self._update_irq()
        elif host.closed:
            self.m.host_closed()

    _idle_polls = 0

    def read_word(self, off: int) -> int:
        if off == ISR:
            if self.cr1 & CR1_RE:
                self._pull_host()
            now = self.m.now_precise()
            v = self._isr(now)
            if not v & ISR_TXE or not v & ISR_TC:
                # a transmit wait: TXE then TC change at known cycles
                ready = self.tdr_free_at if not v & ISR_TXE else self.shift_free_at
                if self.m.poll(self.name + ".ISR", v, ready):
                    v = self._isr(self.m.now_precise())
            return v
        if off == RDR:
            if self.rx:
                c = self.rx.pop(0)
                self._update_irq()
                return c
            return 0
        if off == CR1:
            return self.cr1
        if off == CR2:
            return self.cr2
        if off == CR3:
            return self.cr3
        if off == BRR:
            return self.brr
        return 0

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        if off == TDR:
            now = self.m.now_precise()
            bc = self.byte_cycles()
            start = max(now, self.shift_free_at)
            self.tdr_free_at = start             # TDR empties when the byte moves to shift
            self.shift_free_at = start + bc
            self.tx_bytes += 1
            self._idle_polls = 0
            if self.m.uart_host is not None:
                self.m.uart_host.send(bytes([value & 0xFF]))
            self.m.output(bytes([value & 0xFF]), 1, source=self.name)
            self._update_irq()
        elif off == CR1:
            self.cr1 = value & mask | (self.cr1 & ~mask)
            self._update_irq()
        elif off == CR2:
            self.cr2 = value
        elif off == CR3:
            self.cr3 = value
        elif off == BRR:
            self.brr = value & 0xFFFFF

    def _update_irq(self) -> None:
        irq = self.spec.irq
        if irq is None:
            return
        now = self.m.now_precise()
        if self.cr1 & CR1_RXNEIE and self.rx and self.cr1 & CR1_RE:
            self.m.pend_irq(irq)
        want = None
        if self.cr1 & CR1_TXEIE:
            want = self.tdr_free_at
        if self.cr1 & CR1_TCIE:
            want = self.shift_free_at if want is None else min(want, self.shift_free_at)
        if self.event is not None:
            self.event.cancel()
            self.event = None
        if want is not None:
            if want <= now:
                self.m.pend_irq(irq)
            else:
                self.event = self.m.schedule(want, self._tx_event, self.name)

    def _tx_event(self, at: int) -> None:
        self.event = None
        self.m.pend_irq(self.spec.irq)


# ---------------------------------------------------------------------------------------
# Basic timer (TIM6/TIM7; RM0432 34.4): up-counter, prescaler, auto-reload, update IRQ.
# ---------------------------------------------------------------------------------------
TCR1, TDIER, TSR, TEGR, TCNT, TPSC, TARR = 0x00, 0x0C, 0x10, 0x14, 0x24, 0x28, 0x2C


@register("stm32-tim-basic")
class Stm32BasicTimer(Peripheral):
    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        self.cr1 = self.dier = self.sr = 0
        self.psc = 0
        self.arr = 0xFFFF
        self.t0 = 0            # cycle at which the counter was at cnt0
        self.cnt0 = 0
        self.event = None

    def _period(self) -> int:
        return (self.psc + 1) * (self.arr + 1)

    def _cnt(self, now: int) -> int:
        if not self.cr1 & 1 or not self.arr:
            return self.cnt0
        ticks = (now - self.t0) // (self.psc + 1)
        return (self.cnt0 + ticks) % (self.arr + 1)

    def _reschedule(self, now: int) -> None:
        if self.event is not None:
            self.event.cancel()
            self.event = None
        if self.cr1 & 1 and self.arr:
            ticks_to_wrap = (self.arr + 1) - self._cnt(now)
            # align to the prescaler phase
            phase = (now - self.t0) % (self.psc + 1)
            at = now + ticks_to_wrap * (self.psc + 1) - phase
            self.event = self.m.schedule(at, self._update, self.name)

    def _update(self, at: int) -> None:
        self.event = None
        self.sr |= 1
        if self.dier & 1 and self.spec.irq is not None:
            self.m.pend_irq(self.spec.irq)
        if self.cr1 & 8:  # one-pulse mode: stop
            self.cr1 &= ~1
            self.t0, self.cnt0 = at, 0
            return
        self.t0, self.cnt0 = at, 0
        self._reschedule(at)

    def read_word(self, off: int) -> int:
        if off == TSR and not self.sr & 1 and self.event is not None:
            # a wait for the update flag: it is set by the update event (at the next
            # block boundary after the clock reaches it)
            self.m.poll(self.name + ".SR", self.sr, self.event.at)
        return {TCR1: self.cr1, TDIER: self.dier, TSR: self.sr, TCNT: self._cnt(self.m.now_precise()),
                TPSC: self.psc, TARR: self.arr}.get(off, 0)

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        now = self.m.now_precise()
        cnt = self._cnt(now)
        if off == TCR1:
            self.cr1 = value & 0x8F
        elif off == TDIER:
            self.dier = value & 1
        elif off == TSR:
            self.sr &= value
        elif off == TEGR:
            if value & 1:
                cnt = 0
        elif off == TCNT:
            cnt = value & 0xFFFF
        elif off == TPSC:
            self.psc = value & 0xFFFF
        elif off == TARR:
            self.arr = value & 0xFFFF
        self.t0, self.cnt0 = now, cnt
        self._reschedule(now)
