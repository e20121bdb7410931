"""What a Dask worker runs: one simulation per task, one at a time per process.

A task gets a :class:`Job` (the point's catalog changes and run options, the workload) and
the base MCU; it derives the point's MCU, runs the workload through the public API
(``mcusim.infer`` / ``mcusim.run``) and returns the row's metrics. Nothing is shared
between tasks but read-only caches keyed by content, which let the points of a worker that
share an ELF, a model or an MCU skip work done for an earlier point:

* parsed firmware ELFs (``mcusim.elf.load_firmware``, keyed by the ELF's sha256) and built-in
  model bytes (``mcusim.tflite.builtin``), in the library itself;
* derived MCUs (keyed by the base MCU's content hash and the changes), here;
* user files shipped by content (models, ELFs), written once per worker, here.

A process-wide lock keeps one simulation per process even on a worker with several threads.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcusim.sweep.spec import Workload, canonical

_LOCK = threading.Lock()
_MCUS: OrderedDict[str, Any] = OrderedDict()
_MCU_CACHE_SIZE = 64
_FILES: dict[str, str] = {}

CAUSES = ("core", "branch", "memory", "exception", "bus", "sleep")


@dataclass
class Job:
    """One (point, workload) to simulate."""
    base_key: str                     # content hash of the base MCU (cache key)
    changes: dict[str, Any]           # catalog changes of the point (None removes)
    workload: Workload
    kernels: str | None
    mode: str
    max_cycles: int | None
    timeout: float | None
    input_bytes: bytes | None = None
    model_name: str | None = None     # a user .tflite: its file name (its bytes: model_blob)
    elf_name: str | None = None       # a user ELF / inference image: its file name


def simulate(job: Job, base: Any, model_blob: bytes | None = None,
             elf_blob: bytes | None = None) -> dict[str, Any]:
    """Run one job; the metrics of its row. A run the simulator rejects (a model that does
    not fit the point's memory...) is outcome ``rejected``; an internal error ``error``."""
    t0 = time.perf_counter()
    with _LOCK:
        t1 = time.perf_counter()
        try:
            out = _simulate(job, base, model_blob, elf_blob)
        except Exception as e:  # noqa: BLE001  (a row says what went wrong; the sweep goes on)
            from mcusim.errors import UserError
            if isinstance(e, UserError):
                out = {"outcome": "rejected", "outcome_message": str(e)}
            else:
                tb = traceback.extract_tb(e.__traceback__)
                where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
                out = {"outcome": "error", "outcome_message": f"{type(e).__name__}: {e}{where}"}
        t2 = time.perf_counter()
    out["task_seconds"] = t2 - t1
    out["queue_seconds"] = t1 - t0
    out["worker_pid"] = os.getpid()
    return out


def _mcu(job: Job, base: Any) -> Any:
    if not job.changes:
        return base
    key = job.base_key + canonical(job.changes)
    m = _MCUS.get(key)
    if m is None:
        m = base.derive(job.changes, name=base.name + "+sweep")
        _MCUS[key] = m
        while len(_MCUS) > _MCU_CACHE_SIZE:
            _MCUS.popitem(last=False)
    else:
        _MCUS.move_to_end(key)
    return m


def _file(name: str, data: bytes) -> str:
    """A user file on this worker's disk, written once (named by its content hash)."""
    import hashlib
    sha = hashlib.sha256(data).hexdigest()
    p = _FILES.get(sha)
    if p is None or not os.path.exists(p):
        d = Path(tempfile.gettempdir()) / f"mcusim-sweep-{os.getuid() if hasattr(os, 'getuid') else 0}" / sha[:32]
        d.mkdir(parents=True, exist_ok=True)
        path = d / name
        if not path.exists() or path.stat().st_size != len(data):
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        p = _FILES[sha] = str(path)
    return p


def _simulate(job: Job, base: Any, model_blob: bytes | None, elf_blob: bytes | None) -> dict:
    import mcusim
    w = job.workload
    mcu = _mcu(job, base)
    max_cycles = w.max_cycles or job.max_cycles
    timeout = w.timeout or job.timeout
    elf = _file(job.elf_name or "image.elf", elf_blob) if elf_blob is not None else None
    if w.kind == "run":
        rec = mcusim.run(elf, mcu, mode=job.mode, max_cycles=max_cycles, timeout=timeout,
                         uart_input=w.uart_input)
    else:
        model = w.model if model_blob is None else _file(job.model_name or "model.tflite",
                                                         model_blob)
        rec = mcusim.infer(model, mcu, kernels=job.kernels, input=job.input_bytes,
                           count=w.count, warmup=w.warmup, mode=job.mode,
                           max_cycles=max_cycles, timeout=timeout, elf=elf)
    return metrics(rec, mcu)


def metrics(rec: Any, mcu: Any) -> dict[str, Any]:
    """A run record as the metric columns of a sweep row."""
    p = rec.provenance
    ok = rec.ok
    infer = rec.kind == "infer"
    if infer:
        causes: dict[str, int] = {}
        for layer in rec.layer_rows:
            for k, v in (layer.get("stalls") or {}).items():
                causes[k] = causes.get(k, 0) + int(v)
    else:
        causes = dict(rec.stalls or {})
    out = {
        "outcome": rec.outcome,
        "exit_code": rec.exit_code,
        "outcome_message": rec.outcome_message,
        "latency_ms": rec.latency_ms if ok else None,
        "cycles": rec.inference_cycles if ok else None,
        "run_cycles": rec.cycles,
        "instructions": rec.instructions,
        "energy_uj": rec.energy_uj if ok else None,
        "avg_power_mw": rec.avg_power_mw if ok else None,
        "flash_bytes": rec.flash_bytes,
        "ram_bytes": rec.ram_bytes,
        "arena_bytes": rec.arena_bytes,
        "stack_peak_bytes": rec.stack_peak_bytes,
        "cpi": rec.cpi,
        "clock_mhz": rec.clock_hz / 1e6 if rec.clock_hz else None,
        "core": rec.core,
        "flash_wait_states": _flash_ws(mcu, rec),
        "mcu_ram_bytes": mcu.ram_bytes(),
        "mcu_flash_bytes": mcu.flash_bytes(),
        "output_sha256": rec.output_sha256,
        "stdout_tail": (rec.stdout or "")[-2000:] if not infer else None,
        "host_seconds": rec.host_seconds,
        "warnings": len(rec.warnings or []),
        "mcusim_version": p.mcusim_version if p else None,
        "catalog_sha256": p.catalog_sha256 if p else None,
        "firmware": p.firmware if p else None,
        "firmware_sha256": p.firmware_sha256 if p else None,
        "model_sha256": p.model_sha256 if p else None,
    }
    for c in CAUSES:
        out[f"{c}_cycles"] = causes.pop(c, 0) if ok or not infer else None
    for c, v in causes.items():          # causes this sweep did not know (accelerators...)
        out[f"{c}_cycles"] = v
    return out


def _flash_ws(mcu: Any, rec: Any) -> int | None:
    try:
        return mcu.flash_wait_states(rec.clock_hz / 1e6) if rec.clock_hz else None
    except Exception:  # noqa: BLE001  (a clock outside the table: no figure)
        return None
