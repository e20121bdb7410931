"""Memory maps as the chips have them: banks that are contiguous on the chip (the L4R5's
SRAM1, SRAM2 and SRAM3; the U585's SRAM1-3; the H7A3's AXI SRAM1-3) form one range, so a
linker script may place one segment across them (issue 8 part 5; RM0432 "Memory map",
RM0456 and RM0455 memory organisation)."""

from __future__ import annotations

import pytest

from mcusim.catalog import list_catalog, load_mcu
from mcusim.elf import Firmware, Segment
from mcusim.errors import UserError
from mcusim.machine import Machine

MCUS = [name for name, _ in list_catalog()["mcus"]]


def _boundaries(mcu):
    """Addresses where one mapped range ends and another begins (aliases included)."""
    spans = sorted((base, base + r.size) for r in mcu.memories for base in (r.base, *r.aliases))
    return [hi for (_, hi), (lo2, _) in zip(spans, spans[1:]) if hi == lo2]


def _load(mcu, addr, size):
    fw = Firmware(path="synthetic.elf", entry=0, segments=[Segment(addr, addr, b"\xa5" * size, size)],
                  symbols={}, symbol_sizes={})
    m = Machine(mcu, warn=lambda s: None)
    m.load(fw)
    return m


@pytest.mark.parametrize("name", MCUS)
def test_segments_may_span_contiguous_banks(name):
    mcu = load_mcu(name)
    for edge in _boundaries(mcu):
        m = _load(mcu, edge - 0x100, 0x200)
        assert m.read_memory(edge - 0x100, 0x200) == b"\xa5" * 0x200


def test_l4r5_sram1_to_sram3_is_one_range():
    mcu = load_mcu("stm32l4r5")
    assert {0x20030000, 0x20040000} <= set(_boundaries(mcu))
    m = _load(mcu, 0x20000000, 640 * 1024)          # the whole 640 KB as one segment
    assert m.read_memory(0x2009FFFC, 4) == b"\xa5" * 4
    assert m.read_memory(0x10000000, 4) == b"\xa5" * 4   # SRAM2 through its other alias


def test_a_segment_past_the_end_is_still_refused():
    mcu = load_mcu("stm32l4r5")
    with pytest.raises(UserError, match="outside the memory map"):
        _load(mcu, 0x20000000, 640 * 1024 + 4)
