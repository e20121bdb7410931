"""Accelerator plugins (mcusim/accelerators/, docs/accelerators.md): the plugin API on the
tutorial's toy accelerator (registers, bus transfers, IRQ, contention with the CPU and the
DMA engine, energy), bad plugin input, the custom instruction trap (semantics, timing,
energy, CPACR, --verify), and the example NPU and dot4 images bit-exact with the TFLite
Micro interpreter.

Firmware: firmware_images/tests/accel_toy.c, cx_test.c; the infer-npu and infer-cx
images. CI runs the small cases (AD, KWS); `-m slow` the four MLPerf Tiny models on
stm32l4r5 and stm32u585 with both accelerators."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import PREBUILT, REPO, SHARED, NullSink

from mcusim import schema as S
from mcusim.catalog import CatalogError, load_mcu

EXAMPLES = REPO / "examples" / "accelerators"
TOY_MCU = EXAMPLES / "stm32l4r5-toy.toml"
MHZ = 120e6


@pytest.fixture(autouse=True)
def _toy_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


def _elf(target, name):
    p = PREBUILT / target / f"{name}.elf"
    if not p.exists():
        pytest.skip(f"{p} not built (make -C firmware_images)")
    return p


def _machine(mcu, hook=None):
    from mcusim.machine import Machine
    spec = load_mcu(str(mcu)) if not isinstance(mcu, S.McuSpec) else mcu
    m = Machine(spec, stdout=NullSink(), stderr=NullSink(), warn=lambda msg: None)
    if hook is not None:
        hook(m)
    return m


def _run(mcu, elf, hook=None, verify=False):
    from mcusim.elf import load_firmware
    m = _machine(mcu, hook)
    m.load(load_firmware(str(elf)))
    m.reset()
    if verify:
        from mcusim.verify import attach
        attach(m, None)
    m.run(max_cycles=50_000_000, timeout=600)
    return m


def _write(tmp_path, text, name="mcu.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _toml(tmp_path, entries: str, extends="stm32l4r5"):
    return _write(tmp_path, f'extends = "{extends}"\n{entries}')


# ====================================================================== catalog entries
def test_entries_are_typed_named_and_sweepable(tmp_path):
    mcu = load_mcu(str(EXAMPLES / "stm32l4r5-npu.toml"))
    (a,) = mcu.accelerators
    assert (a.name, a.base, a.irq, a.coprocessor_number()) == ("npu", 0xE0102000, 93, None)
    assert a.params.macs_per_cycle == 32 and a.params.energy_per_op_pj == 1.0   # a default
    knobs = {k.path: k for k in mcu.knobs()}
    k = knobs["accelerators.npu.params.macs_per_cycle"]
    assert (k.value, k.type, k.default) == (32, "int", 32)
    assert knobs["accelerators.npu.params.energy_per_byte_pj"].unit == "pJ"
    assert knobs["accelerators.npu.params.idle_power_mw"].unit == "mW"
    d = mcu.derive({"accelerators.npu.params.macs_per_cycle": 128})
    assert d.accelerators[0].params.macs_per_cycle == 128
    with pytest.raises(CatalogError, match="macs_per_cycle"):
        mcu.derive({"accelerators.npu.params.macs_per_cycle": 0})
    # unnamed entries take their class name; repeats get a number; the table form works
    two = load_mcu(str(_toml(tmp_path, '''
[[accelerators]]
type = "toy_dot:DotEngine"
base = 0xE0102000
[[accelerators]]
type = "toy_dot:DotEngine"
base = 0xE0103000
''')))
    assert [a.name for a in two.accelerators] == ["dotengine", "dotengine2"]
    tab = load_mcu(str(_toml(tmp_path, '''
[accelerators.mine]
type = "mcusim.accelerators.dot4:Dot4"
''')))
    assert tab.accelerators[0].name == "mine" and tab.accelerators[0].coprocessor_number() == 0


BAD = [
    ('type = "toy_dot"', "must be \"package.module:Class\""),
    ('type = "no_such_pkg.mod:X"', "cannot import module 'no_such_pkg.mod'"),
    ('type = "toy_dot:DotEngin"\nbase = 0xE0102000', "has no class 'DotEngin' (did you mean 'DotEngine'?)"),
    ('type = "toy_dot:param"', "is not an accelerator plugin"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0xE0102000\n[accelerators.params]\n'
     'macs_per_cyle = 4', "unknown key 'accelerators.npu.params.macs_per_cyle' (did you mean "
     "'accelerators.npu.params.macs_per_cycle'?)"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0xE0102000\n[accelerators.params]\n'
     'macs_per_cycle = "many"', "key 'accelerators.npu.params.macs_per_cycle' must be an "
     "integer"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0xE0102000\n[accelerators.params]\n'
     'bus_width_bytes = 3', "key 'accelerators.npu.params.bus_width_bytes' is 3; expected one of"),
    ('type = "mcusim.accelerators.npu:Npu"', "key 'accelerators.npu.base' is needed"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0xE0102100', "not a multiple of 1024"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0x40008000', "overlaps peripherals.lpuart1"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0x20000000', "overlaps memory.sram1"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0xE0101000', "overlaps the simulator's device"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0xE0102000\nirq = 95',
     "key 'accelerators.npu.irq' = 95 is not below mcu.num_irqs = 95"),
    ('type = "mcusim.accelerators.dot4:Dot4"\ncoprocessor = 8',
     "key 'accelerators.dot4.coprocessor' must be <= 7"),
    ('type = "mcusim.accelerators.dot4:Dot4"\nbase = 0xE0102000', "has no registers"),
    ('type = "mcusim.accelerators.npu:Npu"\nbase = 0xE0102000\ncoprocessor = 1',
     "has no custom instructions"),
]


@pytest.mark.parametrize("entry,msg", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_plugin_input_is_one_line(tmp_path, entry, msg):
    p = _toml(tmp_path, "[[accelerators]]\n" + entry + "\n")
    with pytest.raises(CatalogError) as e:
        load_mcu(str(p))
    text = str(e.value)
    assert "\n" not in text and text.startswith("mcu.toml: "), text
    assert msg in text, text


def test_bad_plugin_cross_checks(tmp_path):
    dup = _toml(tmp_path, '''
[[accelerators]]
type = "mcusim.accelerators.dot4:Dot4"
[[accelerators]]
name = "again"
type = "mcusim.accelerators.dot4:Dot4"
''')
    with pytest.raises(CatalogError, match="coprocessor' = 0 is taken by accelerators.dot4"):
        load_mcu(str(dup))
    m0 = _toml(tmp_path, '[[accelerators]]\ntype = "mcusim.accelerators.dot4:Dot4"\n',
               extends="stm32g0b1")
    with pytest.raises(CatalogError, match="need an Armv7-M or Armv8-M core"):
        load_mcu(str(m0))
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half-written plugin')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        p = _toml(tmp_path, '[[accelerators]]\ntype = "broken_plugin:X"\n')
        with pytest.raises(CatalogError, match="importing module 'broken_plugin' failed: "
                                               "RuntimeError: half-written plugin"):
            load_mcu(str(p))
    finally:
        sys.path.remove(str(tmp_path))


def test_bad_plugin_cli_exit_2(tmp_path):
    p = _toml(tmp_path, '[[accelerators]]\ntype = "no_such_pkg:Npu"\nbase = 0xE0102000\n')
    r = subprocess.run([sys.executable, "-m", "mcusim", "run",
                        str(_elf("cortex-m4f", "accel_toy")), "--mcu", str(p)],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "cannot import module 'no_such_pkg'" in r.stderr
    from mcusim.errors import UserError
    from mcusim.infer import run_inference
    with pytest.raises(UserError, match="needs the dot4 custom instructions"):
        run_inference("ad", "stm32l4r5", kernels="cx")


def test_no_accelerators_no_new_record_keys():
    from mcusim.record import build_record
    m = _run("stm32l4r5", _elf("cortex-m4f", "accel_toy"))     # finds no toy: exits 1
    assert m.exit_code == 1 and m.accelerators is None and m.custom_instructions is None
    rec = build_record(m.trace)
    assert "accelerators" not in rec and "energy_split" not in rec


# ====================================================================== the plugin API
def test_register_access_rules():
    m = _machine(TOY_MCU)
    toy = m.accelerators.by_name["dot"]
    assert toy.read(0x00, 4) == 0x444F5430 and toy.read(0x01, 1) == 0x54   # byte lanes
    toy.write(0x00, 4, 0)                            # r: ignored
    assert toy.read(0x00, 4) == 0x444F5430
    toy.write(0x0C, 4, 0x11223344)                   # rw
    toy.write(0x0D, 1, 0xAA)                         # a byte of it
    assert toy.read(0x0C, 4) == 0x1122AA44 and toy.regs.LEN == 0x1122AA44
    toy.regs.STATUS = 3
    toy.write(0x14, 4, 2)                            # w1c
    assert toy.read(0x14, 4) == 1
    assert toy.read(0x10, 4) == 0                    # w: reads 0
    assert toy.read(0x20, 4) == 93 and toy.read(0x100, 4) == 0
    assert toy.window_size() == 0x1000 and toy.offset_of("RESULT") == 0x18


def test_toy_firmware_registers_dma_irq_energy():
    entries = []

    def hook(m):
        orig = m.exceptions.exception_entry

        def enter(num, ret):
            entries.append((num, m.cycles))
            return orig(num, ret)
        m.exceptions.exception_entry = enter

    m = _run(TOY_MCU, _elf("cortex-m4f", "accel_toy"), hook)
    out = m.captured.decode()
    assert m.exit_code == 0 and "accel_toy: PASS" in out, out
    toy = m.accelerators.by_name["dot"]
    # bus: 64-byte bursts (16 beats of 4 bytes) of 1 + 16 cycles from zero-wait SRAM;
    # compute ceil(n / 4) cycles; the OUT word one 2-cycle transaction
    b = [e - s for s, e in toy.processes]
    assert b == [2 * 4 * 17 + 64 + 2,               # 256 elements, OUT written: 202
                 2 * (17 + 10) + 25,                 # 100 elements (64 + 36 bytes): 79
                 2 * 256 * 17 + 4096]                # 16 KB: 12800
    c = toy.snapshot()
    assert c.active_cycles == sum(b) == 13081 and c.bus_cycles == 8 * 17 + 2 + 54 + 8704
    assert c.bus_bytes == 2 * 256 + 4 + 2 * 100 + 2 * 16384 and c.ops == 256 + 100 + 16384
    # the first job: started by the START store, the core asleep in WFI, its interrupt
    # taken at the job's last cycle (the DWT read in the handler follows entry + prologue)
    irq = [cy for n, cy in entries if n == 16 + 93]
    assert len(irq) == 2
    start, end = toy.processes[0]
    assert 0 <= irq[0] - end <= 40                       # within a block of its end
    printed = int(re.search(r"toy 256: (\d+) cycles", out).group(1))
    assert 202 < printed < 202 + 40
    # energy of the run's record: hand computed from the declared params
    from mcusim.power.run_energy import add_energy
    from mcusim.record import build_record
    rec = build_record(m.trace)
    add_energy(rec, m.trace)
    (row,) = rec["accelerators"]
    secs = 13081 / MHZ
    acc = 0.5e-3 * secs + 16740 * 1.0e-12
    mem = 33484 * 5.0e-12
    assert row["energy_j"] == pytest.approx(acc, rel=1e-12)
    assert row["memory_energy_j"] == pytest.approx(mem, rel=1e-12)
    sp = rec["energy_split"]
    assert sp["accelerator_j"] == pytest.approx(acc) and sp["memory_j"] == pytest.approx(mem)
    assert rec["energy_j"] == pytest.approx(sp["cpu_j"] + acc + mem, rel=1e-12)
    assert rec["system"]["buses"]["ahb"]["busy_by"]["dot"] == c.bus_cycles


def test_toy_contention_with_the_cpu():
    reads = []

    def hook(m):
        orig = m.scs.read

        def rd(off, size):
            v = orig(off, size)
            if off == 0x1004:                            # DWT_CYCCNT
                reads.append((v, m.system.stall_cycles))
            return v
        m.scs.read = rd

    m = _run(TOY_MCU, _elf("cortex-m4f", "accel_toy"), hook)
    out = m.captured.decode()
    alone = int(re.search(r"loop alone (\d+)", out).group(1))
    with_toy = int(re.search(r"loop with toy (\d+)", out).group(1))
    (v0, s0), (v1, s1) = next((reads[i], reads[i + 1]) for i in range(len(reads) - 1)
                              if (reads[i + 1][0] - reads[i][0]) & 0xFFFFFFFF == with_toy)
    stall = s1 - s0
    # the loop's slowdown is the stall the contention model charged while the toy's
    # back-to-back bursts held the bus: about one wait per data access of the loop
    assert stall > 0 and abs((with_toy - alone) - stall) <= 8, (alone, with_toy, stall)
    assert 0.5 * 1500 < stall <= 1500


def test_toy_and_dma_share_the_bus_fifo():
    m = _machine(TOY_MCU)
    toy, dma = m.accelerators.by_name["dot"], m.system.devices["dma"]
    m.bus.log_grants = True
    src = 0x20000000
    toy.write(0x04, 4, src)
    toy.write(0x08, 4, src + 2048)
    toy.write(0x0C, 4, 1024)
    dma.write_word(0x04, src)
    dma.write_word(0x08, src + 0x8000)
    dma.write_word(0x0C, 4096)
    dma.write_word(0x10, 1 | (2 << 4))           # 16-byte bursts: 2 x (1 + 4) cycles
    toy.write(0x10, 4, 1)
    m.env.run(until=20000)
    # the toy asks first (cycle 0), the DMA after its 2 start cycles; then they alternate
    assert m.bus.history[:4] == [(0, 17, "dot"), (17, 27, "dma"), (27, 44, "dot"),
                                 (44, 54, "dma")]
    # the toy's 32 bursts, each behind one DMA burst, then 256 cycles of compute
    assert toy.processes == [(0, 32 * 17 + 31 * 10 + 256)]
    assert dma.transfers[0]["end"] == 256 * 10 + 32 * 17
    assert toy.read(0x18, 4) == 0 and toy.read(0x14, 4) == 2


def test_toy_on_m33_and_deterministic(tmp_path):
    p = _write(tmp_path, TOY_MCU.read_text().replace('"stm32l4r5"', '"stm32u585"'))
    a = _run(p, _elf("cortex-m33", "accel_toy"))
    b = _run(p, _elf("cortex-m33", "accel_toy"))
    assert a.exit_code == 0 and "accel_toy: PASS" in a.captured.decode(), a.captured.decode()
    assert a.cycles == b.cycles and a.accelerators.by_name["dot"].processes == \
        b.accelerators.by_name["dot"].processes


def test_toy_verify_green():
    m = _run(TOY_MCU, _elf("cortex-m4f", "accel_toy"), verify=True)
    assert m.outcome == "exit" and m.exit_code == 0
    assert m.verifier.divergence is None


# ====================================================================== custom instructions
def test_decode_coprocessor_encodings():
    from mcusim.accelerators.coprocessor import decode
    # arm-none-eabi-as -mcpu=cortex-m33 (objdump halfwords)
    assert decode(0xEE00, 0x1010) == ("mcr", 0, 0, 0, 0, 0, 0, 1, 0)     # mcr p0,0,r1,c0,c0,0
    assert decode(0xEE54, 0x3135) == ("mrc", 1, 2, 1, 4, 5, 0, 3, 0)     # mrc p1,2,r3,c4,c5,1
    assert decode(0xEC45, 0x4216) == ("mcrr", 2, 1, 0, 0, 6, 0, 4, 5)    # mcrr p2,1,r4,r5,c6
    assert decode(0xEC57, 0x6317) == ("mrrc", 3, 1, 0, 0, 7, 0, 6, 7)    # mrrc p3,1,r6,r7,c7
    assert decode(0xEE12, 0x1483) == ("cdp", 4, 1, 4, 2, 3, 1, 0, 0)     # cdp p4,1,c1,c2,c3,4
    assert decode(0xFE82, 0x3031)[0] == "mcr2"                           # CDE cx2a encoding
    assert decode(0xED90, 0x0A00) is None                                # vldr (LDC space)


@pytest.mark.parametrize("core", ["cortex-m4f", "cortex-m7f", "cortex-m33"])
def test_timing_model_charges_latency(core):
    from mcusim.timing.core import CoreTiming
    code = bytes.fromhex("42ec0010") + bytes.fromhex("0130")      # mcrr p0,#0,r1,r2,c0; adds
    plain = CoreTiming(core).block_cost(code, 0x1000)
    t = CoreTiming(core)
    t.custom_cost = lambda h1, h2: 7 if (h1, h2) == (0xEC42, 0x1000) else None
    bc = t.block_cost(code, 0x1000)
    assert bc.insns[0][5] == "custom" and bc.insns[0][4] >= 7
    assert bc.cycles_not_taken >= plain.cycles_not_taken + 6
    if core != "cortex-m7f":                   # scalar: exactly the latency instead of 1
        assert bc.cycles_not_taken == plain.cycles_not_taken - plain.insns[0][4] + 7


def _cx_mcu(tmp_path, latency, extends="stm32l4r5"):
    return _toml(tmp_path, f'''
[[accelerators]]
type = "mcusim.accelerators.dot4:Dot4"
coprocessor = 0
[accelerators.params]
latency_cycles = {latency}
energy_per_op_pj = 3.0
''', extends)


def _loops(m):
    out = m.captured.decode()
    assert m.exit_code == 0 and "cx_test: PASS" in out, out
    return (int(re.search(r"cx loop (\d+)", out).group(1)),
            int(re.search(r"nop loop (\d+)", out).group(1)))


def test_custom_instructions_semantics_latency_energy(tmp_path):
    elf = _elf("cortex-m4f", "cx_test")
    m1 = _run(_cx_mcu(tmp_path, 1), elf)
    m5 = _run(_cx_mcu(tmp_path, 5), elf)
    (cx1, nop1), (cx5, nop5) = _loops(m1), _loops(m5)
    # 1000 iterations of 4 custom instructions: 4 extra cycles each at latency 5
    assert cx5 - cx1 == 1000 * 4 * (5 - 1) and nop5 == nop1
    ex = m5.accelerators.instructions.executions(m5.accelerators.by_name["dot4"])
    # 50 cases: an offset, 5 accumulator writes, 8 DOT4 + 8 MAC4, 5 reads; the loop's
    # 4000 DOT4 and one read; the DOT4 without CPACR access faulted (not executed)
    assert ex == {"set_offset": 50, "set_acc": 250, "dot4": 400 + 4000, "mac4": 400,
                  "get_acc": 251}
    from mcusim.power.run_energy import add_energy
    from mcusim.record import build_record
    rec = build_record(m5.trace)
    add_energy(rec, m5.trace)
    assert rec["accelerators"][0]["energy_j"] == pytest.approx(5351 * 3.0e-12, rel=1e-12)
    assert rec["accelerators"][0]["executions"] == ex
    assert m5.fault is None


def test_custom_instructions_m33_and_verify(tmp_path):
    mcu = _cx_mcu(tmp_path, 2, "stm32u585")
    m = _run(mcu, _elf("cortex-m33", "cx_test"))
    _loops(m)
    # --verify: every trap is an event the reference CPU replays (the detection and the
    # 1,350 instructions of the semantics checks; the timing loop after them adds 4,000)
    from mcusim.elf import load_firmware
    from mcusim.verify import attach
    v = _machine(mcu)
    v.load(load_firmware(str(_elf("cortex-m33", "cx_test"))))
    v.reset()
    attach(v, None)
    v.run(max_cycles=40_000)
    assert v.outcome == "limit" and v.verifier.divergence is None
    assert v.custom_instructions.executed > 1000


def test_npu_verify_green():
    from mcusim.infer import run_inference
    r = run_inference("ad", str(EXAMPLES / "stm32l4r5-npu.toml"), kernels="npu", verify=True)
    assert r.machine.outcome == "exit" and r.machine.verifier.divergence is None
    assert r.record["accelerators"][0]["jobs"] == 10


# ====================================================================== the NPU
def _tflm(data, model, inp):
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(data)
    it.set_input(np.frombuffer(inp, np.int8).reshape(model.input_tensors[0].shape), 0)
    it.invoke()
    return it.get_output(0)


def _model(source, name):
    from mcusim.tflite.builtin import builtin_model_bytes
    if source == "builtin":
        return name, builtin_model_bytes(name)
    p = SHARED / "models" / f"{name}.tflite"
    if not p.exists():
        pytest.skip(f"{p} not present")
    return str(p), p.read_bytes()


def _bit_exact(source, name, mcu, kernels, seed=7):
    from mcusim.infer import run_inference
    from mcusim.tflite import read_model
    spec, data = _model(source, name)
    model = read_model(data)
    inp = np.random.default_rng(seed).integers(-128, 128, model.input_tensors[0].nbytes,
                                              dtype=np.int8).tobytes()
    r = run_inference(spec, mcu, kernels=kernels, input_bytes=inp)
    assert r.machine.outcome == "exit" and r.machine.exit_code == 0, r.record["stdout"]
    assert np.array_equal(r.output, _tflm(data, model, inp)), f"{name} {mcu} {kernels}"
    return r


def test_npu_ad_bit_exact_and_report():
    r = _bit_exact("builtin", "ad", str(EXAMPLES / "stm32l4r5-npu.toml"), "npu")
    rec = r.record
    assert [row["unit"] for row in rec["layers"]] == ["npu"] * 10
    npu = rec["accelerators"][0]
    assert npu["name"] == "npu" and npu["jobs"] == 10 and npu["ops"] == sum(
        row["macs"] for row in rec["layers"])
    for row in rec["layers"]:
        a = row["accelerators"]["npu"]
        assert a["active_cycles"] <= row["cycles"] and a["stall_cycles"] + a[
            "compute_cycles"] == a["active_cycles"]
        sp = row["energy_split"]
        assert row["energy_j"] == pytest.approx(sp["cpu_j"] + sp["accelerator_j"] + sp["memory_j"])
    # FULLY_CONNECTED 640 -> 128: 81,920 weight bytes from flash (16 bytes per 1 + 5 wait
    # states at 120 MHz) bound the job: the MAC array (32 MACs/cycle) waits on the bus
    a0 = rec["layers"][0]["accelerators"]["npu"]
    assert a0["bus_bytes"] >= 81920 and a0["stall_cycles"] > a0["compute_cycles"]
    assert rec["inference_energy_split"]["accelerator_j"] > 0
    assert rec["inference_energy_j"] == pytest.approx(sum(rec["inference_energy_split"].values()))


def test_npu_kws_on_u585_and_fallback_for_shapes_it_cannot_take(tmp_path):
    r = _bit_exact("builtin", "kws", str(EXAMPLES / "stm32u585-npu.toml"), "npu")
    units = [row["unit"] for row in r.record["layers"]]
    assert units == ["npu"] * 9 + ["cpu", "cpu", "npu", "cpu"]
    # a 256-byte local buffer: a 1x1 CONV_2D input row (5 x 64 bytes) does not fit its
    # 128-byte half: those layers run on the CPU, the others still on the NPU
    small = _write(tmp_path, (EXAMPLES / "stm32l4r5-npu.toml").read_text().replace(
        "local_buffer_bytes = 32768", "local_buffer_bytes = 256"))
    r = _bit_exact("builtin", "kws", str(small), "npu")
    units = [row["unit"] for row in r.record["layers"]]
    assert units == ["npu", "npu", "cpu", "npu", "cpu", "npu", "cpu", "npu", "cpu", "cpu",
                     "cpu", "npu", "cpu"]


def test_npu_polled_and_absent(tmp_path):
    polled = _write(tmp_path, (EXAMPLES / "stm32l4r5-npu.toml").read_text().replace(
        "irq = 93\n", ""))
    r = _bit_exact("builtin", "ad", str(polled), "npu")
    assert [row["unit"] for row in r.record["layers"]] == ["npu"] * 10
    r = _bit_exact("builtin", "ad", "stm32l4r5", "npu")          # no NPU: all on the CPU
    assert "accelerators" not in r.record


def test_npu_plan_rules():
    from mcusim.accelerators.npu import ERR_BUFFER, NpuError
    m = _machine(EXAMPLES / "stm32l4r5-npu.toml")
    npu = m.accelerators.by_name["npu"]
    base = dict(op=0, input=0x20000000, weights=0x08010000, bias=0, output=0x20010000,
                mult=0, shift=0, n=1, h=8, w=8, c=16, oh=8, ow=8, oc=32, kh=3, kw=3,
                stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_h=1, pad_w=1, depth_mult=1,
                in_off=0, w_off=0, out_off=0, mult0=1 << 30, shift0=0, act_min=-128,
                act_max=127)
    p = npu.plan(dict(base))
    # weights 32 x 144 bytes and the 1 KB input fit their 16 KB halves: one group, the
    # input resident, four row blocks of two rows; 3 x 3 x 16 = 144 products per output
    # at 32 MACs per cycle: 5 cycles each
    assert len(p.groups) == 1 and p.input_resident and len(p.chunks) == 4
    assert p.macs == 8 * 8 * 32 * 144
    assert sum(c.compute_cycles for c in p.chunks) == 8 * 8 * 32 * 5
    assert sum(n for c in p.chunks for _a, n in c.fetch) == 32 * 144 + 8 * 8 * 16
    big = npu.plan(dict(base, c=512, oc=64))           # 4,608 weight bytes per channel
    assert big.groups == [(o, min(64, o + 3)) for o in range(0, 64, 3)]   # 3 per 16 KB
    assert not big.input_resident                       # 32 KB input: streamed by rows
    with pytest.raises(NpuError) as e:
        npu.plan(dict(base, c=2048, oc=4))             # 18 KB per channel > 16 KB
    assert e.value.code == ERR_BUFFER


# ------------------------------------------------------------------ the full models (slow)
MODELS = ["kws", "vww", "ic", "ad"]


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["npu", "cx"])
@pytest.mark.parametrize("mcu", ["stm32l4r5", "stm32u585"])
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("source", ["builtin", "reference"])
def test_models_bit_exact_with_accelerators(source, name, mcu, kernels):
    r = _bit_exact(source, name, str(EXAMPLES / f"{mcu}-{kernels}.toml"), kernels)
    units = {row["unit"] for row in r.record["layers"]}
    assert units & ({"npu"} if kernels == "npu" else {"cpu+dot4"})


def test_cx_ad_bit_exact():
    r = _bit_exact("builtin", "ad", str(EXAMPLES / "stm32l4r5-cx.toml"), "cx")
    assert {row["unit"] for row in r.record["layers"]} == {"cpu+dot4"}
    assert r.record["image"] == "infer-cx.elf"


def test_tutorial_is_the_shipped_toy():
    """docs/accelerators.md builds the toy under test here, in under 100 lines."""
    doc = (REPO / "docs" / "accelerators.md").read_text()
    toy = (EXAMPLES / "toy_dot.py").read_text()
    assert re.findall(r"```python\n(.*?)```", doc, re.S)[0] == toy
    assert len(toy.splitlines()) < 100
    assert re.findall(r"```toml\n(.*?)```", doc, re.S)[0] == TOY_MCU.read_text()
