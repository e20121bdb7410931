"""search = "optuna": multi-objective search (Optuna's NSGA-II) over a spec's parameters,
on the same cluster, store and rows as a grid. Optional: ``pip install optuna``.

The objectives are the spec's ``[report] objectives`` over all workloads, aggregated as the
report does (sums of latency/energy/cycles, largest bytes, mean otherwise); a point where
any workload fails or gives a wrong output is told to Optuna as failed. Each asked point is
validated before it runs (an invalid one is failed too). Points already in the store are
told first, so a rerun continues the search up to ``budget`` points.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from mcusim.errors import UserError
from mcusim.sweep.execute import (Progress, Session, SweepResult, cluster_client, n_workers,
                                  prepare_store, stop)
from mcusim.sweep.plan import make_plan, summary_line
from mcusim.sweep.report import Objective, _aggregate
from mcusim.sweep.spec import SpecError, SweepSpec


def _optuna():
    try:
        import optuna
    except ImportError:
        raise UserError("search = \"optuna\" needs optuna (pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def check_optuna(spec: SweepSpec) -> None:
    _optuna()
    make_plan(spec, assignments=[])


def _distributions(spec: SweepSpec, optuna) -> dict[str, Any]:
    D = optuna.distributions
    out = {}
    for p in spec.params:
        if p.discrete:
            out[p.name] = D.CategoricalDistribution(list(p.values)
                                                    if all(isinstance(v, (int, float, str, bool))
                                                           for v in p.values)
                                                    else list(range(len(p.values))))
        elif p.integer:
            out[p.name] = D.IntDistribution(int(p.low), int(p.high), log=p.dist == "loguniform")
        else:
            out[p.name] = D.FloatDistribution(p.low, p.high, log=p.dist == "loguniform")
    return out


def _values(spec: SweepSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Optuna's params -> parameter values (non-scalar lists are asked by index)."""
    out = {}
    for p in spec.params:
        v = params[p.name]
        if p.discrete and not all(isinstance(x, (int, float, str, bool)) for x in p.values):
            v = p.values[v]
        out[p.name] = v
    return out


def _objectives(spec: SweepSpec, rows: list[dict]) -> list[float] | None:
    from mcusim.sweep.report import feasible
    import pandas as pd
    df = pd.DataFrame(rows)
    if len(df) < len(spec.workloads) or not bool(feasible(df).all()):
        return None
    vals = []
    for o in map(Objective.parse, spec.objectives):
        if o.column not in df:
            raise UserError(f"objective {o.column!r} is not a result column")
        v = float(getattr(df[o.column].astype(float), _aggregate(o.column))())
        vals.append(v)
    return vals


def run_optuna(spec: SweepSpec, *, scheduler: str | None = None, workers: int | None = None,
               client: Any = None, stream: TextIO | None = sys.stderr) -> SweepResult:
    optuna = _optuna()
    plan = make_plan(spec, assignments=[])
    spec = plan.spec
    objs = [Objective.parse(o) for o in spec.objectives]
    dists = _distributions(spec, optuna)
    st, _, _ = prepare_store(plan)
    res = SweepResult(plan, st)
    stored = st.load()
    # a rerun continues the search: another seed, so the first generation is not asked again
    n_stored = stored["point_id"].nunique() if len(stored) else 0
    sampler = optuna.samplers.NSGAIISampler(seed=spec.seed + n_stored,
                                            population_size=max(4, min(20, spec.budget // 2)))
    study = optuna.create_study(directions=["maximize" if o.maximize else "minimize" for o in objs],
                                sampler=sampler)
    answers: dict[str, list[float] | None] = {}    # point id -> objectives (stored points)
    # the points already stored: told first
    if len(stored):
        for pid, g in stored.groupby("point_id", sort=False):
            first = g.iloc[0]
            try:
                values = {p.name: _native(first[p.name]) for p in spec.params}
                params = {p.name: (values[p.name] if not p.discrete or
                                   all(isinstance(x, (int, float, str, bool)) for x in p.values)
                                   else list(p.values).index(values[p.name]))
                          for p in spec.params}
                point = plan.add_point(values)
            except (KeyError, ValueError, SpecError):
                continue
            if point is None:
                continue
            keys = {r.key for r in plan.runs if r.point.id == point.id}
            rows = [r for r in g.to_dict("records") if r["run_key"] in keys]
            if len(rows) < len(plan.workloads):
                continue
            v = _objectives(spec, rows)
            answers[point.id] = v
            trial = optuna.trial.create_trial(
                params=params, distributions=dists, values=v,
                state=optuna.trial.TrialState.COMPLETE if v else optuna.trial.TrialState.FAIL)
            study.add_trial(trial)
            res.stored += len(rows)
    budget = spec.budget
    told = len(study.trials)
    if stream is not None:
        print(f"{summary_line(plan)}: optuna (NSGA-II) over {', '.join(o.label for o in objs)}, "
              f"{told} points stored, {max(0, budget - told)} to go", file=stream)
    if told >= budget:
        res.total = res.stored
        return res
    own, cluster = client is None, None
    if own:
        client, cluster = cluster_client(scheduler, workers)
    session = Session(plan, client, st, res, stream)
    t0 = time.monotonic()
    try:
        res.workers = n_workers(client)
        session.references()
        session.progress = Progress((budget - told) * len(plan.workloads), stream)
        from distributed import as_completed
        ac = as_completed(loop=client.loop)
        pending: dict[Any, Any] = {}        # future -> run
        open_trials: dict[str, tuple[Any, list]] = {}   # point id -> (trial, rows)
        asked = told

        def ask() -> None:
            nonlocal asked
            while asked < budget and len(open_trials) < max(1, res.workers):
                trial = study.ask(dists)
                asked += 1
                try:
                    point = plan.add_point(_values(spec, trial.params))
                except SpecError as e:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    if stream is not None:
                        print(f"optuna: invalid point: {e}", file=stream)
                    continue
                if point is None:            # asked again: Optuna gets the earlier answer
                    from mcusim.sweep.spec import make_point
                    v = answers.get(make_point(spec, 0, _values(spec, trial.params)).id)
                    if v is None:
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        study.tell(trial, v)
                    continue
                open_trials[point.id] = (trial, [])
                for r in plan.runs:
                    if r.point.id == point.id:
                        f = session.submit(r)
                        pending[f] = r
                        ac.add(f)

        ask()
        for fut in ac:
            run = pending.pop(fut)
            row = session.receive(fut, run)
            trial, rows = open_trials[run.point.id]
            rows.append(row)
            if len(rows) == len(plan.workloads):
                del open_trials[run.point.id]
                v = None if any(r is None for r in rows) else _objectives(spec, rows)
                if v is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, v)
                ask()
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        if session.progress is not None:
            session.progress.close()
        st.flush()
        res.run_seconds = res.seconds = time.monotonic() - t0
        if own:
            stop(client, cluster)
    res.total = res.stored + res.ran + res.lost
    if res.complete:
        st.rewrite(st.load())
    return res


def _native(v: Any) -> Any:
    """A stored cell as the Python value the spec gave (numpy scalars -> int/float)."""
    import json
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    if isinstance(v, float) and v.is_integer():
        return v
    return v
