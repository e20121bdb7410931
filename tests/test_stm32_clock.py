"""The STM32 clock, power, flash-interface, ICACHE and GPIO models (issue 10) against the
reference manuals: reset values, the clock-tree formulas with configurations other than
the start-up corpus's, the ready/switch rules, voltage scaling flags, the U(S)ART frame
time from the kernel clock, GPIO semantics, and how a run's clock mode is decided
(docs/clocks.md).

Truth: RM0432 (STM32L4+), RM0444 (STM32G0x1), RM0455 (STM32H7A3/B3), RM0456 (STM32U5), as
collected with their sources in docs/research/stm32-startup.md; every expected number
below is worked out from the manual's formula in the comment beside it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import subprocess
import sys

import pytest

from conftest import NullSink, PREBUILT, REPO, run_elf
from mcusim.catalog import load_mcu
from mcusim.machine import Machine

PARTS = ["stm32l4r5", "stm32g0b1", "stm32h7a3", "stm32u585"]


def machine(mcu, *, reset=True, clock_mhz=None, warnings=None, **derive):
    spec = load_mcu(mcu) if isinstance(mcu, str) else mcu
    if derive:
        spec = spec.derive(derive)
    w = warnings if warnings is not None else []
    m = Machine(spec, clock_mhz=clock_mhz, reset_clock=reset and not clock_mhz,
                stdout=NullSink(), stderr=NullSink(), warn=w.append)
    m.warnings = w
    return m


def rd(m, dev, off):
    return m.peripherals[dev].read(off, 4)


def wr(m, dev, off, value):
    m.peripherals[dev].write(off, 4, value)


def setb(m, dev, off, bits):
    wr(m, dev, off, rd(m, dev, off) | bits)


# ------------------------------------------------------------------------- reset state

RESET = {   # (peripheral, offset, mask, value): docs/research/stm32-startup.md reset tables
    "stm32l4r5": [("rcc", 0x00, ~0, 0x63), ("rcc", 0x08, ~0, 0), ("rcc", 0x0C, ~0, 0x1000),
                  ("rcc", 0x94, ~0, 0x0C000600), ("pwr", 0x00, ~0, 0x200),
                  ("pwr", 0x80, ~0, 0x100), ("pwr", 0x14, ~0, 0),
                  ("flash_if", 0x00, ~0, 0x600)],
    "stm32g0b1": [("rcc", 0x00, ~0, 0x500), ("rcc", 0x04, ~0, 0x4000), ("rcc", 0x08, ~0, 0),
                  ("rcc", 0x0C, ~0, 0x1000), ("rcc", 0x38, ~0, 0x100), ("pwr", 0x00, ~0, 0x208),
                  ("flash_if", 0x00, 0x70F, 0x600)],
    # H7A3: CPUCKRDY/CDCKRDY (14/15) are set by hardware once the domain clocks run
    "stm32h7a3": [("rcc", 0x00, 0x3FFF, 0x25), ("rcc", 0x28, ~0, 0x02020200),
                  ("rcc", 0x2C, ~0, 0x01FF0000), ("rcc", 0x30, ~0, 0x01010280),
                  ("pwr", 0x0C, ~0, 0x6), ("pwr", 0x04, 1 << 13, 0),     # ACTVOSRDY = 0
                  ("flash_if", 0x00, ~0, 0x13), ("flash_if", 0x100, ~0, 0x13),
                  ("fmc", 0x00, ~0, 0x30DB)],
    "stm32u585": [("rcc", 0x00, ~0, 0x35), ("rcc", 0x08, 0xFFF00000, 0x44000000),
                  ("rcc", 0xF4, ~0, 0x0C004400), ("rcc", 0x34, ~0, 0x01010280),
                  ("pwr", 0x0C, ~0, 0x8000), ("pwr", 0x3C, 0x38000, 0x8000),
                  ("flash_if", 0x00, ~0, 0), ("icache", 0x00, ~0, 0x4)],
}


@pytest.mark.parametrize("part", PARTS)
def test_reset_values(part):
    m = machine(part)
    for dev, off, mask, value in RESET[part]:
        got = rd(m, dev, off) & mask & 0xFFFFFFFF
        assert got == value, f"{part} {dev}+0x{off:x}: 0x{got:08x}, expected 0x{value:08x}"
    assert not m.warnings


@pytest.mark.parametrize("part", PARTS)
def test_reset_clock_is_the_catalogs(part):
    """The clock the reset registers give (RCC) equals the catalog's reset_clock_mhz (from
    the RM's clock chapter): two sources that must agree."""
    m = machine(part)
    assert m.clock_hz == load_mcu(part).reset_clock_mhz * 1e6
    assert m.clock_mode == "reset"


# ------------------------------------------------------------------------- clock trees

def test_l4_clock_tree_hse_pll():
    """RM0432: f(VCO) = HSE / PLLM * PLLN = 8 / 2 * 40 = 160 MHz, PLLCLK = VCO / PLLR (/4)
    = 40 MHz; HCLK = SYSCLK / HPRE (/2) = 20 MHz; PCLK1 = HCLK / PPRE1 (/4) = 5 MHz."""
    m = machine("stm32l4r5")
    setb(m, "rcc", 0x00, 1 << 16)                                       # HSEON
    assert rd(m, "rcc", 0x00) & 1 << 17                                 # HSERDY
    wr(m, "rcc", 0x0C, 3 | 1 << 4 | 40 << 8 | 1 << 25 | 1 << 24)        # HSE /2 x40 /4, PLLREN
    wr(m, "rcc", 0x08, 8 << 4 | 5 << 8 | 3)                             # HPRE /2, PPRE1 /4, SW PLL
    assert rd(m, "rcc", 0x08) >> 2 & 3 == 0                              # PLL off: SWS stays MSI
    assert m.clock_hz == 2e6                                            # MSI 4 MHz / HPRE 2
    setb(m, "rcc", 0x00, 1 << 24)                                       # PLLON: locks, switch done
    assert rd(m, "rcc", 0x00) & 1 << 25 and rd(m, "rcc", 0x08) >> 2 & 3 == 3
    assert m.clock_hz == 20e6
    assert m.kernel_clock_hz("usart2") == 5e6                           # USART2SEL = PCLK1
    wr(m, "rcc", 0x88, 1 << 2)                                          # USART2SEL = SYSCLK
    assert m.kernel_clock_hz("usart2") == 40e6
    assert m.kernel_clock_hz("usart1") == 20e6                          # PCLK2 (PPRE2 /1)
    # a running PLL keeps its latched configuration; the PLL feeding SYSCLK and the
    # oscillator feeding it cannot be stopped
    wr(m, "rcc", 0x0C, 3 | 1 << 4 | 20 << 8 | 1 << 25 | 1 << 24)
    assert m.clock_hz == 20e6
    wr(m, "rcc", 0x00, rd(m, "rcc", 0x00) & ~(1 << 24 | 1 << 16))
    assert rd(m, "rcc", 0x00) & (1 << 24 | 1 << 16) == 1 << 24 | 1 << 16
    assert m.clock_hz == 20e6


def test_l4_msi_ranges_and_invalid_pll():
    """RM0432 RCC_CR: MSIRANGE 11 = 48 MHz with MSIRGSEL; without it the range comes from
    RCC_CSR.MSISRANGE (6: 4 MHz). A PLL without a source never locks."""
    m = machine("stm32l4r5")
    wr(m, "rcc", 0x00, rd(m, "rcc", 0x00) & ~0xF0 | 11 << 4 | 1 << 3)
    assert m.clock_hz == 48e6
    wr(m, "rcc", 0x00, rd(m, "rcc", 0x00) & ~(1 << 3))
    assert m.clock_hz == 4e6
    wr(m, "rcc", 0x0C, 0 | 40 << 8)                                     # PLLSRC = none
    setb(m, "rcc", 0x00, 1 << 24)
    assert not rd(m, "rcc", 0x00) & 1 << 25


def test_g0_clock_tree():
    """RM0444: HSISYS = HSI16 / 2^HSIDIV (/4: 4 MHz); PLLRCLK = HSI16 / PLLM * PLLN / PLLR =
    16 / 1 * 12 / 3 = 64 MHz; HCLK = SYSCLK / HPRE [11:8] (/2) = 32 MHz; PCLK = HCLK / PPRE
    [14:12] (/2) = 16 MHz."""
    m = machine("stm32g0b1")
    wr(m, "rcc", 0x00, rd(m, "rcc", 0x00) | 2 << 11)
    assert m.clock_hz == 4e6
    wr(m, "rcc", 0x0C, 2 | 0 << 4 | 12 << 8 | 2 << 29 | 1 << 28)        # HSI16 /1 x12 R /3, PLLREN
    setb(m, "rcc", 0x00, 1 << 24)
    wr(m, "rcc", 0x08, 8 << 8 | 4 << 12 | 2)                            # HPRE /2, PPRE /2, SW PLLR
    assert rd(m, "rcc", 0x08) >> 3 & 7 == 2
    assert m.clock_hz == 32e6
    assert m.kernel_clock_hz("usart2") == 16e6                          # PCLK
    wr(m, "rcc", 0x54, 2 << 2)                                          # USART2SEL = HSI16
    assert m.kernel_clock_hz("usart2") == 16e6
    wr(m, "rcc", 0x54, 1 << 2)                                          # SYSCLK
    assert m.kernel_clock_hz("usart2") == 64e6


def test_h7_clock_tree_fractional():
    """RM0455: ref1 = HSE / DIVM1 = 8 / 4 = 2 MHz; vco1 = ref1 x (DIVN1 + 1 + FRACN1 / 2^13)
    = 2 x (200 + 4096 / 8192) = 401 MHz; pll1_p = vco1 / (DIVP1 + 1) = 200.5 MHz; CPU =
    sys_ck / CDCPRE (/2) = 100.25 MHz; HCLK = CPU / HPRE (/2); PCLK1 = HCLK / CDPPRE1 (/2)."""
    m = machine("stm32h7a3")
    wr(m, "rcc", 0x00, rd(m, "rcc", 0x00) | 3 << 3)                     # HSIDIV /8
    assert m.clock_hz == 8e6
    wr(m, "rcc", 0x00, rd(m, "rcc", 0x00) & ~(3 << 3) | 1 << 16)        # HSI /1, HSEON
    wr(m, "rcc", 0x28, 2 | 4 << 4 | 32 << 12 | 32 << 20)                # PLLSRC HSE, DIVM1 4
    wr(m, "rcc", 0x30, 199 | 1 << 9 | 1 << 16 | 1 << 24)                # N x200, P/Q/R /2
    wr(m, "rcc", 0x34, 4096 << 3)                                       # FRACN1
    setb(m, "rcc", 0x2C, 1 << 0)                                        # PLL1FRACEN
    setb(m, "rcc", 0x00, 1 << 24)                                       # PLL1ON
    wr(m, "rcc", 0x18, 8 << 8 | 8)                                      # CDCPRE /2, HPRE /2
    wr(m, "rcc", 0x1C, 4 << 4)                                          # CDPPRE1 /2
    wr(m, "rcc", 0x10, 3)                                               # SW = PLL1
    assert rd(m, "rcc", 0x10) >> 3 & 7 == 3
    assert m.clock_hz == pytest.approx(100.25e6)
    assert m.kernel_clock_hz("usart3") == pytest.approx(100.25e6 / 4)   # rcc_pclk1
    wr(m, "rcc", 0x54, 3)                                               # USART234578SEL = hsi_ker
    assert m.kernel_clock_hz("usart3") == 64e6


def test_u5_clock_tree_and_booster():
    """RM0456: MSIS range 0 = 48 MHz (ICSCR1 with MSIRGSEL); pll1_r = HSI16 / PLL1M (/2) x
    PLL1N (40) / PLL1R (/2) = 160 MHz; HCLK = / HPRE (/4) = 40 MHz; PCLK2 = / PPRE2 (/2);
    the EPOD booster clock = PLL1 source / PLL1MBOOST (/4: 4 MHz)."""
    m = machine("stm32u585")
    wr(m, "rcc", 0x08, rd(m, "rcc", 0x08) & ~(0xF << 28) | 1 << 23)     # MSISRANGE 0, MSIRGSEL
    assert m.clock_hz == 48e6
    setb(m, "rcc", 0x00, 1 << 8)                                        # HSION
    wr(m, "rcc", 0x28, 2 | 1 << 8 | 2 << 12 | 1 << 18)                  # HSI16 /2, MBOOST /4, REN
    wr(m, "rcc", 0x34, 39 | 1 << 9 | 1 << 16 | 1 << 24)                 # N x40, P/Q/R /2
    setb(m, "rcc", 0x00, 1 << 24)
    wr(m, "rcc", 0x20, 9 | 4 << 8)                                      # HPRE /4, PPRE2 /2
    wr(m, "rcc", 0x1C, 3)                                               # SW = PLL1
    assert m.clock_hz == 40e6
    assert m.kernel_clock_hz("usart1") == 20e6                          # PCLK2
    assert m.kernel_clock_hz("epod_booster") == 4e6


# ------------------------------------------------------------------------- voltage scaling

def test_l4_voltage_range_and_vosf():
    """RM0432 PWR: VOS = 10 is range 2; R1MODE = 0 in range 1 is boost; VOSF reads 1 while
    the regulator settles (here 50 us of the 4 MHz clock = 200 cycles)."""
    m = machine("stm32l4r5", **{"peripherals.pwr.params.vos_settle_us": 50.0})
    assert m.memory_model.vrange == "range1"
    wr(m, "pwr", 0x00, 2 << 9)
    assert rd(m, "pwr", 0x14) & 1 << 10                                 # VOSF
    m.coster.cycles += 199
    assert rd(m, "pwr", 0x14) & 1 << 10
    m.coster.cycles += 1
    assert not rd(m, "pwr", 0x14) & 1 << 10
    m.peripherals["pwr"]._settled(m.coster.cycles)
    assert m.memory_model.vrange == "range2"
    wr(m, "pwr", 0x00, 1 << 9)
    m.coster.cycles += 200
    m.peripherals["pwr"]._settled(m.coster.cycles)
    wr(m, "pwr", 0x80, 0)                                               # R1MODE = 0: boost
    assert m.memory_model.vrange == "range1_boost"


def test_h7_supply_is_written_once_and_vos_ready():
    """RM0455 PWR: PWR_CR3's supply bits are latched by the first write after power-on;
    ACTVOSRDY rises once the supply is configured; VOS (11 = VOS0) with VOSRDY."""
    m = machine("stm32h7a3")
    assert m.memory_model.vrange == "vos3"
    wr(m, "pwr", 0x0C, 1 << 2)                                          # direct SMPS
    assert rd(m, "pwr", 0x04) & 1 << 13                                 # ACTVOSRDY
    wr(m, "pwr", 0x0C, 1 << 1)                                          # LDO: locked, ignored
    assert rd(m, "pwr", 0x0C) & 0x3F == 1 << 2
    wr(m, "pwr", 0x18, 3 << 14)
    assert rd(m, "pwr", 0x18) & 1 << 13                                 # VOSRDY
    assert rd(m, "pwr", 0x04) >> 14 & 3 == 3                            # ACTVOS = VOS0
    assert m.memory_model.vrange == "vos0"


def test_u5_vos_and_booster_ready():
    """RM0456 PWR: VOSRDY after a VOS change; BOOSTRDY only with BOOSTEN and a booster clock
    of 4..16 MHz (PLL1 source / PLL1MBOOST)."""
    m = machine("stm32u585")
    wr(m, "pwr", 0x0C, 3 << 16 | 1 << 18)                               # range 1, BOOSTEN
    v = rd(m, "pwr", 0x0C)
    assert v & 1 << 15 and not v & 1 << 14                              # VOSRDY, no PLL1 source
    assert rd(m, "pwr", 0x3C) >> 16 & 3 == 3 and rd(m, "pwr", 0x3C) & 1 << 15
    assert m.memory_model.vrange == "range1"
    wr(m, "rcc", 0x28, 1)                                               # PLL1SRC = MSIS (4 MHz)
    assert rd(m, "pwr", 0x0C) & 1 << 14
    wr(m, "rcc", 0x28, 1 | 1 << 12)                                     # MBOOST /2: 2 MHz
    assert not rd(m, "pwr", 0x0C) & 1 << 14


# ------------------------------------------------------------------------- U(S)ART frames

@pytest.mark.parametrize("setup,cycles", [
    # 8N1: 10 bits x BRR / fck at the 120 MHz core: 10 x 139 x 120 / 16
    ({}, 10 * 139 * 120 // 16),
    # PRESC 3 (/6): fck = 16 / 6 MHz
    ({0x2C: 3}, 10 * 139 * 120 * 6 // 16),
    # OVER8: USARTDIV = BRR[15:4] << 4 | BRR[2:0] << 1 = 0x11A; bit = USARTDIV / (2 fck)
    ({0x00: 1 << 15 | 1 << 3 | 1, 0x0C: 0x115}, 10 * 0x11A * 120 // 32),
    # 9 data bits (M0) and 2 stop bits (STOP = 10): 12 bits
    ({0x00: 1 << 12 | 1 << 3 | 1, 0x04: 2 << 12}, 12 * 139 * 120 // 16),
])
def test_usart_frame_time_from_kernel_clock(setup, cycles):
    """USART2 with its kernel clock HSI16 (RCC_CCIPR.USART2SEL = 10) on a 120 MHz core."""
    m = machine("stm32l4r5", reset=False)
    setb(m, "rcc", 0x00, 1 << 8)                                        # HSION
    wr(m, "rcc", 0x88, 2 << 2)
    u = m.peripherals["usart2"]
    wr(m, "usart2", 0x0C, 139)
    wr(m, "usart2", 0x00, 1 << 3 | 1)
    for off, v in setup.items():
        wr(m, "usart2", off, v)
    assert m.clock_hz == 120e6 and u.byte_cycles() == cycles


def test_lpuart_frame_time():
    """LPUART: baud = 256 x fck / BRR; HSI16 kernel, BRR 35556: 10 bits = 10 x 35556 /
    (256 x 16 MHz) s = 10416.6 cycles at 120 MHz."""
    m = machine("stm32l4r5", reset=False)
    setb(m, "rcc", 0x00, 1 << 8)
    wr(m, "rcc", 0x88, 2 << 10)                                         # LPUART1SEL = HSI16
    wr(m, "lpuart1", 0x0C, 35556)
    assert m.peripherals["lpuart1"].byte_cycles() == 10 * 35556 * 120 // (256 * 16)


# ------------------------------------------------------------------------- GPIO

def test_gpio_semantics():
    """RM0432 GPIO: reset MODER/PUPDR of port A (PA13/14/15 debug AF: PA13 and PA15 pulled
    up, PA14 down); BSRR set wins over reset; BRR clears; IDR of outputs, open-drain,
    inputs with pulls and external levels; LCKR freezes the locked pins' mode."""
    m = machine("stm32l4r5", **{"peripherals.gpioa.params.inputs": 0x40})
    g = m.peripherals["gpioa"]
    assert rd(m, "gpioa", 0x10) == 1 << 13 | 1 << 15                    # PA6 analog: reads 0
    wr(m, "gpioa", 0x00, rd(m, "gpioa", 0x00) & ~(3 << 10 | 3 << 12) | 1 << 10)  # PA5 out, PA6 in
    assert rd(m, "gpioa", 0x10) & 1 << 6                                # PA6: external level 1
    wr(m, "gpioa", 0x18, 1 << 5 | 1 << 21)                              # set and reset PA5: set
    assert rd(m, "gpioa", 0x14) & 1 << 5 and rd(m, "gpioa", 0x10) & 1 << 5
    assert rd(m, "gpioa", 0x18) == 0                                    # BSRR reads 0
    wr(m, "gpioa", 0x28, 1 << 5)                                        # BRR
    assert not rd(m, "gpioa", 0x14) & 1 << 5
    setb(m, "gpioa", 0x04, 1 << 5)                                      # open-drain
    wr(m, "gpioa", 0x18, 1 << 5)                                        # released: no pull -> 0
    assert not rd(m, "gpioa", 0x10) & 1 << 5
    setb(m, "gpioa", 0x0C, 1 << 10)                                     # pull-up
    assert rd(m, "gpioa", 0x10) & 1 << 5
    wr(m, "gpioa", 0x0C, rd(m, "gpioa", 0x0C) | 2 << 12)                # PA6 pull-down
    assert not rd(m, "gpioa", 0x10) & 1 << 6
    # lock PA5: LCKK = 1, 0, 1 with the same mask, then a read
    for v in (1 << 16 | 1 << 5, 1 << 5, 1 << 16 | 1 << 5):
        wr(m, "gpioa", 0x1C, v)
    assert rd(m, "gpioa", 0x1C) & 1 << 16
    moder = rd(m, "gpioa", 0x00)
    wr(m, "gpioa", 0x00, moder | 3 << 10 | 3 << 14)                     # PA5 frozen, PA7 not
    assert rd(m, "gpioa", 0x00) == moder | 3 << 14
    # ODR changes were traced: PA5 1 (BSRR), 0 (BRR), 1 (BSRR)
    assert [(p, n, lv) for _c, p, n, lv in m.gpio_log] == [("PA", 5, 1), ("PA", 5, 0),
                                                          ("PA", 5, 1)]
    assert g.port == "PA"


def test_h7_gpio_has_no_brr():
    """RM0455: GPIOx_BRR does not exist on STM32H7 (offset 0x28 reserved)."""
    w = []
    m = machine("stm32h7a3", warnings=w)
    wr(m, "gpiob", 0x00, rd(m, "gpiob", 0x00) & ~3 | 1)
    wr(m, "gpiob", 0x18, 1)
    wr(m, "gpiob", 0x28, 1)
    assert rd(m, "gpiob", 0x14) & 1
    rd(m, "gpiob", 0x28)
    assert any("gpiob+0x028" in x for x in w), w


# ------------------------------------------------------------------------- ICACHE

def test_u5_icache_follows_its_registers():
    """RM0456 ICACHE: EN switches the cache; WAYSEL only while EN = 0; CACHEINV sets BUSYF
    for the invalidation, then BSYENDF until FCR.CBSYENDF."""
    m = machine("stm32u585", **{"peripherals.icache.params.invalidate_cycles": 100})
    mm = m.memory_model
    assert mm.config["st_icache"] is False                              # off at reset
    m.coster.cycles = 200                                               # the reset invalidation ended
    assert rd(m, "icache", 0x04) == 0b10                                # BSYENDF
    wr(m, "icache", 0x0C, 0b10)                                         # CBSYENDF
    assert rd(m, "icache", 0x04) == 0
    wr(m, "icache", 0x00, 0b010)                                        # CACHEINV (WAYSEL 0)
    assert rd(m, "icache", 0x04) == 0b01 and rd(m, "icache", 0x00) == 0  # BUSYF; self-clearing
    m.coster.cycles += 100
    assert rd(m, "icache", 0x04) == 0b10
    wr(m, "icache", 0x00, 0b001)                                        # EN, direct-mapped
    assert mm.config["st_icache"] is True and mm.st_icache.ways == 1
    wr(m, "icache", 0x00, 0b101)                                        # WAYSEL while EN: ignored
    assert rd(m, "icache", 0x00) == 0b001
    wr(m, "icache", 0x00, 0)
    assert mm.config["st_icache"] is False


# ------------------------------------------------------------------------- messages

def test_unmodelled_register_reads_name_the_register_once():
    w = []
    m = machine("stm32l4r5", warnings=w)
    for _ in range(3):
        rd(m, "rcc", 0x1C)                                              # RCC_CIFR
        rd(m, "rcc", 0x24)                                              # reserved offset
        rd(m, "syscfg", 0x40)
    assert w == [
        "read of RCC_CIFR (0x4002101C), which mcusim does not model (kept as written): "
        "reads 0x00000000",
        "read of rcc+0x024 (0x40021024), which mcusim does not model (the catalog names no "
        "register at this offset): reads 0x00000000",
        "read of syscfg+0x040 (0x40010040), which mcusim does not model (the catalog names "
        "no register at this offset): reads 0x00000000"]


# ------------------------------------------------------------------------- flash latency

FLASH, SRAM_CODE = 0x08000000, 0x20000100


def _h(*hws):
    return b"".join(struct.pack("<H", x) for x in hws)


def _mov32(rd_, v):
    def mov(op, imm):
        return _h(op | ((imm >> 11) & 1) << 10 | (imm >> 12) & 0xF,
                  ((imm >> 8) & 7) << 12 | rd_ << 8 | imm & 0xFF)
    return mov(0xF240, v & 0xFFFF) + mov(0xF2C0, v >> 16)


STR_R1_R0 = _h(0x6001)                      # str r1, [r0]
EXIT = _mov32(1, 0x20026) + _h(0x2018, 0xBEAB)   # SYS_EXIT ADP_Stopped_ApplicationExit


def _store(addr, value):
    return _mov32(0, addr) + _mov32(1, value) + STR_R1_R0


@pytest.mark.parametrize("latency_in_ram,warns", [(True, False), (False, True)])
def test_latency_warning_only_when_flash_runs_too_fast(latency_in_ram, warns):
    """RM0432: 48 MHz in range 1 needs LATENCY 2. Code in SRAM raises MSI to 48 MHz with
    LATENCY 0 (legal: nothing is read from flash), then raises LATENCY before going back
    to flash: no warning. Going back to flash first: the warning, once."""
    w = []
    m = machine("stm32l4r5", warnings=w)
    msi48 = 1 | 1 << 1 | 1 << 3 | 11 << 4                             # MSION, MSIRGSEL, range 11
    ram = _store(0x40021000, msi48)
    back = b""
    if latency_in_ram:
        ram += _store(0x40022000, 0x602)
    else:
        back += _store(0x40022000, 0x602)
    ram += _mov32(2, FLASH + 0x81) + _h(0x4710)                         # bx r2
    m.write_memory(FLASH, struct.pack("<II", 0x20001000, FLASH + 0x41))
    m.write_memory(FLASH + 0x40, _mov32(0, SRAM_CODE | 1) + _h(0x4700))  # bx r0
    m.write_memory(FLASH + 0x80, back + EXIT)
    m.write_memory(SRAM_CODE, ram)
    m.reset()
    m.run(max_cycles=1_000_000)
    assert m.outcome == "exit" and m.clock_hz == 48e6
    lat = [x for x in w if "LATENCY" in x]
    assert len(lat) == (1 if warns else 0), w
    if warns:
        assert "LATENCY = 0 is below the 2 wait states" in lat[0]


# ------------------------------------------------------------------------- clock modes

def test_clock_modes_on_real_firmware():
    """docs/clocks.md: firmware that never touches its clock runs at the catalog's clock;
    a CubeMX application runs from reset (its clock history starts at the reset clock);
    --clock-mhz starts there and the firmware's clock switch takes over."""
    hello = run_elf(PREBUILT / "cortex-m4f" / "hello.elf", "stm32l4r5")
    assert hello.clock_mode == "run" and hello.clock.changes == [(0, 120e6)]
    reset = run_elf(PREBUILT / "cortex-m4f" / "startup_l4r5_reset.elf", "stm32l4r5",
                    max_cycles=400_000_000)
    assert reset.clock_mode == "reset" and reset.clock.changes == [(0, 4e6)]
    assert not reset.warnings
    over = run_elf(PREBUILT / "cortex-m4f" / "startup_l4r5.elf", "stm32l4r5", clock_mhz=80,
                   max_cycles=400_000_000)
    assert over.clock_mode == "override" and over.clock.changes[0] == (0, 80e6)
    assert over.clock_hz == 120e6 and over.exit_code == 0


def test_reset_clock_option_for_firmware_that_never_touches_its_clock():
    """hello never configures its clock: with start_state = reset it runs at MSI 4 MHz."""
    spec = load_mcu("stm32l4r5").derive({"mcu.start_state": "reset"})
    m = Machine(spec, stdout=NullSink(), stderr=NullSink(), warn=lambda s: None)
    from mcusim.elf import load_firmware
    m.load(load_firmware(str(PREBUILT / "cortex-m4f" / "hello.elf")))
    m.reset()
    t = m.run(max_cycles=50_000_000)
    assert t.outcome == "exit" and t.clock_mode == "reset" and t.clock_hz == 4e6
    assert t.seconds() == pytest.approx(t.cycles / 4e6)


def _cli(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "mcusim", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_gpio_trace_csv(tmp_path):
    """startup_l4r5 drives the LED (PC7): set, toggle, toggle, HAL_Delay(100), toggle. The
    last two changes are 100..101 ms apart (HAL_Delay waits n + 1 ticks)."""
    csv_path, rec_path = tmp_path / "pins.csv", tmp_path / "r.json"
    p = _cli("run", str(PREBUILT / "cortex-m4f" / "startup_l4r5.elf"), "--mcu", "stm32l4r5",
             "--gpio-trace", str(csv_path), "--json", str(rec_path), "--quiet")
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [(r["pin"], r["level"]) for r in rows] == [("PC7", "1"), ("PC7", "0"),
                                                     ("PC7", "1"), ("PC7", "0")]
    ms = (float(rows[3]["seconds"]) - float(rows[2]["seconds"])) * 1e3
    assert 100 <= ms <= 101.2, ms
    rec = json.loads(rec_path.read_text())
    assert rec["gpio_changes"] == 4 and rec["clock_mode"] == "reset"


def test_reset_clock_and_clock_mhz_exclude_each_other():
    p = _cli("run", str(PREBUILT / "cortex-m4f" / "hello.elf"), "--reset-clock",
             "--clock-mhz", "80")
    assert p.returncode == 2 and "exclude each other" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
