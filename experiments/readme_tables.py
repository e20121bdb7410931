"""The README's results table, from a real run (so it never goes stale).

    python experiments/readme_tables.py            # rewrite README.md's table in place
    python experiments/readme_tables.py --check    # exit 1 if README.md differs from a fresh run

Runs one inference of each built-in MLPerf Tiny model (random weights, the reference
architectures) with the `ref` and `opt` kernel sets on the default MCU (stm32l4r5, its
catalog run clock, fast mode), through the public API, and writes the table between the
markers `<!-- bench-table:begin -->` and `<!-- bench-table:end -->` of README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mcusim  # noqa: E402
from mcusim.api import bench_records  # noqa: E402

BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"
NAMES = {"kws": "kws (DS-CNN)", "vww": "vww (MobileNetV1 0.25)", "ic": "ic (ResNet-8)",
         "ad": "ad (FC autoencoder)"}


def table(mcu: str = "stm32l4r5") -> str:
    runs = {k: {r.benchmark: r for r in bench_records(list(NAMES), mcu, kernels=k)}
            for k in ("ref", "opt")}
    ref, opt = runs["ref"], runs["opt"]
    any_rec = next(iter(opt.values()))
    lines = [f"mcusim {mcusim.__version__}, {any_rec.mcu} at {any_rec.clock_hz / 1e6:g} MHz, "
             f"{any_rec.mode} mode (`python experiments/readme_tables.py`):", "",
             "| benchmark | ref kernels: ms | opt kernels: ms | opt speed-up | opt µJ/inference "
             "| flash B | RAM B |", "|---|---|---|---|---|---|---|"]
    for k, label in NAMES.items():
        r, o = ref[k], opt[k]
        lines.append(f"| {label} | {r.latency_ms:,.1f} | {o.latency_ms:,.1f} | "
                     f"{r.latency_ms / o.latency_ms:.2f}x | {o.energy_uj:,.0f} | "
                     f"{o.flash_bytes:,} | {o.ram_bytes:,} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args(argv)
    readme = ROOT / "README.md"
    text = readme.read_text()
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:a] + "\n" + table() + "\n" + text[b:]
    if args.check:
        if new != text:
            print("README.md's results table differs from a fresh run")
            return 1
        return 0
    readme.write_text(new)
    print(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
