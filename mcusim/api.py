"""The public Python API of mcusim (reference: docs/api.md).

    import mcusim
    rec = mcusim.infer("kws", mcu="stm32l4r5", kernels="opt")
    rec.latency_ms, rec.energy_uj, rec.layers          # a RunRecord; .layers is a DataFrame
    rec = mcusim.run("firmware.elf", mcu="stm32u585", max_cycles=10**8)
    df = mcusim.bench(["kws", "ad"], mcu="stm32l4r5")   # one row per model
    slow = mcusim.load_mcu("stm32l4r5").derive({"flash.accelerator": None})
    mcusim.infer("ad", mcu=slow)

Every run returns a :class:`RunRecord`: the JSON run record of the contract in
DESIGN.md (``to_dict()``/``to_json()``), typed, with its energy (always computed when the
MCU has a power model) and its provenance (:mod:`mcusim.provenance`). The command line is a
thin layer over these functions, so a record from Python and one from ``--json`` are the
same.

Errors a caller can cause (unknown MCU, bad catalog value, unreadable ELF or model, a model
that does not fit) raise :class:`mcusim.UserError` (a subclass of ``Exception``;
``CatalogError`` is one) with a one-line message.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence, Union

from mcusim.errors import UserError
from mcusim.provenance import Provenance, provenance, sha256_bytes

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mcusim.catalog import McuSpec
    from mcusim.machine import Machine
    from mcusim.trace import RunTrace

__all__ = [
    "RunRecord", "run", "infer", "bench", "bench_records", "bench_table", "bench_json",
    "check_models",
    "load_mcu", "derive", "default_kernels", "load_record", "benchmark_names",
    "DEFAULT_MCU", "BUILTIN_MODELS", "BENCH_COLUMNS",
]

DEFAULT_MCU = "stm32l4r5"
BUILTIN_MODELS = ("kws", "vww", "ic", "ad")
MODES = ("fast", "detailed")

McuLike = Union[str, "os.PathLike[str]", "McuSpec"]
PathLike = Union[str, "os.PathLike[str]"]
InputLike = Union["np.ndarray", bytes, str, "os.PathLike[str]", None]
Progress = Callable[["Machine"], None]


# --------------------------------------------------------------------------- the record

# JSON key -> attribute, in the order the record is written. The first block is the
# DESIGN.md contract; keys of a later stage that has not run are null.
_CONTRACT = [
    ("mcu", "mcu"), ("core", "core"), ("clock_hz", "clock_hz"), ("mode", "mode"),
    ("outcome", "outcome"), ("exit_code", "exit_code"), ("cycles", "cycles"),
    ("instructions", "instructions"), ("seconds", "seconds"), ("energy_j", "energy_j"),
    ("avg_power_w", "avg_power_w"), ("stdout", "stdout"), ("fault", "fault"),
    ("functions", "function_rows"), ("layers", "layer_rows"),
    ("power_states", "power_state_rows"), ("memory", "memory"),
]
_ADDITIONS = [
    ("kind", "kind"), ("outcome_message", "outcome_message"), ("limit", "limit"),
    ("exceptions_taken", "exceptions_taken"), ("stalls", "stalls"), ("system", "system"),
    ("cpi", "cpi"), ("runtime_error", "runtime_error"), ("host_seconds", "host_seconds"),
    ("verify", "verify"), ("peak_power_w", "peak_power_w"), ("vdd_v", "vdd_v"),
    ("power_model", "power_model"), ("power_data", "power_data"),
    ("power_data_reason", "power_data_reason"), ("warnings", "warnings"),
]
# written for infer records (null when not reached); for run records only when set
_INFER = [
    ("model", "model"), ("kernels", "kernels"), ("image", "image"),
    ("image_target", "image_target"), ("output_sha256", "output_sha256"), ("inference", "inference"),
    ("inference_energy_j", "inference_energy_j"),
    ("inference_avg_power_w", "inference_avg_power_w"),
]
# written only when set
_OPTIONAL = [("power_warnings", "power_warnings"), ("benchmark", "benchmark")]
_ALL_KEYS = _CONTRACT + _ADDITIONS + _INFER + _OPTIONAL
_KNOWN = {k for k, _ in _ALL_KEYS} | {"provenance"}


@dataclass(repr=False)
class RunRecord:
    """One run's results: the JSON run record (DESIGN.md), typed.

    ``to_dict()`` gives exactly the JSON record (the contract keys, then additions:
    ``kind``, ``stalls`` (cycles by cause), ``provenance``, and for inference ``model``,
    ``kernels``, ``output_sha256``, ``inference``...). The tables are pandas DataFrames:
    ``layers``, ``functions``, ``power_states``; their plain rows are ``layer_rows``,
    ``function_rows``, ``power_state_rows``.

    Figures for gating and comparing (per inference for inference records, for the whole
    run otherwise): ``latency_ms``, ``inference_cycles``, ``energy_uj``, ``flash_bytes``,
    ``ram_bytes``, ``arena_bytes``, ``stack_peak_bytes``.
    """

    mcu: str
    core: str
    clock_hz: float
    mode: str
    outcome: str | None
    exit_code: int | None
    cycles: int
    instructions: int
    seconds: float
    energy_j: float | None
    avg_power_w: float | None
    stdout: str
    fault: dict[str, Any] | None
    function_rows: list[dict[str, Any]]
    layer_rows: list[dict[str, Any]]
    power_state_rows: dict[str, dict[str, Any]]
    memory: dict[str, Any]
    kind: str = "run"                                   # run | infer
    outcome_message: str | None = None                  # why a run did not exit cleanly
    limit: str | None = None
    exceptions_taken: int | None = None
    stalls: dict[str, int] | None = None                # cycles by cause
    system: dict[str, Any] | None = None
    cpi: float | None = None
    runtime_error: dict[str, int] | None = None
    host_seconds: float | None = None
    verify: dict[str, Any] | None = None
    peak_power_w: float | None = None
    vdd_v: float | None = None
    power_model: str | None = None
    power_data: str | None = None                       # "sourced" | "placeholder" catalog
    power_data_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    model: str | None = None
    kernels: str | None = None
    image: str | None = None
    image_target: str | None = None
    output_sha256: str | None = None
    inference: dict[str, Any] | None = None
    inference_energy_j: float | None = None
    inference_avg_power_w: float | None = None
    power_warnings: list[str] | None = None
    benchmark: str | None = None                        # its name in a bench
    provenance: Provenance | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know
    output: "np.ndarray | None" = field(default=None, compare=False)   # inference output
    trace: "RunTrace | None" = field(default=None, compare=False)      # not serialized

    # ---- serialization
    def to_dict(self) -> dict[str, Any]:
        """The JSON run record (DESIGN.md keys, then additions, then ``provenance``)."""
        d: dict[str, Any] = {}
        for key, attr in _CONTRACT + _ADDITIONS:
            d[key] = getattr(self, attr)
        for key, attr in _INFER:
            v = getattr(self, attr)
            if self.kind == "infer" or v is not None:
                d[key] = v
        for key, attr in _OPTIONAL:
            v = getattr(self, attr)
            if v:
                d[key] = v
        d["provenance"] = self.provenance.to_dict() if self.provenance else None
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    def to_json(self, path: PathLike | None = None, *, indent: int | None = 1) -> str:
        """The record as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent) + "\n"
        if path is not None:
            _write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], **overrides: Any) -> "RunRecord":
        """A record from its JSON dict (a file written by ``--json`` or ``to_json``)."""
        if not isinstance(d, Mapping) or "cycles" not in d or "outcome" not in d:
            raise UserError("not an mcusim run record (no 'cycles'/'outcome' keys)")
        kw: dict[str, Any] = {}
        for key, attr in _ALL_KEYS:
            if key in d:
                kw[attr] = d[key]
        kw.setdefault("kind", "infer" if "model" in d and "inference" in d else "run")
        for key, attr in _CONTRACT:
            kw.setdefault(attr, [] if attr.endswith("_rows") and attr != "power_state_rows"
                          else {} if attr in ("power_state_rows", "memory") else None)
        kw["warnings"] = list(kw.get("warnings") or [])
        kw["provenance"] = Provenance.from_dict(d.get("provenance"))
        kw["extra"] = {k: v for k, v in d.items() if k not in _KNOWN}
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def from_json(cls, path: PathLike) -> "RunRecord":
        return cls.from_dict(_read_json(path))

    # ---- tables
    @property
    def layers(self) -> "pd.DataFrame":
        """One row per layer: index, op, shape, macs, cycles, energy_j, and the cycles by
        cause (``core_cycles``, ``branch_cycles``, ``memory_cycles``...)."""
        import pandas as pd
        cols = ["index", "op", "shape", "macs", "cycles", "energy_j"]
        rows = []
        for r in self.layer_rows:
            row = {c: r.get(c) for c in cols}
            for cause, v in (r.get("stalls") or {}).items():
                row[f"{cause}_cycles"] = v
            if "unit" in r:             # accelerators (docs/accelerators.md)
                from mcusim.accelerators.report import layer_columns
                row.update(layer_columns(r))
            rows.append(row)
        return pd.DataFrame(rows, columns=_columns(cols, rows))

    @property
    def functions(self) -> "pd.DataFrame":
        """One row per function (exclusive cycles, largest first): name, cycles,
        instructions, energy_j, inclusive_cycles and calls (with ``profile=True``)."""
        import pandas as pd
        cols = ["name", "cycles", "instructions", "energy_j", "inclusive_cycles", "calls"]
        return pd.DataFrame([{c: r.get(c) for c in cols} for r in self.function_rows],
                            columns=cols)

    @property
    def power_states(self) -> "pd.DataFrame":
        """One row per power state: state, seconds, energy_j."""
        import pandas as pd
        rows = [{"state": k, "seconds": v.get("seconds"), "energy_j": v.get("energy_j")}
                for k, v in self.power_state_rows.items()]
        return pd.DataFrame(rows, columns=["state", "seconds", "energy_j"])

    # ---- figures
    @property
    def ok(self) -> bool:
        """The firmware exited with status 0 (for inference: the inference ran)."""
        return self.outcome == "exit" and self.exit_code == 0

    @property
    def inference_cycles(self) -> int | None:
        """Cycles of one inference (the mean of the measured ones: ``inference`` has each,
        the min and the max); the run's cycles for a run."""
        if self.kind == "infer":
            return (self.inference or {}).get("cycles")
        return self.cycles

    @property
    def latency_ms(self) -> float | None:
        """Milliseconds of one inference (the mean of the measured ones); of the whole run
        for a run record."""
        if self.kind == "infer":
            return (self.inference or {}).get("latency_ms")
        return self.seconds * 1e3 if self.seconds is not None else None

    @property
    def inferences_per_s(self) -> float | None:
        lat = self.latency_ms
        return 1e3 / lat if lat else None

    @property
    def energy_uj(self) -> float | None:
        """Microjoules of one inference (the mean of the measured ones); of the whole run for
        a run record."""
        e = self.inference_energy_j if self.kind == "infer" else self.energy_j
        return e * 1e6 if e is not None else None

    @property
    def avg_power_mw(self) -> float | None:
        p = self.inference_avg_power_w if self.kind == "infer" else self.avg_power_w
        return p * 1e3 if p is not None else None

    @property
    def flash_bytes(self) -> int | None:
        return self.memory.get("flash_bytes")

    @property
    def ram_bytes(self) -> int | None:
        return self.memory.get("ram_bytes")

    @property
    def arena_bytes(self) -> int | None:
        return self.memory.get("arena_bytes")

    @property
    def stack_peak_bytes(self) -> int | None:
        return self.memory.get("stack_peak_bytes")

    @property
    def name(self) -> str:
        """The benchmark name, else the model, else the firmware file's stem."""
        if self.benchmark:
            return self.benchmark
        if self.model:
            return self.model
        fw = self.provenance.firmware if self.provenance else None
        return Path(fw).stem if fw else "run"

    def to_row(self) -> dict[str, Any]:
        """This run as one bench row (the columns of :data:`BENCH_COLUMNS`); the figures
        are null when the run failed."""
        p = self.provenance
        ok = self.ok
        lat = self.latency_ms if ok else None
        return {
            "benchmark": self.name, "model": self.model,
            "model_sha256": p.model_sha256 if p else None,
            "mcu": self.mcu, "core": self.core, "clock_hz": self.clock_hz,
            "kernels": self.kernels, "mode": self.mode, "outcome": self.outcome,
            "latency_ms": lat, "inferences_per_s": (1e3 / lat) if lat else None,
            "cycles": self.inference_cycles if ok else None,
            "energy_uj": self.energy_uj if ok else None,
            "avg_power_mw": self.avg_power_mw if ok else None,
            "power_data": self.power_data,
            "flash_bytes": self.flash_bytes if ok else None,
            "ram_bytes": self.ram_bytes if ok else None,
            "arena_bytes": self.arena_bytes if ok else None,
            "stack_peak_bytes": self.stack_peak_bytes if ok else None,
            "firmware": p.firmware if p else None,
            "firmware_sha256": p.firmware_sha256 if p else None,
            "catalog_sha256": p.catalog_sha256 if p else None,
            "mcusim_version": p.mcusim_version if p else None,
        }

    def __repr__(self) -> str:
        what = f"{self.kind} {self.name} on {self.mcu} ({self.core}, {self.clock_hz / 1e6:g} MHz"
        what += f", {self.kernels} kernels)" if self.kernels else ")"
        res = f"{self.outcome}" + (f" {self.exit_code}" if self.outcome == "exit" else "")
        lat, e = self.latency_ms, self.energy_uj
        figs = f"{self.inference_cycles or 0:,} cycles" + (f", {lat:.3f} ms" if lat else "") \
            + (f", {e:.1f} uJ" if e else "")
        return f"RunRecord({what}: {res}, {figs})"


BENCH_COLUMNS = [  # RunRecord.to_row(), in this order
    "benchmark", "model", "model_sha256", "mcu", "core", "clock_hz", "kernels", "mode",
    "outcome", "latency_ms", "inferences_per_s", "cycles", "energy_uj", "avg_power_mw",
    "power_data", "flash_bytes", "ram_bytes", "arena_bytes", "stack_peak_bytes", "firmware",
    "firmware_sha256", "catalog_sha256", "mcusim_version",
]


def _columns(first: list[str], rows: list[dict]) -> list[str]:
    cols = list(first)
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def load_record(path: PathLike) -> RunRecord:
    """Read a run record written by ``--json`` or ``RunRecord.to_json``."""
    return RunRecord.from_json(path)


# --------------------------------------------------------------------------- catalogs

def load_mcu(name_or_path: McuLike, changes: Mapping[str, Any] | None = None) -> "McuSpec":
    """A catalog MCU by name (``"stm32l4r5"``) or a user's .toml path, validated; with
    ``changes`` (dotted catalog key -> value, ``None`` removes), a derived variant validated
    exactly as a catalog file would be. ``mcu.knobs()`` lists the keys."""
    from mcusim.catalog import McuSpec, load_mcu as _load
    spec = name_or_path if isinstance(name_or_path, McuSpec) else _load(os.fspath(name_or_path))
    return spec.derive(changes) if changes else spec


def derive(mcu: McuLike, changes: Mapping[str, Any], name: str | None = None) -> "McuSpec":
    """A modified MCU: ``derive("stm32l4r5", {"flash.accelerator": None}, "l4-no-art")``.
    Same validation as a catalog file (unknown keys, types, ranges, overlaps)."""
    return load_mcu(mcu).derive(changes, name)


def default_kernels(mcu: McuLike) -> str:
    """``opt`` where the core has the DSP extension and an opt image exists, else ``ref``."""
    from mcusim.infer import firmware_dir, image_target
    spec = load_mcu(mcu)
    target = image_target(spec.core)
    has_opt = target is not None and (firmware_dir() / target / "infer-opt.elf").exists()
    return "opt" if spec.core.has_dsp and has_opt else "ref"


# --------------------------------------------------------------------------- runs

def run(elf: PathLike, mcu: McuLike = DEFAULT_MCU, *, clock_mhz: float | None = None,
        mode: str = "fast", max_cycles: int | None = None, timeout: float | None = None,
        uart_input: bytes | str = b"", semihost_dir: PathLike | None = None,
        stdin: Any = None, echo: bool = False, profile: bool = False,
        verify: bool | int = False, progress: Progress | None = None,
        warn: Callable[[str], None] | None = None, force: bool = False) -> RunRecord:
    """Run a firmware ELF to its end (semihosting exit), a fault or a limit.

    ``uart_input``: bytes the console UART receives. ``semihost_dir``: let semihosting
    file calls use files inside it. ``stdin``: a binary file semihosting reads console
    input from. ``echo``: copy the firmware's output to this process's stdout/stderr (it
    is in ``record.stdout`` either way). ``profile``: also the call tree (inclusive
    cycles and calls per function). ``verify``: shadow the run with a hook-free reference
    CPU (an int: checkpoint interval in cycles); outcome ``diverged`` when they differ.
    ``warn`` receives the simulator's warnings (also in ``record.warnings``). ``force``: run
    an ELF whose build attributes name another core than the MCU's (refused otherwise)."""
    from mcusim.elf import check_core, load_firmware
    from mcusim.machine import Machine

    spec = load_mcu(mcu)
    _check_run_args(mode, clock_mhz, max_cycles, timeout, spec)
    fw = load_firmware(os.fspath(elf))
    check_core(fw, spec, force)
    warnings: list[str] = []

    def _warn(msg: str) -> None:
        warnings.append(msg)
        if warn is not None:
            warn(msg)

    sink = None if echo else _Null()
    uart = uart_input.encode() if isinstance(uart_input, str) else bytes(uart_input or b"")
    m = Machine(spec, clock_mhz=clock_mhz, mode=mode, uart_input=uart,
                semihost_dir=os.fspath(semihost_dir) if semihost_dir else None,
                stdout=sink, stderr=sink, warn=_warn, profile=profile)
    m.load(fw)
    m.reset()
    if verify:
        from mcusim.verify import attach
        attach(m, None if verify is True else int(verify))
    if stdin is not None:
        m.semihost.stdin_source = stdin
    m.run(max_cycles=max_cycles, timeout=timeout, progress=progress)
    options = {"clock_mhz": clock_mhz, "max_cycles": max_cycles, "timeout": timeout,
               "uart_input_sha256": sha256_bytes(uart) if uart else None,
               "semihost_dir": bool(semihost_dir), "profile": profile, "verify": verify}
    prov = provenance(spec, mode=mode, firmware=fw.path, options=options)
    return _record(m, kind="run", prov=prov, warnings=warnings)


def infer(model: PathLike, mcu: McuLike = DEFAULT_MCU, *, kernels: str | None = None,
          input: InputLike = None, count: int = 1, warmup: int = 0,
          clock_mhz: float | None = None, mode: str = "fast", max_cycles: int | None = None,
          timeout: float | None = None, elf: PathLike | None = None,
          verify: bool | int = False, progress: Progress | None = None) -> RunRecord:
    """Run inference of a model on an MCU: a built-in model (``"kws"``, ``"vww"``, ``"ic"``,
    ``"ad"``) or a .tflite file, in the model slot of the prebuilt inference image for the
    MCU's core (or ``elf``: your own image built from firmware_images/).

    ``kernels``: ``"ref"`` or ``"opt"`` (default: :func:`default_kernels`). ``input``: an
    array (int8/uint8, or float to quantize), raw bytes, or a .npy path; default: random
    int8 from seed 0. ``count`` measured inferences after ``warmup`` ones; the record's
    ``inference`` has each one's cycles, ``layers`` their mean per layer. The output tensor
    is ``record.output``."""
    from mcusim.infer import load_model_bytes, run_inference

    spec = load_mcu(mcu)
    _check_run_args(mode, clock_mhz, max_cycles, timeout, spec)
    if count < 1 or warmup < 0:
        raise UserError(f"count must be at least 1 and warmup at least 0 (got {count}, {warmup})")
    k = kernels or default_kernels(spec)
    from mcusim.infer import KERNEL_SETS
    if k not in KERNEL_SETS:
        raise UserError(f"unknown kernel set {k!r} ({', '.join(KERNEL_SETS)})")
    spec_s = os.fspath(model)
    name, data = load_model_bytes(spec_s)
    inp = _input_bytes(input, data, spec_s)
    r = run_inference(spec_s, spec, kernels=k, input_bytes=inp, count=count, warmup=warmup,
                      clock_mhz=clock_mhz, mode=mode, max_cycles=max_cycles, timeout=timeout,
                      elf=os.fspath(elf) if elf else None, progress=progress, verify=verify)
    m = r.machine
    options = {"kernels": k if elf is None else None, "count": count, "warmup": warmup,
               "clock_mhz": clock_mhz, "max_cycles": max_cycles, "timeout": timeout,
               "input_sha256": sha256_bytes(inp) if inp is not None else None,
               "elf": bool(elf), "verify": verify}
    prov = provenance(spec, mode=mode, firmware=m.fw.path if m.fw else None, model=name,
                      model_bytes=data, options=options)
    rec = _record(m, kind="infer", prov=prov, data=r.record)
    rec.output = r.output
    return rec


def benchmark_names(models: Sequence[PathLike]) -> list[str]:
    """Unique names for a list of models: the built-in name or the file's stem; models
    whose stems collide are named by their path without ``.tflite`` (``a/kws``,
    ``b/kws``), and a model given twice gets ``#2``, ``#3``..."""
    specs = [os.fspath(s) for s in models]
    stems = [s if s in BUILTIN_MODELS else Path(s).stem for s in specs]
    names = []
    for s, stem in zip(specs, stems):
        if stems.count(stem) > 1 and s not in BUILTIN_MODELS:
            p = Path(s)
            stem = str(p.with_suffix("")) if p.suffix == ".tflite" else s
        names.append(stem)
    out, seen = [], {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def _model_list(models: str | PathLike | Sequence[PathLike]) -> list[str]:
    if isinstance(models, (str, os.PathLike)):
        s = os.fspath(models)
        items = [x.strip() for x in s.split(",")] if not os.path.exists(s) else [s]
    else:
        items = [os.fspath(x) for x in models]
    items = [x for x in items if x]
    if not items:
        raise UserError("no models to run (give built-in names kws, vww, ic, ad and/or .tflite files)")
    return items


def check_models(models: str | Sequence[PathLike]) -> list[str]:
    """Read and check every model of a bench (a comma-separated string or a list) before any
    runs: built-in names or .tflite files the runtime supports. Returns the list."""
    from mcusim.infer import load_model_bytes
    from mcusim.tflite import ModelError, read_model
    items = _model_list(models)
    for s in items:
        _, data = load_model_bytes(s)
        try:
            read_model(data, supported_only=True)
        except ModelError as e:
            raise UserError(f"{s}: {e}") from None
    return items


def bench_records(models: str | Sequence[PathLike] = BUILTIN_MODELS, mcu: McuLike = DEFAULT_MCU,
                  *, kernels: str | None = None, clock_mhz: float | None = None,
                  mode: str = "fast", warmup: int = 0, timeout: float | None = None,
                  verify: bool | int = False,
                  progress: Callable[[str], Progress | None] | None = None
                  ) -> Iterator[RunRecord]:
    """Run each model once (like :func:`infer`) and yield its record as it finishes, named
    (``record.benchmark``) by :func:`benchmark_names`. Every model is read and checked
    before the first one runs. ``progress(name)`` may return a per-run progress callback."""
    spec = load_mcu(mcu)
    _check_run_args(mode, clock_mhz, None, timeout, spec)
    if warmup < 0:
        raise UserError(f"warmup must be at least 0 (got {warmup})")
    items = check_models(models)          # bad input before any run
    k = kernels or default_kernels(spec)
    for s, name in zip(items, benchmark_names(items)):
        rec = infer(s, spec, kernels=k, clock_mhz=clock_mhz, mode=mode, warmup=warmup,
                    timeout=timeout, verify=verify,
                    progress=progress(name) if progress is not None else None)
        rec.benchmark = name
        yield rec


def bench(models: str | Sequence[PathLike] = BUILTIN_MODELS, mcu: McuLike = DEFAULT_MCU,
          **options: Any) -> "pd.DataFrame":
    """The MLPerf Tiny suite (or your models) on one MCU: a DataFrame with one row per
    model and the columns :data:`BENCH_COLUMNS` (benchmark, model, model_sha256, mcu, core,
    clock_hz, kernels, mode, outcome, latency_ms, cycles, energy_uj, flash/RAM/arena/stack
    bytes, firmware and catalog hashes, mcusim version). Options as :func:`bench_records`.
    For the records themselves (layers, functions), use :func:`bench_records`."""
    return bench_table(list(bench_records(models, mcu, **options)))


def bench_table(records: Sequence[RunRecord]) -> "pd.DataFrame":
    """Bench rows of records as a DataFrame (the columns of :data:`BENCH_COLUMNS`)."""
    import pandas as pd
    return pd.DataFrame([r.to_row() for r in records], columns=BENCH_COLUMNS)


def bench_json(records: Sequence[RunRecord]) -> dict[str, Any]:
    """The ``bench --json`` document: ``{"mcu", "core", "clock_hz", "kernels", "mode",
    "results": [row...]}``; each row has the bench columns and ``record``, the model's
    full run record (what ``mcusim check`` reads for per-layer and per-function figures)."""
    first = records[0] if records else None
    p = first.provenance if first else None
    return {
        "mcu": first.mcu if first else None, "core": first.core if first else None,
        "clock_hz": first.clock_hz if first else None,
        "kernels": first.kernels if first else None, "mode": first.mode if first else None,
        "mcusim_version": p.mcusim_version if p else None,
        "catalog_sha256": p.catalog_sha256 if p else None,
        "power_data": first.power_data if first else None,
        "power_data_reason": first.power_data_reason if first else None,
        "results": [dict(r.to_row(), record=r.to_dict()) for r in records],
    }


# --------------------------------------------------------------------------- helpers

def _record(m: "Machine", *, kind: str, prov: Provenance, warnings: list[str] | None = None,
            data: dict | None = None) -> RunRecord:
    if data is None:
        from mcusim.power.run_energy import add_energy
        from mcusim.record import build_record
        data = build_record(m.trace)
        add_energy(data, m.trace)
    if warnings is not None:
        data["warnings"] = warnings
    return RunRecord.from_dict(data, kind=kind, provenance=prov, trace=m.trace,
                               outcome_message=outcome_message(m, kind))


def outcome_message(m: "Machine", kind: str = "run") -> str | None:
    """One line on why a run did not end with exit status 0 (None when it did)."""
    from mcusim.record import fault_line
    if m.outcome == "fault" and m.fault is not None:
        return fault_line(m.fault)
    if m.outcome == "limit":
        return f"limit: {m.limit_reason}"
    if m.outcome == "diverged" and m.verifier is not None and m.verifier.divergence:
        return m.verifier.divergence.line_text()
    if m.outcome == "exit" and m.exit_code and kind == "infer":
        return f"inference image exited with status {m.exit_code}"
    return None


def _check_run_args(mode: str, clock_mhz: float | None, max_cycles: int | None = None,
                    timeout: float | None = None, spec: "McuSpec | None" = None) -> None:
    """Options checked before anything runs: None means 'not given' (the default); 0, a
    negative or a non-finite value is an error, never 'no limit'."""
    import math
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r} (fast or detailed)")
    if clock_mhz is not None and not (isinstance(clock_mhz, (int, float))
                                      and not isinstance(clock_mhz, bool)
                                      and math.isfinite(clock_mhz) and clock_mhz > 0):
        raise UserError(f"clock must be a positive number of MHz, got {clock_mhz!r}")
    if max_cycles is not None and not (isinstance(max_cycles, int)
                                       and not isinstance(max_cycles, bool) and max_cycles >= 1):
        raise UserError(f"max_cycles must be a whole number of cycles >= 1 (or None: no "
                        f"limit), got {max_cycles!r}")
    if timeout is not None and not (isinstance(timeout, (int, float))
                                    and not isinstance(timeout, bool)
                                    and math.isfinite(timeout) and timeout > 0):
        raise UserError(f"timeout must be a positive number of seconds (or None: no "
                        f"limit), got {timeout!r}")
    if spec is not None and spec.power_model:
        from mcusim.power import PowerModel
        PowerModel.from_catalog(spec.power_model, spec)   # a bad power catalog: here, not after the run


def _input_bytes(inp: InputLike, model_data: bytes, model_spec: str) -> bytes | None:
    if inp is None:
        return None
    import numpy as np
    from mcusim.infer import quantize_input
    from mcusim.tflite import ModelError, read_model
    if isinstance(inp, (bytes, bytearray, memoryview)):
        return bytes(inp)
    if isinstance(inp, (str, os.PathLike)):
        try:
            inp = np.load(os.fspath(inp), allow_pickle=False)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read input {os.fspath(inp)}: {e}") from None
    try:
        model = read_model(model_data)
    except ModelError as e:
        raise UserError(f"{model_spec}: {e}") from None
    return quantize_input(model, np.asarray(inp))


def _read_json(path: PathLike) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise UserError(f"cannot read {os.fspath(path)}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{os.fspath(path)}: not valid JSON ({e})") from None


def _write_text(path: PathLike, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise UserError(f"cannot write {os.fspath(path)}: {e.strerror}") from None


class _Null:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass
