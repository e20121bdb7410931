"""The energy model's parameters and its arithmetic (issue 15, docs/power.md).

1. Every derived catalog value is recomputed with experiments/energy/derive.py (from the
   datasheet rows, the MLPerf Tiny idle floors, CoreMark's and the reference kernels'
   activity counted by mcusim) and the catalogs are checked against it, to the rounding
   each catalog uses.
2. Every power catalog is sourced, derived (no datasheet table: values derived from public
   board measurements, stm32h7a3 / stm32u385) or flagged placeholder, with a reason; the
   status reaches the records and the CLI's text.
3. The activity model on a tiny run, by hand: energy = (static + per-MHz + board) x VDD x t
   + sum of event counts x pJ (scaled to VDD), from the catalog numbers, against what
   mcusim reports.
4. The committed validation table (experiments/energy/results.json) is what the shipped
   catalogs price the stored runs at (a stale table fails here).

All cheap: no simulation except four runs of the built-in `ad` model in fast mode; the
re-simulations of stored runs are marked slow.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from mcusim.catalog import catalog_dirs, load_power

ROOT = Path(__file__).resolve().parents[1]
ENERGY = ROOT / "experiments" / "energy"
sys.path.insert(0, str(ENERGY))

import derive  # noqa: E402


def toml(name: str) -> dict:
    with open(catalog_dirs()["power_models"] / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)


def rounded(catalog_value: float, derived_value: float, decimals: int) -> bool:
    """Does the catalog hold the derived value rounded to `decimals` places (the catalogs
    round half either way: accept the derived value within half a unit of the last place)?"""
    return abs(catalog_value - derived_value) <= 0.5 * 10 ** -decimals + 1e-9


@pytest.fixture(scope="module")
def u5():
    return derive.u5()


@pytest.fixture(scope="module")
def l4():
    return derive.l4r5()


# ------------------------------------------------------------------ 1. derived values

def test_u585_run_sleep_and_supply_from_ds13086(u5):
    c = toml("stm32u585")
    r1 = c["run"]["range1"]
    assert u5["t39_static_ma"] == pytest.approx(2.50)                # Table 39 intercept
    for loc in ("flash_accel_on", "sram"):
        assert rounded(r1[loc]["run_static_ua"], u5["run"]["range1"]["static_ua"], 1)
        assert rounded(r1[loc]["run_ua_per_mhz"], u5["run"]["range1"]["ua_per_mhz"], 2)
    for r in ("range2", "range3"):
        assert "run_static_ua" not in c["run"][r]["flash_accel_on"]
        assert rounded(c["run"][r]["flash_accel_on"]["run_ua_per_mhz"],
                       u5["run"][r]["ua_per_mhz"], 2), r
    assert rounded(c["sleep"]["sleep_ua_per_mhz"], u5["sleep"]["ua_per_mhz"], 2)
    assert rounded(c["sleep"]["sleep_static_ua"], u5["sleep"]["static_ua"], 1)
    assert c["power"]["smps_power_ratio"] == [
        [v, pytest.approx(r, abs=5e-5)] for v, r in u5["smps_power_ratio"]]


def test_u585_energy_per_word_from_coremark(u5):
    c = toml("stm32u585")["access_energy"]
    s = u5["s_pj"]
    # (10.50 - 7.90) mA x 1.8 V / ((0.7655 - 0.25) x 160 MHz), docs/power.md
    assert u5["w_while1"] == 0.25
    assert u5["w_coremark"] == pytest.approx(0.7655, abs=5e-5)
    assert s == pytest.approx(2.60e-3 * 1.8 / ((u5["w_coremark"] - 0.25) * 160e6) * 1e12)
    assert c["enabled"] is True
    for k in ("fetch_word_pj", "data_read_pj", "data_write_pj"):
        assert rounded(c[k], s, 2), k
    for k in ("flash_read_through_pj", "flash_read_around_pj", "cache_fill_pj",
              "cache_writeback_pj"):
        assert rounded(c[k], 4 * s, 2), k
    assert rounded(c["bus_byte_pj"], s / 4, 3)


def test_u575_board_rail(u5):
    b = toml("stm32u575")["board"]
    assert rounded(b["peripherals_ua_per_mhz"], u5["peripherals_ua_per_mhz"], 2)
    assert u5["u575_floor_mw"] == pytest.approx((16.71 + 16.71 + 16.54) / 3)
    assert rounded(b["extra_ua"], u5["u575_extra_ua"], 0)


def test_l4r5_fitted_energy_and_board_rail(l4):
    c = toml("stm32l4r5")
    assert c["power"]["datasheet_vdd_v"] == derive.L4R5_DATASHEET_VDD_V
    assert c["run"]["range1_boost"]["flash_accel_on"]["run_ua_per_mhz"] == \
        derive.L4R5_RUN_UA_PER_MHZ
    ae = c["access_energy"]
    s = l4["s_pj_catalog"]
    assert s == pytest.approx(l4["s_pj"] * 3.0 / 1.8)
    assert ae["enabled"] is True
    for k in ("fetch_word_pj", "data_read_pj", "data_write_pj"):
        assert rounded(ae[k], s, 2), k
    for k in ("flash_read_through_pj", "flash_read_around_pj", "cache_fill_pj",
              "cache_writeback_pj"):
        assert rounded(ae[k], 4 * s, 2), k
    assert rounded(ae["bus_byte_pj"], s / 4, 2)
    assert rounded(c["board"]["extra_ua"], l4["extra_ua"], 1)
    # the fit is a least-squares scale: the residuals of the four training increments
    # are small against the increments themselves (6.26-6.87 mW)
    for m, r in l4["rows"].items():
        pred = l4["s_pj"] * 1e-12 * (r["words_per_cycle"] - 0.25) * 120e6 * 1e3
        assert pred == pytest.approx(r["increment_mw"], rel=0.08), m


@pytest.mark.parametrize("name", sorted(derive.DERIVED))
def test_derived_catalogs_equal_derive_py(name):
    """stm32h7a3 / stm32u385: no datasheet table; zero-activity current and energy per word
    derived from one MLPerf Tiny energy run (derive.derived_part), rounded in the TOML."""
    d = derive.derived_part(name)
    c = toml(name)
    key, model, _mcu, _core, mhz, vdd, fw, lw = derive.DERIVED[name]
    assert c["power"]["data_status"] == "derived"
    assert c["power"]["vdd_v"] == vdd == c["power"]["datasheet_vdd_v"]
    assert "smps_power_ratio" not in c["power"] and "board" not in c
    run = c["run"][c["power"]["default_range"]]["flash_accel_on"]
    assert "run_static_ua" not in run
    assert rounded(run["run_ua_per_mhz"], d["run_ua_per_mhz"], 2)
    # the arithmetic, by hand: s from the window's increment over the idle gap
    s = (d["window_mw"] - d["gap_mw"]) * 1e-3 / ((d["words_per_cycle"] - d["w_while1"])
                                                 * mhz * 1e6) * 1e12
    assert d["s_pj"] == pytest.approx(s)
    i0_ma = d["gap_mw"] / vdd - s * 1e-12 * d["w_while1"] * mhz * 1e6 / vdd * 1e3
    assert d["i0_ma"] == pytest.approx(i0_ma)
    assert d["window_mw"] == derive.mlperf.WINDOW_MW[key][model]
    assert d["gap_mw"] == derive.mlperf.IDLE_GAPS_MW[key][model]
    ae = c["access_energy"]
    assert ae["enabled"] is True
    for k in ("fetch_word_pj", "data_read_pj", "data_write_pj"):
        assert rounded(ae[k], d["s_pj"], 2), k
    for k in ("flash_read_through_pj", "flash_read_around_pj"):
        assert rounded(ae[k], fw * d["s_pj"], 2), k
    for k in ("cache_fill_pj", "cache_writeback_pj"):
        assert rounded(ae[k], lw * d["s_pj"], 2), k
    assert rounded(ae["bus_byte_pj"], d["s_pj"] / 4, 3 if name == "stm32u385" else 2)
    # the training row is reproduced by construction (the fit has one row and two values)
    assert (key + (model,)) in derive.mlperf.TRAIN_MODELS


def test_derived_values_as_documented():
    """The numbers the catalogs' comments and docs/power.md quote."""
    h7, u3 = derive.derived_part("stm32h7a3"), derive.derived_part("stm32u385")
    assert h7["w_while1"] == 0.5 and u3["w_while1"] == 0.25
    assert h7["s_pj"] == pytest.approx(205.07, abs=0.01)
    assert h7["run_ua_per_mhz"] == pytest.approx(48.26, abs=0.01)
    assert u3["s_pj"] == pytest.approx(35.28, abs=0.01)
    assert u3["run_ua_per_mhz"] == pytest.approx(10.38, abs=0.01)


# ------------------------------------------------------------------ 2. data status

SOURCED = {"stm32u585", "stm32u575", "stm32l4r5"}
DERIVED = {"stm32h7a3", "stm32u385"}


@pytest.mark.parametrize("name", sorted(p.stem for p in
                                        catalog_dirs()["power_models"].glob("*.toml")))
def test_every_catalog_sourced_or_flagged(name):
    p = load_power(name)
    assert p.data_status in ("sourced", "derived", "placeholder")
    assert p.data_reason, f"{name}: data_reason missing"
    assert (p.data_status == "sourced") == (name in SOURCED), name
    assert (p.data_status == "derived") == (name in DERIVED), name


def test_data_status_in_outputs():
    """The status reaches the PowerModel, the one-line note and the CLI's flag."""
    from mcusim.cli import _placeholder
    from mcusim.power import PowerModel
    notes = {}
    for name in ("stm32u575", "stm32h7a3", "stm32g0b1"):
        pm = PowerModel.from_catalog(name)
        notes[pm.data_status] = (pm.placeholder, pm.derived, pm.data_note())
    assert notes["sourced"][:2] == (False, False)
    assert notes["derived"][:2] == (False, True)
    assert notes["placeholder"][:2] == (True, False)
    assert notes["derived"][2].startswith("power data derived from public measurements (")
    assert "DS13195" in notes["derived"][2]
    assert notes["placeholder"][2].startswith("placeholder power data (")
    assert _placeholder({"power_data": "derived"}) == \
        " (power data derived from public measurements)"
    assert _placeholder({"power_data": "placeholder"}) == " (placeholder power data)"
    assert _placeholder({"power_data": "sourced"}) == ""


def test_derived_flag_in_record():
    from mcusim.infer import run_inference
    rec = run_inference("ad", "stm32h7a3", kernels="opt").record
    assert rec["power_data"] == "derived"
    assert "MLPerf Tiny v1.2" in rec["power_data_reason"]


# ------------------------------------------------------------------ 3. by hand

def _activity_j(cat: dict, counts: dict, scale: float) -> float:
    ae = cat["access_energy"]
    return sum(n * ae[f"{e}_pj"] for e, n in counts.items() if n) * 1e-12 * scale


def _infer_ad(mcu: str):
    from mcusim.infer import run_inference
    return run_inference("ad", mcu, kernels="opt").record


@pytest.mark.parametrize("mcu,base", [
    # (run_static_ua + run_ua_per_mhz x f + peripherals x f) [uA], by hand from the TOMLs
    ("stm32u575", lambda c, f: c["run"]["range1"]["flash_accel_on"]["run_static_ua"]
     + c["run"]["range1"]["flash_accel_on"]["run_ua_per_mhz"] * f),
    ("stm32l4r5", lambda c, f: c["run"]["range1_boost"]["flash_accel_on"]["run_ua_per_mhz"]
     * f),
])
def test_activity_energy_by_hand_at_datasheet_supply(mcu, base):
    """stm32u575 runs at its datasheet supply (SMPS 1.8 V: no scaling); stm32l4r5 at 1.8 V
    with energies stated at 3.0 V (LDO: activity x 1.8 / 3.0, currents unchanged)."""
    rec = _infer_ad(mcu)
    cat = toml(mcu)
    if mcu == "stm32u575":
        cat = {**toml("stm32u585"), **{k: v for k, v in cat.items() if k != "power"}}
    mhz = rec["clock_hz"] / 1e6 if "clock_hz" in rec else (160 if mcu == "stm32u575" else 120)
    vdd = 1.8
    board = cat["board"]
    i_ua = base(cat, mhz) + board.get("peripherals_ua_per_mhz", 0.0) * mhz \
        + board.get("extra_ua", 0.0)
    scale = 1.0 if mcu == "stm32u575" else 1.8 / 3.0
    assert rec["vdd_v"] == vdd
    assert list(rec["power_states"]) == ["run"]
    t = rec["seconds"]
    assert t == pytest.approx(rec["cycles"] / (mhz * 1e6), rel=1e-9)
    act = _activity_j(cat, rec["activity"], scale)
    assert act > 0 and rec["activity_energy_j"] == pytest.approx(act, rel=1e-9)
    assert rec["energy_j"] == pytest.approx(i_ua * 1e-6 * vdd * t + act, rel=1e-9)
    # the inference window: its own time and its own events
    e_inf = i_ua * 1e-6 * vdd * rec["inference"]["latency_ms"] * 1e-3 \
        + _activity_j(cat, rec["inference_activity"], scale)
    assert rec["inference_energy_j"] == pytest.approx(e_inf, rel=1e-6)
    # sourced data: no placeholder flag
    assert rec["power_data"] == "sourced"


def test_activity_energy_by_hand_smps_at_3v3():
    """stm32u585 at 3.3 V (B-U585I-IOT02A): SMPS input power x smps_power_ratio(3.3) =
    1.1437 relative to 1.8 V; currents x 1.1437 x 1.8 / 3.3, activity x 1.1437."""
    rec = _infer_ad("stm32u585")
    c = toml("stm32u585")
    assert rec["vdd_v"] == 3.3 and c["power"]["smps_power_ratio"][-1] == [3.3, 1.1437]
    r = 1.1437
    run = c["run"]["range1"]["flash_accel_on"]
    i_a = (run["run_static_ua"] + run["run_ua_per_mhz"] * 160) * 1e-6 * r * 1.8 / 3.3
    act = _activity_j(c, rec["activity"], r)
    assert rec["activity_energy_j"] == pytest.approx(act, rel=1e-9)
    assert rec["energy_j"] == pytest.approx(i_a * 3.3 * rec["seconds"] + act, rel=1e-9)


def test_placeholder_flag_in_record():
    from mcusim.infer import run_inference
    rec = run_inference("ad", "stm32g0b1", kernels="ref").record
    assert rec["power_data"] == "placeholder"
    assert "DS13560" in rec["power_data_reason"]


# ------------------------------------------------------------------ 4. the committed table

def test_results_table_is_what_the_catalogs_predict():
    import run as energy_run
    runs = json.loads((ENERGY / "runs.json").read_text())
    rows = json.loads((ENERGY / "results.json").read_text())
    assert len(rows) >= 16
    for row in rows:
        key = f"{row['mcu']}/{row['kernels']}/{float(row['clock_mhz']):g}/{row['model']}"
        p_w, e_j = energy_run.predict(runs[key], row["vdd_v"])
        assert row["predicted_power_mw"] == pytest.approx(p_w * 1e3, abs=1e-3), key
        assert row["mcusim_energy_uj"] == pytest.approx(e_j * 1e6, abs=0.06), key
        assert row["measured_power_mw"] == pytest.approx(
            row["measured_energy_uj"] / row["measured_latency_ms"], abs=1e-3)
        assert row["power_data"] == load_power(row["mcu"]).data_status, key
    # the four boards all have a prediction (no stand-in rows)
    boards = {r["board"] for r in rows if r["role"] != "stand-in"}
    assert {"NUCLEO-L4R5ZI", "NUCLEO-U575ZI-Q", "NUCLEO-U385RG-Q", "NUCLEO-H7A3ZI-Q"} <= boards
    train = {(r["release"], r["board"], r["model"]) for r in rows if r["role"] == "train"}
    assert train == {("v0.5", "NUCLEO-L4R5ZI", m) for m in ("kws", "vww", "ic", "ad")} | \
        {("v1.2", "NUCLEO-H7A3ZI-Q", "kws"), ("v1.3", "NUCLEO-U385RG-Q", "kws")}


def test_u385_memory_model():
    """stm32u385 (memory_models/stm32u385.toml): the U3 facts it states (stm32u385xx.h,
    stm32u3xx_ll_utils.c) on top of the U5 family."""
    from mcusim.catalog import load_mcu
    m = load_mcu("stm32u385")
    assert m.core.name == "cortex-m33" and m.power_model == "stm32u385"
    assert m.clock_mhz == 96.0 and m.num_irqs == 125
    mem = {r.name: (r.base, r.size) for r in m.memories}
    assert mem == {"flash": (0x08000000, 0x100000), "sram1": (0x20000000, 0x30000),
                   "sram2": (0x20030000, 0x10000)}
    assert tuple(m.flash.ws_tables["range1"]) == ((32, 0), (64, 1), (96, 2), (100, 3))
    assert m.flash_wait_states(96.0, "range1") == 2
    per = {p.name: p.base for p in m.peripherals}
    assert per["rcc"] == 0x40030C00 and per["pwr"] == 0x40030800
    assert "usart2" not in per and "ahb3" not in per


@pytest.mark.slow
def test_stored_run_reproduces():
    """One stored run (ad, reference kernels, stm32l4r5, detailed) simulated again."""
    from mcusim.infer import run_inference
    runs = json.loads((ENERGY / "runs.json").read_text())
    want = runs["stm32l4r5/ref/120/ad"]
    r = run_inference(str(ROOT.parent / "shared" / "models" / "ad.tflite"), "stm32l4r5",
                      kernels="ref", clock_mhz=120.0, mode="detailed")
    w = r.machine.trace.windows[-1]
    assert w.end - w.begin == pytest.approx(want["cycles"], rel=1e-3)
    for k, v in want["activity"].items():
        assert w.activity[k] == pytest.approx(v, rel=1e-3, abs=1), k


@pytest.mark.slow
def test_u385_image_runs_like_u575():
    """On the U385 (256 KB RAM) mcusim infer picks the cortex-m33 image linked for 256 KB
    (firmware_images/ld/cortex-m33-256k.ld): the U575's output, the stored U385 activity."""
    from mcusim.infer import run_inference
    model = str(ROOT.parent / "shared" / "models" / "ad.tflite")
    a = run_inference(model, "stm32u385", kernels="opt", mode="detailed")
    assert a.record["image_target"] == "cortex-m33-256k"
    b = run_inference(model, "stm32u575", kernels="opt")
    assert a.record["output_sha256"] == b.record["output_sha256"]
    want = json.loads((ENERGY / "runs.json").read_text())["stm32u385/opt/96/ad"]
    w = a.machine.trace.windows[-1]
    assert w.end - w.begin == pytest.approx(want["cycles"], rel=1e-3)
