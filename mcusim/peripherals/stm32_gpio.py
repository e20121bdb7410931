"""STM32 GPIO port (the same IP on L4+, G0, H7 and U5; RM0432/RM0444/RM0455/RM0456 GPIO
chapters, "GPIO registers").

* MODER, OTYPER, OSPEEDR, PUPDR, AFRL/AFRH keep what is written (reset values per port
  from the catalog: the debug pins are in alternate function at reset).
* ODR read/write; BSRR write-only (reads 0): bits [15:0] set ODR bits, [31:16] clear them,
  set wins; BRR (not on H7) write-only: clears ODR bits.
* IDR read-only, the pin levels: an output push-pull pin reads its ODR bit; open-drain
  reads 0 when driven low, else what pulls it (pull-up: 1, else the external level);
  an input reads its pull (up 1, down 0) or, without one, the external level
  (`inputs`, default 0); analog pins read 0; alternate-function pins read their pull or
  the external level.
* LCKR: the lock key sequence (LCKK = 1, 0, 1 with the same mask, then a read) freezes
  the configuration of the masked pins until reset.
* Every change of an ODR bit is reported to the machine (cycle, port, pin, level): the run
  trace's pin changes (`mcusim run --gpio-trace FILE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcusim.peripherals import register
from mcusim.peripherals.regfile import RegisterFile, RegisterFileParams
from mcusim.schema import BOOL, HEXINT, param

MODER, OTYPER, OSPEEDR, PUPDR, IDR, ODR, BSRR, LCKR, AFRL, AFRH, BRR = (
    0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1C, 0x20, 0x24, 0x28)
LCKK = 1 << 16
_CONFIG = {MODER: 2, OTYPER: 1, OSPEEDR: 2, PUPDR: 2, AFRL: 4, AFRH: 4}   # bits per pin


@dataclass(frozen=True, kw_only=True)
class GpioParams(RegisterFileParams):
    """GPIO port: registers, pin levels, pin-change trace."""
    inputs: int = param(HEXINT, 0, "levels driven onto the port's pins from outside "
                        "(what input pins without pull read)", min=0, max=0xFFFF)
    has_brr: bool = param(BOOL, True, "the port has GPIOx_BRR at 0x28 (not on STM32H7)",
                          knob=False)


@register("stm32-gpio")
class Stm32Gpio(RegisterFile):
    Params = GpioParams

    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        m = re.fullmatch(r"gpio([a-z])", self.name.lower())
        self.port = f"P{m.group(1).upper()}" if m else self.name
        self.locked = 0            # pins whose configuration LCKR froze
        self.lock_step, self.lock_mask = 0, 0

    # ------------------------------------------------------------------ pins
    def _field(self, off: int, pin: int) -> int:
        if off in (AFRL, AFRH):
            return (self.regs.get(off, 0) >> (4 * (pin & 7))) & 0xF
        w = _CONFIG[off]
        return (self.regs.get(off, 0) >> (w * pin)) & ((1 << w) - 1)

    def idr(self) -> int:
        odr = self.regs.get(ODR, 0)
        ext = self.params.inputs
        v = 0
        for pin in range(16):
            mode = self._field(MODER, pin)
            pull = self._field(PUPDR, pin)
            outside = 1 if pull == 1 else 0 if pull == 2 else (ext >> pin) & 1
            if mode == 1:                                     # output
                bit = (odr >> pin) & 1
                if self._field(OTYPER, pin) and bit:          # open-drain released
                    bit = outside
            elif mode == 3:                                   # analog
                bit = 0
            else:                                             # input, alternate function
                bit = outside
            v |= bit << pin
        return v

    def _set_odr(self, new: int) -> None:
        old = self.regs.get(ODR, 0)
        new &= 0xFFFF
        self.regs[ODR] = new
        changed = old ^ new
        if changed and self.m is not None:
            for pin in range(16):
                if changed >> pin & 1:
                    self.m.gpio_changed(self.port, pin, (new >> pin) & 1)

    # ------------------------------------------------------------------ registers
    def read_word(self, off: int) -> int:
        if off == IDR:
            return self.idr()
        if off == BSRR or (off == BRR and self.params.has_brr):
            return 0                                          # write-only
        if off == LCKR:
            if self.lock_step == 3:
                self.lock_step = 4                            # the sequence's read
            return (self.regs.get(LCKR, 0) & 0xFFFF) | (LCKK if self.locked else 0)
        return super().read_word(off)

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        value &= mask
        if off == BSRR:
            odr = self.regs.get(ODR, 0)
            self._set_odr((odr & ~(value >> 16)) | (value & 0xFFFF))
        elif off == BRR and self.params.has_brr:
            self._set_odr(self.regs.get(ODR, 0) & ~(value & 0xFFFF))
        elif off == ODR:
            self._set_odr((self.regs.get(ODR, 0) & ~mask) | value)
        elif off == IDR:
            return
        elif off == LCKR:
            self._lock_write(value)
        elif off in _CONFIG and self.locked:
            w = _CONFIG[off]
            keep = 0
            for pin in range(16):
                if self.locked >> pin & 1 and (off not in (AFRL, AFRH)
                                               or (pin >= 8) == (off == AFRH)):
                    p = pin & 7 if off in (AFRL, AFRH) else pin
                    keep |= ((1 << w) - 1) << (w * p)
            old = self.regs.get(off, 0)
            self.regs[off] = (((old & ~mask) | value) & ~keep) | (old & keep)
        else:
            super().write_word(off, value, mask)

    def _lock_write(self, value: int) -> None:
        """RM LCKR lock key write sequence: LCKK=1, LCKK=0, LCKK=1 with the same [15:0]."""
        if self.locked:
            return
        key, pins = bool(value & LCKK), value & 0xFFFF
        step = self.lock_step
        if step == 0 and key:
            self.lock_step, self.lock_mask = 1, pins
        elif step == 1 and not key and pins == self.lock_mask:
            self.lock_step = 2
        elif step == 2 and key and pins == self.lock_mask:
            self.lock_step = 3
            self.locked = pins
            self.regs[LCKR] = pins
        else:
            self.lock_step = 1 if key else 0
            self.lock_mask = pins
