"""The native memory model (mcusim/_native/memmodel.c, mcusim/timing/native.py) and the
Python one (mcusim/timing/memory.py, the reference) give the same results: cycles,
instructions, stalls, access counts, cache statistics, learned fast-mode stalls and
per-block cycles, on test programs of every MCU in both fidelity modes (the Python run of
each case uses the Python block hook too: MCUSIM_NATIVE=0)."""

from __future__ import annotations

import io
import random

import pytest

from conftest import PREBUILT
from mcusim.catalog import load_mcu
from mcusim.machine import Machine
from mcusim.timing.blocks import native_library
from mcusim.timing.memory import Cache

CCR_DC, CCR_IC = 1 << 16, 1 << 17

# (target dir, ELF stem, MCU, modes, M7 L1 caches on at reset)
CASES = [
    ("cortex-m4f", "mb_flash_ws5", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "mb_flash_ws1", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "memtest", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "mb_dsp", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "fpu_ctx", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "mb_int", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "sh_time", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "rcc_clock", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "startup_l4r5_reset", "stm32l4r5", ("fast", "detailed"), False),
    ("cortex-m4f", "dma", "stm32l4r5", ("fast",), False),
    ("cortex-m7f", "mb_dcache", "stm32h7a3", ("fast", "detailed"), False),
    ("cortex-m7f", "mb_dsp", "stm32h7a3", ("fast", "detailed"), True),
    ("cortex-m7f", "sh_time", "stm32h7a3", ("fast", "detailed"), True),
    ("cortex-m7f", "fpu_ctx", "stm32h7a3", ("fast", "detailed"), False),
    ("cortex-m33", "mb_dsp", "stm32u585", ("fast", "detailed"), False),
    ("cortex-m33", "sh_time", "stm32u585", ("fast", "detailed"), False),
    ("cortex-m33", "startup_u585_reset", "stm32u585", ("fast", "detailed"), False),
    ("cortex-m0plus", "mb_int", "stm32g0b1", ("fast", "detailed"), False),
    ("cortex-m0plus", "sh_time", "stm32g0b1", ("fast", "detailed"), False),
    ("cortex-m4f", "mb_flash_ws5", "generic-m4", ("fast", "detailed"), False),
    ("cortex-m4f", "mb_literal", "stm32l4r5", ("fast", "detailed"), False),
]
PARAMS = [(t, e, m, mode, c) for t, e, m, modes, c in CASES for mode in modes]


def _run(target, stem, mcu, mode, caches, native, monkeypatch):
    monkeypatch.setenv("MCUSIM_NATIVE", "1" if native else "0")
    from mcusim.elf import load_firmware
    m = Machine(load_mcu(mcu), mode=mode, stdout=io.BytesIO(), stderr=io.BytesIO(),
                warn=lambda msg: None)
    assert (m.coster.native, getattr(m.memory_model, "native", False)) == (native, native) \
        or m.memory_model is None
    m.load(load_firmware(str(PREBUILT / target / f"{stem}.elf")))
    if caches:
        m.scs.write_word(0xED14, m.scs.ccr | CCR_IC | CCR_DC)
    m.reset()
    m.run(max_cycles=30_000_000)
    mm = m.memory_model
    return dict(outcome=m.outcome, cycles=m.cycles, instructions=m.instructions,
                stdout=bytes(m.captured),
                summary=mm.summary() if mm else None,
                learned=dict(mm.learned) if mm else None,
                blocks=sorted(m.coster.block_cycles()))


@pytest.fixture(scope="module", autouse=True)
def _native_available():
    if native_library() is None:
        pytest.fail("no native library (C compiler missing?)")


@pytest.mark.parametrize("target,stem,mcu,mode,caches", PARAMS,
                         ids=[f"{e}@{m}-{mode}{'-l1' if c else ''}" for _t, e, m, mode, c in PARAMS])
def test_native_memory_model_equals_python(target, stem, mcu, mode, caches, monkeypatch):
    n = _run(target, stem, mcu, mode, caches, True, monkeypatch)
    p = _run(target, stem, mcu, mode, caches, False, monkeypatch)
    for key in ("outcome", "cycles", "instructions", "stdout", "summary", "learned", "blocks"):
        assert n[key] == p[key], key
    if mcu != "generic-m4":
        assert n["summary"]["fetch_stall"] + n["summary"]["data_stall"] > 0


@pytest.mark.parametrize("mode", ["fast", "detailed"])
def test_write_buffer_falls_back_to_the_python_model(mode, monkeypatch):
    """RAM with write wait states on a core with a write buffer: the native memory model
    does not implement the buffer, so the Python one runs it, under the native block hook
    as under the Python one, with the same results."""
    from pathlib import Path

    from mcusim.elf import load_firmware
    mcu = str(Path(__file__).parent / "catalogs" / "wbuf_m4.toml")
    out = []
    for native in ("1", "0"):
        monkeypatch.setenv("MCUSIM_NATIVE", native)
        m = Machine(load_mcu(mcu), mode=mode, stdout=io.BytesIO(), stderr=io.BytesIO(),
                    warn=lambda msg: None)
        assert m.coster.native == (native == "1")
        assert not getattr(m.memory_model, "native", False) and m.memory_model.wb_on
        m.load(load_firmware(str(PREBUILT / "cortex-m4f" / "mb_wbuf.elf")))
        m.reset()
        m.run(max_cycles=30_000_000)
        out.append((m.outcome, m.cycles, m.instructions, bytes(m.captured),
                    m.memory_model.summary()))
    assert out[0] == out[1]
    assert out[0][0] == "exit" and b"MB wb_str_dsb 4000" in out[0][3]


@pytest.mark.parametrize("mode", ["fast", "detailed"])
def test_table_growth_keeps_results(mode, monkeypatch):
    """A block table that must grow many times (every entry moves, with its counts, learned
    stalls and fetch rows) gives the same results as the Python path."""
    from mcusim.timing.blocks import NativeCoster
    monkeypatch.setattr(NativeCoster, "SLOTS", 16)
    monkeypatch.setattr(NativeCoster, "QUEUE", 8)
    n = _run("cortex-m4f", "startup_l4r5_reset", "stm32l4r5", mode, False, True, monkeypatch)
    p = _run("cortex-m4f", "startup_l4r5_reset", "stm32l4r5", mode, False, False, monkeypatch)
    for key in ("outcome", "cycles", "instructions", "stdout", "summary", "learned", "blocks"):
        assert n[key] == p[key], key


def test_inference_equal_in_both_modes(monkeypatch):
    """One ad inference on the L4R5 and on the H7A3 with its L1 caches on."""
    from mcusim.infer import run_inference

    def caches_on(m):
        m.scs.write_word(0xED14, m.scs.ccr | CCR_IC | CCR_DC)

    for mcu, setup in (("stm32l4r5", None), ("stm32h7a3", caches_on)):
        for mode in ("fast", "detailed"):
            out = []
            for native in (True, False):
                monkeypatch.setenv("MCUSIM_NATIVE", "1" if native else "0")
                r = run_inference("ad", mcu, kernels="opt", mode=mode, machine_setup=setup)
                mm = r.machine.memory_model
                out.append((r.record["cycles"], r.record["instructions"], r.record["energy_j"],
                            r.record["output_sha256"], mm.summary(), dict(mm.learned),
                            sorted(r.machine.coster.block_cycles())))
            assert out[0] == out[1], (mcu, mode)


@pytest.mark.parametrize("replacement", ["lru", "random"])
@pytest.mark.parametrize("write_back,write_allocate", [(True, True), (False, True), (True, False),
                                                       (False, False)])
@pytest.mark.parametrize("geometry", [(1024, 32, 4), (2048, 64, 32), (256, 16, 1)])
def test_native_cache_equals_python(replacement, write_back, write_allocate, geometry):
    from mcusim.timing.native import MM, NativeCache
    lib = native_library()
    size, line, ways = geometry
    kw = dict(replacement=replacement, write_back=write_back, write_allocate=write_allocate)
    py = Cache(size, line, ways, **kw)
    mm = MM()
    nc = NativeCache(mm, 0, lib, size, line, ways, **kw)
    rng = random.Random(size * ways + write_back * 2 + write_allocate)
    for i in range(20000):
        addr = rng.choice([rng.randrange(0, 4 * size), 0x20000000 + rng.randrange(0, 16 * size)])
        write = rng.random() < 0.3
        if rng.random() < 0.05:
            assert py.contains(addr) == nc.contains(addr)
        assert py.access(addr, write) == nc.access(addr, write), i
        if i % 5000 == 4999:
            py.invalidate()
            nc.invalidate()
    assert (py.hits, py.misses, py.writebacks, py.fills) == \
           (nc.hits, nc.misses, nc.writebacks, nc.fills)
    lib.mcusim_mm_free(ctypes_byref(mm))


def ctypes_byref(x):
    import ctypes
    return ctypes.byref(x)
