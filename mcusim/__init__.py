"""mcusim: a cycle-approximate Cortex-M simulator for TinyML firmware.

The public API (docs/api.md); ``import mcusim`` is cheap, each name loads on first use:

    import mcusim
    rec = mcusim.infer("ad", mcu="stm32l4r5", kernels="opt")    # -> RunRecord
    rec.latency_ms, rec.energy_uj, rec.layers, rec.to_json("ad.json")
    rec = mcusim.run("firmware.elf", mcu="stm32u585")           # -> RunRecord
    df = mcusim.bench(["kws", "ad"])                             # -> pandas.DataFrame
    mcu = mcusim.load_mcu("stm32l4r5").derive({"flash.accelerator": None})

Runs: ``run``, ``infer``, ``bench``, ``bench_records``, ``bench_table``, ``bench_json``.
Records: ``RunRecord``, ``load_record``, ``Provenance``. Catalogs: ``load_mcu``, ``derive``,
``default_kernels``, ``list_catalog``. CI gate: ``compare`` (``mcusim check``), ``load_results``.
Design-space exploration: ``mcusim.sweep`` (``run``, ``load``, ``analyse``).
Errors a caller can cause: ``UserError`` (``CatalogError`` is one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "run": "mcusim.api", "bench": "mcusim.api", "bench_records": "mcusim.api",
    "bench_table": "mcusim.api", "bench_json": "mcusim.api", "load_mcu": "mcusim.api",
    "derive": "mcusim.api", "default_kernels": "mcusim.api", "load_record": "mcusim.api",
    "benchmark_names": "mcusim.api", "RunRecord": "mcusim.api",
    "BENCH_COLUMNS": "mcusim.api", "BUILTIN_MODELS": "mcusim.api", "DEFAULT_MCU": "mcusim.api",
    "Provenance": "mcusim.provenance",
    "list_catalog": "mcusim.catalog", "McuSpec": "mcusim.catalog", "CatalogError": "mcusim.catalog",
    "UserError": "mcusim.errors",
    "compare": "mcusim.check", "load_results": "mcusim.check", "CheckReport": "mcusim.check",
    "Tolerances": "mcusim.check",
}

__all__ = sorted([*_LAZY, "infer", "__version__"])

if TYPE_CHECKING:
    from mcusim.api import (BENCH_COLUMNS, BUILTIN_MODELS, DEFAULT_MCU, RunRecord, bench,
                            bench_json, bench_records, bench_table, benchmark_names,
                            default_kernels, derive, load_mcu, load_record, run)
    from mcusim.api import infer as infer  # noqa: F811  (the callable module mcusim.infer)
    from mcusim.catalog import CatalogError, McuSpec, list_catalog
    from mcusim.check import CheckReport, Tolerances, compare, load_results
    from mcusim.errors import UserError
    from mcusim.provenance import Provenance


def __getattr__(name: str) -> Any:
    import importlib
    if name == "infer":
        # the module mcusim.infer is callable: mcusim.infer(...) is mcusim.api.infer(...)
        return importlib.import_module("mcusim.infer")
    if name == "sweep":                 # mcusim.sweep.run / load / analyse (docs/sweep.md)
        return importlib.import_module("mcusim.sweep")
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'mcusim' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
