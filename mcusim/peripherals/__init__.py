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
    return models().get(name)


def models() -> dict[str, type]:
    """Every registered model name and its class (the class's ``Params`` is the schema of
    its ``[peripherals.<name>.params]``, see mcusim/schema.py)."""
    # import the modules that register models
    from mcusim.peripherals import stm32  # noqa: F401
    return dict(_REGISTRY)


__all__ = ["Peripheral", "Unmodelled", "register", "model_class", "models"]
