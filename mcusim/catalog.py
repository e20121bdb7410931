"""Catalog loader: MCU memory models, core descriptions and power models.

Catalog files are TOML (parsed with :mod:`tomllib`). A file may say
``extends = "name"`` (a catalog entry of the same kind, or a path relative to the
file) to inherit another file: tables are merged deeply, the child wins, arrays are
replaced. ``abstract = true`` marks a family file that only exists to be extended.
``remove = ["caches", "flash.accelerator"]`` deletes dotted keys after the merge (so a
part can drop something its family has). The schema is documented for users in
``docs/catalogs.md``.

Every user-facing problem raises :class:`CatalogError` with a one-line message that names
the file and the key.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import os
import pathlib
from dataclasses import dataclass, field
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the API-compatible backport
    import tomli as tomllib  # type: ignore[no-redef]

try:
    from .errors import UserError as _UserError
except ImportError:  # pragma: no cover - errors.py is part of the package
    _UserError = Exception  # type: ignore[misc,assignment]

__all__ = [
    "CatalogError",
    "CoreSpec",
    "MemoryRegion",
    "FlashTiming",
    "PeripheralSpec",
    "McuSpec",
    "load_mcu",
    "load_core",
    "load_power",
    "list_catalog",
    "catalog_dirs",
]


class CatalogError(_UserError):
    """A catalog entry is unknown, unreadable or invalid (one-line message, exit status 2)."""


# --------------------------------------------------------------------------- dataclasses

UNICORN_CPUS = ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33")
ARCHES = ("armv6-m", "armv7-m", "armv7e-m", "armv8-m.main")
FPUS = ("fpv4-sp", "fpv5-sp", "fpv5-dp")
MEMORY_KINDS = ("flash", "sram", "tcm", "rom")
ACCESS_MODES = ("rx", "rwx", "rw", "r")
_PAGE = 1024  # Unicorn maps memory in 1 KB pages on Arm (DESIGN.md)


@dataclass(frozen=True)
class CoreSpec:
    name: str
    unicorn_cpu: str
    arch: str
    has_dsp: bool
    fpu: str | None
    nvic_prio_bits: int
    exc_entry_cycles: int
    exc_exit_cycles: int
    tail_chain_cycles: int
    raw: dict = field(repr=False, compare=False)


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    kind: str
    base: int
    size: int
    access: str
    aliases: tuple[int, ...]
    read_wait_states: int | None
    write_wait_states: int | None
    bus: str
    width_bits: int

    @property
    def end(self) -> int:
        """One past the last byte (of the primary mapping)."""
        return self.base + self.size

    def spans(self) -> list[tuple[int, int]]:
        """(start, end) of the primary mapping and every alias."""
        return [(b, b + self.size) for b in (self.base, *self.aliases)]


@dataclass(frozen=True)
class FlashTiming:
    ws_tables: dict[str, tuple[tuple[float, int], ...]]
    default_range: str
    accelerator: dict | None
    acr_address: int | None


@dataclass(frozen=True)
class PeripheralSpec:
    name: str
    model: str
    base: int
    size: int
    irq: int | None
    params: dict

    @property
    def end(self) -> int:
        return self.base + self.size


@dataclass(frozen=True)
class McuSpec:
    name: str
    description: str
    vendor: str
    core: CoreSpec
    clock_mhz: float
    max_clock_mhz: float
    voltage_range: str
    memories: tuple[MemoryRegion, ...]
    flash: FlashTiming | None
    caches: dict
    peripherals: tuple[PeripheralSpec, ...]
    num_irqs: int
    power_model: str | None
    source_path: str
    raw: dict = field(repr=False, compare=False)
    # Additions to the contract (all with defaults, so positional use is unaffected):
    reset_clock_mhz: float | None = None   # clock after reset (e.g. MSI 4 MHz on L4)
    boot_address: int = 0                   # where the vector table is read at reset
    console: str | None = None              # peripheral name wired to the board's VCP

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
        table = self.flash.ws_tables.get(rng)
        if table is None:
            raise CatalogError(
                f"{self.name}: unknown voltage range {rng!r} "
                f"(known: {', '.join(self.flash.ws_tables)})")
        for max_mhz, ws in table:
            if clock_mhz <= max_mhz + 1e-9:
                return ws
        raise CatalogError(
            f"{self.name}: {clock_mhz:g} MHz is above the {table[-1][0]:g} MHz maximum "
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


# --------------------------------------------------------------------------- directories

_KINDS = {
    "mcus": ("mcusim._memory_models", "memory_models"),
    "cores": ("mcusim._cores", "cores"),
    "power_models": ("mcusim._power_models", "power_models"),
}


def catalog_dirs() -> dict[str, pathlib.Path]:
    """Directories of the three catalogs: installed package data, else the checkout."""
    out: dict[str, pathlib.Path] = {}
    repo = pathlib.Path(__file__).resolve().parent.parent
    for kind, (pkg, dirname) in _KINDS.items():
        path = None
        try:
            cand = _as_path(importlib.resources.files(pkg))
            if cand is not None and cand.is_dir() and any(cand.glob("*.toml")):
                path = cand
        except (ModuleNotFoundError, TypeError, ValueError, AttributeError):
            path = None
        out[kind] = path if path is not None else repo / dirname
    return out


def _as_path(res: Any) -> pathlib.Path | None:
    """A filesystem path for an importlib.resources Traversable, if it has one.

    Data directories without ``__init__.py`` are namespace packages, for which
    ``files()`` returns a MultiplexedPath; use its first directory.
    """
    if isinstance(res, pathlib.Path):
        return res
    paths = getattr(res, "_paths", None)
    if paths:
        return pathlib.Path(paths[0])
    try:
        return pathlib.Path(os.fspath(res))
    except TypeError:
        return None


def _known(kind: str) -> list[str]:
    """Names that can be loaded directly (abstract family files left out)."""
    d = catalog_dirs()[kind]
    names = []
    for p in sorted(d.glob("*.toml")) if d.is_dir() else []:
        try:
            with open(p, "rb") as f:
                if tomllib.load(f).get("abstract") is True:
                    continue
        except (OSError, tomllib.TOMLDecodeError):
            pass
        names.append(p.stem)
    return names


def _resolve(kind: str, name_or_path: str | pathlib.Path, rel_to: pathlib.Path | None = None
             ) -> pathlib.Path:
    s = str(name_or_path)
    looks_like_path = s.endswith(".toml") or "/" in s or "\\" in s
    if looks_like_path:
        p = pathlib.Path(s).expanduser()
        if not p.is_absolute() and rel_to is not None:
            p = rel_to / p
        if not p.is_file():
            raise CatalogError(f"{s}: no such file")
        return p
    p = catalog_dirs()[kind] / f"{s}.toml"
    if not p.is_file():
        label = {"mcus": "MCU", "cores": "core", "power_models": "power model"}[kind]
        known = _known(kind)
        raise CatalogError(f"unknown {label} {s!r} (known: {', '.join(known) or 'none'})")
    return p


# --------------------------------------------------------------------------- merging

def _deep_merge(base: dict, child: dict) -> dict:
    out = dict(base)
    for k, v in child.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_toml(path: pathlib.Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{path.name}: bad TOML: {e}") from None
    except OSError as e:
        raise CatalogError(f"{path}: cannot read: {e.strerror}") from None


def _remove_key(d: dict, dotted: str, fname: str) -> None:
    parts = dotted.split(".")
    cur = d
    for p in parts[:-1]:
        cur = cur.get(p)
        if not isinstance(cur, dict):
            return
    cur.pop(parts[-1], None)


def _load_merged(kind: str, path: pathlib.Path, _chain: tuple[str, ...] = ()) -> dict:
    """Read ``path`` and everything it extends; returns the merged dict.

    The result keeps ``abstract`` only as written in the leaf file and drops ``extends``
    and ``remove``; it adds ``_source`` (leaf path) and ``_chain`` (file names, root first).
    """
    key = str(path.resolve())
    if key in _chain:
        raise CatalogError(f"{path.name}: 'extends' cycle through {path.name}")
    data = _read_toml(path)
    parent_name = data.pop("extends", None)
    removes = data.pop("remove", [])
    if not isinstance(removes, list) or not all(isinstance(r, str) for r in removes):
        raise CatalogError(f"{path.name}: key 'remove' must be a list of dotted key names")
    abstract = data.pop("abstract", False)
    chain_names: list[str] = []
    if parent_name is not None:
        if not isinstance(parent_name, str):
            raise CatalogError(f"{path.name}: key 'extends' must be a string")
        try:
            ppath = _resolve(kind, parent_name, rel_to=path.parent)
        except CatalogError as e:
            raise CatalogError(f"{path.name}: extends: {e}") from None
        parent = _load_merged(kind, ppath, _chain + (key,))
        chain_names = list(parent.pop("_chain"))
        parent.pop("_source", None)
        parent.pop("abstract", None)
        merged = _deep_merge(parent, data)
    else:
        merged = data
    for r in removes:
        _remove_key(merged, r, path.name)
    merged["abstract"] = bool(abstract)
    merged["_source"] = str(path)
    merged["_chain"] = chain_names + [path.name]
    return merged


# --------------------------------------------------------------------------- field helpers

class _Fields:
    """Typed access to one table, with errors naming file and key."""

    def __init__(self, fname: str, table: Any, prefix: str):
        if not isinstance(table, dict):
            raise CatalogError(f"{fname}: [{prefix}] must be a table")
        self.fname, self.t, self.prefix = fname, table, prefix

    def _key(self, k: str) -> str:
        return f"{self.prefix}.{k}" if self.prefix else k

    def has(self, k: str) -> bool:
        return k in self.t

    def get(self, k: str, typ: type | tuple, default: Any = ..., ) -> Any:
        if k not in self.t:
            if default is ...:
                raise CatalogError(f"{self.fname}: missing key '{self._key(k)}'")
            return default
        v = self.t[k]
        ok = isinstance(v, typ) and not (isinstance(v, bool) and bool not in _as_tuple(typ))
        if not ok:
            names = "/".join(t.__name__ for t in _as_tuple(typ))
            raise CatalogError(
                f"{self.fname}: key '{self._key(k)}' must be {names}, got {v!r}")
        return v

    def num(self, k: str, default: Any = ..., minimum: float | None = None) -> Any:
        v = self.get(k, (int, float), default)
        if v is not None and v is not default and minimum is not None and v < minimum:
            raise CatalogError(f"{self.fname}: key '{self._key(k)}' must be >= {minimum}")
        return v

    def int_(self, k: str, default: Any = ..., minimum: int | None = None) -> Any:
        v = self.get(k, int, default)
        if v is not None and v is not default and minimum is not None and v < minimum:
            raise CatalogError(f"{self.fname}: key '{self._key(k)}' must be >= {minimum}")
        return v

    def str_(self, k: str, default: Any = ..., choices: tuple | None = None) -> Any:
        v = self.get(k, str, default)
        if choices is not None and v is not default and v not in choices:
            raise CatalogError(
                f"{self.fname}: key '{self._key(k)}' is {v!r}; expected one of "
                f"{', '.join(choices)}")
        return v

    def table(self, k: str, default: Any = ...) -> Any:
        return self.get(k, dict, default)


def _as_tuple(t: type | tuple) -> tuple:
    return t if isinstance(t, tuple) else (t,)


_META_KEYS = ("source", "confidence", "note", "comment")


def _strip_meta(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in _META_KEYS}


# --------------------------------------------------------------------------- cores

def _build_core(name: str, merged: dict) -> CoreSpec:
    fname = pathlib.Path(merged["_source"]).name
    if "core" not in merged:
        raise CatalogError(f"{fname}: missing table [core]")
    c = _Fields(fname, merged["core"], "core")
    fpu = c.str_("fpu", "none")
    if fpu != "none" and fpu not in FPUS:
        raise CatalogError(
            f"{fname}: key 'core.fpu' is {fpu!r}; expected one of none, {', '.join(FPUS)}")
    return CoreSpec(
        name=name,
        unicorn_cpu=c.str_("unicorn_cpu", choices=UNICORN_CPUS),
        arch=c.str_("arch", choices=ARCHES),
        has_dsp=c.get("has_dsp", bool),
        fpu=None if fpu == "none" else fpu,
        nvic_prio_bits=c.int_("nvic_prio_bits", minimum=1),
        exc_entry_cycles=c.int_("exc_entry_cycles", minimum=0),
        exc_exit_cycles=c.int_("exc_exit_cycles", minimum=0),
        tail_chain_cycles=c.int_("tail_chain_cycles", minimum=0),
        raw=_public(merged),
    )


def _public(merged: dict) -> dict:
    out = {k: v for k, v in merged.items() if k not in ("_chain",)}
    return out


def load_core(name_or_path: str) -> CoreSpec:
    """Load ``cores/<name>.toml`` (or a user's file) and validate its [core] table."""
    path = _resolve("cores", name_or_path)
    merged = _load_merged("cores", path)
    if merged.get("abstract"):
        raise CatalogError(f"{path.name}: abstract entry cannot be used directly")
    return _build_core(path.stem, merged)


# --------------------------------------------------------------------------- MCUs

def _ws_table(fname: str, key: str, rows: Any) -> tuple[tuple[float, int], ...]:
    if not isinstance(rows, list) or not rows:
        raise CatalogError(f"{fname}: key '{key}' must be a non-empty list of "
                           "{{max_mhz = F, ws = N}} rows")
    out: list[tuple[float, int]] = []
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            f = _Fields(fname, row, f"{key}[{i}]")
            mhz, ws = f.num("max_mhz", minimum=0), f.int_("ws", minimum=0)
        elif (isinstance(row, list) and len(row) == 2
              and isinstance(row[0], (int, float)) and isinstance(row[1], int)):
            mhz, ws = row
        else:
            raise CatalogError(f"{fname}: key '{key}[{i}]' must be {{max_mhz = F, ws = N}}")
        if out and (mhz <= out[-1][0] or ws < out[-1][1]):
            raise CatalogError(
                f"{fname}: key '{key}' is not sorted (max_mhz must increase, ws must not "
                "decrease)")
        out.append((float(mhz), int(ws)))
    return tuple(out)


def _build_flash(fname: str, t: dict) -> FlashTiming:
    f = _Fields(fname, t, "flash")
    tables_raw = f.table("wait_states")
    tables = {}
    for rng, rows in tables_raw.items():
        if rng in _META_KEYS:
            continue
        tables[rng] = _ws_table(fname, f"flash.wait_states.{rng}", rows)
    if not tables:
        raise CatalogError(f"{fname}: key 'flash.wait_states' has no voltage-range table")
    default = f.str_("default_range", next(iter(tables)))
    if default not in tables:
        raise CatalogError(f"{fname}: key 'flash.default_range' is {default!r}; known "
                           f"ranges: {', '.join(tables)}")
    acc = f.table("accelerator", None)
    if acc is not None:
        if "name" not in acc:
            raise CatalogError(f"{fname}: missing key 'flash.accelerator.name'")
        acc = _strip_meta(acc)
    return FlashTiming(ws_tables=tables, default_range=default, accelerator=acc,
                       acr_address=f.int_("acr_address", None, minimum=0))


def _build_memories(fname: str, t: dict, has_flash_timing: bool) -> tuple[MemoryRegion, ...]:
    if not isinstance(t, dict) or not t:
        raise CatalogError(f"{fname}: missing table [memory.<name>] (no memory regions)")
    out = []
    for name, tab in t.items():
        f = _Fields(fname, tab, f"memory.{name}")
        kind = f.str_("kind", choices=MEMORY_KINDS)
        base = f.int_("base", minimum=0)
        size = f.int_("size_bytes", minimum=1)
        aliases = f.get("aliases", list, [])
        if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 0
                   for a in aliases):
            raise CatalogError(f"{fname}: key 'memory.{name}.aliases' must be a list of "
                               "addresses")
        default_access = "rx" if kind in ("flash", "rom") else "rwx"
        access = f.str_("access", default_access, choices=ACCESS_MODES)
        if kind == "flash":
            rws = f.int_("read_wait_states", None, minimum=0)
            if rws is None and not has_flash_timing:
                raise CatalogError(
                    f"{fname}: key 'memory.{name}.read_wait_states' is needed when there "
                    "is no [flash] wait-state table")
        else:
            rws = f.int_("read_wait_states", 0, minimum=0)
        wws = f.int_("write_wait_states", rws, minimum=0)
        for a in (base, *aliases):
            if a % _PAGE or size % _PAGE:
                raise CatalogError(
                    f"{fname}: memory.{name} base {a:#x} and size_bytes {size:#x} must be "
                    f"multiples of {_PAGE} (the emulator maps 1 KB pages)")
            if a + size > 1 << 32:
                raise CatalogError(f"{fname}: memory.{name} at {a:#x} + {size:#x} runs past "
                                   "4 GB")
        out.append(MemoryRegion(
            name=name, kind=kind, base=base, size=size, access=access,
            aliases=tuple(aliases), read_wait_states=rws, write_wait_states=wws,
            bus=f.str_("bus", "ahb"), width_bits=f.int_("width_bits", 32, minimum=8)))
    return tuple(out)


def _build_peripherals(fname: str, t: dict) -> tuple[PeripheralSpec, ...]:
    out = []
    for name, tab in (t or {}).items():
        f = _Fields(fname, tab, f"peripherals.{name}")
        base = f.int_("base", minimum=0)
        size = f.int_("size_bytes", minimum=1)
        if base + size > 1 << 32:
            raise CatalogError(f"{fname}: peripherals.{name} runs past 4 GB")
        params = f.table("params", {})
        out.append(PeripheralSpec(
            name=name, model=f.str_("model"), base=base, size=size,
            irq=f.int_("irq", None, minimum=0), params=dict(params)))
    return tuple(out)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _check_layout(fname: str, mems: tuple[MemoryRegion, ...],
                  periphs: tuple[PeripheralSpec, ...], num_irqs: int) -> None:
    spans = []
    for m in mems:
        for i, s in enumerate(m.spans()):
            label = f"memory.{m.name}" + ("" if i == 0 else f".aliases[{i - 1}]")
            spans.append((s, label))
    for i in range(len(spans)):
        for j in range(i + 1, len(spans)):
            if _overlap(spans[i][0], spans[j][0]):
                raise CatalogError(
                    f"{fname}: {spans[i][1]} ({spans[i][0][0]:#x}-{spans[i][0][1] - 1:#x}) "
                    f"overlaps {spans[j][1]} ({spans[j][0][0]:#x}-{spans[j][0][1] - 1:#x})")
    for p in periphs:
        for s, label in spans:
            if _overlap((p.base, p.end), s):
                raise CatalogError(
                    f"{fname}: peripherals.{p.name} ({p.base:#x}-{p.end - 1:#x}) overlaps "
                    f"{label}")
        if p.irq is not None and p.irq >= num_irqs:
            raise CatalogError(f"{fname}: key 'peripherals.{p.name}.irq' = {p.irq} is not "
                               f"below mcu.num_irqs = {num_irqs}")
    # Modelled peripherals may sit inside "unmodelled" bus ranges, but not overlap each
    # other; unmodelled ranges must not overlap each other either.
    for group in (
        [p for p in periphs if p.model != "unmodelled"],
        [p for p in periphs if p.model == "unmodelled"],
    ):
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                a, b = group[i], group[j]
                if _overlap((a.base, a.end), (b.base, b.end)):
                    raise CatalogError(
                        f"{fname}: peripherals.{a.name} ({a.base:#x}-{a.end - 1:#x}) "
                        f"overlaps peripherals.{b.name} ({b.base:#x}-{b.end - 1:#x})")


def _build_mcu(name: str, merged: dict) -> McuSpec:
    fname = pathlib.Path(merged["_source"]).name
    if "mcu" not in merged:
        raise CatalogError(f"{fname}: missing table [mcu]")
    m = _Fields(fname, merged["mcu"], "mcu")
    core_name = m.str_("core")
    try:
        core = load_core(core_name)
    except CatalogError as e:
        raise CatalogError(f"{fname}: key 'mcu.core': {e}") from None
    prio = m.int_("nvic_prio_bits", None, minimum=1)
    if prio is not None and prio != core.nvic_prio_bits:
        core = dataclasses.replace(core, nvic_prio_bits=prio)

    flash = None
    if "flash" in merged:
        flash = _build_flash(fname, merged["flash"])
    mems = _build_memories(fname, merged.get("memory"), flash is not None)
    periphs = _build_peripherals(fname, merged.get("peripherals", {}))
    num_irqs = m.int_("num_irqs", minimum=1)
    if num_irqs > 496:
        raise CatalogError(f"{fname}: key 'mcu.num_irqs' = {num_irqs} exceeds 496 (NVIC limit)")
    _check_layout(fname, mems, periphs, num_irqs)

    clock = m.num("clock_mhz", minimum=0.001)
    max_clock = m.num("max_clock_mhz", clock, minimum=0.001)
    if clock > max_clock:
        raise CatalogError(f"{fname}: key 'mcu.clock_mhz' ({clock}) is above "
                           f"mcu.max_clock_mhz ({max_clock})")
    vrange = m.str_("voltage_range", flash.default_range if flash else "default")
    if flash is not None and vrange not in flash.ws_tables:
        raise CatalogError(f"{fname}: key 'mcu.voltage_range' is {vrange!r}; known ranges: "
                           f"{', '.join(flash.ws_tables)}")

    caches_raw = merged.get("caches", {})
    if not isinstance(caches_raw, dict):
        raise CatalogError(f"{fname}: [caches] must be a table")
    caches = {}
    for cname, ctab in caches_raw.items():
        cf = _Fields(fname, ctab, f"caches.{cname}")
        cf.int_("size_bytes", minimum=1)
        cf.int_("line_bytes", minimum=1)
        cf.int_("ways", minimum=1)
        caches[cname] = _strip_meta(ctab)

    console = m.str_("console", None)
    if console is not None and console not in {p.name for p in periphs}:
        raise CatalogError(f"{fname}: key 'mcu.console' names unknown peripheral {console!r}")

    spec = McuSpec(
        name=name,
        description=m.str_("description"),
        vendor=m.str_("vendor", ""),
        core=core,
        clock_mhz=float(clock),
        max_clock_mhz=float(max_clock),
        voltage_range=vrange,
        memories=mems,
        flash=flash,
        caches=caches,
        peripherals=periphs,
        num_irqs=num_irqs,
        power_model=m.str_("power_model", None),
        source_path=merged["_source"],
        raw=_public(merged),
        reset_clock_mhz=(float(m.num("reset_clock_mhz", None, minimum=0))
                         if m.has("reset_clock_mhz") else None),
        boot_address=m.int_("boot_address", 0, minimum=0),
        console=console,
    )
    # The run clock must be reachable in the default range.
    if flash is not None:
        spec.flash_wait_states(spec.clock_mhz)
    return spec


def load_mcu(name_or_path: str) -> McuSpec:
    """Load a catalog MCU by name, or a user's .toml (which may extend a catalog entry)."""
    path = _resolve("mcus", name_or_path)
    merged = _load_merged("mcus", path)
    if merged.get("abstract"):
        raise CatalogError(f"{path.name}: abstract family entry cannot be used directly "
                           "(use a part that extends it)")
    return _build_mcu(path.stem, merged)


# --------------------------------------------------------------------------- power

def _validate_power(fname: str, merged: dict) -> dict:
    if "power" not in merged:
        raise CatalogError(f"{fname}: missing table [power]")
    p = _Fields(fname, merged["power"], "power")
    p.str_("description")
    p.num("vdd_v", minimum=0.1)
    p.num("datasheet_vdd_v", None, minimum=0.1)
    run = merged.get("run")
    if not isinstance(run, dict) or not run:
        raise CatalogError(f"{fname}: missing table [run.<voltage range>.<code location>]")
    n_loc = 0
    for rng, rtab in run.items():
        if rng in _META_KEYS:
            continue
        if not isinstance(rtab, dict):
            raise CatalogError(f"{fname}: [run.{rng}] must be a table")
        for loc, ltab in rtab.items():
            if loc in _META_KEYS or not isinstance(ltab, dict):
                continue
            lf = _Fields(fname, ltab, f"run.{rng}.{loc}")
            lf.num("run_ua_per_mhz", minimum=0)
            lf.num("run_static_ua", 0, minimum=0)
            n_loc += 1
    if n_loc == 0:
        raise CatalogError(f"{fname}: [run.<range>] has no code-location table with "
                           "run_ua_per_mhz")
    default_range = p.str_("default_range", next(k for k in run if k not in _META_KEYS))
    if default_range not in run:
        raise CatalogError(f"{fname}: key 'power.default_range' is {default_range!r}; known: "
                           f"{', '.join(k for k in run if k not in _META_KEYS)}")
    default_loc = p.str_("default_location", "flash_accel_on")
    if default_loc not in run[default_range]:
        raise CatalogError(f"{fname}: key 'power.default_location' {default_loc!r} is not in "
                           f"[run.{default_range}]")
    if "sleep" in merged:
        s = _Fields(fname, merged["sleep"], "sleep")
        s.num("sleep_ua_per_mhz", minimum=0)
        s.num("sleep_static_ua", 0, minimum=0)
        s.num("wakeup_us", None, minimum=0)
    for sname, stab in merged.get("states", {}).items():
        sf = _Fields(fname, stab, f"states.{sname}")
        sf.str_("kind", choices=("stop", "standby", "shutdown", "other"))
        sf.num("current_ua", minimum=0)
        sf.num("wakeup_us", None, minimum=0)
    if "access_energy" in merged:
        a = _Fields(fname, merged["access_energy"], "access_energy")
        a.get("enabled", bool, False)
        for k, v in merged["access_energy"].items():
            if k.endswith("_pj"):
                a.num(k, minimum=0)
    return merged


def load_power(name_or_path: str) -> dict:
    """Load and validate a power model; returns the merged dict (schema: docs/catalogs.md).

    The dict has ``name``, ``source_path`` and the tables ``power``, ``run``, ``sleep``,
    ``states`` and ``access_energy`` as written (after ``extends`` merging).
    """
    path = _resolve("power_models", name_or_path)
    merged = _load_merged("power_models", path)
    if merged.get("abstract"):
        raise CatalogError(f"{path.name}: abstract entry cannot be used directly")
    merged = _validate_power(path.name, merged)
    out = _public(merged)
    out.pop("abstract", None)
    out["name"] = path.stem
    out["source_path"] = out.pop("_source")
    out.setdefault("states", {})
    out.setdefault("access_energy", {"enabled": False})
    return out


# --------------------------------------------------------------------------- listing

def list_catalog() -> dict[str, list[tuple[str, str]]]:
    """Every non-abstract entry of each catalog, with its one-line description."""
    table_of = {"mcus": "mcu", "cores": "core", "power_models": "power"}
    out: dict[str, list[tuple[str, str]]] = {}
    for kind, d in catalog_dirs().items():
        rows = []
        for p in sorted(d.glob("*.toml")) if d.is_dir() else []:
            try:
                merged = _load_merged(kind, p)
            except CatalogError as e:
                rows.append((p.stem, f"(invalid: {e})"))
                continue
            if merged.get("abstract"):
                continue
            desc = merged.get(table_of[kind], {}).get("description", "")
            rows.append((p.stem, str(desc).splitlines()[0] if desc else ""))
        out[kind] = rows
    return out
