"""The C port of the core timing model (mcusim/_native/classify.c) costs every block as
mcusim/timing/core.py does (the reference): cycles taken and not taken, instruction count,
per-instruction cycles, and the block hook's flags, on every core, for code windows of
every test firmware (and the shared TFLM ELFs) and for random instruction streams."""

from __future__ import annotations

import random

import capstone
import pytest

from conftest import PREBUILT, TFLM
from mcusim.elf import load_firmware
from mcusim.timing.blocks import native_library
from mcusim.timing.core import CoreTiming
from mcusim.timing.native import Classifier

CORES = {"cortex-m0plus": "cortex-m0plus", "cortex-m3": "cortex-m3", "cortex-m4f": "cortex-m4f",
         "cortex-m7f": "cortex-m7f", "cortex-m33": "cortex-m33"}
TFLM_CORE = {"m4f": "cortex-m4f", "m7": "cortex-m7f", "m33": "cortex-m33"}
LENGTHS = [2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 160]

_md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
_md.detail = True


def _python(ct, code, addr):
    """What BlockCoster._new_block and CoreTiming.block_cost decide for the block."""
    insns = list(_md.disasm(code, addr))
    flags = 1 if code == b"\xfe\xe7" else 0
    for i in insns:
        if i.mnemonic == "cpsie" or (i.mnemonic == "msr" and any(
                k in i.op_str for k in ("primask", "basepri", "faultmask"))):
            flags |= 2
    if insns and insns[-1].mnemonic in ("bl", "blx"):
        flags |= 4
    div = any(i.mnemonic in ("sdiv", "udiv") for i in insns)
    if ct is None:
        n = len(insns)
        return n, n, n, [], flags, div, 0, 0
    bc = ct.block_cost(code, addr)
    return (bc.cycles_not_taken, bc.cycles_taken, bc.instructions,
            [(a, c) for a, _s, _m, _o, c, _k in bc.insns], flags, div, bc.n_loads, bc.n_stores)


def _native(cl, code, addr):
    r = cl.block(code, addr)
    assert r is not None, f"the C classifier refused {code.hex()} at 0x{addr:08x}"
    return r.nt, r.tk, r.ninsn, r.insns, r.flags, r.has_div, r.n_loads, r.n_stores


def _windows(data: bytes, base: int, rng, frac: float):
    for k in range(0, len(data) - 2, 2):
        if rng.random() < frac:
            code = data[k:k + rng.choice(LENGTHS)]
            code = code[:len(code) & ~1]
            if code:
                yield code, base + k


def _images(core: str):
    target = next(t for t, c in CORES.items() if c == core)
    out = sorted((PREBUILT / target).glob("*.elf"))
    if TFLM.is_dir():
        out += sorted(p for p in (TFLM / "elf").glob("*.elf")
                      if TFLM_CORE.get(p.name.split("_")[0]) == core and "_O2_" in p.name)
    return out


@pytest.fixture(scope="module")
def lib():
    lib = native_library()
    if lib is None or not hasattr(lib, "mcusim_classify_block"):
        pytest.fail("native library or its classifier unavailable")
    return lib


@pytest.mark.parametrize("core", list(CORES.values()) + [None], ids=list(CORES) + ["no-timing"])
def test_classifier_equals_core_timing_on_firmware(lib, core):
    ct = CoreTiming(core) if core else None
    cl = Classifier(lib, ct)
    rng = random.Random(7)
    images = _images(core or "cortex-m4f")
    n = bad = 0
    for path in images:
        fw = load_firmware(str(path))
        for seg in fw.segments:
            frac = min(0.5, 120 / max(1, len(seg.data)))
            for code, addr in _windows(seg.data, seg.paddr, rng, frac):
                n += 1
                want, got = _python(ct, code, addr), _native(cl, code, addr)
                if want != got:
                    bad += 1
                    assert want == got, (path.name, hex(addr), code.hex())
    assert n > 100 and bad == 0


def test_block_cache_hits_equal_fresh_costs(lib, tmp_path, monkeypatch):
    """A costed block comes back from the cache (in memory, and from the saved file in a
    new process-wide cache) exactly as costed; a damaged file is ignored."""
    from mcusim.timing import native as N
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(N, "_BLOCK_CACHES", {})
    ct = CoreTiming("cortex-m7f")
    cl = Classifier(lib, ct)
    rng = random.Random(3)
    fw = load_firmware(str(PREBUILT / "cortex-m7f" / "infer-opt.elf"))
    blocks = [w for seg in fw.segments for w in _windows(seg.data, seg.paddr, rng, 0.02)][:600]
    first = [_native(cl, code, addr) for code, addr in blocks]
    assert [_native(cl, code, addr) for code, addr in blocks] == first
    assert cl.cache.stats()["hits"] >= len(blocks)
    N.save_block_caches()
    path = cl.cache.path
    assert path.exists() and path.stat().st_size == cl.cache.size()
    monkeypatch.setattr(N, "_BLOCK_CACHES", {})
    cl2 = Classifier(lib, ct)
    assert cl2.cache is not cl.cache and cl2.cache.loaded == path.stat().st_size
    assert [_native(cl2, code, addr) for code, addr in blocks] == first
    assert cl2.cache.stats()["misses"] == 0
    assert all(_python(ct, code, addr) == got for (code, addr), got in zip(blocks[:80], first))
    path.write_bytes(path.read_bytes()[:-6])           # damaged: dropped, costs recomputed
    monkeypatch.setattr(N, "_BLOCK_CACHES", {})
    cl3 = Classifier(lib, ct)
    assert cl3.cache.loaded == 0
    assert [_native(cl3, code, addr) for code, addr in blocks] == first


@pytest.mark.parametrize("core", list(CORES.values()))
def test_classifier_equals_core_timing_on_random_streams(lib, core):
    ct = CoreTiming(core)
    cl = Classifier(lib, ct)
    rng = random.Random(hash(core) & 0xFFFF)
    for _ in range(800):
        code = bytes(rng.randrange(256) for _ in range(rng.choice(LENGTHS)))
        addr = 0x08000000 + 2 * rng.randrange(1 << 16)
        assert _python(ct, code, addr) == _native(cl, code, addr), (core, hex(addr), code.hex())


def test_every_instruction_name_has_a_category(lib):
    """No capstone instruction id falls back to Python: each has a name (as core.py uses)."""
    from capstone import arm_const
    cl = Classifier(lib, CoreTiming("cortex-m4f"))
    from mcusim.timing.native import CAT_PYTHON
    assert all(cl.c.cat[i] != CAT_PYTHON for i in range(1, arm_const.ARM_INS_ENDING))
