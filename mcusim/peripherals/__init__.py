"""MMIO peripheral models, looked up by the `model` name a catalog entry gives."""

from __future__ import annotations

from mcusim.peripherals.base import Peripheral, Unmodelled

_REGISTRY: dict[str, type] = {}


def register(*names: str):
    def deco(cls):
        for n in names:
            _REGISTRY[n] = cls
        return cls
    return deco


def model_class(name: str) -> type | None:
    # import the modules that register models
    from mcusim.peripherals import stm32  # noqa: F401
    return _REGISTRY.get(name)


__all__ = ["Peripheral", "Unmodelled", "register", "model_class"]
