"""`mcusim check`: a CI gate that compares runs against a committed baseline.

    mcusim check --baseline base.json current.json
    mcusim check --baseline base.json -- bench --models kws,ad      # run, then compare
    mcusim check --baseline base.json --update -- bench --models kws,ad

Both sides are files ``mcusim run/infer --json`` or ``mcusim bench --json`` wrote (or
``RunRecord.to_json``/``bench_json``). Benchmarks pair by name (a single run or inference
record pairs with the other side's single record).

Metrics (lower is better): ``cycles`` and ``latency_ms`` (per inference for inference
records, for the whole run otherwise), ``energy_uj``, ``flash_bytes``, ``ram_bytes``,
``arena_bytes``, ``stack_peak_bytes``; and per item ``layer_cycles`` (each layer) and
``function_cycles`` (each function, exclusive cycles). A change is over tolerance when
``|current - baseline| > max(abs, rel * |baseline|)``; the simulator is deterministic, so
the default tolerance is zero. The per-item metrics are always reported (they attribute a
change to layers and functions) but gate only when a tolerance is configured for them.

Exit status: 0 within tolerance (improvements are reported), 1 a regression (or a run that
failed), 2 bad input or baselines that are not comparable (a different mcusim version or
catalog content hash, unless ``--allow-different``, which then lists what differs).

Tolerances, later sources win: ``[tool.mcusim.check]`` in the nearest pyproject.toml
(from the working directory up), ``--config FILE.toml`` (the same table, or its keys at
the top level), ``--tolerance METRIC=SPEC``. A SPEC is ``2%`` (relative), ``500``
(absolute, in the metric's unit) or both (``2%,500``); in TOML a string like that or a
table ``{ rel = 0.02, abs = 500 }``; the key ``default`` applies to every metric.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence
from xml.sax.saxutils import quoteattr, escape

from mcusim.api import RunRecord, _read_json, _write_text
from mcusim.errors import UserError
from mcusim.provenance import catalog_differences

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

EXIT_OK, EXIT_REGRESSION, EXIT_BAD = 0, 1, 2


# --------------------------------------------------------------------------- metrics

@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    get: Callable[[RunRecord], float | None]
    digits: int = 0                 # decimals shown

    def fmt(self, v: float | None) -> str:
        if v is None:
            return "-"
        return f"{v:,.{self.digits}f}"


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("cycles", "cycles", lambda r: r.inference_cycles),
    Metric("latency_ms", "ms", lambda r: r.latency_ms, 3),
    Metric("energy_uj", "uJ", lambda r: r.energy_uj, 2),
    Metric("flash_bytes", "B", lambda r: r.flash_bytes),
    Metric("ram_bytes", "B", lambda r: r.ram_bytes),
    Metric("arena_bytes", "B", lambda r: r.arena_bytes),
    Metric("stack_peak_bytes", "B", lambda r: r.stack_peak_bytes),
)}
ITEM_METRICS = {"layer_cycles": Metric("layer_cycles", "cycles", lambda r: None),
                "function_cycles": Metric("function_cycles", "cycles", lambda r: None)}
ALL_METRICS = [*METRICS, *ITEM_METRICS]
_CAUSES = ("core", "branch", "memory", "exception", "bus", "sleep")


# --------------------------------------------------------------------------- tolerances

@dataclass(frozen=True)
class Tolerance:
    """A change is within tolerance when ``|delta| <= max(abs, rel * |baseline|)``."""
    rel: float = 0.0
    abs: float = 0.0

    def allowed(self, base: float) -> float:
        return max(self.abs, self.rel * abs(base))

    def __str__(self) -> str:
        parts = []
        if self.rel:
            parts.append(f"{self.rel * 100:g}%")
        if self.abs:
            parts.append(f"{self.abs:g}")
        return ",".join(parts) or "0"


@dataclass
class Tolerances:
    """Per-metric tolerances; ``None`` for an item metric means: report, do not gate."""
    default: Tolerance = field(default_factory=Tolerance)
    metrics: dict[str, Tolerance] = field(default_factory=dict)

    def of(self, metric: str) -> Tolerance | None:
        if metric in self.metrics:
            return self.metrics[metric]
        if metric in ITEM_METRICS:
            return None
        return self.default

    def update(self, mapping: Mapping[str, Any], where: str) -> None:
        for key, value in mapping.items():
            tol = parse_tolerance(value, f"{where}: {key}")
            if key == "default":
                self.default = tol
            elif key in METRICS or key in ITEM_METRICS:
                self.metrics[key] = tol
            else:
                raise UserError(f"{where}: unknown metric {key!r}{_did_you_mean(key, ['default', *ALL_METRICS])}"
                                f" (metrics: {', '.join(ALL_METRICS)})")

    def describe(self) -> str:
        parts = [f"default {self.default}"] + [f"{k} {v}" for k, v in self.metrics.items()]
        return ", ".join(parts)


def parse_tolerance(value: Any, where: str) -> Tolerance:
    """``"2%"``, ``"500"``, ``"2%,500"``, a number (absolute) or ``{rel, abs}``."""
    if isinstance(value, bool):
        raise UserError(f"{where}: a tolerance is \"2%\", 500, \"2%,500\" or {{rel=, abs=}}, not {value!r}")
    if isinstance(value, (int, float)):
        return _tol(0.0, float(value), where)
    if isinstance(value, Mapping):
        unknown = set(value) - {"rel", "abs"}
        if unknown:
            raise UserError(f"{where}: unknown tolerance key {sorted(unknown)[0]!r} (rel, abs)")
        try:
            return _tol(float(value.get("rel", 0.0)), float(value.get("abs", 0.0)), where)
        except (TypeError, ValueError):
            raise UserError(f"{where}: rel and abs must be numbers") from None
    if isinstance(value, str):
        rel = ab = 0.0
        parts = [p.strip() for p in value.replace("+", ",").split(",") if p.strip()]
        if not parts:
            raise UserError(f"{where}: empty tolerance")
        for p in parts:
            try:
                if p.endswith("%"):
                    rel = float(p[:-1]) / 100
                else:
                    ab = float(p)
            except ValueError:
                raise UserError(f"{where}: bad tolerance {value!r} (e.g. 2%, 500 or 2%,500)") from None
        return _tol(rel, ab, where)
    raise UserError(f"{where}: a tolerance is \"2%\", 500, \"2%,500\" or {{rel=, abs=}}, not {value!r}")


def _tol(rel: float, ab: float, where: str) -> Tolerance:
    if not (math.isfinite(rel) and math.isfinite(ab)) or rel < 0 or ab < 0:
        raise UserError(f"{where}: tolerances must be finite and not negative")
    return Tolerance(rel, ab)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml from ``start`` up (the user's project)."""
    for d in (start, *start.parents):
        p = d / "pyproject.toml"
        if p.is_file():
            return p
    return None


def _load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: bad TOML: {e}") from None


def _check_table(doc: Mapping) -> Mapping | None:
    t = doc.get("tool", {})
    t = t.get("mcusim", {}) if isinstance(t, Mapping) else {}
    t = t.get("check") if isinstance(t, Mapping) else None
    return t if isinstance(t, Mapping) else None


def load_tolerances(specs: Sequence[str] = (), config: str | os.PathLike | None = None,
                    cwd: Path | None = None) -> Tolerances:
    """Tolerances from the nearest pyproject.toml, a TOML file, then ``METRIC=SPEC`` options."""
    tol = Tolerances()
    py = find_pyproject(Path(cwd or Path.cwd()).resolve())
    if py is not None:
        table = _check_table(_load_toml(py))
        if table is not None:
            tol.update(table, f"{py} [tool.mcusim.check]")
    if config is not None:
        path = Path(config)
        doc = _load_toml(path)
        table = _check_table(doc)
        tol.update(table if table is not None else doc, str(path))
    for s in specs:
        key, sep, value = s.partition("=")
        if not sep:
            key, value = "default", s
        tol.update({key.strip(): value.strip()}, f"--tolerance {s}")
    return tol


# --------------------------------------------------------------------------- inputs

@dataclass
class Results:
    """One side of a comparison: benchmark name -> record."""
    path: str
    kind: str                                  # "bench" | "record"
    records: dict[str, RunRecord]
    data: Any = None                           # the JSON document as read


def load_results(source: str | os.PathLike | Mapping | RunRecord | Sequence[RunRecord],
                 label: str | None = None) -> Results:
    """A run/infer record or a bench document: a path, its parsed JSON, a RunRecord or a
    list of RunRecords (bench_records)."""
    if isinstance(source, RunRecord):
        return Results(label or source.name, "record", {source.name: source}, source.to_dict())
    if isinstance(source, (list, tuple)) and all(isinstance(r, RunRecord) for r in source):
        recs = list(source)
        return Results(label or "records", "bench", _named(recs, label or "records"),
                       [r.to_dict() for r in recs])
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        data = _read_json(where)
    else:
        data, where = source, label or "<data>"
    if isinstance(data, Mapping) and isinstance(data.get("results"), list):
        recs = []
        for i, row in enumerate(data["results"]):
            if not isinstance(row, Mapping) or not isinstance(row.get("record"), Mapping):
                raise UserError(f"{where}: bench result {i} has no run record (written by an "
                                "older mcusim?); re-create it with this version's bench --json")
            try:
                r = RunRecord.from_dict(row["record"])
            except (UserError, TypeError) as e:
                raise UserError(f"{where}: bench result {i}: {e}") from None
            r.benchmark = row.get("benchmark") or r.name
            recs.append(r)
        return Results(where, "bench", _named(recs, where), data)
    if isinstance(data, Mapping):
        try:
            r = RunRecord.from_dict(data)
        except TypeError as e:
            raise UserError(f"{where}: not an mcusim run record ({e})") from None
        except UserError as e:
            raise UserError(f"{where}: {e}") from None
        return Results(where, "record", {r.name: r}, data)
    raise UserError(f"{where}: not an mcusim run record or bench result")


def _named(recs: list[RunRecord], where: str) -> dict[str, RunRecord]:
    out: dict[str, RunRecord] = {}
    for r in recs:
        if r.name in out:
            raise UserError(f"{where}: benchmark {r.name!r} appears twice")
        out[r.name] = r
    return out


# --------------------------------------------------------------------------- comparison

@dataclass
class Change:
    """One metric of one benchmark (or one layer or function of it)."""
    benchmark: str
    metric: str
    base: float | None
    cur: float | None
    tolerance: Tolerance | None      # None: reported, not gated
    item: str | None = None          # "conv_2d layer 3", a function name
    detail: str = ""                 # cycles by cause of a layer

    @property
    def delta(self) -> float | None:
        if self.base is None or self.cur is None:
            return None
        return self.cur - self.base

    @property
    def rel(self) -> float | None:
        d = self.delta
        if d is None:
            return None
        if self.base == 0:
            return 0.0 if d == 0 else math.copysign(math.inf, d)
        return d / abs(self.base)

    @property
    def status(self) -> str:
        """regression | improvement | within | unchanged | new | gone | missing"""
        if self.base is None and self.cur is None:
            return "unchanged"
        if self.base is None:
            return "new"
        if self.cur is None:
            return "gone" if self.item else "missing"
        d = self.delta or 0.0
        if abs(d) <= 1e-12 * max(1.0, abs(self.base)):
            return "unchanged"
        if self.tolerance is None:
            return "regression" if d > 0 else "improvement"
        allowed = self.tolerance.allowed(self.base)
        if d > allowed:
            return "regression"
        if -d > allowed:
            return "improvement"
        return "within"

    @property
    def gated(self) -> bool:
        return self.tolerance is not None

    @property
    def fails(self) -> bool:
        return self.gated and self.status in ("regression", "missing")

    def change_text(self) -> str:
        r = self.rel
        if self.status == "new":
            return "new"
        if self.status in ("gone", "missing"):
            return self.status
        if r is None:
            return "-"
        if math.isinf(r):
            return "+inf%" if r > 0 else "-inf%"
        return f"{r * 100:+.1f}%"

    def line(self) -> str:
        """`fully_connected layer 0: +12.4% cycles (+30,000), memory stalls +80% (+9,254)`"""
        m = METRICS.get(self.metric) or ITEM_METRICS[self.metric]
        what = self.item or self.metric
        unit = "cycles" if self.metric.endswith("cycles") else self.metric
        if self.status == "new":
            return f"{what}: new ({m.fmt(self.cur)} {unit})"
        if self.status in ("gone", "missing"):
            return f"{what}: {self.status} (was {m.fmt(self.base)} {unit})"
        s = f"{what}: {self.change_text()} {unit} ({_signed(self.delta, m.digits)})"
        return s + (f", {self.detail}" if self.detail else "")


def _signed(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:+,.{digits}f}"


@dataclass
class BenchComparison:
    name: str
    baseline: RunRecord | None
    current: RunRecord | None
    metrics: list[Change] = field(default_factory=list)
    layers: list[Change] = field(default_factory=list)
    functions: list[Change] = field(default_factory=list)
    failure: str | None = None        # the current run did not succeed
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.all_changes() if c.fails]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.metrics if c.status == "improvement"]

    def all_changes(self) -> list[Change]:
        return self.metrics + self.layers + self.functions

    @property
    def failed(self) -> bool:
        return self.failure is not None or bool(self.regressions)

    def item_metric_changes(self, metric: str) -> list[Change]:
        items = self.layers if metric == "layer_cycles" else self.functions
        return [c for c in items if c.status not in ("unchanged",)]


@dataclass
class CheckReport:
    """The result of comparing a current run or bench with a baseline."""
    baseline: str
    current: str
    tolerances: Tolerances
    benchmarks: list[BenchComparison] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)      # exit 2
    notes: list[str] = field(default_factory=list)       # what differs between the runs
    allow_different: bool = False

    @property
    def status(self) -> int:
        if self.errors:
            return EXIT_BAD
        return EXIT_REGRESSION if any(b.failed for b in self.benchmarks) else EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_OK: "PASS", EXIT_REGRESSION: "REGRESSION", EXIT_BAD: "ERROR"}[self.status]

    def moved(self) -> list[Change]:
        """Top-level metrics that changed, biggest (relative) first, regressions first."""
        rank = {"missing": 0, "regression": 1, "improvement": 2, "within": 3, "new": 4}
        rows = [c for b in self.benchmarks for c in b.metrics
                if c.status not in ("unchanged",)]
        return sorted(rows, key=lambda c: (rank.get(c.status, 9), -_mag(c.rel), c.benchmark,
                                           ALL_METRICS.index(c.metric)))

    # ---- text
    def text(self, top: int = 5) -> str:
        out = [f"mcusim check: {self.current} against baseline {self.baseline}"]
        for e in self.errors:
            out.append(f"error: {e}")
        for n in self.notes:
            out.append(f"note: {n}")
        moved = self.moved()
        failed_runs = [b for b in self.benchmarks if b.failure]
        for b in failed_runs:
            out.append(f"{b.name}: current run failed: {b.failure}")
        if moved:
            out.append(_table(moved))
        if self.benchmarks and not self.errors:
            same = [b.name for b in self.benchmarks
                    if all(c.status == "unchanged" for c in b.metrics) and not b.failure]
            if same:
                out.append(f"unchanged: {', '.join(same)}")
        for b in self.benchmarks:
            attr = _attribution(b, top)
            if attr:
                out.extend(attr)
        n_reg = sum(1 for b in self.benchmarks for c in b.regressions)
        n_imp = sum(len(b.improvements) for b in self.benchmarks)
        summary = (f"result: {self.verdict} ({len(self.benchmarks)} benchmark"
                   f"{'s' if len(self.benchmarks) != 1 else ''}; {n_reg} over tolerance, "
                   f"{n_imp} improved, {len(failed_runs)} failed runs; tolerances: "
                   f"{self.tolerances.describe()})")
        out.append(summary)
        return "\n".join(out) + "\n"

    # ---- Markdown (pull-request comments)
    def markdown(self, top: int = 5) -> str:
        n_reg = sum(1 for b in self.benchmarks for c in b.regressions)
        head = {EXIT_OK: "within tolerance", EXIT_REGRESSION: f"{n_reg} regression"
                + ("s" if n_reg != 1 else ""), EXIT_BAD: "not comparable"}[self.status]
        out = [f"### mcusim check: **{self.verdict}** ({head})", ""]
        for e in self.errors:
            out.append(f"- :x: {_md(e)}")
        for n in self.notes:
            out.append(f"- note: {_md(n)}")
        for b in self.benchmarks:
            if b.failure:
                out.append(f"- :x: `{_md(b.name)}`: current run failed: {_md(b.failure)}")
        if out[-1] != "":
            out.append("")
        moved = self.moved()
        if moved:
            out.append("| benchmark | metric | baseline | current | change | tolerance | result |")
            out.append("|---|---|---:|---:|---:|---:|---|")
            for c in moved:
                m = METRICS[c.metric]
                out.append(f"| {_md(c.benchmark)} | {c.metric} | {m.fmt(c.base)} | {m.fmt(c.cur)} | "
                           f"{c.change_text()} | {c.tolerance} | {_result(c)} |")
            out.append("")
        elif not self.errors:
            out.append("No metric moved.")
            out.append("")
        for b in self.benchmarks:
            attr = _attribution(b, top)
            if attr:
                out.append(f"<details><summary>{_md(attr[0].rstrip(':'))}</summary>")
                out.append("")
                out.extend(f"- {_md(x.strip())}" if x.startswith("    ") else f"\n**{_md(x.strip())}**\n"
                           for x in attr[1:])
                out.append("")
                out.append("</details>")
                out.append("")
        out.append(f"Tolerances: {self.tolerances.describe()}.")
        return "\n".join(out) + "\n"

    # ---- JUnit XML (one test case per benchmark and metric)
    def junit(self) -> str:
        suites = []
        tot = fails = errs = 0
        if self.errors:
            cases = [_case("comparability", "mcusim.check",
                           error=("not comparable", "; ".join(self.errors)))]
            suites.append(_suite("mcusim check", cases, 0, 1))
            tot, errs = tot + 1, errs + 1
        for b in self.benchmarks:
            cls = f"mcusim.check.{b.name}"
            cases = []
            nf = 0
            if b.failure:
                cases.append(_case("outcome", cls, failure=("run failed", b.failure)))
                nf += 1
            else:
                cases.append(_case("outcome", cls, out="the run succeeded"))
            for c in b.metrics:
                m = METRICS[c.metric]
                msg = (f"{c.metric} {c.change_text()} ({m.fmt(c.base)} -> {m.fmt(c.cur)} "
                       f"{m.unit}; tolerance {c.tolerance})")
                if c.fails:
                    nf += 1
                    cases.append(_case(c.metric, cls, failure=(msg, "\n".join(_attribution(b, 10)))))
                else:
                    cases.append(_case(c.metric, cls, out=f"{c.status}: {msg}"))
            for metric in ITEM_METRICS:
                items = b.item_metric_changes(metric)
                bad = [c for c in items if c.fails]
                tol = self.tolerances.of(metric)
                body = "\n".join(c.line() for c in items) or "no change"
                if bad:
                    nf += 1
                    cases.append(_case(metric, cls, failure=(
                        f"{len(bad)} over tolerance {tol}: " + "; ".join(c.line() for c in bad[:3]),
                        body)))
                else:
                    gate = f"tolerance {tol}" if tol is not None else "reported, not gated"
                    cases.append(_case(metric, cls, out=f"{gate}\n{body}"))
            props = _props(b)
            suites.append(_suite(f"mcusim check: {b.name}", cases, nf, 0, props))
            tot += len(cases)
            fails += nf
        xml = ['<?xml version="1.0" encoding="UTF-8"?>',
               f'<testsuites name="mcusim check" tests="{tot}" failures="{fails}" '
               f'errors="{errs}" time="0">']
        xml += suites
        xml.append("</testsuites>")
        return "\n".join(xml) + "\n"


def _mag(r: float | None) -> float:
    return abs(r) if r is not None else 0.0


def _result(c: Change) -> str:
    return {"regression": "REGRESSION", "missing": "MISSING", "improvement": "improved",
            "within": "within tolerance", "new": "new"}.get(c.status, c.status)


def _table(rows: list[Change]) -> str:
    head = ("benchmark", "metric", "baseline", "current", "change", "tolerance", "result")
    body = []
    for c in rows:
        m = METRICS[c.metric]
        body.append((c.benchmark, c.metric, m.fmt(c.base), m.fmt(c.cur), c.change_text(),
                     str(c.tolerance), _result(c)))
    w = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    right = {2, 3, 4, 5}
    lines = []
    for r in [head, *body]:
        lines.append("  ".join(x.rjust(w[i]) if i in right else x.ljust(w[i])
                               for i, x in enumerate(r)).rstrip())
    return "\n".join(lines)


def _attribution(b: BenchComparison, top: int) -> list[str]:
    """Where a benchmark moved: its layers and functions by size of change."""
    lay = [c for c in b.layers if c.status != "unchanged"]
    fun = [c for c in b.functions if c.status != "unchanged"]
    if not lay and not fun:
        return []
    head = next((c for c in b.metrics if c.metric == "cycles"), None)
    what = f"cycles {head.change_text()}" if head is not None and head.status != "unchanged" \
        else "cycles unchanged in total"
    out = [f"where {b.name} moved ({what}):"]
    for title, items in (("layers", lay), ("functions", fun)):
        if not items:
            continue
        # what failed a tolerance first, then by size of the change
        items = sorted(items, key=lambda c: (not c.fails, -abs(_item_delta(c)), c.item or ""))
        out.append(f"  {title}:")
        for c in items[:top]:
            mark = " [over tolerance]" if c.fails else ""
            out.append(f"    {c.line()}{mark}")
        if len(items) > top:
            out.append(f"    ... {len(items) - top} more {title} moved")
    return out


def _item_delta(c: Change) -> float:
    if c.delta is not None:
        return c.delta
    return c.cur if c.cur is not None else -(c.base or 0)


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("<", "&lt;")


def _xml_text(s: str) -> str:
    # XML 1.0 forbids most control characters
    s = "".join(ch if ch in "\t\n\r" or ord(ch) >= 0x20 else "?" for ch in s)
    return escape(s)


def _attr(s: str) -> str:
    s = "".join(ch if ch in "\t\n\r" or ord(ch) >= 0x20 else "?" for ch in s)
    return quoteattr(s)


def _case(name: str, cls: str, *, failure: tuple[str, str] | None = None,
          error: tuple[str, str] | None = None, out: str | None = None) -> str:
    s = f'    <testcase name={_attr(name)} classname={_attr(cls)} time="0"'
    inner = []
    if failure is not None:
        inner.append(f'      <failure type="regression" message={_attr(failure[0])}>'
                     f'{_xml_text(failure[1])}</failure>')
    if error is not None:
        inner.append(f'      <error type={_attr(error[0])} message={_attr(error[1])}>'
                     f'{_xml_text(error[1])}</error>')
    if out:
        inner.append(f"      <system-out>{_xml_text(out)}</system-out>")
    if not inner:
        return s + "/>"
    return s + ">\n" + "\n".join(inner) + "\n    </testcase>"


def _suite(name: str, cases: list[str], failures: int, errors: int,
           props: list[tuple[str, str]] = ()) -> str:
    s = [f'  <testsuite name={_attr(name)} tests="{len(cases)}" failures="{failures}" '
         f'errors="{errors}" skipped="0" time="0">']
    if props:
        s.append("    <properties>")
        s += [f"      <property name={_attr(k)} value={_attr(v)}/>" for k, v in props]
        s.append("    </properties>")
    s += cases
    s.append("  </testsuite>")
    return "\n".join(s)


def _props(b: BenchComparison) -> list[tuple[str, str]]:
    out = []
    for side, r in (("baseline", b.baseline), ("current", b.current)):
        if r is None:
            continue
        out.append((f"{side}.mcu", f"{r.mcu} ({r.core}, {r.clock_hz / 1e6:g} MHz, {r.mode})"))
        p = r.provenance
        if p is not None:
            out += [(f"{side}.mcusim_version", p.mcusim_version),
                    (f"{side}.catalog_sha256", p.catalog_sha256),
                    (f"{side}.firmware_sha256", str(p.firmware_sha256))]
            if p.model_sha256:
                out.append((f"{side}.model_sha256", p.model_sha256))
    return out


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    import difflib
    m = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {m[0]!r}?)" if m else ""


def _layer_key(row: Mapping) -> int:
    return int(row.get("index", -1))


def _layers_by_index(rows: Sequence[Mapping]) -> dict[int, dict]:
    """One row per layer index: a run record has a row per execution (several inferences),
    an inference record already their mean; the mean of cycles and of each cause."""
    groups: dict[int, list[Mapping]] = {}
    for r in rows:
        groups.setdefault(_layer_key(r), []).append(r)
    out = {}
    for idx, rs in groups.items():
        row = dict(rs[-1])
        if len(rs) > 1:
            row["cycles"] = sum(r.get("cycles") or 0 for r in rs) // len(rs)
            causes = {k for r in rs for k in (r.get("stalls") or {})}
            row["stalls"] = {k: sum((r.get("stalls") or {}).get(k, 0) for r in rs) // len(rs)
                             for k in causes} or None
        out[idx] = row
    return out


def _layer_label(row: Mapping) -> str:
    op = row.get("op")
    return f"{str(op).lower() if op else 'layer'} layer {row.get('index')}"


def _cause_detail(base: Mapping | None, cur: Mapping | None) -> str:
    """The causes that moved most within a layer: `memory stalls +80% (+9,254)`."""
    if not base or not cur:
        return ""
    moved = []
    for k in _CAUSES:
        b, c = base.get(k) or 0, cur.get(k) or 0
        if c != b:
            moved.append((abs(c - b), k, b, c))
    moved.sort(reverse=True)
    parts = []
    for _, k, b, c in moved[:2]:
        name = f"{k} stalls" if k not in ("core", "sleep") else f"{k} cycles"
        rel = f"{(c - b) / b * 100:+.0f}%" if b else "new"
        parts.append(f"{name} {rel} ({c - b:+,})")
    return ", ".join(parts)


def _compare_bench(name: str, base: RunRecord, cur: RunRecord, tol: Tolerances) -> BenchComparison:
    bc = BenchComparison(name, base, cur)
    if not cur.ok:
        bc.failure = (cur.outcome_message or f"outcome {cur.outcome}"
                      + (f" status {cur.exit_code}" if cur.outcome == "exit" else ""))
    for mname, m in METRICS.items():
        b, c = m.get(base), m.get(cur)
        if b is None and c is None:
            continue
        bc.metrics.append(Change(name, mname, b, c, tol.of(mname)))
    # layers: by index (same model); op names label them
    bl, cl = _layers_by_index(base.layer_rows), _layers_by_index(cur.layer_rows)
    lt = tol.of("layer_cycles")
    for idx in sorted(set(bl) | set(cl)):
        rb, rc = bl.get(idx), cl.get(idx)
        label = _layer_label(rc or rb)
        if rb is not None and rc is not None and rb.get("op") != rc.get("op"):
            bc.notes.append(f"layer {idx} is {rb.get('op')} in the baseline and {rc.get('op')} now")
        bc.layers.append(Change(name, "layer_cycles", rb.get("cycles") if rb else None,
                                rc.get("cycles") if rc else None, lt, item=label,
                                detail=_cause_detail((rb or {}).get("stalls"),
                                                     (rc or {}).get("stalls"))))
    bf = {r["name"]: r for r in base.function_rows if "name" in r}
    cf = {r["name"]: r for r in cur.function_rows if "name" in r}
    ft = tol.of("function_cycles")
    for fn in sorted(set(bf) | set(cf)):
        rb, rc = bf.get(fn), cf.get(fn)
        ch = Change(name, "function_cycles", rb.get("cycles") if rb else None,
                    rc.get("cycles") if rc else None, ft if (rb and rc) else None, item=fn)
        bc.functions.append(ch)
    return bc


def _differences(base: RunRecord, cur: RunRecord) -> tuple[list[str], list[str]]:
    """(blocking, informational) differences between the runs' provenance."""
    pb, pc = base.provenance, cur.provenance
    block: list[str] = []
    info: list[str] = []
    if pb is None or pc is None:
        which = "baseline" if pb is None else "current"
        block.append(f"the {which} record has no provenance (written by an mcusim older than "
                     "the check command); re-create it with --update")
        return block, info
    if pb.mcusim_version != pc.mcusim_version:
        block.append(f"mcusim version {pb.mcusim_version} -> {pc.mcusim_version}")
    if pb.catalog_sha256 != pc.catalog_sha256:
        lines = catalog_differences(pb.catalogs, pc.catalogs)
        block.append("catalog differs (sha256 " f"{pb.catalog_sha256[:12]} -> {pc.catalog_sha256[:12]})"
                     + (": " + " | ".join(lines) if lines else ""))
    if base.kind != cur.kind:
        block.append(f"a {base.kind} record against a {cur.kind} record")
    if base.mcu != cur.mcu:
        info.append(f"MCU {base.mcu} -> {cur.mcu}")
    if base.clock_hz != cur.clock_hz:
        info.append(f"clock {base.clock_hz / 1e6:g} MHz -> {cur.clock_hz / 1e6:g} MHz")
    if pb.mode != pc.mode:
        info.append(f"mode {pb.mode} -> {pc.mode}")
    if pb.firmware_sha256 != pc.firmware_sha256:
        info.append(f"firmware {pb.firmware} ({str(pb.firmware_sha256)[:12]}) -> "
                    f"{pc.firmware} ({str(pc.firmware_sha256)[:12]})")
    if pb.model_sha256 != pc.model_sha256:
        info.append(f"model {pb.model} ({str(pb.model_sha256)[:12]}) -> "
                    f"{pc.model} ({str(pc.model_sha256)[:12]})")
    for k in sorted(set(pb.options) | set(pc.options)):
        if pb.options.get(k) != pc.options.get(k):
            info.append(f"option {k}: {json.dumps(pb.options.get(k))} -> {json.dumps(pc.options.get(k))}")
    return block, info


def compare(baseline: Any, current: Any, tolerances: Tolerances | None = None, *,
            allow_different: bool = False) -> CheckReport:
    """Compare a current run or bench with a baseline (paths, JSON dicts, RunRecords or
    lists of them, or :class:`Results`). The report's ``status`` is the exit status."""
    tol = tolerances or Tolerances()
    base = baseline if isinstance(baseline, Results) else load_results(baseline, "baseline")
    cur = current if isinstance(current, Results) else load_results(current, "current")
    rep = CheckReport(base.path, cur.path, tol, allow_different=allow_different)
    pairs: list[tuple[str, RunRecord, RunRecord]] = []
    if base.kind == "record" and cur.kind == "record":
        (bn, br), = base.records.items()
        (cn, cr), = cur.records.items()
        pairs.append((cn, br, cr))
    else:
        missing = [n for n in base.records if n not in cur.records]
        if missing:
            rep.errors.append(f"missing from the current results: {', '.join(missing)} "
                              "(run them, or --update the baseline)")
        for n in cur.records:
            if n not in base.records:
                rep.notes.append(f"{n}: new benchmark, no baseline (--update adds it)")
        pairs = [(n, base.records[n], cur.records[n]) for n in cur.records if n in base.records]
    seen_block: dict[str, list[str]] = {}
    seen_info: dict[str, list[str]] = {}
    for name, br, cr in pairs:
        if not br.ok:
            rep.errors.append(f"{name}: the baseline run did not succeed ({br.outcome_message or br.outcome}); "
                              "re-create the baseline with --update")
            continue
        block, info = _differences(br, cr)
        for line in block:
            seen_block.setdefault(line, []).append(name)
        for line in info:
            seen_info.setdefault(line, []).append(name)
        rep.benchmarks.append(_compare_bench(name, br, cr, tol))
    n_pairs = len(pairs)

    def who(names: list[str]) -> str:
        return "" if len(names) == n_pairs and n_pairs > 1 else f"{', '.join(names)}: " \
            if n_pairs > 1 else ""

    for line, names in seen_block.items():
        if allow_different:
            rep.notes.append(f"{who(names)}comparing across a difference (--allow-different): {line}")
        else:
            rep.errors.append(f"{who(names)}not comparable: {line} (--allow-different to compare anyway)")
    for line, names in seen_info.items():
        rep.notes.append(f"{who(names)}changed: {line}")
    for b in rep.benchmarks:
        rep.notes.extend(f"{b.name}: {n}" for n in b.notes)
    return rep


# --------------------------------------------------------------------------- command line

def run_current(run_argv: list[str], cli_main) -> tuple[Any, int]:
    """Run ``mcusim <run_argv>`` in this process through ``cli_main`` (mcusim.cli.main,
    which called us) and return (its JSON document, status)."""
    if not run_argv:
        raise UserError("check: nothing after '--' (e.g. -- bench --models kws,ad)")
    cmd = run_argv[0]
    if cmd not in ("run", "infer", "bench"):
        raise UserError(f"check: can run 'run', 'infer' or 'bench' after '--', not {cmd!r}")
    argv = list(run_argv)
    json_path = None
    for i, a in enumerate(argv):
        if a == "--json" and i + 1 < len(argv):
            json_path = argv[i + 1]
        elif a.startswith("--json="):
            json_path = a.split("=", 1)[1]
    tmp = None
    if json_path is None:
        fd, tmp = tempfile.mkstemp(prefix="mcusim-check-", suffix=".json")
        os.close(fd)
        os.unlink(tmp)
        json_path = tmp
        argv += ["--json", tmp]
    try:
        status = cli_main(argv)
        if not os.path.exists(json_path):
            raise UserError(f"check: 'mcusim {' '.join(run_argv)}' wrote no record "
                            f"(exit status {status})")
        return _read_json(json_path), status
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def main(args: Any, run_argv: list[str] | None, cli_main=None) -> int:
    """`mcusim check` (arguments parsed by mcusim.cli; ``cli_main`` runs the command after
    '--')."""
    if args.top < 1:
        raise UserError("--top must be at least 1")
    tol = load_tolerances(args.tolerance, args.config)
    if run_argv is not None and args.current:
        raise UserError("check: give either a CURRENT file or a command after '--', not both")
    if run_argv is None and not args.current:
        raise UserError("check: give the CURRENT results file, or a command after '--' "
                        "(mcusim check --baseline base.json -- bench --models kws,ad)")
    for p in (args.junit, args.markdown):
        _check_writable(p)
    if run_argv is not None:
        data, _status = run_current(run_argv, cli_main)
        label = "mcusim " + " ".join(run_argv)
    else:
        data, label = _read_json(args.current), args.current
    current = load_results(data, label)
    have_base = os.path.exists(args.baseline)
    if args.update:
        failed = [n for n, r in current.records.items() if not r.ok]
        if failed:
            print(f"mcusim check: not updating {args.baseline}: the current run of "
                  f"{', '.join(failed)} did not succeed", file=sys.stderr)
            return EXIT_REGRESSION
        if have_base:
            try:
                rep = compare(args.baseline, current, tol, allow_different=True)
                sys.stdout.write(rep.text(args.top))
            except UserError as e:
                print(f"mcusim check: the old baseline was unreadable ({e})", file=sys.stderr)
        _write_text(args.baseline, json.dumps(current.data, indent=1) + "\n")
        print(f"mcusim check: baseline {args.baseline} "
              f"{'updated' if have_base else 'written'} ({len(current.records)} benchmark"
              f"{'s' if len(current.records) != 1 else ''})")
        return EXIT_OK
    if not have_base:
        raise UserError(f"baseline {args.baseline} does not exist (create it with --update)")
    rep = compare(args.baseline, current, tol, allow_different=args.allow_different)
    sys.stdout.write(rep.text(args.top))
    if args.junit:
        _write_text(args.junit, rep.junit())
    if args.markdown:
        _write_text(args.markdown, rep.markdown(args.top))
    if rep.errors:
        print(f"mcusim: check: {rep.errors[0]}" + (f" (+{len(rep.errors) - 1} more)"
                                                     if len(rep.errors) > 1 else ""),
              file=sys.stderr)
    return rep.status


def _check_writable(path: str | None) -> None:
    if not path:
        return
    d = Path(path).resolve().parent
    if not d.is_dir():
        raise UserError(f"cannot write {path}: no such directory {d}")
    if Path(path).is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
