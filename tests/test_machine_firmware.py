"""The simulator's machine against unmodified bare-metal firmware.

Each test runs a prebuilt ELF from firmware_images/prebuilt/<target>/ (sources in
firmware_images/tests/, built with `make -C firmware_images`) through the CLI as a
subprocess:

    python -m mcusim run ELF --mcu MCU --json OUT --max-cycles N [...]

and checks the exit status (the firmware's own status when it exits through
semihosting; 3 for a fault outcome; 4 for a limit), what the firmware printed, and the
JSON run record (DESIGN.md: "outcome", "exit_code", "cycles", "instructions", "fault").

The programs were written for real STM32 boards from the Arm Architecture Reference
Manuals and the STM32 reference manuals; they are the independent truth here. Most
are self-checking: they print one "ok ..." / "FAIL ..." line per check, then
"<name>: PASS" and exit 0, or exit 1 when a check failed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.firmware

REPO = Path(__file__).resolve().parents[1]
PREBUILT = REPO / "firmware_images" / "prebuilt"

MCU = {
    "cortex-m0plus": "stm32g0b1",
    "cortex-m4f": "stm32l4r5",
    "cortex-m7f": "stm32h7a3",
    "cortex-m33": "stm32u585",
}
ALL = list(MCU)
FP = ["cortex-m4f", "cortex-m7f", "cortex-m33"]
V7 = FP  # Armv7-M / Armv8-M Mainline targets

UNMAPPED_ADDR = 0x60000000

EXIT_FAULT = 3
EXIT_LIMIT = 4

RECORD_KEYS = {
    "mcu", "core", "clock_hz", "mode", "outcome", "exit_code", "cycles", "instructions",
    "seconds", "energy_j", "avg_power_w", "stdout", "fault", "functions", "layers",
    "power_states", "memory",
}

DEFAULT_MAX_CYCLES = 50_000_000


class Run:
    def __init__(self, proc, record):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.record = record

    def explain(self):
        rec = dict(self.record or {})
        for k in ("functions", "layers"):
            rec.pop(k, None)
        return (f"status {self.status}\n--- stdout\n{self.stdout}\n--- stderr\n"
                f"{self.stderr}\n--- record\n{json.dumps(rec, indent=1)[:3000]}")


def elf_path(target, program):
    path = PREBUILT / target / f"{program}.elf"
    assert path.is_file(), f"{path} missing: run `make -C firmware_images`"
    return path


def run_fw(tmp_path, target, program, mcu=None, max_cycles=DEFAULT_MAX_CYCLES,
           extra=(), stdin=None, timeout=600, tag=""):
    out = tmp_path / f"{target}-{program}{tag}.json"
    cmd = [sys.executable, "-m", "mcusim", "run", str(elf_path(target, program)),
           "--mcu", mcu or MCU[target], "--json", str(out),
           "--max-cycles", str(max_cycles), *extra]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, cwd=REPO, env=env, input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)
    record = json.loads(out.read_text()) if out.exists() else None
    return Run(proc, record)


def as_int(v):
    if isinstance(v, str):
        return int(v, 0)
    return v


def assert_passed(run, name):
    """A self-checking program exited 0 through semihosting with every check ok."""
    assert run.status == 0, run.explain()
    assert f"{name}: PASS" in run.stdout, run.explain()
    assert "FAIL" not in run.stdout, run.explain()
    assert run.record is not None, run.explain()
    assert run.record["outcome"] == "exit", run.explain()
    assert run.record["exit_code"] == 0, run.explain()
    assert run.record["fault"] is None, run.explain()


def symbol_range(elf, name):
    elftools = pytest.importorskip("elftools.elf.elffile")
    with open(elf, "rb") as f:
        symtab = elftools.ELFFile(f).get_section_by_name(".symtab")
        for sym in symtab.get_symbol_by_name(name) or []:
            if sym["st_info"]["type"] == "STT_FUNC":
                start = sym["st_value"] & ~1
                return start, start + sym["st_size"]
    raise AssertionError(f"{name} not in {elf}")


def params(programs_targets):
    return [pytest.param(p, t, id=f"{p}-{t}") for p, ts in programs_targets for t in ts]


# ---- semihosting: console and exit -------------------------------------------------------

@pytest.mark.parametrize("target", ALL)
def test_hello(tmp_path, target):
    run = run_fw(tmp_path, target, "hello")
    assert run.status == 0, run.explain()
    assert "hello, world\n" in run.stdout            # SYS_WRITE0
    assert "WRITEC ok\n" in run.stdout               # SYS_WRITEC
    assert "SYS_WRITE stdout\n" in run.stdout        # SYS_WRITE handle 1
    assert "SYS_WRITE stderr\n" in run.stderr        # SYS_WRITE handle 2
    assert "SYS_WRITE stderr" not in run.stdout
    rec = run.record
    assert rec is not None, run.explain()
    assert RECORD_KEYS <= set(rec), sorted(RECORD_KEYS - set(rec))
    assert rec["outcome"] == "exit" and rec["exit_code"] == 0
    assert rec["fault"] is None
    assert "hello, world" in rec["stdout"]
    assert rec["mcu"] == MCU[target]
    assert rec["cycles"] > 0 and rec["instructions"] > 0
    assert rec["cycles"] >= rec["instructions"] // 2


@pytest.mark.parametrize("target", ["cortex-m4f", "cortex-m0plus"])
def test_hello_deterministic(tmp_path, target):
    a = run_fw(tmp_path, target, "hello", tag="-a")
    b = run_fw(tmp_path, target, "hello", tag="-b")
    assert a.status == b.status == 0
    assert a.stdout == b.stdout
    for key in ("cycles", "instructions", "seconds", "energy_j"):
        assert a.record[key] == b.record[key], key


def test_hello_generic_m4(tmp_path):
    run = run_fw(tmp_path, "cortex-m4f", "hello", mcu="generic-m4")
    assert run.status == 0, run.explain()
    assert "hello, world\n" in run.stdout
    assert run.record["mcu"] == "generic-m4"


EXITS = [("exit_3", 3), ("exit_appexit", 0), ("exit_other", 1), ("exit_return", 7)]


@pytest.mark.parametrize("program,status", EXITS, ids=[p for p, _ in EXITS])
@pytest.mark.parametrize("target", ALL)
def test_exit_status(tmp_path, target, program, status):
    run = run_fw(tmp_path, target, program)
    assert run.status == status, run.explain()
    assert "exitcode: leaving\n" in run.stdout
    assert run.record["outcome"] == "exit", run.explain()  # exit_3 is not a fault
    assert run.record["exit_code"] == status
    assert run.record["fault"] is None


def test_exit_3_generic_m4(tmp_path):
    run = run_fw(tmp_path, "cortex-m4f", "exit_3", mcu="generic-m4")
    assert run.status == 3 and run.record["outcome"] == "exit", run.explain()


@pytest.mark.parametrize("target", ALL)
def test_sh_time(tmp_path, target):
    assert_passed(run_fw(tmp_path, target, "sh_time"), "sh_time")


@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m4f"])
def test_readc(tmp_path, target):
    run = run_fw(tmp_path, target, "readc", stdin="abc\n")
    assert run.status == 0, run.explain()
    assert "readc: abc\n" in run.stdout


# ---- exceptions and interrupts ------------------------------------------------------------

@pytest.mark.parametrize("target", ALL)
def test_systick(tmp_path, target):
    run = run_fw(tmp_path, target, "systick")
    assert_passed(run, "systick")
    assert "ok   interrupts counted = 0x00000032" in run.stdout
    assert run.record["cycles"] >= 50 * 1000


def test_systick_generic_m4(tmp_path):
    assert_passed(run_fw(tmp_path, "cortex-m4f", "systick", mcu="generic-m4"), "systick")


@pytest.mark.parametrize("target", ALL)
def test_nvic(tmp_path, target):
    run = run_fw(tmp_path, target, "nvic")
    assert_passed(run, "nvic")
    assert "ok   order by priority then number: 7 8 9 6" in run.stdout
    assert "ok   preemption: 13 nested inside 12" in run.stdout
    assert "ok   tail-chain: 10 runs to completion, then 11" in run.stdout
    assert "ok   IRQ17 via RAM table: RAM handler ran" in run.stdout
    if target != "cortex-m0plus":
        assert "ok   IRQ4 via STIR ran" in run.stdout
        assert "ok   BASEPRI 0x80 masks priority 0xC0" in run.stdout


@pytest.mark.parametrize("target", ALL)
def test_svc_pendsv(tmp_path, target):
    run = run_fw(tmp_path, target, "svc_pendsv")
    assert_passed(run, "svc_pendsv")
    assert "ok   SVC #0x2A immediate" in run.stdout
    assert "ok   PendSV switches = 0x00000008" in run.stdout


@pytest.mark.parametrize("target", FP)
def test_fpu_ctx(tmp_path, target):
    run = run_fw(tmp_path, target, "fpu_ctx")
    assert_passed(run, "fpu_ctx")
    assert "ok   A lazy: frame bytes (26 words) = 0x00000068" in run.stdout
    assert "ok   C no FP: frame bytes (8 words) = 0x00000020" in run.stdout


@pytest.mark.parametrize("target", V7)
def test_dwt(tmp_path, target):
    assert_passed(run_fw(tmp_path, target, "dwt"), "dwt")


# ---- faults -------------------------------------------------------------------------------

@pytest.mark.parametrize("program,target", params([
    ("fault_udf", ALL),
    ("fault_udf_hard", V7),
    ("fault_bus", ALL),
    ("fault_div0", V7),
    ("fault_dsp_on_m0", ["cortex-m0plus"]),
    ("fault_xn", ALL),        # execute-never region: MemManage (IACCVIOL) / HardFault on v6-M
]))
def test_caught_fault(tmp_path, program, target):
    """Faults the firmware handles itself: it checks the syndrome and resumes."""
    run = run_fw(tmp_path, target, program)
    assert_passed(run, program.replace("_hard", ""))
    if program == "fault_bus" and target != "cortex-m0plus":
        assert "ok   BFAR = 0x60000000" in run.stdout
        assert "BFAR = 0x60000000" in run.stdout
    if program == "fault_udf" and target != "cortex-m0plus":
        assert "UsageFault enabled" in run.stdout


@pytest.mark.parametrize("target", ALL)
def test_fault_unhandled(tmp_path, target):
    """A bus error with no handler: BusFault is disabled, so it escalates to HardFault
    (Armv7-M/v8-M ARM: a disabled configurable fault is escalated; Armv6-M has HardFault
    only), whose default handler spins in `b .`. mcusim reports a fault outcome with the
    faulting PC, its function and the bad address."""
    run = run_fw(tmp_path, target, "fault_unhandled", max_cycles=5_000_000)
    assert run.status == EXIT_FAULT, run.explain()
    assert "fault_unhandled: reading unmapped memory" in run.stdout
    assert "FAIL" not in run.stdout
    rec = run.record
    assert rec["outcome"] == "fault", run.explain()
    fault = rec["fault"]
    assert fault is not None
    assert {"type", "pc", "symbol", "address"} <= set(fault)
    assert fault["type"] == "HardFault", fault
    assert fault["symbol"] == "read_unmapped", fault
    assert as_int(fault["address"]) == UNMAPPED_ADDR, fault
    lo, hi = symbol_range(elf_path(target, "fault_unhandled"), "read_unmapped")
    assert lo <= as_int(fault["pc"]) < hi, fault


# ---- sleep, UART, clocks, memories, long runs ---------------------------------------------

@pytest.mark.parametrize("target", ALL)
def test_wfi_forever(tmp_path, target):
    run = run_fw(tmp_path, target, "wfi_forever", max_cycles=2_000_000)
    assert run.status == EXIT_LIMIT, run.explain()
    assert "wfi_forever: sleeping with no wake-up source" in run.stdout
    assert run.record["outcome"] == "limit", run.explain()
    assert run.record["fault"] is None


@pytest.mark.parametrize("target", ALL)
def test_uart(tmp_path, target):
    run = run_fw(tmp_path, target, "uart", extra=["--uart-input", "hello"])
    assert run.status == 0, run.explain()
    assert "uart: type 5 characters" in run.stdout, run.explain()
    out = run.stdout.replace("\r\n", "\n")
    assert "HELLO\n" in out, run.explain()
    assert out.index("HELLO") < out.index("done\n")
    assert run.record["outcome"] == "exit"


def test_rcc_clock(tmp_path):
    run = run_fw(tmp_path, "cortex-m4f", "rcc_clock")
    assert run.status == 0, run.explain()
    assert "clock ok\n" in run.stdout, run.explain()
    assert "timeout" not in run.stdout


def test_memtest(tmp_path):
    assert_passed(run_fw(tmp_path, "cortex-m4f", "memtest"), "memtest")


def test_memtest_sram2_alias(tmp_path):
    """STM32L4R5 also maps SRAM2 at 0x10000000 (RM0432 memory map)."""
    assert_passed(run_fw(tmp_path, "cortex-m4f", "memtest_sram2_alias"), "memtest")


def longloop_checksum(n=7_000_000):
    x, h = 12345, 2166136261
    for _ in range(n):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        h = ((h ^ (x >> 13)) * 16777619) & 0xFFFFFFFF
    return h


@pytest.fixture(scope="module")
def longloop_expected():
    return f"longloop: checksum 0x{longloop_checksum():08x}\n"


@pytest.mark.slow
@pytest.mark.parametrize("target,mcu", [(t, MCU[t]) for t in ALL] +
                         [("cortex-m4f", "generic-m4")])
def test_longloop(tmp_path, target, mcu, longloop_expected):
    run = run_fw(tmp_path, target, "longloop", mcu=mcu, max_cycles=2_000_000_000,
                 timeout=1800)
    assert run.status == 0, run.explain()
    assert longloop_expected in run.stdout
    rec = run.record
    assert rec["outcome"] == "exit"
    # 7M iterations of a 7-instruction (Thumb-2) or 10-instruction (Thumb-1) loop
    assert 40_000_000 <= rec["instructions"] <= 80_000_000, rec["instructions"]
    if target != "cortex-m7f":  # the M7 dual-issues
        assert rec["cycles"] >= rec["instructions"]
