"""Public MLPerf Tiny measurements used by the energy validation (all `measured-public`).

Rows: latency = 1000 / "Median throughput" (performance mode; the AD rows of the H7A3 to 4
significant digits, 1.2 ms windows), energy = "Median energy
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
    ("v1.3", "NUCLEO-U385RG-Q", "X-CUBE-AI 10.2, SMPS", "stm32u385", 96, 1.8): {
        "kws": (48.30, 245.3), "vww": (98.74, 519.0), "ic": (182.45, 965.6),
        "ad": (5.41, 31.8)},
    # NUCLEO-H7A3ZI-Q (STM32H7A3ZIT6Q, 280 MHz, SMPS): "Operating at 3V with SMPS" (v1.1, v1.2),
    # "3.0V" (v0.7, Krai v1.1), "3.3V" (v1.0) in systems/*.json. Latency 1000 / throughput.
    ("v1.2", "NUCLEO-H7A3ZI-Q", "X-CUBE-AI 9.0, SMPS", "stm32h7a3", 280, 3.0): {
        "kws": (11.32, 1375.6), "vww": (23.80, 2965.5), "ic": (40.84, 5090.3),
        "ad": (1.225, 165.7)},
    ("v1.1", "NUCLEO-H7A3ZI-Q", "X-CUBE-AI 8.1, SMPS", "stm32h7a3", 280, 3.0): {
        "kws": (15.35, 1869.4), "vww": (29.63, 3699.4), "ic": (51.95, 6310.7),
        "ad": (1.818, 221.2)},
    ("v1.1 Krai", "NUCLEO-H7A3ZI-Q", "X-CUBE-AI 8.0 (Krai), SMPS", "stm32h7a3", 280, 3.0): {
        "kws": (16.40, 2362.1), "vww": (50.33, 6928.3), "ic": (54.90, 7615.4),
        "ad": (1.827, 235.8)},
    ("v1.0", "NUCLEO-H7A3ZI-Q", "X-CUBE-AI 7.3, SMPS", "stm32h7a3", 280, 3.3): {
        "kws": (16.76, 2721.8), "vww": (50.70, 7978.5), "ic": (54.34, 8707.3),
        "ad": (1.826, 266.5)},
    ("v0.7", "NUCLEO-H7A3ZI-Q", "X-CUBE-AI 7.1, SMPS", "stm32h7a3", 280, 3.0): {
        "kws": (22.29, 3713.2), "vww": (64.38, 10487.7), "ic": (70.36, 11200.2),
        "ad": (2.281, 349.0)},
}

# Which rows train a fitted or derived parameter, which validate (issue 15 part 2).
# TRAIN: every row of the release/board (the L4R5's energy per word is a least-squares fit
# over the four v0.5 rows). TRAIN_MODELS: single rows. The STM32H7A3 and STM32U385 have no
# datasheet table here: each catalog is derived from ONE energy run (the KWS run of one
# release: its inference windows and the idle gaps of the same trace; derive.py) and
# validated on the other models of that release and on the other releases.
TRAIN = {("v0.5", "NUCLEO-L4R5ZI")}
TRAIN_MODELS = {("v1.2", "NUCLEO-H7A3ZI-Q", "kws"), ("v1.3", "NUCLEO-U385RG-Q", "kws")}
STANDIN: dict = {}
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
    # STM32H7A3 (3 V SMPS): the v1.2 KWS gaps derive the catalog (derive.py h7a3()); the
    # others are listed to explain the validation rows: the idle floor of the same board is
    # firmware-dependent (v1.1 70.7, Krai v1.1 74.1, v0.7 97.9 mW at 3.0 V; v1.0 91.3-92.4 mW
    # at 3.3 V), median of the four gap medians per run
    ("v1.2", "NUCLEO-H7A3ZI-Q"): {"kws": 69.25, "vww": 69.08, "ic": 69.27, "ad": 69.22},
    ("v1.1", "NUCLEO-H7A3ZI-Q"): {"kws": 70.76, "vww": 70.74, "ic": 70.70, "ad": 70.72},
    ("v1.1 Krai", "NUCLEO-H7A3ZI-Q"): {"kws": 74.18, "vww": 74.01, "ic": 73.91, "ad": 74.08},
    ("v1.0", "NUCLEO-H7A3ZI-Q"): {"kws": 92.38, "vww": 91.40, "ic": 91.29, "ad": 91.57},
    ("v0.7", "NUCLEO-H7A3ZI-Q"): {"kws": 98.01, "vww": 97.76, "ic": 98.00, "ad": 97.90},
    # STM32U385 (v1.3 runner, results.json: one trace per window, so the idle is the ~0.1 s
    # after each window, median of the five; the AD runs keep only 44 samples after the
    # window and the VWW results.json was absent from the mirror: not used)
    ("v1.3", "NUCLEO-U385RG-Q"): {"kws": 2.64, "ic": 2.63},
}

# Mean power inside the inference windows of the energy runs [mW] (the same traces; the
# EMON's own window power, slightly above energy / performance-mode latency, §2.1 of
# docs/research/power-data.md). Used with the idle gaps of the same run by derive.py.
WINDOW_MW = {
    ("v1.2", "NUCLEO-H7A3ZI-Q"): {"kws": 121.87, "vww": 124.86, "ic": 125.15, "ad": 135.65},
    ("v1.3", "NUCLEO-U385RG-Q"): {"kws": 5.087, "ic": 5.299, "ad": 5.897},
}

REPOS = {"v0.5": "mlcommons/tiny_results_v0.5", "v0.7": "mlcommons/tiny_results_v0.7",
         "v1.0": "mlcommons/tiny_results_v1.0", "v1.1": "mlcommons/tiny_results_v1.1",
         "v1.1 Krai": "mlcommons/tiny_results_v1.1", "v1.2": "mlcommons/tiny_results_v1.2",
         "v1.3": "mlcommons/tiny_results_v1.3"}
PATHS = {("v0.5", "NUCLEO-L4R5ZI"): "closed/reference/results/Nucleo-L4R5ZI",
         ("v0.7", "NUCLEO-L4R5ZI"): "closed/STMicroelectronics/results/NUCLEO_L4R5ZI",
         ("v1.2", "NUCLEO-L4R5ZI"): "closed/STMicroelectronics/results/NUCLEO_L4R5ZI",
         ("v1.2", "NUCLEO-U575ZI-Q"): "closed/STMicroelectronics/results/NUCLEO_U575ZI_Q",
         ("v0.7", "NUCLEO-U575ZI-Q"): "closed/STMicroelectronics/results/NUCLEO-U575ZI-Q",
         ("v1.2", "NUCLEO-H7A3ZI-Q"): "closed/STMicroelectronics/results/NUCLEO_H7A3ZI_Q",
         ("v1.1", "NUCLEO-H7A3ZI-Q"): "closed/STMicroelectronics/results/NUCLEO_H7A3ZI_Q",
         ("v1.1 Krai", "NUCLEO-H7A3ZI-Q"): "closed/Krai/results/NUCLEO-H7A3ZI-Q_X-CUBE-AI-8.0",
         ("v1.0", "NUCLEO-H7A3ZI-Q"): "closed/STMicroelectronics/results/NUCLEO-H7A3ZI-Q",
         ("v0.7", "NUCLEO-H7A3ZI-Q"): "closed/STMicroelectronics/results/NUCLEO-H7A3ZI-Q"}
# v1.3 runner (results.json per energy run): decoded by decode_v13()
PATHS_V13 = {("v1.3", "NUCLEO-U385RG-Q"): "closed/STMicroelectronics/results/NUCLEO_U385RG_Q"}


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


def decode_v13(git_dir: str, path: str) -> tuple[list[float], list[float]]:
    """(window mean powers, post-window idle medians) [mW] of one v1.3 energy run
    (results.json: per window `power.samples` in J per 1 ms sample, `power.timestamps` the
    sample indices of the window edges). The idle is the segment after the window (5
    samples off its edge), kept when it has at least 60 samples."""
    raw = subprocess.run(["git", "-C", git_dir, "show", f"HEAD:{path}/results.json"],
                         check=True, capture_output=True).stdout
    win, idle = [], []
    for trial in json.loads(raw):
        s = trial["power"]["samples"]
        a, b = trial["power"]["timestamps"][0][1], trial["power"]["timestamps"][1][1]
        win.append(statistics.fmean(s[a:b]) * 1e6)
        if len(s) - b >= 60:
            idle.append(statistics.median(s[b + 5:]) * 1e6)
    return win, idle


def main(argv: list[str]) -> int:
    """python mlperf.py MIRROR_ROOT: decode every listed run (MIRROR_ROOT/<owner>+<repo>/repo
    are git mirrors of the results repositories) and print window and gap powers."""
    if len(argv) != 1:
        print(main.__doc__)
        return 2
    for (rel, board), base in PATHS.items():
        git_dir = f"{argv[0]}/{REPOS[rel].replace('/', '+')}/repo"
        for m in ("kws", "vww", "ic", "ad"):
            try:
                win, gaps = decode(git_dir, f"{base}/{m}/energy")
            except subprocess.CalledProcessError:      # v1.0 H7A3 IC: the folder is "enegy"
                win, gaps = decode(git_dir, f"{base}/{m}/enegy")
            print(f"{rel} {board:16s} {m:4s} windows {statistics.fmean(win):6.2f} mW, "
                  f"gaps {[round(g, 2) for g in gaps]}")
    for (rel, board), base in PATHS_V13.items():
        git_dir = f"{argv[0]}/{REPOS[rel].replace('/', '+')}/repo"
        for m in ("kws", "vww", "ic", "ad"):
            try:
                win, idle = decode_v13(git_dir, f"{base}/{m}/energy")
            except subprocess.CalledProcessError:
                print(f"{rel} {board:16s} {m:4s} results.json not in the mirror")
                continue
            print(f"{rel} {board:16s} {m:4s} windows {statistics.fmean(win):6.3f} mW, "
                  f"idle after windows {[round(g, 3) for g in idle]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
