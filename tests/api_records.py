"""Run records shared by the API, check and plugin tests: each distinct run happens once per
test session (the simulator is deterministic, so a cached record is the record).

The model is the built-in `ad` (the smallest MLPerf Tiny model: ~1 s of host time per run).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FW = REPO / "firmware_images"
PREBUILT = FW / "prebuilt"
HAVE_CROSS = shutil.which("arm-none-eabi-gcc") is not None

# the L4R5 with one more flash wait state at 120 MHz (5 -> 6), as a user's catalog file
WS6_TOML = """\
# stm32l4r5 with one more flash wait state at 120 MHz
extends = "stm32l4r5"
[flash.wait_states]
range1_boost = [ { max_mhz = 20, ws = 0 }, { max_mhz = 40, ws = 1 }, { max_mhz = 60, ws = 2 },
                 { max_mhz = 80, ws = 3 }, { max_mhz = 100, ws = 4 }, { max_mhz = 120, ws = 6 } ]
"""


@functools.lru_cache(maxsize=None)
def ad(kernels: str = "opt", mcu: str = "stm32l4r5", elf: str | None = None, mode: str = "fast"):
    """`mcusim.infer("ad", ...)` once per argument set."""
    import mcusim
    return mcusim.infer("ad", mcu=mcu, kernels=kernels, elf=elf, mode=mode)


@functools.lru_cache(maxsize=None)
def ws6_catalog(directory: str) -> str:
    p = Path(directory) / "l4r5_ws6.toml"
    p.write_text(WS6_TOML)
    return str(p)


@functools.lru_cache(maxsize=None)
def infer_image(directory: str, opt_flag: str) -> str:
    """The cortex-m4f infer-opt image rebuilt from the checkout's sources with the inference
    code at `opt_flag` (-O2 is the Makefile's; -Os the variant)."""
    work = Path(directory) / f"fw{opt_flag}"
    if not work.exists():
        shutil.copytree(FW, work, ignore=shutil.ignore_patterns("build", "prebuilt"))
    out = work / "out" / "cortex-m4f" / "infer-opt.elf"
    r = subprocess.run(["make", "-j2", "-C", str(work), "OUT=out", "BUILD=b",
                        "out/cortex-m4f/infer-opt.elf", f"INFER_CFLAGS=-Iapp -Iruntime {opt_flag}"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return str(out)
