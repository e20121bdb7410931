"""The four MLPerf Tiny models on stm32l4r5 with the example NPU (a sweep of MACs per cycle
and bus port width) and with the dot4 custom instructions, against the CPU alone (opt
kernels): latency, speed-up, energy per inference split CPU / accelerator / memory, and
how busy the NPU keeps the bus. Every run's output is checked bit-exact against the CPU
run (which test_inference.py holds bit-exact with TFLite Micro).

    python experiments/accelerators/run.py [--mcu stm32l4r5] [--models kws,vww,ic,ad]
        [--macs 8,32,128,512] [--widths 4,8,16] [--no-cx] [--out DIR]

Writes results.json and results.csv (one row per run) to DIR (default: this directory);
plot.py draws the figures from them. Models: the MLPerf Tiny reference .tflite files in
../shared/models when present, else the built-in ones.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
SHARED_MODELS = REPO.parent / "shared" / "models"

from mcusim.catalog import load_mcu  # noqa: E402
from mcusim.infer import run_inference  # noqa: E402
from mcusim.tflite import read_model  # noqa: E402


def model_spec(name: str) -> tuple[str, str]:
    p = SHARED_MODELS / f"{name}.tflite"
    return (str(p), "reference") if p.exists() else (name, "builtin")


def npu_mcu(base: str, macs: int, width: int):
    mcu = load_mcu(str(REPO / "examples" / "accelerators" / f"{base}-npu.toml"))
    return mcu.derive({"accelerators.npu.params.macs_per_cycle": macs,
                       "accelerators.npu.params.bus_width_bytes": width},
                      name=f"{base}-npu{macs}x{width}")


def summarize(rec: dict, variant: str, macs=None, width=None) -> dict:
    inf = rec["inference"]
    split = rec.get("inference_energy_split") or {"cpu_j": rec.get("inference_energy_j"),
                                                   "accelerator_j": 0.0, "memory_j": 0.0}
    npu_active = npu_bus = npu_compute = npu_jobs = 0
    units: dict = {}
    for row in rec["layers"]:
        u = row.get("unit", "cpu")
        units[u] = units.get(u, 0) + row["cycles"]
        a = (row.get("accelerators") or {}).get("npu")
        if a:
            npu_active += a["active_cycles"]
            npu_bus += a["bus_cycles"]
            npu_compute += a["compute_cycles"]
            npu_jobs += 1
    return {
        "model": rec["model"], "variant": variant, "macs_per_cycle": macs,
        "bus_width_bytes": width, "cycles": inf["cycles"], "latency_ms": inf["latency_ms"],
        "energy_uj": (rec.get("inference_energy_j") or 0) * 1e6,
        "cpu_uj": (split["cpu_j"] or 0) * 1e6, "accelerator_uj": split["accelerator_j"] * 1e6,
        "memory_uj": split["memory_j"] * 1e6, "macs": inf["macs"],
        "npu_layers": npu_jobs, "npu_active_cycles": npu_active,
        "npu_compute_cycles": npu_compute, "npu_bus_cycles": npu_bus,
        # share of the NPU's time its port held the bus (1: the bus is the bottleneck)
        "npu_bus_utilization": npu_bus / npu_active if npu_active else None,
        "cycles_on_cpu": units.get("cpu", 0), "output_sha256": rec["output_sha256"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mcu", default="stm32l4r5")
    ap.add_argument("--models", default="kws,vww,ic,ad")
    ap.add_argument("--macs", default="8,32,128,512")
    ap.add_argument("--widths", default="4,8,16")
    ap.add_argument("--no-cx", action="store_true")
    ap.add_argument("--out", default=str(HERE))
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []

    def log(r, t0):
        print(f"{r['model']:4s} {r['variant']:10s} {r['cycles']:>11,} cycles "
              f"{r['latency_ms']:9.3f} ms {r['energy_uj']:9.1f} uJ "
              f"(host {time.time() - t0:.0f} s)", flush=True)

    for name in a.models.split(","):
        spec, source = model_spec(name)
        data = Path(spec).read_bytes() if source == "reference" else None
        model = read_model(data) if data else None
        n = model.input_tensors[0].nbytes if model else None
        inp = None
        if n:
            inp = np.random.default_rng(2026).integers(-128, 128, n, dtype=np.int8).tobytes()
        t0 = time.time()
        base = run_inference(spec, a.mcu, kernels="opt", input_bytes=inp).record
        r = summarize(base, "cpu-opt")
        r["source"] = source
        rows.append(r)
        log(r, t0)
        ref_sha = base["output_sha256"]
        for macs in map(int, a.macs.split(",")):
            for width in map(int, a.widths.split(",")):
                t0 = time.time()
                rec = run_inference(spec, npu_mcu(a.mcu, macs, width), kernels="npu",
                                    input_bytes=inp).record
                r = summarize(rec, f"npu{macs}x{width}", macs, width)
                r["source"] = source
                r["bit_exact"] = rec["output_sha256"] == ref_sha
                rows.append(r)
                log(r, t0)
        if not a.no_cx:
            t0 = time.time()
            mcu = load_mcu(str(REPO / "examples" / "accelerators" / f"{a.mcu}-cx.toml"))
            rec = run_inference(spec, mcu, kernels="cx", input_bytes=inp).record
            r = summarize(rec, "cx-dot4")
            r["source"] = source
            r["bit_exact"] = rec["output_sha256"] == ref_sha
            rows.append(r)
            log(r, t0)
    base = {r["model"]: r for r in rows if r["variant"] == "cpu-opt"}
    for r in rows:
        b = base[r["model"]]
        r["speedup"] = b["cycles"] / r["cycles"]
        r["energy_ratio"] = r["energy_uj"] / b["energy_uj"] if b["energy_uj"] else None
    (out / "results.json").write_text(json.dumps({"mcu": a.mcu, "rows": rows}, indent=1) + "\n")
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) + ["bit_exact"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    bad = [r for r in rows if r.get("bit_exact") is False]
    print(f"{len(rows)} runs, {len(bad)} not bit-exact with the CPU")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
