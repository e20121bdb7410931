"""`mcusim sweep`: the command line of mcusim.sweep (docs/sweep.md)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from mcusim.argcheck import positive_int
from mcusim.errors import UserError

EXIT_LOST, EXIT_INTERRUPTED = 1, 130


def add_parser(sub) -> None:
    sw = sub.add_parser(
        "sweep", help="design-space exploration: run a sweep spec on dask, store, Pareto report",
        description="Run every point of a sweep spec (a TOML file: base MCU, workloads, "
                    "parameters) on a dask cluster, store one row per (point, workload) in a "
                    "Parquet store, resume what is stored, and report the Pareto front.",
        epilog="exit status:\n"
               "  0    every point ran (or was already stored); --report: the report was written\n"
               "  1    some runs were lost (a worker died twice on them); rerun to resume\n"
               "  2    bad spec, store or option (one line on stderr, nothing run)\n"
               "  130  interrupted (what finished is stored; rerun to resume)\n\n"
               "example:\n"
               "  mcusim sweep experiments/l4r5_sweep/sweep.toml --workers 2\n"
               "  mcusim sweep experiments/l4r5_sweep/sweep.toml --report   (docs/sweep.md)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sw.add_argument("spec", help="the sweep spec (.toml), or with --report a results store directory")
    sw.add_argument("--scheduler", metavar="ADDRESS",
                    help="an existing dask scheduler (tcp://host:8786); default: a LocalCluster")
    sw.add_argument("--workers", type=positive_int, metavar="N",
                    help="LocalCluster worker processes (default: one per core)")
    sw.add_argument("--store", metavar="DIR", help="results store (default: the spec's [sweep] "
                    "store, else SPEC.sweep beside the spec)")
    sw.add_argument("--csv", metavar="FILE", help="also write all stored rows as CSV")
    sw.add_argument("--search", choices=["grid", "random", "lhs", "optuna"],
                    help="override the spec's search")
    sw.add_argument("--budget", type=positive_int, metavar="N", help="points for random/lhs/optuna")
    sw.add_argument("--seed", type=int, help="sampling seed")
    sw.add_argument("--dry-run", action="store_true",
                    help="validate the spec and list its points; run nothing")
    sw.add_argument("--report", action="store_true",
                    help="only report: the Pareto front of what is stored, and plots")
    sw.add_argument("--no-report", action="store_true", help="no Pareto report after the run")
    sw.add_argument("--objectives", metavar="A,B,C",
                    help="result columns to minimise (max:COL maximises); default: the spec's "
                         "[report] objectives, else latency_ms,energy_uj")
    sw.add_argument("--constraint", action="append", default=[], metavar="EXPR",
                    help="keep configurations that meet it, e.g. 'kws.latency_ms <= 100' (repeatable)")
    sw.add_argument("--plots", metavar="DIR", help="where the report writes pareto.png/.html "
                    "(default: STORE/report)")
    sw.add_argument("--max-runs", type=int, metavar="N", help=argparse_suppress())


def argparse_suppress():
    import argparse
    return argparse.SUPPRESS


def main(args) -> int:
    from mcusim.sweep.spec import load_spec
    overrides = dict(search=args.search, budget=args.budget, seed=args.seed, store=args.store)
    target = Path(args.spec)
    if args.report:
        return _report(args, target, overrides)
    spec = load_spec(target, **overrides)
    if args.dry_run:
        from mcusim.sweep.plan import make_plan, summary_line
        if spec.search == "optuna":
            from mcusim.sweep.search import check_optuna
            check_optuna(spec)
            print(f"{spec.name}: optuna search, budget {spec.budget}: points are chosen as "
                  "results arrive; every parameter checked")
            return 0
        plan = make_plan(spec)
        print(summary_line(plan))
        for p in plan.points:
            print(f"  {p.index:4d} {p.id}  {p.label}")
        print("all points valid")
        return 0
    from mcusim.sweep.execute import run_sweep, summary_text
    prev = signal.getsignal(signal.SIGTERM)

    def _term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _term)
    try:
        res = run_sweep(spec, scheduler=args.scheduler, workers=args.workers,
                        max_runs=args.max_runs)
    finally:
        signal.signal(signal.SIGTERM, prev)
    print(summary_text(res), file=sys.stderr)
    if args.csv:
        _csv(res.store.path, args.csv)
    if res.interrupted:
        return EXIT_INTERRUPTED
    if not args.no_report and (res.ran or res.stored):
        _print_report(args, spec, res.store.path)
    return EXIT_LOST if res.lost else 0


def _csv(store: Path, path: str) -> None:
    from mcusim.sweep.store import load
    try:
        load(store).to_csv(path, index=False)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    print(f"wrote {path}", file=sys.stderr)


def _report(args, target: Path, overrides) -> int:
    from mcusim.sweep.spec import load_spec
    spec = None
    if target.is_dir():
        store = target
    else:
        spec = load_spec(target, **overrides)
        store = spec.store_path
    if args.csv:
        _csv(store, args.csv)
    _print_report(args, spec, store)
    return 0


def _print_report(args, spec, store: Path) -> None:
    from mcusim.sweep.report import analyse, plot
    from mcusim.sweep.store import Store, load
    df = load(store)
    meta = Store(store).read_json("sweep.json")
    params = list(meta.get("params") or [])
    objectives = (args.objectives.split(",") if args.objectives else
                  (spec.objectives if spec else meta.get("objectives")) or
                  ["latency_ms", "energy_uj"])
    constraints = list(args.constraint) or list((spec.constraints if spec else
                                                 meta.get("constraints")) or [])
    if spec is not None and len(df):
        df = df[df["point_id"].isin(_point_ids(spec))]
    rep = analyse(df, [o.strip() for o in objectives if o.strip()], constraints, params)
    plot(rep, args.plots or (Path(store) / "report"))
    if rep.constraints:
        print("constraints: " + "; ".join(c.text for c in rep.constraints))
    print(rep.text(), end="")


def _point_ids(spec) -> set[str]:
    """The ids of the spec's points (without deriving them: a cheap filter of the store)."""
    from mcusim.catalog import load_mcu
    from mcusim.sweep.plan import _typed_params
    from mcusim.sweep.spec import generate, make_point
    if spec.search == "optuna":
        from mcusim.sweep.store import Store
        return set(Store(spec.store_path).load()["point_id"])
    spec = _typed_params(spec, load_mcu(spec.mcu))
    return {make_point(spec, i, v).id for i, v in enumerate(generate(spec))}
