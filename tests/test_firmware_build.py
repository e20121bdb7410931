"""The committed prebuilt ELFs are exactly what `make -C firmware_images` builds from the
committed sources with Debian's arm-none-eabi-gcc (so users need no cross-compiler, and
the sources are the truth)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware_images"


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                    reason="arm-none-eabi-gcc not installed (make -C firmware_images toolchain)")
def test_prebuilt_elfs_rebuild_identically(tmp_path):
    src = tmp_path / "firmware_images"
    shutil.copytree(FW, src, ignore=shutil.ignore_patterns("build", "prebuilt"))
    r = subprocess.run(["make", "-j2", "-C", str(src)], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    built = {p.relative_to(src / "prebuilt") for p in (src / "prebuilt").rglob("*.elf")}
    committed = {p.relative_to(FW / "prebuilt") for p in (FW / "prebuilt").rglob("*.elf")}
    assert built == committed, (sorted(built ^ committed))
    differ = [str(p) for p in sorted(built)
              if (src / "prebuilt" / p).read_bytes() != (FW / "prebuilt" / p).read_bytes()]
    assert not differ, f"prebuilt ELFs out of date with their sources: {differ}"
