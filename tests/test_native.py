"""The native (C) block hook and the Python one give the same results, to the cycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRE = ROOT / "firmware_images" / "prebuilt"

CASES = [
    ("cortex-m4f/systick.elf", "stm32l4r5", None),
    ("cortex-m4f/nvic.elf", "stm32l4r5", None),
    ("cortex-m4f/svc_pendsv.elf", "stm32l4r5", None),
    ("cortex-m4f/fault_div0.elf", "stm32l4r5", None),
    ("cortex-m4f/uart.elf", "stm32l4r5", "hello"),
    ("cortex-m0plus/nvic.elf", "stm32g0b1", None),
    ("cortex-m7f/fpu_ctx.elf", "stm32h7a3", None),
    ("cortex-m33/systick.elf", "stm32u585", None),
    ("cortex-m4f/wfi_forever.elf", "stm32l4r5", None),
]


def run(elf, mcu, uart, native, tmp_path, mode="fast", pcsync=True):
    out = tmp_path / f"{Path(elf).stem}-{mcu}-{native}-{mode}-{pcsync}.json"
    args = [sys.executable, "-m", "mcusim", "run", str(PRE / elf), "--mcu", mcu, "--json", str(out),
            "--max-cycles", "20000000", "--mode", mode]
    if uart:
        args += ["--uart-input", uart]
    env = dict(os.environ, MCUSIM_NATIVE="1" if native else "0",
               MCUSIM_PCSYNC="1" if pcsync else "0")
    r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    return r.returncode, json.loads(out.read_text())


def test_native_hook_is_available():
    from mcusim.timing.blocks import native_library
    assert native_library() is not None, "no C compiler? the native hook could not be built"


@pytest.mark.parametrize("elf,mcu,uart", CASES, ids=[f"{e}@{m}" for e, m, _ in CASES])
def test_native_equals_python(elf, mcu, uart, tmp_path):
    rc_n, n = run(elf, mcu, uart, True, tmp_path)
    rc_p, p = run(elf, mcu, uart, False, tmp_path)
    _same(rc_n, n, rc_p, p)


# Detailed mode hooks every access: the native hook switches Unicorn's per-access PC sync
# off (mcusim/timing/pcsync.py) and back on before each stop, which the stops of these
# programs exercise (interrupts, SVC, faults, UART MMIO inside blocks). The Python path
# keeps the sync.
DETAILED = [c for c in CASES if c[0] in ("cortex-m4f/uart.elf", "cortex-m4f/fault_div0.elf",
                                         "cortex-m4f/svc_pendsv.elf", "cortex-m7f/fpu_ctx.elf",
                                         "cortex-m33/systick.elf")]


@pytest.mark.parametrize("elf,mcu,uart", DETAILED, ids=[f"{e}@{m}" for e, m, _ in DETAILED])
def test_native_without_pc_sync_equals_python_detailed(elf, mcu, uart, tmp_path):
    from mcusim.timing import pcsync
    assert pcsync.flag_offset(), "the PC-sync switch was not found in this Unicorn"
    rc_n, n = run(elf, mcu, uart, True, tmp_path, mode="detailed")
    rc_p, p = run(elf, mcu, uart, False, tmp_path, mode="detailed")
    _same(rc_n, n, rc_p, p)


def _same(rc_n, n, rc_p, p):
    assert rc_n == rc_p
    for key in ("outcome", "exit_code", "cycles", "instructions", "stdout", "energy_j"):
        assert n[key] == p[key], key
    assert [(f["name"], f["cycles"], f["instructions"]) for f in n["functions"]] == \
           [(f["name"], f["cycles"], f["instructions"]) for f in p["functions"]]
