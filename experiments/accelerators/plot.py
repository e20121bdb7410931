"""Figures of experiments/accelerators/run.py's results (results.json -> *.png).

    python experiments/accelerators/plot.py [DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
MODELS = ["kws", "vww", "ic", "ad"]


def main(argv=None) -> int:
    d = Path((argv or sys.argv[1:] or [str(HERE)])[0])
    res = json.loads((d / "results.json").read_text())
    rows, mcu = res["rows"], res["mcu"]
    models = [m for m in MODELS if any(r["model"] == m for r in rows)]
    widths = sorted({r["bus_width_bytes"] for r in rows if r["bus_width_bytes"]})
    macs = sorted({r["macs_per_cycle"] for r in rows if r["macs_per_cycle"]})

    def npu(model, w):
        return sorted((r for r in rows if r["model"] == model and r["bus_width_bytes"] == w),
                      key=lambda r: r["macs_per_cycle"])

    def one(model, variant):
        return next((r for r in rows if r["model"] == model and r["variant"] == variant), None)

    # 1. speed-up
    fig, axs = plt.subplots(1, len(models), figsize=(4 * len(models), 3.6), squeeze=False)
    for ax, m in zip(axs[0], models):
        for w in widths:
            rs = npu(m, w)
            ax.plot([r["macs_per_cycle"] for r in rs], [r["speedup"] for r in rs], "o-",
                    label=f"NPU, {w}-byte port")
        cx = one(m, "cx-dot4")
        if cx:
            ax.axhline(cx["speedup"], color="gray", ls="--", label="dot4 instructions")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(macs)
        ax.set_xticklabels([str(x) for x in macs])
        ax.set_title(m.upper())
        ax.set_xlabel("NPU MACs per cycle")
        ax.grid(True, which="both", alpha=0.3)
    axs[0][0].set_ylabel("speed-up over the CPU (opt kernels)")
    axs[0][-1].legend(fontsize=8)
    fig.suptitle(f"Inference latency speed-up on {mcu}")
    fig.tight_layout()
    fig.savefig(d / "speedup.png", dpi=110)
    plt.close(fig)

    # 2. energy per inference, split
    variants = ["cpu-opt", "cx-dot4"] + [f"npu{x}x8" for x in macs if any(
        r["variant"] == f"npu{x}x8" for r in rows)]
    fig, axs = plt.subplots(1, len(models), figsize=(4 * len(models), 3.8), squeeze=False)
    for ax, m in zip(axs[0], models):
        vs = [v for v in variants if one(m, v)]
        rs = [one(m, v) for v in vs]
        cpu = [r["cpu_uj"] for r in rs]
        acc = [r["accelerator_uj"] for r in rs]
        mem = [r["memory_uj"] for r in rs]
        x = range(len(vs))
        ax.bar(x, cpu, label="CPU (MCU power model)", color="#4c72b0")
        ax.bar(x, acc, bottom=cpu, label="accelerator", color="#dd8452")
        ax.bar(x, mem, bottom=[a + b for a, b in zip(cpu, acc)], label="memory (bus bytes)",
               color="#55a868")
        ax.set_yscale("log")
        ax.set_xticks(list(x))
        ax.set_xticklabels([v.replace("npu", "NPU ").replace("x8", "").replace("cpu-opt", "CPU")
                            .replace("cx-dot4", "dot4") for v in vs], rotation=45, fontsize=8)
        ax.set_title(m.upper())
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axs[0][0].set_ylabel("energy per inference (uJ, log)")
    axs[0][-1].legend(fontsize=7)
    fig.suptitle(f"Energy per inference on {mcu} (NPU with an 8-byte port)")
    fig.tight_layout()
    fig.savefig(d / "energy.png", dpi=110)
    plt.close(fig)

    # 3. the bus: share of the NPU's active time its port held the bus
    fig, axs = plt.subplots(1, len(models), figsize=(4 * len(models), 3.4), squeeze=False)
    for ax, m in zip(axs[0], models):
        for w in widths:
            rs = npu(m, w)
            ax.plot([r["macs_per_cycle"] for r in rs], [r["npu_bus_utilization"] for r in rs],
                    "o-", label=f"{w}-byte port")
        ax.set_xscale("log", base=2)
        ax.set_xticks(macs)
        ax.set_xticklabels([str(x) for x in macs])
        ax.set_ylim(0, 1.05)
        ax.set_title(m.upper())
        ax.set_xlabel("NPU MACs per cycle")
        ax.grid(True, alpha=0.3)
    axs[0][0].set_ylabel("NPU bus cycles / NPU active cycles")
    axs[0][-1].legend(fontsize=8)
    fig.suptitle(f"Where the bus saturates ({mcu}; 1.0 = the NPU waits on the bus)")
    fig.tight_layout()
    fig.savefig(d / "bus.png", dpi=110)
    plt.close(fig)
    print(f"wrote {d / 'speedup.png'}, {d / 'energy.png'}, {d / 'bus.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
