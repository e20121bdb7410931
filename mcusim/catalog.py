"""Catalog loader: MCU memory models, core descriptions and power models.

Catalog files are TOML (parsed with :mod:`tomllib`, UTF-8). A file may say
``extends = "name"`` (a catalog entry of the same kind, or a path relative to the
file) to inherit another file: tables are merged deeply, the child wins, arrays are
replaced. ``abstract = true`` marks a family file that only exists to be extended.
``remove = ["caches", "flash.accelerator"]`` deletes dotted keys after the merge (so a
part can drop something its family has). ``extends`` is the only inheritance keyword
(core files too: ``cortex-m3`` extends ``cortex-m4f``).

The merged dict is validated and typed by :mod:`mcusim.schema`, which declares every
key (type, unit, default, range, doc); the loader remembers which file of the
``extends`` chain set each value (``spec.origins``, shown by ``mcusim show``). The schema
reference is in ``docs/catalogs.md`` (generated from the schema).

Every user-facing problem raises :class:`CatalogError` with a one-line message that names
the file and the key.
"""

from __future__ import annotations

import copy
import importlib.resources
import os
import pathlib
from dataclasses import dataclass
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the API-compatible backport
    import tomli as tomllib  # type: ignore[no-redef]

from . import peripherals as _peripherals  # noqa: F401  (the models register their Params)
from . import accelerators as _accelerators  # noqa: F401  (shipped plugins, for the docs)
from . import schema as S
from .schema import (  # noqa: F401  (the catalog's public types live in the schema)
    ACCESS_MODES, ARCHES, FPUS, MEMORY_KINDS, UNICORN_CPUS, AcceleratorSpec, CacheSpec,
    CatalogError, CoreSpec, FlashTiming, FrozenMap, McuSpec, MemoryRegion, PeripheralSpec,
    PowerSpec, SystickSpec, TimingSpec,
)

__all__ = [
    "CatalogError",
    "CoreSpec",
    "MemoryRegion",
    "FlashTiming",
    "PeripheralSpec",
    "McuSpec",
    "PowerSpec",
    "load_mcu",
    "load_core",
    "load_power",
    "list_catalog",
    "catalog_dirs",
    "show",
]

_PAGE = S.PAGE
_META_KEYS = S.META_KEYS


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
        except (OSError, ValueError):      # unreadable, bad TOML or UTF-8: listed anyway
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
        hint = S._suggest(s, known)
        raise CatalogError(f"unknown {label} {s!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                           + f" (known: {', '.join(known) or 'none'})")
    return p


# --------------------------------------------------------------------------- reading and merging

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
        data = path.read_bytes()
    except OSError as e:
        raise CatalogError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise CatalogError(f"{path.name}: line {line}: not valid UTF-8 (byte "
                           f"0x{data[e.start]:02x}); catalog files are UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{path.name}: bad TOML: {e}") from None


@dataclass
class _Merged:
    data: dict            # the merged tables (without extends/abstract/remove)
    origins: dict         # dotted key -> path of the file that set it (tables: last file)
    chain: list           # file paths, root first
    abstract: bool


def _record(origins: dict, prefix: str, value: Any, src: str) -> None:
    origins[prefix] = src
    if isinstance(value, dict):
        for k, v in value.items():
            _record(origins, f"{prefix}.{k}", v, src)


def _drop(origins: dict, prefix: str) -> None:
    for k in [k for k in origins if k == prefix or k.startswith(prefix + ".")]:
        del origins[k]


def _merge_into(base: dict, origins: dict, child: dict, src: str, prefix: str = "") -> None:
    for k, v in child.items():
        p = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            origins[p] = src
            _merge_into(base[k], origins, v, src, p)
        else:
            _drop(origins, p)
            base[k] = copy.deepcopy(v)
            _record(origins, p, v, src)


_SPEC_OF = {"mcus": McuSpec, "cores": CoreSpec, "power_models": PowerSpec}


def _load_merged(kind: str, path: pathlib.Path, _chain: tuple[str, ...] = ()) -> _Merged:
    """Read ``path`` and everything it extends, merged; with the origin of every value."""
    key = str(path.resolve())
    if key in _chain:
        raise CatalogError(f"{path.name}: 'extends' cycle through {path.name}")
    data = _read_toml(path)
    src = str(path)
    if kind == "mcus":
        _name_entries(data, "accelerators", path)
    parent_name = data.pop("extends", None)
    removes = data.pop("remove", [])
    if not isinstance(removes, list) or not all(isinstance(r, str) for r in removes):
        raise CatalogError(f"{path.name}: key 'remove' must be a list of dotted key names")
    abstract = data.pop("abstract", False)
    if not isinstance(abstract, bool):
        raise CatalogError(f"{path.name}: key 'abstract' must be true or false, got {abstract!r}")
    if parent_name is not None:
        if not isinstance(parent_name, str):
            raise CatalogError(f"{path.name}: key 'extends' must be a string")
        try:
            ppath = _resolve(kind, parent_name, rel_to=path.parent)
        except CatalogError as e:
            raise CatalogError(f"{path.name}: extends: {e}") from None
        merged = _load_merged(kind, ppath, _chain + (key,))
    else:
        merged = _Merged({}, {}, [], False)
    _merge_into(merged.data, merged.origins, data, src)
    for r in removes:
        S.check_path(_SPEC_OF[kind], r, who=f"{path.name}: remove", table_ok=True)
        S._set_path(merged.data, r, None)
        _drop(merged.origins, r)
    merged.chain.append(src)
    merged.abstract = bool(abstract)
    return merged


def _name_entries(data: dict, key: str, path: pathlib.Path) -> None:
    """An array of tables ([[accelerators]]) becomes a table of named tables, keyed by
    each entry's `name` (default: the class name of its `type`, lower case; a number is
    appended to repeats), so that extends, derive() and the knobs treat it like
    [peripherals.<name>]."""
    entries = data.get(key)
    if not isinstance(entries, list):
        return
    out: dict = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise CatalogError(f"{path.name}: [[{key}]] entry {i} must be a table, got {e!r}")
        e = dict(e)
        name = e.pop("name", None)
        if name is None:
            t = e.get("type")
            name = (t.rpartition(":")[2].rpartition(".")[2].lower()
                    if isinstance(t, str) and t.rpartition(":")[2] else f"{key}{i}")
            base, k = name, 2
            while name in out:
                name, k = f"{base}{k}", k + 1
        elif not isinstance(name, str) or not name:
            raise CatalogError(f"{path.name}: key '{key}[{i}].name' must be a non-empty string")
        elif name in out:
            raise CatalogError(f"{path.name}: two [[{key}]] entries are named {name!r}")
        out[name] = e
    data[key] = out


def _ctx(source_path: str, origins: dict, chain, core=None) -> S.Ctx:
    return S.Ctx(file=source_path, origins=origins, chain=tuple(chain), resolve_core=_core_of,
                 core=core)


def _extra(name: str, source_path: str, raw: dict, origins: dict, chain) -> dict:
    return dict(name=name, source_path=source_path, raw=raw, origins=FrozenMap(origins),
                chain=tuple(chain))


# --------------------------------------------------------------------------- cores

def load_core(name_or_path: str, rel_to: pathlib.Path | None = None) -> CoreSpec:
    """Load ``cores/<name>.toml`` (or a core file by path) with its [core] and [timing]."""
    path = _resolve("cores", name_or_path, rel_to)
    m = _load_merged("cores", path)
    if m.abstract:
        raise CatalogError(f"{path.name}: abstract entry cannot be used directly")
    return build_core(path.stem, m.data, m.origins, str(path), m.chain)


def build_core(name: str, raw: dict, origins: dict, source_path: str, chain=()) -> CoreSpec:
    """Validate a merged core dict (``load_core`` and ``schema.derive`` use this)."""
    return S.build(CoreSpec, raw, _ctx(source_path, origins, chain), "",
                   extra=_extra(name, source_path, raw, origins, chain))


def _core_of(name: str, ctx: S.Ctx) -> CoreSpec:
    """The core an MCU names: a catalog core, or a core file relative to the MCU file that
    set ``mcu.core``."""
    src = ctx.origin("mcu.core")
    rel = pathlib.Path(src).parent if src.endswith(".toml") else None
    try:
        return load_core(name, rel_to=rel)
    except CatalogError as e:
        raise ctx.error("mcu.core", f"key 'mcu.core': {e}") from None


# --------------------------------------------------------------------------- MCUs

def load_mcu(name_or_path: str) -> McuSpec:
    """Load a catalog MCU by name, or a user's .toml (which may extend a catalog entry)."""
    path = _resolve("mcus", name_or_path)
    m = _load_merged("mcus", path)
    if m.abstract:
        raise CatalogError(f"{path.name}: abstract family entry cannot be used directly "
                           "(use a part that extends it)")
    return build_mcu(path.stem, m.data, m.origins, str(path), m.chain)


def build_mcu(name: str, raw: dict, origins: dict, source_path: str, chain=(),
              core: CoreSpec | None = None) -> McuSpec:
    """Validate a merged MCU dict (``load_mcu`` and ``schema.derive`` use this). ``core``:
    use this core instead of resolving ``mcu.core``."""
    return S.build(McuSpec, raw, _ctx(source_path, origins, chain, core), "",
                   extra=_extra(name, source_path, raw, origins, chain))


# --------------------------------------------------------------------------- power

_POWER_LOADED: dict[str, tuple[tuple, PowerSpec]] = {}


def _files_state(paths) -> tuple:
    """(path, mtime_ns, size) of each file: a loaded catalog is reused while it holds."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            return ()
        out.append((p, st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_power(name_or_path: str) -> PowerSpec:
    """Load and validate a power model (schema: docs/catalogs.md). A run asks for its power
    model several times (argument check, energy, provenance): the validated spec (frozen)
    is reused while none of its files changed."""
    path = _resolve("power_models", name_or_path)
    hit = _POWER_LOADED.get(str(path))
    if hit is not None and hit[0] and hit[0] == _files_state(p for p, _m, _s in hit[0]):
        return hit[1]
    m = _load_merged("power_models", path)
    if m.abstract:
        raise CatalogError(f"{path.name}: abstract entry cannot be used directly")
    spec = build_power(path.stem, m.data, m.origins, str(path), m.chain)
    _POWER_LOADED[str(path)] = (_files_state(m.chain), spec)
    return spec


def build_power(name: str, raw: dict, origins: dict, source_path: str, chain=()) -> PowerSpec:
    return S.build(PowerSpec, raw, _ctx(source_path, origins, chain), "",
                   extra=_extra(name, source_path, raw, origins, chain))


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
            if merged.abstract:
                continue
            desc = merged.data.get(table_of[kind], {}).get("description", "")
            rows.append((p.stem, str(desc).splitlines()[0] if desc else ""))
        out[kind] = rows
    return out


# --------------------------------------------------------------------------- show

def _label(origin: str) -> str:
    """A file as `mcusim show` names it: catalog files by directory/name."""
    if not origin.endswith(".toml"):
        return origin
    p = pathlib.Path(origin)
    for d in catalog_dirs().values():
        try:
            if p.resolve().parent == d.resolve():
                return f"{_KINDS[_kind_of(d)][1]}/{p.name}"
        except OSError:
            pass
    try:
        rel = os.path.relpath(p)
        return rel if not rel.startswith("..") else str(p)
    except ValueError:
        return str(p)


def _kind_of(d: pathlib.Path) -> str:
    for k, v in catalog_dirs().items():
        if v == d:
            return k
    return "mcus"


def show(name_or_path: str) -> str:
    """The merged catalog of an MCU (with its core and power model) as TOML, every value
    followed by the file of the extends chain that set it, or "default"."""
    mcu = load_mcu(name_or_path)
    out = [f"# mcusim show {name_or_path}: each value is followed by the file that set it "
           "(\"default\": the schema's default).",
           f"# MCU {mcu.name}: " + " <- ".join(_label(c) for c in reversed(mcu.chain))]
    out += S.to_toml(mcu, _label)
    core = S._undo_prio(mcu.core)
    out += ["", f"# core {core.name}: " + " <- ".join(_label(c) for c in reversed(core.chain))]
    out += S.to_toml(core, _label)
    if mcu.power_model:
        pm = load_power(mcu.power_model)
        out += ["", f"# power model {pm.name}: "
                + " <- ".join(_label(c) for c in reversed(pm.chain))]
        out += S.to_toml(pm, _label)
    return "\n".join(out) + "\n"
