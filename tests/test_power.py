"""Energy accounting (mcusim.power): hand-computed energies, no emulation.

Catalog numbers are read from the TOML files here (so the tests follow the catalog), but
every expected value is computed with plain float arithmetic in the test, independently of
the module.
"""

from __future__ import annotations

import csv
import math
import tomllib

import pytest

from mcusim.catalog import CatalogError, catalog_dirs, load_mcu
from mcusim.errors import UserError
from mcusim.power import PowerModel, Timeline, account, plot_power_trace, write_power_trace_csv

REL = 1e-12


def approx(x):
    return pytest.approx(x, rel=REL, abs=1e-18)


@pytest.fixture(scope="module")
def l4():
    """Raw stm32l4r5 power TOML (no extends in that file)."""
    with open(catalog_dirs()["power_models"] / "stm32l4r5.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture()
def mcu():
    return load_mcu("stm32l4r5")


@pytest.fixture()
def model(mcu):
    return PowerModel.from_catalog("stm32l4r5", mcu)


def board_a(toml, mhz=None):
    """[board] of an LDO catalog: extra_ua in every state, peripherals x MHz in Run/Sleep
    (stm32l4r5: the NUCLEO-L4R5ZI rail, docs/power.md)."""
    b = toml.get("board", {})
    per = b.get("peripherals_ua_per_mhz", 0.0) * mhz if mhz is not None else 0.0
    return (b.get("extra_ua", 0.0) + per) * 1e-6


def run_a(toml, rng, mhz, loc="flash_accel_on"):
    t = toml["run"][rng][loc]
    return (t.get("run_static_ua", 0.0) + t["run_ua_per_mhz"] * mhz) * 1e-6 + board_a(toml, mhz)


def sleep_a(toml, mhz):
    s = toml["sleep"]
    return (s.get("sleep_static_ua", 0.0) + s["sleep_ua_per_mhz"] * mhz) * 1e-6 \
        + board_a(toml, mhz)


# ---------------------------------------------------------------------------- model

def test_model_currents_follow_catalog(l4, model):
    assert model.vdd_v == l4["power"]["vdd_v"]
    assert model.run_current_a(120e6) == approx(run_a(l4, "range1_boost", 120))
    assert model.run_current_a(80e6, "range1") == approx(run_a(l4, "range1", 80))
    assert model.sleep_current_a(120e6) == approx(sleep_a(l4, 120))
    assert model.state_current_a("stop2") == approx(l4["states"]["stop2"]["current_ua"] * 1e-6
                                                    + board_a(l4))
    secs, joules = model.wakeup("stop1")
    assert secs == approx(l4["states"]["stop1"]["wakeup_us"] * 1e-6)
    assert joules is None


def test_implied_range_dvfs(model):
    assert model.implied_range(26e6) == "range2"
    assert model.implied_range(26.5e6) == "range1"
    assert model.implied_range(80e6) == "range1"
    assert model.implied_range(120e6) == "range1_boost"


def test_clock_above_every_range_is_clear_error(model):
    with pytest.raises(CatalogError, match=r"130 MHz exceeds every voltage range"):
        model.implied_range(130e6)
    with pytest.raises(CatalogError, match=r"100 MHz is above the 26 MHz maximum.*range2"):
        model.run_current_a(100e6, "range2")
    with pytest.raises(CatalogError, match="above the 120 MHz maximum"):
        account(Timeline.constant(1000, 130e6), model)
    with pytest.raises(CatalogError, match="exceeds every voltage range"):
        account(Timeline.constant(1000, 130e6, voltage_ranges=[(0, "auto")]), model)
    # UserError subclass: one line, exit status 2
    assert issubclass(CatalogError, UserError)


def test_other_bad_inputs(model):
    with pytest.raises(CatalogError, match="no state 'stop9'"):
        account(Timeline.constant(100, 120e6, power_states=[(0, "stop9")]), model)
    with pytest.raises(CatalogError, match="unknown code location 'rom'"):
        account(Timeline.constant(100, 120e6, locations=[(0, "rom")]), model)
    with pytest.raises(CatalogError, match="unknown voltage range 'range7'"):
        account(Timeline.constant(100, 20e6, voltage_ranges=[(0, "range7")]), model)
    with pytest.raises(UserError, match="outside the supply range"):
        model.vdd_v = 5.0
    with pytest.raises(ValueError, match="not sorted"):
        account(Timeline(100, [(0, 120e6)], power_states=[(50, "sleep"), (10, "run")]), model)
    with pytest.raises(ValueError, match="start with"):
        account(Timeline(100, [(5, 120e6)]), model)
    with pytest.raises(ValueError, match="outside"):
        account(Timeline.constant(100, 120e6, windows=[(0, 200)]), model)


# ---------------------------------------------------------------------------- accounting

def test_l4r5_run_1ms_then_sleep_9ms(l4, model):
    f = 120e6
    tl = Timeline(total_cycles=int(10e-3 * f), clock_changes=[(0, f)],
                  power_states=[(0, "run"), (int(1e-3 * f), "sleep")])
    r = account(tl, model)
    v = l4["power"]["vdd_v"]
    e_run = run_a(l4, "range1_boost", 120) * v * 1e-3
    e_sleep = sleep_a(l4, 120) * v * 9e-3
    # by hand with the current catalog (110 uA/MHz, 30 uA/MHz, board rail 4058.5 uA, 1.8 V):
    # 17.2585 mA * 1.8 V * 1 ms = 31.065 uJ; 7.6585 mA * 1.8 V * 9 ms = 124.07 uJ
    assert r.seconds == approx(10e-3)
    assert r.power_states["run"]["energy_j"] == approx(e_run)
    assert r.power_states["sleep"]["energy_j"] == approx(e_sleep)
    assert r.power_states["sleep"]["seconds"] == approx(9e-3)
    assert r.energy_j == approx(e_run + e_sleep)
    assert r.avg_power_w == approx((e_run + e_sleep) / 10e-3)
    assert r.peak_power_w == approx(run_a(l4, "range1_boost", 120) * v)
    assert r.warnings == []


def test_duty_cycle_with_stop2_and_wakeups(l4, model):
    f, periods = 120e6, 5
    run_c, period_c = int(2e-3 * f), int(10e-3 * f)          # 2 ms run, 8 ms Stop 2
    states = []
    for k in range(periods):
        states += [(k * period_c, "run"), (k * period_c + run_c, "deepsleep")]
    windows = [(k * period_c, (k + 1) * period_c) for k in range(periods)]
    tl = Timeline(total_cycles=periods * period_c, clock_changes=[(0, f)],
                  power_states=states, deep_sleep_state="stop2", windows=windows)
    r = account(tl, model)
    v = l4["power"]["vdd_v"]
    p_run = run_a(l4, "range1_boost", 120) * v
    p_stop2 = (l4["states"]["stop2"]["current_ua"] * 1e-6 + board_a(l4)) * v
    t_wake = l4["states"]["stop2"]["wakeup_us"] * 1e-6
    n_wake = periods - 1                       # the run ends asleep: no wake-up after it
    e_wake = p_run * t_wake                    # no wake-up energy in the catalog
    expect = periods * (p_run * 2e-3 + p_stop2 * 8e-3) + n_wake * e_wake
    assert r.energy_j == approx(expect)
    assert r.seconds == approx(periods * 10e-3 + n_wake * t_wake)
    assert r.wakeups["count"] == n_wake
    assert r.power_states["stop2"]["seconds"] == approx(periods * 8e-3)
    assert r.power_states["wakeup"]["energy_j"] == approx(n_wake * e_wake)
    # windows partition the run: they sum to the total; window 0 has no wake-up
    assert sum(w["energy_j"] for w in r.windows) == approx(r.energy_j)
    assert r.windows[0]["energy_uj"] == approx((p_run * 2e-3 + p_stop2 * 8e-3) * 1e6)
    assert r.windows[1]["energy_j"] == approx(p_run * 2e-3 + p_stop2 * 8e-3 + e_wake)
    assert r.windows[1]["avg_power_w"] == approx(r.windows[1]["energy_j"] / (10e-3 + t_wake))
    assert r.window_avg_power_w == approx(r.avg_power_w)


def test_deepsleep_default_mapping_is_catalog_default(l4, model):
    f = 120e6
    tl = Timeline(total_cycles=1200, clock_changes=[(0, f)], power_states=[(0, "deepsleep")])
    r = account(tl, model)
    d = l4["power"]["deep_sleep_default"]
    assert list(r.power_states) == [d]
    assert r.energy_j == approx((l4["states"][d]["current_ua"] * 1e-6 + board_a(l4))
                                * l4["power"]["vdd_v"] * 1200 / f)


@pytest.fixture()
def dvfs_model(tmp_path, mcu):
    """A what-if power file that adds a Range 2 run current (hypothetical test numbers)."""
    p = tmp_path / "l4_r2.toml"
    p.write_text('extends = "stm32l4r5"\n'
                 '[run.range2.flash_accel_on]\n'
                 'run_ua_per_mhz = 80.0   # hypothetical, test only\n'
                 'run_static_ua = 250.0   # hypothetical, test only\n')
    return PowerModel.from_catalog(str(p), mcu)


def test_dvfs_120_to_26_mhz_with_range_change(l4, dvfs_model):
    c_switch = 600_000                 # 5 ms at 120 MHz
    c_total = c_switch + 260_000       # + 10 ms at 26 MHz
    tl = Timeline(total_cycles=c_total, clock_changes=[(0, 120e6), (c_switch, 26e6)],
                  voltage_ranges=[(0, "range1_boost"), (c_switch, "range2")],
                  layers=[{"index": 0, "op": "CONV_2D", "macs": 1, "begin": 0,
                           "end": 300_000},
                          {"index": 1, "op": "FC", "macs": 1, "begin": 300_000,
                           "end": 700_000},
                          {"index": 2, "op": "SOFTMAX", "macs": 1, "begin": 700_000,
                           "end": c_total}])
    r = account(tl, dvfs_model)
    v = l4["power"]["vdd_v"]
    i_hi = run_a(l4, "range1_boost", 120)
    i_lo = (250.0 + 80.0 * 26) * 1e-6 + board_a(l4, 26)
    e_hi, e_lo = i_hi * v * 5e-3, i_lo * v * 10e-3
    assert r.energy_j == approx(e_hi + e_lo)
    assert r.seconds == approx(15e-3)
    assert r.peak_power_w == approx(i_hi * v)
    # layer 1 straddles the switch: 300k cycles at 120 MHz + 100k cycles at 26 MHz
    assert r.layers[1]["energy_j"] == approx(i_hi * v * 300_000 / 120e6
                                             + i_lo * v * 100_000 / 26e6)
    assert r.layers[1]["seconds"] == approx(2.5e-3 + 100_000 / 26e6)
    assert sum(x["energy_j"] for x in r.layers) == approx(r.energy_j)
    # the same run with the range implied by the clock (DVFS "auto")
    r2 = account(Timeline(total_cycles=c_total, clock_changes=[(0, 120e6), (c_switch, 26e6)],
                          voltage_ranges=[(0, "auto")]), dvfs_model)
    assert r2.energy_j == approx(r.energy_j)
    assert {s.vrange for s in r2.segments} == {"range1_boost", "range2"}


def test_dvfs_without_range_data_falls_back_with_warning(l4, model):
    tl = Timeline(total_cycles=260_000, clock_changes=[(0, 26e6)],
                  voltage_ranges=[(0, "range2")])
    r = account(tl, model)
    # the catalog has no Range 2 currents: the nearest higher range with data (Range 1)
    assert r.energy_j == approx(run_a(l4, "range1", 26) * l4["power"]["vdd_v"] * 10e-3)
    assert any("range2" in w and "run.range1." in w for w in r.warnings)


def test_functions_sum_to_run_energy_and_layers_windows_to_interval(l4, model):
    f = 120e6
    tl = Timeline(
        total_cycles=1_000_000, clock_changes=[(0, f)],
        power_states=[(0, "run"), (600_000, "sleep"), (700_000, "run")],
        functions=[{"name": "conv", "cycles": 500_000, "instructions": 400_000},
                   {"name": "fc", "cycles": 250_000, "instructions": 200_000},
                   {"name": "main", "cycles": 150_000, "instructions": 90_000}],
        layers=[{"index": 0, "op": "CONV_2D", "macs": 10, "begin": 100_000, "end": 650_000},
                {"index": 1, "op": "FULLY_CONNECTED", "macs": 5, "begin": 650_000,
                 "end": 900_000}],
        windows=[(100_000, 900_000)])
    r = account(tl, model)
    v = l4["power"]["vdd_v"]
    p_run, p_sleep = run_a(l4, "range1_boost", 120) * v, sleep_a(l4, 120) * v
    assert r.run_energy_j == approx(p_run * 900_000 / f)
    assert sum(x["energy_j"] for x in r.functions) == approx(r.run_energy_j)
    assert r.functions[0]["energy_j"] == approx(p_run * 500_000 / f)
    assert r.unattributed_run_energy_j == 0.0
    # layer 0: 500k run + 50k sleep cycles; layer 1: 50k sleep + 200k run
    assert r.layers[0]["energy_j"] == approx((p_run * 500_000 + p_sleep * 50_000) / f)
    assert r.layers[1]["energy_j"] == approx((p_sleep * 50_000 + p_run * 200_000) / f)
    assert r.layers[0]["energy_j"] + r.layers[1]["energy_j"] == approx(r.windows[0]["energy_j"])
    assert r.windows[0]["seconds"] == approx(800_000 / f)


def test_vdd_override_and_code_location(l4, mcu):
    m = PowerModel.from_catalog("stm32l4r5", mcu, vdd_v=3.3)
    assert m.vdd_v == 3.3
    r = account(Timeline.constant(120_000, 120e6), m)
    # LDO: same current, power scales with VDD
    assert r.avg_power_w == approx(run_a(l4, "range1_boost", 120) * 3.3)
    r_sram = account(Timeline.constant(120_000, 120e6, locations=[(0, "sram")]), m)
    assert r_sram.energy_j == approx(r.energy_j)         # no SRAM data: default location
    assert any("'sram'" in w for w in r_sram.warnings)


def test_smps_scaling_and_access_energy(tmp_path):
    p = tmp_path / "what_if.toml"
    p.write_text('[power]\ndescription = "test part"\nvdd_v = 1.8\ndatasheet_vdd_v = 3.3\n'
                 'regulator = "smps"\n'
                 '[run.r1]\nmax_clock_mhz = 100\n'
                 '[run.r1.flash_accel_on]\nrun_ua_per_mhz = 20.0\n'
                 '[access_energy]\nenabled = true\nflash_read_through_pj = 15.0\n'
                 'instr_mac_pj = 2.5\n')
    m = PowerModel.from_catalog(str(p))
    i = 20.0 * 50 * 1e-6 * 3.3 / 1.8                     # constant-power converter
    assert m.run_current_a(50e6) == approx(i)
    with pytest.raises(CatalogError, match="exceeds every voltage range"):
        m.implied_range(101e6)
    tl = Timeline.constant(50_000, 50e6, access_counts={"flash_read_through": 1000,
                                                         "instr_mac": 400})
    r = account(tl, m)
    acc = 1000 * 15e-12 + 400 * 2.5e-12      # SMPS without smps_power_ratio: constant energy
    assert r.access_energy_j == approx(acc)
    assert r.energy_j == approx(i * 1.8 * 1e-3 + acc)


def test_catalog_without_sleep_or_states_warns():
    m = PowerModel.from_catalog(None, load_mcu("stm32g0b1"))
    tl = Timeline(total_cycles=64_000, clock_changes=[(0, 64e6)],
                  power_states=[(0, "run"), (32_000, "sleep"), (48_000, "deepsleep")])
    r = account(tl, m)
    assert r.energy_j > 0
    assert any("[sleep]" in w for w in r.warnings)
    assert any("deep" in w for w in r.warnings)


# ---------------------------------------------------------------------------- traces

def test_csv_rows_parse_back_and_sum_to_total(tmp_path, model):
    f = 120e6
    tl = Timeline(total_cycles=2_400_000, clock_changes=[(0, f), (1_800_000, 26e6)],
                  voltage_ranges=[(0, "auto")],
                  power_states=[(0, "run"), (600_000, "deepsleep"), (1_200_000, "run"),
                                (2_000_000, "sleep")], deep_sleep_state="stop1")
    r = account(tl, model)
    path = tmp_path / "trace.csv"
    n = write_power_trace_csv(path, tl, model)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n == len(r.segments)
    assert {"t_start_s", "t_end_s", "state", "clock_hz", "vrange", "current_a", "power_w",
            "energy_j"} <= set(rows[0])
    assert math.fsum(float(x["energy_j"]) for x in rows) == pytest.approx(r.energy_j, rel=1e-12)
    assert float(rows[-1]["t_end_s"]) == pytest.approx(r.seconds, rel=1e-12)
    for a, b in zip(rows, rows[1:]):
        assert float(a["t_end_s"]) == float(b["t_start_s"])
    assert [x["state"] for x in rows] == ["run", "stop1", "wakeup:stop1", "run", "run",
                                          "sleep"]
    for x in rows:
        assert float(x["power_w"]) == pytest.approx(float(x["current_a"]) * model.vdd_v)


def test_png_written(tmp_path, model):
    tl = Timeline(total_cycles=1_200_000, clock_changes=[(0, 120e6)],
                  power_states=[(0, "run"), (120_000, "deepsleep"), (1_000_000, "run")])
    out = tmp_path / "trace.png"
    plot_power_trace(out, tl, model, title="duty cycle")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
