"""STM32 peripherals that firmware touches before and around main: USART/LPUART and the
basic timers (TIM6/TIM7) here; RCC (stm32_rcc.py), PWR (stm32_pwr.py), the FLASH interface
and the U5 ICACHE (stm32_flash.py), GPIO (stm32_gpio.py) and register files (regfile.py).

Register offsets and bits: RM0432 (STM32L4+), RM0444 (STM32G0), RM0455 (STM32H7A3/B3),
RM0456 (STM32U5). Where families differ, the difference is a table below, not a branch.
"""

from __future__ import annotations

from mcusim.peripherals import register
from mcusim.peripherals.base import Peripheral

# RCC, PWR, FLASH, ICACHE, GPIO and register files live in their own modules (imported
# here so that every STM32 model registers with the catalog schema).
from mcusim.peripherals.regfile import (PlainRegisterFile, RegisterFile,  # noqa: E402,F401
                                        RegisterFileParams)
from mcusim.peripherals.stm32_flash import FlashParams, Stm32Flash, Stm32Icache  # noqa: E402,F401
from mcusim.peripherals.stm32_gpio import Stm32Gpio  # noqa: E402,F401
from mcusim.peripherals.stm32_pwr import PwrParams, Stm32Pwr  # noqa: E402,F401
from mcusim.peripherals.stm32_rcc import RccParams, Stm32Rcc  # noqa: E402,F401

_RegisterFile = RegisterFile


# ---------------------------------------------------------------------------------------
# USART / LPUART (the "v2" register layout shared by L4, G0, H7 and U5; RM0432 40.8)
# ---------------------------------------------------------------------------------------
CR1, CR2, CR3, BRR, ISR, ICR, RDR, TDR = 0x00, 0x04, 0x08, 0x0C, 0x1C, 0x20, 0x24, 0x28
PRESC = 0x2C
ISR_RXNE, ISR_TC, ISR_TXE, ISR_TEACK, ISR_REACK = 1 << 5, 1 << 6, 1 << 7, 1 << 21, 1 << 22
CR1_UE, CR1_RE, CR1_TE, CR1_RXNEIE, CR1_TCIE, CR1_TXEIE = 1, 1 << 2, 1 << 3, 1 << 5, 1 << 6, 1 << 7
CR1_M0, CR1_OVER8, CR1_M1 = 1 << 12, 1 << 15, 1 << 28
# USART_PRESC.PRESCALER [3:0]: kernel clock divider (RM0432/RM0444/RM0455/RM0456 USART_PRESC)
PRESC_DIV = (1, 2, 4, 6, 8, 10, 12, 16, 32, 64, 128, 256)


@register("stm32-usart", "stm32-lpuart")
class Stm32Usart(Peripheral):
    """Transmits to the run's output and receives bytes the host queued. Each byte
    occupies the line for its frame time (start bit, 7/8/9 data bits (CR1.M), 0.5-2 stop
    bits (CR2.STOP)) at the baud rate the kernel clock, PRESC and BRR give, so polling
    firmware waits as long as it would on the chip. The kernel clock is the one the RCC
    selects for this instance (CCIPR / CDCCIP2R / CCIPR1); without an RCC model it is the
    core clock."""

    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        self.lp = spec.model == "stm32-lpuart"
        self.cr1 = self.cr2 = self.cr3 = 0
        self.brr = 0
        self.presc = 0
        self.shift_free_at = 0     # cycle at which the shift register is empty
        self.tdr_free_at = 0       # cycle at which TDR is empty again (TXE)
        self.rx: bytearray = bytearray()
        self.event = None
        self.tx_bytes = 0
        machine.register_uart(self)

    def feed(self, data: bytes) -> None:
        self.rx += data
        self._update_irq()

    def half_bits(self) -> int:
        """Bits of one frame, in half bits: start + data (CR1 M1:M0: 00 8, 01 9, 10 7) +
        stop (CR2 STOP [13:12]: 00 1, 01 0.5, 10 2, 11 1.5)."""
        m = (1 if self.cr1 & CR1_M0 else 0) | (2 if self.cr1 & CR1_M1 else 0)
        data = {0: 8, 1: 9, 2: 7}.get(m, 8)
        stop2 = (2, 1, 4, 3)[(self.cr2 >> 12) & 3]
        return 2 * (1 + data) + stop2

    def byte_cycles(self) -> int:
        """Core cycles of one frame: a bit lasts BRR / fck (USART, 16x oversampling),
        USARTDIV / (2 fck) with OVER8 (USARTDIV = BRR[15:4] << 4 | BRR[2:0] << 1), or
        BRR / (256 fck) (LPUART); fck = kernel clock / PRESC."""
        if not self.brr:
            return 0
        core = int(round(self.m.clock_hz))
        kernel = self.m.kernel_clock_hz(self.name)
        kernel = core if kernel is None else int(round(kernel))
        if kernel <= 0:
            self.m.warn_once(f"{self.name}-kernel", f"{self.name}: its kernel clock is off "
                             "(RCC): frames are timed at the core clock")
            kernel = core
        div = PRESC_DIV[self.presc] if self.presc < len(PRESC_DIV) else 256
        num = self.half_bits() * core * div
        den = 2 * kernel
        if self.lp:
            num *= self.brr
            den *= 256
        elif self.cr1 & CR1_OVER8:
            num *= (self.brr & ~0xF) | ((self.brr & 7) << 1)
            den *= 2
        else:
            num *= self.brr
        return max(1, num // den)

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
        if off == PRESC:
            return self.presc
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
            self.cr2 = value & mask | (self.cr2 & ~mask)
        elif off == CR3:
            self.cr3 = value & mask | (self.cr3 & ~mask)
        elif off == BRR:
            self.brr = value & 0xFFFFF
        elif off == PRESC:
            self.presc = value & 0xF

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
