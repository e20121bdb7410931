"""pytest plugin: the ``mcusim`` fixture (registered through the ``pytest11`` entry point,
so installing mcusim is enough).

    def test_kws_latency(mcusim):
        rec = mcusim.infer("kws", kernels="opt")
        assert rec.latency_ms < 150

    def test_firmware_exits_cleanly(mcusim):
        rec = mcusim.run("build/app.elf", mcu="stm32u585", max_cycles=50_000_000)
        assert rec.ok, rec.outcome_message

The fixture has the API of the ``mcusim`` module (``run``, ``infer``, ``bench``,
``bench_records``, ``load_mcu``, ``derive``, ``RunRecord``...), with the MCU and timing
mode defaulting to ``--mcusim-mcu``/``--mcusim-mode`` (or the ini options ``mcusim_mcu``,
``mcusim_mode``). Each run's headline figures become the test's JUnit properties
(``pytest --junitxml``: ``mcusim.<name>.latency_ms``, ``.cycles``, ``.energy_uj``...), and with
``--mcusim-records DIR`` each record is also written as JSON (for ``mcusim check``).

This module is imported by every pytest run where mcusim is installed: it imports nothing
from mcusim until a test uses the fixture.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import pandas as pd

    from mcusim.api import RunRecord


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mcusim", "mcusim (cycle-approximate Cortex-M simulation)")
    group.addoption("--mcusim-mcu", default=None, metavar="NAME",
                    help="default MCU of the mcusim fixture (catalog name or .toml path)")
    group.addoption("--mcusim-mode", default=None, choices=["fast", "detailed"],
                    help="default timing mode of the mcusim fixture")
    group.addoption("--mcusim-records", default=None, metavar="DIR",
                    help="write every run record of the mcusim fixture to DIR as JSON")
    parser.addini("mcusim_mcu", "default MCU of the mcusim fixture", default="stm32l4r5")
    parser.addini("mcusim_mode", "default timing mode of the mcusim fixture", default="fast")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mcusim: a test that runs firmware in mcusim")


class McusimFixture:
    """The ``mcusim`` API for one test, with that session's defaults; it remembers the
    records of the test's runs (``records``)."""

    def __init__(self, node: pytest.Item, mcu: str, mode: str, records_dir: str | None):
        self.node = node
        self.mcu = mcu
        self.mode = mode
        self.records: list[RunRecord] = []
        self._dir = Path(records_dir) if records_dir else None

    def __getattr__(self, name: str) -> Any:          # the rest of the public API
        import mcusim
        return getattr(mcusim, name)

    def run(self, elf: Any, *mcu: Any, **options: Any) -> "RunRecord":
        """:func:`mcusim.run` with this session's MCU and mode as defaults."""
        from mcusim.api import run
        return self._keep(run(elf, *mcu, **self._defaults(mcu, options)))

    def infer(self, model: Any, *mcu: Any, **options: Any) -> "RunRecord":
        """:func:`mcusim.infer` with this session's MCU and mode as defaults."""
        from mcusim.api import infer
        return self._keep(infer(model, *mcu, **self._defaults(mcu, options)))

    def bench_records(self, models: Any = None, *mcu: Any, **options: Any) -> list["RunRecord"]:
        """:func:`mcusim.bench_records` with this session's defaults (a list)."""
        from mcusim.api import BUILTIN_MODELS, bench_records
        return [self._keep(r) for r in bench_records(models or BUILTIN_MODELS, *mcu,
                                                     **self._defaults(mcu, options))]

    def bench(self, models: Any = None, *mcu: Any, **options: Any) -> "pd.DataFrame":
        """:func:`mcusim.bench` with this session's defaults (a DataFrame)."""
        from mcusim.api import bench_table
        return bench_table(self.bench_records(models, *mcu, **options))

    def _defaults(self, mcu: tuple, options: dict[str, Any]) -> dict[str, Any]:
        if not mcu:
            options.setdefault("mcu", self.mcu)
        options.setdefault("mode", self.mode)
        return options

    def _keep(self, rec: "RunRecord") -> "RunRecord":
        self.records.append(rec)
        name = rec.name
        props = {"outcome": rec.outcome, "cycles": rec.inference_cycles,
                 "latency_ms": rec.latency_ms, "energy_uj": rec.energy_uj,
                 "flash_bytes": rec.flash_bytes, "ram_bytes": rec.ram_bytes}
        for k, v in props.items():
            if v is not None:
                self.node.user_properties.append((f"mcusim.{name}.{k}", v))
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.node.nodeid}-{name}")
            n = sum(1 for r in self.records if r.name == name)
            rec.to_json(self._dir / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json"))
        return rec


@pytest.fixture
def mcusim(request: pytest.FixtureRequest) -> McusimFixture:
    """The mcusim API (run, infer, bench, load_mcu...) with the session's MCU and mode."""
    cfg = request.config
    mcu = cfg.getoption("--mcusim-mcu") or cfg.getini("mcusim_mcu") or "stm32l4r5"
    mode = cfg.getoption("--mcusim-mode") or cfg.getini("mcusim_mode") or "fast"
    return McusimFixture(request.node, mcu, mode, cfg.getoption("--mcusim-records"))
