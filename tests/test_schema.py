"""The typed catalog schema (mcusim/schema.py): strict validation of user catalogs (issue 12),
the sweep API (knobs, get, derive), `mcusim show`, and the generated reference in
docs/catalogs.md. Fast: TOML and a few tiny firmware runs."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcusim import schema as S
from mcusim.catalog import (CatalogError, catalog_dirs, list_catalog, load_core, load_mcu,
                            load_power, show)
from mcusim.timing.core import CoreTiming

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]
HELLO = REPO / "firmware_images" / "prebuilt" / "cortex-m4f" / "hello.elf"


def names(kind):
    return [n for n, _ in list_catalog()[kind]]


def err(tmp_path, text: str, name="bad.toml", loader=load_mcu, data: bytes | None = None) -> str:
    f = tmp_path / name
    if data is not None:
        f.write_bytes(data)
    else:
        f.write_text(text)
    with pytest.raises(CatalogError) as e:
        loader(str(f))
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


def mcusim(*args, cwd=REPO, timeout=120):
    return subprocess.run([sys.executable, "-m", "mcusim", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)


def one_line_exit_2(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------ round trip

def _norm(x):
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, (list, tuple)):
        if x and all(isinstance(r, dict) and set(r) == {"max_mhz", "ws"} for r in x):
            return tuple((float(r["max_mhz"]), float(r["ws"])) for r in x)  # wait-state rows
        return tuple(_norm(v) for v in x)
    if isinstance(x, dict) or hasattr(x, "items"):
        return {k: _norm(v) for k, v in x.items()}
    return x


def _leaves(d, prefix=""):
    for k, v in d.items():
        if k in S.META_KEYS:
            continue
        p = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            yield from _leaves(v, p)
        else:
            yield p, v


def _declared(spec):
    return {p: v for p, _par, v in S._walk(spec, "", False)}


def _check_round_trip(spec):
    declared = _declared(spec)
    for path, raw in _leaves(spec.raw):
        # the declared value at this path, or the map-valued one that holds it
        head, rest = path, []
        while head not in declared and "." in head:
            head, _, last = head.rpartition(".")
            rest.insert(0, last)
        assert head in declared, f"{spec.source_path}: '{path}' has no declared field"
        typed = declared[head]
        for k in rest:
            # maps keyed by register offset (REG_MAP: {"0x14" = ...}) hold int keys
            typed = typed[k] if k in typed else typed[int(k, 0)]
        if path == "core.fpu" and raw == "none":
            assert typed is None
        elif isinstance(raw, list) and isinstance(typed, S.FrozenMap):   # class list -> map
            assert dict(typed) == {c: 1 for c in raw}, path
        else:
            assert _norm(typed) == _norm(raw), (path, typed, raw)


@pytest.mark.parametrize("name", names("mcus"))
def test_every_shipped_mcu_round_trips(name):
    m = load_mcu(name)
    _check_round_trip(m)
    _check_round_trip(m.core)


@pytest.mark.parametrize("name", names("cores"))
def test_every_shipped_core_round_trips(name):
    _check_round_trip(load_core(name))


@pytest.mark.parametrize("name", names("power_models"))
def test_every_shipped_power_model_round_trips(name):
    _check_round_trip(load_power(name))


def test_abstract_family_files_validate_through_their_parts():
    # every file in the catalogs is either loadable or extended by a loadable part
    used = set()
    for kind, loader in (("mcus", load_mcu), ("cores", load_core),
                         ("power_models", load_power)):
        for n in names(kind):
            used |= {Path(c).name for c in loader(n).chain}
    for d in catalog_dirs().values():
        for f in d.glob("*.toml"):
            assert f.name in used, f


def test_specs_pickle_and_compare():
    m = load_mcu("stm32h7a3")
    m2 = pickle.loads(pickle.dumps(m))
    assert m2 == m and m2.core.name.timing == m.core.timing
    assert load_mcu("stm32h7a3") == m
    assert isinstance(m.caches, S.FrozenMap)
    with pytest.raises(TypeError):
        m.caches["x"] = 1


def test_every_peripheral_model_declares_params():
    from mcusim.peripherals import models
    for name, cls in models().items():
        assert issubclass(cls.Params, S.Spec), name


def test_timing_classes_cover_the_classifier():
    from mcusim.timing import core as T
    produced = set(T._SIMPLE.values()) | set(T._HINT_MNEM.values())
    assert produced <= set(S.TIMING_CLASSES)


# ------------------------------------------------------------------ issue 12: catalogs

def test_unknown_table_did_you_mean(tmp_path):
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[flash.wait_state]\n'
              'range1 = [{max_mhz = 20, ws = 0}]\n', name="typo.toml")
    assert msg == ("typo.toml: unknown table [flash.wait_state] "
                   "(did you mean [flash.wait_states]?)")


def test_unknown_keys_did_you_mean(tmp_path):
    assert err(tmp_path, 'extends = "stm32l4r5"\n[mcu]\nclokc_mhz = 80.0\n') == \
        "bad.toml: unknown key 'mcu.clokc_mhz' (did you mean 'mcu.clock_mhz'?)"
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[flash.accelerator]\nicahce_lines = 16\n')
    assert "unknown key 'flash.accelerator.icahce_lines'" in msg
    assert "did you mean 'flash.accelerator.icache_lines'" in msg
    assert "unknown table [cache]" in err(
        tmp_path, 'extends = "stm32h7a3"\n[cache.icache]\nsize_bytes = 8192\n')
    assert "did you mean [caches]" in err(
        tmp_path, 'extends = "stm32h7a3"\n[cache.icache]\nsize_bytes = 8192\n')
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[memory.sram1]\nread_wait_state = 1\n')
    assert "'memory.sram1.read_wait_state'" in msg and "read_wait_states" in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[peripherals.rcc]\nmodel = "stm32l4-rc"\n')
    assert "peripherals.rcc.model" in msg and "did you mean 'stm32l4-rcc'" in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[peripherals.rcc.params]\nhse_mhz = 16.0\n')
    assert "unknown key 'peripherals.rcc.params.hse_mhz'" in msg and "hse_hz" in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\nremove = ["cache"]\n')
    assert "remove" in msg and "'cache'" in msg and "did you mean 'caches'" in msg


def test_unknown_keys_in_core_and_power_files(tmp_path):
    msg = err(tmp_path, 'extends = "cortex-m4f"\n[timing.classes]\nlaod = 3\n', loader=load_core)
    assert msg == "bad.toml: unknown key 'timing.classes.laod' (did you mean 'load'?)"
    msg = err(tmp_path, 'extends = "cortex-m4f"\n[timing]\ninherits = "cortex-m4f"\n',
              loader=load_core)
    assert "unknown key 'timing.inherits'" in msg and "extends" in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[slep]\nsleep_ua_per_mhz = 1.0\n',
              loader=load_power)
    assert "unknown table [slep] (did you mean [sleep]?)" in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[access_energy]\nflash_read_through_pj = 1.5\n'
              'enable = true\n', loader=load_power)
    assert "'access_energy.enable'" in msg and "did you mean 'access_energy.enabled'" in msg
    # activity events are declared keys: a misspelt one is an error, not a new event
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[access_energy]\nflash_read_pj = 1.5\n',
              loader=load_power)
    assert "unknown key 'access_energy.flash_read_pj'" in msg and "flash_read_" in msg
    p = tmp_path / "ok.toml"
    p.write_text('extends = "stm32l4r5"\n[access_energy]\nenabled = true\n'
                 'flash_read_through_pj = 1.5\ninstr_mac_pj = 2.0\n')
    ae = load_power(str(p)).access_energy
    assert dict(ae.energies_pj) == {"instr_mac_pj": 2.0} and ae.flash_read_through_pj == 1.5


def test_the_error_names_the_file_that_set_the_key(tmp_path):
    (tmp_path / "fam.toml").write_text('extends = "stm32l4r5"\nabstract = true\n'
                                       "[flash.accelerator]\nicache_lines = 0\n")
    msg = err(tmp_path, 'extends = "fam.toml"\n[mcu]\ndescription = "x"\n', name="part.toml")
    assert msg.startswith("fam.toml: key 'flash.accelerator.icache_lines'")


@pytest.mark.parametrize("text,needles", [
    ('[mcu]\nclock_mhz = "fast"\n', ["mcu.clock_mhz", "must be a number"]),
    ('[mcu]\nclock_mhz = true\n', ["mcu.clock_mhz", "must be a number"]),
    ('[mcu]\nnum_irqs = 95.0\n', ["mcu.num_irqs", "must be an integer"]),
    ('[mcu]\nboot_address = -4\n', ["mcu.boot_address", "32-bit address"]),
    ('[memory.sram1]\naliases = 0x20000000\n', ["memory.sram1.aliases", "must be a list"]),
    ('[flash.accelerator]\nprefetch = "yes"\n', ["flash.accelerator.prefetch", "true or false"]),
    ('[flash.wait_states]\nrange1 = [{max_mhz = "20", ws = 0}]\n',
     ["flash.wait_states.range1", "max_mhz"]),
    ('[peripherals.rcc.params]\nhse_hz = "8M"\n', ["peripherals.rcc.params.hse_hz"]),
    ('[systick]\nref_clock_divider = 0\n', ["systick.ref_clock_divider", ">= 1"]),
])
def test_wrong_types_and_values(tmp_path, text, needles):
    msg = err(tmp_path, 'extends = "stm32l4r5"\n' + text)
    assert msg.startswith("bad.toml: ")
    for n in needles:
        assert n in msg, msg


@pytest.mark.parametrize("text,needles", [
    ("[mcu]\nclock_mhz = 0.0\n", ["mcu.clock_mhz", "must be > 0"]),
    ("[mcu]\nclock_mhz = -5.0\n", ["mcu.clock_mhz", "must be > 0"]),
    ("[mcu]\nclock_mhz = nan\n", ["mcu.clock_mhz", "finite"]),
    ("[mcu]\nclock_mhz = 200.0\n", ["mcu.clock_mhz", "max_clock_mhz"]),
    ("[mcu]\nmax_clock_mhz = 200.0\nclock_mhz = 200.0\n", ["mcu.clock_mhz", "120 MHz maximum"]),
    ("[mcu]\nnum_irqs = 0\n", ["mcu.num_irqs", ">= 1"]),
    ("[mcu]\nnum_irqs = 1000\n", ["mcu.num_irqs", "<= 496"]),
    ("[memory.sram1]\nsize_bytes = 0\n", ["memory.sram1.size_bytes", ">= 1024"]),
    ("[memory.sram1]\nread_wait_states = -1\n", ["memory.sram1.read_wait_states", ">= 0"]),
    ("[flash.accelerator]\nicache_lines = 1e308\n",
     ["flash.accelerator.icache_lines", "must be an integer"]),
    ("[flash.accelerator]\nicache_lines = 100000000000\n",
     ["flash.accelerator.icache_lines", "<= 1048576"]),
    ("[flash.accelerator]\nicache_lines = 1048576\nline_bytes = 4096\n",
     ["flash.accelerator.icache_lines", "exceed 64 MB"]),
    ("[flash.accelerator]\nicache_ways = 5\n", ["flash.accelerator.icache_ways", "does not divide"]),
    ("[flash.accelerator]\nline_bytes = 24\n", ["flash.accelerator.line_bytes", "expected one of"]),
    ("[memory.sram1]\nsize_bytes = 0x40000000\n", ["memory.sram1.size_bytes", "<= 536870912"]),
])
def test_ranges(tmp_path, text, needles):
    msg = err(tmp_path, 'extends = "stm32l4r5"\n' + text)
    for n in needles:
        assert n in msg, msg


@pytest.mark.parametrize("text,needles", [
    ("[caches.dcache]\nsize_bytes = 0x8000000\n", ["caches.dcache.size_bytes", "67108864"]),
    ("[caches.dcache]\nsize_bytes = 0x2000000\nline_bytes = 4\nways = 1\n",
     ["caches.dcache.size_bytes", "1048576 lines"]),
    ("[caches.dcache]\nsize_bytes = 1000\n", ["caches.dcache.size_bytes", "multiple"]),
    ("[caches.dcache]\nline_bytes = 48\n", ["caches.dcache.line_bytes", "expected one of"]),
    ("[caches.l2]\nsize_bytes = 1024\nline_bytes = 32\nways = 1\n", ["caches.l2", "icache or dcache"]),
])
def test_cache_geometry(tmp_path, text, needles):
    msg = err(tmp_path, 'extends = "stm32h7a3"\n' + text)
    for n in needles:
        assert n in msg, msg


def test_core_caches_only_on_m7(tmp_path):
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[caches.icache]\nsize_bytes = 16384\n'
              "line_bytes = 32\nways = 2\n")
    assert "caches.icache" in msg and "Cortex-M7" in msg


@pytest.mark.parametrize("base,what", [
    (0xE0000000, "Private Peripheral Bus"),
    (0xE00FFC00, "Private Peripheral Bus"),
    (0xE0100000, "simulator's device window"),
    (0xE0101000, "simulator's device window"),
])
def test_reserved_windows(tmp_path, base, what):
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[memory.ext]\nkind = "sram"\n'
              f"base = {base:#x}\nsize_bytes = 0x400\n")
    assert msg.startswith("bad.toml: memory.ext") and what in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[peripherals.npu]\nmodel = "unmodelled"\n'
              f"base = {base:#x}\nsize_bytes = 0x100\n")
    assert "peripherals.npu" in msg and what in msg


def test_just_outside_the_reserved_windows_is_fine(tmp_path):
    f = tmp_path / "ok.toml"
    f.write_text('extends = "stm32l4r5"\n[memory.below]\nkind = "sram"\nbase = 0xDFFFFC00\n'
                 'size_bytes = 0x400\n[memory.above]\nkind = "sram"\nbase = 0xE0102000\n'
                 "size_bytes = 0x400\n")
    assert load_mcu(str(f)).memory("above").base == 0xE0102000


def test_past_4gb_and_overlaps(tmp_path):
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[memory.top]\nkind = "sram"\n'
              "base = 0xFFFFFC00\nsize_bytes = 0x800\n")
    assert "memory.top" in msg and "past 4 GB" in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[memory.sram3]\nbase = 0x20020000\n')
    assert msg.startswith("bad.toml: ") and "overlaps" in msg and "memory.sram3" in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[peripherals.tim6]\nbase = 0x40004400\n')
    assert msg.startswith("bad.toml: ") and "overlaps" in msg
    assert "peripherals.tim6" in msg and "peripherals.usart2" in msg
    msg = err(tmp_path, 'extends = "stm32l4r5"\n[peripherals.tim6]\nirq = 95\n')
    assert "peripherals.tim6.irq" in msg and "num_irqs" in msg


def test_total_memory_bound(tmp_path):
    regions = "".join(f'[memory.ext{i}]\nkind = "sram"\nbase = {0x60000000 + i * 0x10000000:#x}\n'
                      f"size_bytes = 0x10000000\n" for i in range(5))
    msg = err(tmp_path, 'extends = "stm32l4r5"\n' + regions)
    assert "at most 1,073,741,824" in msg


def test_invalid_utf8(tmp_path):
    msg = err(tmp_path, "", name="latin1.toml",
              data=b'extends = "stm32l4r5"\n# caf\xe9\n[mcu]\nclock_mhz = 80.0\n')
    assert msg == ("latin1.toml: line 2: not valid UTF-8 (byte 0xe9); catalog files are "
                   "UTF-8 text")


def test_structural_keys(tmp_path):
    assert "'abstract' must be true or false" in err(tmp_path, 'extends = "stm32l4r5"\n'
                                                               'abstract = "yes"\n')
    assert "'extends' must be a string" in err(tmp_path, "extends = 3\n")
    msg = err(tmp_path, 'extends = "stm32l4r6"\n')
    assert "extends" in msg and "did you mean 'stm32l4r5'" in msg


# ------------------------------------------------------------------ cores by path

def test_core_file_by_path_loads_and_times_like_the_catalog(tmp_path):
    shutil.copy(catalog_dirs()["cores"] / "cortex-m4f.toml", tmp_path / "mycore.toml")
    (tmp_path / "part.toml").write_text('extends = "stm32l4r5"\n[mcu]\ndescription = "copy"\n'
                                        'core = "mycore.toml"\n')
    m = load_mcu(str(tmp_path / "part.toml"))
    assert m.core.name == "mycore" and m.core.source_path == str(tmp_path / "mycore.toml")
    assert m.core.timing == load_core("cortex-m4f").timing
    assert load_core(str(tmp_path / "mycore.toml")).timing == m.core.timing
    code = bytes.fromhex("0868" "4968" "4018" "0860" "fee7")   # ldr, ldr, adds, str, b .
    # blocks.py builds the timing model from core.name: the user core must work there
    assert CoreTiming(m.core.name).block_cost(code, 0) == \
        CoreTiming("cortex-m4f").block_cost(code, 0)


def test_user_core_named_like_a_builtin_uses_its_own_timing(tmp_path):
    src = (catalog_dirs()["cores"] / "cortex-m4f.toml").read_text()
    assert "\nload = 2 " in src
    (tmp_path / "cores").mkdir()
    (tmp_path / "cores" / "cortex-m4f.toml").write_text(src.replace("\nload = 2 ", "\nload = 9 "))
    (tmp_path / "slow.toml").write_text('extends = "stm32l4r5"\n[mcu]\n'
                                        'description = "slow loads"\n'
                                        'core = "cores/cortex-m4f.toml"\n')
    m = load_mcu(str(tmp_path / "slow.toml"))
    assert m.core.name == "cortex-m4f"
    assert CoreTiming(m.core.name).classes["load"] == 9
    assert CoreTiming("cortex-m4f").classes["load"] == 2
    assert CoreTiming(m.core).classes["load"] == 9


def test_core_path_end_to_end(tmp_path):
    shutil.copy(catalog_dirs()["cores"] / "cortex-m4f.toml", tmp_path / "mycore.toml")
    src = (catalog_dirs()["cores"] / "cortex-m4f.toml").read_text()
    (tmp_path / "cortex-m4f.toml").write_text(src.replace("\nload = 2 ", "\nload = 9 "))
    cycles = {}
    for name, core in (("copy", "mycore.toml"), ("slow", "cortex-m4f.toml"), ("ref", None)):
        mcu = "stm32l4r5"
        if core:
            mcu = tmp_path / f"{name}.toml"
            mcu.write_text(f'extends = "stm32l4r5"\n[mcu]\ndescription = "{name}"\n'
                           f'core = "{core}"\n')
        out = tmp_path / f"{name}.json"
        r = mcusim("run", HELLO, "--mcu", mcu, "--json", out, "--quiet")
        assert r.returncode == 0, r.stderr
        cycles[name] = json.loads(out.read_text())["cycles"]
    assert cycles["copy"] == cycles["ref"]
    assert cycles["slow"] > cycles["ref"]


# ------------------------------------------------------------------ refused before the run

@pytest.mark.parametrize("text,needle", [
    ("[flash.accelerator]\nicache_lines = 1e308\n", "flash.accelerator.icache_lines"),
    ("[flash.accelerator]\nicache_lines = 1048576\nline_bytes = 4096\n",
     "flash.accelerator.icache_lines"),
    ('[memory.scs]\nkind = "sram"\nbase = 0xE000E000\nsize_bytes = 0x1000\n',
     "Private Peripheral Bus"),
    ("[flash.wait_state]\nrange1 = [{max_mhz = 20, ws = 0}]\n", "did you mean [flash.wait_states]"),
])
def test_cli_refuses_bad_catalogs_with_one_line(tmp_path, text, needle):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n' + text)
    one_line_exit_2(mcusim("run", HELLO, "--mcu", f, timeout=60), "bad.toml", needle)


def test_cli_invalid_utf8(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_bytes(b'extends = "stm32l4r5"\n\xff\xfe\n')
    one_line_exit_2(mcusim("run", HELLO, "--mcu", f), "bad.toml: line 2: not valid UTF-8")


# ------------------------------------------------------------------ typed values reach the models

def test_peripheral_params_are_typed_and_used(tmp_path):
    from mcusim.peripherals.stm32 import Stm32Pwr, Stm32Rcc
    f = tmp_path / "p.toml"
    f.write_text('extends = "stm32l4r5"\n[peripherals.rcc.params]\nhse_hz = 16e6\n'
                 '[peripherals.pwr.params]\nstatus = { "0x14" = 0x400 }\nlpms_mask = 0x3\n'
                 'reset = { "0x00" = 0x4 }\n')
    m = load_mcu(str(f))
    assert m.peripheral("rcc").params.hse_hz == 16e6
    assert load_mcu("stm32l4r5").peripheral("rcc").params.hse_hz == 8e6      # the default
    rcc = Stm32Rcc(None, m.peripheral("rcc"))
    rcc.write_word(0x00, rcc.read_word(0x00) | 1 << 16)  # HSEON (RM0432 RCC_CR): HSERDY
    rcc.write_word(0x08, 2)                              # SW = HSE: SWS follows once ready
    assert rcc.sysclk_hz() == 16e6
    pwr = Stm32Pwr(None, m.peripheral("pwr"))
    assert pwr.read_word(0x14) == 0x400 and pwr.read_word(0x00) == 0x4
    assert pwr.low_power_mode() == 0x4 & 0x3


def test_memory_model_reads_the_accelerator_spec():
    from mcusim.timing.memory import _NO_ACCELERATOR
    acc = load_mcu("stm32l4r5").flash.accelerator
    assert (acc.icache_ways, acc.dcache_ways) == (32, 8)          # = lines: fully associative
    assert (acc.acr_icrst_bit, acc.acr_dcrst_bit) == (11, 12)     # schema defaults
    assert _NO_ACCELERATOR.prefetch is False and _NO_ACCELERATOR.icache_lines is None
    assert load_mcu("stm32h7a3").systick.ref_clock_divider == 8


# ------------------------------------------------------------------ the sweep API

def test_derive_example():
    m = load_mcu("stm32l4r5")
    d = m.derive({"flash.accelerator.icache_lines": 16, "mcu.clock_mhz": 80,
                  "memory.sram1.read_wait_states": 1})
    assert isinstance(d, S.McuSpec) and d.name == m.name
    assert d.flash.accelerator.icache_lines == 16 and d.flash.accelerator.icache_ways == 16
    assert d.clock_mhz == 80.0 and d.flash_wait_states(d.clock_mhz) == 3
    assert d.memory("sram1").read_wait_states == 1 and d.memory("sram1").write_wait_states == 1
    assert d.origins["mcu.clock_mhz"] == "derive()"
    # the original is untouched and equal to a fresh load
    assert m == load_mcu("stm32l4r5") and m.clock_mhz == 120.0
    assert d.get("flash.accelerator.icache_lines") == 16
    assert S.derive(m, {}) == m


def test_derive_validates_like_a_file():
    m = load_mcu("stm32l4r5")
    cases = {
        "flash.accelerator.icache_lines": (1e308, "must be an integer"),
        "mcu.clock_mhz": (-5, "must be > 0"),
        "memory.sram1.base": (0xE0000000, "Private Peripheral Bus"),
        "memory.sram1.size_bytes": (0x50000, "overlaps"),
        "caches.icache.size_bytes": (1024, "derive(): missing key 'caches.icache.line_bytes'"),
        "core.nvic_prio_bits": (9, "<= 8"),
        "timing.classes.load": (-1, ">= 0"),
    }
    for path, (value, needle) in cases.items():
        with pytest.raises(CatalogError) as e:
            m.derive({path: value})
        assert needle in str(e.value) and "\n" not in str(e.value), (path, str(e.value))
    with pytest.raises(CatalogError, match="above mcu.max_clock_mhz"):
        m.derive({"mcu.clock_mhz": 200})
    with pytest.raises(CatalogError) as e:
        m.derive({"flash.acclerator.icache_lines": 16})
    assert str(e.value) == ("derive(): unknown key 'flash.acclerator.icache_lines' "
                            "(did you mean 'flash.accelerator'?)")
    with pytest.raises(CatalogError, match=r"did you mean 'mcu.clock_mhz'"):
        m.derive({"mcu.clok_mhz": 80})
    with pytest.raises(CatalogError, match=r"unknown key 'timing.classes.laod' .*'load'"):
        m.derive({"timing.classes.laod": 3})


def test_derive_core_and_removal():
    m = load_mcu("stm32l4r5")
    d = m.derive({"mcu.core": "cortex-m3", "timing.classes.mla": 5})
    assert d.core.name == "cortex-m3" and d.core.timing.classes["mla"] == 5
    assert CoreTiming(d.core.name).classes["mla"] == 5           # the derived core's timing
    assert load_core("cortex-m3").timing.classes["mla"] == 2
    e = m.derive({"core.exc_entry_cycles": 20})
    assert e.core.exc_entry_cycles == 20 and e.core.nvic_prio_bits == 4
    off = m.derive({"flash.accelerator": None})
    assert off.flash.accelerator is None and off.flash.ws_tables == m.flash.ws_tables
    g0 = load_mcu("stm32g0b1")
    assert g0.derive({"core.exc_entry_cycles": 16}).core.nvic_prio_bits == 2   # MCU override


def test_derived_mcu_runs(tmp_path):
    from mcusim.elf import load_firmware
    from mcusim.machine import Machine
    m = load_mcu("stm32l4r5")
    fast = m.derive({"flash.wait_states.range1_boost": [{"max_mhz": 120, "ws": 0}]})
    assert fast.flash_wait_states(120) == 0
    out = {}
    for label, spec in (("ref", m), ("zero_ws", fast)):
        mach = Machine(spec, stdout=_Null(), stderr=_Null())
        mach.load(load_firmware(str(HELLO)))
        mach.reset()
        mach.run(max_cycles=10_000_000)
        out[label] = mach.cycles
    assert out["zero_ws"] < out["ref"]


class _Null:
    def write(self, b):
        return len(b)

    def flush(self):
        pass


def test_knobs_and_get():
    m = load_mcu("stm32l4r5")
    ks = {k.path: k for k in m.knobs()}
    k = ks["mcu.clock_mhz"]
    assert (k.type, k.unit, k.default, k.value) == ("float", "MHz", "required", 120.0)
    assert k.doc
    k = ks["flash.accelerator.icache_lines"]
    assert (k.type, k.unit, k.value, k.min) == ("int", "lines", 32, 1)
    k = ks["memory.sram1.read_wait_states"]
    assert (k.unit, k.value) == ("cycles", 0)
    assert ks["memory.sram1.write_wait_states"].default == "= read_wait_states"
    assert ks["peripherals.rcc.params.hse_hz"].unit == "Hz"
    assert ks["flash.wait_states.range1_boost"].value[-1] == (120.0, 5)
    assert ks["timing.classes.load"].value == 2 and ks["timing.classes.load"].unit == "cycles"
    assert ks["core.exc_entry_cycles"].value == 12
    assert ks["systick.ref_clock_divider"].default == 8
    assert "mcu.description" not in ks and "memory.sram1.base" not in ks   # not knobs
    for k in ks.values():
        assert k.doc and k.type, k.path
        assert m.get(k.path) == k.value, k.path
    assert m.get("caches.icache.size_bytes") is None            # declared, not present
    with pytest.raises(CatalogError, match="did you mean"):
        m.get("flash.accelerator.icache_line")
    p = load_power("stm32l4r5")
    assert S.get(p, "run.range1_boost.flash_accel_on.run_ua_per_mhz") == 110.0
    assert {k.path for k in S.knobs(p)} >= {"power.vdd_v", "sleep.sleep_ua_per_mhz",
                                             "states.stop2.current_ua"}


def test_units_follow_key_names():
    for cls in S._DOC_ORDER:
        for key, (_f, p) in S.info(cls).params.items():
            if S.unit_of(key):
                assert S._unit(key, p) == S.unit_of(key), (cls.__name__, key)


# ------------------------------------------------------------------ mcusim show

def test_show_cli(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('extends = "stm32l4r5"\n[mcu]\ndescription = "mine"\nclock_mhz = 80.0\n')
    r = mcusim("show", f)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    doc = tomllib.loads(text)                         # the output is TOML
    assert doc["mcu"]["clock_mhz"] == 80.0 and doc["core"]["arch"] == "armv7e-m"
    lines = {ln.split(" = ")[0]: ln for ln in text.splitlines() if " = " in ln}
    assert lines["clock_mhz"].endswith(f"# {f}")           # a user file: by its path
    assert lines["vendor"].endswith("# memory_models/stm32l4.toml")
    assert lines["num_irqs"].endswith("# memory_models/stm32l4r5.toml")
    assert lines["ref_clock_divider"].endswith("# default")
    assert lines["unicorn_cpu"].endswith("# cores/cortex-m4f.toml")
    assert lines["vdd_v"].endswith("# power_models/stm32l4r5.toml")
    one_line_exit_2(mcusim("show", "stm32nope"), "stm32nope")


def test_show_every_mcu_parses_and_matches():
    for name in names("mcus"):
        text = show(name)
        doc = tomllib.loads(text)
        m = load_mcu(name)
        assert doc["mcu"]["clock_mhz"] == m.clock_mhz
        assert [r["size_bytes"] for r in doc["memory"].values()] == [r.size for r in m.memories]
        core_line = next(ln for ln in text.splitlines() if ln.startswith("arch = "))
        assert core_line.split("# ")[1].startswith("cores/")
    m3 = show("generic-m3")
    line = next(ln for ln in m3.splitlines() if ln.startswith("has_dsp = "))
    assert line.endswith("# cores/cortex-m3.toml")
    line = next(ln for ln in m3.splitlines() if ln.startswith("fp_div = "))
    assert line.endswith("# cores/cortex-m4f.toml")      # inherited through extends


# ------------------------------------------------------------------ docs

def test_catalogs_doc_matches_the_schema():
    doc = (REPO / "docs" / "catalogs.md").read_text(encoding="utf-8")
    assert S.BEGIN in doc and S.END in doc
    assert S.replace_generated(doc) == doc, \
        "docs/catalogs.md is stale: run python -m mcusim.schema --write docs/catalogs.md"


def test_markdown_cli():
    r = subprocess.run([sys.executable, "-m", "mcusim.schema", "--markdown"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0 and r.stdout == S.markdown()
    for key in ("`icache_lines`", "`run_ua_per_mhz`", "`hse_hz`", "`ref_clock_divider`"):
        assert key in r.stdout
