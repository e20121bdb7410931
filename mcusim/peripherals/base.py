"""Base class of memory-mapped peripheral models."""

from __future__ import annotations

from mcusim.schema import NoParams


class Peripheral:
    """A register block. Subclasses implement `read_word`/`write_word` on word offsets;
    byte and halfword accesses are folded onto the containing word.

    ``Params`` declares the model's ``[peripherals.<name>.params]`` (a frozen
    :class:`mcusim.schema.Spec`); the catalog loader validates them and ``self.params``
    is the typed instance."""

    Params = NoParams

    def __init__(self, machine, spec):
        self.m = machine
        self.spec = spec
        self.name = spec.name if spec is not None else "?"
        self.params = spec.params if spec is not None else NoParams()

    def read(self, off: int, size: int) -> int:
        w = self.read_word(off & ~3)
        return (w >> ((off & 3) * 8)) & ((1 << (size * 8)) - 1)

    def write(self, off: int, size: int, value: int) -> None:
        if size == 4:
            self.write_word(off, value & 0xFFFFFFFF)
        else:
            shift = (off & 3) * 8
            mask = ((1 << (size * 8)) - 1) << shift
            self.write_word(off & ~3, ((value << shift) & mask), mask)

    def read_word(self, off: int) -> int:
        return 0

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        pass

    def register_label(self, off: int) -> str:
        """`RCC_CIFR (0x4002101C)`: the catalog's name of the register at `off` (prefixed
        with the peripheral's name), or `rcc+0x01C (0x4002101C)` where the catalog names
        none."""
        spec = self.spec
        addr = f"0x{spec.base + off:08X}" if spec is not None else f"+0x{off:X}"
        name = spec.register_name(off) if spec is not None else None
        if name is not None:
            return f"{self.name.upper()}_{name} ({addr})"
        return f"{self.name}+0x{off:03X} ({addr})"

    def unmodelled_read(self, off: int, value: int = 0, what: str = "") -> int:
        """A read of a register this model does not implement: warn once per register,
        naming it from the catalog; returns `value` (what the register file holds)."""
        if self.m is not None:
            self.m.warn_once(f"unmodelled-reg-{self.name}-{off:x}",
                             f"read of {self.register_label(off)}, which mcusim does not "
                             f"model{what}: reads 0x{value:08X}")
        return value


class Unmodelled(Peripheral):
    """A declared peripheral range whose registers are not modelled: reads as zero,
    ignores writes, and says so once."""

    def read(self, off: int, size: int) -> int:
        self.m.warn_once(f"unmodelled-{self.name}",
                         f"access to unmodelled peripheral range {self.name} "
                         f"(0x{self.spec.base + off:08x}): reads as zero, writes ignored")
        return 0

    def write(self, off: int, size: int, value: int) -> None:
        self.read(off, size)
