"""The typed catalog schema: every catalog value declared once (gem5's ``Param`` idea).

Each catalog table is a frozen dataclass whose fields are declared with :func:`param`: the
value's kind (type), default, allowed range or choices and a one-line doc; the unit is in
the key name (``clock_mhz``, ``size_bytes``, ``run_ua_per_mhz``) and is derived from it.
Sub-tables are :func:`table` / :func:`table_map` fields. The same declarations serve three
masters:

* loading parts: :func:`build` turns a merged TOML dict (``mcusim.catalog`` reads the files
  and follows ``extends``) into typed, frozen specs (:class:`McuSpec`, :class:`CoreSpec`,
  :class:`PowerSpec` and their tables);
* validating user files: unknown keys and tables are errors with a "did you mean"
  suggestion, values are type- and range-checked, and cross-table rules (memory map
  overlaps, reserved addresses, cache geometry, wait-state tables) are checked before
  anything is allocated. Every failure is one :class:`CatalogError` line naming the file
  that set the key, and the key;
* naming the knobs a sweep varies: :func:`knobs` lists the dotted paths of a loaded spec
  with type, unit, default and doc; :func:`get` reads one; :func:`derive` returns a new
  spec with some values changed, validated exactly like a file.

Peripheral models declare their ``params`` schema as a ``Params`` class attribute (a
:class:`Spec` subclass, see ``mcusim/peripherals/stm32.py``).

``python -m mcusim.schema --markdown`` prints the reference section of docs/catalogs.md;
``--write FILE`` replaces it in place (between the GENERATED markers).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

try:
    from .errors import UserError as _UserError
except ImportError:  # pragma: no cover - errors.py is part of the package
    _UserError = Exception  # type: ignore[misc,assignment]

__all__ = [
    "CatalogError", "FrozenMap", "Spec", "Param", "param", "table", "table_map",
    "McuSpec", "MemoryRegion", "FlashTiming", "WsRow", "AcceleratorSpec", "CacheSpec",
    "PeripheralSpec", "NoParams", "SystickSpec", "CoreSpec", "CoreName", "TimingSpec",
    "Pair16Spec", "BranchRefillSpec", "UnalignedSpec", "PairingSpec", "PowerSpec", "RunRangeSpec",
    "RunCurrentSpec", "SleepSpec", "StateSpec", "AccessEnergySpec", "BoardSpec", "ACTIVITY_EVENTS",
    "AcceleratorPluginSpec", "Knob", "build",
    "knobs", "get",
    "derive", "defaults", "markdown", "META_KEYS", "TIMING_CLASSES",
]


class CatalogError(_UserError):
    """A catalog entry is unknown, unreadable or invalid (one-line message, exit status 2)."""


META_KEYS = ("source", "confidence", "note", "comment")   # citations: allowed in every table

# Address windows no catalog memory or peripheral may use (the machine maps them itself).
RESERVED = (
    (0xE0000000, 0xE0100000, "the Private Peripheral Bus (0xE0000000-0xE00FFFFF)"),
    (0xE0100000, 0xE0102000, "the simulator's device window (0xE0100000-0xE0101FFF)"),
)
PAGE = 1024                      # Unicorn maps memory in 1 KB pages on Arm (DESIGN.md)
MAX_REGION_BYTES = 1 << 29       # 512 MiB per memory region ...
MAX_MEMORY_BYTES = 1 << 30       # ... and 1 GiB in all: the host allocates every byte
MAX_CACHE_BYTES = 64 << 20       # 64 MiB per cache ...
MAX_CACHE_LINES = 1 << 20        # ... and at most 1 M lines (the model keeps one per line)
MAX_CLOCK_MHZ = 10_000.0


# --------------------------------------------------------------------------- helpers

class FrozenMap(Mapping):
    """An immutable, hashable, picklable mapping (tables of named entries in a spec)."""

    __slots__ = ("_d",)

    def __init__(self, items: Any = ()):
        object.__setattr__(self, "_d", dict(items))

    def __getitem__(self, k):
        return self._d[k]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __hash__(self):
        return hash(tuple(self._d.items()))

    def __repr__(self):
        return f"FrozenMap({self._d!r})"

    def __setattr__(self, k, v):
        raise AttributeError("FrozenMap is immutable")

    def __getstate__(self):
        return self._d

    def __setstate__(self, d):
        object.__setattr__(self, "_d", d)


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Ref:
    """Default: the value of another key of the same table."""
    key: str


class Invalid(Exception):
    """A value failed its check (message without file and key). ``sub``: the key inside
    the value (a range of a wait-state table, a key of a map) that failed."""

    def __init__(self, msg: str, sub: str | None = None, unknown: bool = False):
        super().__init__(msg)
        self.sub, self.unknown = sub, unknown


def _suggest(word: str, choices) -> str:
    m = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return m[0] if m else ""


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


_UNITS = (  # key suffix -> unit (longest first)
    ("_ua_per_mhz", "µA/MHz"), ("_mhz", "MHz"), ("_hz", "Hz"), ("_bytes", "bytes"),
    ("_bits", "bits"), ("_ua", "µA"), ("_us", "µs"), ("_uj", "µJ"), ("_pj", "pJ"),
    ("_mw", "mW"),
    ("_v", "V"), ("_cycles", "cycles"), ("_wait_states", "cycles"), ("_lines", "lines"),
    ("_ways", "ways"),
)


def unit_of(key: str) -> str:
    """The unit a key name carries (``clock_mhz`` -> ``MHz``), or ''."""
    for suffix, unit in _UNITS:
        if key.endswith(suffix):
            return unit
    return ""


# --------------------------------------------------------------------------- kinds

class Kind:
    """How a TOML value is checked and converted."""
    name = "value"

    def parse(self, v: Any, p: "Param") -> Any:
        raise NotImplementedError

    def toml(self, v: Any) -> str:
        return _toml(v)


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(x)}" for k, x in v.items()) + " }"
    return str(v)


def _key(k: Any) -> str:
    k = str(k)
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml(k)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _bounds(v, p: "Param"):
    if p.gt is not None and not v > p.gt:
        raise Invalid(f"must be > {p.gt:g}, got {v!r}")
    if p.min is not None and v < p.min:
        raise Invalid(f"must be >= {_num(p.min)}, got {_num(v)}")
    if p.max is not None and v > p.max:
        raise Invalid(f"must be <= {_num(p.max)}, got {_num(v)}")


def _num(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


class _Int(Kind):
    name = "int"

    def parse(self, v, p):
        if not _is_int(v):
            raise Invalid(f"must be an integer, got {v!r}")
        _bounds(v, p)
        return v


class _HexInt(_Int):
    """An int shown in hex (sizes, masks, register values)."""

    def toml(self, v):
        return f"{v:#x}"


class _Addr(_Int):
    name = "address"

    def parse(self, v, p):
        if not _is_int(v):
            raise Invalid(f"must be an address (integer), got {v!r}")
        if not 0 <= v <= 0xFFFFFFFF:
            raise Invalid(f"must be a 32-bit address, got {v:#x}")
        _bounds(v, p)
        return v

    def toml(self, v):
        return f"0x{v:08X}"


class _Float(Kind):
    name = "float"

    def parse(self, v, p):
        if not (_is_int(v) or isinstance(v, float)):
            raise Invalid(f"must be a number, got {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise Invalid(f"must be a finite number, got {v!r}")
        _bounds(v, p)
        return v


class _Bool(Kind):
    name = "bool"

    def parse(self, v, p):
        if not isinstance(v, bool):
            raise Invalid(f"must be true or false, got {v!r}")
        return v


class _Str(Kind):
    name = "string"

    def parse(self, v, p):
        if not isinstance(v, str):
            raise Invalid(f"must be a string, got {v!r}")
        return v


class _ListOf(Kind):
    def __init__(self, item: Kind, name: str):
        self.item, self.name = item, name

    def parse(self, v, p):
        if not isinstance(v, (list, tuple)):
            raise Invalid(f"must be a list, got {v!r}")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(self.item.parse(x, _PLAIN))
            except Invalid as e:
                raise Invalid(f"[{i}] {e}") from None
        if p.choices is not None:
            for x in out:
                if x not in p.choices:
                    raise Invalid(_choice_msg(x, p.choices))
        return tuple(out)

    def toml(self, v):
        return "[" + ", ".join(self.item.toml(x) for x in v) + "]"


class _Range(Kind):
    name = "[low, high] numbers"

    def parse(self, v, p):
        if not (isinstance(v, (list, tuple)) and len(v) == 2):
            raise Invalid(f"must be a list [low, high], got {v!r}")
        lo, hi = (FLOAT.parse(x, p) for x in v)
        if lo > hi:
            raise Invalid(f"low {lo:g} is above high {hi:g}")
        return (lo, hi)


class _Map(Kind):
    """A table of ``key = value`` with keys from ``keys`` (or any key) and typed values."""

    def __init__(self, value: Kind, name: str, keys: tuple | None = None,
                 key_parse: Callable[[str], Any] | None = None):
        self.value, self.name, self.keys, self.key_parse = value, name, keys, key_parse

    def parse(self, v, p):
        if not isinstance(v, Mapping):
            raise Invalid(f"must be a table, got {v!r}")
        out = {}
        for k, x in v.items():
            if self.keys is not None and k not in self.keys:
                s = _suggest(k, self.keys)
                raise Invalid(f" (did you mean {s!r}?)" if s else "", sub=k, unknown=True)
            kk = k
            if self.key_parse is not None:
                try:
                    kk = self.key_parse(k)
                except ValueError:
                    raise Invalid(f"key {k!r} is not an integer offset") from None
            try:
                out[kk] = self.value.parse(x, p)
            except Invalid as e:
                raise Invalid(str(e), sub=k) from None
        return FrozenMap(out)

    def toml(self, v):
        def k(x):
            return f'"{x:#x}"' if _is_int(x) else _key(x)
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{k(a)} = {self.value.toml(b)}" for a, b in v.items()) + " }"


INT, HEXINT, ADDR, FLOAT, BOOL, STR = _Int(), _HexInt(), _Addr(), _Float(), _Bool(), _Str()
ADDRS = _ListOf(ADDR, "list of addresses")
STRS = _ListOf(STR, "list of strings")
RANGE = _Range()
REG_MAP = _Map(HEXINT, "table {\"offset\" = int}", key_parse=lambda k: int(k, 0))
REG_NAMES = _Map(HEXINT, "table {NAME = offset}")


def _choice_msg(v, choices) -> str:
    s = _suggest(str(v), choices)
    return (f"is {v!r}; expected one of {', '.join(map(str, choices))}"
            + (f" (did you mean {s!r}?)" if s else ""))


# --------------------------------------------------------------------------- declarations

@dataclass(frozen=True)
class Param:
    """One catalog value: its kind, default, bounds or choices, doc; unit from the key."""
    kind: Kind
    default: Any = REQUIRED
    doc: str = ""
    unit: str = ""
    min: float | None = None
    max: float | None = None
    gt: float | None = None
    choices: Any = None                 # tuple, or a callable returning one
    key: str | None = None              # TOML key (default: the field name)
    knob: bool = True                   # a sweep may vary it (False: names and documentation)
    default_doc: str = ""               # how a computed default is derived


_PLAIN = Param(kind=INT, default=None)


def param(kind: Kind, default: Any = REQUIRED, doc: str = "", **kw) -> Any:
    """Declare a catalog value as a dataclass field."""
    p = Param(kind, default, doc, **kw)
    if default is REQUIRED:
        return field(metadata={"param": p})
    dflt = None if isinstance(default, Ref) else default
    return field(default=dflt, metadata={"param": p})


@dataclass(frozen=True)
class TableField:
    cls: Any                         # Spec subclass, or None when `dispatch` picks it
    many: bool = False               # a table of named tables ([memory.<name>])
    required: bool = False
    key: str | None = None
    doc: str = ""
    as_tuple: bool = False           # many: a tuple in file order instead of a FrozenMap
    dispatch: Callable | None = None  # (kwargs) -> Spec subclass (peripheral params)
    default_instance: bool = False   # absent: the class's defaults instead of None


def table(cls, doc: str = "", *, required: bool = False, key: str | None = None,
          dispatch: Callable | None = None, default_instance: bool = False) -> Any:
    tf = TableField(cls, False, required, key, doc, dispatch=dispatch,
                    default_instance=default_instance)
    return field(default=None, metadata={"table": tf})


def table_map(cls, doc: str = "", *, required: bool = False, key: str | None = None,
              as_tuple: bool = False) -> Any:
    tf = TableField(cls, True, required, key, doc, as_tuple=as_tuple)
    return field(default=(() if as_tuple else FrozenMap()), metadata={"table": tf})


def name_field() -> Any:
    return field(default="", metadata={"name": True})


def derived(default: Any = None, compare: bool = True) -> Any:
    return field(default=default, metadata={"derived": True}, compare=compare, repr=False)


@dataclass(frozen=True, kw_only=True)
class Spec:
    """Base of every catalog table. A file-level spec names its own table in
    ``__section__`` (its params live there; its sub-tables at the top level)."""
    __section__ = ""
    __title__ = ""

    @classmethod
    def _finish(cls, kw: dict, ctx: "Ctx", path: str) -> None:
        """Computed defaults and conversions before construction."""

    def _check(self, ctx: "Ctx", path: str) -> None:
        """Rules across keys and tables (after construction)."""


@dataclass(frozen=True)
class _Info:
    params: dict          # key -> (field name, Param)
    tables: dict          # key -> (field name, TableField)
    name_field: str | None
    section: str


_INFO: dict = {}


def info(cls) -> _Info:
    i = _INFO.get(cls)
    if i is None:
        params, tables, name = {}, {}, None
        for f in dataclasses.fields(cls):
            if "param" in f.metadata:
                p = f.metadata["param"]
                params[p.key or f.name] = (f.name, p)
            elif "table" in f.metadata:
                t = f.metadata["table"]
                tables[t.key or f.name] = (f.name, t)
            elif f.metadata.get("name"):
                name = f.name
        i = _INFO[cls] = _Info(params, tables, name, cls.__section__)
    return i


def _field_names(cls) -> set:
    return {f.name for f in dataclasses.fields(cls)}


def _choices(p: Param):
    return p.choices() if callable(p.choices) else p.choices


def _unit(key: str, p: Param) -> str:
    return p.unit or unit_of(key)


# --------------------------------------------------------------------------- building

def label(origin: str) -> str:
    """How an error names the file an origin points to (its file name)."""
    return origin.replace("\\", "/").rpartition("/")[2] if origin.endswith(".toml") else origin


@dataclass
class Ctx:
    """Where values came from, for error messages (and how an MCU resolves its core)."""
    file: str                                   # the leaf file (path) or a label
    origins: Mapping[str, str] = field(default_factory=dict)   # dotted path -> file path
    chain: tuple = ()                           # the files, root first
    resolve_core: Callable | None = None        # (name, ctx) -> CoreSpec
    core: Any = None                            # a prebuilt core (derive)

    def origin(self, path: str) -> str:
        p = path
        while p:
            if p in self.origins:
                return self.origins[p]
            p = p.rpartition(".")[0]
        return self.file

    def where(self, path: str) -> str:
        return label(self.origin(path))

    def latest(self, *paths: str) -> str:
        """The path (of ``paths``) set by the file latest in the extends chain."""
        order = {f: i for i, f in enumerate(self.chain)}
        return max(paths, key=lambda p: order.get(self.origin(p), len(order)))

    def error(self, path: str, msg: str) -> CatalogError:
        return CatalogError(f"{self.where(path)}: {msg}")

    def key_error(self, path: str, msg: str) -> CatalogError:
        return self.error(path, f"key '{path}' {msg}")


def _table_params(inf: "_Info") -> set:
    """Params whose value is written as a TOML table ([flash.wait_states])."""
    return {k for k, (_f, p) in inf.params.items() if isinstance(p.kind, (_Map, _WsTables))}


def _check_unknown(data: Mapping, allowed: dict, path: str, ctx: Ctx, tables: set) -> None:
    for k, v in data.items():
        if k in allowed or k in META_KEYS:
            continue
        full = _join(path, k)
        hint = _HINTS.get(k)
        s = _suggest(k, allowed)
        msg = f"unknown table [{full}]" if isinstance(v, Mapping) else f"unknown key '{full}'"
        if s:
            msg += f" (did you mean [{_join(path, s)}]?)" if s in tables else \
                f" (did you mean '{_join(path, s)}'?)"
        if hint:
            msg += f" ({hint})"
        elif not s and 0 < len(allowed) <= 16:
            msg += f" (known: {', '.join(sorted(allowed))})"
        raise ctx.error(full, msg)


_HINTS = {"inherits": "'inherits' is gone: write extends = \"<core>\" at the top of the file"}


def build(cls, data: Any, ctx: Ctx, path: str = "", name: str | None = None,
          extra: dict | None = None):
    """Validate ``data`` (one TOML table, or a whole file for a file-level spec) and
    return ``cls`` built from it."""
    inf = info(cls)
    if not isinstance(data, Mapping):
        raise ctx.error(path, f"[{path}] must be a table, got {data!r}")
    raw = data
    pattern = getattr(cls, "__pattern__", None)
    if pattern is not None:          # keys like <event>_pj: values of one declared param
        rx, pp = pattern
        matched = {k: parse_value(pp, v, ctx, _join(path, k)) for k, v in data.items()
                   if k not in inf.params and k not in META_KEYS and re.match(rx, k)}
        data = {k: v for k, v in data.items() if k not in matched}
        extra = dict(extra or {}, energies_pj=FrozenMap(matched))
    section = inf.section
    if section:
        allowed = {section: None, **inf.tables}
        _check_unknown(data, allowed, "", ctx, set(allowed))
        pdata = data.get(section)
        if pdata is None:
            raise ctx.error(section, f"missing table [{section}]")
        if not isinstance(pdata, Mapping):
            raise ctx.error(section, f"[{section}] must be a table")
        ppath = section
        _check_unknown(pdata, inf.params, ppath, ctx, _table_params(inf))
    else:
        pdata, ppath = data, path
        _check_unknown(data, {**inf.params, **inf.tables}, path, ctx,
                       set(inf.tables) | _table_params(inf))
    kw: dict = {}
    refs = []
    for key, (fname, p) in inf.params.items():
        kpath = _join(ppath, key)
        if key in pdata:
            kw[fname] = parse_value(p, pdata[key], ctx, kpath)
        elif p.default is REQUIRED:
            raise ctx.error(ppath or kpath, f"missing key '{kpath}'")
        elif isinstance(p.default, Ref):
            refs.append((fname, p.default.key))
        else:
            kw[fname] = p.default
    for fname, ref in refs:
        kw[fname] = kw[inf.params[ref][0]]
    for key, (fname, tf) in inf.tables.items():
        tpath = _join(path, key)
        tdata = data.get(key)
        sub = tf.cls if tf.dispatch is None else tf.dispatch(kw)
        if tdata is None:
            if tf.required:
                raise ctx.error(tpath, f"missing table [{tpath}]" if not tf.many else
                                f"missing table [{tpath}.<name>]")
            if tf.many:
                kw[fname] = () if tf.as_tuple else FrozenMap()
            else:
                kw[fname] = defaults(sub) if tf.default_instance else None
            continue
        if not isinstance(tdata, Mapping):
            raise ctx.error(tpath, f"[{tpath}] must be a table")
        if tf.many:
            items = []
            for n, sd in tdata.items():
                if n in META_KEYS and not isinstance(sd, Mapping):
                    continue
                items.append((n, build(sub, sd, ctx, _join(tpath, n), name=n)))
            if tf.required and not items:
                raise ctx.error(tpath, f"missing table [{tpath}.<name>]")
            kw[fname] = tuple(v for _, v in items) if tf.as_tuple else FrozenMap(items)
        else:
            kw[fname] = build(sub, tdata, ctx, tpath)
    if inf.name_field and name is not None:
        kw[inf.name_field] = name
    if "raw" in _field_names(cls):
        kw["raw"] = raw
    if extra:
        kw.update(extra)
    cls._finish(kw, ctx, path)
    obj = cls(**kw)
    obj._check(ctx, path)
    return obj


def parse_value(p: Param, v: Any, ctx: Ctx, path: str) -> Any:
    try:
        out = p.kind.parse(v, p)
        ch = _choices(p)
        if ch is not None and not isinstance(p.kind, _ListOf) and out not in ch:
            raise Invalid(_choice_msg(out, ch))
        return out
    except Invalid as e:
        if e.sub is not None:
            path = _join(path, e.sub)
        if e.unknown:
            raise ctx.error(path, f"unknown key '{path}'{e}") from None
        raise ctx.key_error(path, str(e)) from None


def defaults(cls, **values):
    """An instance of ``cls`` with every default (required values given as keywords)."""
    return build(cls, {k: v for k, v in values.items()}, Ctx(file="<defaults>"), "")


# --------------------------------------------------------------------------- MCU tables

@dataclass(frozen=True, kw_only=True)
class WsRow(Spec):
    """One row of a flash wait-state table."""
    max_mhz: float = param(FLOAT, doc="highest HCLK of this row", unit="MHz", gt=0,
                           max=MAX_CLOCK_MHZ)
    ws: int = param(INT, doc="flash wait states up to max_mhz", unit="cycles", min=0, max=64)


class _WsTables(Kind):
    name = "table of {max_mhz, ws} row lists"

    def parse(self, v, p):
        if not isinstance(v, Mapping):
            raise Invalid(f"must be a table of voltage ranges, got {v!r}")
        out = {}
        for rng, rows in v.items():
            if rng in META_KEYS and not isinstance(rows, (list, Mapping)):
                continue
            if not isinstance(rows, list) or not rows:
                raise Invalid("must be a non-empty list of {max_mhz = F, ws = N} rows", rng)
            tab: list = []
            for i, row in enumerate(rows):
                mhz, ws = _ws_row(row, f"[{i}]", rng)
                if tab and (mhz <= tab[-1][0] or ws < tab[-1][1]):
                    raise Invalid("is not sorted (max_mhz must increase, ws must not "
                                  "decrease)", rng)
                tab.append((float(mhz), int(ws)))
            out[rng] = tuple(tab)
        if not out:
            raise Invalid("has no voltage-range table")
        return FrozenMap(out)

    def toml(self, v):
        return "{ " + ", ".join(
            f"{_key(r)} = [" + ", ".join(f"{{ max_mhz = {m:g}, ws = {w} }}" for m, w in rows)
            + "]" for r, rows in v.items()) + " }"


WS_TABLES = _WsTables()


def _ws_row(row: Any, where: str, rng: str) -> tuple[float, int]:
    """One wait-state row, {max_mhz = F, ws = N} (or [F, N])."""
    ps = info(WsRow).params
    if isinstance(row, list) and len(row) == 2:
        row = {"max_mhz": row[0], "ws": row[1]}
    if not isinstance(row, Mapping):
        raise Invalid(f"{where} must be {{max_mhz = F, ws = N}}, got {row!r}", rng)
    for k in row:
        if k not in ps and k not in META_KEYS:
            s = _suggest(k, ps)
            raise Invalid(f"{where} has unknown key {k!r}"
                          + (f" (did you mean {s!r}?)" if s else ""), rng)
    out = []
    for k in ("max_mhz", "ws"):
        if k not in row:
            raise Invalid(f"{where} misses {k!r}", rng)
        try:
            out.append(ps[k][1].kind.parse(row[k], ps[k][1]))
        except Invalid as e:
            raise Invalid(f"{where}.{k} {e}", rng) from None
    return out[0], out[1]


@dataclass(frozen=True, kw_only=True)
class AcceleratorSpec(Spec):
    """[flash.accelerator]: prefetch buffer and instruction/data line caches on the flash
    interface (STM32 ART), and where their FLASH_ACR bits are."""
    name: str = param(STR, doc="what the vendor calls it (ART, prefetch, ...)", knob=False)
    prefetch: bool = param(BOOL, False, "sequential prefetch buffer present (FLASH_ACR.PRFTEN)")
    data_buffer: bool = param(BOOL, False, "a D-Code read keeps the flash read width it "
                              "fetched in a current buffer: the next reads inside it wait "
                              "no wait states")
    icache_lines: int | None = param(INT, None, "instruction cache lines; absent: no I-cache "
                                     "modelled", min=1, max=MAX_CACHE_LINES)
    dcache_lines: int | None = param(INT, None, "data cache lines; absent: no D-cache modelled",
                                     min=1, max=MAX_CACHE_LINES)
    line_bytes: int | None = param(INT, None, "bytes per accelerator cache line",
                                   choices=(4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096))
    icache_ways: int | None = param(INT, Ref("icache_lines"), "I-cache associativity",
                                    min=1, max=MAX_CACHE_LINES,
                                    default_doc="= icache_lines (fully associative)")
    dcache_ways: int | None = param(INT, Ref("dcache_lines"), "D-cache associativity",
                                    min=1, max=MAX_CACHE_LINES,
                                    default_doc="= dcache_lines (fully associative)")
    icache_enable_bit: str | None = param(STR, None, "register field enabling the I-cache "
                                          "(documentation)", knob=False)
    dcache_enable_bit: str | None = param(STR, None, "register field enabling the D-cache "
                                          "(documentation)", knob=False)
    prefetch_enable_bit: str | None = param(STR, None, "register field enabling prefetch "
                                            "(documentation)", knob=False)
    acr_latency_mask: int = param(HEXINT, 0xF, "FLASH_ACR.LATENCY mask (wait states)",
                                  min=1, max=0xFFFFFFFF)
    acr_prften_bit: int = param(INT, 8, "FLASH_ACR prefetch-enable bit", min=0, max=31)
    acr_icen_bit: int = param(INT, 9, "FLASH_ACR I-cache-enable bit", min=0, max=31)
    acr_dcen_bit: int = param(INT, 10, "FLASH_ACR D-cache-enable bit", min=0, max=31)
    acr_icrst_bit: int = param(INT, 11, "FLASH_ACR I-cache-reset bit", min=0, max=31)
    acr_dcrst_bit: int = param(INT, 12, "FLASH_ACR D-cache-reset bit", min=0, max=31)

    def _check(self, ctx, path):
        for side in ("icache", "dcache"):
            n, w = getattr(self, f"{side}_lines"), getattr(self, f"{side}_ways")
            if n is None:
                continue
            if self.line_bytes is None:
                raise ctx.error(_join(path, f"{side}_lines"), f"key '{path}.{side}_lines' needs "
                                f"'{path}.line_bytes' (the cache's line size)")
            if n % w:
                raise ctx.error(_join(path, f"{side}_ways"),
                                f"key '{path}.{side}_ways' = {w} does not divide "
                                f"{side}_lines = {n}")
            if n * self.line_bytes > MAX_CACHE_BYTES:
                raise ctx.error(_join(path, f"{side}_lines"),
                                f"key '{path}.{side}_lines': {n} lines of {self.line_bytes} "
                                f"bytes exceed {MAX_CACHE_BYTES >> 20} MB")


@dataclass(frozen=True, kw_only=True)
class FlashTiming(Spec):
    """[flash]: the flash interface's wait states per voltage range and its accelerator."""
    ws_tables: Mapping = param(WS_TABLES, key="wait_states", doc="[flash.wait_states]: one key "
                               "per voltage range, a list of { max_mhz = F, ws = N } rows "
                               "(max_mhz increasing, ws not decreasing); at clock f the first "
                               "row with f <= max_mhz applies")
    default_range: str = param(STR, None, "voltage range used when none is given",
                               default_doc="= the first [flash.wait_states] range", knob=False)
    acr_address: int | None = param(ADDR, None, "address of FLASH_ACR (LATENCY, cache and "
                                    "prefetch enables)", knob=False)
    acr_reset_value: int | None = param(HEXINT, None, "FLASH_ACR value after reset (what the "
                                        "FLASH model holds from reset: LATENCY, prefetch "
                                        "and cache enables)", min=0, max=0xFFFFFFFF)
    accelerator: AcceleratorSpec | None = table(AcceleratorSpec, "prefetch and line caches "
                                                "on the flash interface")

    @classmethod
    def _finish(cls, kw, ctx, path):
        if kw.get("default_range") is None:
            kw["default_range"] = next(iter(kw["ws_tables"]))

    def _check(self, ctx, path):
        if self.default_range not in self.ws_tables:
            raise ctx.key_error(_join(path, "default_range"),
                                f"is {self.default_range!r}; known ranges: "
                                f"{', '.join(self.ws_tables)}")


MEMORY_KINDS = ("flash", "sram", "tcm", "rom")
ACCESS_MODES = ("rx", "rwx", "rw", "r")


@dataclass(frozen=True, kw_only=True)
class MemoryRegion(Spec):
    """[memory.<name>]: one memory region (and its aliases)."""
    name: str = name_field()
    kind: str = param(STR, doc="what the region is", choices=MEMORY_KINDS, knob=False)
    base: int = param(ADDR, doc="address of the region", unit="address", knob=False)
    size: int = param(HEXINT, key="size_bytes", doc="size (multiple of 1 KB)", min=PAGE,
                      max=MAX_REGION_BYTES)
    aliases: tuple = param(ADDRS, (), "other addresses that map the same bytes", knob=False)
    access: str = param(STR, None, "permissions; writes to an rx region fault",
                        choices=ACCESS_MODES, default_doc="rx for flash/rom, else rwx")
    read_wait_states: int | None = param(INT, None, "fixed read wait states. Flash: leave out "
                                         "to follow [flash.wait_states] at the current clock",
                                         min=0, max=100, default_doc="0 (flash: from "
                                         "[flash.wait_states])")
    write_wait_states: int | None = param(INT, Ref("read_wait_states"), "write wait states",
                                          min=0, max=100, default_doc="= read_wait_states")
    bus: str = param(STR, "ahb", "the bus it sits on (icode/dcode, axi, ahb, itcm, dtcm, "
                     "c-ahb, s-ahb)", knob=False)
    width_bits: int = param(INT, 32, "data width of the array/bus (fetch granule)",
                            choices=(8, 16, 32, 64, 128, 256))

    @classmethod
    def _finish(cls, kw, ctx, path):
        if kw.get("access") is None:
            kw["access"] = "rx" if kw["kind"] in ("flash", "rom") else "rwx"
        if kw["kind"] != "flash" and kw.get("read_wait_states") is None:
            kw["read_wait_states"] = 0
            if kw.get("write_wait_states") is None:
                kw["write_wait_states"] = 0

    @property
    def end(self) -> int:
        """One past the last byte (of the primary mapping)."""
        return self.base + self.size

    def spans(self) -> list[tuple[int, int]]:
        """(start, end) of the primary mapping and every alias."""
        return [(b, b + self.size) for b in (self.base, *self.aliases)]


CACHE_KINDS = ("core", "st-icache")


@dataclass(frozen=True, kw_only=True)
class CacheSpec(Spec):
    """[caches.<name>]: a core L1 cache (Cortex-M7 icache/dcache) or a system cache."""
    name: str = name_field()
    kind: str = param(STR, "core", "core: Cortex-M7 L1 (named icache or dcache); st-icache: "
                      "ST ICACHE on the code bus", choices=CACHE_KINDS, knob=False)
    size_bytes: int = param(INT, doc="capacity", min=16, max=MAX_CACHE_BYTES)
    line_bytes: int = param(INT, doc="line size",
                            choices=(4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096))
    ways: int = param(INT, doc="associativity", min=1, max=MAX_CACHE_LINES)
    replacement: str = param(STR, "lru", "replacement policy (random: deterministic xorshift)",
                             choices=("lru", "random"))
    write_policy: str = param(STR, "write-back", "write policy of cacheable normal memory",
                              choices=("write-back", "write-through"))
    write_allocate: bool = param(BOOL, True, "a write miss fills the line")
    enabled_at_reset: bool = param(BOOL, False, "enabled before firmware enables it")
    run_enabled: bool = param(BOOL, True, "enabled in the run configuration (ST ICACHE: "
                              "until firmware writes ICACHE_CR; docs/clocks.md)")
    bus: str | None = param(STR, None, "bus it serves (documentation)", knob=False)
    control_address: int | None = param(ADDR, None, "address of its control register "
                                        "(documentation)", knob=False)

    def _check(self, ctx, path):
        if self.size_bytes % (self.line_bytes * self.ways):
            raise ctx.error(_join(path, "size_bytes"),
                            f"key '{path}.size_bytes' = {self.size_bytes} is not a multiple of "
                            f"line_bytes {self.line_bytes} x ways {self.ways}")
        if self.size_bytes // self.line_bytes > MAX_CACHE_LINES:
            raise ctx.error(_join(path, "size_bytes"), f"key '{path}.size_bytes': more than "
                            f"{MAX_CACHE_LINES} lines")
        if self.kind == "core" and self.name not in ("icache", "dcache"):
            raise ctx.error(path, f"[{path}]: a core cache (kind = \"core\") is named icache "
                            "or dcache")


@dataclass(frozen=True, kw_only=True)
class NoParams(Spec):
    """A peripheral model without parameters."""


# Peripheral models register here (mcusim.peripherals.register) so the schema knows each
# model's Params without importing the models; mcusim.catalog imports them first.
PERIPHERAL_MODELS: dict[str, type] = {}


def register_model(name: str, cls: type) -> None:
    PERIPHERAL_MODELS[name] = cls


def _peripheral_models() -> dict:
    return dict(PERIPHERAL_MODELS)


def _model_names():
    return tuple(sorted(_peripheral_models())) + ("unmodelled",)


def _params_of(kw) -> type:
    cls = _peripheral_models().get(kw.get("model"))
    return getattr(cls, "Params", NoParams) if cls is not None else NoParams


@dataclass(frozen=True, kw_only=True)
class PeripheralSpec(Spec):
    """[peripherals.<name>]: a memory-mapped peripheral and the Python model serving it."""
    name: str = name_field()
    model: str = param(STR, doc="the Python model serving it, or unmodelled (reads as zero)",
                       choices=_model_names, knob=False)
    base: int = param(ADDR, doc="address of its register block", unit="address", knob=False)
    size: int = param(HEXINT, key="size_bytes", doc="size of its register block", min=1,
                      max=1 << 32, knob=False)
    irq: int | None = param(INT, None, "NVIC line (IRQn), below mcu.num_irqs", min=0, max=495,
                            knob=False)
    registers: Mapping = param(REG_NAMES, FrozenMap(), "its registers by name {NAME = offset} "
                               "(the manual's names: warnings about a register the model does "
                               "not implement name it)", min=0, max=0xFFFFFFFF, knob=False)
    params: Spec = table(None, "model-specific parameters (below, per model)",
                         dispatch=_params_of, default_instance=True)

    @property
    def end(self) -> int:
        return self.base + self.size

    def register_name(self, offset: int) -> str | None:
        """The catalog's name of the register at `offset` (None: the catalog names none)."""
        for name, off in self.registers.items():
            if off == offset:
                return name
        return None


# Accelerator plugins (docs/accelerators.md): a catalog entry names its Python class as
# "package.module:Class"; the class declares its params (a Spec subclass, ``Params``).
# mcusim.accelerators registers the shipped plugins here (for the documentation).
ACCELERATOR_PLUGINS: dict[str, type] = {}


def register_plugin(path: str, cls: type) -> None:
    ACCELERATOR_PLUGINS[path] = cls


def plugin_class(path: str) -> type:
    """The accelerator class a ``type = "package.module:Class"`` names (Invalid if not)."""
    import importlib
    if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
        raise Invalid(f"must be \"package.module:Class\", got {path!r}")
    mod, _, name = path.partition(":")
    try:
        m = importlib.import_module(mod)
    except ImportError as e:
        raise Invalid(f"cannot import module {mod!r}: {e}") from None
    except Exception as e:                       # the plugin's own module failed
        raise Invalid(f"importing module {mod!r} failed: {type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}") from None
    cls = m
    for part in name.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            s = _suggest(part, [k for k in dir(m) if not k.startswith("_")])
            raise Invalid(f"module {mod!r} has no class {name!r}"
                          + (f" (did you mean {s!r}?)" if s else ""))
    from mcusim.accelerators.base import Accelerator
    if not (isinstance(cls, type) and issubclass(cls, Accelerator)):
        raise Invalid(f"{path} is not an accelerator plugin (a subclass of "
                      "mcusim.accelerators.Accelerator)")
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, Spec)):
        raise Invalid(f"{path}.Params is not a parameter schema (a subclass of "
                      "mcusim.accelerators.AcceleratorParams)")
    return cls


class _Plugin(_Str):
    name = "\"package.module:Class\""

    def parse(self, v, p):
        v = super().parse(v, p)
        plugin_class(v)
        return v


PLUGIN = _Plugin()


def _plugin_params(kw) -> type:
    try:
        return plugin_class(kw.get("type")).Params
    except Invalid:
        return NoParams


@dataclass(frozen=True, kw_only=True)
class AcceleratorPluginSpec(Spec):
    """[[accelerators]] (or [accelerators.<name>]): an accelerator plugin, a Python class
    (docs/accelerators.md). Memory-mapped ones need a base address; custom instructions
    take a coprocessor number. The `name` key of an [[accelerators]] entry names it
    (default: its class name, lower case)."""
    name: str = name_field()
    type: str = param(PLUGIN, doc="the plugin class (importable by Python)", knob=False)
    base: int | None = param(ADDR, None, "address of its register window", unit="address",
                             knob=False)
    irq: int | None = param(INT, None, "NVIC line of its interrupt, below mcu.num_irqs; absent: "
                            "no interrupt (firmware polls)", min=0, max=495, knob=False)
    coprocessor: int | None = param(INT, None, "coprocessor number of its custom instructions",
                                    min=0, max=7, default_doc="the class's `coprocessor`",
                                    knob=False)
    params: Spec = table(None, "the plugin's parameters (declared by its Params class)",
                         dispatch=_plugin_params, default_instance=True)

    @property
    def cls(self) -> type:
        return plugin_class(self.type)

    @property
    def window_bytes(self) -> int:
        return int(self.cls.window_size()) if self.base is not None else 0

    @property
    def end(self) -> int:
        return (self.base or 0) + self.window_bytes

    def coprocessor_number(self) -> int | None:
        return self.coprocessor if self.coprocessor is not None else self.cls.coprocessor


def _check_accelerators(m, ctx: Ctx, spans: list) -> None:
    """Windows, IRQ lines and coprocessors of [[accelerators]] against the MCU."""
    taken: list = []
    irqs: dict = {}
    cps: dict = {}
    for a in m.accelerators:
        p = f"accelerators.{a.name}"
        cls = a.cls
        if cls.window_size() and a.base is None:
            raise ctx.error(p, f"key '{p}.base' is needed: {a.type} has registers")
        if a.base is not None:
            if not cls.window_size():
                raise ctx.key_error(f"{p}.base", f"is set but {a.type} has no registers")
            if a.base % PAGE:
                raise ctx.key_error(f"{p}.base", f"= {a.base:#x} is not a multiple of {PAGE} "
                                    "(the emulator maps 1 KB pages)")
            rng = (a.base, a.end)
            if rng[1] > 1 << 32:
                raise ctx.key_error(f"{p}.base", "runs past 4 GB")
            others = [(r, what) for r, what, _ in spans] + \
                [((s.base, s.end), f"peripherals.{s.name}") for s in m.peripherals] + \
                [((lo, hi), res) for lo, hi, res in RESERVED] + taken
            for r, what in others:
                if _overlap(rng, r):
                    raise ctx.key_error(f"{p}.base", f"= {a.base:#x}: the window "
                                        f"{rng[0]:#x}-{rng[1] - 1:#x} overlaps {what}")
            taken.append((rng, p))
        if a.irq is not None:
            if a.irq >= m.num_irqs:
                raise ctx.key_error(f"{p}.irq", f"= {a.irq} is not below mcu.num_irqs = "
                                    f"{m.num_irqs}")
            if a.irq in irqs:
                raise ctx.key_error(f"{p}.irq", f"= {a.irq} is taken by {irqs[a.irq]}")
            irqs[a.irq] = p
        cp = a.coprocessor_number()
        if cls.instructions():
            if cp is None:
                raise ctx.error(p, f"key '{p}.coprocessor' is needed: {a.type} defines "
                                "custom instructions")
            if m.core.arch == "armv6-m":
                raise ctx.error(p, f"[{p}]: custom instructions need an Armv7-M or Armv8-M "
                                f"core (coprocessor space); {m.core.name} is Armv6-M")
            if cp in cps:
                raise ctx.key_error(f"{p}.coprocessor", f"= {cp} is taken by {cps[cp]}")
            cps[cp] = p
        elif a.coprocessor is not None:
            raise ctx.key_error(f"{p}.coprocessor", f"is set but {a.type} has no custom "
                                "instructions")


@dataclass(frozen=True, kw_only=True)
class SystickSpec(Spec):
    """[systick]: the SysTick timer's reference clock."""
    ref_clock_divider: int = param(INT, 8, "SysTick external reference clock = HCLK / this "
                                   "(CLKSOURCE = 0; STM32: HCLK/8)", min=1, max=1 << 24)


# --------------------------------------------------------------------------- cores

UNICORN_CPUS = ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33")
ARCHES = ("armv6-m", "armv7-m", "armv7e-m", "armv8-m.main")
FPUS = ("fpv4-sp", "fpv5-sp", "fpv5-dp")

# Instruction classes of the timing model (mcusim/timing/core.py) and the formula keys of
# [timing.classes]: one line each.
TIMING_CLASSES = {
    "alu": "data processing, MOV/MOVW/MOVT, shifts, CMP/TST (also the fallback cost)",
    "alu_pc": "MOV PC,Rm / ADD PC,PC,Rm (plus refill)",
    "extend": "SXTB/SXTH/UXTB/UXTH", "bitfield": "CLZ, BFI/BFC, UBFX/SBFX, REV*, RBIT, SSAT/USAT",
    "mul": "MUL(S)", "mla": "MLA/MLS", "mull": "UMULL/SMULL", "mlal": "UMLAL/SMLAL",
    "dsp_mul": "SMULxy/SMULWx/SMMUL/SMUAD/SMUSD", "dsp_mac": "SMLAD/SMLSD/SMLAxy/SMLAL*/UMAAL",
    "dsp": "SIMD add/sub, SEL, PKH, SXTB16, SXTA*", "dsp_sat": "QADD/QSUB/UQ*, USAD8, SSAT16",
    "div": "SDIV/UDIV (default of timing.div_min)",
    "load": "LDR/LDRB/LDRH/LDRSB/LDRSH/LDREX", "load_byte_half": "extra latency of byte/half loads",
    "load_pc": "LDR PC (plus refill)", "load_pc_extra": "extra cycles of LDR PC and TBB/TBH",
    "store": "STR register offset, STRB/STRH/STREX", "store_imm": "STR immediate offset",
    "ldrd": "LDRD", "strd": "STRD", "ldm": "LDM/POP (occupancy key)", "ldm_pc": "POP {..,PC}",
    "ldm_base": "LDM/POP: base cycles", "ldm_per_reg": "LDM/POP: cycles per register",
    "ldm_pc_extra": "POP/LDM with PC: extra cycles", "stm": "STM/PUSH (occupancy key)",
    "stm_base": "STM/PUSH: base cycles", "stm_per_reg": "STM/PUSH: cycles per register",
    "b": "B/B<cc> (unit key)", "cbz": "CBZ/CBNZ (unit key)", "branch": "B/B<cc>/CBZ issue",
    "bl": "BL", "blx": "BLX", "bx": "BX", "tbb": "TBB/TBH", "it": "IT",
    "it_folded": "IT folded onto a preceding 16-bit instruction", "nop": "NOP/YIELD/SEV",
    "pld": "PLD/PLI", "wfi": "WFI (sleep time added by the system model)", "wfe": "WFE",
    "barrier": "DMB/DSB", "isb": "ISB", "mrs": "MRS", "msr": "MSR", "cps": "CPSID/CPSIE",
    "svc": "SVC (issue only)", "bkpt": "BKPT", "udf": "UDF",
    "fp_alu": "VADD/VSUB/VMUL/VABS/VNEG/VCMP/VCVT .F32", "fp_mac": "VMLA/VMLS/VNMLA/VNMLS .F32",
    "fp_fma": "VFMA/VFMS/VFNMA/VFNMS .F32", "fp_div": "VDIV.F32", "fp_sqrt": "VSQRT.F32",
    "fp_alu_f64": "FP ALU .F64", "fp_mac_f64": "VMLA .F64", "fp_fma_f64": "VFMA .F64",
    "fp_div_f64": "VDIV.F64", "fp_sqrt_f64": "VSQRT.F64",
    "vldr": "VLDR (unit key)", "vstr": "VSTR (unit key)", "vldr_32": "VLDR.32",
    "vldr_64": "VLDR.64", "vstr_32": "VSTR.32", "vstr_64": "VSTR.64",
    "vldm": "VLDM/VPOP (occupancy key)", "vstm": "VSTM/VPUSH (occupancy key)",
    "vldm_base": "VLDM/VSTM: base cycles", "vldm_per_word": "VLDM/VSTM: cycles per word",
    "vmov": "VMOV immediate/register", "vmov_core": "VMOV S <-> core register",
    "vmov_core2": "VMOV two core registers", "vmrs": "VMRS", "vmsr": "VMSR",
}
_CLASSES = tuple(TIMING_CLASSES)
UNITS = ("alu", "load", "store", "mac", "branch", "fpu", "shift")

CLASS_CYCLES = _Map(INT, "table {class = cycles}", keys=_CLASSES)
CLASS_LIST = _ListOf(STR, "list of classes")
UNIT_LIST = _ListOf(STR, "list of units")


class _LateAcc(Kind):
    name = "list of classes, or table {class = cycles}"

    def parse(self, v, p):
        if isinstance(v, (list, tuple)):
            v = {c: 1 for c in CLASS_LIST.parse(v, Param(CLASS_LIST, choices=_CLASSES))}
        return CLASS_CYCLES.parse(v, p)

    def toml(self, v):
        return CLASS_CYCLES.toml(v)


class _UnitPairs(Kind):
    name = "list of [unit, unit]"

    def parse(self, v, p):
        if not isinstance(v, (list, tuple)):
            raise Invalid(f"must be a list of [unit, unit] pairs, got {v!r}")
        out = []
        for x in v:
            pair = UNIT_LIST.parse(x, Param(UNIT_LIST, choices=UNITS))
            if len(pair) != 2:
                raise Invalid(f"entry {list(x)!r} is not a pair")
            out.append(pair)
        return tuple(out)


class _ClassUnits(_Map):
    def __init__(self):
        super().__init__(UNIT_LIST, "table {class = [unit, ...]}", keys=_CLASSES)

    def parse(self, v, p):
        out = super().parse(v, Param(UNIT_LIST, choices=UNITS))
        return out


DEFAULT_UNITS = FrozenMap({"alu": 2, "load": 2, "store": 1, "mac": 1, "branch": 1, "fpu": 1,
                           "shift": 1})


@dataclass(frozen=True, kw_only=True)
class Pair16Spec(Spec):
    """[timing.pair16_branch] (usually an inline table): cost of a final 16-bit B<cc>/CBZ
    after a 16-bit instruction (M33 limited dual issue)."""
    not_taken: int = param(INT, 0, "cycles when not taken", unit="cycles", min=0, max=100)
    taken: int | None = param(INT, None, "cycles when taken", unit="cycles", min=0, max=100,
                              default_doc="the branch's cost + refill")
    taken_after_flag_setter: int | None = param(
        INT, None, "cycles when taken right after a flag-setting instruction", unit="cycles",
        min=0, max=100, default_doc="the branch's cost + refill")


@dataclass(frozen=True, kw_only=True)
class BranchRefillSpec(Spec):
    """[timing.branch_refill]: the taken-branch refill P as a rule instead of one number
    (Cortex-M3/M4: the TRM's 1-3 "depending on the alignment and width of the target
    instruction, and whether the processor manages to speculate the address early";
    docs/timing.md). Branches the decoder resolves (B, B<cc>, BL; BX/BLX/MOV PC with LR
    when the previous instruction does not write LR) cost `decode_time`; every other taken
    branch or PC write costs `branch_taken_refill`; a statically known target that is a
    32-bit instruction at a halfword (not word) address adds `unaligned_wide_target`."""
    decode_time: int = param(INT, doc="P of a branch resolved in decode", unit="cycles",
                             min=0, max=10)
    unaligned_wide_target: int = param(INT, 0, "extra when the target is a 32-bit "
                                       "instruction at an address = 2 mod 4", unit="cycles",
                                       min=0, max=10)
    max: int = param(INT, 3, "upper bound of P", unit="cycles", min=0, max=10)


@dataclass(frozen=True, kw_only=True)
class UnalignedSpec(Spec):
    """[timing.unaligned]: extra cycles of an unaligned LDR/LDRH/STR/STRH (the only
    instructions that may access an unaligned address). The address is known only at run
    time, so the memory model adds them per access (docs/timing.md "Unaligned accesses"):
    in `detailed` mode in every memory; `fast` mode learns them per block only in the
    memories its windows hook (those that can stall or cache: flash, the M7's SRAM)."""
    load_halfword_odd: int = param(INT, 0, "halfword load at an odd address", unit="cycles",
                                   min=0, max=100)
    load_word_2: int = param(INT, 0, "word load at an address = 2 mod 4", unit="cycles",
                             min=0, max=100)
    load_word_odd: int = param(INT, 0, "word load at an address = 1 or 3 mod 4",
                               unit="cycles", min=0, max=100)
    store_halfword_odd: int = param(INT, 0, "halfword store at an odd address",
                                    unit="cycles", min=0, max=100)
    store_word_2: int = param(INT, 0, "word store at an address = 2 mod 4", unit="cycles",
                              min=0, max=100)
    store_word_odd: int = param(INT, 0, "word store at an address = 1 or 3 mod 4",
                                unit="cycles", min=0, max=100)


@dataclass(frozen=True, kw_only=True)
class PairingSpec(Spec):
    """[timing.pairing]: dual-issue rules (model = dual_issue)."""
    units: Mapping = param(_Map(INT, "table {unit = count}", keys=UNITS), DEFAULT_UNITS,
                           "functional units per cycle", default_doc=", ".join(
                               f"{k} {v}" for k, v in DEFAULT_UNITS.items()))
    forbid_pairs: tuple = param(_UnitPairs(), (), "units that never issue together")
    load_load_same_bank_pairs: bool = param(BOOL, False, "two loads to the same DTCM/D-cache "
                                            "bank pair")
    load_load_unknown_bank_pairs: bool = param(BOOL, True, "two loads with unknown banks pair")
    movw_movt_pair: bool = param(BOOL, True, "MOVW+MOVT pair despite their dependency")
    single_issue: tuple = param(CLASS_LIST, (), "classes that issue alone", choices=_CLASSES)
    slot0_only: tuple = param(CLASS_LIST, (), "classes that issue only in the older slot",
                              choices=_CLASSES)
    class_units: Mapping = param(_ClassUnits(), FrozenMap(), "units each class occupies")


@dataclass(frozen=True, kw_only=True)
class TimingSpec(Spec):
    """[timing]: the static per-block core timing model (mcusim/timing/core.py)."""
    model: str = param(STR, "scalar", "scalar (single issue) or dual_issue (Cortex-M7)",
                       choices=("scalar", "dual_issue"))
    issue_width: int = param(INT, 1, "instructions issued per cycle", min=1, max=8)
    branch_taken_refill: int = param(INT, 2, "pipeline refill P after a taken branch",
                                     unit="cycles", min=0, max=100)
    load_pipelined_saving: int = param(INT, 0, "cycles saved by a load/store right after a "
                                       "load (TRM §3.3.2)", unit="cycles", min=0, max=100)
    load_writeback_chains: str = param(STR, "different_base", "which writeback loads chain",
                                       choices=("different_base", "first_only", "never"))
    addr_dep_penalty: int = param(INT, 0, "stall when an address uses the previous result",
                                  unit="cycles", min=0, max=100)
    store_then_load_penalty: int = param(INT, 0, "extra cycle of a load after a store",
                                         unit="cycles", min=0, max=100)
    it_folding: bool = param(BOOL, False, "IT folds onto a preceding 16-bit instruction")
    write_buffer_entries: int = param(INT, 0, "stores a write buffer holds while the bus "
                                      "waits (0: a store waits for its wait states)", min=0,
                                      max=8)
    div_min: int = param(INT, None, "SDIV/UDIV fastest case", unit="cycles", min=0, max=100,
                         default_doc="timing.classes.div, else 2")
    div_max: int = param(INT, Ref("div_min"), "SDIV/UDIV slowest case", unit="cycles", min=0,
                         max=100, default_doc="= div_min")
    exception_entry_cycles: int | None = param(INT, None, "exception entry (zero wait states)",
                                               min=0, max=1000)
    exception_exit_cycles: int | None = param(INT, None, "exception return", min=0, max=1000)
    tail_chain_cycles: int | None = param(INT, None, "tail-chaining", min=0, max=1000)
    exception_entry_cycles_fp_context: int | None = param(
        INT, Ref("exception_entry_cycles"), "entry with an active FP context", unit="cycles", min=0,
        max=1000, default_doc="= exception_entry_cycles")
    exception_exit_cycles_fp_context: int | None = param(
        INT, Ref("exception_exit_cycles"), "return with an FP context in the frame",
        unit="cycles", min=0,
        max=1000, default_doc="= exception_exit_cycles")
    late_accumulator_classes: Mapping = param(_LateAcc(), FrozenMap(), "classes reading their "
                                              "accumulator late (list: 1 cycle each)")
    late_store_data: bool = param(BOOL, False, "a store reads its data one cycle late")
    shifted_operand_extra_latency: int = param(INT, 0, "extra result latency of shifted "
                                               "operands", unit="cycles", min=0, max=100)
    pair16_branch: Pair16Spec | None = table(Pair16Spec, "16-bit branch pairing (M33)")
    branch_refill: BranchRefillSpec | None = table(BranchRefillSpec, "P by branch kind and "
                                                   "target (M3/M4)")
    unaligned: UnalignedSpec | None = table(UnalignedSpec, "unaligned LDR/STR(H) extra "
                                            "cycles (memory model)")
    branch_mispredict_cycles: int = param(INT, 8, "dual_issue: mispredicted branch",
                                          min=0, max=100)
    branch_mispredict_early_flags_cycles: int = param(
        INT, Ref("branch_mispredict_cycles"), "dual_issue: mispredict when flags were set "
        "early", min=0, max=100, default_doc="= branch_mispredict_cycles")
    early_flags_distance: int = param(INT, 3, "dual_issue: cycles that make flags early",
                                      unit="cycles", min=0, max=100)
    branch_predicted_taken_extra: int = param(INT, 0, "dual_issue: predicted taken branch",
                                              unit="cycles", min=0, max=100)
    indirect_extra: int = param(INT, 4, "dual_issue: indirect branch", unit="cycles", min=0,
                                max=100)
    ldm_regs_per_cycle: int = param(INT, 2, "dual_issue: LDM/STM registers per cycle", min=1,
                                    max=16)
    classes: Mapping = param(CLASS_CYCLES, FrozenMap(), "issue cycles per instruction class "
                             "(a class left out costs as alu)", unit="cycles", min=0, max=1000)
    extra_latency: Mapping = param(CLASS_CYCLES, FrozenMap(), "result latency beyond the issue "
                                   "cost (scalar)", unit="cycles", min=0, max=1000)
    latency: Mapping = param(CLASS_CYCLES, FrozenMap(), "cycles from issue to a dependent "
                             "issue (dual_issue)", unit="cycles", min=0, max=1000)
    pairing: PairingSpec | None = table(PairingSpec, "dual-issue rules")
    raw: dict = derived(compare=False)

    @classmethod
    def _finish(cls, kw, ctx, path):
        if kw.get("div_min") is None:
            kw["div_min"] = int(kw["classes"].get("div", 2))
            if kw.get("div_max") is None:
                kw["div_max"] = kw["div_min"]

    def _check(self, ctx, path):
        if "alu" not in self.classes:
            raise ctx.error(_join(path, "classes"), f"[{_join(path, 'classes')}] needs at "
                            "least 'alu'")
        if self.div_max < self.div_min:
            raise ctx.key_error(_join(path, "div_max"), f"({self.div_max}) is below div_min "
                                f"({self.div_min})")


class CoreName(str):
    """A core's name that carries the core's own timing table.

    Transitional: ``blocks.py`` builds the timing model with ``CoreTiming(core.name)``;
    through this, a core loaded from a user file (even one named like a built-in core)
    gets its own timing rather than the catalog's."""

    def __new__(cls, name: str, timing: TimingSpec | None = None):
        s = super().__new__(cls, name)
        s.timing = timing
        return s

    def __reduce__(self):
        return (CoreName, (str(self), self.timing))


@dataclass(frozen=True, kw_only=True)
class CoreSpec(Spec):
    """A core file (cores/*.toml): [core] and [timing]."""
    __section__ = "core"
    __title__ = "Core files (`cores/*.toml`)"
    name: str = derived("")
    description: str = param(STR, "", "one line, shown by mcusim list", knob=False)
    unicorn_cpu: str = param(STR, doc="Unicorn CPU model (M0+ uses cortex-m0)",
                             choices=UNICORN_CPUS)
    arch: str = param(STR, doc="architecture profile", choices=ARCHES)
    has_dsp: bool = param(BOOL, doc="DSP extension (SIMD, saturating, MAC instructions)")
    fpu: str | None = param(STR, "none", "floating-point unit (none stored as None)",
                            choices=("none",) + FPUS)
    nvic_prio_bits: int = param(INT, doc="implemented NVIC priority bits", min=1, max=8)
    exc_entry_cycles: int = param(INT, doc="exception entry latency", min=0, max=1000)
    exc_exit_cycles: int = param(INT, doc="exception return latency", min=0, max=1000)
    tail_chain_cycles: int = param(INT, doc="tail-chaining latency", min=0, max=1000)
    exc_entry_cycles_fp_context: int | None = param(INT, None, "entry with an FP context",
                                                    unit="cycles", min=0, max=1000)
    exc_exit_cycles_fp_context: int | None = param(INT, None, "return with an FP context",
                                                   unit="cycles", min=0, max=1000)
    assumed: tuple = param(STRS, (), "which [core] values are assumptions", knob=False)
    timing: TimingSpec | None = table(TimingSpec, "instruction timing (without it: one cycle "
                                      "per instruction)")
    source_path: str = derived("", compare=False)
    raw: dict = derived(compare=False)
    origins: Mapping = derived(FrozenMap(), compare=False)
    chain: tuple = derived((), compare=False)

    @classmethod
    def _finish(cls, kw, ctx, path):
        if kw.get("fpu") == "none":
            kw["fpu"] = None
        kw["name"] = CoreName(kw.get("name", ""), kw.get("timing"))

    def _check(self, ctx, path):
        known = set(info(CoreSpec).params)
        for a in self.assumed:
            if a not in known:
                s = _suggest(a, known)
                raise ctx.key_error("core.assumed", f"names unknown key {a!r}"
                                    + (f" (did you mean {s!r}?)" if s else ""))


# --------------------------------------------------------------------------- the MCU

@dataclass(frozen=True, kw_only=True)
class McuSpec(Spec):
    """An MCU file (memory_models/*.toml)."""
    __section__ = "mcu"
    __title__ = "MCU files (`memory_models/*.toml`)"
    name: str = derived("")
    description: str = param(STR, doc="one line, shown by mcusim list", knob=False)
    vendor: str = param(STR, "", "who makes it", knob=False)
    core: CoreSpec = param(STR, doc="a core in cores/ (cortex-m4f), or a path to a core file "
                           "(relative to this file)")
    clock_mhz: float = param(FLOAT, doc="run clock: the clock the simulation uses unless "
                             "firmware changes it", gt=0, max=MAX_CLOCK_MHZ)
    max_clock_mhz: float = param(FLOAT, Ref("clock_mhz"), "highest legal clock", gt=0,
                                 max=MAX_CLOCK_MHZ, default_doc="= clock_mhz")
    reset_clock_mhz: float | None = param(FLOAT, None, "clock right after reset (MSI 4 MHz on "
                                          "STM32L4)", gt=0, max=MAX_CLOCK_MHZ)
    start_state: str = param(STR, "auto", "auto: the run configuration (clock_mhz, flash "
                             "latency from the table, accelerators on) until the firmware "
                             "first touches a clock-control register, then the reset state "
                             "from cycle 0; reset: the reset state (reset clock and register "
                             "values) from the start (docs/clocks.md)", choices=("auto", "reset"))
    voltage_range: str = param(STR, None, "regulator range in force: a key of "
                               "[flash.wait_states]", default_doc="= flash.default_range, "
                               "else \"default\"")
    num_irqs: int = param(INT, doc="external interrupt lines (last IRQn + 1)", min=1, max=496)
    nvic_prio_bits: int | None = param(INT, None, "implemented NVIC priority bits (overrides "
                                       "the core file)", min=1, max=8,
                                       default_doc="the core's")
    boot_address: int = param(ADDR, 0, "where the vector table is read at reset",
                              unit="address")
    console: str | None = param(STR, None, "peripheral wired to the board's virtual COM port",
                                knob=False)
    power_model: str | None = param(STR, None, "name in power_models/ (or a path)", knob=False)
    memories: tuple = table_map(MemoryRegion, "memory regions", key="memory", required=True,
                                as_tuple=True)
    flash: FlashTiming | None = table(FlashTiming, "flash wait states and accelerator; without "
                                      "it flash has the fixed read_wait_states of its region")
    caches: Mapping = table_map(CacheSpec, "core L1 or system caches")
    peripherals: tuple = table_map(PeripheralSpec, "memory-mapped peripherals", as_tuple=True)
    systick: SystickSpec = table(SystickSpec, "SysTick", default_instance=True)
    accelerators: tuple = table_map(AcceleratorPluginSpec, "accelerator plugins: "
                                    "[[accelerators]] entries (docs/accelerators.md)",
                                    as_tuple=True)
    source_path: str = derived("", compare=False)
    raw: dict = derived(compare=False)
    origins: Mapping = derived(FrozenMap(), compare=False)
    chain: tuple = derived((), compare=False)

    @classmethod
    def _finish(cls, kw, ctx, path):
        core = ctx.core
        if core is None:
            core = ctx.resolve_core(kw["core"], ctx)
        if kw.get("nvic_prio_bits") is not None and kw["nvic_prio_bits"] != core.nvic_prio_bits:
            core = dataclasses.replace(core, nvic_prio_bits=kw["nvic_prio_bits"])
        kw["core"] = core
        pm = kw.get("power_model")
        if pm and (pm.endswith(".toml") or "/" in pm or "\\" in pm):
            # a power model file by path: relative to the MCU file that names it (as a core
            # file is); a path that only exists relative to the working directory still works
            import os
            src = ctx.origin("mcu.power_model")
            p = os.path.expanduser(pm)
            if not os.path.isabs(p) and src.endswith(".toml"):
                near = os.path.join(os.path.dirname(src), p)
                if os.path.isfile(near) or not os.path.isfile(p):
                    kw["power_model"] = near
        flash = kw.get("flash")
        if kw.get("voltage_range") is None:
            kw["voltage_range"] = flash.default_range if flash else "default"

    def _check(self, ctx, path):
        _check_mcu(self, ctx)

    # ---- queries
    def flash_wait_states(self, clock_mhz: float, vrange: str | None = None) -> int:
        """Flash read wait states at ``clock_mhz`` in voltage range ``vrange``.

        Follows the catalog table (first row whose ``max_mhz`` >= clock). MCUs without
        a flash timing table (ideal ``generic-*`` parts) return the flash region's fixed
        wait states. Raises CatalogError above the range's maximum frequency.
        """
        if self.flash is None:
            fixed = [m.read_wait_states for m in self.memories if m.kind == "flash"]
            return int(fixed[0] or 0) if fixed else 0
        rng = vrange or self.voltage_range or self.flash.default_range
        table_ = self.flash.ws_tables.get(rng)
        if table_ is None:
            raise CatalogError(
                f"{self.name}: unknown voltage range {rng!r} "
                f"(known: {', '.join(self.flash.ws_tables)})")
        for max_mhz, ws in table_:
            if clock_mhz <= max_mhz + 1e-9:
                return ws
        raise CatalogError(
            f"{self.name}: {clock_mhz:g} MHz is above the {table_[-1][0]:g} MHz maximum "
            f"of voltage range {rng!r}")

    def ram_bytes(self) -> int:
        """Total bytes of SRAM and TCM regions (aliases counted once)."""
        return sum(m.size for m in self.memories if m.kind in ("sram", "tcm"))

    def flash_bytes(self) -> int:
        return sum(m.size for m in self.memories if m.kind == "flash")

    def memory(self, name: str) -> MemoryRegion:
        for m in self.memories:
            if m.name == name:
                return m
        raise CatalogError(f"{self.name}: no memory region {name!r}")

    def peripheral(self, name: str) -> PeripheralSpec:
        for p in self.peripherals:
            if p.name == name:
                return p
        raise CatalogError(f"{self.name}: no peripheral {name!r}")

    # ---- the sweep API (see the module functions)
    def knobs(self) -> list["Knob"]:
        return knobs(self)

    def get(self, path: str) -> Any:
        return get(self, path)

    def derive(self, changes: Mapping[str, Any], name: str | None = None) -> "McuSpec":
        return derive(self, changes, name)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _check_mcu(m: McuSpec, ctx: Ctx) -> None:
    flash = m.flash
    if m.clock_mhz > m.max_clock_mhz:
        raise ctx.key_error("mcu.clock_mhz", f"({m.clock_mhz:g}) is above mcu.max_clock_mhz "
                            f"({m.max_clock_mhz:g})")
    if flash is not None and m.voltage_range not in flash.ws_tables:
        raise ctx.key_error("mcu.voltage_range", f"is {m.voltage_range!r}; known ranges: "
                            f"{', '.join(flash.ws_tables)}")
    total = 0
    spans = []
    for r in m.memories:
        p = f"memory.{r.name}"
        if r.kind == "flash" and r.read_wait_states is None and flash is None:
            raise ctx.error(p, f"key '{p}.read_wait_states' is needed when there is no "
                            "[flash] wait-state table")
        for i, a in enumerate((r.base, *r.aliases)):
            label = p + ("" if i == 0 else f".aliases[{i - 1}]")
            if a % PAGE or r.size % PAGE:
                raise ctx.error(p, f"{p} base {a:#x} and size_bytes {r.size:#x} must be "
                                f"multiples of {PAGE} (the emulator maps 1 KB pages)")
            if a + r.size > 1 << 32:
                raise ctx.error(p, f"{p} at {a:#x} + {r.size:#x} runs past 4 GB")
            spans.append(((a, a + r.size), label, p))
        total += r.size
    if total > MAX_MEMORY_BYTES:
        raise ctx.error("memory", f"memory regions hold {total:,} bytes in all; at most "
                        f"{MAX_MEMORY_BYTES:,} can be simulated")
    def keys(p):
        return [f"{p}.base", f"{p}.size_bytes", f"{p}.aliases"]

    for i in range(len(spans)):
        for j in range(i + 1, len(spans)):
            (a, la, pa), (b, lb, pb) = spans[i], spans[j]
            if _overlap(a, b):
                raise ctx.error(ctx.latest(*keys(pa), *keys(pb)),
                                f"{la} ({a[0]:#x}-{a[1] - 1:#x}) overlaps {lb} "
                                f"({b[0]:#x}-{b[1] - 1:#x})")
    windows = [((s.base, s.end), f"peripherals.{s.name}", f"peripherals.{s.name}")
               for s in m.peripherals]
    for (rng, what, p) in spans + windows:
        if rng[1] > 1 << 32:
            raise ctx.error(ctx.latest(*keys(p)), f"{what} runs past 4 GB")
        for lo, hi, res in RESERVED:
            if _overlap(rng, (lo, hi)):
                raise ctx.error(ctx.latest(*keys(p)),
                                f"{what} ({rng[0]:#x}-{rng[1] - 1:#x}) overlaps {res}")
    for s in m.peripherals:
        p = f"peripherals.{s.name}"
        for rng, what, pm in spans:
            if _overlap((s.base, s.end), rng):
                raise ctx.error(ctx.latest(*keys(p), *keys(pm)),
                                f"{p} ({s.base:#x}-{s.end - 1:#x}) overlaps {what}")
        if s.irq is not None and s.irq >= m.num_irqs:
            raise ctx.key_error(f"{p}.irq", f"= {s.irq} is not below mcu.num_irqs = "
                                f"{m.num_irqs}")
    # Modelled peripherals may sit inside "unmodelled" bus ranges, but not overlap each
    # other; unmodelled ranges must not overlap each other either.
    for group in ([s for s in m.peripherals if s.model != "unmodelled"],
                  [s for s in m.peripherals if s.model == "unmodelled"]):
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                a, b = group[i], group[j]
                if _overlap((a.base, a.end), (b.base, b.end)):
                    raise ctx.error(ctx.latest(*keys(f"peripherals.{a.name}"),
                                               *keys(f"peripherals.{b.name}")),
                                    f"peripherals.{a.name} ({a.base:#x}-{a.end - 1:#x}) "
                                    f"overlaps peripherals.{b.name} ({b.base:#x}-"
                                    f"{b.end - 1:#x})")
    if m.console is not None and m.console not in {s.name for s in m.peripherals}:
        s = _suggest(m.console, [x.name for x in m.peripherals])
        raise ctx.key_error("mcu.console", f"names unknown peripheral {m.console!r}"
                            + (f" (did you mean {s!r}?)" if s else ""))
    if flash is not None:                    # the run clock must be reachable
        rows = flash.ws_tables[m.voltage_range]
        if m.clock_mhz > rows[-1][0] + 1e-9:
            where = ctx.latest("mcu.clock_mhz", "mcu.voltage_range",
                               f"flash.wait_states.{m.voltage_range}")
            raise ctx.error(where, f"key 'mcu.clock_mhz' = {m.clock_mhz:g} MHz is above the "
                            f"{rows[-1][0]:g} MHz maximum of voltage range "
                            f"{m.voltage_range!r} (flash.wait_states)")
    for c in m.caches.values():
        if c.kind == "core" and m.core.unicorn_cpu != "cortex-m7":
            raise ctx.error(f"caches.{c.name}", f"[caches.{c.name}]: core L1 caches exist only "
                            f"on the Cortex-M7 (this MCU's core is {m.core.name})")
    if m.accelerators:
        _check_accelerators(m, ctx, spans)


# --------------------------------------------------------------------------- power

LOCATIONS = ("flash_accel_on", "flash_accel_off", "sram")


@dataclass(frozen=True, kw_only=True)
class RunCurrentSpec(Spec):
    """[run.<range>.<location>]: run-mode supply current."""
    run_ua_per_mhz: float = param(FLOAT, doc="current per MHz of core clock", min=0, max=1e6)
    run_static_ua: float = param(FLOAT, 0.0, "frequency-independent current", min=0, max=1e7)


@dataclass(frozen=True, kw_only=True)
class RunRangeSpec(Spec):
    """[run.<range>]: run currents of one voltage range, per code location."""
    name: str = name_field()
    max_clock_mhz: float | None = param(FLOAT, None, "highest clock of the range (only needed "
                                        "when the MCU file has no wait-state table for it)",
                                        gt=0, max=MAX_CLOCK_MHZ)
    flash_accel_on: RunCurrentSpec | None = table(RunCurrentSpec, "code in flash, accelerator "
                                                  "(or caches) on")
    flash_accel_off: RunCurrentSpec | None = table(RunCurrentSpec, "code in flash, "
                                                   "accelerator off")
    sram: RunCurrentSpec | None = table(RunCurrentSpec, "code in SRAM")

    def locations(self) -> dict:
        return {loc: getattr(self, loc) for loc in LOCATIONS if getattr(self, loc) is not None}


@dataclass(frozen=True, kw_only=True)
class SleepSpec(Spec):
    """[sleep]: Sleep mode (WFI with SLEEPDEEP = 0)."""
    sleep_ua_per_mhz: float = param(FLOAT, doc="current per MHz", min=0, max=1e6)
    sleep_static_ua: float = param(FLOAT, 0.0, "frequency-independent current", min=0, max=1e7)
    wakeup_us: float | None = param(FLOAT, None, "wake-up time", min=0, max=1e9)
    wakeup_energy_uj: float | None = param(FLOAT, None, "wake-up energy (else run power x "
                                           "wake-up time)", min=0, max=1e9)


@dataclass(frozen=True, kw_only=True)
class StateSpec(Spec):
    """[states.<name>]: a deep low-power state (Stop, Standby, Shutdown)."""
    name: str = name_field()
    kind: str = param(STR, doc="what kind of state", choices=("stop", "standby", "shutdown",
                                                              "other"), knob=False)
    current_ua: float = param(FLOAT, doc="supply current, independent of the clock", min=0,
                              max=1e7)
    wakeup_us: float | None = param(FLOAT, None, "wake-up time", min=0, max=1e9)
    wakeup_energy_uj: float | None = param(FLOAT, None, "wake-up energy", min=0, max=1e9)
    retention: str | None = param(STR, None, "what keeps its content (documentation)",
                                  knob=False)


def _pj(doc: str) -> Any:
    return param(FLOAT, None, doc, unit="pJ", min=0, max=1e9)


# the events mcusim counts (mcusim/power/activity.py) and the key pricing each
ACTIVITY_EVENTS = ("fetch_word", "data_read", "data_write", "flash_read_through",
                   "flash_read_around", "cache_fill", "cache_writeback", "bus_byte")


@dataclass(frozen=True, kw_only=True)
class AccessEnergySpec(Spec):
    """[access_energy]: energies per activity event, added on top of the run currents
    (which are then the baseline of a core that only spins in its fetch buffer: the
    datasheet's while(1) row). Off unless enabled. Each is the energy drawn from the supply
    at `power.datasheet_vdd_v`, scaled to `power.vdd_v` like the currents (docs/power.md)."""
    enabled: bool = param(BOOL, False, "charge the per-event energies")
    fetch_word_pj: float | None = _pj("per 32-bit word of instructions the core executes "
                                      "(executed code bytes / 4)")
    data_read_pj: float | None = _pj("per 32-bit data read of the core (LDM/POP: each "
                                     "register; LDRD: 2)")
    data_write_pj: float | None = _pj("per 32-bit data write of the core")
    flash_read_through_pj: float | None = _pj("per flash read that fills the flash "
                                              "accelerator or an instruction cache (one read "
                                              "of the flash width)")
    flash_read_around_pj: float | None = _pj("per flash read that bypasses them")
    cache_fill_pj: float | None = _pj("per line fill of a core cache (Cortex-M7 L1, ST "
                                      "ICACHE): writing the line; its source read is "
                                      "priced separately")
    cache_writeback_pj: float | None = _pj("per dirty line written back")
    bus_byte_pj: float | None = _pj("per byte moved by another bus master (DMA)")
    energies_pj: Mapping = derived(FrozenMap())
    __pattern__ = (r"^instr_[a-z][a-z0-9_]*_pj$", Param(FLOAT, doc="energy per executed "
                   "instruction of a class (instr_<class>_pj: instr_mac_pj, ...)",
                   unit="pJ", min=0, max=1e9))

    def events_pj(self) -> dict:
        """{event: pJ} of every energy given (declared events and instr_<class>)."""
        out = {e: getattr(self, f"{e}_pj") for e in ACTIVITY_EVENTS
               if getattr(self, f"{e}_pj") is not None}
        out.update({k[:-3]: v for k, v in self.energies_pj.items()})
        return out


@dataclass(frozen=True, kw_only=True)
class BoardSpec(Spec):
    """[board]: what a measurement of the board's supply rail includes besides the MCU's
    modelled current (docs/power.md "Board domain")."""
    description: str | None = param(STR, None, "the board and the rail measured",
                                    knob=False)
    extra_ua: float = param(FLOAT, 0.0, "current on the measured rail besides the MCU's "
                            "modelled current, in every power state", min=0, max=1e7)
    peripherals_ua_per_mhz: float = param(FLOAT, 0.0, "clocked peripherals the firmware "
                                          "keeps on beyond the datasheet conditions (Run and "
                                          "Sleep), scaled like the run currents",
                                          min=0, max=1e6)


class _Curve(Kind):
    name = "list of [x, y] numbers, x increasing"

    def parse(self, v, p):
        if not isinstance(v, (list, tuple)) or not v:
            raise Invalid(f"must be a non-empty list of [x, y] pairs, got {v!r}")
        out = []
        for i, xy in enumerate(v):
            if not (isinstance(xy, (list, tuple)) and len(xy) == 2):
                raise Invalid(f"[{i}] must be a pair [x, y], got {xy!r}")
            x, y = (FLOAT.parse(a, _PLAIN) for a in xy)
            if out and x <= out[-1][0]:
                raise Invalid(f"[{i}] x = {x:g} is not above the previous {out[-1][0]:g}")
            _bounds(y, p)
            out.append((x, y))
        return tuple(out)

    def toml(self, v):
        return "[" + ", ".join(f"[{_num(x)}, {_num(y)}]" for x, y in v) + "]"


CURVE = _Curve()


@dataclass(frozen=True, kw_only=True)
class PowerSpec(Spec):
    """A power model file (power_models/*.toml)."""
    __section__ = "power"
    __title__ = "Power models (`power_models/*.toml`)"
    name: str = derived("")
    description: str = param(STR, doc="one line, shown by mcusim list", knob=False)
    vdd_v: float = param(FLOAT, doc="supply voltage used for energy", min=0.1, max=10)
    datasheet_vdd_v: float = param(FLOAT, Ref("vdd_v"), "supply voltage of the datasheet "
                                   "currents", min=0.1, max=10, default_doc="= vdd_v")
    vdd_range_v: tuple | None = param(RANGE, None, "legal supply range [low, high]", unit="V")
    regulator: str = param(STR, "ldo", "ldo: currents independent of VDD; smps: constant "
                           "power", choices=("ldo", "smps"))
    smps_power_ratio: tuple | None = param(CURVE, None, "SMPS: input power at a supply "
                                           "voltage relative to that at datasheet_vdd_v, "
                                           "[[vdd_v, ratio], ...] interpolated (absent: "
                                           "constant power, ratio 1)", min=0.1, max=10)
    data_status: str = param(STR, "placeholder", "sourced: every value cites a datasheet, "
                             "manual, paper or public measurement, or is derived from them; "
                             "derived: no datasheet table, the values are derived from "
                             "public board measurements (outputs say so); "
                             "placeholder: some are not (outputs say so)",
                             choices=("sourced", "derived", "placeholder"), knob=False)
    data_reason: str | None = param(STR, None, "why the data is a placeholder, or where "
                                    "the sourced data comes from (shown with the results)",
                                    knob=False)
    default_range: str = param(STR, None, "voltage range when the MCU names none",
                               default_doc="the first [run.<range>]", knob=False)
    default_location: str = param(STR, "flash_accel_on", "code location when none is given",
                                  choices=LOCATIONS)
    deep_sleep_default: str | None = param(STR, None, "state WFI with SLEEPDEEP = 1 enters",
                                           default_doc="the first [states.<name>]", knob=False)
    run: Mapping = table_map(RunRangeSpec, "run currents per voltage range", required=True)
    sleep: SleepSpec | None = table(SleepSpec, "Sleep mode currents")
    states: Mapping = table_map(StateSpec, "deep low-power states")
    access_energy: AccessEnergySpec = table(AccessEnergySpec, "per-access energies",
                                            default_instance=True)
    board: BoardSpec = table(BoardSpec, "what the measured supply rail includes besides "
                             "the MCU", default_instance=True)
    source_path: str = derived("", compare=False)
    raw: dict = derived(compare=False)
    origins: Mapping = derived(FrozenMap(), compare=False)
    chain: tuple = derived((), compare=False)

    @classmethod
    def _finish(cls, kw, ctx, path):
        if kw.get("default_range") is None:
            kw["default_range"] = next(iter(kw["run"]))
        if kw.get("deep_sleep_default") is None and kw["states"]:
            kw["deep_sleep_default"] = next(iter(kw["states"]))

    def _check(self, ctx, path):
        if not any(r.locations() for r in self.run.values()):
            raise ctx.error("run", "[run.<range>] has no code-location table with "
                            "run_ua_per_mhz")
        if self.default_range not in self.run:
            raise ctx.key_error("power.default_range", f"is {self.default_range!r}; known: "
                                f"{', '.join(self.run)}")
        if self.default_location not in self.run[self.default_range].locations():
            raise ctx.key_error("power.default_location", f"{self.default_location!r} is not "
                                f"in [run.{self.default_range}]")
        if self.deep_sleep_default is not None and self.deep_sleep_default not in self.states:
            raise ctx.key_error("power.deep_sleep_default", f"names unknown state "
                                f"{self.deep_sleep_default!r} (known: "
                                f"{', '.join(self.states) or 'none'})")
        if self.vdd_range_v and not (self.vdd_range_v[0] - 1e-9 <= self.vdd_v
                                     <= self.vdd_range_v[1] + 1e-9):
            raise ctx.key_error("power.vdd_v", f"= {self.vdd_v:g} V is outside vdd_range_v")


# --------------------------------------------------------------------------- knobs

@dataclass(frozen=True)
class Knob:
    """One value a sweep may vary: its dotted path, type, unit, default, doc and value."""
    path: str
    type: str
    unit: str
    default: Any
    doc: str
    value: Any
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None


def _default_text(p: Param) -> Any:
    if p.default_doc:
        return p.default_doc
    if isinstance(p.default, Ref):
        return f"= {p.default.key}"
    if p.default is REQUIRED:
        return "required"
    return p.default


def _walk(obj, prefix: str, knob_only: bool) -> Iterator[tuple[str, Param, Any]]:
    """(dotted path, Param, value) of every declared value of a built spec."""
    cls = type(obj)
    inf = info(cls)
    ppre = inf.section or prefix
    for key, (fname, p) in inf.params.items():
        v = getattr(obj, fname)
        if fname == "core" and isinstance(v, CoreSpec):
            v = str(v.name)
        if p.kind in (CLASS_CYCLES,) and isinstance(v, Mapping):
            for c, x in v.items():
                yield _join(ppre, key, c), dataclasses.replace(
                    p, kind=INT, default=None, doc=f"{p.doc}: {TIMING_CLASSES[c]}",
                    min=0, max=1000), x
            continue
        if isinstance(p.kind, _WsTables):
            for r, rows in v.items():
                yield _join(ppre, key, r), dataclasses.replace(
                    p, doc=f"wait-state rows of voltage range {r}"), rows
            continue
        if knob_only and not p.knob:
            continue
        yield _join(ppre, key), p, v
    for key, (fname, tf) in inf.tables.items():
        v = getattr(obj, fname)
        tpre = _join(prefix, key)
        if v is None:
            continue
        if tf.many:
            for x in (v if tf.as_tuple else v.values()):
                yield from _walk(x, _join(tpre, x.name), knob_only)
        else:
            yield from _walk(v, tpre, knob_only)
    if isinstance(obj, AccessEnergySpec):
        rx, p = cls.__pattern__
        for k, x in obj.energies_pj.items():
            yield _join(prefix, k), p, x


def knobs(spec: Spec) -> list[Knob]:
    """The values a sweep may vary in a loaded spec (an MCU includes its core's [core] and
    [timing] values), as (path, type, unit, default, doc, value)."""
    out = []
    for path, p, v in _walk(spec, "", True):
        out.append(_knob(path, p, v))
    if isinstance(spec, McuSpec):
        for path, p, v in _walk(spec.core, "", True):
            out.append(_knob(path, p, v))
    return out


def _knob(path: str, p: Param, v: Any) -> Knob:
    key = path.rpartition(".")[2]
    return Knob(path, p.kind.name, _unit(key, p), _default_text(p), p.doc, v,
                _choices(p), p.min if p.gt is None else p.gt, p.max)


def get(spec: Spec, path: str) -> Any:
    """The typed value at a dotted path (``flash.accelerator.icache_lines``)."""
    if isinstance(spec, McuSpec) and path.split(".", 1)[0] in ("core", "timing"):
        return get(spec.core, path)
    for p, _par, v in _walk(spec, "", False):
        if p == path:
            return v
    check_path(type(spec), path)            # a declared path that is not set: None
    return None


def check_path(cls, path: str, who: str = "derive()", table_ok: bool = False) -> None:
    """Raise CatalogError unless ``path`` names a declared key of ``cls`` (a file-level
    spec), with a did-you-mean suggestion. ``table_ok``: a table path is fine too."""
    parts = path.split(".")
    inf = info(cls)
    head = parts[0]
    if head == inf.section:
        if len(parts) < 2:
            if table_ok:
                return
            raise CatalogError(f"{who}: '{path}' is a table, not a value")
        return _check_in(cls, parts[1:], path, inf.section, who, True)
    if head in inf.tables:
        return _check_table(inf.tables[head][1], parts[1:], path, head, who)
    allowed = [inf.section] + list(inf.tables)
    s = _suggest(head, allowed)
    raise CatalogError(f"{who}: unknown key '{path}'" + (f" (did you mean '{s}'?)" if s else ""))


def _check_table(tf: TableField, parts: list, path: str, prefix: str, who: str) -> None:
    if tf.many:
        if not parts:
            return
        return _check_in(tf.cls, parts[1:], path, _join(prefix, parts[0]), who, False)
    if tf.dispatch is not None:
        return                                    # model-specific: checked when built
    return _check_in(tf.cls, parts, path, prefix, who, False)


def _check_in(cls, parts: list, path: str, prefix: str, who: str, params_only: bool) -> None:
    if not parts:
        return
    inf = info(cls)
    k = parts[0]
    if k in inf.params:
        p = inf.params[k][1]
        if len(parts) > 1 and not isinstance(p.kind, (_Map, _WsTables)):
            raise CatalogError(f"{who}: '{_join(prefix, k)}' is a value, not a table "
                               f"(in '{path}')")
        return
    if not params_only and k in inf.tables:
        return _check_table(inf.tables[k][1], parts[1:], path, _join(prefix, k), who)
    if getattr(cls, "__pattern__", None) and re.match(cls.__pattern__[0], k):
        return
    allowed = list(inf.params) + ([] if params_only else list(inf.tables))
    s = _suggest(k, allowed)
    raise CatalogError(f"{who}: unknown key '{path}'"
                       + (f" (did you mean '{_join(prefix, s)}'?)" if s else ""))


def _set_path(d: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            if value is None:
                return
            nxt = cur[p] = {}
        cur = nxt
    if value is None:
        cur.pop(parts[-1], None)
    else:
        cur[parts[-1]] = _plain(value)


def _plain(v: Any) -> Any:
    """A TOML-like plain value (tuples as lists, mappings as dicts)."""
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def derive(spec: Spec, changes: Mapping[str, Any], name: str | None = None):
    """A new spec like ``spec`` with ``changes`` (dotted path -> value; None removes the key
    or table) applied, validated exactly as a catalog file. For an MCU, ``core.*`` and
    ``timing.*`` paths change its core; ``mcu.core`` picks another core first."""
    from mcusim import catalog
    changes = dict(changes)
    if isinstance(spec, McuSpec):
        core_changes = {k: v for k, v in changes.items()
                        if k.split(".", 1)[0] in ("core", "timing")}
        own = {k: v for k, v in changes.items() if k not in core_changes}
        for k in own:
            check_path(McuSpec, k)
        raw, origins = _apply(spec.raw, spec.origins, own)
        core = None
        if "mcu.core" not in own:
            core = _undo_prio(spec.core)
            if core_changes:
                core = derive(core, core_changes)
        elif core_changes:
            core = derive(catalog.load_core(own["mcu.core"]), core_changes)
        return catalog.build_mcu(name or spec.name, raw, origins, spec.source_path,
                                 chain=_chain_of(spec), core=core)
    if isinstance(spec, CoreSpec):
        for k in changes:
            check_path(CoreSpec, k)
        raw, origins = _apply(spec.raw, spec.origins, changes)
        return catalog.build_core(name or str(spec.name), raw, origins, spec.source_path,
                                  chain=_chain_of(spec))
    if isinstance(spec, PowerSpec):
        for k in changes:
            check_path(PowerSpec, k)
        raw, origins = _apply(spec.raw, spec.origins, changes)
        return catalog.build_power(name or spec.name, raw, origins, spec.source_path,
                                   chain=_chain_of(spec))
    raise TypeError(f"derive() needs an McuSpec, CoreSpec or PowerSpec, not {type(spec).__name__}")


def _chain_of(spec) -> tuple:
    return tuple(c for c in spec.chain if c != "derive()") + ("derive()",)


def _undo_prio(core: CoreSpec) -> CoreSpec:
    """The core as its file says (an MCU's nvic_prio_bits override is re-applied)."""
    own = core.raw.get("core", {}).get("nvic_prio_bits")
    if own is not None and own != core.nvic_prio_bits:
        return dataclasses.replace(core, nvic_prio_bits=own)
    return core


def _apply(raw: dict, origins: Mapping, changes: Mapping) -> tuple[dict, dict]:
    raw = copy.deepcopy(raw)
    origins = dict(origins)
    for path, value in changes.items():
        _set_path(raw, path, value)
        for k in [k for k in origins if k == path or k.startswith(path + ".")]:
            del origins[k]
        if value is not None:
            origins[path] = "derive()"
            parts = path.split(".")
            for i in range(1, len(parts)):        # tables the change created
                origins.setdefault(".".join(parts[:i]), "derive()")
    return raw, origins


# --------------------------------------------------------------------------- mcusim show

_COL = 44


def to_toml(spec: Spec, label: Callable[[str], str] = lambda o: o) -> list[str]:
    """A built file-level spec as TOML lines, every value followed by ``# <file>`` (the
    file of the extends chain that set it, through ``label``) or ``# default``."""
    out: list[str] = []
    _emit(spec, "", spec.origins, spec.raw, label, out)
    return out


def _line(key: str, text: str, origin: str | None, label) -> str:
    s = f"{_key(key)} = {text}"
    note = label(origin) if origin else "default"
    return f"{s:<{_COL - 1}} # {note}"


def _raw_at(raw: Any, path: str) -> Any:
    cur = raw
    for p in path.split(".") if path else ():
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _emit(obj: Spec, prefix: str, origins: Mapping, raw: dict, label, out: list) -> None:
    inf = info(type(obj))
    ppre = inf.section or prefix
    lines: list[str] = []
    subtables: list[tuple[str, list]] = []
    for key, (fname, p) in inf.params.items():
        path = _join(ppre, key)
        v = getattr(obj, fname)
        set_by = origins.get(path)
        if fname == "core" and isinstance(v, CoreSpec):
            v = _raw_at(raw, path)
        if v is None:
            continue
        if p.kind is CLASS_CYCLES or isinstance(p.kind, _WsTables):
            rows = []
            for k, x in v.items():
                text = (p.kind.toml({k: x})[2:-2].split(" = ", 1)[1]
                        if isinstance(p.kind, _WsTables) else INT.toml(x))
                rows.append(_line(k, text, origins.get(_join(path, k)), label))
            if rows:
                subtables.append((path, rows))
            continue
        lines.append(_line(key, p.kind.toml(v), set_by, label))
    for k in META_KEYS:                      # citations, as the files wrote them
        table = _raw_at(raw, ppre)
        if isinstance(table, Mapping) and isinstance(table.get(k), str):
            lines.append(_line(k, _toml(table[k]), origins.get(_join(ppre, k)), label))
    if isinstance(obj, AccessEnergySpec):
        for k, x in obj.energies_pj.items():
            lines.append(_line(k, FLOAT.toml(x), origins.get(_join(prefix, k)), label))
    if lines and ppre:
        out.append("")
        out.append(f"[{ppre}]")
        out.extend(lines)
    for path, rows in subtables:
        out.append("")
        out.append(f"[{path}]")
        out.extend(rows)
    for key, (fname, tf) in inf.tables.items():
        v = getattr(obj, fname)
        tpre = _join(prefix, key)
        if v is None:
            continue
        if tf.many:
            for x in (v if tf.as_tuple else v.values()):
                _emit(x, _join(tpre, x.name), origins, raw, label, out)
        else:
            _emit(v, tpre, origins, raw, label, out)


# --------------------------------------------------------------------------- documentation

_DOC_ORDER = (McuSpec, MemoryRegion, FlashTiming, WsRow, AcceleratorSpec, CacheSpec,
              PeripheralSpec, SystickSpec, AcceleratorPluginSpec, CoreSpec, TimingSpec,
              Pair16Spec, BranchRefillSpec, UnalignedSpec, PairingSpec,
              PowerSpec, RunRangeSpec, RunCurrentSpec, SleepSpec, StateSpec, AccessEnergySpec,
              BoardSpec)
_DOC_PATH = {
    McuSpec: "[mcu]", MemoryRegion: "[memory.<name>]", FlashTiming: "[flash]",
    WsRow: "[flash.wait_states] rows", AcceleratorSpec: "[flash.accelerator]",
    CacheSpec: "[caches.<name>]", PeripheralSpec: "[peripherals.<name>]",
    SystickSpec: "[systick]", AcceleratorPluginSpec: "[[accelerators]]", CoreSpec: "[core]",
    TimingSpec: "[timing]",
    Pair16Spec: "[timing.pair16_branch]", BranchRefillSpec: "[timing.branch_refill]",
    UnalignedSpec: "[timing.unaligned]",
    PairingSpec: "[timing.pairing]", PowerSpec: "[power]",
    RunRangeSpec: "[run.<range>]", RunCurrentSpec: "[run.<range>.<location>]",
    SleepSpec: "[sleep]", StateSpec: "[states.<name>]", AccessEnergySpec: "[access_energy]",
    BoardSpec: "[board]",
}


def _md_cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_default(p: Param) -> str:
    d = _default_text(p)
    if d == "required":
        return "**required**"
    if isinstance(d, str) and (p.default_doc or isinstance(p.default, Ref)):
        return d
    if d is None:
        return "—"
    if isinstance(p.kind, _Addr) and isinstance(d, int):
        return f"`{d:#x}`"
    return f"`{p.kind.toml(d)}`"


def _md_range(p: Param) -> str:
    ch = _choices(p)
    if ch is not None and tuple(ch) == _CLASSES:
        return "instruction classes (below)"
    if ch is not None:
        return " | ".join(f"`{c}`" for c in ch)
    lo = f"> {_num(p.gt)}" if p.gt is not None else (f">= {_num(p.min)}" if p.min is not None
                                                      else "")
    hi = f"<= {_num(p.max)}" if p.max is not None else ""
    return ", ".join(x for x in (lo, hi) if x)


def _md_table(cls) -> list[str]:
    inf = info(cls)
    title = cls.__title__
    lines = []
    if title:
        lines += [f"### {title}", ""]
    doc = " ".join(x.strip() for x in (cls.__doc__ or "").strip().split("\n\n")[0].splitlines())
    lines += [f"#### `{_DOC_PATH[cls]}`", "", doc, ""]
    lines += ["| Key | Type | Unit | Default | Allowed | Meaning |", "|---|---|---|---|---|---|"]
    for key, (fname, p) in inf.params.items():
        lines.append(f"| `{key}` | {_md_cell(p.kind.name)} | {_unit(key, p)} | "
                     f"{_md_cell(_md_default(p))} | {_md_cell(_md_range(p))} | "
                     f"{_md_cell(p.doc)} |")
    for key, (fname, tf) in inf.tables.items():
        sub = "<name>" if tf.many else ""
        what = "table" + (" (required)" if tf.required else "")
        lines.append(f"| `[{_join(_DOC_PATH[cls].strip('[]') if not inf.section else '', key)}"
                     f"{'.' + sub if sub else ''}]` | {what} | | | | {_md_cell(tf.doc)} |")
    pat = getattr(cls, "__pattern__", None)
    if pat:
        p = pat[1]
        lines.append(f"| `instr_<class>_pj` | {p.kind.name} | pJ | — | {_md_range(p)} | "
                     f"{_md_cell(p.doc)} |")
    return lines + [""]


def markdown() -> str:
    """The schema reference (docs/catalogs.md, between the GENERATED markers)."""
    out = ["<!-- Generated by `python -m mcusim.schema --write docs/catalogs.md` from "
           "mcusim/schema.py: do not edit by hand. -->", "",
           "Every table also accepts the metadata keys " + ", ".join(f"`{k}`" for k in META_KEYS)
           + " (citations, free text). Any other key that is not listed is an error. Units "
           "are in the key names; addresses and sizes may be written in hex.", ""]
    for cls in _DOC_ORDER:
        out += _md_table(cls)
        if cls is PeripheralSpec:
            out += _md_peripheral_params()
        if cls is AcceleratorPluginSpec:
            out += _md_plugin_params()
        if cls is TimingSpec:
            out += ["Instruction classes (keys of `classes`, `extra_latency`, `latency`, "
                    "`class_units`, `single_issue`, `slot0_only`, "
                    "`late_accumulator_classes`):", ""]
            out += ["| Class | Instructions |", "|---|---|"]
            out += [f"| `{c}` | {_md_cell(d)} |" for c, d in TIMING_CLASSES.items()]
            out += ["", f"Units (keys of `pairing.units`): {', '.join(f'`{u}`' for u in UNITS)}.",
                    ""]
    return "\n".join(out).rstrip() + "\n"


def _md_peripheral_params() -> list[str]:
    out = ["Peripheral models and their `[peripherals.<name>.params]`:", ""]
    by_params: dict = {}
    for name, cls in sorted(_peripheral_models().items()):
        by_params.setdefault(getattr(cls, "Params", NoParams), []).append(name)
    by_params.setdefault(NoParams, []).append("unmodelled")
    for pcls, names in by_params.items():
        models = ", ".join(f"`{n}`" for n in names)
        inf = info(pcls)
        if not inf.params:
            out += [f"* {models}: no params.", ""]
            continue
        doc = " ".join(x.strip() for x in (pcls.__doc__ or "").strip().splitlines())
        out += [f"* {models}: {doc}", ""]
        out += ["  | Key | Type | Unit | Default | Allowed | Meaning |",
                "  |---|---|---|---|---|---|"]
        for key, (fname, p) in inf.params.items():
            out.append(f"  | `{key}` | {_md_cell(p.kind.name)} | {_unit(key, p)} | "
                       f"{_md_cell(_md_default(p))} | {_md_cell(_md_range(p))} | "
                       f"{_md_cell(p.doc)} |")
        out.append("")
    return out


def _md_plugin_params() -> list[str]:
    out = ["Accelerator plugins shipped with mcusim and their `[accelerators.params]` "
           "(docs/accelerators.md):", ""]
    for path, cls in sorted(ACCELERATOR_PLUGINS.items()):
        inf = info(cls.Params)
        doc = " ".join(x.strip() for x in (cls.__doc__ or "").strip().split("\n\n")[0]
                       .splitlines())
        out += [f"* `{path}`: {doc}", ""]
        out += ["  | Key | Type | Unit | Default | Allowed | Meaning |",
                "  |---|---|---|---|---|---|"]
        for key, (fname, p) in inf.params.items():
            out.append(f"  | `{key}` | {_md_cell(p.kind.name)} | {_unit(key, p)} | "
                       f"{_md_cell(_md_default(p))} | {_md_cell(_md_range(p))} | "
                       f"{_md_cell(p.doc)} |")
        out.append("")
    return out


BEGIN, END = "<!-- BEGIN GENERATED SCHEMA REFERENCE -->", "<!-- END GENERATED SCHEMA REFERENCE -->"


def replace_generated(text: str) -> str:
    """``text`` with the part between the GENERATED markers replaced by :func:`markdown`."""
    a, b = text.find(BEGIN), text.find(END)
    if a < 0 or b < a:
        raise ValueError("the GENERATED SCHEMA REFERENCE markers are missing")
    return text[:a + len(BEGIN)] + "\n" + markdown() + text[b:]


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m mcusim.schema",
                                 description="The catalog schema reference (Markdown).")
    ap.add_argument("--markdown", action="store_true", help="print the reference")
    ap.add_argument("--write", metavar="FILE", help="replace the generated part of FILE")
    args = ap.parse_args(argv)
    import mcusim.peripherals  # noqa: F401  (run as a program: the models register here)
    import mcusim.accelerators  # noqa: F401  (the shipped plugins register here)
    if args.write:
        import pathlib
        p = pathlib.Path(args.write)
        p.write_text(replace_generated(p.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    # run the package's module, not this __main__ copy (its classes are the ones registered)
    from mcusim.schema import main as _main
    raise SystemExit(_main())
