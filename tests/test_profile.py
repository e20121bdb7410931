"""Profiles: exclusive/inclusive cycles per function, call counts, collapsed stacks, layers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NVIC = ROOT / "firmware_images" / "prebuilt" / "cortex-m4f" / "nvic.elf"


def run(tmp_path, native: bool):
    js, col = tmp_path / f"r{native}.json", tmp_path / f"c{native}.txt"
    env = dict(os.environ, MCUSIM_NATIVE="1" if native else "0")
    r = subprocess.run([sys.executable, "-m", "mcusim", "run", str(NVIC), "--mcu", "generic-m4",
                        "--json", str(js), "--collapsed", str(col), "--profile"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    stacks = {}
    for line in col.read_text().splitlines():
        k, v = line.rsplit(" ", 1)
        stacks[k] = int(v)
    return json.loads(js.read_text()), stacks


def test_call_tree(tmp_path):
    rec, stacks = run(tmp_path, native=True)
    f = {r["name"]: r for r in rec["functions"]}
    # on ideal memory every cycle outside exception entry/exit is some block's cost
    blocks_total = sum(r["cycles"] for r in rec["functions"] if not r["name"].startswith("["))
    assert blocks_total + rec["stalls"]["exception"] == rec["cycles"]
    assert sum(stacks.values()) == blocks_total
    assert f["main"]["calls"] == 1
    assert f["main"]["inclusive_cycles"] >= f["main"]["cycles"]
    # inclusive of main = the sum of every stack through main
    through_main = sum(v for k, v in stacks.items() if ";main" in k)
    assert f["main"]["inclusive_cycles"] == through_main
    # interrupt handlers appear as callees of the code they interrupted
    assert any(k.endswith("IRQ10_Handler") or ";IRQ10_Handler;" in k for k in stacks)
    # a leaf function: inclusive == exclusive
    leaves = [r for r in rec["functions"] if r.get("inclusive_cycles") and
              not any(k.split(";")[-1] != r["name"] and f";{r['name']};" in k + ";" for k in stacks)]
    assert any(r["inclusive_cycles"] == r["cycles"] for r in leaves)


def test_native_and_python_profiles_identical(tmp_path):
    rn, sn = run(tmp_path, native=True)
    rp, sp = run(tmp_path, native=False)
    assert sn == sp
    assert [(r["name"], r["cycles"], r["inclusive_cycles"], r["calls"]) for r in rn["functions"]] == \
           [(r["name"], r["cycles"], r["inclusive_cycles"], r["calls"]) for r in rp["functions"]]


def test_layer_cycles_by_cause():
    sys.path.insert(0, str(ROOT))
    from mcusim.infer import run_inference
    for mcu, zero_memory in (("generic-m4", True), ("stm32l4r5", False)):
        rec = run_inference("ad", mcu, kernels="opt", power=False).record
        for row in rec["layers"]:
            st = row["stalls"]
            assert sum(st.values()) == row["cycles"]
            assert st["core"] > 0 and st["memory"] >= 0 and st["sleep"] == 0
            if zero_memory:
                assert st["memory"] == 0, (mcu, row)
        if not zero_memory:
            # flash weights through the ART: the FC layers see memory stalls
            assert sum(r["stalls"]["memory"] for r in rec["layers"]) > 0
