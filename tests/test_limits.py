"""Limits end a run with outcome 'limit' and exit status 4: cycles, wall-clock time,
asleep with nothing to wake it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRE = ROOT / "firmware_images" / "prebuilt" / "cortex-m4f"


def run(tmp_path, elf, *extra, native=True):
    out = tmp_path / "r.json"
    env = dict(os.environ, MCUSIM_NATIVE="1" if native else "0")
    r = subprocess.run([sys.executable, "-m", "mcusim", "run", str(PRE / elf), "--json", str(out),
                        *map(str, extra)], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=300)
    return r, json.loads(out.read_text())


def test_max_cycles(tmp_path):
    r, rec = run(tmp_path, "longloop.elf", "--max-cycles", 1_000_000)
    assert r.returncode == 4 and rec["outcome"] == "limit"
    assert "cycle limit" in rec["limit"]
    assert 1_000_000 <= rec["cycles"] < 1_000_000 + 100     # stops within one basic block


def test_wall_clock_timeout(tmp_path):
    r, rec = run(tmp_path, "longloop.elf", "--timeout", "0.05", native=False)
    assert r.returncode == 4 and rec["outcome"] == "limit"
    assert "timeout" in rec["limit"]
    assert 0 < rec["cycles"] < 77_000_000


def test_asleep_forever(tmp_path):
    r, rec = run(tmp_path, "wfi_forever.elf")
    assert r.returncode == 4 and rec["outcome"] == "limit"
    assert "asleep" in rec["limit"] and "nothing" in rec["limit"]
    assert "mcusim: limit:" in r.stderr


def test_same_elf_same_cycles(tmp_path):
    a = run(tmp_path, "nvic.elf")[1]
    b = run(tmp_path, "nvic.elf")[1]
    assert (a["cycles"], a["instructions"], a["energy_j"]) == (b["cycles"], b["instructions"], b["energy_j"])


def test_systick_calib_reports_the_reference_clock():
    # Armv7-M B3.3.6: NOREF clear (HCLK/8 reference exists), TENMS = reload for 10 ms
    import sys
    sys.path.insert(0, str(ROOT))
    from mcusim.catalog import load_mcu
    from mcusim.machine import Machine
    from mcusim.systick import CALIB as SYST_CALIB
    m = Machine(load_mcu("stm32l4r5"))
    v = m.scs.systick.read(SYST_CALIB, 0)
    assert v >> 31 == 0 and (v >> 30) & 1 == 0
    assert v & 0xFFFFFF == 120_000_000 // 8 // 100 - 1
