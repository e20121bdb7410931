"""Core timing model (mcusim/timing/core.py): static block costs against the TRM figures.

Fast: no emulation. Snippets are assembled once per session with arm-none-eabi-as
(Thumb-2, Cortex-M4 + FPv4) and linked at address 0.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import subprocess
import tomllib

import pytest

from mcusim.timing import BlockCost, CoreTiming, TimingError, div_cycles

REPO = pathlib.Path(__file__).resolve().parents[1]
CORES = ["cortex-m0plus", "cortex-m3", "cortex-m4f", "cortex-m7f", "cortex-m33"]

_AS = ["arm-none-eabi-as", "-mthumb", "-mcpu=cortex-m4", "-mfloat-abi=hard",
       "-mfpu=fpv4-sp-d16"]
_have_tools = all(shutil.which(t) for t in ("arm-none-eabi-as", "arm-none-eabi-ld",
                                             "arm-none-eabi-objcopy", "arm-none-eabi-nm"))
needs_as = pytest.mark.skipif(not _have_tools, reason="arm-none-eabi binutils not installed")

_ASM_CACHE: dict[str, bytes] = {}


@pytest.fixture(scope="session")
def asm_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("timing_asm")


@pytest.fixture(scope="session")
def asm(asm_dir):
    """asm(src) -> bytes of the snippet at address 0 (up to label ``__end`` if present)."""
    def _asm(src: str) -> bytes:
        if src in _ASM_CACHE:
            return _ASM_CACHE[src]
        h = hashlib.sha1(src.encode()).hexdigest()[:12]
        s, o, e, b = (asm_dir / f"{h}.{x}" for x in ("s", "o", "elf", "bin"))
        s.write_text(".syntax unified\n.thumb\n.text\n" + src + "\n")
        subprocess.run(_AS + [str(s), "-o", str(o)], check=True, capture_output=True)
        subprocess.run(["arm-none-eabi-ld", "-Ttext=0", "-e", "0", str(o), "-o", str(e)],
                       check=True, capture_output=True)
        subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(e), str(b)],
                       check=True, capture_output=True)
        code = b.read_bytes()
        nm = subprocess.run(["arm-none-eabi-nm", str(e)], check=True, capture_output=True,
                            text=True).stdout
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2] == "__end":
                code = code[:int(parts[0], 16)]
        _ASM_CACHE[src] = code
        return code
    return _asm


_CT: dict[str, CoreTiming] = {}


def ct(core: str) -> CoreTiming:
    if core not in _CT:
        _CT[core] = CoreTiming(core)
    return _CT[core]


@pytest.fixture
def cost(asm):
    def _cost(core: str, src: str) -> BlockCost:
        return ct(core).block_cost(asm(src), 0)
    return _cost


M34 = ["cortex-m3", "cortex-m4f"]

# ----------------------------------------------------------------------------- tables


@pytest.mark.parametrize("core", CORES)
def test_tables_load_and_keep_core_table(core):
    doc = tomllib.loads((REPO / "cores" / f"{core}.toml").read_text())
    assert "timing" in doc
    t = CoreTiming(core)
    assert t.classes["alu"] == 1
    assert t.exception_cycles("entry") in (12, 15)
    assert t.exception_cycles("exit") is not None
    assert t.exception_cycles("tail_chain") is not None


def test_raw_table_and_errors():
    t = CoreTiming({"model": "scalar", "classes": {"alu": 1, "load": 2}})
    assert t.name == "custom"
    with pytest.raises(TimingError):
        CoreTiming("cortex-m99")
    with pytest.raises(TimingError):
        CoreTiming({"model": "vliw", "classes": {"alu": 1}})
    # inheritance: M3 = M4 table with its own multiplier figures
    assert CoreTiming("cortex-m3").classes["mla"] == 2
    assert CoreTiming("cortex-m3").classes["load"] == 2
    assert CoreTiming("m4").name == "cortex-m4f"


def test_m4f_exception_fp_figures():
    t = ct("cortex-m4f")
    assert t.exception_cycles("entry", fp_context=True) == 29
    assert t.exception_cycles("exit", fp_context=True) == 27
    assert t.exception_cycles("tail_chain") == 6


# ----------------------------------------------------------------------------- ALU


@needs_as
@pytest.mark.parametrize("core", ["cortex-m0plus", "cortex-m3", "cortex-m4f", "cortex-m33"])
@pytest.mark.parametrize("n", [1, 5, 12])
def test_alu_run_costs_n(cost, core, n):
    src = "\n".join(f"adds r{i % 8}, r{(i + 1) % 8}, r{(i + 2) % 8}" for i in range(n))
    bc = cost(core, src)
    assert bc.instructions == n
    assert bc.cycles_not_taken == bc.cycles_taken == n
    assert bc.ends_in == "none"
    assert bc.n_loads == bc.n_stores == 0


@needs_as
@pytest.mark.parametrize("core", M34)
def test_alu_run_32bit(cost, core):
    src = "\n".join(["add.w r0, r1, r2, lsl #2", "eor r3, r4, #0xff", "movw r5, #1234",
                     "movt r5, #1", "ubfx r6, r7, #3, #4", "clz r8, r9"])
    assert cost(core, src).cycles_not_taken == 6


# ----------------------------------------------------------------------------- loads/stores


@needs_as
@pytest.mark.parametrize("core", M34)
def test_three_independent_loads_pipeline(cost, core):
    bc = cost(core, "ldr r0, [r1]\nldr r2, [r3, #4]\nldr r4, [r5, r6]")
    assert bc.cycles_not_taken == 4          # TRM §3.3.2: k pipelined loads = k + 1
    assert bc.n_loads == 3


@needs_as
@pytest.mark.parametrize("core", M34)
def test_load_chain_examples_from_trm(cost, core):
    # TRM: LDR R0,[R1]; LDR R1,[R2] = 3 (destination not used in the next address)
    assert cost(core, "ldr r0, [r1]\nldr r1, [r2]").cycles_not_taken == 3
    # next address uses the loaded value: no pipelining, 2 + 2
    assert cost(core, "ldr r0, [r1]\nldr r2, [r0]").cycles_not_taken == 4
    # TRM: LDR R0,[R1,R2]; STR R0,[R3,#20] = 3 and LDR R0,[R1,R2]; STR R1,[R3,R2] = 3
    assert cost(core, "ldr r0, [r1, r2]\nstr r0, [r3, #20]").cycles_not_taken == 3
    assert cost(core, "ldr r0, [r1, r2]\nstr r1, [r3, r2]").cycles_not_taken == 3


@needs_as
@pytest.mark.parametrize("core", M34)
def test_stores(cost, core):
    assert cost(core, "str r0, [r1, #4]").cycles_not_taken == 1   # STR imm effectively 1
    assert cost(core, "str r0, [r1, r2]").cycles_not_taken == 2   # register offset 2
    # nothing pipelines after a store; a following load costs one more (JNK-M3M4)
    assert cost(core, "str r0, [r1, #4]\nldr r2, [r3]").cycles_not_taken == 1 + 2 + 1
    bc = cost(core, "str r0, [r1, #4]\nstrb r0, [r1, #5]")
    assert bc.cycles_not_taken == 2 and bc.n_stores == 2


@needs_as
@pytest.mark.parametrize("core", M34)
def test_address_dependency_penalty(cost, core):
    assert cost(core, "adds r1, #4\nldr r0, [r1]").cycles_not_taken == 1 + 2 + 1
    assert cost(core, "adds r2, #4\nldr r0, [r1]").cycles_not_taken == 1 + 2
    assert cost(core, "add r1, r1, r3\nstr r0, [r1, #4]").cycles_not_taken == 1 + 1 + 1
    assert cost(core, "mov r1, r3\nldr r0, [r2, r1]").cycles_not_taken == 1 + 2 + 1


@needs_as
def test_writeback_chaining_m3_vs_m4(cost):
    src = "ldr r4, [r0], #4\nldr r5, [r1], #4"
    assert cost("cortex-m4f", src).cycles_not_taken == 3   # different bases chain on M4
    assert cost("cortex-m3", src).cycles_not_taken == 4    # not on M3 (JNK-M3M4)
    assert cost("cortex-m4f", "ldr r4, [r0], #4\nldr r5, [r0], #4").cycles_not_taken == 4


@needs_as
@pytest.mark.parametrize("core", M34 + ["cortex-m0plus"])
@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_ldm_stm_one_plus_n(cost, core, n):
    regs = ", ".join(f"r{i}" for i in range(1, n + 1))
    bc = cost(core, f"ldm r0!, {{{regs}}}" if core == "cortex-m0plus" or n < 8
              else f"ldm.w r9, {{{regs}}}")
    assert bc.cycles_not_taken == 1 + n and bc.n_loads == n
    bc = cost(core, f"stmia r0!, {{{regs}}}" if n < 8 else f"stm.w r9, {{{regs}}}")
    assert bc.cycles_not_taken == 1 + n and bc.n_stores == n


@needs_as
@pytest.mark.parametrize("core", M34)
def test_ldrd_strd_and_no_pipelining_with_neighbours(cost, core):
    bc = cost(core, "ldrd r0, r1, [r2, #8]")
    assert bc.cycles_not_taken == 3 and bc.n_loads == 2
    assert cost(core, "strd r0, r1, [r2]").cycles_not_taken == 3
    assert cost(core, "ldr r3, [r4]\nldrd r0, r1, [r2]").cycles_not_taken == 5
    assert cost(core, "ldm r0, {r1, r2}\nldr r3, [r4]").cycles_not_taken == 3 + 2


@needs_as
@pytest.mark.parametrize("core", M34)
def test_push_pop(cost, core):
    bc = cost(core, "push {r4-r7, lr}")
    assert bc.cycles_not_taken == 6 and bc.n_stores == 5
    bc = cost(core, "pop {r4-r7}")
    assert bc.cycles_not_taken == 5 and bc.n_loads == 4


@needs_as
@pytest.mark.parametrize("core", M34)
@pytest.mark.parametrize("n", [1, 3, 5])
def test_pop_pc_one_plus_n_plus_p(cost, core, n):
    regs = ", ".join([f"r{i}" for i in range(4, 4 + n - 1)] + ["pc"])
    bc = cost(core, f"pop {{{regs}}}")
    P = ct(core).P
    assert P == 2
    assert bc.cycles_taken == bc.cycles_not_taken == 1 + n + P
    assert bc.ends_in == "return" and bc.n_loads == n


@needs_as
@pytest.mark.parametrize("core", M34)
def test_load_to_pc_and_table_branch(cost, core):
    bc = cost(core, "ldr pc, [r0, #4]")
    assert bc.cycles_taken == 5 and bc.ends_in == "indirect"     # TRM: >= 5, blocking
    bc = cost(core, "tbb [pc, r1]")
    assert bc.cycles_taken == 6 and bc.n_loads == 1              # TRM: >= 6, blocking


# ----------------------------------------------------------------------------- branches


@needs_as
@pytest.mark.parametrize("core", M34)
def test_unconditional_branches(cost, core):
    # [timing.branch_refill]: B, BL and BX LR resolve in decode (M3 TRM r2p0 Table 15-3),
    # P = decode_time = 1 (a taken branch "takes two cycles"); other PC writes P = 2
    assert ct(core).spec.branch_refill.decode_time == 1 and ct(core).P == 2
    bc = cost(core, "loop: adds r0, #1\nb loop")
    assert bc.cycles_taken == bc.cycles_not_taken == 1 + 1 + 1 and bc.ends_in == "branch"
    bc = cost(core, "f: bl f")
    assert bc.cycles_taken == 2 and bc.ends_in == "call"
    bc = cost(core, "bx lr")
    assert bc.cycles_taken == 2 and bc.ends_in == "return"
    bc = cost(core, "mov lr, r2\nbx lr")          # LR written just before: resolved in execute
    assert bc.cycles_taken == 1 + 1 + 2
    bc = cost(core, "blx r3")
    assert bc.cycles_taken == 3 and bc.ends_in == "call"
    assert cost(core, "mov pc, lr").ends_in == "return"
    bc = cost(core, "mov pc, r3")
    assert bc.cycles_taken == 3 and bc.ends_in == "indirect"


@needs_as
@pytest.mark.parametrize("core", M34)
def test_conditional_branch(cost, core):
    bc = cost(core, "loop: subs r0, #1\nbne loop")
    assert (bc.cycles_not_taken, bc.cycles_taken) == (2, 3)         # B<cc>: decode-time
    assert bc.ends_in == "cond_branch"
    bc = cost(core, "cbz r0, fwd\n__end:\n.space 8\nfwd: nop")
    assert (bc.cycles_not_taken, bc.cycles_taken) == (1, 3)
    assert bc.instructions == 1


@needs_as
def test_it_block_two_instructions(cost):
    # CMP (16-bit) + IT folded (0) + both conditional instructions costed once each
    bc = cost("cortex-m4f", "cmp r0, #0\nite eq\nmoveq r1, #1\nmovne r1, #2")
    assert bc.cycles_not_taken == 3 and bc.instructions == 4
    # after a 32-bit instruction IT is not folded
    bc = cost("cortex-m4f", "cmp.w r0, #0\nitt eq\naddeq r1, r1, #1\naddeq r2, r2, #1")
    assert bc.cycles_not_taken == 4
    # condition-failed loads still cost their cycles (static costing)
    bc = cost("cortex-m3", "cmp r0, #0\nite eq\nldreq r1, [r2]\nldrne r1, [r3]")
    assert bc.cycles_not_taken == 1 + 0 + 2 + 1 and bc.n_loads == 2
    # conditional return inside IT: refill only when taken
    bc = cost("cortex-m4f", "cmp r0, #0\nit eq\nbxeq lr")
    assert (bc.cycles_not_taken, bc.cycles_taken) == (2, 3)         # BX LR: decode-time
    assert bc.ends_in == "cond_branch"


# ----------------------------------------------------------------------------- multiply/DSP


@needs_as
def test_multiply_m3_vs_m4(cost):
    assert cost("cortex-m3", "mul r0, r1, r2").cycles_not_taken == 1
    assert cost("cortex-m3", "mla r0, r1, r2, r3").cycles_not_taken == 2
    assert cost("cortex-m4f", "mla r0, r1, r2, r3").cycles_not_taken == 1
    assert cost("cortex-m4f", "mls r0, r1, r2, r3").cycles_not_taken == 1
    assert cost("cortex-m4f", "umull r0, r1, r2, r3").cycles_not_taken == 1
    assert cost("cortex-m4f", "smlal r0, r1, r2, r3").cycles_not_taken == 1
    # M3 long multiplies: documented approximations within the TRM ranges
    assert 3 <= cost("cortex-m3", "umull r0, r1, r2, r3").cycles_not_taken <= 5
    assert 4 <= cost("cortex-m3", "umlal r0, r1, r2, r3").cycles_not_taken <= 7


@needs_as
def test_dsp_all_one_cycle_m4(cost):
    src = "\n".join(["smlad r0, r1, r2, r0", "smuad r3, r4, r5", "sxtb16 r6, r7",
                     "sxtb16 r8, r7, ror #8", "sadd16 r9, r1, r2", "qadd r10, r1, r2",
                     "pkhbt r11, r1, r2, lsl #16", "smlabb r0, r1, r2, r0", "sel r3, r4, r5",
                     "usada8 r6, r1, r2, r6", "smmla r7, r1, r2, r7", "ssat16 r8, #8, r1"])
    bc = cost("cortex-m4f", src)
    assert bc.cycles_not_taken == 12
    assert cost("cortex-m4f", "smlad r0, r1, r2, r0").cycles_not_taken == 1


# ----------------------------------------------------------------------------- divide


@needs_as
@pytest.mark.parametrize("core", ["cortex-m3", "cortex-m4f", "cortex-m33", "cortex-m7f"])
def test_sdiv_dyn_entry(cost, core):
    bc = cost(core, "adds r0, #1\nsdiv r0, r1, r2\nudiv r3, r4, r5")
    assert bc.dyn == [("sdiv", 1, "r1", "r2"), ("udiv", 2, "r4", "r5")]
    t = ct(core)
    assert bc.insns[1][5] == "div"
    if core != "cortex-m7f":
        # static cost carries div_min; the caller adds div_extra at run time
        assert bc.cycles_not_taken == 1 + 2 * t.div_min
    assert t.div_extra(100, 7, False) == div_cycles(t, 100, 7, False) - t.div_min


def test_div_cycles_approximation():
    m4 = ct("cortex-m4f")
    assert div_cycles(m4, 5, 7, False) == 2             # quotient 0
    assert div_cycles(m4, 5, 0, False) == 2             # divide by zero
    assert div_cycles(m4, 0xFFFFFFFF, 1, False) == 12   # 32 quotient bits
    assert div_cycles("cortex-m4f", 100, 10, False) == 2 + 2   # q = 4 bits: ceil(4*10/32)
    assert div_cycles(m4, -0x7FFFFFFF, 1, True) == 12
    vals = [div_cycles(m4, 1 << k, 1, False) for k in range(32)]
    assert vals == sorted(vals) and min(vals) >= 2 and max(vals) <= 12
    assert div_cycles(ct("cortex-m7f"), 0xFFFFFFFF, 1, False) == 7
    assert div_cycles(ct("cortex-m7f"), 1, 1, False) == 7


# ----------------------------------------------------------------------------- FPU (M4F)


@needs_as
def test_fpu_table_m4f(cost):
    c = lambda s: cost("cortex-m4f", s).cycles_not_taken  # noqa: E731
    assert c("vadd.f32 s0, s1, s2") == 1
    assert c("vmul.f32 s0, s1, s2") == 1
    assert c("vdiv.f32 s0, s1, s2") == 14
    assert c("vsqrt.f32 s0, s1") == 14
    assert c("vmla.f32 s0, s1, s2") == 3
    assert c("vfma.f32 s0, s1, s2") == 3
    assert c("vldr s0, [r0]") == 2
    assert c("vldr d0, [r0]") == 3
    assert c("vstr s0, [r0, #4]") == 2
    assert c("vcvt.s32.f32 s0, s1") == 1
    assert c("vmov s0, r0") == 2
    assert c("vmov r0, r1, d0") == 2
    assert c("vmov.f32 s0, s1") == 1
    # capstone names some VFP forms differently (fmstat, fconsts): classified by UAL name
    bc = cost("cortex-m4f", "vmrs APSR_nzcv, fpscr\nvmov.f32 s0, #0.5")
    assert [i[5] for i in bc.insns] == ["vmrs", "vmov"] and bc.cycles_not_taken == 2
    bc = cost("cortex-m4f", "vpush {d8-d9}")
    assert bc.cycles_not_taken == 1 + 4 and bc.n_stores == 4
    bc = cost("cortex-m4f", "vldmia r0!, {s0-s3}")
    assert bc.cycles_not_taken == 1 + 4 and bc.n_loads == 4


@needs_as
def test_fpu_dependency_plus_one(cost):
    c = lambda s: cost("cortex-m4f", s).cycles_not_taken  # noqa: E731
    assert c("vadd.f32 s0, s1, s2\nvmul.f32 s3, s4, s5") == 2      # independent
    assert c("vadd.f32 s0, s1, s2\nvmul.f32 s3, s0, s5") == 3      # result used by next
    assert c("vadd.f32 s0, s1, s2\nadds r0, #1\nvmul.f32 s3, s0, s5") == 3  # not next
    # MAC reads its addend one cycle late: arithmetic -> addend does not stall
    assert c("vmul.f32 s0, s1, s2\nvmla.f32 s0, s3, s4") == 1 + 3
    assert c("vmul.f32 s0, s1, s2\nvmla.f32 s5, s0, s4") == 1 + 1 + 3


# ----------------------------------------------------------------------------- M0+


@needs_as
def test_m0plus_table(cost):
    c = lambda s: cost("cortex-m0plus", s)  # noqa: E731
    assert c("muls r0, r1, r0").cycles_not_taken == 1
    assert c("ldr r0, [r1]").cycles_not_taken == 2
    assert c("ldr r0, [r1]\nldr r2, [r3]\nldr r4, [r5]").cycles_not_taken == 6  # no pipelining
    assert c("str r0, [r1, #4]").cycles_not_taken == 2
    assert c("adds r1, #4\nldr r0, [r1]").cycles_not_taken == 3
    assert c("loop: b loop").cycles_taken == 2
    assert c("f: bl f").cycles_taken == 3
    assert c("bx lr").cycles_taken == 2
    bc = c("loop: subs r0, #1\nbne loop")
    assert (bc.cycles_not_taken, bc.cycles_taken) == (2, 3)
    for n in (1, 2, 5):
        regs = ", ".join([f"r{i}" for i in range(4, 4 + n - 1)] + ["pc"])
        assert c(f"pop {{{regs}}}").cycles_taken == 3 + n
    assert c("push {r4-r7, lr}").cycles_not_taken == 6
    assert c("dmb").cycles_not_taken == 3
    assert c("mrs r0, primask").cycles_not_taken == 3
    assert c("wfi").ends_in == "wfi"
    assert c("svc #1").ends_in == "svc"


# ----------------------------------------------------------------------------- M33


@needs_as
def test_m33_refinements(cost):
    c = lambda s: cost("cortex-m33", s)  # noqa: E731
    assert c("ldrd r0, r1, [r2]").cycles_not_taken == 2
    assert c("ldm r0!, {r1-r4}").cycles_not_taken == 4                 # N, not 1 + N
    assert c("loop: b.w loop").cycles_taken == 2                       # taken branch 2
    assert c("ldr r0, [r1]\nadds r2, r0, r3").cycles_not_taken == 3    # load-use 2
    assert c("ldr r0, [r1]\nadds r2, r4, r3").cycles_not_taken == 2
    assert c("ldr r0, [r1]\nstr r0, [r2]").cycles_not_taken == 2       # load->store data 1
    assert c("ldr r0, [r1]\nmla r2, r3, r4, r0").cycles_not_taken == 2  # -> accumulator 1
    assert c("mla r2, r3, r4, r2\nmla r2, r5, r6, r2").cycles_not_taken == 2  # acc chain
    assert c("mla r2, r3, r4, r5\nadds r1, r2, r2").cycles_not_taken == 3     # MAC result 2
    # JNK-M33 16-bit branch pairing
    bc = c("loop: subs r7, #1\nbne loop")
    assert (bc.cycles_not_taken, bc.cycles_taken) == (1, 3)
    bc = c("loop: subs r7, #1\nmov r0, r8\nbne loop")   # 16-bit, no flags
    assert (bc.cycles_not_taken, bc.cycles_taken) == (2, 3)
    assert c("sdiv r0, r1, r2").cycles_not_taken == 2


# ----------------------------------------------------------------------------- M7


@needs_as
def test_m7_dual_issue_independent_alu(cost):
    src = "\n".join(f"add r{i}, r{i}, #1" for i in range(8))
    bc = cost("cortex-m7f", src)
    assert bc.cycles_not_taken == 4 < 8
    # a dependency chain cannot pair
    chain = "\n".join("add r0, r0, #1" for _ in range(8))
    assert cost("cortex-m7f", chain).cycles_not_taken == 8


@needs_as
def test_m7_pairing_rules(cost):
    c = lambda s: cost("cortex-m7f", s).cycles_not_taken  # noqa: E731
    assert c("str r0, [r1]\nstr r2, [r3]") == 2               # one store pipe
    assert c("ldr r0, [r1]\nstr r2, [r3]") == 1               # load + store pair
    assert c("mul r0, r1, r2\nstr r3, [r4]") == 2             # MAC + store forbidden
    assert c("mul r0, r1, r2\nmul r3, r4, r5") == 2           # one MAC pipe
    assert c("ldr r0, [r1]\nldr r2, [r1, #4]") == 1           # different banks
    assert c("ldr r0, [r1]\nldr r2, [r1, #8]") == 2           # same bank
    assert c("uxtb r0, r1\nuxtb r2, r3") == 2                 # slot-0 only
    assert c("adds r0, #1\nuxtb r2, r3") == 2                 # slot-0 op cannot be younger
    assert c("uxtb r2, r3\nadds r0, #1") == 1
    assert c("movw r0, #1\nmovt r0, #2") == 1                 # movw/movt pair
    assert c("ldm r0, {r1-r4}") == 2                          # ceil(N/2), single issue
    assert c("ldrb r0, [r1]\nadds r2, r0, #1") == 3           # byte load latency 2
    assert c("ldr r0, [r1]\nadds r2, r0, #1") == 2            # word load latency 1
    assert c("vadd.f32 s0, s1, s2\nvadd.f32 s3, s4, s5") == 2  # one VFP pipe
    assert c("vadd.f32 s0, s1, s2\nvmul.f32 s3, s0, s5") == 4  # FP latency 3
    assert c("vdiv.f32 s0, s1, s2") == 16
    assert c("sdiv r0, r1, r2") == 7


@needs_as
def test_m7_branch_prediction_model(cost):
    t = ct("cortex-m7f")
    # backward conditional: predicted taken -> taken free, fall-through mispredicts
    bc = cost("cortex-m7f", "loop: adds r1, #1\nadds r2, #1\nadds r3, #1\nsubs r0, #1\n"
                            "bne loop")
    base = 3
    assert bc.cycles_taken == base
    assert bc.cycles_not_taken == base + 8       # flags set in the cycle before the branch
    # forward conditional: predicted not taken
    bc = cost("cortex-m7f", "cmp r0, #0\nbeq fwd\n__end:\n.space 8\nfwd: nop")
    assert bc.cycles_not_taken == 1
    assert bc.cycles_taken == 1 + t.t["branch_mispredict_cycles"]
    # flags set >= 3 cycles before the branch: 6
    adds = "\n".join(f"add r{i}, r{i}, #1" for i in range(1, 8))
    bc = cost("cortex-m7f", f"cmp r0, #0\n{adds}\nbeq fwd\n__end:\n.space 8\nfwd: nop")
    assert bc.cycles_taken - bc.cycles_not_taken == 6
    # returns/indirect: indirect_extra
    assert cost("cortex-m7f", "bx lr").cycles_taken == 1 + t.t["indirect_extra"]


# ----------------------------------------------------------------------------- int8 loop


CONV_LOOP = """
loop:
    ldr r4, [r0], #4
    ldr r5, [r1], #4
    sxtb16 r6, r4
    sxtb16 r7, r4, ror #8
    sxtb16 r8, r5
    sxtb16 r9, r5, ror #8
    smlad r10, r6, r8, r10
    smlad r11, r7, r9, r11
    ldr r4, [r2], #4
    ldr r5, [r3], #4
    sxtb16 r6, r4
    sxtb16 r7, r4, ror #8
    sxtb16 r8, r5
    sxtb16 r9, r5, ror #8
    smlad r10, r6, r8, r10
    smlad r11, r7, r9, r11
    subs r12, r12, #1
    add lr, lr, #2
    cmp r12, #0
    bne loop
"""


@needs_as
def test_int8_conv_inner_loop_within_class_sums(cost):
    m4 = cost("cortex-m4f", CONV_LOOP)
    assert m4.instructions == 20 and m4.n_loads == 4
    # class sums: 4 loads x2 (two pipelined pairs save 1 each) + 16 single-cycle + branch
    assert m4.cycles_not_taken == 4 * 2 - 2 + 15 + 1
    assert m4.cycles_taken == m4.cycles_not_taken + 1                # BNE: decode-time P
    upper = sum({"load": 2}.get(i[5], 1) for i in m4.insns) + 1
    assert 20 <= m4.cycles_taken <= upper
    assert sum(i[4] for i in m4.insns) == m4.cycles_taken
    m7 = cost("cortex-m7f", CONV_LOOP)
    assert m7.cycles_taken < m4.cycles_taken
    assert 10 <= m7.cycles_taken                         # at most 2 instructions/cycle
    assert sum(i[4] for i in m7.insns) == m7.cycles_taken
    m33 = cost("cortex-m33", CONV_LOOP)
    assert 20 <= m33.cycles_taken <= upper + 4


# ----------------------------------------------------------------------------- misc


@needs_as
def test_insns_record_and_cache(asm):
    t = CoreTiming("cortex-m4f")
    code = asm("ldr r0, [r1]\nadds r0, #1\nstr r0, [r1]")
    bc = t.block_cost(code, 0x08000100)
    assert [i[0] for i in bc.insns] == [0x08000100, 0x08000102, 0x08000104]
    assert [i[2] for i in bc.insns] == ["ldr", "adds", "str"]
    assert sum(i[4] for i in bc.insns) == bc.cycles_not_taken
    assert t.block_cost(code, 0x08000100) is bc           # decoded once per block


def test_undecodable_bytes_do_not_crash():
    t = CoreTiming("cortex-m4f")
    bc = t.block_cost(b"\x00\x20" + b"\xff\xf7", 0)      # movs r0,#0 + truncated 32-bit
    assert bc.instructions == 2 and bc.insns[1][5] == "unknown"
    assert bc.cycles_not_taken == 2


def test_branch_to_unaligned_wide_target():
    """[timing.branch_refill] unaligned_wide_target: a taken B to a 32-bit instruction at an
    address = 2 mod 4 costs one more (Cortex-M4 compendium, instruction-alignment rules);
    a 16-bit target, an aligned one, or an unreadable one adds nothing; P <= max (3)."""
    code = bytes.fromhex("01e0")                       # 0x100: b.n 0x106
    for target, peek, want in ((0x106, b"\x00\xf0", 3), (0x106, b"\x00\xbf", 2), (0x106, None, 2)):
        t = CoreTiming("cortex-m4f")
        t.peek = (lambda a, n, r=peek: r) if peek is not None else None
        assert t.block_cost(code, 0x100).cycles_taken == want, (peek, want)
    t = CoreTiming("cortex-m4f")
    t.peek = lambda a, n: b"\x00\xf0"
    assert t.block_cost(bytes.fromhex("00e0"), 0x100).cycles_taken == 2   # target 0x104: aligned
    # the M33 has no alignment term (cores/cortex-m33.toml)
    t = CoreTiming("cortex-m33")
    t.peek = lambda a, n: b"\x00\xf0"
    assert t.spec.branch_refill.unaligned_wide_target == 0
