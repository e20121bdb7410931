"""Catalog loader tests (fast: TOML only, no emulation)."""

import dataclasses
import pathlib

import pytest

from mcusim import catalog
from mcusim.catalog import CatalogError, load_core, load_mcu, load_power, list_catalog
from conftest import SHARED  # noqa: E402

REQUIRED = {
    "stm32l4r5": "cortex-m4f",
    "stm32g0b1": "cortex-m0plus",
    "stm32h7a3": "cortex-m7f",
    "stm32u585": "cortex-m33",
    "generic-m0plus": "cortex-m0plus",
    "generic-m3": "cortex-m3",
    "generic-m4": "cortex-m4f",
    "generic-m7": "cortex-m7f",
    "generic-m33": "cortex-m33",
}
GENERIC_OF = {
    "generic-m0plus": "stm32g0b1",
    "generic-m3": "stm32l4r5",
    "generic-m4": "stm32l4r5",
    "generic-m7": "stm32h7a3",
    "generic-m33": "stm32u585",
}


def _names(kind):
    return [n for n, _ in list_catalog()[kind]]


# ----------------------------------------------------------------- every entry loads

def test_list_catalog_shape():
    cat = list_catalog()
    assert set(cat) == {"mcus", "cores", "power_models"}
    for rows in cat.values():
        for name, desc in rows:
            assert isinstance(name, str) and isinstance(desc, str)
            assert desc and not desc.startswith("(invalid")
            assert "\n" not in desc
    # abstract family files are not listed
    assert "stm32l4" not in _names("mcus")


def test_catalog_dirs_exist():
    dirs = catalog.catalog_dirs()
    assert set(dirs) == {"mcus", "cores", "power_models"}
    for d in dirs.values():
        assert isinstance(d, pathlib.Path) and d.is_dir()


@pytest.mark.parametrize("name", _names("mcus"))
def test_every_mcu_loads(name):
    m = load_mcu(name)
    assert m.name == name
    assert m.flash_bytes() > 0 and m.ram_bytes() > 0
    assert m.clock_mhz <= m.max_clock_mhz
    assert m.flash_wait_states(m.clock_mhz) >= 0
    assert m.power_model is not None
    p = load_power(m.power_model)
    assert m.voltage_range in p.run, "power model must cover the MCU's default range"
    assert m.console is not None and m.peripheral(m.console).model in ("stm32-usart",
                                                                       "stm32-lpuart")


@pytest.mark.parametrize("name", _names("cores"))
def test_every_core_loads(name):
    c = load_core(name)
    assert c.name == name
    assert c.exc_entry_cycles > 0 and c.exc_exit_cycles > 0 and c.tail_chain_cycles > 0


@pytest.mark.parametrize("name", _names("power_models"))
def test_every_power_model_loads(name):
    p = load_power(name)
    assert p.vdd_v > 0
    a = p.access_energy
    if a.enabled:
        # per-event energies only where they are derived from sourced tables or from
        # public board measurements (power_models/stm32u585.toml, stm32h7a3.toml,
        # docs/power.md)
        assert p.data_status in ("sourced", "derived") or name.startswith("generic-"), name
        assert a.fetch_word_pj > 0 and a.data_read_pj > 0 and a.flash_read_through_pj > 0


def test_required_names_and_cores():
    names = set(_names("mcus"))
    for mcu, core in REQUIRED.items():
        assert mcu in names
        assert load_mcu(mcu).core.name == core


# ----------------------------------------------------------------- core facts

def test_core_attributes():
    m0 = load_core("cortex-m0plus")
    assert (m0.unicorn_cpu, m0.arch, m0.has_dsp, m0.fpu, m0.nvic_prio_bits) == \
        ("cortex-m0", "armv6-m", False, None, 2)
    assert m0.exc_entry_cycles == 15                      # core_timing.yaml
    m4 = load_core("cortex-m4f")
    assert (m4.unicorn_cpu, m4.arch, m4.has_dsp, m4.fpu) == \
        ("cortex-m4", "armv7e-m", True, "fpv4-sp")
    assert (m4.exc_entry_cycles, m4.exc_exit_cycles, m4.tail_chain_cycles) == (12, 10, 6)
    m3 = load_core("cortex-m3")
    assert (m3.arch, m3.fpu, m3.exc_exit_cycles) == ("armv7-m", None, 10)
    m7 = load_core("cortex-m7f")
    assert (m7.unicorn_cpu, m7.fpu) == ("cortex-m7", "fpv5-dp")
    m33 = load_core("cortex-m33")
    assert (m33.unicorn_cpu, m33.arch, m33.has_dsp, m33.fpu) == \
        ("cortex-m33", "armv8-m.main", True, "fpv5-sp")


# ----------------------------------------------------------------- values vs shared/reference

def test_l4r5_matches_reference():
    m = load_mcu("stm32l4r5")
    assert m.clock_mhz == 120 and m.max_clock_mhz == 120
    assert m.flash_wait_states(120) == 5                  # mcus.yaml range1 120 MHz -> 5
    assert m.flash_wait_states(100) == 4
    assert m.flash_wait_states(80, "range1") == 3
    assert m.flash_wait_states(26, "range2") == 2
    with pytest.raises(CatalogError):
        m.flash_wait_states(100, "range1")                # Range 1 normal stops at 80 MHz
    with pytest.raises(CatalogError):
        m.flash_wait_states(121)
    acc = m.flash.accelerator
    assert acc.name == "ART" and acc.icache_lines == 32 and acc.line_bytes == 32
    assert acc.dcache_lines == 8 and acc.prefetch is True
    assert m.flash.acr_address == 0x40022000
    assert m.memory("flash").base == 0x08000000 and m.memory("flash").size == 2 << 20
    assert 0 in m.memory("flash").aliases
    assert m.memory("flash").read_wait_states is None
    assert m.memory("sram1").base == 0x20000000 and m.memory("sram1").size == 192 * 1024
    assert m.memory("sram2").base == 0x10000000 and m.memory("sram2").aliases == (0x20030000,)
    assert m.memory("sram3").base == 0x20040000 and m.memory("sram3").size == 384 * 1024
    assert m.ram_bytes() == 655360                        # mcus.yaml total_bytes
    assert m.num_irqs == 95 and m.reset_clock_mhz == 4.0
    assert m.console == "lpuart1" and m.peripheral("lpuart1").base == 0x40008000
    assert m.caches == {}


def test_h7a3_matches_reference():
    m = load_mcu("stm32h7a3")
    assert m.clock_mhz == 280
    assert m.flash_wait_states(280) == 6                  # VOS0
    assert m.flash_wait_states(225, "vos1") == 5
    assert m.flash_wait_states(88, "vos3") == 3
    assert m.memory("itcm").base == 0 and m.memory("itcm").size == 64 * 1024
    assert m.memory("dtcm").base == 0x20000000 and m.memory("dtcm").size == 128 * 1024
    axi = sum(m.memory(n).size for n in ("axi_sram1", "axi_sram2", "axi_sram3"))
    assert axi == 1 << 20 and m.memory("axi_sram1").base == 0x24000000
    assert m.caches["icache"].size_bytes == 16384
    assert m.caches["dcache"].size_bytes == 16384
    assert m.caches["dcache"].line_bytes == 32
    assert m.boot_address == 0x08000000
    assert m.flash.accelerator is None
    assert m.console == "usart3" and m.peripheral("usart3").base == 0x40004800


def test_u585_matches_reference():
    m = load_mcu("stm32u585")
    assert m.clock_mhz == 160
    assert m.flash_wait_states(160) == 4
    assert m.flash_wait_states(37.5, "range3") == 2
    assert m.flash_wait_states(24, "range4") == 2
    assert m.caches["icache"].size_bytes == 8192 and m.caches["icache"].ways == 2
    assert m.ram_bytes() == 802816                        # mcus.yaml total_bytes
    assert m.console == "usart1" and m.peripheral("usart1").base == 0x40013800


def test_g0b1_facts():
    m = load_mcu("stm32g0b1")
    assert m.clock_mhz == 64
    assert [m.flash_wait_states(f) for f in (24, 25, 48, 64)] == [0, 1, 1, 2]
    assert m.memory("flash").size == 512 * 1024 and m.memory("sram").size == 144 * 1024
    assert m.core.nvic_prio_bits == 2
    assert m.console == "usart2" and m.peripheral("usart2").base == 0x40004400


def test_peripherals_have_required_blocks():
    for name in ("stm32l4r5", "stm32g0b1", "stm32h7a3", "stm32u585"):
        m = load_mcu(name)
        models = {p.model for p in m.peripherals}
        assert any(mod.endswith("-pwr") for mod in models) and "stm32-flash" in models
        assert any(mod.endswith("-rcc") for mod in models)
        assert "stm32-tim-basic" in models and "unmodelled" in models
        for p in m.peripherals:
            # GPIO ports and SYSCFG have no interrupt line of their own (EXTI has them)
            if p.model not in ("unmodelled", "stm32-gpio") and p.name != "syscfg":
                assert p.irq is not None and p.irq < m.num_irqs
                # every modelled block sits inside an unmodelled bus window
                assert any(q.model == "unmodelled" and q.base <= p.base and p.end <= q.end
                           for q in m.peripherals), p.name


# ----------------------------------------------------------------- generic MCUs

@pytest.mark.parametrize("generic,real", sorted(GENERIC_OF.items()))
def test_generic_same_map_zero_wait(generic, real):
    g, r = load_mcu(generic), load_mcu(real)
    key = lambda m: [(x.name, x.kind, x.base, x.size, x.aliases, x.access) for x in m.memories]
    assert key(g) == key(r)
    assert [(p.name, p.base, p.size, p.irq) for p in g.peripherals] == \
        [(p.name, p.base, p.size, p.irq) for p in r.peripherals]
    assert all(x.read_wait_states == 0 and x.write_wait_states == 0 for x in g.memories)
    assert g.flash is None and g.caches == {}
    assert g.flash_wait_states(g.clock_mhz) == 0
    assert g.num_irqs == r.num_irqs and g.boot_address == r.boot_address


# ----------------------------------------------------------------- user files

def test_user_file_extends_catalog_entry(tmp_path):
    f = tmp_path / "my_l4.toml"
    f.write_text(
        'extends = "stm32l4r5"\n'
        "[mcu]\n"
        'description = "L4R5 with 256 KB SRAM3"\n'
        "clock_mhz = 80.0\n"
        "[memory.sram3]\n"
        "size_bytes = 0x40000\n")
    m = load_mcu(str(f))
    assert m.name == "my_l4"
    assert m.memory("sram3").size == 256 * 1024
    assert m.memory("sram1").size == 192 * 1024           # inherited
    assert m.flash_wait_states(m.clock_mhz) == 3
    assert m.core.name == "cortex-m4f"
    assert m.source_path == str(f)


def test_user_file_hypothetical_part_ten_lines(tmp_path):
    f = tmp_path / "l4_slowflash.toml"
    f.write_text(
        'extends = "stm32l4r5"\n'
        "[mcu]\n"
        'description = "what-if: 8 wait states at 120 MHz"\n'
        "[flash.wait_states]\n"
        "range1_boost = [{max_mhz = 15, ws = 0}, {max_mhz = 120, ws = 8}]\n"
        "[flash.accelerator]\n"
        "icache_lines = 64\n")
    m = load_mcu(str(f))
    assert m.flash_wait_states(120) == 8
    assert m.flash.accelerator.icache_lines == 64 and m.flash.accelerator.name == "ART"
    assert m.flash.ws_tables["range1"] == load_mcu("stm32l4r5").flash.ws_tables["range1"]


def test_user_power_file_extends(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('extends = "stm32l4r5"\n[power]\ndescription = "3 V"\nvdd_v = 3.0\n')
    p = load_power(str(f))
    assert p.vdd_v == 3.0
    assert p.run["range1_boost"].flash_accel_on.run_ua_per_mhz == 110.0


# ----------------------------------------------------------------- errors

def _one_line(e):
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


def test_unknown_name_lists_known():
    with pytest.raises(CatalogError) as e:
        load_mcu("stm32nope")
    msg = _one_line(e)
    assert "stm32nope" in msg and "stm32l4r5" in msg
    with pytest.raises(CatalogError) as e:
        load_core("cortex-m99")
    assert "cortex-m4f" in _one_line(e)
    with pytest.raises(CatalogError):
        load_power("nope")


def test_abstract_entry_refused():
    with pytest.raises(CatalogError) as e:
        load_mcu("stm32l4")
    assert "abstract" in _one_line(e)


def test_overlapping_regions(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n[memory.sram1]\nsize_bytes = 0x50000\n')
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    msg = _one_line(e)
    assert "bad.toml" in msg and "overlaps" in msg and "sram1" in msg


def test_overlapping_alias(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n[memory.sram3]\naliases = [0x20010000]\n')
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    assert "overlaps" in _one_line(e)


def test_peripheral_overlapping_memory(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n[peripherals.npu]\nmodel = "npu"\n'
                 "base = 0x20001000\nsize_bytes = 0x100\n")
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    assert "peripherals.npu" in _one_line(e)


def test_bad_toml(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[mcu\ndescription = 1\n")
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    msg = _one_line(e)
    assert "bad.toml" in msg and "TOML" in msg


def test_missing_key(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[mcu]\ndescription = "x"\ncore = "cortex-m4f"\nclock_mhz = 10.0\n'
                 "num_irqs = 8\n[memory.ram]\nkind = \"sram\"\nsize_bytes = 1024\n")
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    msg = _one_line(e)
    assert "bad.toml" in msg and "memory.ram.base" in msg


def test_wrong_type(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n[mcu]\nclock_mhz = "fast"\n')
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    assert "mcu.clock_mhz" in _one_line(e)


def test_unsorted_wait_states(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n[flash.wait_states]\n'
                 "range1 = [{max_mhz = 40, ws = 1}, {max_mhz = 20, ws = 0}]\n")
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    assert "flash.wait_states.range1" in _one_line(e)


def test_clock_above_range(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n[mcu]\nvoltage_range = "range2"\n')
    with pytest.raises(CatalogError):
        load_mcu(str(f))


def test_extends_cycle(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(CatalogError) as e:
        load_mcu(str(tmp_path / "a.toml"))
    assert "cycle" in _one_line(e)


def test_unknown_core_in_mcu(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n[mcu]\ncore = "cortex-m99"\n')
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    assert "mcu.core" in _one_line(e)


def test_missing_file():
    with pytest.raises(CatalogError):
        load_mcu("/nonexistent/dir/x.toml")


def test_bad_power_file(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[power]\ndescription = "x"\nvdd_v = 1.8\n')
    with pytest.raises(CatalogError) as e:
        load_power(str(f))
    assert "run" in _one_line(e)


def test_specs_are_frozen():
    m = load_mcu("stm32l4r5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.clock_mhz = 1.0


# ----------------------------------------------------------------- cross-check with shared/reference

_REF = SHARED / "reference" / "mcus.yaml"


@pytest.mark.skipif(not _REF.is_file(), reason="shared/reference/mcus.yaml not present")
@pytest.mark.parametrize("mcu,ref_name,ranges", [
    ("stm32l4r5", "stm32l4r5zi", {"range1_boost": "range1", "range2": "range2"}),
    ("stm32h7a3", "stm32h7a3zi", {"vos0": "vos0", "vos1": "vos1", "vos2": "vos2",
                                  "vos3": "vos3"}),
    ("stm32u585", "stm32u585ai", {"range1": "range1", "range2": "range2",
                                  "range3": "range3", "range4": "range4"}),
])
def test_wait_state_tables_equal_reference(mcu, ref_name, ranges):
    yaml = pytest.importorskip("yaml")
    ref = yaml.safe_load(_REF.read_text())["mcus"][ref_name]
    m = load_mcu(mcu)
    for ours, theirs in ranges.items():
        want = tuple((float(r["max_mhz"]), r["ws"]) for r in ref["flash"]["wait_states"][theirs])
        assert m.flash.ws_tables[ours] == want, ours
    assert m.flash_bytes() == ref["flash"]["size_bytes"]
    banks = {b["name"].lower(): b for b in ref["sram"]["banks"]}
    for region in m.memories:
        if region.kind == "sram" and region.name in banks:
            assert (region.base, region.size) == (banks[region.name]["base"],
                                                  banks[region.name]["size_bytes"])


def test_unaligned_region(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('extends = "stm32l4r5"\n[memory.sram3]\nsize_bytes = 100000\n')
    with pytest.raises(CatalogError) as e:
        load_mcu(str(f))
    assert "memory.sram3" in _one_line(e)
