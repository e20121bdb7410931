"""STM32 flash interface (FLASH_ACR) and the STM32U5 instruction cache (ICACHE): the
registers whose values the memory timing model follows.

FLASH: FLASH_ACR holds its reset value from reset (the catalog's `[flash]
acr_reset_value`: L4+ 0x600 = ICEN | DCEN; G0 ICEN; H7A3 LATENCY 3, WRHIGHFREQ 1; U5 0),
so a read-modify-write of LATENCY keeps the accelerator enables as on silicon; every write
is pushed to the memory model (latency, prefetch, ART enables and resets). The status
register reads "not busy"; program/erase are not modelled.

ICACHE (RM0456 ICACHE chapter): CR EN 0 (the cache model is on only while set), CACHEINV
1 (invalidate: self-clearing), WAYSEL 2 (2-way or direct-mapped, only while EN = 0); SR
BUSYF 0 while an invalidation runs (after reset and after CACHEINV; `invalidate_cycles`,
default 0: done at once), BSYENDF 1 when it ended (sticky), cleared through FCR CBSYENDF.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcusim.peripherals import register
from mcusim.peripherals.regfile import OFFSETS, RegisterFile, RegisterFileParams
from mcusim.schema import INT, param


@dataclass(frozen=True, kw_only=True)
class FlashParams(RegisterFileParams):
    """FLASH interface: where FLASH_ACR is."""
    acr_offset: int = param(INT, 0, "offset of FLASH_ACR in the block", min=0, max=0x3FC)
    acr_aliases: tuple = param(OFFSETS, (), "other offsets of FLASH_ACR (H7: 0x100, the "
                               "bank 2 view)", knob=False)


@register("stm32-flash")
class Stm32Flash(RegisterFile):
    """Flash interface: FLASH_ACR (LATENCY and accelerator enables) for the timing model."""

    Params = FlashParams

    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        self.acr_off = self.params.acr_offset
        if self.acr_off not in self.params.reset:
            mcu = getattr(machine, "mcu", None)
            flash = getattr(mcu, "flash", None)
            rv = getattr(flash, "acr_reset_value", None)
            self.regs[self.acr_off] = int(rv or 0)

    def _acr(self, off: int) -> bool:
        return off == self.acr_off or off in self.params.acr_aliases

    def read_word(self, off: int) -> int:
        if self._acr(off):
            if self.m is not None:
                self.m.clock_control_access()
            return self.regs.get(self.acr_off, 0)
        self._check_read(off)
        return self.regs.get(off, 0)

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        if self._acr(off):
            if self.m is not None:
                self.m.clock_control_access()
            off = self.acr_off
        super().write_word(off, value, mask)
        if off == self.acr_off and self.m is not None:
            self.m.flash_acr_changed(self.regs[off])

    @property
    def acr(self) -> int:
        return self.regs.get(self.acr_off, 0)

    def reset_state(self) -> None:
        """The machine starts from reset: the memory model takes the reset FLASH_ACR."""
        if self.m is not None:
            self.m.flash_acr_changed(self.acr)


# --------------------------------------------------------------------------- ICACHE
CR, SR, IER, FCR = 0x00, 0x04, 0x08, 0x0C
CR_EN, CR_CACHEINV, CR_WAYSEL = 1 << 0, 1 << 1, 1 << 2
SR_BUSYF, SR_BSYENDF, SR_ERRF = 1 << 0, 1 << 1, 1 << 2
CRR_REN = 1 << 15


@dataclass(frozen=True, kw_only=True)
class IcacheParams(RegisterFileParams):
    """ST ICACHE: enable, associativity and invalidation, followed by the memory model."""
    invalidate_cycles: int = param(INT, 0, "core cycles an invalidation keeps BUSYF set "
                                   "(after reset and after CACHEINV)", min=0, max=1 << 20)


@register("stm32-icache")
class Stm32Icache(RegisterFile):
    Params = IcacheParams
    RESET = {CR: CR_WAYSEL, 0x20: 0x200, 0x24: 0x200, 0x28: 0x200, 0x2C: 0x200}
    UNMODELLED = frozenset({"HMONR", "MMONR"})    # hit/miss monitors: read 0

    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        self.busy_until = self.params.invalidate_cycles   # the invalidation reset starts
        self.pending = True           # an invalidation whose end has not raised BSYENDF
        self.bsyend = False
        self.errf = False

    def _now(self) -> int:
        return self.m.now_precise() if self.m is not None else 0

    def _sr(self, now: int) -> int:
        if now < self.busy_until:
            return SR_BUSYF
        if self.pending:
            self.pending, self.bsyend = False, True
        return (SR_BSYENDF if self.bsyend else 0) | (SR_ERRF if self.errf else 0)

    def read_word(self, off: int) -> int:
        if off == SR:
            now = self._now()
            v = self._sr(now)
            if v & SR_BUSYF and self.m is not None and \
                    self.m.poll(self.name + ".SR", v, self.busy_until):
                v = self._sr(self._now())
            return v
        return super().read_word(off)

    @property
    def enabled(self) -> bool:
        return bool(self.regs.get(CR, 0) & CR_EN)

    @property
    def ways(self) -> int:
        return 2 if self.regs.get(CR, 0) & CR_WAYSEL else 1

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        old = self.regs.get(off, 0)
        new = (old & ~mask) | (value & mask)
        if off == CR:
            if old & CR_EN:
                new = (new & ~CR_WAYSEL) | (old & CR_WAYSEL)   # WAYSEL: only while EN = 0
            inval = bool(new & CR_CACHEINV) and not self._sr(self._now()) & SR_BUSYF
            new &= ~CR_CACHEINV                                # self-clearing
            self.regs[CR] = new
            if inval:
                self.busy_until = self._now() + self.params.invalidate_cycles
                self.pending = True
            if self.m is not None and (inval or (old ^ new) & (CR_EN | CR_WAYSEL)):
                self.m.icache_changed(self.enabled, self.ways, inval)
            return
        if off == FCR:
            if value & mask & SR_BSYENDF:
                self._sr(self._now())
                self.bsyend = False
            if value & mask & SR_ERRF:
                self.errf = False
            return
        if off == SR:
            return                                             # read-only
        if off in (0x20, 0x24, 0x28, 0x2C) and new & CRR_REN and self.m is not None:
            self.m.warn_once(f"{self.name}-remap", f"{self.register_label(off)}: region "
                             "remapping (REN) is not modelled")
        self.regs[off] = new

    def reset_state(self) -> None:
        """The machine starts from reset: the cache is off until firmware enables it."""
        if self.m is not None:
            self.m.icache_changed(self.enabled, self.ways, True)
