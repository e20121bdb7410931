"""Public MLPerf Tiny measurements used by the energy validation (all `measured-public`).

Rows: latency = 1000 / "Median throughput" (performance mode), energy = "Median energy
cost" (energy mode), from the results repositories (docs/research/power-data.md §2.3 gives
the file paths; re-verified there to the printed precision). Average power = energy /
latency, as issue 15 defines it.

Idle floors: the median power between the five inference windows of each energy run (the
DUT waits for the next input file), decoded from the public 1 kHz traces
(`trace1-energy.bin`: one header byte, then little-endian float32 sample rate, then mW per
sample; `trace1-timestamps.json`: the window edges in s). `python mlperf.py` re-decodes
them from mirrors of the results repositories (paths below) and prints them; the values
used are the constants in IDLE_GAPS_MW.
"""

from __future__ import annotations

import json
import statistics
import struct
import subprocess
import sys

# (release, board, stack, mcu catalog, clock MHz, supply V) -> {model: (latency ms, energy uJ)}
ROWS = {
    ("v0.5", "NUCLEO-L4R5ZI", "TFLM 2.3.1 + CMSIS-NN (mbed)", "stm32l4r5", 120, 1.8): {
        "kws": (181.92, 7373.7), "vww": (600.60, 24312.6), "ic": (704.23, 29207.0),
        "ad": (10.05, 416.3)},
    ("v0.7", "NUCLEO-L4R5ZI", "X-CUBE-AI 7.1, dual bank", "stm32l4r5", 120, 1.8): {
        "kws": (97.65, 4635.7), "vww": (254.65, 12293.3), "ic": (252.78, 12298.3),
        "ad": (9.67, 431.2)},
    ("v1.0", "NUCLEO-L4R5ZI", "X-CUBE-AI 7.3, dual bank", "stm32l4r5", 120, 1.8): {
        "kws": (75.06, 3371.7), "vww": (230.47, 10066.6), "ic": (226.91, 10681.6),
        "ad": (7.58, 323.0)},
    ("v1.1", "NUCLEO-L4R5ZI", "X-CUBE-AI 8.1, single bank", "stm32l4r5", 120, 1.8): {
        "kws": (62.87, 2833.1), "vww": (118.69, 5618.3), "ic": (214.00, 7019.1),
        "ad": (6.86, 293.9)},
    ("v1.2", "NUCLEO-L4R5ZI", "X-CUBE-AI 9.0, single bank", "stm32l4r5", 120, 1.8): {
        "kws": (43.19, 1820.5), "vww": (88.93, 3894.6), "ic": (165.13, 6919.4),
        "ad": (5.26, 203.4)},
    ("v1.2", "NUCLEO-U575ZI-Q", "X-CUBE-AI 9.0, SMPS", "stm32u575", 160, 1.8): {
        "kws": (29.06, 656.2), "vww": (59.28, 1354.7), "ic": (111.07, 2579.0),
        "ad": (3.43, 81.9)},
    ("v0.7", "NUCLEO-U575ZI-Q", "X-CUBE-AI 7.1, SMPS", "stm32u575", 160, 1.8): {
        "kws": (54.81, 1482.4), "vww": (151.63, 4031.0), "ic": (158.13, 4151.1),
        "ad": (5.73, 152.6)},
    ("v1.3", "NUCLEO-U575ZI-Q", "X-CUBE-AI 10.2, SMPS", "stm32u575", 160, 1.8): {
        "kws": (28.99, 664.4), "vww": (59.27, 1372.2), "ic": (109.49, 2565.2),
        "ad": (3.21, 77.2)},
    ("v1.3", "NUCLEO-U385RG-Q", "X-CUBE-AI 10.2, SMPS", "stm32u575", 96, 1.8): {
        "kws": (48.30, 245.3), "vww": (98.74, 519.0), "ic": (182.45, 965.6),
        "ad": (5.41, 31.8)},
}

# Which rows train the one fitted parameter, which validate (issue 15 part 2). The U385
# has no catalog (no datasheet found): its rows are predicted with the nearest sourced
# part (stm32u575 at 96 MHz) and reported as such, not as a validation of a U385 model.
TRAIN = {("v0.5", "NUCLEO-L4R5ZI")}
STANDIN = {("v1.3", "NUCLEO-U385RG-Q"): "stm32u575 at 96 MHz (no STM32U385 data)"}
# The rows issue 15 lists (the others are further public ST rows on the same boards).
ISSUE_ROWS = {("v0.5", "NUCLEO-L4R5ZI"), ("v0.7", "NUCLEO-L4R5ZI"), ("v1.2", "NUCLEO-U575ZI-Q"),
              ("v1.3", "NUCLEO-U385RG-Q")}

# Kernel set standing in for each software stack: the reference kernels for TFLM's
# reference-era code, the optimised (SIMD) kernels for X-CUBE-AI's dense code.
def kernels_for(stack: str) -> str:
    return "ref" if stack.startswith("TFLM") else "opt"


# Median idle power between windows [mW] (decoded, see the module docstring). Only the
# gaps that are the DUT idling are listed: the ST firmware's gaps of the v0.7 L4R5 runs
# (53-57 mW), the v1.2 L4R5 VWW/IC runs (38 / 59 mW) and the v1.2 U575 AD run (25.7 mW) lie
# above the inference power (other activity in the gap) and are not used.
IDLE_GAPS_MW = {
    ("v0.5", "NUCLEO-L4R5ZI"): {"kws": 34.18, "vww": 33.58, "ic": 34.61, "ad": 33.84},
    ("v1.2", "NUCLEO-L4R5ZI"): {"kws": 34.24, "ad": 33.07},
    ("v1.2", "NUCLEO-U575ZI-Q"): {"kws": 16.71, "vww": 16.71, "ic": 16.54},
    # not used by any catalog; listed to explain the v0.7 U575 rows (X-CUBE-AI 7.1 idled
    # 1.3 mW above v1.2 and added 8.4-9.2 mW during inference instead of 6.0-6.8)
    ("v0.7", "NUCLEO-U575ZI-Q"): {"kws": 17.98, "vww": 17.89, "ic": 17.85, "ad": 17.90},
}

REPOS = {"v0.5": "mlcommons/tiny_results_v0.5", "v0.7": "mlcommons/tiny_results_v0.7",
         "v1.2": "mlcommons/tiny_results_v1.2"}
PATHS = {("v0.5", "NUCLEO-L4R5ZI"): "closed/reference/results/Nucleo-L4R5ZI",
         ("v0.7", "NUCLEO-L4R5ZI"): "closed/STMicroelectronics/results/NUCLEO_L4R5ZI",
         ("v1.2", "NUCLEO-L4R5ZI"): "closed/STMicroelectronics/results/NUCLEO_L4R5ZI",
         ("v1.2", "NUCLEO-U575ZI-Q"): "closed/STMicroelectronics/results/NUCLEO_U575ZI_Q",
         ("v0.7", "NUCLEO-U575ZI-Q"): "closed/STMicroelectronics/results/NUCLEO-U575ZI-Q"}


def power_mw(latency_ms: float, energy_uj: float) -> float:
    return energy_uj / latency_ms


def decode(git_dir: str, path: str) -> tuple[list[float], list[float]]:
    """(window mean powers, gap median powers) [mW] of one energy run in a git mirror."""
    def show(p):
        return subprocess.run(["git", "-C", git_dir, "show", f"HEAD:{p}"], check=True,
                              capture_output=True).stdout
    raw = show(f"{path}/trace1-energy.bin")
    n = (len(raw) - 1) // 4
    vals = struct.unpack(f"<{n}f", raw[1:1 + 4 * n])
    fs, mw = vals[0], vals[1:]
    ts = json.loads(show(f"{path}/trace1-timestamps.json"))
    wins = [(ts[i], ts[i + 1]) for i in range(1, len(ts) - 1, 2)]
    win = [statistics.fmean(mw[int(a * fs):int(b * fs)]) for a, b in wins]
    gaps = []
    for (_a0, b0), (a1, _b1) in zip(wins, wins[1:]):
        s, e = int(b0 * fs) + 50, int(a1 * fs) - 50       # 50 samples off each edge
        if e - s > 100:
            gaps.append(statistics.median(mw[s:e]))
    return win, gaps


def main(argv: list[str]) -> int:
    """python mlperf.py MIRROR_ROOT: decode every listed run (MIRROR_ROOT/<owner>+<repo>/repo
    are git mirrors of the results repositories) and print window and gap powers."""
    if len(argv) != 1:
        print(main.__doc__)
        return 2
    for (rel, board), base in PATHS.items():
        git_dir = f"{argv[0]}/{REPOS[rel].replace('/', '+')}/repo"
        for m in ("kws", "vww", "ic", "ad"):
            win, gaps = decode(git_dir, f"{base}/{m}/energy")
            print(f"{rel} {board:16s} {m:4s} windows {statistics.fmean(win):6.2f} mW, "
                  f"gaps {[round(g, 2) for g in gaps]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
