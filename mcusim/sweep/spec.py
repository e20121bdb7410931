"""A sweep spec (TOML): the base MCU, the workloads, the parameters to vary and how to search
them; its points, each validated against the catalog schema before anything runs.

    [sweep]
    mcu = "stm32l4r5"            # catalog name or a .toml path (relative to this file)
    search = "grid"              # grid | random | lhs | optuna
    budget = 40                  # points, for random / lhs / optuna
    [[workloads]]
    model = "kws"                # built-in model or .tflite; or elf = "app.elf"
    [params]
    "mcu.clock_mhz" = [40, 80, 120]                      # a list
    "flash.accelerator.icache_lines" = { range = [8, 64, 8] }
    "memory.sram1.read_wait_states" = { values = [0, 1] }
    kernels = ["ref", "opt"]                             # run options: kernels, mode
    [choices.art]                                        # a named choice of change sets
    on = {}
    off = { remove = ["flash.accelerator"] }

Reference: docs/sweep.md. Every problem is a :class:`SpecError` (a ``UserError``: one line,
exit status 2) naming the spec file and the key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from mcusim.errors import UserError

SEARCHES = ("grid", "random", "lhs", "optuna")
RUN_OPTIONS = ("kernels", "mode")          # parameters that are run options, not catalog paths
SPEC_KEYS = ("values", "range", "uniform", "loguniform")
_SWEEP_KEYS = ("name", "mcu", "search", "budget", "seed", "store", "mode", "kernels",
               "max_cycles", "timeout", "workers", "description")
_MODEL_KEYS = ("name", "model", "elf", "input", "expected_output", "count", "warmup",
               "max_cycles", "timeout")
_ELF_KEYS = ("name", "elf", "expected_exit", "expected_stdout", "uart_input", "max_cycles",
             "timeout")
_REPORT_KEYS = ("objectives", "constraints", "plot", "label")


class SpecError(UserError):
    """A bad sweep spec: one line naming the file and the key."""


def _suggest(word: str, choices: Iterable[str]) -> str:
    import difflib
    m = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{m[0]}'?)" if m else ""


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:n]


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class Param:
    """One swept dimension: a catalog path (or a run option) with discrete values or a
    continuous distribution, or a named choice whose options are change sets."""
    name: str
    values: tuple = ()                    # discrete values (choice: option labels)
    dist: str | None = None               # uniform | loguniform (continuous)
    low: float = 0.0
    high: float = 0.0
    integer: bool = False                 # the catalog key is an int: round samples
    options: Mapping[str, dict] | None = None    # choice: label -> {path: value | None}

    @property
    def discrete(self) -> bool:
        return self.dist is None

    @property
    def is_choice(self) -> bool:
        return self.options is not None

    def at(self, u: float) -> Any:
        """The value at quantile ``u`` in [0, 1)."""
        if self.discrete:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.dist == "loguniform":
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        return int(round(v)) if self.integer else v

    def changes(self, value: Any) -> dict[str, Any]:
        """Catalog changes and run options this parameter's value means."""
        if self.options is not None:
            return dict(self.options[value])
        return {self.name: value}


@dataclass(frozen=True)
class Workload:
    """A model (built-in or .tflite, optionally in your own inference image) or a firmware
    ELF with its expected outcome."""
    name: str
    kind: str                              # infer | run
    model: str | None = None               # built-in name or an absolute .tflite path
    elf: str | None = None                 # absolute path (run; or a custom inference image)
    input: str | None = None               # .npy path (infer)
    expected_output: str = "base"          # base | tflm | a .npy path (infer)
    expected_exit: int = 0                 # run
    expected_stdout: str | None = None     # run: a substring of the firmware's output
    uart_input: str = ""
    count: int = 1
    warmup: int = 0
    max_cycles: int | None = None
    timeout: float | None = None


@dataclass
class Point:
    """One configuration: parameter values, the catalog changes and run options they mean."""
    index: int
    values: dict[str, Any]                 # parameter name -> value (choice: option label)
    changes: dict[str, Any]                # catalog path -> value (None removes)
    options: dict[str, Any]                # kernels, mode
    id: str = ""
    label: str = ""


@dataclass
class SweepSpec:
    path: Path
    name: str
    mcu: str                               # a catalog name or an absolute .toml path
    workloads: list[Workload]
    params: list[Param]
    search: str = "grid"
    budget: int | None = None
    seed: int = 0
    store: Path | None = None
    mode: str = "fast"
    kernels: str | None = None
    max_cycles: int | None = None
    timeout: float | None = None
    objectives: list[str] = field(default_factory=lambda: ["latency_ms", "energy_uj"])
    constraints: list[str] = field(default_factory=list)
    text_sha256: str = ""

    @property
    def store_path(self) -> Path:
        return self.store or self.path.with_name(self.path.stem + ".sweep")

    def where(self, key: str) -> str:
        return f"{self.path.name}: {key}"


# --------------------------------------------------------------------------- parsing

def load_spec(path: str | os.PathLike, **overrides: Any) -> SweepSpec:
    """Read a sweep spec file; ``overrides`` (search, budget, seed, store) replace its
    [sweep] values. Raises SpecError (one line) on any problem."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as e:
        raise SpecError(f"cannot read sweep spec {os.fspath(path)}: {e.strerror}") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{p.name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{p.name}: not valid TOML ({e})") from None
    spec = parse_spec(data, p.resolve(), **overrides)
    spec.text_sha256 = hashlib.sha256(text).hexdigest()
    return spec


def parse_spec(data: Mapping, path: Path, **overrides: Any) -> SweepSpec:
    name = path.name
    top = ("sweep", "workloads", "params", "choices", "report")
    for k in data:
        if k not in top:
            hint = _suggest(k, top)
            hint = f" (did you mean [{hint.split(chr(39))[1]}]?)" if hint else ""
            raise SpecError(f"{name}: unknown table [{k}]{hint}")
    sw = _table(data, "sweep", name)
    _known(sw, _SWEEP_KEYS, f"{name}: [sweep]")
    base_dir = path.parent
    mcu = sw.get("mcu", "stm32l4r5")
    _type(mcu, str, f"{name}: sweep.mcu", "a catalog name or a .toml path")
    mcu = _beside(base_dir, mcu)
    ov = {k: v for k, v in overrides.items() if v is not None}
    search = ov.get("search", sw.get("search", "grid"))
    if search not in SEARCHES:
        raise SpecError(f"{name}: sweep.search must be one of {', '.join(SEARCHES)}, got {search!r}")
    budget = ov.get("budget", sw.get("budget"))
    if budget is not None and (not _is_int(budget) or budget < 1):
        raise SpecError(f"{name}: sweep.budget must be a positive integer, got {budget!r}")
    if search != "grid" and budget is None:
        raise SpecError(f"{name}: search = \"{search}\" needs sweep.budget (the number of points)")
    seed = ov.get("seed", sw.get("seed", 0))
    if not _is_int(seed):
        raise SpecError(f"{name}: sweep.seed must be an integer, got {seed!r}")
    store = ov.get("store", sw.get("store"))
    if store is not None:
        _type(store, (str, os.PathLike), f"{name}: sweep.store", "a directory path")
        store = (base_dir / os.fspath(store)).resolve() if "store" not in ov else Path(store).resolve()
    mode = sw.get("mode", "fast")
    if mode not in ("fast", "detailed"):
        raise SpecError(f"{name}: sweep.mode must be fast or detailed, got {mode!r}")
    kernels = sw.get("kernels")
    if kernels is not None:
        _type(kernels, str, f"{name}: sweep.kernels", "a kernel set (ref, opt, ...)")
    max_cycles = _opt_int(sw, "max_cycles", f"{name}: sweep.max_cycles")
    timeout = _opt_num(sw, "timeout", f"{name}: sweep.timeout")

    wl = data.get("workloads")
    if not isinstance(wl, list) or not wl:
        raise SpecError(f"{name}: no [[workloads]] (a model = \"kws\" or elf = \"app.elf\" each)")
    workloads = [_workload(w, i, base_dir, name) for i, w in enumerate(wl)]
    seen: set[str] = set()
    for w in workloads:
        if w.name in seen:
            raise SpecError(f"{name}: two workloads are named {w.name!r} (give each a name = ...)")
        seen.add(w.name)

    params = _params(_table(data, "params", name), name)
    params += _choices(_table(data, "choices", name), name)
    pnames = [p.name for p in params]
    dup = {n for n in pnames if pnames.count(n) > 1}
    if dup:
        raise SpecError(f"{name}: parameter {sorted(dup)[0]!r} is given twice")
    if not params:
        raise SpecError(f"{name}: nothing to vary (add [params] or [choices.NAME])")

    rep = _table(data, "report", name)
    _known(rep, _REPORT_KEYS, f"{name}: [report]")
    objectives = rep.get("objectives", ["latency_ms", "energy_uj"])
    constraints = rep.get("constraints", [])
    for key, v in (("objectives", objectives), ("constraints", constraints)):
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise SpecError(f"{name}: report.{key} must be a list of strings")
    return SweepSpec(path=path, name=str(sw.get("name", path.stem)), mcu=mcu,
                     workloads=workloads, params=params, search=search, budget=budget,
                     seed=int(seed), store=store, mode=mode, kernels=kernels,
                     max_cycles=max_cycles, timeout=timeout, objectives=list(objectives),
                     constraints=list(constraints))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _type(v: Any, t, where: str, what: str) -> None:
    if not isinstance(v, t) or isinstance(v, bool):
        raise SpecError(f"{where} must be {what}, got {v!r}")


def _opt_int(d: Mapping, key: str, where: str) -> int | None:
    v = d.get(key)
    if v is not None and (not _is_int(v) or v < 1):
        raise SpecError(f"{where} must be a positive integer, got {v!r}")
    return v


def _opt_num(d: Mapping, key: str, where: str) -> float | None:
    v = d.get(key)
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
        raise SpecError(f"{where} must be a positive number, got {v!r}")
    return v


def _table(data: Mapping, key: str, name: str) -> Mapping:
    v = data.get(key, {})
    if not isinstance(v, Mapping):
        raise SpecError(f"{name}: [{key}] must be a table")
    return v


def _known(d: Mapping, allowed: Sequence[str], where: str) -> None:
    for k in d:
        if k not in allowed:
            raise SpecError(f"{where}: unknown key '{k}'{_suggest(k, allowed)}")


def _workload(w: Any, i: int, base: Path, name: str) -> Workload:
    where = f"{name}: workloads[{i}]"
    if not isinstance(w, Mapping):
        raise SpecError(f"{where} must be a table")
    if "model" in w:
        _known(w, _MODEL_KEYS, where)
        model = w["model"]
        _type(model, str, f"{where}.model", "a built-in model (kws, vww, ic, ad) or a .tflite path")
        from mcusim.api import BUILTIN_MODELS
        if model not in BUILTIN_MODELS:
            model = str((base / model).resolve())
        elf = str((base / w["elf"]).resolve()) if w.get("elf") else None
        inp = str((base / w["input"]).resolve()) if w.get("input") else None
        exp = w.get("expected_output", "base")
        _type(exp, str, f"{where}.expected_output", "base, tflm or a .npy path")
        if exp not in ("base", "tflm"):
            exp = str((base / exp).resolve())
        count, warmup = w.get("count", 1), w.get("warmup", 0)
        if not _is_int(count) or count < 1 or not _is_int(warmup) or warmup < 0:
            raise SpecError(f"{where}: count must be >= 1 and warmup >= 0")
        wname = w.get("name") or (model if model in BUILTIN_MODELS else Path(model).stem)
        return Workload(name=str(wname), kind="infer", model=model, elf=elf, input=inp,
                        expected_output=exp, count=count, warmup=warmup,
                        max_cycles=_opt_int(w, "max_cycles", f"{where}.max_cycles"),
                        timeout=_opt_num(w, "timeout", f"{where}.timeout"))
    if "elf" in w:
        _known(w, _ELF_KEYS, where)
        _type(w["elf"], str, f"{where}.elf", "a firmware ELF path")
        elf = str((base / w["elf"]).resolve())
        ex = w.get("expected_exit", 0)
        if not _is_int(ex):
            raise SpecError(f"{where}.expected_exit must be an integer, got {ex!r}")
        out = w.get("expected_stdout")
        if out is not None:
            _type(out, str, f"{where}.expected_stdout", "text")
        uart = w.get("uart_input", "")
        _type(uart, str, f"{where}.uart_input", "text")
        return Workload(name=str(w.get("name") or Path(elf).stem), kind="run", elf=elf,
                        expected_exit=ex, expected_stdout=out, uart_input=uart,
                        max_cycles=_opt_int(w, "max_cycles", f"{where}.max_cycles"),
                        timeout=_opt_num(w, "timeout", f"{where}.timeout"))
    raise SpecError(f"{where}: give model = \"kws\" (a built-in model or a .tflite file) "
                    "or elf = \"app.elf\"")


def _flatten(d: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested tables -> dotted keys (``[params.mcu] clock_mhz = ...`` is ``"mcu.clock_mhz"``),
    stopping at a value spec ({values|range|uniform|loguniform = ...})."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and not any(s in v for s in SPEC_KEYS) and v:
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def _params(d: Mapping, name: str) -> list[Param]:
    out = []
    for key, v in _flatten(d).items():
        where = f"{name}: params.\"{key}\""
        if isinstance(v, list):
            out.append(Param(key, tuple(_values(v, where))))
            continue
        if not isinstance(v, Mapping):
            raise SpecError(f"{where} must be a list of values or a table "
                            f"{{values | range | uniform | loguniform = ...}}, got {v!r}")
        kinds = [k for k in v if k in SPEC_KEYS]
        extra = [k for k in v if k not in SPEC_KEYS]
        if extra:
            raise SpecError(f"{where}: unknown key '{extra[0]}'{_suggest(extra[0], SPEC_KEYS)}")
        if len(kinds) != 1:
            raise SpecError(f"{where}: give one of {', '.join(SPEC_KEYS)}")
        kind, arg = kinds[0], v[kinds[0]]
        if kind == "values":
            if not isinstance(arg, list):
                raise SpecError(f"{where}: values must be a list")
            out.append(Param(key, tuple(_values(arg, where))))
        elif kind == "range":
            out.append(Param(key, tuple(_range(arg, where))))
        else:
            if (not isinstance(arg, list) or len(arg) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in arg)
                    or not arg[0] < arg[1] or (kind == "loguniform" and arg[0] <= 0)):
                raise SpecError(f"{where}: {kind} needs [low, high] with low < high"
                                + (" and low > 0" if kind == "loguniform" else ""))
            out.append(Param(key, (), dist=kind, low=float(arg[0]), high=float(arg[1]),
                             integer=all(_is_int(x) for x in arg)))
    return out


def _values(v: list, where: str) -> list:
    if not v:
        raise SpecError(f"{where}: an empty list of values")
    seen = []
    for x in v:
        if x in seen:
            raise SpecError(f"{where}: value {x!r} is given twice")
        seen.append(x)
    return v


def _range(arg: Any, where: str) -> list:
    ok = (isinstance(arg, list) and len(arg) in (2, 3)
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in arg))
    if not ok:
        raise SpecError(f"{where}: range needs [start, stop] or [start, stop, step] (stop included)")
    start, stop = arg[0], arg[1]
    step = arg[2] if len(arg) == 3 else 1
    if step <= 0 or stop < start:
        raise SpecError(f"{where}: range needs start <= stop and a positive step")
    n = int(math.floor((stop - start) / step + 1e-9)) + 1
    if n > 100000:
        raise SpecError(f"{where}: range has {n} values (at most 100000)")
    if all(_is_int(x) for x in (start, stop, step)):
        return [start + i * step for i in range(n)]
    return [round(start + i * step, 12) for i in range(n)]


def _choices(d: Mapping, name: str) -> list[Param]:
    out = []
    for cname, opts in d.items():
        where = f"{name}: choices.{cname}"
        if not isinstance(opts, Mapping) or not opts:
            raise SpecError(f"{where} must be a table of options (label = {{ changes }})")
        options: dict[str, dict] = {}
        for label, ch in opts.items():
            if not isinstance(ch, Mapping):
                raise SpecError(f"{where}.{label} must be a table of changes "
                                "(\"dotted.key\" = value, remove = [keys])")
            ch = dict(ch)
            remove = ch.pop("remove", [])
            if not isinstance(remove, list) or not all(isinstance(x, str) for x in remove):
                raise SpecError(f"{where}.{label}.remove must be a list of dotted keys")
            flat = _flatten(ch)
            for r in remove:
                flat[r] = None
            options[str(label)] = flat
        out.append(Param(str(cname), tuple(options), options=options))
    return out


# --------------------------------------------------------------------------- points

def grid_size(spec: SweepSpec) -> int:
    return math.prod(len(p.values) for p in spec.params if p.discrete)


def generate(spec: SweepSpec, budget: int | None = None) -> list[dict[str, Any]]:
    """Parameter assignments by the spec's search (optuna: none, it asks as it goes)."""
    params = spec.params
    n = budget or spec.budget
    if spec.search == "grid":
        cont = [p.name for p in params if not p.discrete]
        if cont:
            raise SpecError(f"{spec.path.name}: params.\"{cont[0]}\" is a distribution; a grid "
                            "needs lists or ranges (or use search = \"random\" or \"lhs\")")
        total = grid_size(spec)
        if total > 1_000_000:
            raise SpecError(f"{spec.path.name}: the grid has {total:,} points (at most "
                            "1,000,000); sample it with search = \"random\" or \"lhs\"")
        return [dict(zip([p.name for p in params], vals))
                for vals in itertools.product(*(p.values for p in params))]
    import numpy as np
    rng = np.random.default_rng(spec.seed)
    if spec.search == "random":
        if all(p.discrete for p in params) and grid_size(spec) <= 10_000_000:
            total = grid_size(spec)
            idx = rng.choice(total, size=min(n, total), replace=False)
            return [_decode(params, int(i)) for i in sorted(idx)]
        return [{p.name: p.at(float(rng.random())) for p in params} for _ in range(n)]
    if spec.search == "lhs":
        cols = {}
        for p in params:
            u = (rng.permutation(n) + rng.random(n)) / n
            cols[p.name] = [p.at(float(x)) for x in u]
        pts = [{p.name: cols[p.name][i] for p in params} for i in range(n)]
        uniq, seen = [], set()
        for pt in pts:                       # discrete dimensions may repeat a point
            k = canonical(pt)
            if k not in seen:
                seen.add(k)
                uniq.append(pt)
        return uniq
    return []


def _decode(params: Sequence[Param], i: int) -> dict[str, Any]:
    out = {}
    for p in reversed(params):
        i, r = divmod(i, len(p.values))
        out[p.name] = p.values[r]
    return {p.name: out[p.name] for p in params}


def make_point(spec: SweepSpec, index: int, values: Mapping[str, Any]) -> Point:
    changes: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for p in spec.params:
        for k, v in p.changes(values[p.name]).items():
            (options if k in RUN_OPTIONS else changes)[k] = v
    vals = {p.name: values[p.name] for p in spec.params}
    pid = short_hash({"changes": changes, "options": options}, 12)   # as the spec writes them
    for k in _PATH_VALUED:
        if isinstance(changes.get(k), str):
            changes[k] = _beside(spec.path.parent, changes[k])     # relative to the spec
    return Point(index=index, values=vals, changes=changes, options=options, id=pid,
                 label=point_label(vals))


# catalog keys whose value may be a user's .toml file (a path relative to the spec file)
_PATH_VALUED = ("mcu.core", "mcu.power_model")


def _beside(base_dir: Path, name_or_path: str) -> str:
    """A catalog name as it is; a .toml path resolved against the spec's directory."""
    if name_or_path.endswith(".toml") or os.sep in name_or_path or "/" in name_or_path:
        return str((base_dir / name_or_path).resolve())
    return name_or_path


def point_label(values: Mapping[str, Any]) -> str:
    parts = []
    for k, v in values.items():
        short = k.rsplit(".", 1)[-1]
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif not isinstance(v, (str, int)):
            v = canonical(v)
        parts.append(f"{short}={v}")
    return " ".join(parts)
