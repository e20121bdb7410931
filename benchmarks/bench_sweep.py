"""Throughput of `mcusim sweep` on this machine: runs (and points) per minute with 1 and 2
dask workers, and what a run costs beyond the simulation itself.

    python benchmarks/bench_sweep.py [--workers 1,2] [--models ad,kws] [--json FILE]

A fresh store for each worker count; the sweep is 6 points (clock 40/80/120 MHz x ART
on/off on the stm32l4r5) x the models. Reported per worker count:

  * cluster start: LocalCluster up (worker processes spawned and importing) + references;
  * runs/min and points/min over the run phase (first task submitted -> last row stored);
  * per run on a worker: task seconds (the whole task), of which the simulation
    (Machine.run, `host_seconds` of the record) and the rest (derive the MCU, load the
    image and model, build the machine, record, energy): the per-run overhead;
  * the same overhead for the first run of each worker (cold: imports, native library,
    ELF parse, built-in model) and for the others (warm: the worker caches).

In-process, it also times one `mcusim.infer` with the per-process caches (parsed ELF by
content hash, built-in model bytes) cold and warm, and the block costing of a run (the
native classifier on every block the run translated), to show what a cache of decoded
blocks across machines could still save.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SPEC = """
[sweep]
mcu = "stm32l4r5"
{workloads}
[params]
"mcu.clock_mhz" = [40, 80, 120]
[choices.art]
on = {{}}
off = {{ remove = ["flash.accelerator"] }}
"""


def bench_workers(n: int, models: list[str]) -> dict:
    import mcusim.sweep as sweep
    from mcusim.sweep.execute import cluster_client
    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "bench.toml"
        spec.write_text(SPEC.format(workloads="".join(f'[[workloads]]\nmodel = "{m}"\n'
                                                      for m in models)))
        t0 = time.monotonic()
        client, cluster = cluster_client(workers=n)
        client.wait_for_workers(n)
        start = time.monotonic() - t0
        try:
            res = sweep.run(spec, client=client, stream=None)
        finally:
            client.close()
            cluster.close()
        df = sweep.load(Path(d) / "bench.sweep")
    over = (df["task_seconds"] - df["host_seconds"]).tolist()
    first = df.sort_values("point_index").groupby("worker_pid").head(1).index
    cold = [(df.loc[i, "task_seconds"] - df.loc[i, "host_seconds"]) for i in first]
    warm = [o for i, o in zip(df.index, over) if i not in set(first)]
    points = len(set(df["point_id"]))
    return {
        "workers": n, "runs": int(res.ran), "points": points, "models": models,
        "cluster_start_s": round(start, 2),
        "run_phase_s": round(res.run_seconds, 2),
        "runs_per_min": round(res.ran / res.run_seconds * 60, 1),
        "points_per_min": round(points / res.run_seconds * 60, 2),
        "task_s_mean": round(float(df["task_seconds"].mean()), 3),
        "simulation_s_mean": round(float(df["host_seconds"].mean()), 3),
        "overhead_s_mean": round(statistics.mean(over), 3),
        "overhead_s_cold_first_run": round(statistics.mean(cold), 3) if cold else None,
        "overhead_s_warm": round(statistics.mean(warm), 3) if warm else None,
        "failed": int(res.failed), "lost": int(res.lost),
    }


def bench_caches(model: str) -> dict:
    """One infer with the per-process caches cleared vs kept (in this process)."""
    import mcusim
    import mcusim.elf as elf
    from mcusim.tflite import builtin
    mcusim.infer(model)                               # imports, native library
    out = {}
    for label, clear in (("cold_caches", True), ("warm_caches", False)):
        ts = []
        for _ in range(3):
            if clear:
                elf._PARSED.clear()
                builtin._built.cache_clear()
            t = time.perf_counter()
            r = mcusim.infer(model)
            ts.append((time.perf_counter() - t) - (r.host_seconds or 0))
        out[f"{label}_overhead_s"] = round(min(ts), 3)
    return out


def bench_block_costing(model: str) -> dict:
    """Block costing of one run: the native classifier over every block it translated."""
    try:
        import gc

        import mcusim
        from mcusim.timing.blocks import NativeCoster
        r = mcusim.infer(model)
        costers = [o for o in gc.get_objects() if isinstance(o, NativeCoster)]
        c = costers[-1]
        blocks = [(a, b[3] - a) for a, b in c.blocks.items()]
        t = time.perf_counter()
        for a, s in blocks:
            c._cl.block(bytes(c.m.uc.mem_read(a, s)), a)
        dt = time.perf_counter() - t
        return {"blocks": len(blocks), "classify_all_s": round(dt, 4),
                "simulation_s": r.host_seconds}
    except Exception as e:  # noqa: BLE001  (the native path may be absent: say so)
        return {"unavailable": f"{type(e).__name__}: {e}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--models", default="ad,kws")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    models = [m for m in a.models.split(",") if m]
    out = {"workers": [], "caches": {}, "block_costing": {}}
    for n in (int(x) for x in a.workers.split(",")):
        r = bench_workers(n, models)
        out["workers"].append(r)
        print(f"{n} worker(s): {r['runs']} runs ({r['points']} points x {len(models)} models) in "
              f"{r['run_phase_s']} s after {r['cluster_start_s']} s of cluster start: "
              f"{r['runs_per_min']} runs/min, {r['points_per_min']} points/min; per run "
              f"{r['task_s_mean']} s on a worker, simulation {r['simulation_s_mean']} s, "
              f"overhead {r['overhead_s_mean']} s (first run of a worker "
              f"{r['overhead_s_cold_first_run']} s, later runs {r['overhead_s_warm']} s)")
    for m in models:
        out["caches"][m] = bench_caches(m)
        out["block_costing"][m] = bench_block_costing(m)
        print(f"{m}: in-process overhead per infer, caches cold {out['caches'][m]['cold_caches_overhead_s']} s, "
              f"warm {out['caches'][m]['warm_caches_overhead_s']} s; block costing "
              f"{out['block_costing'][m]}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
