"""The slow-write SRAM study's table (README.md) from its sweep store:

    mcusim sweep experiments/slow_write_sram/sweep.toml     # (re)fills results/
    python experiments/slow_write_sram/table.py             # the Markdown table, write_buffer.png
"""

from __future__ import annotations

from pathlib import Path

import mcusim.sweep

HERE = Path(__file__).resolve().parent
WS = {"ws0": 0, "ws1": 1, "ws2": 2, "ws4": 4}
MODELS = ("kws", "vww", "ic", "ad")


def table() -> str:
    d = mcusim.sweep.load(str(HERE / "results"))
    cyc = {(r.core, WS[r.sram_write], r.workload): int(r.cycles) for r in d.itertuples()}
    lines = ["| SRAM write wait states | " + " | ".join(
                 f"{m}: buffer on / off" for m in MODELS) + " |",
             "|---|" + "---|" * len(MODELS)]
    for ws in sorted(set(WS.values())):
        cells = []
        for m in MODELS:
            base = cyc[("cortex-m4f", 0, m)]
            on, off = cyc[("cortex-m4f", ws, m)], cyc[("cortex-m4f-nowb", ws, m)]
            cells.append(f"{on / base - 1:+.1%} / {off / base - 1:+.1%}")
        lines.append(f"| {ws} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = mcusim.sweep.load(str(HERE / "results"))
    cyc = {(r.core, WS[r.sram_write], r.workload): int(r.cycles) for r in d.itertuples()}
    xs = sorted(set(WS.values()))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for m, color in zip(MODELS, ("C0", "C1", "C2", "C3")):
        base = cyc[("cortex-m4f", 0, m)]
        for core, style, what in (("cortex-m4f", "-", "write buffer"),
                                  ("cortex-m4f-nowb", "--", "no buffer")):
            ys = [100 * (cyc[(core, x, m)] / base - 1) for x in xs]
            ax.plot(xs, ys, style, color=color, marker="o", label=f"{m}, {what}")
    ax.set_xlabel("SRAM write wait states")
    ax.set_ylabel("inference cycles vs zero wait states (%)")
    ax.set_title("stm32l4r5 with slow-write SRAM (mcusim, fast mode)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    print(table())
    plot(HERE / "write_buffer.png")
