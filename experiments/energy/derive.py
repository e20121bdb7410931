"""Every derived value of the sourced power catalogs, computed from its inputs.

    python experiments/energy/derive.py          # prints the values and the arithmetic

Inputs: datasheet tables (DS13086, STM32U585, typical at 25 C; the rows read in
docs/research/power-data.md §3.3), the MLPerf Tiny traces (mlperf.py), CoreMark's
activity counted by mcusim (coremark.json, from coremark.py) and the reference kernels'
activity on the training rows (runs.json, from run.py counts). The catalogs
(power_models/stm32u585.toml, stm32u575.toml, stm32l4r5.toml, and the derived
stm32h7a3.toml, stm32u385.toml) hold these numbers,
rounded, each with its arithmetic in a comment; tests/test_energy_model.py recomputes
them with this module and checks the catalogs against it.

The activity model (docs/power.md): one energy per 32-bit word the core moves -- a word of
code it executes, a word it reads or writes -- and per wider transfer its number of words
(a 128-bit flash read: 4). So each part has one energy scale `s` [pJ per word, drawn from
the supply at the catalog's datasheet_vdd_v].
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import mlperf  # noqa: E402

# ---------------------------------------------------------------- STM32U585 (DS13086)
VDD_U5 = 1.8                       # the SMPS tables at VDD = 1.8 V (NUCLEO boards in MLPerf)
# Table 39: Run, SMPS, VDD 1.8 V, flash + ICACHE, "reduced code" [mA] (slope -> static)
T39 = {160: 10.50, 140: 9.30, 120: 8.50, 110: 6.95, 72: 4.35, 64: 3.95, 55: 3.05}
# Table 44: Run, SMPS, VDD 1.8 V, different codes [mA]: (CoreMark, while(1)) per range
T44 = {"range1": (160, 10.50, 7.90), "range2": (110, 6.25, 4.80), "range3": (55, 3.05, 2.30)}
# Table 42 (LDO, any VDD) and Table 44 (SMPS 3.0 / 3.3 V), CoreMark at 160 MHz [mA]:
CM_LDO_160 = 13.50
CM_SMPS_160 = {1.8: 10.50, 3.0: 7.05, 3.3: 6.55}
# Table 46: Sleep, SMPS, VDD 1.8 V [mA]
T46 = {160: 3.50, 140: 3.10, 120: 2.80, 110: 2.60, 72: 1.65, 64: 1.55, 55: 1.10}
# Table 73: dynamic current of peripherals, first (LDO, Range 1) column [uA/MHz], for the
# clocks ST's MLPerf firmware enables on NUCLEO-U575ZI-Q (KWS01.ioc in the v1.2 results:
# USART1, LPUART1, TIM5, GPIO ports A/F/G; CRC and DCACHE1 are enabled too but their rows
# were not read). Bus-clock rows only: the "indep" kernel-clock rows depend on clock
# choices the .ioc does not settle.
T73_LDO_R1 = {"USART1": 2.38, "LPUART1": 1.18, "TIM5": 3.95, "GPIOA": 0.08, "GPIOF": 0.07,
              "GPIOG": 0.22}


def _line(points: dict, a: float, b: float) -> tuple[float, float]:
    """(slope per MHz, intercept) through the points at a and b MHz."""
    k = (points[b] - points[a]) / (b - a)
    return k, points[b] - k * b


def word_units(mcu_activity: dict, flash_words: int = 4, fill_words: int = 4) -> float:
    """Words of an activity dict: fetch + reads + writes + flash reads x their width +
    cache fills x their line (the per-event energies of the catalogs, in units of s)."""
    a = mcu_activity
    return (a.get("fetch_word", 0) + a.get("data_read", 0) + a.get("data_write", 0)
            + flash_words * (a.get("flash_read_through", 0) + a.get("flash_read_around", 0))
            + fill_words * (a.get("cache_fill", 0) + a.get("cache_writeback", 0))
            + a.get("bus_byte", 0) / 4)


def while1_words_per_cycle(core: str) -> float:
    """`b .` (the datasheets' while(1)): half a word of code per execution, over its
    cycles in mcusim's core timing model."""
    from mcusim.timing.core import CoreTiming
    ct = CoreTiming(core)
    bc = ct.block_cost(b"\xfe\xe7", 0x08000100)
    return 0.5 / bc.cycles_taken


def u5() -> dict:
    cm = json.loads((HERE / "coremark.json").read_text())["runs"]["stm32u585"]
    w_cm = word_units(cm["activity"]) / cm["cycles"]
    w_w1 = while1_words_per_cycle("cortex-m33")
    f, i_cm, i_w1 = T44["range1"]
    s = (i_cm - i_w1) * 1e-3 * VDD_U5 / ((w_cm - w_w1) * f * 1e6) * 1e12        # pJ/word
    out = {"w_coremark": w_cm, "w_while1": w_w1, "s_pj": s}
    k1, b1 = _line(T39, 120, 160)
    out["t39_slope_ua_per_mhz"], out["t39_static_ma"] = k1 * 1e3, b1
    ranges = {}
    for r, (f_r, _cm, w1) in T44.items():
        act_ma = s * 1e-12 * w_w1 * f_r * 1e6 / VDD_U5 * 1e3     # while(1)'s own activity
        base = w1 - act_ma                                        # zero-activity current
        static = b1 if r == "range1" else 0.0
        ranges[r] = {"mhz": f_r, "while1_ma": w1, "while1_activity_ma": act_ma,
                     "static_ua": static * 1e3, "ua_per_mhz": (base - static) / f_r * 1e3}
    out["run"] = ranges
    ks, bs = _line(T46, 120, 160)
    out["sleep"] = {"ua_per_mhz": ks * 1e3, "static_ua": bs * 1e3}
    p18 = 1.8 * CM_SMPS_160[1.8]
    out["smps_power_ratio"] = [[v, round(v * i / p18, 4)] for v, i in CM_SMPS_160.items()]
    ratio = CM_SMPS_160[1.8] / CM_LDO_160
    out["smps18_over_ldo"] = ratio
    out["peripherals_ua_per_mhz"] = sum(T73_LDO_R1.values()) * ratio
    # the NUCLEO-U575ZI-Q rail: the v1.2 idle gaps (firmware waiting for the host) minus the
    # MCU's modelled current in an idle loop as cheap as while(1)
    gaps = [g for v in mlperf.IDLE_GAPS_MW[("v1.2", "NUCLEO-U575ZI-Q")].values() for g in [v]]
    floor_mw = statistics.fmean(gaps)
    r1 = ranges["range1"]
    mcu_ma = r1["while1_ma"] + out["peripherals_ua_per_mhz"] * 160 / 1e3
    out["u575_floor_mw"] = floor_mw
    out["u575_extra_ua"] = (floor_mw / VDD_U5 - mcu_ma) * 1e3
    return out


# ---------------------------------------------------------------- STM32L4R5 (fitted)
L4R5_RUN_UA_PER_MHZ = 110.0        # the catalog's Run figure (front page via REF, secondary)
L4R5_DATASHEET_VDD_V = 3.0         # the catalog's datasheet_vdd_v (REF: VDD 3.0 V)


def l4r5() -> dict:
    runs = json.loads((HERE / "runs.json").read_text())
    w_w1 = while1_words_per_cycle("cortex-m4f")
    gaps = mlperf.IDLE_GAPS_MW[("v0.5", "NUCLEO-L4R5ZI")]
    # the training rows: v0.5 (TFLM) on NUCLEO-L4R5ZI, the reference kernels as stand-in
    win = {"kws": 40.84, "vww": 40.32, "ic": 41.48, "ad": 40.10}   # trace window means (mlperf.py)
    num = den = 0.0
    rows = {}
    for m, g in gaps.items():
        run = runs[f"stm32l4r5/ref/120/{m}"]
        w = word_units(run["activity"]) / run["cycles"]
        x = (w - w_w1) * 120e6                  # extra words per second above while(1)
        dp = (win[m] - g) * 1e-3                # W: the inference's increment over idle
        rows[m] = {"words_per_cycle": w, "increment_mw": win[m] - g}
        num += dp * x
        den += x * x
    s = num / den * 1e12 / (1.8 / 1.8)          # pJ per word at 1.8 V (least squares)
    floor = statistics.fmean(gaps.values())
    act_ma = s * 1e-12 * w_w1 * 120e6 / 1.8 * 1e3
    base_ma = L4R5_RUN_UA_PER_MHZ * 120 / 1e3
    # the catalog states its energies at its datasheet_vdd_v (3.0 V, the REF currents'
    # condition); with the LDO the charge per word is what stays, so s scales with VDD
    s_cat = s * L4R5_DATASHEET_VDD_V / 1.8
    return {"w_while1": w_w1, "s_pj": s, "rows": rows, "floor_mw": floor,
            "extra_ua": (floor / 1.8 - base_ma - act_ma) * 1e3,
            "while1_activity_ma": act_ma, "s_pj_catalog": s_cat}


# ---------------------------------------------------- STM32H7A3 / STM32U385 (derived)
# No datasheet supply-current table was found for either part (docs/research/power-data.md
# §3.5, §3.7). Each catalog is DERIVED from ONE public energy run, the same method as the
# L4R5 board rail and energy per word (docs/power.md) with one row instead of four:
#   * the idle gaps of the run (the firmware waiting for the host, a loop assumed as cheap
#     as while(1)) give the zero-activity current I0 = P_gap / V - s x w1 x f / V,
#   * the inference windows of the same run give the energy per word
#     s = (P_window - P_gap) / ((w - w1) x f), w = the words per cycle mcusim counts for the
#     model with the opt kernels (runs.json), w1 = while(1)'s.
# Everything at the run's supply V, which is the catalogs' datasheet_vdd_v. The other models
# of the run and the other releases are the validation (experiments/energy/README.md).
# The split of I0 into static, per-MHz and board-rail parts is not determined by a run at one
# clock: the catalogs put all of it per MHz (run_ua_per_mhz = I0 / f) and say so.
DERIVED = {
    # catalog: (MLPerf run key, model, mcu in runs.json, core, MHz, V, flash words, line words)
    "stm32h7a3": (("v1.2", "NUCLEO-H7A3ZI-Q"), "kws", "stm32h7a3", "cortex-m7f", 280, 3.0, 4, 8),
    "stm32u385": (("v1.3", "NUCLEO-U385RG-Q"), "kws", "stm32u385", "cortex-m33", 96, 1.8, 4, 4),
}


def derived_part(name: str) -> dict:
    key, model, mcu, core, mhz, vdd, fw, lw = DERIVED[name]
    runs = json.loads((HERE / "runs.json").read_text())
    run = runs[f"{mcu}/opt/{float(mhz):g}/{model}"]
    w = word_units(run["activity"], flash_words=fw, fill_words=lw) / run["cycles"]
    w1 = while1_words_per_cycle(core)
    p_win = mlperf.WINDOW_MW[key][model]
    p_gap = mlperf.IDLE_GAPS_MW[key][model]
    f = mhz * 1e6
    s = (p_win - p_gap) * 1e-3 / ((w - w1) * f) * 1e12                 # pJ per word at vdd
    act_ma = s * 1e-12 * w1 * f / vdd * 1e3                             # the idle loop's words
    i0_ma = p_gap / vdd - act_ma
    return {"key": key, "model": model, "mhz": mhz, "vdd": vdd, "words_per_cycle": w,
            "w_while1": w1, "window_mw": p_win, "gap_mw": p_gap, "s_pj": s,
            "flash_words": fw, "line_words": lw, "idle_activity_ma": act_ma, "i0_ma": i0_ma,
            "run_ua_per_mhz": i0_ma / mhz * 1e3}


def main() -> int:
    u = u5()
    print("STM32U585/U575 (DS13086, SMPS 1.8 V):")
    print(f"  CoreMark words/cycle {u['w_coremark']:.4f}, while(1) {u['w_while1']:.4f}")
    print(f"  s = (10.50 - 7.90) mA x 1.8 V / (({u['w_coremark']:.4f} - {u['w_while1']:.4f}) "
          f"x 160 MHz) = {u['s_pj']:.2f} pJ per word")
    for r, v in u["run"].items():
        print(f"  {r}: while(1) {v['while1_ma']} mA at {v['mhz']} MHz - its activity "
              f"{v['while1_activity_ma']:.3f} mA -> static {v['static_ua']:.0f} uA + "
              f"{v['ua_per_mhz']:.3f} uA/MHz")
    print(f"  sleep {u['sleep']}")
    print(f"  smps_power_ratio {u['smps_power_ratio']}  SMPS1.8/LDO {u['smps18_over_ldo']:.4f}")
    print(f"  peripherals {u['peripherals_ua_per_mhz']:.3f} uA/MHz")
    print(f"  U575 board: floor {u['u575_floor_mw']:.3f} mW -> extra {u['u575_extra_ua']:.1f} uA")
    if (HERE / "runs.json").exists():
        try:
            lr = l4r5()
        except KeyError as e:
            print(f"STM32L4R5: runs.json lacks {e}")
            return 0
        print("STM32L4R5 (fitted on MLPerf v0.5 NUCLEO-L4R5ZI, reference kernels):")
        for m, r in lr["rows"].items():
            print(f"  {m}: {r['words_per_cycle']:.4f} words/cycle, increment {r['increment_mw']:.2f} mW")
        print(f"  while(1) {lr['w_while1']:.4f} words/cycle; s = {lr['s_pj']:.2f} pJ per word "
              f"at 1.8 V = {lr['s_pj_catalog']:.2f} pJ at the catalog's 3.0 V (LDO)")
        print(f"  floor {lr['floor_mw']:.3f} mW -> extra {lr['extra_ua']:.1f} uA "
              f"(while(1) activity {lr['while1_activity_ma']:.3f} mA)")
        for name in DERIVED:
            try:
                d = derived_part(name)
            except KeyError as e:
                print(f"{name}: runs.json lacks {e}")
                continue
            print(f"{name.upper()} (derived from MLPerf {d['key'][0]} {d['key'][1]} "
                  f"{d['model']}, {d['mhz']} MHz, {d['vdd']} V):")
            print(f"  window {d['window_mw']} mW, idle {d['gap_mw']} mW; "
                  f"{d['words_per_cycle']:.4f} words/cycle, while(1) {d['w_while1']:.4f}")
            print(f"  s = ({d['window_mw']} - {d['gap_mw']}) mW / (({d['words_per_cycle']:.4f}"
                  f" - {d['w_while1']:.4f}) x {d['mhz']} MHz) = {d['s_pj']:.2f} pJ per word")
            print(f"  I0 = {d['gap_mw']} mW / {d['vdd']} V - {d['idle_activity_ma']:.3f} mA = "
                  f"{d['i0_ma']:.3f} mA = {d['run_ua_per_mhz']:.2f} uA/MHz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
