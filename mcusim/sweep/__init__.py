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

# names load their module on first use (PEP 562): `mcusim` commands other than sweep do not
# pay for dask, pandas and pyarrow at start-up
_LAZY = {
    "SweepResult": ("mcusim.sweep.execute", "SweepResult"),
    "summary_text": ("mcusim.sweep.execute", "summary_text"),
    "run": ("mcusim.sweep.execute", "run_sweep"),
    "Plan": ("mcusim.sweep.plan", "Plan"),
    "make_plan": ("mcusim.sweep.plan", "make_plan"),
    "Report": ("mcusim.sweep.report", "Report"),
    "analyse": ("mcusim.sweep.report", "analyse"),
    "pareto_mask": ("mcusim.sweep.report", "pareto_mask"),
    "plot": ("mcusim.sweep.report", "plot"),
    "SpecError": ("mcusim.sweep.spec", "SpecError"),
    "SweepSpec": ("mcusim.sweep.spec", "SweepSpec"),
    "load_spec": ("mcusim.sweep.spec", "load_spec"),
    "load": ("mcusim.sweep.store", "load"),
}


def __getattr__(name: str):
    try:
        mod, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'mcusim.sweep' has no attribute {name!r}") from None
    import importlib
    value = getattr(importlib.import_module(mod), attr)
    globals()[name] = value
    return value


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
