"""Energy of real firmware against hand computation from the power catalog.

dutycycle.elf (firmware_images/tests/dutycycle.c) runs 10 periods of 2 ms busy + 8 ms in
WFI sleep at 120 MHz on stm32l4r5 (SysTick period 120,000 cycles = 1 ms). By hand:
E = VDD * (I_run * t_run + I_sleep * t_sleep) + activity, I_run = 110 uA/MHz * 120 MHz +
board, I_sleep = 30 uA/MHz * 120 MHz + board (board: the NUCLEO-L4R5ZI rail's extra_ua),
activity = sum of the run's event counts x the catalog's pJ per event x VDD / datasheet VDD
(LDO) (values read from power_models/stm32l4r5.toml), t_run ~ 20 ms, t_sleep ~ 80 ms."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ELF = ROOT / "firmware_images" / "prebuilt" / "cortex-m4f" / "dutycycle.elf"


def run(tmp_path, *extra):
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "mcusim", "run", str(ELF), "--json", str(out), *extra],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def catalog():
    return tomllib.loads((ROOT / "power_models" / "stm32l4r5.toml").read_text())


def board_a(catalog):
    return catalog.get("board", {}).get("extra_ua", 0.0) * 1e-6


def activity_j(catalog, counts):
    """The run's activity energy by hand: counts x pJ, at VDD (LDO: x VDD / datasheet VDD)."""
    ae = catalog.get("access_energy", {})
    if not ae.get("enabled"):
        return 0.0
    p = catalog["power"]
    scale = p["vdd_v"] / p.get("datasheet_vdd_v", p["vdd_v"])
    return sum(n * ae[f"{e}_pj"] for e, n in counts.items() if n) * 1e-12 * scale


def test_duty_cycle_energy_by_hand(tmp_path, catalog):
    rec = run(tmp_path)
    vdd = catalog["power"]["vdd_v"]
    i_run = catalog["run"]["range1_boost"]["flash_accel_on"]["run_ua_per_mhz"] * 120 * 1e-6 \
        + board_a(catalog)
    i_sleep = catalog["sleep"]["sleep_ua_per_mhz"] * 120 * 1e-6 + board_a(catalog)
    t_run, t_sleep = 20e-3, 80e-3
    act = activity_j(catalog, rec["activity"])
    assert rec["activity_energy_j"] == pytest.approx(act, rel=1e-9)
    assert act > 0
    expected = vdd * (i_run * t_run + i_sleep * t_sleep) + act
    # time: 100 ms (10 x 10 SysTick periods) plus start-up and handler cycles
    assert rec["seconds"] == pytest.approx(0.100, rel=2e-4)
    st = rec["power_states"]
    assert st["run"]["seconds"] == pytest.approx(t_run, rel=5e-3)
    assert st["sleep"]["seconds"] == pytest.approx(t_sleep, rel=5e-3)
    assert rec["energy_j"] == pytest.approx(expected, rel=5e-3)
    # the state energies are exactly I * VDD * t of each state
    # the run state carries the activity energy (the states sum to the total)
    assert st["run"]["energy_j"] == pytest.approx(vdd * i_run * st["run"]["seconds"] + act,
                                                  rel=1e-9)
    assert sum(s["energy_j"] for s in st.values()) == pytest.approx(rec["energy_j"], rel=1e-12)
    assert st["sleep"]["energy_j"] == pytest.approx(vdd * i_sleep * st["sleep"]["seconds"], rel=1e-9)
    assert rec["avg_power_w"] == pytest.approx(rec["energy_j"] / rec["seconds"], rel=1e-9)


def test_trace_csv_sums_to_total(tmp_path):
    csv_path = tmp_path / "trace.csv"
    rec = run(tmp_path, "--power-trace", str(csv_path))
    import csv
    rows = list(csv.DictReader(csv_path.open()))
    assert {r["state"] for r in rows} >= {"run", "sleep"}
    # the trace is the baseline over time; activity energy has no place in time
    # (docs/power.md) and is the difference
    assert sum(float(r["energy_j"]) for r in rows) == pytest.approx(
        rec["energy_j"] - rec.get("activity_energy_j", 0.0), rel=1e-9)
    # 10 sleep phases, each woken 8 times by SysTick
    assert sum(1 for r in rows if r["state"] == "sleep") == 80


def test_dvfs_halving_clock(tmp_path, catalog):
    """At 60 MHz the same firmware (its SysTick counts core cycles) takes twice as long
    (the cycle count moves only by flash wait states: 2 at 60 MHz, 5 at 120); sleep power
    halves with the clock (uA/MHz), so sleep energy stays; run power follows the voltage
    range the clock implies (range1 up to 80 MHz)."""
    fast = run(tmp_path)
    slow = run(tmp_path, "--clock-mhz", "60")
    assert slow["cycles"] == pytest.approx(fast["cycles"], rel=1e-4)
    assert slow["seconds"] == pytest.approx(2 * fast["seconds"], rel=1e-4)
    vdd = catalog["power"]["vdd_v"]
    i_run60 = catalog["run"]["range1"]["flash_accel_on"]["run_ua_per_mhz"] * 60 * 1e-6 \
        + board_a(catalog)
    assert slow["power_states"]["run"]["energy_j"] == pytest.approx(
        vdd * i_run60 * slow["power_states"]["run"]["seconds"]
        + activity_j(catalog, slow["activity"]), rel=1e-9)
    # the clock-proportional part of the sleep energy stays; the board rail (a constant
    # current) costs in proportion to the time
    def sleep_clocked(r):
        st = r["power_states"]["sleep"]
        return st["energy_j"] - vdd * board_a(catalog) * st["seconds"]
    assert sleep_clocked(slow) == pytest.approx(sleep_clocked(fast), rel=1e-4)
