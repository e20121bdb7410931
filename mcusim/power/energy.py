"""Energy accounting: a run's timeline (in core cycles) x a :class:`PowerModel`.

The machine hands over a :class:`Timeline`: change logs of the clock, the voltage range,
the power state and the code location, each a list of ``(cycle, value)`` sorted by cycle,
plus the run's total cycles, per-function and per-layer rows and measurement windows.

Method (exact for piecewise-constant segments):

1. The change points of all logs cut ``[0, total_cycles)`` into segments in which clock,
   voltage range, state and location are constant. A segment of ``n`` cycles at ``f`` Hz
   lasts ``n / f`` s and uses ``E = I(state, f, range, location) * VDD * n / f``.
2. Every transition out of a deep state (and out of Sleep if the catalog gives a Sleep
   wake-up time) adds a zero-cycle *wake-up piece* at the first cycle after the wake-up:
   time = the state's ``wakeup_us``; energy = ``wakeup_energy_uj`` if the catalog has it,
   else the run power of the following segment x the wake-up time. The machine's cycle
   count does not include these latencies; the report adds them to the time.
3. Any interval ``[begin, end)`` (a layer, a window) is integrated exactly: overlapping
   cycles x the energy per cycle of each segment, plus the wake-up pieces at cycles
   ``begin <= c < end``. Intervals that partition the run therefore sum to the total.
4. Per-function energy: function rows carry exclusive *run* cycles but no timestamps, so a
   function gets ``cycles x (run energy / run cycles)`` - the run energy per cycle averaged
   over all run segments. This is exact when every run segment has the same clock, range
   and location; when the clock changes mid-run, a function's share is its fraction of run
   cycles, not of run time at its own clock (a function that only ran at 26 MHz is charged
   the run-average energy per cycle). Rows that sum to the run cycles sum to the run
   energy; cycles not covered by any row are reported as ``unattributed_run_energy_j``.

5. Activity energy (the catalog's ``[access_energy]``, :mod:`mcusim.power.activity`): the
   run's event counts (``Timeline.access_counts``) x the energies per event, added to the
   run total; a layer or window row that carries its own counts (key ``activity``) adds
   its events' energy to its interval. Activity has no place in time (the power trace and
   ``peak_power_w`` show the baseline); in ``power_states`` it is part of the ``run``
   state's energy (so the states sum to the total); functions get the run's activity per
   run cycle as in 4.

All arithmetic is on :class:`fractions.Fraction`; results are converted to float once.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Sequence

from ..catalog import CatalogError
from .model import DEEPSLEEP, LOCATIONS, RUN, SLEEP, PowerModel, exact

__all__ = ["Timeline", "Segment", "EnergyReport", "account", "build_segments"]


@dataclass
class Timeline:
    """What the machine reports after a run (cycles are absolute core cycles).

    - ``clock_changes``: ``[(cycle, clock_hz), ...]``, the first at cycle 0.
    - ``voltage_ranges``: ``[(cycle, range_name), ...]``; ``None`` = the MCU's default
      ``voltage_range`` throughout. A range of ``None``/``"auto"`` means "implied by the
      clock" (DVFS: the lowest range admitting it).
    - ``power_states``: ``[(cycle, state), ...]`` with state ``"run"``, ``"sleep"``,
      ``"deepsleep"`` (mapped to ``deep_sleep_state`` or the catalog's
      ``deep_sleep_default``), or an explicit catalog state name (``"stop2"``).
      Default: run throughout.
    - ``locations``: ``[(cycle, location), ...]`` for run power, location in
      ``flash_accel_on`` | ``flash_accel_off`` | ``sram``; default ``flash_accel_on``
      (the catalog's ``default_location``).
    - ``functions``: rows ``{"name", "cycles", "instructions"}`` (exclusive run cycles).
    - ``layers``: rows ``{"index", "op", "macs", "begin", "end"}`` (absolute cycles).
    - ``windows``: ``[(begin_cycle, end_cycle), ...]`` (or ``(begin, end, counts)``), one
      per inference.
    - ``access_counts``: the run's activity event counts (``{"data_read": n, ...}``;
      charged only if the catalog enables ``[access_energy]``). Layer rows may carry their
      own under ``"activity"``.
    """

    total_cycles: int
    clock_changes: list[tuple[int, float]]
    power_states: list[tuple[int, str]] | None = None
    voltage_ranges: list[tuple[int, str | None]] | None = None
    locations: list[tuple[int, str]] | None = None
    deep_sleep_state: str | None = None
    functions: list[dict] = field(default_factory=list)
    layers: list[dict] = field(default_factory=list)
    windows: list[tuple[int, int]] = field(default_factory=list)
    access_counts: dict[str, int] | None = None

    @classmethod
    def constant(cls, cycles: int, clock_hz: float, **kw: Any) -> "Timeline":
        """A run at one clock (other logs as keyword arguments)."""
        return cls(total_cycles=int(cycles), clock_changes=[(0, clock_hz)], **kw)


@dataclass(frozen=True)
class Segment:
    """A piece of the run with constant parameters. ``wakeup`` pieces have zero cycles."""

    c0: int
    c1: int
    state: str              # run | sleep | <deep state name> | wakeup
    clock_hz: float
    vrange: str
    location: str | None    # run segments only
    current: Fraction       # A
    seconds: Fraction
    energy: Fraction        # J
    wakeup_from: str | None = None

    @property
    def cycles(self) -> int:
        return self.c1 - self.c0

    @property
    def power(self) -> Fraction:
        return self.energy / self.seconds if self.seconds else Fraction(0)


@dataclass
class EnergyReport:
    """Result of :func:`account`. Floats in SI units (J, s, W)."""

    energy_j: float
    seconds: float
    avg_power_w: float
    peak_power_w: float
    vdd_v: float
    cycles: int
    power_states: dict[str, dict[str, float]]
    functions: list[dict]
    layers: list[dict]
    windows: list[dict]
    wakeups: dict[str, float]
    run_energy_j: float
    unattributed_run_energy_j: float
    access_energy_j: float
    warnings: list[str]
    segments: list[Segment] = field(repr=False, default_factory=list)
    data_status: str = "placeholder"
    data_reason: str | None = None

    @property
    def activity_energy_j(self) -> float:
        """Energy of the counted activity events (part of ``energy_j``)."""
        return self.access_energy_j

    @property
    def window_energy_uj(self) -> float | None:
        """Mean energy per window (per inference) in µJ, or None without windows."""
        if not self.windows:
            return None
        return sum(w["energy_uj"] for w in self.windows) / len(self.windows)

    @property
    def window_avg_power_w(self) -> float | None:
        """Average power over all windows (their energy / their time)."""
        s = sum(w["seconds"] for w in self.windows)
        return sum(w["energy_j"] for w in self.windows) / s if s else None

    def to_dict(self) -> dict:
        """Keys for the JSON run record (DESIGN.md) plus the power-specific extras."""
        return {
            "energy_j": self.energy_j, "avg_power_w": self.avg_power_w,
            "peak_power_w": self.peak_power_w, "vdd_v": self.vdd_v,
            "seconds": self.seconds, "power_states": self.power_states,
            "functions": self.functions, "layers": self.layers, "windows": self.windows,
            "window_energy_uj": self.window_energy_uj,
            "window_avg_power_w": self.window_avg_power_w,
            "wakeups": self.wakeups, "access_energy_j": self.access_energy_j,
            "unattributed_run_energy_j": self.unattributed_run_energy_j,
            "power_data": self.data_status, "power_data_reason": self.data_reason,
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------- segments

def _log(name: str, entries: Sequence[tuple[int, Any]] | None, default: Any,
         total: int) -> list[tuple[int, Any]]:
    if entries is None or len(entries) == 0:
        return [(0, default)]
    out: list[tuple[int, Any]] = []
    prev = -1
    for i, e in enumerate(entries):
        try:
            c, v = e
            c = int(c)
        except (TypeError, ValueError):
            raise ValueError(f"timeline {name}[{i}] must be (cycle, value), got {e!r}") from None
        if c < prev:
            raise ValueError(f"timeline {name} not sorted by cycle at entry {i} ({c} < {prev})")
        if c < 0 or c > total:
            raise ValueError(f"timeline {name}[{i}] cycle {c} outside 0..{total}")
        prev = c
        if out and out[-1][0] == c:
            out[-1] = (c, v)          # several changes at one cycle: the last wins
        else:
            out.append((c, v))
    if out[0][0] != 0:
        out.insert(0, (0, default))
    return out


def _at(log: list[tuple[int, Any]], starts: list[int], c: int) -> Any:
    return log[bisect.bisect_right(starts, c) - 1][1]


def build_segments(timeline: Timeline, model: PowerModel) -> list[Segment]:
    """Cut the timeline into constant segments and wake-up pieces (in time order)."""
    total = int(timeline.total_cycles)
    if total < 0:
        raise ValueError(f"timeline total_cycles must be >= 0, got {total}")
    if not timeline.clock_changes or int(timeline.clock_changes[0][0]) != 0:
        raise ValueError("timeline clock_changes must start with (0, clock_hz)")
    clocks = _log("clock_changes", timeline.clock_changes, None, total)
    ranges = _log("voltage_ranges", timeline.voltage_ranges, model.mcu_default_range(), total)
    states = _log("power_states", timeline.power_states, RUN, total)
    locs = _log("locations", timeline.locations, model.default_location, total)
    logs = [(lg, [c for c, _ in lg]) for lg in (clocks, ranges, states, locs)]
    cuts = sorted({c for lg, _ in logs for c, _ in lg if c < total} | {0})
    deep_default = model.deep_state(timeline.deep_sleep_state)

    segs: list[Segment] = []
    cache: dict[tuple, tuple] = {}
    wcache: dict[tuple, Segment | None] = {}
    prev_state: str | None = None
    vdd = exact(model.vdd_v)
    for i, c0 in enumerate(cuts):
        c1 = cuts[i + 1] if i + 1 < len(cuts) else total
        if c1 <= c0:
            continue
        clock, vr, st, loc = (_at(lg, st_, c0) for lg, st_ in logs)
        key = (clock, vr, st, loc)
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = _params(model, c0, clock, vr, st, loc, deep_default)
        f, vr, name, loc, cur = hit
        secs = Fraction(c1 - c0) / f
        if prev_state is not None and prev_state not in (RUN, name) and name == RUN:
            wkey = (prev_state, clock, vr, cur)
            if wkey not in wcache:
                wcache[wkey] = _wakeup_piece(model, prev_state, 0, float(clock), vr, cur, vdd)
            w = wcache[wkey]
            if w is not None:
                segs.append(dataclasses.replace(w, c0=c0, c1=c0))
        segs.append(Segment(c0, c1, name, float(clock), vr, loc, cur, secs, cur * vdd * secs))
        prev_state = name
    return segs


def _params(model: PowerModel, c0: int, clock: Any, vr: Any, st: Any, loc: Any,
            deep_default: str | None) -> tuple[Fraction, str, str, str | None, Fraction]:
    """(clock as Fraction, resolved range, state name, location, current) of a segment."""
    try:
        f = exact(clock)
    except (TypeError, ValueError):
        raise ValueError(f"timeline clock at cycle {c0} is not a number: {clock!r}") from None
    if f <= 0:
        raise CatalogError(f"{model.name}: clock must be positive, got {clock!r} Hz "
                           f"at cycle {c0}")
    vr = model.resolve_range(float(clock), vr)
    if st == RUN:
        if loc not in LOCATIONS:
            raise CatalogError(f"{model.name}: unknown code location {loc!r} at cycle "
                               f"{c0} (known: {', '.join(LOCATIONS)})")
        cur = model.run_current_exact(float(clock), vr, loc)
        name = RUN
    elif st == SLEEP:
        cur = model.sleep_current_exact(float(clock), vr)
        name, loc = SLEEP, None
    else:
        name = deep_default if st == DEEPSLEEP else str(st)
        loc = None
        if name is None:   # catalog without deep states
            model._warn("no deep low-power states in the catalog; deep sleep uses "
                        "the Sleep current")
            cur = model.sleep_current_exact(float(clock), vr)
            name = DEEPSLEEP
        else:
            cur = model.state_current_exact(name)
    return f, vr, name, loc, cur


def _wakeup_piece(model: PowerModel, from_state: str, c: int, clock: float, vr: str,
                  run_current: Fraction, vdd: Fraction) -> Segment | None:
    if from_state == DEEPSLEEP:   # deep sleep without catalog states: nothing known
        return None
    secs, joules = model.wakeup_exact(from_state)
    if secs == 0 and not joules:
        return None
    if joules is None:
        joules = run_current * vdd * secs
    cur = joules / (vdd * secs) if secs else Fraction(0)
    return Segment(c, c, "wakeup", clock, vr, None, cur, secs, joules, wakeup_from=from_state)


# ---------------------------------------------------------------------------- integration

class _Integrator:
    def __init__(self, segs: list[Segment]):
        self.segs = [s for s in segs if s.state != "wakeup"]
        self.starts = [s.c0 for s in self.segs]
        self.wakes = [s for s in segs if s.state == "wakeup"]
        self.wake_c = [s.c0 for s in self.wakes]

    def interval(self, b: int, e: int) -> tuple[Fraction, Fraction]:
        """(energy J, seconds) over cycles [b, e), wake-ups at b <= c < e included."""
        en, t = Fraction(0), Fraction(0)
        if e <= b:
            return en, t
        i = max(bisect.bisect_right(self.starts, b) - 1, 0)
        while i < len(self.segs) and self.segs[i].c0 < e:
            s = self.segs[i]
            ov = min(e, s.c1) - max(b, s.c0)
            if ov > 0:
                en += s.energy * ov / s.cycles
                t += s.seconds * ov / s.cycles
            i += 1
        j0, j1 = bisect.bisect_left(self.wake_c, b), bisect.bisect_left(self.wake_c, e)
        for w in self.wakes[j0:j1]:
            en += w.energy
            t += w.seconds
        return en, t


def _interval_rows(rows: Iterable[dict], integ: _Integrator, total: int, what: str,
                   model: PowerModel | None = None) -> list[dict]:
    out = []
    for i, r in enumerate(rows):
        try:
            b, e = int(r["begin"]), int(r["end"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{what}[{i}] needs integer 'begin' and 'end'") from None
        if not 0 <= b <= e <= total:
            raise ValueError(f"{what}[{i}] interval [{b}, {e}) outside 0..{total}")
        en, t = integ.interval(b, e)
        act = r.get("activity")
        a = model.activity_energy_exact(act) if (model is not None and act) else Fraction(0)
        d = dict(r)
        d.update(cycles=e - b, seconds=float(t), energy_j=float(en + a))
        if act is not None:
            d["activity_energy_j"] = float(a)
        out.append(d)
    return out


def account(timeline: Timeline, model: PowerModel) -> EnergyReport:
    """Energy of a run: totals, per state, per function, per layer and per window."""
    segs = build_segments(timeline, model)
    total = int(timeline.total_cycles)
    integ = _Integrator(segs)

    e_tot = sum((s.energy for s in segs), Fraction(0))
    t_tot = sum((s.seconds for s in segs), Fraction(0))
    per_state: dict[str, dict[str, Fraction]] = {}
    for s in segs:
        d = per_state.setdefault(s.state, {"seconds": Fraction(0), "energy_j": Fraction(0)})
        d["seconds"] += s.seconds
        d["energy_j"] += s.energy
    peak = max((s.power for s in segs if s.seconds), default=Fraction(0))

    # per function: run-average energy per cycle (see module docstring)
    run_segs = [s for s in segs if s.state == RUN]
    run_cycles = sum(s.cycles for s in run_segs)
    run_e = sum((s.energy for s in run_segs), Fraction(0))
    access = model.activity_energy_exact(timeline.access_counts)
    e_per_run_cycle = (run_e + access) / run_cycles if run_cycles else Fraction(0)
    functions, fn_cycles = [], 0
    for i, r in enumerate(timeline.functions):
        try:
            n = int(r["cycles"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"functions[{i}] needs integer 'cycles'") from None
        if n < 0:
            raise ValueError(f"functions[{i}] has negative cycles {n}")
        fn_cycles += n
        d = dict(r)
        d["energy_j"] = float(n * e_per_run_cycle)
        functions.append(d)
    if fn_cycles > run_cycles and timeline.functions:
        model._warn(f"function rows hold {fn_cycles} cycles but the run state has "
                    f"{run_cycles}; per-function energies exceed the run energy")
    unattributed = max(run_cycles - fn_cycles, 0) * e_per_run_cycle if timeline.functions \
        else Fraction(0)

    layers = _interval_rows(timeline.layers, integ, total, "layers", model)
    windows = _interval_rows(({"begin": w[0], "end": w[1], **({"activity": w[2]}
                                                              if len(w) > 2 else {})}
                              for w in timeline.windows), integ, total, "windows", model)
    for w in windows:
        w["energy_uj"] = w["energy_j"] * 1e6
        w["avg_power_w"] = w["energy_j"] / w["seconds"] if w["seconds"] else 0.0

    wk = [s for s in segs if s.state == "wakeup"]
    e_all = e_tot + access
    if access:
        # activity happens while the core runs: the run state carries it, so the states
        # still sum to the whole (the power trace shows the baseline only)
        d = per_state.setdefault(RUN, {"seconds": Fraction(0), "energy_j": Fraction(0)})
        d["energy_j"] += access
    return EnergyReport(
        energy_j=float(e_all),
        seconds=float(t_tot),
        avg_power_w=float(e_all / t_tot) if t_tot else 0.0,
        peak_power_w=float(peak),
        vdd_v=model.vdd_v,
        cycles=total,
        power_states={k: {"seconds": float(v["seconds"]), "energy_j": float(v["energy_j"])}
                      for k, v in per_state.items()},
        functions=functions,
        layers=layers,
        windows=windows,
        wakeups={"count": len(wk), "seconds": float(sum((s.seconds for s in wk), Fraction(0))),
                 "energy_j": float(sum((s.energy for s in wk), Fraction(0)))},
        run_energy_j=float(run_e + access),
        unattributed_run_energy_j=float(unattributed),
        access_energy_j=float(access),
        warnings=list(model.warnings),
        segments=segs,
        data_status=model.data_status,
        data_reason=model.data_reason,
    )
