"""CubeMX-style start-up firmware on all four STM32 parts (issue 10, part 3).

firmware_images/startup/ holds one start-up application per family, written from the
reference manuals in the shape of a generated CubeMX project (vector table, SystemInit,
HAL_Init with a 1 kHz SysTick, SystemClock_Config with the family's register sequence,
GPIO LED, U(S)ART with its kernel clock chosen in RCC, printf). Each is built twice:

    startup_<part>        SystemClock_Config to the part's maximum clock
    startup_<part>_reset  no SystemClock_Config: the part's reset clock

Each ELF runs once per session as a subprocess (`mcusim run ELF --mcu <part> --json F`,
no --clock-mhz: the clock must be what the firmware's RCC configuration makes it), and
the tests check what it printed on its console against the reference manuals:

  * the clock computed from the RCC registers as HAL_RCC_GetSysClockFreq/GetHCLKFreq do
    equals the configured one (PLL formulas below), SysTick LOAD = clock/1000 - 1;
  * the simulator's clock in force (run record `clock_hz`) is that clock;
  * HAL_Delay(100) lasts between 100 and 101 ms (HAL_Delay adds one tick; the firmware
    starts it half-way through a tick, so 100.5 ms) -- by the cycle counter at the
    configured clock, and by the host's clock (semihosting SYS_ELAPSED/SYS_TICKFREQ);
  * 8 UART frames take 80 bit times at the baud the kernel clock and BRR give;
  * FLASH_ACR holds the reset value's enables plus what the firmware set;
  * the LED pin reads back through ODR/IDR after BSRR set and toggle;
  * a two-instruction loop in flash costs the same at the maximum clock (wait states
    hidden by the ART / prefetch / instruction cache the firmware runs with) as at the
    reset clock (zero wait states);
  * legal start-up code produces no simulator warnings, and the run exits 0.

The register facts behind every expectation: docs/research/stm32-startup.md; how the
simulator decides the clock of a run: docs/clocks.md.
"""

from __future__ import annotations

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
BAUD = 115200
DELAY_MS = 100
UART_FRAMES = 8
MAX_CYCLES = 400_000_000


# ---- the configured clocks, from the reference manuals' formulas -------------------------

def l4_pll_r(fin, m, n, r):
    """RM0432 6.2.5: f(VCO) = fin * N / M, PLLCLK (R output) = f(VCO) / R."""
    return fin // m * n // r


def g0_pll_r(fin, m, n, r):
    """RM0444 5.2.4: f(VCO) = fin * N / M, PLLRCLK = f(VCO) / R."""
    return fin // m * n // r


def h7_pll1_p(fin, m, n, p, fracn=0):
    """RM0455 7.5.5: f(VCO) = fin / DIVM1 * (DIVN1 + FRACN1 / 2^13), pll1_p_ck = f(VCO) / DIVP1."""
    return (fin // m * n + fin // m * fracn // 8192) // p


def u5_pll1_r(fin, m, n, r, fracn=0):
    """RM0456 11.4.8: f(VCO) = fin / PLL1M * (PLL1N + PLL1FRACN / 2^13), pll1_r_ck = f(VCO) / PLL1R."""
    return (fin // m * n + fin // m * fracn // 8192) // r


MSI_4M = 4_000_000      # L4+ MSI range 6 / U5 MSIS range 4 (reset)
HSI16 = 16_000_000      # L4+/G0/U5 HSI16
HSI64 = 64_000_000      # H7A3 HSI (HSIDIV /1 at reset)

L4_MAX = l4_pll_r(MSI_4M, 1, 60, 2)            # 120 MHz, range 1 boost
G0_MAX = g0_pll_r(HSI16, 1, 8, 2)              # 64 MHz, range 1
H7_MAX = h7_pll1_p(HSI64, 4, 35, 2)            # 280 MHz, VOS0
U5_MAX = u5_pll1_r(MSI_4M, 1, 80, 2)           # 160 MHz, range 1 + EPOD boost
assert (L4_MAX, G0_MAX, H7_MAX, U5_MAX) == (120e6, 64e6, 280e6, 160e6)


def case(target, program, cpu, hclk, pclk1, pclk2, pclk3, kernel, lpuart,
         acr_mask, acr, icache=False):
    return dict(target=target, program=program, cpu=cpu, hclk=hclk, pclk1=pclk1,
                pclk2=pclk2, pclk3=pclk3, kernel=kernel, lpuart=lpuart,
                acr_mask=acr_mask, acr=acr, icache=icache)


# FLASH_ACR expectations (reset values and the bits the firmware sets):
#   L4+ reset 0x600 = ICEN|DCEN; max: LATENCY 5 by read-modify-write + PRFTEN -> 0x705.
#   G0  ICEN (bit 9) set at reset; HAL_Init sets PRFTEN; max: LATENCY 2 -> 0x302.
#   H7A3 reset 0x13 = LATENCY 3, WRHIGHFREQ 1; max: LATENCY 6, WRHIGHFREQ 3 -> 0x36.
#   U5  reset 0; HAL_Init sets PRFTEN; max: LATENCY 4 -> 0x104.
CASES = {
    ("stm32l4r5", "max"): case("cortex-m4f", "startup_l4r5", L4_MAX, L4_MAX, L4_MAX, L4_MAX, 0,
                               HSI16, True, 0x70F, 0x705),
    ("stm32l4r5", "reset"): case("cortex-m4f", "startup_l4r5_reset", MSI_4M, MSI_4M, MSI_4M,
                                 MSI_4M, 0, HSI16, True, 0x70F, 0x600),
    ("stm32g0b1", "max"): case("cortex-m0plus", "startup_g0b1", G0_MAX, G0_MAX, G0_MAX, 0, 0,
                               G0_MAX, False, 0x307, 0x302),
    ("stm32g0b1", "reset"): case("cortex-m0plus", "startup_g0b1_reset", HSI16, HSI16, HSI16, 0,
                                 0, HSI16, False, 0x307, 0x300),
    # H7A3 max: CPU = HCLK = 280 MHz (CDCPRE /1, HPRE /1), APB1/2/3 = 140 MHz (/2);
    # USART3 kernel = rcc_pclk1.
    ("stm32h7a3", "max"): case("cortex-m7f", "startup_h7a3", H7_MAX, H7_MAX, H7_MAX // 2,
                               H7_MAX // 2, H7_MAX // 2, H7_MAX // 2, False, 0x3F, 0x36),
    ("stm32h7a3", "reset"): case("cortex-m7f", "startup_h7a3_reset", HSI64, HSI64, HSI64, HSI64,
                                 HSI64, HSI64, False, 0x3F, 0x13),
    ("stm32u585", "max"): case("cortex-m33", "startup_u585", U5_MAX, U5_MAX, U5_MAX, U5_MAX,
                               U5_MAX, U5_MAX, False, 0x10F, 0x104, icache=True),
    ("stm32u585", "reset"): case("cortex-m33", "startup_u585_reset", MSI_4M, MSI_4M, MSI_4M,
                                 MSI_4M, MSI_4M, MSI_4M, False, 0x10F, 0x100, icache=True),
}
PARTS = ["stm32l4r5", "stm32g0b1", "stm32h7a3", "stm32u585"]


def brr_for(kernel, lpuart):
    """USART (16x oversampling): BRR = kernel / baud; LPUART: 256 * kernel / baud (rounded)."""
    return (kernel * 256 + BAUD // 2) // BAUD if lpuart else (kernel + BAUD // 2) // BAUD


def params(test):
    return [pytest.param(part, variant, id=f"{part}-{variant}") for (part, variant) in CASES]


# ---- running -----------------------------------------------------------------------------

class Run:
    def __init__(self, proc, record):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.record = record
        self.values = {}
        for key, value in re.findall(r"(\w+)=(\S+)", proc.stdout):
            self.values.setdefault(key, value)

    def num(self, key):
        assert key in self.values, f"firmware did not print {key}=\n{self.explain()}"
        return int(self.values[key], 0)

    def explain(self):
        rec = {k: v for k, v in (self.record or {}).items() if k not in ("functions", "layers")}
        return (f"status {self.status}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
                f"\n--- record\n{json.dumps(rec, indent=1)[:2000]}")


_RUNS: dict = {}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("startup")

    def get(part, variant):
        key = (part, variant)
        if key not in _RUNS:
            c = CASES[key]
            elf = PREBUILT / c["target"] / f"{c['program']}.elf"
            assert elf.is_file(), f"{elf} missing: run `make -C firmware_images`"
            out = out_dir / f"{c['program']}.json"
            cmd = [sys.executable, "-m", "mcusim", "run", str(elf), "--mcu", part,
                   "--json", str(out), "--max-cycles", str(MAX_CYCLES)]
            env = dict(os.environ)
            env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
            proc = subprocess.run(cmd, cwd=REPO, env=env, input="", capture_output=True,
                                  text=True, timeout=900)
            record = json.loads(out.read_text()) if out.exists() else None
            _RUNS[key] = Run(proc, record)
        return _RUNS[key]
    return get


def completed(run):
    """The firmware ran to its end and exited 0 through semihosting."""
    assert run.status == 0, run.explain()
    assert run.record is not None and run.record["outcome"] == "exit", run.explain()
    assert run.record["exit_code"] == 0 and run.record["fault"] is None, run.explain()
    assert "\ndone\n" in run.stdout, run.explain()


# ---- tests -------------------------------------------------------------------------------

@pytest.mark.parametrize("part,variant", params("completes"))
def test_completes(runs, part, variant):
    run = runs(part, variant)
    completed(run)
    assert "error:" not in run.stderr, run.explain()
    assert run.values["part"] == part
    assert run.values["variant"] == ("max-clock" if variant == "max" else "reset-clock")


@pytest.mark.parametrize("part,variant", params("printed_clock"))
def test_printed_clock(runs, part, variant):
    """The clock the firmware computes from the RCC registers (as HAL_RCC_GetSysClockFreq /
    GetHCLKFreq do), the prescalers, the UART kernel clock and BRR, SysTick LOAD."""
    run, c = runs(part, variant), CASES[(part, variant)]
    completed(run)
    assert run.num("cpu_hz") == c["cpu"], run.explain()
    assert run.num("system_core_clock") == c["cpu"], run.explain()
    assert run.num("hclk_hz") == c["hclk"], run.explain()
    assert run.num("pclk1_hz") == c["pclk1"], run.explain()
    assert run.num("pclk2_hz") == c["pclk2"], run.explain()
    assert run.num("pclk3_hz") == c["pclk3"], run.explain()
    assert run.num("uart_kernel_hz") == c["kernel"], run.explain()
    assert run.num("uart_brr") == brr_for(c["kernel"], c["lpuart"]), run.explain()
    assert run.num("systick_load") == c["cpu"] // 1000 - 1, run.explain()


@pytest.mark.parametrize("part,variant", params("clock_in_force"))
def test_clock_in_force(runs, part, variant):
    """The simulator's core clock at the end of the run is the configured one."""
    run, c = runs(part, variant), CASES[(part, variant)]
    completed(run)
    assert run.record["clock_hz"] == c["cpu"], run.explain()


@pytest.mark.parametrize("part,variant", params("delay_cycles"))
def test_delay_cycles(runs, part, variant):
    """HAL_Delay(100) by the cycle counter at the configured clock: at least 100 ms, at most
    101 ms (one tick more), within 1% of 100 ms."""
    run, c = runs(part, variant), CASES[(part, variant)]
    completed(run)
    ms = run.num("cycles") / c["cpu"] * 1000
    assert DELAY_MS <= ms <= DELAY_MS + 1, (ms, run.explain())
    assert abs(ms - DELAY_MS) <= DELAY_MS * 0.01, (ms, run.explain())


@pytest.mark.parametrize("part,variant", params("delay_host_time"))
def test_delay_host_time(runs, part, variant):
    """The same HAL_Delay(100) by the host's clock (semihosting SYS_ELAPSED over
    SYS_TICKFREQ): the simulated time, so a wrong clock in force shows here even when
    SysTick and the cycle counter agree with each other."""
    run = runs(part, variant)
    completed(run)
    ms = run.num("host_elapsed_ticks") / run.num("host_tickfreq") * 1000
    assert DELAY_MS <= ms <= DELAY_MS + 1, (ms, run.explain())


@pytest.mark.parametrize("part,variant", params("uart_line_time"))
def test_uart_line_time(runs, part, variant):
    """8 frames (8N1, 10 bits) from an idle line until TC: 80 bit times; a bit lasts
    BRR / kernel clock (USART, 16x oversampling) or BRR / (256 * kernel clock) (LPUART)."""
    run, c = runs(part, variant), CASES[(part, variant)]
    completed(run)
    brr = brr_for(c["kernel"], c["lpuart"])
    bit_s = brr / (256 * c["kernel"]) if c["lpuart"] else brr / c["kernel"]
    expected = UART_FRAMES * 10 * bit_s * c["cpu"]
    got = run.num("uart_tx_cycles")
    assert abs(got - expected) <= 0.02 * expected + 150, (got, expected, run.explain())


@pytest.mark.parametrize("part,variant", params("flash_acr"))
def test_flash_acr(runs, part, variant):
    run, c = runs(part, variant), CASES[(part, variant)]
    completed(run)
    assert run.num("flash_acr") & c["acr_mask"] == c["acr"], run.explain()


@pytest.mark.parametrize("part,variant", params("gpio"))
def test_gpio(runs, part, variant):
    """BSRR set -> ODR bit 1 and the output pin reads 1 in IDR; toggle (ODR read, BSRR
    write) -> 0 and 0."""
    run = runs(part, variant)
    completed(run)
    assert (run.num("led_odr_set"), run.num("led_idr_set")) == (1, 1), run.explain()
    assert (run.num("led_odr_toggled"), run.num("led_idr_toggled")) == (0, 0), run.explain()


@pytest.mark.parametrize("part,variant",
                         [p for p in params("icache") if CASES[tuple(p.values)]["icache"]])
def test_icache(runs, part, variant):
    """U5 ICACHE after MX_ICACHE_Init: EN = 1, WAYSEL = 1 (2-way), no invalidation busy."""
    run = runs(part, variant)
    completed(run)
    cr, sr = run.num("icache_cr"), run.num("icache_sr")
    assert cr & 0b101 == 0b101 and sr & 1 == 0, run.explain()


@pytest.mark.parametrize("part", PARTS)
def test_loop_hides_wait_states(runs, part):
    """A subs/bne loop in one flash line costs the same at the maximum clock (wait states
    behind the ART / prefetch / instruction cache the firmware has on) as at the reset
    clock (no wait states): within 10%."""
    fast, slow = runs(part, "max"), runs(part, "reset")
    completed(fast)
    completed(slow)
    a, b = fast.num("loop_cycles"), slow.num("loop_cycles")
    n = fast.num("loop_iterations")
    assert a >= n and b >= n
    assert abs(a - b) <= 0.10 * b, (a, b)


@pytest.mark.parametrize("part,variant", params("no_warnings"))
def test_no_warnings(runs, part, variant):
    """Start-up code that is legal on silicon makes the simulator print no warning."""
    run = runs(part, variant)
    completed(run)
    warnings = [line for line in run.stderr.splitlines() if "warning" in line.lower()]
    assert not warnings, "\n".join(warnings)
