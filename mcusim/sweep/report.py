"""Analysis of a sweep's results: Pareto fronts over chosen objectives, per workload and
over all workloads, as text, a PNG (matplotlib) and an interactive HTML page (plotly, when
installed).

Objectives are result columns, minimised (``max:inferences_per_s`` maximises). Over all
workloads a configuration is feasible when every workload ran, gave the expected output and
meets the constraints; its objective is the sum over the workloads (latency, energy,
cycles), the largest value (bytes: the part must hold the largest workload), or the mean
(power and everything else).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcusim.errors import UserError

ALL = "all workloads"
_SUM = ("latency_ms", "energy_uj", "cycles", "run_cycles", "instructions", "host_seconds")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_.#/-]+)\s*(<=|>=|<|>|==)\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")


@dataclass
class Objective:
    column: str
    maximize: bool = False

    @classmethod
    def parse(cls, s: str) -> Objective:
        s = s.strip()
        if s.startswith("max:"):
            return cls(s[4:], True)
        if s.startswith("min:"):
            return cls(s[4:], False)
        return cls(s)

    @property
    def label(self) -> str:
        return ("max " if self.maximize else "") + self.column


@dataclass
class Constraint:
    workload: str | None
    column: str
    op: str
    value: float
    text: str

    @classmethod
    def parse(cls, s: str, workloads: Sequence[str]) -> Constraint:
        m = _CONSTRAINT.match(s)
        if not m:
            raise UserError(f"constraint {s!r}: write [workload.]metric <= number "
                            "(operators <, <=, >, >=, ==)")
        lhs, op, v = m.groups()
        wl = None
        if "." in lhs:
            head, _, col = lhs.rpartition(".")
            if head in workloads:
                wl, lhs = head, col
            else:
                raise UserError(f"constraint {s!r}: no workload named {head!r} "
                                f"(workloads: {', '.join(workloads)})")
        return cls(wl, lhs, op, float(v), s.strip())

    def holds(self, x: Any) -> bool:
        if x is None or x != x:
            return False
        return {"<=": x <= self.value, "<": x < self.value, ">=": x >= self.value,
                ">": x > self.value, "==": x == self.value}[self.op]


@dataclass
class Front:
    """The configurations of one scope (a workload, or all of them) and its Pareto front."""
    scope: str
    table: Any                        # DataFrame: one row per feasible configuration
    front: Any                        # DataFrame: the Pareto-optimal rows, best first
    infeasible: int = 0
    params: list[str] = field(default_factory=list)


@dataclass
class Report:
    objectives: list[Objective]
    constraints: list[Constraint]
    fronts: list[Front]
    params: list[str]
    files: list[Path] = field(default_factory=list)

    def overall(self) -> Front | None:
        return next((f for f in self.fronts if f.scope == ALL), None)

    def text(self, limit: int = 30) -> str:
        import pandas as pd
        out = []
        obj = ", ".join(o.label for o in self.objectives)
        for f in self.fronts:
            n = len(f.table)
            head = f"Pareto front over {obj} — {f.scope}: {len(f.front)} of {n} configurations"
            if f.infeasible:
                head += f" ({f.infeasible} more infeasible: failed, wrong output or constraint)"
            out.append(head)
            if f.scope == ALL:
                out.append("  (sum of latency and energy over the workloads, largest bytes)")
            if len(f.front):
                cols = ["point"] + [o.column for o in self.objectives]
                shown = f.front[cols].head(limit)
                shown = shown.assign(**{c: [_num(v) for v in shown[c]] for c in cols[1:]})
                with pd.option_context("display.width", 200, "display.max_colwidth", 80):
                    out.append("  " + shown.to_string(index=False).replace("\n", "\n  "))
                if len(f.front) > limit:
                    out.append(f"  ... {len(f.front) - limit} more")
            out.append("")
        for p in self.files:
            out.append(f"wrote {p}")
        return "\n".join(out).rstrip() + "\n"


def pareto_mask(values) -> Any:
    """Boolean mask of the non-dominated rows of ``values`` (n x k, all minimised)."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    n = len(v)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        dominated_by = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        if dominated_by.any():
            keep[i] = False
            continue
        dominates = np.all(v[i] <= v, axis=1) & np.any(v[i] < v, axis=1)
        keep[dominates] = False
    return keep


def _front(scope: str, table, objectives: list[Objective], params: list[str],
           infeasible: int) -> Front:
    import numpy as np
    if len(table) == 0:
        return Front(scope, table, table, infeasible, params)
    vals = np.column_stack([(-1 if o.maximize else 1) * table[o.column].astype(float).to_numpy()
                            for o in objectives])
    ok = ~np.isnan(vals).any(axis=1)
    table = table[ok].reset_index(drop=True)
    vals = vals[ok]
    mask = pareto_mask(vals) if len(vals) else np.zeros(0, dtype=bool)
    table = table.assign(pareto=mask)
    front = table[mask].sort_values([o.column for o in objectives],
                                    ascending=[not o.maximize for o in objectives])
    return Front(scope, table, front.reset_index(drop=True), infeasible + int((~ok).sum()), params)


def _aggregate(col: str) -> str:
    if col in _SUM or col.endswith("_cycles"):
        return "sum"
    if col.endswith("_bytes"):
        return "max"
    return "mean"


def feasible(df):
    """Rows that ran to a clean end with the expected result: an inference that exited 0
    with the expected output, a firmware run with its expected exit status and output."""
    correct = df["output_correct"].astype("boolean")
    run = df["kind"] == "run" if "kind" in df else False
    infer_ok = (df["outcome"] == "exit") & (df["exit_code"] == 0) & correct.fillna(True)
    return (infer_ok & ~run) | (correct.fillna(False) & run)


def analyse(df, objectives: Sequence[str], constraints: Sequence[str] = (),
            params: Sequence[str] | None = None) -> Report:
    """Pareto fronts of a results DataFrame (``mcusim.sweep.load``): one per workload and
    one over all workloads."""
    import pandas as pd
    if not objectives:
        raise UserError("no objectives (e.g. --objectives latency_ms,energy_uj)")
    objs = [Objective.parse(o) for o in objectives]
    workloads = list(dict.fromkeys(df["workload"])) if len(df) else []
    cons = [Constraint.parse(c, workloads) for c in constraints]
    for o in objs:
        if o.column not in df.columns:
            raise UserError(f"objective {o.column!r} is not a result column "
                            f"(e.g. latency_ms, energy_uj, avg_power_mw, ram_bytes, mcu_ram_bytes, "
                            "flash_bytes, cycles, memory_cycles)")
    for c in cons:
        if c.column not in df.columns:
            raise UserError(f"constraint {c.text!r}: {c.column!r} is not a result column")
    params = list(params or [])
    ok = feasible(df) if len(df) else pd.Series([], dtype=bool)
    fronts = []
    good = df[ok] if len(df) else df
    per: dict[str, Any] = {}
    for w in workloads:
        t = good[good["workload"] == w]
        for c in cons:
            if c.workload in (None, w):
                t = t[[c.holds(x) for x in t[c.column]]]
        per[w] = t
        n_all = int((df["workload"] == w).sum())
        fronts.append(_front(w, t.reset_index(drop=True), objs, params, n_all - len(t)))
    if len(workloads) > 1:
        ids = None
        for w in workloads:
            s = set(per[w]["point_id"])
            ids = s if ids is None else ids & s
        rows = []
        cols = sorted({o.column for o in objs} | {c.column for c in cons if c.workload is None})
        for pid in sorted(ids or ()):
            sub = pd.concat([per[w][per[w]["point_id"] == pid] for w in workloads])
            first = sub.iloc[0]
            row = {"point_id": pid, "point": first["point"]}
            for p in params:
                row[p] = first.get(p)
            for c in cols:
                row[c] = getattr(sub[c].astype(float), _aggregate(c))()
            rows.append(row)
        t = pd.DataFrame(rows, columns=["point_id", "point", *params, *cols])
        n_points = df["point_id"].nunique()
        fronts.insert(0, _front(ALL, t.reset_index(drop=True), objs, params, n_points - len(t)))
    return Report(objs, cons, fronts, params)


def plot(rep: Report, out_dir: str | os.PathLike, html: bool = True) -> list[Path]:
    """pareto.png (one panel per scope: the first two objectives, the third as colour) and,
    with plotly installed, pareto.html (hover for every parameter)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    objs = rep.objectives
    x, y = objs[0], objs[1] if len(objs) > 1 else objs[0]
    c = objs[2] if len(objs) > 2 else None
    fronts = [f for f in rep.fronts if len(f.table)]
    files: list[Path] = []
    if fronts:
        n = len(fronts)
        cols = min(n, 3 if n > 4 else 2 if n > 1 else 1)
        rows = (n + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.8 * rows), squeeze=False)
        for ax, f in zip(axes.flat, fronts):
            t, fr = f.table, f.front
            dom = t[~t["pareto"]]
            varies = c is not None and t[c.column].astype(float).nunique() > 1
            if varies:
                lo, hi = float(t[c.column].min()), float(t[c.column].max())
                kw = dict(cmap="viridis", vmin=lo, vmax=hi)
                ax.scatter(dom[x.column], dom[y.column], s=18, c=dom[c.column], alpha=0.35,
                           label="dominated", zorder=1, **kw)
                sc = ax.scatter(fr[x.column], fr[y.column], s=70, c=fr[c.column],
                                edgecolors="#d62728", linewidths=1.6, zorder=3,
                                label="Pareto-optimal", **kw)
                fig.colorbar(sc, ax=ax).set_label(c.label)
            else:
                ax.scatter(dom[x.column], dom[y.column], s=18, c="#b0b0b0", label="dominated",
                           zorder=1)
                ax.scatter(fr[x.column], fr[y.column], s=70, c="#d62728", zorder=3,
                           label="Pareto-optimal")
            st = fr.sort_values(x.column)
            ax.plot(st[x.column], st[y.column], color="#d62728", lw=0.8, alpha=0.5, zorder=2)
            names = []
            for i, (_, r) in enumerate(fr.head(12).iterrows(), 1):
                ax.annotate(str(i), (r[x.column], r[y.column]), fontsize=7, fontweight="bold",
                            xytext=(5, 4), textcoords="offset points", zorder=4)
                names.append(f"{i} {_short(r['point'])}")
            if len(fr) > 12:
                names.append(f"... {len(fr) - 12} more")
            ax.text(0.99, 0.80, "\n".join(names), transform=ax.transAxes, fontsize=6.5,
                    ha="right", va="top", family="monospace",
                    bbox=dict(boxstyle="round", fc="white", ec="#cccccc", alpha=0.9), zorder=5)
            for col, setter in ((x.column, ax.set_xscale), (y.column, ax.set_yscale)):
                v = t[col].astype(float)
                if (v > 0).all() and v.max() / v.min() > 5:
                    setter("log")
            ax.set_xlabel(x.label)
            ax.set_ylabel(y.label)
            ax.set_title(f"{f.scope}: {len(fr)} Pareto-optimal of {len(t)}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper right")
        for ax in list(axes.flat)[len(fronts):]:
            ax.axis("off")
        fig.tight_layout()
        png = out / "pareto.png"
        fig.savefig(png, dpi=110)
        plt.close(fig)
        files.append(png)
    if html and fronts:
        try:
            import plotly.express as px
        except ImportError:
            px = None
        if px is not None:
            files.append(_html(rep, fronts, out / "pareto.html", x, y, c))
    rep.files.extend(files)
    return files


def _html(rep: Report, fronts, path: Path, x, y, c) -> Path:
    import pandas as pd
    import plotly.express as px
    frames = []
    for f in fronts:
        t = f.table.copy()
        t["scope"] = f.scope
        t["Pareto-optimal"] = t["pareto"].map({True: "yes", False: "no"})
        frames.append(t)
    df = pd.concat(frames, ignore_index=True)
    hover = [p for p in rep.params if p in df.columns] + [o.column for o in rep.objectives]
    fig = px.scatter(df, x=x.column, y=y.column, color=c.column if c else "Pareto-optimal",
                     symbol="Pareto-optimal", facet_col="scope", facet_col_wrap=3,
                     hover_name="point", hover_data=list(dict.fromkeys(hover)),
                     symbol_map={"yes": "diamond", "no": "circle"})
    fig.update_xaxes(matches=None, showticklabels=True)
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.update_layout(title="mcusim sweep: Pareto fronts over " +
                      ", ".join(o.label for o in rep.objectives), height=420 * ((len(fronts) + 2) // 3))
    fig.write_html(path, include_plotlyjs="cdn")
    return path


def _num(v: Any) -> str:
    """A figure for the text report: integers with separators, 4 significant digits."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if f != f:
        return "-"
    if f.is_integer() and abs(f) >= 1:
        return f"{int(f):,}"
    return f"{f:,.1f}" if abs(f) >= 1000 else f"{f:.4g}"


def _short(label: str) -> str:
    return label if len(label) <= 48 else label[:45] + "..."
