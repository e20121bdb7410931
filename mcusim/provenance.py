"""Provenance of a run: what produced its numbers, so that two records can be checked for
comparability (`mcusim check`) and a result can be reproduced.

Every record carries (key ``provenance``):

* ``mcusim_version``;
* ``catalog_sha256``: one content hash of the merged catalogs the run used (the MCU file with
  everything it extends, its core, its power model), and per part (``catalogs.mcu``,
  ``.core``, ``.power``) the name, the hash and the merged values (dotted key -> value), so
  that a difference can be named down to the key;
* ``firmware`` and ``firmware_sha256`` (the ELF's bytes), ``model`` and ``model_sha256``
  (the .tflite bytes, when there is a model);
* ``mode`` and ``options`` (what the caller asked for: clock, limits, kernels, counts...).

The hash is over the merged catalog *content*: citations (``source``, ``confidence``,
``note``, ``comment``) and descriptions do not count, nor the names by which an MCU refers
to its core and power model (their content is hashed as its own part). A renamed copy of a
catalog file hashes the same; a changed value anywhere in the chain does not. Integral
floats hash like integers (``120`` and ``120.0`` are the same clock).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from mcusim.schema import META_KEYS

if TYPE_CHECKING:
    from mcusim.catalog import McuSpec

_IGNORED = frozenset(META_KEYS) | {"description"}
# keys of the MCU part whose content is its own part (hashed there)
_MCU_REFS = ("mcu.core", "mcu.power_model")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str | None:
    """The sha256 of a file's bytes (None when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


_ENGINE: list[str] = []


def engine_sha256() -> str:
    """SHA-256 of the simulator's own code (every .py, .c and .h file of the mcusim
    package, by relative path and content): results computed by another engine are not
    the same results even when the version string is (development trees, local edits).
    Computed once per process."""
    if not _ENGINE:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for f in sorted(p for ext in ("*.py", "*.c", "*.h") for p in root.rglob(ext)):
            rel = f.relative_to(root).as_posix()
            if "__pycache__" in rel:
                continue
            h.update(rel.encode() + b"\0")
            h.update(f.read_bytes())
            h.update(b"\0")
        _ENGINE.append(h.hexdigest())
    return _ENGINE[0]


def _norm(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else v
    if isinstance(v, Mapping):
        return {str(k): _norm(x) for k, x in v.items() if k not in _IGNORED}
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return str(v)


def flatten(d: Mapping, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value (tables flattened, arrays of tables by row: ``key[2].ws``; other
    arrays kept whole), citations left out."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in _IGNORED:
            continue
        p = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten(v, p))
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, Mapping) for x in v):
            for i, x in enumerate(v):                 # arrays of tables: one key per row
                out.update(flatten(x, f"{p}[{i}]"))
        else:
            out[p] = _norm(v)
    return out


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class CatalogPart:
    """One merged catalog file (with everything it extends) as a run used it."""
    name: str
    sha256: str
    values: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "values": self.values}


def _part(name: str, raw: Mapping, drop: tuple[str, ...] = ()) -> CatalogPart:
    values = {k: v for k, v in flatten(raw).items() if k not in drop}
    return CatalogPart(name, sha256_bytes(_canonical(values)), values)


def catalog_parts(mcu: "McuSpec") -> dict[str, CatalogPart | None]:
    """The three merged catalogs of an MCU: ``mcu``, ``core``, ``power`` (None without one)."""
    from mcusim.catalog import load_power
    power = None
    if mcu.power_model:
        pm = load_power(mcu.power_model)
        power = _part(pm.name, pm.raw)
    return {"mcu": _part(mcu.name, mcu.raw, _MCU_REFS),
            "core": _part(str(mcu.core.name), mcu.core.raw),
            "power": power}


def catalog_sha256(parts: Mapping[str, CatalogPart | None]) -> str:
    """One hash over the parts' hashes."""
    return sha256_bytes(_canonical({k: (p.sha256 if p else None) for k, p in parts.items()}))


@dataclass(frozen=True)
class Provenance:
    """What produced a record (see the module docstring)."""
    mcusim_version: str
    catalog_sha256: str
    catalogs: dict[str, CatalogPart | None]
    firmware: str | None
    firmware_sha256: str | None
    model: str | None
    model_sha256: str | None
    mode: str
    options: dict[str, Any]

    def to_dict(self) -> dict:
        return {"mcusim_version": self.mcusim_version, "catalog_sha256": self.catalog_sha256,
                "catalogs": {k: (p.to_dict() if p else None) for k, p in self.catalogs.items()},
                "firmware": self.firmware, "firmware_sha256": self.firmware_sha256,
                "model": self.model, "model_sha256": self.model_sha256,
                "mode": self.mode, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, d: Mapping | None) -> "Provenance | None":
        if not isinstance(d, Mapping):
            return None
        cats = {}
        for k, p in (d.get("catalogs") or {}).items():
            cats[k] = (CatalogPart(p.get("name", "?"), p.get("sha256", ""), dict(p.get("values") or {}))
                       if isinstance(p, Mapping) else None)
        return cls(mcusim_version=str(d.get("mcusim_version")),
                   catalog_sha256=str(d.get("catalog_sha256")), catalogs=cats,
                   firmware=d.get("firmware"), firmware_sha256=d.get("firmware_sha256"),
                   model=d.get("model"), model_sha256=d.get("model_sha256"),
                   mode=str(d.get("mode")), options=dict(d.get("options") or {}))


def provenance(mcu: "McuSpec", *, mode: str, firmware: str | None,
               model: str | None = None, model_bytes: bytes | None = None,
               options: Mapping[str, Any] | None = None) -> Provenance:
    from mcusim import __version__
    parts = catalog_parts(mcu)
    return Provenance(
        mcusim_version=__version__, catalog_sha256=catalog_sha256(parts), catalogs=parts,
        firmware=Path(firmware).name if firmware else None,
        firmware_sha256=sha256_file(firmware) if firmware else None,
        model=model, model_sha256=sha256_bytes(model_bytes) if model_bytes is not None else None,
        mode=mode, options={k: _norm(v) for k, v in (options or {}).items()})


def catalog_differences(a: Mapping[str, CatalogPart | None], b: Mapping[str, CatalogPart | None],
                        limit: int = 6) -> list[str]:
    """What differs between two runs' catalogs, one line per part: names, and the first
    ``limit`` keys whose values differ (``key: a -> b``)."""
    out = []
    for kind in ("mcu", "core", "power"):
        pa, pb = a.get(kind), b.get(kind)
        if pa is None and pb is None:
            continue
        if pa is None or pb is None:
            out.append(f"{kind}: {pa.name if pa else 'none'} -> {pb.name if pb else 'none'}")
            continue
        if pa.sha256 == pb.sha256:
            continue
        label = f"{kind} {pa.name}" + (f" -> {pb.name}" if pa.name != pb.name else "")
        keys = sorted(set(pa.values) | set(pb.values))
        diffs = [k for k in keys if pa.values.get(k, _MISSING) != pb.values.get(k, _MISSING)]
        if not diffs:
            out.append(f"{label}: content differs (sha256 {pa.sha256[:12]} -> {pb.sha256[:12]})")
            continue
        shown = [f"{k}: {_show(pa.values.get(k, _MISSING))} -> {_show(pb.values.get(k, _MISSING))}"
                 for k in diffs[:limit]]
        more = f" (+{len(diffs) - limit} more keys)" if len(diffs) > limit else ""
        out.append(f"{label}: " + "; ".join(shown) + more)
    return out


class _Missing:
    def __repr__(self) -> str:
        return "(unset)"


_MISSING = _Missing()


def _show(v: Any) -> str:
    if v is _MISSING:
        return "(unset)"
    s = json.dumps(v, separators=(",", ":"))
    return s if len(s) <= 80 else s[:77] + "..."
