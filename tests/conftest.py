"""Shared test scaffolding: where things are, and small run helpers.

`SHARED` is the workplace's shared directory (MLPerf Tiny models, real TFLite Micro
firmware, reference facts): ../shared next to the checkout, or $MCUSIM_SHARED.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MCUSIM_SHARED", REPO.parent / "shared"))
PREBUILT = REPO / "firmware_images" / "prebuilt"
TFLM = SHARED / "firmware" / "tflm"

# The MCU each firmware target is linked for.
TARGET_MCU = {
    "cortex-m0plus": "stm32g0b1",
    "cortex-m3": "generic-m3",
    "cortex-m4f": "stm32l4r5",
    "cortex-m7f": "stm32h7a3",
    "cortex-m33": "stm32u585",
}


class NullSink:
    """A stdout/stderr for in-process runs whose output is read from machine.captured."""

    def write(self, data):
        return len(data)

    def flush(self):
        pass


def run_elf(elf, mcu: str, *, mode: str = "fast", clock_mhz=None, verify=False,
            verify_interval=None, max_cycles: int = 200_000_000, timeout: float | None = 600,
            uart_input: bytes = b"", setup=None):
    """Run an ELF in-process; returns the finished Machine (with .verifier when verifying)."""
    from mcusim.catalog import load_mcu
    from mcusim.elf import load_firmware
    from mcusim.machine import Machine
    warnings: list[str] = []
    m = Machine(load_mcu(mcu), mode=mode, clock_mhz=clock_mhz, stdout=NullSink(),
                stderr=NullSink(), warn=warnings.append, uart_input=uart_input)
    m.warnings = warnings
    m.load(load_firmware(str(elf)))
    m.reset()
    if verify:
        from mcusim.verify import attach
        attach(m, verify_interval)
    if setup is not None:
        setup(m)
    m.run(max_cycles=max_cycles, timeout=timeout)
    return m
