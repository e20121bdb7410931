"""MMIO peripheral models, looked up by the `model` name a catalog entry gives."""

from __future__ import annotations

from mcusim import schema
from mcusim.peripherals.base import Peripheral, Unmodelled


def register(*names: str):
    """Class decorator: the model serves catalog entries with `model = <name>`."""
    def deco(cls):
        for n in names:
            schema.register_model(n, cls)
        return cls
    return deco


def model_class(name: str) -> type | None:
    return models().get(name)


def models() -> dict[str, type]:
    """Every registered model name and its class (the class's ``Params`` is the schema of
    its ``[peripherals.<name>.params]``, see mcusim/schema.py)."""
    return dict(schema.PERIPHERAL_MODELS)


__all__ = ["Peripheral", "Unmodelled", "register", "model_class", "models"]


# the modules that register models
from mcusim.peripherals import stm32  # noqa: E402,F401
