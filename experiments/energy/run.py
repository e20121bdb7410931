"""Energy validation (issue 15): mcusim's predicted power and energy per inference beside
the public MLPerf Tiny measurements (mlperf.py), per model, board and software stack.

    python experiments/energy/run.py counts   # simulate: activity per inference -> runs.json
    python experiments/energy/run.py table    # results.md/.csv/.json and power.png
    python experiments/energy/run.py cli      # the same boards through `mcusim infer` (fast
                                              # mode) -> cli_check.json

`counts` runs one inference of each MLPerf Tiny reference model (../shared/models) in
`detailed` mode (every access modelled, the reference) with the project's reference
kernels (stand-in for TFLM) and optimised kernels (stand-in for X-CUBE-AI's dense code) on
the catalog part of each board, and stores the inference window's cycles and activity
counts. `table` prices them with the shipped power catalogs through mcusim's own energy
accounting (mcusim.power.account over the window, as `mcusim infer` does), so the table is
what the product predicts. See README.md for the method and what was fitted.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
MODELS = ROOT.parent / "shared" / "models"
RUNS = Path(os.environ.get("MCUSIM_ENERGY_RUNS", HERE / "runs.json"))

import mlperf  # noqa: E402

ORDER = ("kws", "vww", "ic", "ad")


def _sims() -> list[tuple[str, str, float]]:
    """(mcu, kernels, clock MHz) to simulate: one per board configuration of mlperf.ROWS."""
    out = []
    for (rel, board, stack, mcu, mhz, _v) in mlperf.ROWS:
        key = (mcu, mlperf.kernels_for(stack), float(mhz))
        if key not in out:
            out.append(key)
    return out




def counts(only: str | None = None) -> int:
    """Simulate what runs.json lacks (``only``: one MCU)."""
    import tempfile
    from mcusim.infer import run_inference
    runs = json.loads(RUNS.read_text()) if RUNS.exists() else {}
    tmp = Path(tempfile.mkdtemp(prefix="mcusim-energy-"))
    for mcu, kernels, mhz in _sims():
        if only and mcu != only:
            continue
        for model in ORDER:
            key = f"{mcu}/{kernels}/{mhz:g}/{model}"
            if key in runs:
                continue
            elf = None          # mcusim infer picks the image that fits the MCU (U385: cortex-m33-256k)
            r = run_inference(str(MODELS / f"{model}.tflite"), mcu, kernels=kernels,
                              clock_mhz=mhz, mode="detailed", elf=elf)
            t = r.machine.trace
            w = t.windows[-1]
            runs[key] = {"mcu": mcu, "kernels": kernels, "clock_mhz": mhz, "model": model,
                         "cycles": w.end - w.begin, "activity": w.activity,
                         "latency_ms": r.record["inference"]["latency_ms"],
                         "output_sha256": r.record.get("output_sha256")}
            print(key, runs[key]["cycles"], flush=True)
            now = json.loads(RUNS.read_text()) if RUNS.exists() else {}
            now.update(runs)                      # another process may have added runs
            runs = now
            RUNS.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    return 0


def predict(run: dict, vdd_v: float | None = None) -> tuple[float, float]:
    """(average power W, energy per inference J) of one stored inference window, priced
    by the run's MCU's power catalog through mcusim.power.account (at ``vdd_v``: the
    measured board's supply; None: the catalog's)."""
    from mcusim.catalog import load_mcu
    from mcusim.power import PowerModel, Timeline, account
    mcu = load_mcu(run["mcu"])
    pm = PowerModel.from_catalog(mcu.power_model, mcu, vdd_v=vdd_v)
    n = int(run["cycles"])
    tl = Timeline.constant(n, run["clock_mhz"] * 1e6, voltage_ranges=[(0, "auto")],
                           windows=[(0, n, run["activity"])])
    rep = account(tl, pm)
    w = rep.windows[0]
    return w["avg_power_w"], w["energy_j"]


def _power_data(mcu: str) -> str:
    from mcusim.catalog import load_mcu, load_power
    return load_power(load_mcu(mcu).power_model).data_status


def table() -> int:
    runs = json.loads(RUNS.read_text())
    rows = []
    for (rel, board, stack, mcu, mhz, vdd), models in mlperf.ROWS.items():
        kernels = mlperf.kernels_for(stack)
        for model in ORDER:
            role = "train" if (rel, board) in mlperf.TRAIN or \
                (rel, board, model) in mlperf.TRAIN_MODELS else \
                "stand-in" if (rel, board) in mlperf.STANDIN else "validate"
            lat, e_uj = models[model]
            run = runs[f"{mcu}/{kernels}/{float(mhz):g}/{model}"]
            p_w, e_j = predict(run, vdd)
            p_meas = mlperf.power_mw(lat, e_uj)
            p_pred = p_w * 1e3
            rows.append({
                "release": rel, "board": board, "stack": stack, "role": role,
                "power_data": _power_data(mcu), "vdd_v": vdd,
                "in_issue": (rel, board) in mlperf.ISSUE_ROWS, "model": model,
                "mcu": mcu, "kernels": kernels, "clock_mhz": mhz,
                "measured_latency_ms": lat, "measured_energy_uj": e_uj,
                "measured_power_mw": round(p_meas, 3),
                "predicted_power_mw": round(p_pred, 3),
                "power_error_pct": round(100 * (p_pred - p_meas) / p_meas, 2),
                "mcusim_latency_ms": round(run["latency_ms"], 3),
                "mcusim_energy_uj": round(e_j * 1e6, 1),
                "energy_error_pct": round(100 * (e_j * 1e6 - e_uj) / e_uj, 1),
                "energy_at_measured_latency_uj": round(p_pred * lat, 1),
                "energy_at_measured_latency_error_pct":
                    round(100 * (p_pred * lat - e_uj) / e_uj, 2),
            })
    (HERE / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    with open(HERE / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _markdown(rows)
    _plot(rows)
    for r in rows:
        print(f"{r['release']} {r['board']:16s} {r['model']:4s} {r['role']:8s} "
              f"meas {r['measured_power_mw']:6.2f} pred {r['predicted_power_mw']:6.2f} mW "
              f"({r['power_error_pct']:+5.1f}%)")
    return 0


def _summary(rows, role):
    errs = [abs(r["power_error_pct"]) for r in rows if r["role"] == role]
    return (statistics.fmean(errs), max(errs), len(errs)) if errs else (0, 0, 0)


def _markdown(rows) -> None:
    lines = ["# Predicted vs measured power and energy per inference (MLPerf Tiny)", "",
             "Produced by `python experiments/energy/run.py table` from `runs.json` (one "
             "inference per model in `detailed` mode; method, sources and what was fitted: "
             "README.md). Power = energy / latency. `mcusim energy` uses mcusim's own "
             "latency (its runtime is neither TFLM nor X-CUBE-AI); `at measured latency` "
             "is the predicted power x the published latency, which isolates the power "
             "model.", ""]
    for role in ("train", "validate", "stand-in"):
        mean, worst, n = _summary(rows, role)
        if n:
            lines.append(f"* {role}: {n} rows, mean |power error| {mean:.1f}%, worst {worst:.1f}%")
    lines += ["", "Per board and release (power error, min / mean / max; energy error at "
              "measured latency is the same number):", ""]
    for key in dict.fromkeys((r["release"], r["board"]) for r in rows):
        sel = [r for r in rows if (r["release"], r["board"]) == key]
        e = [r["power_error_pct"] for r in sel]
        within = sum(abs(x) <= 10 for x in e)
        roles = sorted({r["role"] for r in sel})
        role = roles[0] if len(roles) == 1 else ", ".join(
            f"{r['role']} {r['model']}" for r in sel if r["role"] == "train") + \
            ", validate the others"
        lines.append(f"* {key[0]} {key[1]} ({role}, {sel[0]['power_data']} catalog"
                     f"{', in issue 15' if sel[0]['in_issue'] else ''}): "
                     f"{min(e):+.1f}% / {sum(e) / len(e):+.1f}% / {max(e):+.1f}%, "
                     f"{within} of {len(e)} within 10%")
    lines += ["", "| release | board | stack | role | model | measured mW | predicted mW | "
              "error | measured uJ | mcusim latency ms | mcusim uJ | error | uJ at measured "
              "latency | error |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['release']} | {r['board']} | {r['stack']} | {r['role']} | {r['model']} | "
            f"{r['measured_power_mw']:.2f} | {r['predicted_power_mw']:.2f} | "
            f"{r['power_error_pct']:+.1f}% | {r['measured_energy_uj']:.1f} | "
            f"{r['mcusim_latency_ms']:.2f} | {r['mcusim_energy_uj']:.1f} | "
            f"{r['energy_error_pct']:+.1f}% | {r['energy_at_measured_latency_uj']:.1f} | "
            f"{r['energy_at_measured_latency_error_pct']:+.1f}% |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")


def _plot(rows) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 6))
    marks = {"train": "s", "validate": "o", "stand-in": "x"}
    boards = sorted({(r["release"], r["board"]) for r in rows})
    cmap = plt.get_cmap("tab10")
    for i, (rel, board) in enumerate(boards):
        sel = [r for r in rows if (r["release"], r["board"]) == (rel, board)]
        for role in marks:
            part = [r for r in sel if r["role"] == role]
            if part:
                ax.scatter([r["measured_power_mw"] for r in part],
                           [r["predicted_power_mw"] for r in part], marker=marks[role],
                           color=cmap(i % 10), label=f"{rel} {board} ({role}, "
                           f"{part[0]['power_data']})")
    lim = [1, 1.3 * max(max(r["measured_power_mw"], r["predicted_power_mw"]) for r in rows)]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.plot(lim, [0.9 * x for x in lim], "k:", lw=0.8)
    ax.plot(lim, [1.1 * x for x in lim], "k:", lw=0.8)
    ax.set_xlim(lim), ax.set_ylim(lim)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("measured average power during inference [mW]")
    ax.set_ylabel("mcusim predicted [mW]")
    ax.set_title("power (dotted: +-10%; square: a row a parameter was fitted/derived on)")
    ax.legend(fontsize=5.5, loc="upper left")
    labels = [f"{r['release']} {r['board'].split('-')[1][:5]} {r['model']}"
              + (" (train)" if r["role"] == "train" else "") for r in rows]
    x = range(len(rows))
    clip = 35.0
    errs = [r["power_error_pct"] for r in rows]
    ax2.bar(x, [max(-clip, min(clip, e)) for e in errs],
            color=[cmap(boards.index((r["release"], r["board"])) % 10) for r in rows],
            hatch=None)
    for i, (e, r) in enumerate(zip(errs, rows)):
        if abs(e) > clip or r["role"] == "stand-in":
            ax2.text(i, max(-clip, min(clip, e)) * 0.97, f"{e:+.0f}%", rotation=90,
                     ha="center", va="top" if e > 0 else "bottom", fontsize=6, color="w")
    ax2.axhline(10, color="k", ls=":", lw=0.8)
    ax2.axhline(-10, color="k", ls=":", lw=0.8)
    ax2.set_ylim(-clip, clip)
    ax2.set_xticks(list(x), labels, fontsize=6, rotation=90)
    ax2.set_ylabel("power error [%] (clipped at +-35%)")
    ax2.set_title("error per row (H7A3 and U385: catalogs derived from one KWS run each)")
    fig.tight_layout()
    fig.savefig(HERE / "power.png", dpi=110)
    plt.close(fig)


def cli() -> int:
    """The product's own path for the issue's boards: `mcusim infer MODEL --mcu M --kernels K
    --clock-mhz F --json` (default fast mode) per model, its inference window's average
    power beside the detailed-mode prediction of the table -> cli_check.json."""
    import subprocess
    import tempfile
    out = []
    table_rows = json.loads((HERE / "results.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        for mcu, kernels, mhz in _sims():
            if mhz != 120 and mhz != 160:
                continue
            for model in ORDER:
                js = Path(tmp) / "r.json"
                cmd = [sys.executable, "-m", "mcusim", "infer", str(MODELS / f"{model}.tflite"),
                       "--mcu", mcu, "--kernels", kernels, "--clock-mhz", f"{mhz:g}",
                       "--json", str(js)]
                subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
                rec = json.loads(js.read_text())
                det = next(r for r in table_rows if (r["mcu"], r["kernels"], r["model"]) ==
                           (mcu, kernels, model) and float(r["clock_mhz"]) == mhz)
                row = {"command": " ".join(["mcusim"] + cmd[3:-2]), "mode": rec["mode"],
                       "latency_ms": round(rec["inference"]["latency_ms"], 3),
                       "inference_avg_power_mw": round(rec["inference_avg_power_w"] * 1e3, 3),
                       "inference_energy_uj": round(rec["inference_energy_j"] * 1e6, 1),
                       "power_data": rec["power_data"],
                       "detailed_power_mw": det["predicted_power_mw"]}
                out.append(row)
                print(row, flush=True)
    (HERE / "cli_check.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "cli":
        raise SystemExit(cli())
    if cmd == "counts":
        raise SystemExit(counts(sys.argv[2] if len(sys.argv) > 2 else None))
    if cmd == "table":
        raise SystemExit(table())
    print(__doc__)
    raise SystemExit(2)
