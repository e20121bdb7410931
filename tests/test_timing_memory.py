"""Memory timing model (mcusim/timing/memory.py): wait states, the STM32L4 ART (prefetch,
I/D lines), Cortex-M7 L1 caches, and fast vs detailed fidelity.

The small programs are hand-encoded Thumb-2 placed at flash + 0x40; their stall is the run's
cycles minus the same run without the memory model (MCUSIM_MEMORY_MODEL=0), so every
expectation below is memory stall only and is worked out by hand in the comments
(docs/timing.md "Memory timing" describes the rules used).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from mcusim.catalog import load_mcu
from mcusim.machine import Machine
from mcusim.timing.memory import Cache

ROOT = Path(__file__).resolve().parent.parent
PREBUILT = ROOT / "firmware_images" / "prebuilt"

# FLASH_ACR (RM0432): LATENCY[3:0], PRFTEN bit 8, ICEN bit 9, DCEN bit 10
PRFTEN, ICEN, DCEN = 1 << 8, 1 << 9, 1 << 10


# ---------------------------------------------------------------------- tiny assembler
def h(*hws):
    return b"".join(struct.pack("<H", x) for x in hws)


def movw(rd, imm):
    return h(0xF240 | ((imm >> 11) & 1) << 10 | (imm >> 12) & 0xF,
             ((imm >> 8) & 7) << 12 | rd << 8 | imm & 0xFF)


def movt(rd, imm):
    return h(0xF2C0 | ((imm >> 11) & 1) << 10 | (imm >> 12) & 0xF,
             ((imm >> 8) & 7) << 12 | rd << 8 | imm & 0xFF)


def mov32(rd, value):
    return movw(rd, value & 0xFFFF) + movt(rd, value >> 16)


NOP = h(0xBF00)
ADDW = h(0xF100, 0x0001)                 # add.w r0, r0, #1 (1 cycle)
EXIT = mov32(1, 0x20026) + h(0x2018, 0xBEAB)   # r1 = ADP_Stopped_ApplicationExit; movs r0,#0x18; bkpt 0xab


def movs(rd, imm):
    return h(0x2000 | rd << 8 | imm)


def ldr(rt, rn, off):
    return h(0x6800 | (off // 4) << 6 | rn << 3 | rt)


LOOP_END = h(0x3A01, 0xD000, 0x4720)     # subs r2,#1 ; beq .+4 (skip) ; bx r4


def run_prog(code, *, mcu="stm32l4r5", mode="detailed", clock_mhz=None, acr=None, ccr=0,
             data=None, data_off=0x800, model=True, monkeypatch=None, warnings=None):
    if not model:
        monkeypatch.setenv("MCUSIM_MEMORY_MODEL", "0")
    spec = load_mcu(mcu)
    warn = (warnings.append if warnings is not None else (lambda msg: None))
    m = Machine(spec, clock_mhz=clock_mhz, mode=mode, stdout=io.BytesIO(),
                stderr=io.BytesIO(), warn=warn)
    if not model:
        monkeypatch.delenv("MCUSIM_MEMORY_MODEL")
    base = spec.memory("flash").base
    m.write_memory(base, struct.pack("<II", 0x20001000, base + 0x41))
    m.write_memory(base + 0x40, code)
    if data:
        m.write_memory(base + data_off, data)
    if acr is not None:
        m.flash_acr.write_word(m.flash_acr.acr_off, acr)
    if ccr and model:
        m.scs.write_word(0xED14, m.scs.ccr | ccr)   # SCB->CCR, as SCB_EnableICache/DCache do
    m.reset()
    m.run(max_cycles=10_000_000)
    assert m.outcome == "exit", (m.outcome, m.limit_reason, m.fault)
    return m


def stall(code, monkeypatch, **kw):
    with_model = run_prog(code, monkeypatch=monkeypatch, **kw)
    core = run_prog(code, monkeypatch=monkeypatch, model=False, **kw)
    return with_model.cycles - core.cycles, with_model


# ---------------------------------------------------------------------- wait states
STRAIGHT_NOPS = NOP * 64 + EXIT       # 128 B of nops (8 granules of 16 B) + exit granule
STRAIGHT_ADDW = ADDW * 32 + EXIT      # 8 granules of 4 one-cycle add.w + exit granule


@pytest.mark.parametrize("mode", ["detailed", "fast"])
@pytest.mark.parametrize("clock,ws", [(120, 5), (24, 1)])   # RM0432 Range 1 boost table
def test_straight_line_art_off(monkeypatch, mode, clock, ws):
    # ART off (ACR = LATENCY only): every 16-byte (128-bit read) granule is a flash access
    # of ws + 1 cycles: 9 granules x ws.
    s, m = stall(STRAIGHT_NOPS, monkeypatch, clock_mhz=clock, acr=ws, mode=mode)
    assert m.memory_model.config["flash_ws"] == ws
    assert s == 9 * ws


@pytest.mark.parametrize("clock,ws", [(120, 5), (24, 1)])
def test_straight_line_art_on(monkeypatch, clock, ws):
    # Prefetch + I-cache: only the first granule waits; each next one is fetched while the
    # 8 one-cycle nops of the previous execute (a flash read takes ws + 1 <= 8 cycles).
    s, _ = stall(STRAIGHT_NOPS, monkeypatch, clock_mhz=clock, acr=ws | PRFTEN | ICEN | DCEN)
    assert s == ws
    # 4 cycles per granule (add.w): the flash delivers one granule per ws + 1 cycles, so at
    # 5 WS each of the 8 following granules waits 6 - 4 = 2; at 1 WS prefetch hides all.
    s, _ = stall(STRAIGHT_ADDW, monkeypatch, clock_mhz=clock, acr=ws | PRFTEN | ICEN)
    assert s == ws + 8 * max(0, ws + 1 - 4)


def test_default_run_configuration(monkeypatch):
    # Firmware never writes FLASH_ACR: latency from the clock table, accelerator on.
    s, m = stall(STRAIGHT_NOPS, monkeypatch)
    cfg = m.memory_model.config
    assert (cfg["flash_ws"], cfg["prefetch"], cfg["art_icache"], cfg["art_dcache"]) == (5, True, True, True)
    assert s == 5


def test_latency_follows_acr_and_warns_when_too_low(monkeypatch):
    warnings = []
    s, m = stall(STRAIGHT_NOPS, monkeypatch, acr=2, warnings=warnings)
    assert s == 9 * 2                      # LATENCY = 2 is used...
    assert len([w for w in warnings if "LATENCY" in w]) == 1   # ...with one warning
    s, _ = stall(STRAIGHT_NOPS, monkeypatch, acr=7)
    assert s == 9 * 7                      # more than needed: costs more


# ---------------------------------------------------------------------- ART I-cache
def loop_prog(lines, reps=10):
    """A loop of `lines` 32-byte lines starting at flash+0x80 (line aligned)."""
    body = (lines * 32 - len(LOOP_END)) // 2
    pro = mov32(4, 0x08000081) + movs(2, reps)
    pro += NOP * ((0x40 - len(pro)) // 2)
    return pro + NOP * body + LOOP_END + EXIT


def test_art_icache_loop_fits_vs_not(monkeypatch):
    acr = 5 | ICEN | DCEN                  # I-cache on, prefetch off, 120 MHz
    # 24 lines fit in the 32-line ART: misses only in the first pass. Per missed line: the
    # first granule waits 5, the second streams in while 8 nops run (0). Prologue 2 lines
    # (10) + first pass 24 x 5 + exit line 5 = 135.
    s_fit, _ = stall(loop_prog(24), monkeypatch, acr=acr)
    assert s_fit == 10 + 24 * 5 + 5
    # 40 lines (LRU, 32 lines) miss on every pass: 10 + 10 x 40 x 5 + 5 = 2015.
    s_big, m = stall(loop_prog(40), monkeypatch, acr=acr)
    assert s_big == 10 + 10 * 40 * 5 + 5
    assert m.memory_model.art_i.misses == 2 + 400 + 1


# ---------------------------------------------------------------------- data from flash
TABLE_ADDR = 0x08000800


def data_prog(reps=50, base=0x08000000, stride=4):
    pro = mov32(1, base + 0x800) + mov32(4, base + 0x81) + movs(2, reps)
    pro += NOP * ((0x40 - len(pro)) // 2)
    body = b"".join(ldr(3, 1, k * stride) for k in range(4))
    return pro + body + LOOP_END + EXIT


def test_flash_data_reads_dcache(monkeypatch):
    # four loads, each from another 16-byte flash line (the 128-bit read width)
    prog = data_prog(stride=16)
    on = run_prog(prog, acr=5 | PRFTEN | ICEN | DCEN, data=bytes(range(64)))
    off = run_prog(prog, acr=5 | PRFTEN | ICEN, data=bytes(range(64)))
    # DCEN: the 64 bytes are two 32-byte ART D-lines: two misses (5 each), then hits; no
    # D-cache: every load leaves the line in the D-Code current buffer: 4 x 50 x 5 WS.
    assert on.memory_model.stats["data_stall"] == 2 * 5
    assert off.memory_model.stats["data_stall"] == 4 * 50 * 5
    assert off.cycles - on.cycles == 4 * 50 * 5 - 2 * 5
    # the loaded value is right (r3 = the word at offset 48 of the table)
    from unicorn import arm_const as A
    assert on.uc.reg_read(A.UC_ARM_REG_R3) == struct.unpack("<I", bytes(range(48, 52)))[0]


def test_flash_data_reads_current_buffer(monkeypatch):
    """RM0440 §3.3.4: a D-Code read fetches the 128-bit line into a current buffer; reads
    inside it take no flash access, with the D-cache off too ([flash.accelerator]
    data_buffer of stm32l4). Four words of one line, 50 times: one read in all."""
    off = run_prog(data_prog(stride=4), acr=5 | PRFTEN | ICEN, data=bytes(range(64)))
    assert off.memory_model.stats["data_stall"] == 5
    assert off.memory_model.stats["flash_reads_around"] == 1


# ---------------------------------------------------------------------- Cortex-M7 L1
CCR_DC, CCR_IC = 1 << 16, 1 << 17


def test_m7_l1_caches_on_h7a3(monkeypatch):
    prog = data_prog(base=0x08000000)
    off = run_prog(prog, mcu="stm32h7a3", data=bytes(64))
    on = run_prog(prog, mcu="stm32h7a3", data=bytes(64), ccr=CCR_DC | CCR_IC)
    assert off.memory_model.config["flash_ws"] == 6        # 280 MHz, VOS0
    # caches off at reset: every flash load waits 6; D-cache on: one line fill
    assert off.memory_model.stats["data_stall"] == 4 * 50 * 6
    assert on.memory_model.stats["data_stall"] == 6
    # I-cache: the one-granule loop hits after the first pass either way (fetch buffer),
    # but the cold prologue + exit lines are fewer misses with 32-byte line streaming
    assert on.memory_model.stats["fetch_stall"] <= off.memory_model.stats["fetch_stall"]


def test_cache_fits_vs_not():
    # Cortex-M7 D-cache geometry: 16 KB, 4-way, 32-byte lines, LRU
    c = Cache(16384, 32, 4)
    for _ in range(2):
        for a in range(0, 8192, 4):
            c.access(0x20000000 + a)
    assert c.misses == 8192 // 32 and c.hits == 2 * 2048 - 256
    c = Cache(16384, 32, 4)
    for _ in range(2):
        for a in range(0, 32768, 32):
            c.access(0x20000000 + a)
    assert c.hits == 0                      # cyclic sweep of 2x the size: LRU always misses
    # write-back: dirty lines are written back when evicted
    c = Cache(128, 32, 1)
    c.access(0x0, write=True)
    hit, wb = c.access(0x80)                # same set, evicts the dirty line
    assert (hit, wb) == (False, True) and c.writebacks == 1
    # write-through, no write-allocate: a write miss does not allocate
    c = Cache(128, 32, 1, write_back=False, write_allocate=False)
    c.access(0x0, write=True)
    assert not c.contains(0x0)
    # random replacement is deterministic
    a, b = Cache(256, 32, 4, replacement="random"), Cache(256, 32, 4, replacement="random")
    seq = [(i * 97) % 4096 for i in range(2000)]
    assert [a.access(x)[0] for x in seq] == [b.access(x)[0] for x in seq]


# ---------------------------------------------------------------------- generic MCUs
@pytest.mark.parametrize("mcu,target", [("generic-m4", "cortex-m4f"), ("generic-m7", "cortex-m7f"),
                                        ("generic-m0plus", "cortex-m0plus")])
def test_generic_mcus_zero_stall(monkeypatch, mcu, target):
    from mcusim.elf import load_firmware
    elf = PREBUILT / target / "hello.elf"
    if not elf.exists():
        pytest.skip(f"{elf} not built")
    cycles = {}
    out = {}
    for mode, model in (("fast", True), ("detailed", True), ("core", False)):
        if not model:
            monkeypatch.setenv("MCUSIM_MEMORY_MODEL", "0")
        m = Machine(load_mcu(mcu), mode="fast" if mode == "core" else mode,
                    stdout=io.BytesIO(), stderr=io.BytesIO())
        monkeypatch.delenv("MCUSIM_MEMORY_MODEL", raising=False)
        m.load(load_firmware(str(elf)))
        m.reset()
        m.run(max_cycles=50_000_000)
        cycles[mode], out[mode] = m.cycles, bytes(m.captured)
    assert cycles["fast"] == cycles["detailed"] == cycles["core"]
    assert out["fast"] == out["detailed"] == out["core"]


# ---------------------------------------------------------------------- fidelity
# (program, mcu, prints its own cycle counts): fast and detailed must agree on every
# program's output, except the numbers a program measures itself (DWT/SysTick reads land
# a few cycles apart), and stay within 2% in total cycles.
MICRO = [("cortex-m4f", "stm32l4r5", p, timed) for p, timed in (
    ("hello", False), ("fpu_ctx", False), ("nvic", False), ("svc_pendsv", False),
    ("memtest", False), ("memtest_sram2_alias", False), ("sh_time", False), ("dwt", True),
    ("systick", True), ("mb_int", True), ("mb_flash_ws5", True))] + [
    ("cortex-m7f", "stm32h7a3", "mb_dcache", True), ("cortex-m7f", "stm32h7a3", "nvic", False),
    ("cortex-m33", "stm32u585", "systick", True), ("cortex-m0plus", "stm32g0b1", "nvic", False)]


@pytest.mark.parametrize("target,mcu,program,timed", MICRO)
def test_fast_vs_detailed_microbenchmarks(target, mcu, program, timed):
    from mcusim.elf import load_firmware
    elf = PREBUILT / target / f"{program}.elf"
    if not elf.exists():
        pytest.skip(f"{elf} not built")
    res = {}
    for mode in ("fast", "detailed"):
        m = Machine(load_mcu(mcu), mode=mode, stdout=io.BytesIO(), stderr=io.BytesIO())
        m.load(load_firmware(str(elf)))
        m.reset()
        m.run(max_cycles=50_000_000)
        res[mode] = (m.cycles, bytes(m.captured), m.outcome, m.exit_code)
    assert res["fast"][2:] == res["detailed"][2:]
    if not timed:
        assert res["fast"][1] == res["detailed"][1]
    assert abs(res["fast"][0] - res["detailed"][0]) <= 0.02 * res["detailed"][0]


def test_fast_sampling_on_long_flash_loop():
    # 1.5 M cycles of flash loads with the D-cache off (each from another 16-byte line, so
    # none is in the D-Code current buffer): fast learns the loop's stall in sampled
    # windows (several of them) and lands within 2% of detailed, same registers.
    pro = mov32(1, 0x08000800) + mov32(4, 0x08000081) + movw(2, 50000)
    pro += NOP * ((0x40 - len(pro)) // 2)
    prog = pro + ldr(3, 1, 0) + ldr(3, 1, 16) + ldr(3, 1, 32) + ldr(3, 1, 48) + LOOP_END + EXIT
    fast = run_prog(prog, mode="fast", acr=5 | PRFTEN | ICEN, data=bytes(range(64)))
    det = run_prog(prog, mode="detailed", acr=5 | PRFTEN | ICEN, data=bytes(range(64)))
    assert fast.memory_model.stats["windows"] >= 3
    assert fast.memory_model.stats["window_cycles"] < 0.3 * fast.cycles
    assert det.memory_model.stats["data_stall"] == 4 * 50000 * 5
    assert abs(fast.cycles - det.cycles) <= 0.02 * det.cycles
    from unicorn import arm_const as A
    assert fast.uc.reg_read(A.UC_ARM_REG_R3) == det.uc.reg_read(A.UC_ARM_REG_R3)


def test_fast_vs_detailed_kws():
    from mcusim.infer import run_inference
    try:
        fast = run_inference("kws", "stm32l4r5", kernels="ref", mode="fast")
    except Exception as e:                  # image not built
        pytest.skip(str(e))
    det = run_inference("kws", "stm32l4r5", kernels="ref", mode="detailed")
    assert fast.output.tobytes() == det.output.tobytes()
    assert fast.record["stdout"] == det.record["stdout"]
    assert fast.record["outcome"] == det.record["outcome"] == "exit"
    err = abs(fast.record["cycles"] - det.record["cycles"]) / det.record["cycles"]
    assert err <= 0.02, err


@pytest.mark.parametrize("mcu,model", [("stm32h7a3", "kws"), ("stm32l4r5", "kws")])
def test_fast_within_two_percent_of_detailed_on_inference(mcu, model):
    """DESIGN.md: fast mode within 2% of detailed. kws opt on the H7A3 (D-cache on) was
    +2.98% while a block learned cold at a layer's start went unchecked by the windows
    after it (docs/timing.md "Fidelity modes"); the period rule now re-samples sooner."""
    from mcusim.infer import run_inference
    det = run_inference(model, mcu, kernels="opt", mode="detailed", power=False)
    fast = run_inference(model, mcu, kernels="opt", mode="fast", power=False)
    assert fast.record["output_sha256"] == det.record["output_sha256"]
    d, f = det.record["inference"]["cycles"], fast.record["inference"]["cycles"]
    assert abs(f - d) <= 0.02 * d, (f, d, f / d - 1)
