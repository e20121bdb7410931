"""Accelerators: Python models of hardware that does not exist yet, attached to any MCU.

* Loosely coupled (memory-mapped): a bus master with registers, an interrupt, SimPy
  processes, local memory and declared energy -- :class:`Accelerator`.
* Tightly coupled (custom instructions): coprocessor instructions trapped in the host
  with a Python function and a latency -- :func:`instruction` on an :class:`Accelerator`.

Plugins are named in an MCU file (``[[accelerators]]`` with ``type = "package.module:
Class"``); docs/accelerators.md is the tutorial. Shipped examples: the int8 NPU
(:mod:`mcusim.accelerators.npu`) and the 4-way int8 dot-product coprocessor
(:mod:`mcusim.accelerators.dot4`).
"""

from __future__ import annotations

from mcusim import schema as _schema
from mcusim.accelerators.base import (BOOL, FLOAT, HEXINT, INT, STR, Accelerator,
                                      AcceleratorParams, Register, instruction, param)

__all__ = ["Accelerator", "AcceleratorParams", "Register", "instruction", "param", "INT",
           "FLOAT", "BOOL", "STR", "HEXINT", "SHIPPED"]

# The shipped plugins (their params are documented in docs/catalogs.md).
SHIPPED = ("mcusim.accelerators.npu:Npu", "mcusim.accelerators.dot4:Dot4")


def _register_shipped() -> None:
    for path in SHIPPED:
        _schema.register_plugin(path, _schema.plugin_class(path))


_register_shipped()
