"""Design-space exploration: ``mcusim sweep`` (docs/sweep.md).

    import mcusim.sweep
    res = mcusim.sweep.run("experiments/l4r5_sweep/sweep.toml")      # LocalCluster
    res = mcusim.sweep.run(spec, scheduler="tcp://10.0.0.5:8786")      # an existing cluster
    df = mcusim.sweep.load("experiments/l4r5_sweep/results")           # pandas, one row per run
    rep = mcusim.sweep.analyse(df, ["latency_ms", "energy_uj", "mcu_ram_bytes"])
    print(rep.text()); mcusim.sweep.plot(rep, "plots/")

A spec (TOML) names the base MCU, the workloads and the catalog paths to vary
(:mod:`mcusim.sweep.spec`); every point is derived and validated before anything runs
(:mod:`mcusim.sweep.plan`); each (point, workload) is a dask task (:mod:`mcusim.sweep.execute`,
:mod:`mcusim.sweep.worker`) whose row goes to a Parquet store (:mod:`mcusim.sweep.store`) as it
arrives; :mod:`mcusim.sweep.report` finds the Pareto fronts.
"""

from __future__ import annotations

from mcusim.sweep.execute import SweepResult, summary_text
from mcusim.sweep.execute import run_sweep as run
from mcusim.sweep.plan import Plan, make_plan
from mcusim.sweep.report import Report, analyse, pareto_mask, plot
from mcusim.sweep.spec import SpecError, SweepSpec, load_spec
from mcusim.sweep.store import load

__all__ = [
           "Plan",
           "Report",
           "SpecError",
           "SweepResult",
           "SweepSpec",
           "analyse",
           "load",
           "load_spec",
           "make_plan",
           "pareto_mask",
           "plot",
           "run",
           "summary_text",
]
