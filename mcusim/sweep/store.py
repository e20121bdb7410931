"""The results store of a sweep: a directory of Parquet files, one row per (point, workload).

    <store>/
      sweep.json            what wrote it: spec name and hash, parameters, objectives,
                            mcusim version, base MCU and its catalog hash
      references.json       reference outputs (workload on the base MCU), by reference key
      part-000001.parquet   rows, in the order they were flushed (a few seconds apart)
      part-000002.parquet   ...

Rows are flushed while the sweep runs (at most a few seconds of results are lost to a
crash; an interrupted sweep flushes before it exits), and the parts are merged into one at
the end of a sweep. A row's ``run_key`` names everything its result depends on
(mcusim.sweep.plan): rerunning a spec skips the runs whose key is stored. When the same
(point, workload) was stored twice, the later row wins.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mcusim.errors import UserError

_PART = re.compile(r"part-(\d{6})\.parquet$")
KEY_COLUMNS = ["point_id", "workload"]


def _require_pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UserError("the sweep results store needs pyarrow (pip install pyarrow)") from None


class Store:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._buf: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()

    # ---- files
    def parts(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if _PART.match(p.name))

    def _next_part(self) -> Path:
        parts = self.parts()
        n = int(_PART.match(parts[-1].name).group(1)) + 1 if parts else 1
        return self.path / f"part-{n:06d}.parquet"

    def ensure(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create the results store {self.path}: {e.strerror}") from None
        if any(self.path.iterdir()) and not (self.path / "sweep.json").exists() \
                and not self.parts():
            raise UserError(f"{self.path} is not empty and not a sweep results store")

    def read_json(self, name: str) -> dict:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read {self.path / name}: {e}") from None

    def write_json(self, name: str, data: Mapping) -> None:
        p = self.path / name
        tmp = p.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n",
                       encoding="utf-8")
        os.replace(tmp, p)

    # ---- rows
    def load(self):
        """All stored rows as a DataFrame (the later of two rows of a run wins)."""
        import pandas as pd
        _require_pyarrow()
        frames = []
        for p in self.parts():
            try:
                frames.append(pd.read_parquet(p))
            except Exception as e:  # noqa: BLE001  (a torn file from a crash: say which)
                raise UserError(f"cannot read {p}: {e} (remove the file to recompute its rows)") from None
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=KEY_COLUMNS + ["run_key"])
        df = typed(pd.concat(frames, ignore_index=True)) if len(frames) > 1 else frames[0]
        return df.drop_duplicates(subset=KEY_COLUMNS, keep="last").reset_index(drop=True)

    def add(self, row: Mapping[str, Any], every_s: float = 2.0, every_n: int = 64) -> bool:
        """Buffer a row; flush when the buffer is old or large enough. True when flushed."""
        self._buf.append(dict(row))
        if len(self._buf) >= every_n or time.monotonic() - self._last_flush >= every_s:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        if not self._buf:
            return
        self._write(self._buf, self._next_part())
        self._buf = []
        self._last_flush = time.monotonic()

    def _write(self, rows: Iterable[Mapping[str, Any]], path: Path) -> None:
        _require_pyarrow()
        df = _frame(list(rows))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)

    def rewrite(self, df) -> None:
        """Replace every part by one holding ``df`` (compaction; invalid rows dropped)."""
        old = self.parts()
        if len(old) == 1 and len(df) == _rows_in(old[0]):
            return
        if len(df):
            new = self._next_part()
            self._write(df.to_dict("records"), new)
        for p in old:
            p.unlink()


def _rows_in(p: Path) -> int:
    import pyarrow.parquet as pq
    return pq.ParquetFile(p).metadata.num_rows


# columns whose type must not depend on which rows a part holds (all null, say)
FLOAT_COLUMNS = ("latency_ms", "energy_uj", "avg_power_mw", "cpi", "clock_mhz",
                 "host_seconds", "task_seconds", "queue_seconds")
INT_COLUMNS = ("exit_code", "cycles", "run_cycles", "instructions", "flash_bytes", "ram_bytes",
               "arena_bytes", "stack_peak_bytes", "flash_wait_states", "mcu_ram_bytes",
               "mcu_flash_bytes", "warnings", "point_index", "worker_pid")
STR_COLUMNS = ("outcome_message", "stdout_tail", "output_sha256", "expected_sha256",
               "kernels", "firmware", "firmware_sha256", "model_sha256", "catalog_sha256")


def typed(df):
    """Fixed dtypes for the known columns (nullable ints and booleans)."""
    import pandas as pd
    for c in df.columns:
        if c in FLOAT_COLUMNS:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        elif c in INT_COLUMNS or (c.endswith("_cycles") and c != "point"):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
        elif c == "output_correct":
            df[c] = df[c].astype("boolean")
        elif c in STR_COLUMNS:
            df[c] = df[c].astype("string")
    return df


def _frame(rows: list[dict[str, Any]]):
    """Rows -> DataFrame with Parquet-friendly columns (lists/tables as JSON text)."""
    import pandas as pd
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c in FLOAT_COLUMNS or c in INT_COLUMNS or c in STR_COLUMNS or c == "output_correct":
            continue
        if df[c].dtype == object:
            vals = df[c].tolist()
            if any(isinstance(v, (list, tuple, dict)) for v in vals):
                df[c] = [json.dumps(v, sort_keys=True) if isinstance(v, (list, tuple, dict))
                         else (None if v is None else str(v)) for v in vals]
            elif any(isinstance(v, str) for v in vals) and not all(
                    v is None or isinstance(v, str) for v in vals):
                df[c] = [None if v is None else str(v) for v in vals]
    return typed(df)


def load(path: str | os.PathLike):
    """A sweep's results as a pandas DataFrame: one row per (point, workload) with every
    parameter and metric (docs/sweep.md). ``path``: the store directory, or the spec file
    (its store)."""
    p = Path(path)
    if p.is_file() and p.suffix == ".toml":
        from mcusim.sweep.spec import load_spec
        p = load_spec(p).store_path
    if not p.is_dir():
        raise UserError(f"no sweep results store at {p}")
    st = Store(p)
    if not st.parts() and not (p / "sweep.json").exists():
        raise UserError(f"{p} is not a sweep results store (no sweep.json or part-*.parquet)")
    return st.load()
