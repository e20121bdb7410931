"""Power traces: one CSV row per constant segment, and a PNG of power vs time.

Times include the wake-up pieces (rows with state ``wakeup``), so ``t_end_s`` of the last
row equals the report's ``seconds`` and the ``energy_j`` column sums to its ``energy_j``
(without optional per-access energies, which have no place in time).
"""

from __future__ import annotations

import csv
import os
from fractions import Fraction

from .energy import Segment, Timeline, build_segments
from .model import PowerModel

__all__ = ["trace_rows", "write_power_trace_csv", "plot_power_trace", "CSV_COLUMNS"]

CSV_COLUMNS = ("t_start_s", "t_end_s", "cycle_start", "cycle_end", "state", "clock_hz",
               "vrange", "location", "current_a", "power_w", "energy_j")


def trace_rows(timeline: Timeline, model: PowerModel,
               segments: list[Segment] | None = None) -> list[dict]:
    """The trace as dicts (floats), in time order."""
    segs = segments if segments is not None else build_segments(timeline, model)
    rows, t = [], Fraction(0)
    vdd = model.vdd_v
    for s in segs:
        t1 = t + s.seconds
        rows.append({
            "t_start_s": float(t), "t_end_s": float(t1), "cycle_start": s.c0,
            "cycle_end": s.c1,
            "state": s.state if s.wakeup_from is None else f"wakeup:{s.wakeup_from}",
            "clock_hz": s.clock_hz, "vrange": s.vrange, "location": s.location or "",
            "current_a": float(s.current), "power_w": float(s.current) * vdd,
            "energy_j": float(s.energy)})
        t = t1
    return rows


def write_power_trace_csv(path: str | os.PathLike, timeline: Timeline, model: PowerModel,
                          segments: list[Segment] | None = None) -> int:
    """Write the trace to ``path`` (columns :data:`CSV_COLUMNS`); returns the row count."""
    rows = trace_rows(timeline, model, segments)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return len(rows)


_COLORS = {"run": "#d62728", "sleep": "#1f77b4", "wakeup": "#ff7f0e"}


def plot_power_trace(path_png: str | os.PathLike, timeline: Timeline, model: PowerModel,
                     segments: list[Segment] | None = None, title: str | None = None,
                     log_scale: bool | None = None) -> None:
    """Power [mW] vs time [ms] as a step plot, with the background shaded by state."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = trace_rows(timeline, model, segments)
    fig, ax = plt.subplots(figsize=(9, 3.5), dpi=100)
    try:
        xs, ys = [], []
        seen: dict[str, str] = {}
        for r in rows:
            t0, t1 = r["t_start_s"] * 1e3, r["t_end_s"] * 1e3
            p = r["power_w"] * 1e3
            xs += [t0, t1]
            ys += [p, p]
            key = r["state"].split(":")[0]
            color = _COLORS.get(key, "#2ca02c")
            if t1 > t0:
                ax.axvspan(t0, t1, color=color, alpha=0.12, lw=0)
            seen.setdefault(r["state"] if key != "wakeup" else "wakeup", color)
        ax.plot(xs, ys, color="black", lw=1.0)
        pos = [y for y in ys if y > 0]
        if log_scale is None:
            log_scale = bool(pos) and max(pos) / min(pos) > 100
        if log_scale and pos:
            ax.set_yscale("log")
        ax.set_xlabel("time [ms]")
        ax.set_ylabel(f"power [mW] at {model.vdd_v:g} V")
        ax.set_title(title or f"{model.name}: power trace")
        ax.legend(handles=[Patch(color=c, alpha=0.3, label=s) for s, c in seen.items()],
                  loc="upper right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path_png)
    finally:
        plt.close(fig)
