"""CoreMark's activity in mcusim, for the datasheet-derived energy per 32-bit word.

DS13086 (STM32U585) Table 44 gives the supply current at 160 MHz, Range 1, SMPS at
VDD = 1.8 V, for CoreMark (10.50 mA) and for while(1) (7.90 mA), same conditions. The
difference is what CoreMark's activity costs above a core that spins in its fetch buffer.
With CoreMark's activity counted by mcusim (words fetched, read and written per cycle) the
energy per word follows (experiments/energy/README.md "Derivation").

CoreMark itself is not part of this repository (EEMBC, Apache-2.0 code with its own
trademark terms): give a checkout of github.com/eembc/coremark (read at commit d5fad6b):

    python experiments/energy/coremark.py /path/to/coremark

It builds CoreMark (performance run, 2K data, 20 iterations, arm-none-eabi-gcc -O3) with a
minimal port (DWT CYCCNT clock, semihosting printf, this repository's start-up code) for
the Cortex-M33 and Cortex-M4F targets, runs it on stm32u585 and stm32l4r5 in detailed
mode, checks CoreMark's own CRCs (list 0xe714, matrix 0x1fd7, state 0x8e3a) and writes
experiments/energy/coremark.json: cycles and activity counts of the whole run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
FW = ROOT / "firmware_images"
OUT = Path(__file__).resolve().parent / "coremark.json"

SOURCES = ("core_list_join.c", "core_main.c", "core_matrix.c", "core_state.c", "core_util.c")
TARGETS = {
    "stm32u585": ("-mcpu=cortex-m33 -mthumb -mfpu=fpv5-sp-d16 -mfloat-abi=hard "
                  "-DTARGET_CORTEX_M33", "cortex-m33.ld", 160_000_000),
    "stm32l4r5": ("-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard "
                  "-DTARGET_CORTEX_M4F", "cortex-m4f.ld", 120_000_000),
}
CRCS = {"crclist": "0xe714", "crcmatrix": "0x1fd7", "crcstate": "0x8e3a"}


def port(src: Path, dst: Path) -> None:
    """CoreMark's barebones port with a clock: DWT CYCCNT (enabled in portable_init)."""
    h = (src / "barebones" / "core_portme.h").read_text()
    (dst / "core_portme.h").write_text("#include <stddef.h>\n" + h)
    c = (src / "barebones" / "core_portme.c").read_text()
    c = re.sub(r'#error \\\n\s*"You must implement a method to measure time[^\n]*\n',
               "    return *(volatile unsigned int *)0xE0001004u;   /* DWT CYCCNT */\n", c)
    c = re.sub(r'#error \\\n\s*"Call board initialization[^\n]*\n', "", c)
    c = c.replace("#define EE_TICKS_PER_SEC           (CLOCKS_PER_SEC / TIMER_RES_DIVIDER)",
                  "#define EE_TICKS_PER_SEC           (CPU_HZ / TIMER_RES_DIVIDER)")
    c = c.replace("portable_init(core_portable *p, int *argc, char *argv[])\n{",
                  "portable_init(core_portable *p, int *argc, char *argv[])\n{\n"
                  "    *(volatile unsigned int *)0xE000EDFCu |= 1u << 24;  /* DEMCR.TRCENA */\n"
                  "    *(volatile unsigned int *)0xE0001000u |= 1u;        /* CYCCNTENA */\n")
    if "#error" in c:
        raise SystemExit("unexpected barebones/core_portme.c: a port #error is left")
    (dst / "core_portme.c").write_text(c)
    for f in SOURCES + ("coremark.h",):
        (dst / f).write_text((src / f).read_text())


def build(src: Path, work: Path, mcu: str) -> Path:
    arch, ld, hz = TARGETS[mcu]
    elf = work / f"coremark_{mcu}.elf"
    cmd = (["arm-none-eabi-gcc"] + arch.split() +
           ["-O3", "-g", "-std=gnu11", "-ffunction-sections", "-fdata-sections", "-fno-common",
            f"-I{FW / 'include'}", f"-I{FW / 'common'}", f"-I{work}",
            "-DHAS_PRINTF=1", "-DHAS_STDIO=1", "-DPERFORMANCE_RUN=1", "-DITERATIONS=20",
            f"-DCPU_HZ={hz}", '-DFLAGS_STR="-O3"'] +
           [str(work / f) for f in SOURCES + ("core_portme.c",)] +
           [str(FW / "common" / f) for f in ("startup.c", "semihost.c", "syscalls.c")] +
           ["--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles", "-Wl,--gc-sections",
            f"-L{FW / 'ld'}", f"-T{ld}", "-o", str(elf)])
    subprocess.run(cmd, check=True, capture_output=True)
    return elf


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "core_main.c").is_file():
        print(__doc__)
        return 2
    from mcusim import api
    src = Path(argv[0])
    out = {"coremark": "github.com/eembc/coremark (checkout given on the command line)",
           "build": "arm-none-eabi-gcc -O3, PERFORMANCE_RUN, ITERATIONS=20", "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port(src, work)
        for mcu in TARGETS:
            elf = build(src, work, mcu)
            rec = api.run(elf, mcu, mode="detailed")
            text = rec.stdout if isinstance(rec.stdout, str) else rec.stdout.decode()
            for k, v in CRCS.items():
                if not re.search(rf"\[0\]{k}\s*:\s*{v}", text):
                    raise SystemExit(f"{mcu}: CoreMark {k} is not {v}:\n{text}")
            t = rec.trace
            out["runs"][mcu] = {"cycles": t.cycles, "instructions": t.instructions,
                                "clock_hz": t.clock_hz, "activity": t.activity}
            print(mcu, t.cycles, {k: round(v / t.cycles, 4) for k, v in t.activity.items()})
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
