"""Spin-waits on status flags (SysTick COUNTFLAG, UART TXE/TC, timer UIF) are fast-forwarded:
the same simulated time and energy as executing every poll, within one loop iteration per
wait, at a fraction of the host time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcusim.catalog import load_mcu  # noqa: E402
from mcusim.elf import load_firmware  # noqa: E402
from mcusim.machine import Machine  # noqa: E402
from mcusim.power.run_energy import add_energy  # noqa: E402
from mcusim.record import build_record  # noqa: E402

PRE = ROOT / "firmware_images" / "prebuilt" / "cortex-m4f"


class Sink:
    def __init__(self):
        self.data = b""

    def write(self, d):
        self.data += d
        return len(d)

    def flush(self):
        pass


def run(elf, skip, uart=b""):
    out = Sink()
    m = Machine(load_mcu("stm32l4r5"), stdout=out, stderr=out, uart_input=uart, skip_spin_waits=skip)
    m.load(load_firmware(str(PRE / elf)))
    m.reset()
    m.run(max_cycles=50_000_000)
    rec = build_record(m)
    add_energy(rec, m)
    return m, rec, out.data


@pytest.mark.parametrize("elf,uart,waits", [("dutycycle.elf", b"", 20), ("uart.elf", b"hello", 40)])
def test_fast_forward_matches_full_polling(elf, uart, waits):
    m0, r0, out0 = run(elf, False, uart)
    m1, r1, out1 = run(elf, True, uart)
    assert out0 == out1 and r0["exit_code"] == r1["exit_code"] == 0
    assert m1.spin_cycles > 0
    # each fast-forwarded wait ends at the flag change instead of the next poll after it
    assert abs(r1["cycles"] - r0["cycles"]) <= 10 * waits
    # energy: time is the same; the activity energy of skipped polls (words fetched and
    # read, power_models [access_energy]) is counted for single-block polling loops only
    # (uart.elf polls through a call: 0.34% less energy when skipped; dutycycle.elf 2e-6)
    assert r1["energy_j"] == pytest.approx(r0["energy_j"], rel=1e-4 if elf == "dutycycle.elf" else 5e-3)
    # skipped iterations of single-block polling loops are still counted as instructions
    assert r1["instructions"] == pytest.approx(r0["instructions"], rel=0.25)
