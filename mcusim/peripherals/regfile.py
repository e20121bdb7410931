"""Register files: peripherals whose registers keep what firmware writes (SYSCFG, EXTI, FMC
bank control, ...), and the base of the STM32 models that add behaviour on top.

A register file holds the reset values (the model's own, then the catalog's `reset`
overrides), keeps every write, and answers reads with what it holds. Registers the catalog
names (`[peripherals.<name>] registers = {NAME = offset}`) are modelled as storage; a read
of an offset the catalog names no register at, or of a register the model lists in
`UNMODELLED`, warns once and names it (issue 10 part 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcusim.peripherals import register
from mcusim.peripherals.base import Peripheral
from mcusim.schema import HEXINT, REG_MAP, FrozenMap, Spec, _ListOf, param

OFFSETS = _ListOf(HEXINT, "list of register offsets")


@dataclass(frozen=True, kw_only=True)
class RegisterFileParams(Spec):
    """a register file; `reset` overrides register reset values."""
    reset: FrozenMap = param(REG_MAP, FrozenMap(), "register values after reset "
                             "{\"offset\" = value}", min=0, max=0xFFFFFFFF)


class RegisterFile(Peripheral):
    """Keeps what is written; reads give it back. Subclasses add behaviour."""

    Params = RegisterFileParams
    RESET: dict = {}            # offset -> reset value (the model's, per family)
    UNMODELLED: frozenset = frozenset()   # catalog register names without behaviour here

    def __init__(self, machine, spec, reset: dict | None = None):
        super().__init__(machine, spec)
        self.regs: dict[int, int] = dict(self.RESET)
        self.regs.update(reset or {})
        self.regs.update(self.params.reset)

    def _check_read(self, off: int) -> None:
        """Warn (once) about a read of a register this model does not implement."""
        spec = self.spec
        if spec is None or not spec.registers:
            return
        name = spec.register_name(off)
        if name is None:
            self.unmodelled_read(off, self.regs.get(off, 0),
                                 " (the catalog names no register at this offset)")
        elif name in self.UNMODELLED:
            self.unmodelled_read(off, self.regs.get(off, 0), " (kept as written)")

    def read_word(self, off: int) -> int:
        self._check_read(off)
        return self.regs.get(off, 0)

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        self.regs[off] = (self.regs.get(off, 0) & ~mask) | (value & mask)


@dataclass(frozen=True, kw_only=True)
class PlainRegisterFileParams(RegisterFileParams):
    """a register file: SYSCFG, EXTI, FMC bank control, ... (values kept as written)."""
    w1c: tuple = param(OFFSETS, (), "registers whose bits are cleared by writing 1 "
                       "(pending flags: EXTI_PR1, EXTI_RPR1, ...)", knob=False)
    read_only: tuple = param(OFFSETS, (), "registers firmware cannot write (status lines)",
                             knob=False)


@register("stm32-regfile")
class PlainRegisterFile(RegisterFile):
    """Registers that keep their values: enough for the SYSCFG, EXTI and FMC writes and
    reads of CubeMX start-up code (HAL_MspInit, HAL_GPIO_Init for EXTI pins, SystemInit)."""

    Params = PlainRegisterFileParams

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        p = self.params
        if off in p.read_only:
            return
        if off in p.w1c:
            self.regs[off] = self.regs.get(off, 0) & ~(value & mask)
            return
        super().write_word(off, value, mask)
