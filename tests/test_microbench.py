"""Microbenchmarks: instruction sequences timed by the firmware itself with the core's
cycle counter, against the Arm TRM instruction timing tables.

Firmware: firmware_images/microbench/ (mb_kernels.S, mb_main.c), built by
`make -C firmware_images microbench` into firmware_images/prebuilt/<target>/mb_*.elf.
Each kernel runs an unrolled sequence (32 copies x 4 loop iterations) between two reads
of DWT CYCCNT (SysTick on Armv6-M, which has no CYCCNT), each read being the first
instruction of its basic block; the firmware subtracts the same harness with no body and
prints `MB <name> <cycles per sequence copy x 1000>`.

The expected values below are NOT the simulator's output. They come from:
  * M0+: Cortex-M0+ TRM DDI 0484C Table 3-1 (shared/reference/core_timing.md §1);
  * M3: Cortex-M3 TRM 100165_0201 Table 3-1 and §3.3.2 load/store pipelining (§2, §2.1);
  * M4: Cortex-M4 TRM DDI 0439D Tables 3-1, 3-2, 7-1 and §3.3.2 (§3);
  * M7 and M33 (Arm publishes no table): the model documented in docs/timing.md, derived
    by hand from its stated rules (sections "Dual-issue model (Cortex-M7F)" and
    "Cortex-M33"), with the tolerance explained at M7_M33_TOL.
The TRM cores are asserted within 1 cycle per sequence copy of the TRM figure (or of the
TRM range, for value-dependent rows). A case where the simulator disagrees with the TRM
is marked xfail with the reason: it is a finding for the timing model, not a reason to
widen the tolerance.

Memory tests (real MCU descriptions): a straight-line loop in flash on STM32L4R5 with the
flash accelerator off / prefetch only / ART on, at 120 MHz (5 wait states) and 24 MHz
(1 wait state); a Cortex-M7 (STM32H7A3) walk over an array that fits the 16 KB L1
D-cache (8 KB) and one that does not (64 KB).
"""

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.firmware

REPO = Path(__file__).resolve().parents[1]
PREBUILT = REPO / "firmware_images" / "prebuilt"

# which image runs on which generic (zero-wait-state) MCU. The cortex-m4f mb_int image is
# Thumb-2 integer-only code, so it also runs on the Cortex-M3; mb_dsp (SMLAD, VFP) is
# not run there.
CORES = {
    "m0plus": ("cortex-m0plus", "generic-m0plus"),
    "m3": ("cortex-m4f", "generic-m3"),
    "m4": ("cortex-m4f", "generic-m4"),
    "m7": ("cortex-m7f", "generic-m7"),
    "m33": ("cortex-m33", "generic-m33"),
}
DSP_CORES = ("m4", "m7", "m33")

_LINE = re.compile(r"^MB (\S+) (-?\d+)\s*$", re.M)


@functools.lru_cache(maxsize=None)
def _run(target, program, mcu, clock_mhz=None, mode=None):
    """Run one microbenchmark image once per session; returns ({name: cycles}, record)."""
    elf = PREBUILT / target / f"{program}.elf"
    if not elf.is_file():
        pytest.fail(f"{elf} missing: run `make -C firmware_images microbench`")
    out = Path(os.environ.get("PYTEST_TMPDIR", "/tmp")) / (
        f"mb-{os.getpid()}-{target}-{program}-{Path(mcu).stem}-{clock_mhz}-{mode}.json")
    cmd = [sys.executable, "-m", "mcusim", "run", str(elf), "--mcu", mcu,
           "--json", str(out), "--max-cycles", "20000000"]
    if mcu == "generic-m3":
        cmd += ["--force"]          # an Armv7E-M build on the M3 (integer Thumb-2 only)
    if clock_mhz is not None:
        cmd += ["--clock-mhz", str(clock_mhz)]
    if mode is not None:
        cmd += ["--mode", mode]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{cmd}\nstatus {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    record = json.loads(out.read_text())
    out.unlink()
    vals = {m.group(1): int(m.group(2)) / 1000.0 for m in _LINE.finditer(proc.stdout)}
    assert vals, f"no MB lines in the output of {cmd}:\n{proc.stdout}"
    return vals, record


def measured(core, name):
    target, mcu = CORES[core]
    program = "mb_dsp" if name in DSP_KERNELS else "mb_int"
    vals, _ = _run(target, program, mcu)
    assert name in vals, f"{program} on {mcu} printed no {name}: {vals}"
    return vals[name]


DSP_KERNELS = {"smlad", "vadd", "vmul", "vdiv"}

# What one sequence copy is (mb_kernels.S):
#   alu4       adds r1,#1; adds r2,#1; adds r3,#1; adds r5,#1      (4 independent ALU)
#   ldr3       ldr r1,[r4]; ldr r2,[r4,#4]; ldr r3,[r4,#8]; adds r5,#1
#   ldr_dep    ldr r5,[r5]                  (pointer chase: address = previous load)
#   ldm4/ldm5  ldmia r4!,{4 / 5 registers}
#   ldm4_self  ldm r4,{r1,r2,r3,r4}          (base in the list, no writeback)
#   ldm6_self  ldm r4,{r1-r6}
#   stm4/stm5  stmia r4!,{4 / 5 registers}
#   b_taken    b over a nop (taken)          bl         bl to the next instruction
#   bcc_taken  bne over a nop (Z=0: taken)   bcc_not    beq (Z=0: not taken)
#   muls (M0+) muls r1,r2,r1                 mul        mul r1,r2,r3
#   mla        mla r1,r2,r3,r1 (accumulator chain)      umull  umull r1,r2,r3,r5 (32-bit operands)
#   sdiv_small 7/5 (quotient 1)   sdiv_large 0x7fffffff/1   udiv_large 0xffffffff/1
#   smlad      smlad r1,r2,r3,r1              vadd/vmul/vdiv  v<op>.f32 s0,s1,s2 (independent)
#
# An expectation is a number or a (lo, hi) TRM range.

# Cortex-M0+ TRM DDI 0484C Table 3-1 (core_timing.md §1)
M0P = {
    "alu4": 4,          # ADDS 1 x 4
    "ldr3": 7,          # LDR 2 x 3 (no load pipelining on M0+) + ADDS 1
    "ldr_dep": 2,       # LDR 2
    "ldm4": 5,          # LDM 1 + N
    "ldm5": 6,          # LDM 1 + N
    "ldm4_self": 5,     # LDM 1 + N (N counts the base when it is in the list)
    "ldm6_self": 7,     # LDM 1 + N
    "stm4": 5,          # STM 1 + N
    "stm5": 6,          # STM 1 + N
    "b_taken": 2,       # B 2
    "bl": 3,            # BL 3
    "bcc_taken": 2,     # B<cond> taken 2
    "bcc_not": 1,       # B<cond> not taken 1
    "muls": 1,          # MULS 1 (fast multiplier option, as on STM32G0)
}

# Cortex-M3 TRM 100165_0201 Table 3-1, §3.3.2 (core_timing.md §2, §2.1).
# P (refill) is 1-3 in the TRM; docs/timing.md "Taken-branch refill" gives the rule (P = 1
# for B, BL, B<cc> to these targets: 16-bit or word-aligned; test_branch_refill_rule below
# checks every case of it exactly). Expectations 1 + P with the +-1 tolerance cover P = 1..3.
M3 = {
    "alu4": 4,          # data processing 1 x 4
    "ldr3": 5,          # 3 pipelined LDRs 2+1+1 = 4 (§3.3.2 "three independent LDRs = 4") + ADD 1
    "ldr_dep": 2,       # LDR 2; no pipelining: its address is the previous LDR's result (§3.3.2)
    "ldm4": 5,          # LDM 1 + N
    "ldm5": 6,
    "ldm4_self": 5,
    "ldm6_self": 7,
    "stm4": 5,          # STM 1 + N
    "stm5": 6,
    "b_taken": 2,       # B 1 + P (P = 1: decode-time branch to a 16-bit target)
    "bl": 2,            # BL 1 + P (P = 1: its target, the next copy's BL, is word-aligned)
    "bcc_taken": 2,     # B<cond> taken 1 + P (P = 1)
    "bcc_not": 1,       # B<cond> not taken 1
    "mul": 1,           # MUL 1
    "mla": 2,           # MLA 2 (M3)
    "umull": (3, 5),    # UMULL 3-5 (early termination on operand size; M3 only)
    "sdiv_small": 2,    # SDIV 2-12 depending on operands: quotient 1 -> the short end
    "sdiv_large": 12,   # 31-bit quotient -> the long end
    "udiv_large": 12,   # 32-bit quotient
}

# Cortex-M4 TRM DDI 0439D Tables 3-1, 3-2, 7-1, §3.3.2 (core_timing.md §3)
M4 = dict(M3)
M4.update({
    "mla": 1,           # Table 3-1: MLA 1 on M4
    "umull": 1,         # Table 3-1: UMULL 1 on M4 (no early termination)
    "smlad": 1,         # Table 3-2: all DSP 1
    "vadd": 1,          # Table 7-1: VADD.F32 1 (result not used by the next instruction)
    "vmul": 1,          # Table 7-1: VMUL.F32 1
    "vdiv": 14,         # Table 7-1: VDIV.F32 14 (the next VDIV waits: no out-of-order FP)
})

# Cortex-M7: no Arm table. Values derived from docs/timing.md "Dual-issue model":
M7 = {
    "alu4": 2,          # 2 ALUs, independent ALU pairs dual-issue
    "ldr3": 2,          # [r4] and [r4,#4] are even/odd words -> 2 load pipes pair; [r4,#8] pairs with the ADD
    "ldr_dep": 1,       # word load result latency 1
    "ldm4": 2,          # LDM ceil(N/2), single issue (JNK-M7)
    "ldm5": 3,
    "ldm4_self": 2,
    "ldm6_self": 3,
    "stm4": 2,          # STM ceil(N/2)
    "stm5": 3,
    "b_taken": 1,       # B predicted (BTAC hit, 0 extra): its issue slot only
    "bl": 1,            # BL predicted, as B
    "bcc_taken": 7,     # forward B<cond>: static stand-in predicts not taken -> issue 1 + mispredict
                        # 6 (flags set >= 3 cycles before the branch). Real M7 BTAC would learn this
                        # always-taken branch; see the report / docs "static stand-in".
    "bcc_not": 1,       # forward B<cond> predicted not taken: issue slot only
    "mul": 1,           # 1 MAC pipe, independent MULs issue back to back
    "mla": 1,           # latency 2 but accumulator read 1 late: chain issues every cycle
    "umull": 1,         # MAC pipe, occupancy 1
    "sdiv_small": 7,    # SDIV 7, single issue, no operand dependence (LLVM-M7)
    "sdiv_large": 7,
    "udiv_large": 7,
    "smlad": 1,         # dsp_mac: accumulator read 1 late
    "vadd": 1,          # 1 VFP unit; independent .F32 ops issue every cycle (latency 3 unused)
    "vmul": 1,
    "vdiv": 16,         # VDIV.F32 16, blocking (JNK-M7)
}

# Cortex-M33: no Arm table. docs/timing.md "Cortex-M33": the M4F table + JNK-M33 rules:
M33 = {
    "alu4": 4,          # no ALU+ALU dual issue
    "ldr3": 4,          # single loads issue in 1 cycle; independent -> 3 + ADD 1
    "ldr_dep": 2,       # load-to-use latency 2
    "ldm4": 4,          # LDM/STM of N registers: N
    "ldm5": 5,
    "ldm4_self": 4,
    "ldm6_self": 6,
    "stm4": 4,
    "stm5": 5,
    "b_taken": 2,       # taken branch 2 (P = 1)
    "bl": 2,            # 1 + P
    "bcc_taken": 2,     # taken 2 (the 16-bit pairing rule needs a preceding 16-bit instruction in
    "bcc_not": 1,       # the same block; each B<cond> here is alone in its block -> 1 not taken)
    "mul": 1,           # M4 table (32-bit MUL, not the flag-setting MULS.N)
    "mla": 1,           # MAC chains back to back
    "umull": 1,
    "sdiv_small": 2,    # M4 values kept (2-12, unverified on M33)
    "sdiv_large": 12,
    "udiv_large": 12,
    "smlad": 1,
    "vadd": 1,
    "vmul": 1,
    "vdiv": 14,         # M4 value kept (unverified on M33)
}

EXPECT = {"m0plus": M0P, "m3": M3, "m4": M4, "m7": M7, "m33": M33}

# Tolerance, cycles per sequence copy.
# TRM cores (M0+, M3, M4): 1 cycle, as the TRM gives issue costs with a P of 1-3 and
# value-dependent rows; the harness itself is exact in the simulator (same block
# structure for kernel and empty) and a real core adds < 1/32 cycle per copy of loop
# edge effects.
TRM_TOL = 1.0
# M7 and M33: Arm publishes no table, so the reference is the model documented in
# docs/timing.md. The documented rules are exact per block, but docs/timing.md
# ("Static costing") states that rules do not cross block boundaries and a block cut
# may miss one adjustment (+-1 cycle); the M7 pairing of the last copy with the loop
# tail is such an edge (measured values like 0.969 = 31/32). So 1 cycle per copy here
# too — tight enough that a different documented rule (e.g. no dual issue, LDM N
# instead of ceil(N/2), VDIV 14 vs 16) is caught, since those differ by >= 1 per copy
# in every case listed. Silicon measurements (JNK-M7/M33) can differ by more; that is
# the model's documented uncertainty, not this test's.
M7_M33_TOL = 1.0


def _tol(core):
    return M7_M33_TOL if core in ("m7", "m33") else TRM_TOL


# Known disagreements: (core, kernel) -> reason. Marked xfail, strict.
# (none at TRM tolerance so far; see test_ldm_base_in_list for the one exact finding)
XFAIL = {}


def _cases():
    for core, table in EXPECT.items():
        for name, exp in table.items():
            marks = []
            if (core, name) in XFAIL:
                marks.append(pytest.mark.xfail(reason=XFAIL[(core, name)], strict=True))
            yield pytest.param(core, name, exp, id=f"{core}-{name}", marks=marks)


@pytest.mark.parametrize("core,name,exp", list(_cases()))
def test_sequence_against_trm(core, name, exp):
    got = measured(core, name)
    lo, hi = (exp, exp) if not isinstance(exp, tuple) else exp
    tol = _tol(core)
    assert lo - tol <= got <= hi + tol, (
        f"{core} {name}: {got:.3f} cycles per copy, expected {exp} +- {tol}")


@pytest.mark.parametrize("core", ["m0plus", "m3", "m4", "m7", "m33"])
def test_ldm_base_in_list(core):
    """The same TRM row (LDM 1 + N; M33 N; M7 ceil(N/2)) for the base in the list and for
    writeback (every register counts, the base too): 4 registers both ways, and 6 registers = 5 registers + one per register
    (+0.5 on M7's two-per-cycle rule, rounded up)."""
    ldm4, ldm5 = measured(core, "ldm4"), measured(core, "ldm5")
    self4, self6 = measured(core, "ldm4_self"), measured(core, "ldm6_self")
    assert abs(self4 - ldm4) < 0.05, f"LDM of 4: base in list {self4}, writeback {ldm4}"
    per_reg = 0.5 if core == "m7" else 1.0
    want6 = ldm5 + per_reg if core != "m7" else 3.0
    assert abs(self6 - want6) < 0.05, f"LDM of 6 (base in list) {self6}, expected {want6}"


def test_m3_differs_from_m4_where_the_trm_says():
    """Same image on both: MLA 2 vs 1 and UMULL 3-5 vs 1 (Table 3-1 of each TRM), the rest equal."""
    assert measured("m3", "mla") - measured("m4", "mla") >= 0.9
    assert measured("m3", "umull") - measured("m4", "umull") >= 1.9
    for name in ("alu4", "ldr3", "ldr_dep", "ldm4", "stm4", "b_taken", "mul", "sdiv_large"):
        assert measured("m3", name) == measured("m4", name), name


def test_divide_depends_on_operands():
    """TRM Table 3-1: SDIV/UDIV 2-12, terminating early: a 31/32-bit quotient takes
    longer than a 1-bit one, on every core whose table has the range (M3, M4; M33 kept)."""
    for core in ("m3", "m4", "m33"):
        assert measured(core, "sdiv_large") - measured(core, "sdiv_small") >= 5, core
    # M7: documented as a fixed 7 (LLVM-M7), no operand dependence
    assert measured("m7", "sdiv_large") == measured("m7", "sdiv_small")


# ---------------------------------------------------------------------------- branch refill

# Taken-branch refill P on Cortex-M3/M4 (firmware_images/microbench/mb_kernels.S, MB_SET 5;
# docs/timing.md "Taken-branch refill"). Independent truth:
#   * M4-TRM DDI 0439D Table 3-1 legend: P is 1 to 3, "depending on the alignment and width
#     of the target instruction, and whether the processor manages to speculate the address
#     early"; P <= 3;
#   * which branches are speculated early: Cortex-M3 TRM r2p0 §15.3 Table 15-3 (decode-time:
#     B, B<cc>, BL, BX/BLX/MOV PC with LR when the previous instruction does not write LR;
#     everything else, CBZ/CBNZ included, resolves in execute), as validated on silicon by
#     CMEmu (cmemu-lib/src/component/core/decode.rs);
#   * values, public measurements: decode-time taken branch = 2 cycles, P = 1 (hwlib, M3:
#     "1 cycle branch penalty due to branch target forwarding"; Cortex-M4 compendium
#     "branch_timing": "taken take two cycles"); +1 when the target is a 32-bit instruction
#     at a halfword address (compendium: "branching to an unaligned wide instruction takes
#     three cycles"); execute-time branches P = 2 (LLVM-M4 MispredictPenalty 2, the figure
#     the model used for every branch before).
# Each copy (cycles): the branch 1 + P, plus the target instructions it executes (1 each),
# plus the setup instructions of the BX cases (1 each).
BRANCH = {
    "br_n_al": 1 + 1 + 2,        # B.N -> 16-bit, word address: decode-time P 1; 2 ADDS
    "br_n_un": 1 + 1 + 1,        # B.N -> 16-bit, halfword address: P 1 (narrow: no penalty)
    "br_w_al": 1 + 1 + 1,        # B.N -> 32-bit, word address: P 1
    "br_w_un": 1 + 2 + 2,        # B.N -> 32-bit, halfword address: P 1 + 1; ADD.W, ADDS
    "bcc_w_un": 1 + 2 + 2,       # B<cc> taken -> the same: P 2
    "bl_w_un": 1 + 2 + 2,        # BL -> the same: P 2
    "cbnz_taken": 1 + 2 + 2,     # CBNZ taken (execute-time): P 2; 2 ADDS
    "bx_lr": 4 + 1 + 1 + 2,      # ADR, ADDS, MOV LR, NOP; BX LR (LR not just written): P 1
    "bx_lr_dirty": 4 + 1 + 2 + 2,   # ... MOV LR right before BX LR: execute-time, P 2
    "bx_reg": 4 + 1 + 2 + 2,     # BX r5: execute-time, P 2
}


@pytest.mark.parametrize("core,mcu", [("m4", "generic-m4"), ("m3", "generic-m3")])
def test_branch_refill_rule(core, mcu):
    vals, _ = _run("cortex-m4f", "mb_branch", mcu)
    for name, want in BRANCH.items():
        assert name in vals, f"mb_branch printed no {name}: {vals}"
        assert abs(vals[name] - want) < 0.05, (
            f"{core} {name}: {vals[name]:.3f} cycles per copy, the refill rule gives {want}")
    # the rule's range: every P measured here is within the TRM's 1..3
    assert vals["br_n_al"] - 3 >= 1 and vals["br_w_un"] - 3 <= 3


# ---------------------------------------------------------------------------- unaligned

# Unaligned LDR/LDRH/STR/STRH (firmware_images/microbench/mb_kernels.S, MB_SET 6;
# docs/timing.md "Unaligned accesses"). Each copy: one access at a byte offset of a word in
# SRAM + one independent ADDS (1). Independent truth:
#   * M3/M4: M4-TRM DDI 0439D §3.3.2 (same text in the M3 TRM): LDR 2 (Table 3-1); "a byte
#     aligned halfword load or store adds one extra cycle", "a halfword aligned word load or
#     store adds one extra cycle", "a byte-aligned word load or store adds two extra
#     cycles"; "a STR or STRH cannot delay the processor because of the write buffer", and
#     STR Rx,[Ry,#imm] is 1 cycle (§3.3.2) -- so stores stay at 1 + 1.
UNALIGNED_M4 = {
    "ua_ldr_o0": 2 + 1,          # aligned LDR 2, ADDS 1
    "ua_ldr_o1": 2 + 2 + 1,      # byte-aligned word: +2
    "ua_ldr_o2": 2 + 1 + 1,      # halfword-aligned word: +1
    "ua_ldr_o3": 2 + 2 + 1,      # byte-aligned word: +2
    "ua_ldrh_o1": 2 + 1 + 1,     # byte-aligned halfword: +1
    "ua_ldrh_o2": 2 + 1,         # aligned halfword
    "ua_str_o0": 1 + 1,          # STR imm 1, ADDS 1
    "ua_str_o1": 1 + 1,          # unaligned store: hidden by the write buffer
    "ua_str_o2": 1 + 1,
    "ua_strh_o1": 1 + 1,
    "ua_ldr_o1_long": 2 + 2 + 1, # the same as ua_ldr_o1 over ~190 000 cycles (fast mode
                                 # learns it outside its first detailed window)
}
#   * M7: JNK-M7 (jnk0le, STM32H743): an unaligned load costs +3 as the older op of a pair
#     (here LDR + ADDS: the load is the older op); unaligned stores do not stall while the
#     store buffer has room. Arm publishes no M7 table, so the aligned baseline is the
#     model's own (docs/timing.md "Dual-issue model"); the rule is the difference.
UNALIGNED_M7_EXTRA = {"ua_ldr_o1": 3, "ua_ldr_o2": 3, "ua_ldr_o3": 3, "ua_ldrh_o1": 3,
                      "ua_ldrh_o2": 0, "ua_str_o1": 0, "ua_str_o2": 0, "ua_strh_o1": 0}


@pytest.mark.parametrize("core,mcu", [("m4", "generic-m4"), ("m3", "generic-m3")])
def test_unaligned_access_rule(core, mcu):
    vals, _ = _run("cortex-m4f", "mb_unaligned", mcu, None, "detailed")
    for name, want in UNALIGNED_M4.items():
        assert name in vals, f"mb_unaligned printed no {name}: {vals}"
        assert abs(vals[name] - want) < 0.01, (
            f"{core} {name}: {vals[name]:.3f} cycles per copy, the TRM gives {want}")


# The M3/M4 write buffer (M4-TRM DDI 0439D §3.5 and §3.3.2; M3 TRM §3.5): "buffered stores
# to the DCode and System buses go through a one-entry write buffer. If the write buffer is
# full, subsequent accesses to the bus stall until the write buffer has drained. The write
# buffer is only used if the bus waits the data phase of the buffered store ... DMB and DSB
# instructions wait for the write buffer to drain"; with it disabled (ACTLR.DISDEFWBUF) "the
# next instruction is delayed until the store can complete". mb_wbuf on a RAM with W = 2
# write wait states (tests/catalogs/wbuf_m4.toml, reads at zero): a store issues in 1 cycle
# and its data phase holds the bus until 1 + W cycles after it issued.
#   wb_str       str                 each store waits W for the one before it; the first of
#                                    each of the 4 unrolled runs finds the buffer drained
#                                    (the loop's 3 closing instructions take > W):
#                                    1 + (31/32) * 2
#   wb_str_aluN  str + N adds        the next store comes 1 + N cycles later: it waits
#                                    max(0, W - N): 1 + N + (31/32) * max(0, 2 - N)
#   wb_str_ldr   str; adds; ldr      the load (issued 2 cycles after the store) waits for the
#                                    drain, 1 cycle: str 1 + adds 1 + ldr 2 + 1 (a load after
#                                    a store, JNK) + 1
#   wb_str_dsb   str; dsb            DSB (1 cycle at zero wait states) waits W: 1 + 1 + 2
# "_nowb": ACTLR.DISDEFWBUF = 1, every store costs 1 + W.
WB_W = 2
WBUF = {"wb_str": 1 + 31 / 32 * 2, "wb_str_alu1": 2 + 31 / 32 * 1, "wb_str_alu2": 3,
        "wb_str_alu3": 4, "wb_str_ldr": 5, "wb_str_dsb": 4,
        "wb_str_nowb": 3, "wb_str_alu1_nowb": 4, "wb_str_alu2_nowb": 5,
        "wb_str_alu3_nowb": 6, "wb_str_ldr_nowb": 4 + WB_W, "wb_str_dsb_nowb": 4}
# The same sequences on zero-wait-state RAM (generic-m4): the TRM's issue cycles alone.
WBUF_ZERO_WAIT = {"wb_str": 1, "wb_str_alu1": 2, "wb_str_alu2": 3, "wb_str_alu3": 4,
                  "wb_str_ldr": 4, "wb_str_dsb": 2}
WBUF_MCU = str(Path(__file__).parent / "catalogs" / "wbuf_m4.toml")


@pytest.mark.parametrize("mode", ["detailed", "fast"])
def test_write_buffer_rule(mode):
    vals, rec = _run("cortex-m4f", "mb_wbuf", WBUF_MCU, None, mode)
    for name, want in WBUF.items():
        assert name in vals, f"mb_wbuf printed no {name}: {vals}"
        assert abs(vals[name] - want) < 0.01, (
            f"{mode} {name}: {vals[name]:.3f} cycles per copy, the TRM's write buffer gives "
            f"{want:.3f}")


def _in_order_bus(entries, w, gap, copies=32, runs=4, tail=4):
    """Cycles per copy of `runs` unrolled runs of `copies` x (STR + `gap` one-cycle
    instructions) through a write buffer of `entries` in front of a bus that retires one
    store per 1 + w cycles, in order (M4-TRM §3.5 generalised to a deeper buffer): a store
    that finds the buffer full waits for its oldest entry. `tail`: the loop's closing
    MOV, SUBS and taken BNE between runs (1 + 1 + 2 cycles in the core model)."""
    t, pend, stall = 0, [], 0
    for _ in range(runs):
        for _ in range(copies):
            a = t
            pend = [c for c in pend if c > a]
            if len(pend) >= entries:
                stall += pend[0] - a
                a = pend.pop(0)
            pend.append(max(pend[-1] if pend else a, a) + 1 + w)
            t = a + 1 + gap
        t += tail
    return 1 + gap + stall / (runs * copies)


def test_deeper_write_buffer(tmp_path):
    """A user core with a two-entry buffer (a design knob, no real M4 has one): the same
    sequences against an independent in-order bus model; one entry gives WBUF's values."""
    assert abs(_in_order_bus(1, WB_W, 0) - WBUF["wb_str"]) < 1e-9
    assert abs(_in_order_bus(1, WB_W, 1) - WBUF["wb_str_alu1"]) < 1e-9
    core = tmp_path / "m4-wb2.toml"
    core.write_text('extends = "cortex-m4f"\n[timing]\nwrite_buffer_entries = 2\n')
    mcu = tmp_path / "wbuf2.toml"
    mcu.write_text(f'extends = "{Path(WBUF_MCU).as_posix()}"\n[mcu]\ncore = "{core.as_posix()}"\n')
    vals, _ = _run("cortex-m4f", "mb_wbuf", str(mcu), None, "detailed")
    for name, gap in (("wb_str", 0), ("wb_str_alu1", 1), ("wb_str_alu2", 2), ("wb_str_alu3", 3)):
        want = _in_order_bus(2, WB_W, gap)
        assert abs(vals[name] - want) < 0.01, (name, vals[name], want)
    assert vals["wb_str"] < WBUF["wb_str"] and vals["wb_str_alu1"] < WBUF["wb_str_alu1"]


def test_write_buffer_needs_wait_states():
    """On zero-wait-state RAM the buffer is never used (§3.5) and DISDEFWBUF changes
    nothing: the issue cycles alone."""
    vals, _ = _run("cortex-m4f", "mb_wbuf", "generic-m4", None, "detailed")
    for name, want in WBUF_ZERO_WAIT.items():
        assert abs(vals[name] - want) < 0.01, (name, vals[name], want)
        assert abs(vals[name + "_nowb"] - want) < 0.01, (name, vals[name + "_nowb"], want)


def test_unaligned_m7():
    vals, _ = _run("cortex-m7f", "mb_unaligned", "generic-m7", None, "detailed")
    base_ld, base_st = vals["ua_ldr_o0"], vals["ua_str_o0"]
    for name, extra in UNALIGNED_M7_EXTRA.items():
        base = base_st if "_str" in name else base_ld
        assert abs(vals[name] - base - extra) < 0.01, (name, vals[name], base, extra)


def test_unaligned_in_zero_wait_sram_is_a_detailed_mode_cost():
    """Seeing unaligned accesses in memories that cannot stall needs every access hooked,
    which fast mode does not do (docs/timing.md "Unaligned accesses"): on generic-m4 fast
    mode charges none of them and runs the aligned costs, detailed mode all of them; the
    difference is the rule's stall."""
    vals_d, det = _run("cortex-m4f", "mb_unaligned", "generic-m4", None, "detailed")
    vals_f, fast = _run("cortex-m4f", "mb_unaligned", "generic-m4", None, "fast")
    assert fast["stalls"]["memory"] == 0, fast["stalls"]
    # the stall detailed mode charges: at least 32 copies x (4 + 1200) iterations x 2 cycles
    # on ua_ldr_o1_long alone
    assert det["stalls"]["memory"] >= 32 * 1204 * 2, det["stalls"]
    # (the printed figures differ, so the rest of the run differs by a few cycles)
    assert abs(det["cycles"] - fast["cycles"] - det["stalls"]["memory"]) <= 16
    assert abs(vals_f["ua_ldr_o1"] - UNALIGNED_M4["ua_ldr_o0"]) < 0.01, vals_f["ua_ldr_o1"]


# ---------------------------------------------------------------------------- memory

# STM32L4R5 (RM0432 §3.3.3 "Read access latency", wait states vs HCLK in range 1 boost:
# 0 WS <= 20 MHz, 1 WS <= 40, ..., 5 WS <= 120 MHz; memory_models/stm32l4r5.toml).
# Flash reads 128-bit lines (4 x 32-bit ADD.W of the loop body); an access takes
# LATENCY + 1 HCLK cycles.
#   off       every line is a demand fetch: 4 instructions + WS stall -> 1 + WS/4 per instruction
#   prefetch  the next line is read while the current one executes; a line still needs
#             WS + 1 cycles, so 1 + max(0, WS + 1 - 4)/4 per instruction
#   art       the 512-byte loop fits the ART instruction cache: ~1 after the warm-up call
FLASH = {
    120: ("mb_flash_ws5", {"flash_off": 2.25, "flash_prefetch": 1.5, "flash_art": 1.0}),
    24: ("mb_flash_ws1", {"flash_off": 1.25, "flash_prefetch": 1.0, "flash_art": 1.0}),
}
FLASH_TOL = 0.15


def _flash(clock, mode="detailed"):
    program, _ = FLASH[clock]
    vals, rec = _run("cortex-m4f", program, "stm32l4r5", clock, mode)
    return vals, rec


def _assert_wait_states(clock):
    """The memory model must be active: stm32l4r5's flash is slower than generic-m4's."""
    program, _ = FLASH[clock]
    vals, _ = _flash(clock)
    ideal, _ = _run("cortex-m4f", program, "generic-m4")
    assert vals != ideal, ("the memory model reports no flash wait states on stm32l4r5 "
                           "(identical to generic-m4): mcusim/timing/memory.py not active")


@pytest.mark.parametrize("clock,name", [
    pytest.param(c, n, id=f"{c}MHz-{n}")   # prefetch streams a line per LATENCY + 1 cycles
    for c in FLASH for n in FLASH[c][1]])
def test_flash_loop(clock, name):
    """Detailed mode (the reference) on stm32l4r5 at the given clock."""
    _assert_wait_states(clock)
    vals, rec = _flash(clock)
    assert rec["clock_hz"] == clock * 1e6
    exp = FLASH[clock][1][name]
    assert abs(vals[name] - exp) <= FLASH_TOL, f"{name} at {clock} MHz: {vals[name]}, expected {exp}"


def test_flash_direction():
    """More wait states cost more; the accelerator removes (almost) all of them."""
    _assert_wait_states(120)
    v120, _ = _flash(120)
    v24, _ = _flash(24)
    assert v120["flash_off"] > v24["flash_off"] + 0.5
    assert v120["flash_off"] > v120["flash_prefetch"] >= v120["flash_art"]
    assert v24["flash_off"] > v24["flash_art"]
    assert abs(v120["flash_art"] - v24["flash_art"]) < 0.1


# Flash data reads through D-Code on the STM32L4R5 at 120 MHz (5 wait states), code in the
# ART I-cache (warm), mb_literal. RM0440 §3.3.4 "Literal pools" (the same ART as the L4/L4+;
# RM0090 §3 on the F4): "Each DCode bus read access fetches 64 or 128 bits, which are saved
# in a current buffer. The CPU pipeline is consequently stalled until the requested literal
# pool is provided": a read outside the buffered 128-bit line stalls the 5 wait states (its
# own cycle is in the load's cost), a read inside it none. With DCEN = 0 (the current
# buffer alone), per copy (32 copies, 4 loop iterations):
#   lit_line4     4 loads of one line (pipelined: 5) + adds (1) + the address dependency of
#                 the next copy's first load on the adds (M4-TRM §3.3.2, +1, not after the
#                 loop's branch: 31 of 32 copies) + 5 for the line's first read
#   lit_stride16  load (2) + adds (1) + 31/32 + 5: every read a new line
#   lit_same      load (2) + adds (1) + 5 once per 128 copies (the harness's own literal
#                 load sits in another line)
# With DCEN = 1 the same word again hits the ART D-cache (no wait state): lit_same_dcen 3.
# (What a 32-byte ART D-line fill costs on its second 128-bit half is not documented: the
# DCEN = 1 walks are printed, not pinned; docs/timing.md "Known gaps".)
LITERAL = {"lit_line4": 6 + 31 / 32 + 5, "lit_stride16": 3 + 31 / 32 + 5,
           "lit_same": 3 + 5 / 128, "lit_same_dcen": 3}


@pytest.mark.parametrize("mode", ["detailed", "fast"])
def test_flash_data_reads_rule(mode):
    vals, rec = _run("cortex-m4f", "mb_literal", "stm32l4r5", 120, mode)
    for name, want in LITERAL.items():
        assert name in vals, f"mb_literal printed no {name}: {vals}"
        assert abs(vals[name] - want) < 0.01, (
            f"{mode} {name}: {vals[name]:.3f} cycles per copy, RM0440's D-Code reads give "
            f"{want:.3f}")


@pytest.mark.parametrize("clock", [120, 24])
def test_flash_fast_mode_within_2_percent(clock):
    """DESIGN.md: `fast` must stay within 2% of `detailed` (run total cycles)."""
    _assert_wait_states(clock)
    _, det = _flash(clock, "detailed")
    _, fast = _flash(clock, "fast")
    assert abs(fast["cycles"] - det["cycles"]) <= 0.02 * det["cycles"], (fast["cycles"], det["cycles"])


def test_m7_ccr_cache_enable_bits_read_back():
    """CCR keeps DC (bit 16), IC (bit 17) and BP (bit 18), RW on a Cortex-M7 with caches
    (Armv7-M B3.2.8, M7 TRM): the memory model reads them to turn the L1 caches on."""
    vals, _ = _run("cortex-m7f", "mb_dcache", "stm32h7a3", None, "detailed")
    # put_int values are printed raw, and _run scales every value by 1/1000
    assert round(vals["ccr_dc"] * 1000) == 1 and round(vals["ccr_ic"] * 1000) == 1


def test_m7_dcache_fits_vs_not():
    """STM32H7A3, caches on, one load per 32-byte line: an 8 KB array stays in the 16 KB
    4-way D-cache (hits after the warm-up pass: the load's issue cost, 1 per copy as on
    generic-m7); a 64 KB array misses every line (LRU streaming), and each miss is a
    32-byte line fill over the 64-bit AXI bus (>= 4 beats), so it costs more per access."""
    vals, _ = _run("cortex-m7f", "mb_dcache", "stm32h7a3", None, "detailed")
    ideal, _ = _run("cortex-m7f", "mb_dcache", "generic-m7")
    assert abs(vals["walk_8k"] - ideal["walk_8k"]) <= 1.0, vals
    assert vals["walk_64k"] >= vals["walk_8k"] + 1.0, vals
