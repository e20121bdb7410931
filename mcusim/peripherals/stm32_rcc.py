"""STM32 reset and clock control (RCC): the clock tree of each family, from reset.

One class per family (register layout and clock tree differ), one behaviour:

* Registers start at their reset values (the reset clock: MSI 4 MHz on L4+, HSISYS =
  HSI16 on G0, HSI 64 MHz on H7A3, MSIS 4 MHz on U5) and keep what firmware writes.
* Oscillator and PLL ready flags follow their enable bits (ready at once: start-up and lock
  times are not modelled); a PLL is ready only with a valid configuration (a source and
  in-range dividers). An oscillator feeding SYSCLK or a running PLL cannot be stopped,
  nor the PLL feeding SYSCLK. A PLL's configuration is latched when it locks: writes while
  it runs do not change its output (only its output enables do).
* The clock switch: SWS follows SW once the selected source is ready (a request for a
  source that is not ready waits for it).
* The core clock is computed from SWS, the latched PLL configuration and the AHB (H7: CPU)
  prescaler after every write; when it changes the machine's clock is set to it.
* Bus and kernel clocks (APB prescalers, the U(S)ART kernel clock selections) are answered
  on demand (`kernel_hz`), relative to the core clock in force.

Sources: RM0432 (STM32L4+) RCC chapter, RM0444 (STM32G0x1) RCC, RM0455 (STM32H7A3/B3) RCC,
RM0456 (STM32U5) RCC; register offsets and bit positions as in ST's CMSIS device headers
(stm32l4r5xx.h, stm32g0b1xx.h, stm32h7a3xxq.h, stm32u585xx.h). Reset values and the
clock-tree formulas: docs/research/stm32-startup.md sections 2-5.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcusim.peripherals import register
from mcusim.peripherals.regfile import RegisterFile, RegisterFileParams
from mcusim.schema import FLOAT, param

AHB_SHIFT = (0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 9)   # HPRE/CDCPRE: 0xxx /1, 1000 /2 ...
APB_SHIFT = (0, 0, 0, 0, 1, 2, 3, 4)                           # PPRE: 0xx /1, 100 /2 ... 111 /16


def _f(v: int, shift: int, width: int) -> int:
    return (v >> shift) & ((1 << width) - 1)


@dataclass(frozen=True, kw_only=True)
class RccParams(RegisterFileParams):
    """RCC: the clock tree from reset (oscillators, PLLs, switch, prescalers)."""
    hse_hz: float = param(FLOAT, 8e6, "HSE crystal frequency (SYSCLK/PLL source)", gt=0,
                          max=1e9)
    lse_hz: float = param(FLOAT, 32768.0, "LSE crystal frequency", gt=0, max=1e6)
    lsi_hz: float = param(FLOAT, 32000.0, "LSI RC frequency", gt=0, max=1e6)


class Osc:
    """An oscillator or PLL: enable and ready bits in register `reg`."""
    __slots__ = ("name", "reg", "on", "rdy")

    def __init__(self, name: str, reg: int, on: int, rdy: int):
        self.name, self.reg, self.on, self.rdy = name, reg, 1 << on, 1 << rdy


class Stm32Rcc(RegisterFile):
    """The family-independent part; `Stm32Rcc(machine, spec)` builds the family's class
    named by `spec.model`."""

    Params = RccParams
    OSCS: tuple = ()              # Osc(...) of the family
    PLL_CONFIG: dict = {}         # PLL name -> offsets latched when it locks
    CLOCK_REGS: frozenset = frozenset()   # accesses that mean "firmware manages its clock"
    SW = (0, 0, 2)                # CFGR offset, SW shift, width (SWS = SW field << SWS_SHIFT)
    SWS_SHIFT = 2
    SYSCLK_SOURCES: tuple = ()    # SW value -> oscillator/PLL name
    UARTS: dict = {}              # peripheral name -> (register, shift, width, choices)
    UNMODELLED = frozenset({"CIFR"})

    def __new__(cls, machine=None, spec=None):
        if cls is Stm32Rcc and spec is not None:
            cls = _FAMILIES[spec.model]
        return super().__new__(cls)

    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        self.latched: dict[str, dict[int, int]] = {}
        for o in self.OSCS:                       # ready at reset = on at reset
            if self.regs.get(o.reg, 0) & o.on and self._valid(o.name):
                self._latch(o.name)
        self._settle(push=False)
        self.last_hz = self.core_hz()

    # ------------------------------------------------------------------ registers
    def read_word(self, off: int) -> int:
        if off in self.CLOCK_REGS and self.m is not None:
            self.m.clock_control_access()
        self._check_read(off)
        return self.regs.get(off, 0)

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        if off in self.CLOCK_REGS and self.m is not None:
            self.m.clock_control_access()
        old = self.regs.get(off, 0)
        new = (old & ~mask) | (value & mask)
        # read-only: ready flags, SWS
        for o in self.OSCS:
            if o.reg == off:
                new = (new & ~o.rdy) | (old & o.rdy)
        cfgr, sh, w = self.SW
        if off == cfgr:
            sws = ((1 << w) - 1) << self.SWS_SHIFT
            new = (new & ~sws) | (old & sws)
        self.regs[off] = self._write(off, old, new)
        self._settle()

    def _write(self, off: int, old: int, new: int) -> int:
        """Family rules for a write (read-only bits, fields locked while in use)."""
        return new

    # ------------------------------------------------------------------ state
    def _osc(self, name: str) -> Osc:
        for o in self.OSCS:
            if o.name == name:
                return o
        raise KeyError(name)

    def is_on(self, name: str) -> bool:
        o = self._osc(name)
        return bool(self.regs.get(o.reg, 0) & o.on)

    def is_ready(self, name: str) -> bool:
        o = self._osc(name)
        return bool(self.regs.get(o.reg, 0) & o.rdy)

    def sws(self) -> int:
        cfgr, sh, w = self.SW
        return _f(self.regs.get(cfgr, 0), self.SWS_SHIFT, w)

    def sysclk_source(self) -> str | None:
        s = self.sws()
        return self.SYSCLK_SOURCES[s] if s < len(self.SYSCLK_SOURCES) else None

    def _latch(self, pll: str) -> None:
        offs = self.PLL_CONFIG.get(pll)
        if offs is not None:
            self.latched[pll] = {o: self.regs.get(o, 0) for o in offs}

    def pll_reg(self, pll: str, off: int) -> int:
        """A PLL configuration register as the PLL uses it: latched while it runs."""
        lat = self.latched.get(pll)
        if lat is not None and self.is_ready(pll):
            return lat.get(off, self.regs.get(off, 0))
        return self.regs.get(off, 0)

    def _in_use(self, name: str) -> bool:
        """The oscillator (or PLL) feeds SYSCLK, or the input of a running PLL."""
        if self.sysclk_source() == name:
            return True
        for pll in self.PLL_CONFIG:
            if pll != name and self.is_ready(pll) and self.pll_source(pll) == name:
                return True
        return False

    def _settle(self, push: bool = True) -> None:
        """Ready flags, latches and the clock switch after a write; then the clock."""
        for _ in range(4):
            changed = False
            for o in self.OSCS:
                v = self.regs.get(o.reg, 0)
                if not v & o.on and self._in_use(o.name):
                    v |= o.on                       # cannot be stopped while in use
                rdy = bool(v & o.on) and self._valid(o.name)
                if rdy and not v & o.rdy:
                    self.regs[o.reg] = v | o.rdy
                    self._latch(o.name)
                    changed = True
                elif not rdy and v & o.rdy:
                    self.regs[o.reg] = v & ~o.rdy
                    self.latched.pop(o.name, None)
                    changed = True
                else:
                    self.regs[o.reg] = v
            cfgr, sh, w = self.SW
            c = self.regs.get(cfgr, 0)
            sw = _f(c, sh, w)
            if sw != self.sws() and sw < len(self.SYSCLK_SOURCES):
                src = self.SYSCLK_SOURCES[sw]
                if src is not None and self._source_ready(src):
                    mask = ((1 << w) - 1) << self.SWS_SHIFT
                    self.regs[cfgr] = (c & ~mask) | (sw << self.SWS_SHIFT)
                    changed = True
            if not changed:
                break
        if push:
            self._push_clock()

    def _source_ready(self, src: str) -> bool:
        return self.is_ready(src)

    def _push_clock(self) -> None:
        hz = self.core_hz()
        if hz != self.last_hz:
            self.last_hz = hz
            if hz > 0 and self.m is not None:
                self.m.set_clock(hz, source="RCC")

    def reset_state_clock(self) -> float:
        """The core clock the registers give now (the machine adopts it at reset)."""
        self.last_hz = self.core_hz()
        return self.last_hz

    # ------------------------------------------------------------------ the clock tree
    def _valid(self, name: str) -> bool:
        """A PLL may lock (valid source and dividers); oscillators always start."""
        return True

    def pll_source(self, pll: str) -> str | None:
        return None

    def osc_hz(self, name: str) -> float:
        raise NotImplementedError

    def sysclk_hz(self) -> float:
        src = self.sysclk_source()
        return self.osc_hz(src) if src else 0.0

    def core_hz(self) -> float:
        """The processor clock (HCLK; on H7 the CPU clock sys_d1cpre_ck)."""
        return self.sysclk_hz()

    # bus clocks relative to the core clock in force (which --clock-mhz may set)
    def _core_in_force(self) -> float:
        m = self.m
        return float(m.clock_hz) if m is not None else self.core_hz()

    def bus_hz(self, bus: str) -> float:
        """'sysclk', 'hclk', 'pclk1'... at the core clock in force."""
        raise NotImplementedError

    def kernel_hz(self, peripheral: str) -> float | None:
        """The kernel clock of a U(S)ART (by catalog name), None when not known here."""
        sel = self.UARTS.get(peripheral)
        if sel is None:
            return None
        reg, shift, width, choices = sel
        k = _f(self.regs.get(reg, 0), shift, width)
        if k >= len(choices) or choices[k] is None:
            return 0.0
        what = choices[k]
        if what in ("sysclk", "hclk") or what.startswith("pclk"):
            return self.bus_hz(what)
        return self.osc_kernel_hz(what)

    def osc_kernel_hz(self, what: str) -> float:
        """An oscillator as a kernel clock: its frequency when it runs, else 0."""
        return self.osc_hz(what) if self.is_ready(what) else 0.0


# =========================================================================== STM32L4+
L4_MSI_HZ = (100e3, 200e3, 400e3, 800e3, 1e6, 2e6, 4e6, 8e6, 16e6, 24e6, 32e6, 48e6)
L4_CR, L4_ICSCR, L4_CFGR, L4_PLLCFGR, L4_PLLSAI1, L4_PLLSAI2 = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14
L4_CCIPR, L4_BDCR, L4_CSR, L4_CRRCR = 0x88, 0x90, 0x94, 0x98
_L4_UART = ("pclk", "sysclk", "hsi16", "lse")


@register("stm32l4-rcc")
class Stm32L4Rcc(Stm32Rcc):
    """RM0432 RCC: MSI/HSI16/HSE/PLL(R) SYSCLK, HPRE [7:4], PPRE1 [10:8], PPRE2 [13:11];
    PLLCFGR PLLSRC [1:0], PLLM [7:4] (+1), PLLN [14:8] (8..127), PLLR [26:25] (/2,4,6,8)."""

    RESET = {L4_CR: 0x0000_0063,        # MSION, MSIRDY, MSIRANGE 6 (4 MHz)
             L4_ICSCR: 0x4000_0000,     # HSITRIM 0x40 (7-bit field on L4+), MSITRIM 0
             L4_CFGR: 0, L4_PLLCFGR: 0x0000_1000, L4_PLLSAI1: 0x0000_1000,
             L4_PLLSAI2: 0x0000_1000,
             0x48: 0x0000_0100,         # AHB1ENR: FLASHEN
             L4_CSR: 0x0C00_0600}       # MSISRANGE 6 (4 MHz), PINRSTF, BORRSTF
    OSCS = (Osc("msi", L4_CR, 0, 1), Osc("hsi16", L4_CR, 8, 10), Osc("hse", L4_CR, 16, 17),
            Osc("pll", L4_CR, 24, 25), Osc("pllsai1", L4_CR, 26, 27),
            Osc("pllsai2", L4_CR, 28, 29), Osc("lse", L4_BDCR, 0, 1), Osc("lsi", L4_CSR, 0, 1),
            Osc("hsi48", L4_CRRCR, 0, 1))
    PLL_CONFIG = {"pll": (L4_PLLCFGR,), "pllsai1": (L4_PLLSAI1,), "pllsai2": (L4_PLLSAI2,)}
    CLOCK_REGS = frozenset({L4_CR, L4_ICSCR, L4_CFGR, L4_PLLCFGR, L4_CSR})
    SW, SWS_SHIFT = (L4_CFGR, 0, 2), 2
    SYSCLK_SOURCES = ("msi", "hsi16", "hse", "pll")
    UARTS = {"usart1": (L4_CCIPR, 0, 2, ("pclk2",) + _L4_UART[1:]),
             "usart2": (L4_CCIPR, 2, 2, ("pclk1",) + _L4_UART[1:]),
             "usart3": (L4_CCIPR, 4, 2, ("pclk1",) + _L4_UART[1:]),
             "uart4": (L4_CCIPR, 6, 2, ("pclk1",) + _L4_UART[1:]),
             "uart5": (L4_CCIPR, 8, 2, ("pclk1",) + _L4_UART[1:]),
             "lpuart1": (L4_CCIPR, 10, 2, ("pclk1",) + _L4_UART[1:])}

    def _write(self, off, old, new):
        if off == L4_CR and _f(old ^ new, 4, 4) and old & 1 and not old & 2:
            new = (new & ~0xF0) | (old & 0xF0)     # MSIRANGE: only with MSI off or ready
        return new

    def msi_hz(self) -> float:
        cr = self.regs.get(L4_CR, 0)
        rng = _f(cr, 4, 4) if cr & (1 << 3) else _f(self.regs.get(L4_CSR, 0), 8, 4)
        return L4_MSI_HZ[rng] if rng < len(L4_MSI_HZ) else 0.0

    def osc_hz(self, name):
        if name == "msi":
            return self.msi_hz()
        if name == "hsi16":
            return 16e6
        if name == "hse":
            return self.params.hse_hz
        if name == "lse":
            return self.params.lse_hz
        if name == "lsi":
            return self.params.lsi_hz
        if name == "hsi48":
            return 48e6
        if name == "pll":
            return self.pll_r_hz()
        return 0.0

    def pll_source(self, pll):
        src = _f(self.pll_reg(pll, self.PLL_CONFIG[pll][0]), 0, 2)
        if pll != "pll":                           # SAI PLLs share the main PLL's PLLSRC
            src = _f(self.pll_reg("pll", L4_PLLCFGR), 0, 2)
        return (None, "msi", "hsi16", "hse")[src]

    def _valid(self, name):
        if name not in self.PLL_CONFIG:
            return True
        p = self.regs.get(self.PLL_CONFIG[name][0], 0)
        n = _f(p, 8, 7)
        return self.pll_source(name) is not None and 8 <= n <= 127

    def pll_vco_hz(self) -> float:
        p = self.pll_reg("pll", L4_PLLCFGR)
        src = self.pll_source("pll")
        if src is None:
            return 0.0
        return self.osc_hz(src) / (_f(p, 4, 4) + 1) * _f(p, 8, 7)

    def pll_r_hz(self) -> float:
        p = self.pll_reg("pll", L4_PLLCFGR)
        if not self.is_ready("pll") or not self.regs.get(L4_PLLCFGR, 0) & (1 << 24):  # PLLREN
            return 0.0
        return self.pll_vco_hz() / (2 * (_f(p, 25, 2) + 1))

    def _source_ready(self, src):
        if src == "pll":
            return self.is_ready("pll") and bool(self.regs.get(L4_PLLCFGR, 0) & (1 << 24))
        return self.is_ready(src)

    def _hpre(self) -> int:
        return AHB_SHIFT[_f(self.regs.get(L4_CFGR, 0), 4, 4)]

    def core_hz(self):
        return self.sysclk_hz() / (1 << self._hpre())

    def bus_hz(self, bus):
        core = self._core_in_force()
        if bus == "sysclk":
            return core * (1 << self._hpre())
        if bus == "hclk":
            return core
        c = self.regs.get(L4_CFGR, 0)
        if bus == "pclk1":
            return core / (1 << APB_SHIFT[_f(c, 8, 3)])
        if bus == "pclk2":
            return core / (1 << APB_SHIFT[_f(c, 11, 3)])
        return 0.0


# =========================================================================== STM32G0
G0_CR, G0_ICSCR, G0_CFGR, G0_PLLCFGR, G0_CRRCR = 0x00, 0x04, 0x08, 0x0C, 0x14
G0_CCIPR, G0_BDCR, G0_CSR = 0x54, 0x5C, 0x60


@register("stm32g0-rcc")
class Stm32G0Rcc(Stm32Rcc):
    """RM0444 RCC: SYSCLK = HSISYS (HSI16 >> HSIDIV) / HSE / PLLRCLK / LSI / LSE (SW [2:0],
    SWS [5:3]); HPRE [11:8], PPRE [14:12]; PLLCFGR PLLSRC [1:0], PLLM [6:4] (+1), PLLN
    [14:8] (8..86), PLLR [31:29] (+1, field 0 reserved), PLLREN 28."""

    RESET = {G0_CR: 0x0000_0500,        # HSION, HSIRDY, HSIDIV /1
             G0_ICSCR: 0x0000_4000,     # HSITRIM 64
             G0_CFGR: 0, G0_PLLCFGR: 0x0000_1000,
             0x38: 0x0000_0100}         # AHBENR: FLASHEN
    OSCS = (Osc("hsi16", G0_CR, 8, 10), Osc("hse", G0_CR, 16, 17),
            Osc("hsi48", G0_CR, 22, 23), Osc("pll", G0_CR, 24, 25),
            Osc("lse", G0_BDCR, 0, 1), Osc("lsi", G0_CSR, 0, 1))
    PLL_CONFIG = {"pll": (G0_PLLCFGR,)}
    CLOCK_REGS = frozenset({G0_CR, G0_ICSCR, G0_CFGR, G0_PLLCFGR})
    SW, SWS_SHIFT = (G0_CFGR, 0, 3), 3
    SYSCLK_SOURCES = ("hsisys", "hse", "pll", "lsi", "lse")
    UARTS = {n: (G0_CCIPR, sh, 2, ("pclk", "sysclk", "hsi16", "lse"))
             for n, sh in (("usart1", 0), ("usart2", 2), ("usart3", 4), ("lpuart2", 8),
                           ("lpuart1", 10))}

    def _in_use(self, name):
        if name == "hsi16" and self.sysclk_source() == "hsisys":
            return True
        return super()._in_use(name)

    def _source_ready(self, src):
        if src == "hsisys":
            return self.is_ready("hsi16")
        if src == "pll":
            return self.is_ready("pll") and bool(self.regs.get(G0_PLLCFGR, 0) & (1 << 28))
        return self.is_ready(src)

    def osc_hz(self, name):
        if name == "hsisys":
            return 16e6 / (1 << _f(self.regs.get(G0_CR, 0), 11, 3))
        if name == "hsi16":
            return 16e6
        if name == "hse":
            return self.params.hse_hz
        if name == "hsi48":
            return 48e6
        if name == "lse":
            return self.params.lse_hz
        if name == "lsi":
            return self.params.lsi_hz
        if name == "pll":
            p = self.pll_reg("pll", G0_PLLCFGR)
            src = self.pll_source("pll")
            r = _f(p, 29, 3)
            live = self.regs.get(G0_PLLCFGR, 0)               # output enable PLLREN: live
            if src is None or not self.is_ready("pll") or not live & (1 << 28) or r == 0:
                return 0.0
            return self.osc_hz(src) / (_f(p, 4, 3) + 1) * _f(p, 8, 7) / (r + 1)
        return 0.0

    def pll_source(self, pll):
        return {2: "hsi16", 3: "hse"}.get(_f(self.pll_reg(pll, G0_PLLCFGR), 0, 2))

    def _valid(self, name):
        if name != "pll":
            return True
        p = self.regs.get(G0_PLLCFGR, 0)
        return self.pll_source("pll") is not None and 8 <= _f(p, 8, 7) <= 86

    def _hpre(self) -> int:
        return AHB_SHIFT[_f(self.regs.get(G0_CFGR, 0), 8, 4)]

    def core_hz(self):
        return self.sysclk_hz() / (1 << self._hpre())

    def bus_hz(self, bus):
        core = self._core_in_force()
        if bus == "sysclk":
            return core * (1 << self._hpre())
        if bus == "hclk":
            return core
        if bus in ("pclk", "pclk1"):
            return core / (1 << APB_SHIFT[_f(self.regs.get(G0_CFGR, 0), 12, 3)])
        return 0.0


# =========================================================================== STM32H7A3
H7_CR, H7_CFGR, H7_CDCFGR1, H7_CDCFGR2, H7_SRDCFGR = 0x000, 0x010, 0x018, 0x01C, 0x020
H7_PLLCKSELR, H7_PLLCFGR = 0x028, 0x02C
H7_PLLDIVR = {"pll1": 0x030, "pll2": 0x038, "pll3": 0x040}
H7_PLLFRACR = {"pll1": 0x034, "pll2": 0x03C, "pll3": 0x044}
H7_CDCCIP2R, H7_SRDCCIPR, H7_BDCR, H7_CSR = 0x054, 0x058, 0x070, 0x074
_H7_UART = ("pll2_q", "pll3_q", "hsi_ker", "csi_ker", "lse")


@register("stm32h7-rcc")
class Stm32H7Rcc(Stm32Rcc):
    """RM0455 RCC: sys_ck = HSI (64 MHz >> HSIDIV) / CSI / HSE / pll1_p_ck (SW [2:0], SWS
    [5:3]); CPU clock = sys_ck >> CDCPRE (CDCFGR1 [11:8]); AHB/AXI = CPU >> HPRE (CDCFGR1
    [3:0]); APB3 CDPPRE [6:4], APB1/2 CDCFGR2 [6:4]/[10:8], APB4 SRDCFGR [6:4]. PLLx:
    ref = source / DIVMx (PLLCKSELR), vco = ref * (DIVNx + 1 + FRACNx / 8192),
    out = vco / (DIVy + 1)."""

    RESET = {H7_CR: 0x0000_0025,              # HSION, HSIRDY, HSIDIVF
             0x004: 0x4000_0000,              # HSICFGR: HSITRIM 0x40
             0x00C: 0x2000_0000,              # CSICFGR: CSITRIM 0x20
             H7_CFGR: 0, H7_CDCFGR1: 0, H7_CDCFGR2: 0, H7_SRDCFGR: 0,
             H7_PLLCKSELR: 0x0202_0200,       # PLLSRC HSI, DIVM1..3 = 32
             H7_PLLCFGR: 0x01FF_0000,         # DIVxyEN = 1
             0x030: 0x0101_0280, 0x038: 0x0101_0280, 0x040: 0x0101_0280,
             0x0F4: 0x0001_0000}              # APB4ENR: RTCAPBEN
    OSCS = (Osc("hsi", H7_CR, 0, 2), Osc("csi", H7_CR, 7, 8), Osc("hsi48", H7_CR, 12, 13),
            Osc("hse", H7_CR, 16, 17), Osc("pll1", H7_CR, 24, 25), Osc("pll2", H7_CR, 26, 27),
            Osc("pll3", H7_CR, 28, 29), Osc("lse", H7_BDCR, 0, 1), Osc("lsi", H7_CSR, 0, 1))
    PLL_CONFIG = {p: (H7_PLLCKSELR, H7_PLLCFGR, H7_PLLDIVR[p], H7_PLLFRACR[p])
                  for p in ("pll1", "pll2", "pll3")}
    CLOCK_REGS = frozenset({H7_CR, 0x004, 0x00C, H7_CFGR, H7_CDCFGR1, H7_CDCFGR2, H7_SRDCFGR,
                            H7_PLLCKSELR, H7_PLLCFGR, 0x030, 0x034})
    SW, SWS_SHIFT = (H7_CFGR, 0, 3), 3
    SYSCLK_SOURCES = ("hsi", "csi", "hse", "pll1")
    UARTS = {"usart1": (H7_CDCCIP2R, 3, 3, ("pclk2",) + _H7_UART),
             "usart2": (H7_CDCCIP2R, 0, 3, ("pclk1",) + _H7_UART),
             "usart3": (H7_CDCCIP2R, 0, 3, ("pclk1",) + _H7_UART),
             "lpuart1": (H7_SRDCCIPR, 0, 3, ("pclk4",) + _H7_UART)}

    def _write(self, off, old, new):
        if off == H7_CR:
            # HSIDIVF (5), CPUCKRDY (14), CDCKRDY (15) are read-only (set in _settle: the
            # divider output matches at once; the domain clocks run)
            ro = (1 << 5) | (1 << 14) | (1 << 15)
            new = (new & ~ro) | (old & ro)
        return new

    def _settle(self, push=True):
        cr = self.regs.get(H7_CR, 0)
        self.regs[H7_CR] = cr | (1 << 5) | (1 << 14) | (1 << 15)   # HSIDIVF, CPU/CD clocks ready
        super()._settle(push)

    def hsi_ck(self) -> float:
        return 64e6 / (1 << _f(self.regs.get(H7_CR, 0), 3, 2))

    def pll_source(self, pll):
        return ("hsi", "csi", "hse", None)[_f(self.pll_reg(pll, H7_PLLCKSELR), 0, 2)]

    def _divm(self, pll: str) -> int:
        shift = {"pll1": 4, "pll2": 12, "pll3": 20}[pll]
        return _f(self.pll_reg(pll, H7_PLLCKSELR), shift, 6)

    def _valid(self, name):
        if name not in self.PLL_CONFIG:
            return True
        return self.pll_source(name) is not None and self._divm(name) != 0

    def pll_out_hz(self, pll: str, out: str) -> float:
        if not self.is_ready(pll):
            return 0.0
        idx = int(pll[-1]) - 1
        cfg = self.pll_reg(pll, H7_PLLCFGR)
        en = 1 << (16 + 3 * idx + "pqr".index(out))          # DIVyxEN: live
        if not self.regs.get(H7_PLLCFGR, 0) & en:
            return 0.0
        src = self.pll_source(pll)
        m = self._divm(pll)
        if src is None or not m:
            return 0.0
        ref = self.osc_hz(src) / m
        d = self.pll_reg(pll, H7_PLLDIVR[pll])
        n = _f(d, 0, 9) + 1
        frac = _f(self.pll_reg(pll, H7_PLLFRACR[pll]), 3, 13) if cfg & (1 << (4 * idx)) else 0
        vco = ref * (n + frac / 8192.0)
        div = _f(d, {"p": 9, "q": 16, "r": 24}[out], 7) + 1
        return vco / div

    def osc_hz(self, name):
        if name in ("hsi", "hsi_ker"):
            return self.hsi_ck()
        if name in ("csi", "csi_ker"):
            return 4e6
        if name == "hsi48":
            return 48e6
        if name == "hse":
            return self.params.hse_hz
        if name == "lse":
            return self.params.lse_hz
        if name == "lsi":
            return self.params.lsi_hz
        if name == "pll1":
            return self.pll_out_hz("pll1", "p")
        return 0.0

    def _source_ready(self, src):
        if src == "pll1":
            return self.pll_out_hz("pll1", "p") > 0
        return self.is_ready(src)

    def osc_kernel_hz(self, what):
        if what in ("pll2_q", "pll3_q"):
            return self.pll_out_hz(what[:4], "q")
        base = {"hsi_ker": "hsi", "csi_ker": "csi"}.get(what, what)
        return self.osc_hz(what) if self.is_ready(base) else 0.0

    def _cdcpre(self) -> int:
        return AHB_SHIFT[_f(self.regs.get(H7_CDCFGR1, 0), 8, 4)]

    def _hpre(self) -> int:
        return AHB_SHIFT[_f(self.regs.get(H7_CDCFGR1, 0), 0, 4)]

    def core_hz(self):
        return self.sysclk_hz() / (1 << self._cdcpre())

    def bus_hz(self, bus):
        cpu = self._core_in_force()
        if bus == "sysclk":
            return cpu * (1 << self._cdcpre())
        hclk = cpu / (1 << self._hpre())
        if bus == "hclk":
            return hclk
        reg, sh = {"pclk1": (H7_CDCFGR2, 4), "pclk2": (H7_CDCFGR2, 8), "pclk3": (H7_CDCFGR1, 4),
                   "pclk4": (H7_SRDCFGR, 4)}.get(bus, (None, 0))
        if reg is None:
            return 0.0
        return hclk / (1 << APB_SHIFT[_f(self.regs.get(reg, 0), sh, 3)])


# =========================================================================== STM32U5
U5_MSIS_HZ = (48e6, 24e6, 16e6, 12e6, 4e6, 2e6, 1.33e6, 1e6, 3.072e6, 1.536e6, 1.024e6,
              0.768e6, 0.4e6, 0.2e6, 0.133e6, 0.1e6)
U5_CR, U5_ICSCR1, U5_CFGR1, U5_CFGR2, U5_CFGR3 = 0x00, 0x08, 0x1C, 0x20, 0x24
U5_PLL1CFGR, U5_PLL1DIVR, U5_PLL1FRACR = 0x28, 0x34, 0x38
U5_CCIPR1, U5_CCIPR3, U5_BDCR, U5_CSR = 0xE0, 0xE8, 0xF0, 0xF4
_U5_UART = ("sysclk", "hsi16", "lse")


@register("stm32u5-rcc")
class Stm32U5Rcc(Stm32Rcc):
    """RM0456 RCC: SYSCLK = MSIS / HSI16 / HSE / pll1_r_ck (CFGR1 SW [1:0], SWS [3:2]);
    HPRE CFGR2 [3:0], PPRE1 [6:4], PPRE2 [10:8], PPRE3 CFGR3 [6:4]; PLL1CFGR PLL1SRC [1:0],
    PLL1M [11:8] (+1), PLL1MBOOST [15:12]; PLL1DIVR N [8:0] (+1), R [30:24] (+1)."""

    RESET = {U5_CR: 0x0000_0035,          # MSISON, MSISRDY, MSIKON, MSIKRDY
             U5_ICSCR1: 0x4400_0000,      # MSISRANGE 4, MSIKRANGE 4 (4 MHz), MSIRGSEL 0
             0x10: 0x0010_0000,           # ICSCR3: HSITRIM 16
             U5_CFGR1: 0, U5_CFGR2: 0, U5_CFGR3: 0, U5_PLL1CFGR: 0,
             U5_PLL1DIVR: 0x0101_0280, 0x3C: 0x0101_0280, 0x44: 0x0101_0280,
             0x88: 0xD000_0100,           # AHB1ENR: SRAM1EN, DCACHE1EN, BKPSRAMEN, FLASHEN
             0x8C: 0xC000_0000,           # AHB2ENR1: SRAM2EN, SRAM3EN
             0x94: 0x8000_0000,           # AHB3ENR: SRAM4EN
             U5_CSR: 0x0C00_4400}         # MSISSRANGE 4, MSIKSRANGE 4
    OSCS = (Osc("msis", U5_CR, 0, 2), Osc("msik", U5_CR, 4, 5), Osc("hsi16", U5_CR, 8, 10),
            Osc("hsi48", U5_CR, 12, 13), Osc("hse", U5_CR, 16, 17), Osc("pll1", U5_CR, 24, 25),
            Osc("pll2", U5_CR, 26, 27), Osc("pll3", U5_CR, 28, 29), Osc("lse", U5_BDCR, 0, 1),
            Osc("lsi", U5_BDCR, 26, 27))
    PLL_CONFIG = {"pll1": (U5_PLL1CFGR, U5_PLL1DIVR, U5_PLL1FRACR),
                  "pll2": (0x2C, 0x3C, 0x40), "pll3": (0x30, 0x44, 0x48)}
    CLOCK_REGS = frozenset({U5_CR, U5_ICSCR1, U5_CFGR1, U5_CFGR2, U5_CFGR3, U5_PLL1CFGR,
                            U5_PLL1DIVR, U5_PLL1FRACR, U5_CSR})
    SW, SWS_SHIFT = (U5_CFGR1, 0, 2), 2
    SYSCLK_SOURCES = ("msis", "hsi16", "hse", "pll1")
    UARTS = {"usart1": (U5_CCIPR1, 0, 2, ("pclk2",) + _U5_UART),
             "usart2": (U5_CCIPR1, 2, 2, ("pclk1",) + _U5_UART),
             "usart3": (U5_CCIPR1, 4, 2, ("pclk1",) + _U5_UART),
             "lpuart1": (U5_CCIPR3, 0, 3, ("pclk3",) + _U5_UART + ("msik",))}

    def _msi_range(self, which: str) -> int:
        ic = self.regs.get(U5_ICSCR1, 0)
        if ic & (1 << 23):                                   # MSIRGSEL: from ICSCR1
            return _f(ic, 28 if which == "msis" else 24, 4)
        return _f(self.regs.get(U5_CSR, 0), 12 if which == "msis" else 8, 4)

    def osc_hz(self, name):
        if name in ("msis", "msik"):
            return U5_MSIS_HZ[self._msi_range(name)]
        if name == "hsi16":
            return 16e6
        if name == "hsi48":
            return 48e6
        if name == "hse":
            return self.params.hse_hz
        if name == "lse":
            return self.params.lse_hz
        if name == "lsi":
            return self.params.lsi_hz
        if name == "pll1":
            return self.pll_out_hz("pll1", "r")
        return 0.0

    def pll_source(self, pll):
        cfg = self.PLL_CONFIG[pll][0]
        return (None, "msis", "hsi16", "hse")[_f(self.pll_reg(pll, cfg), 0, 2)]

    def _valid(self, name):
        if name not in self.PLL_CONFIG:
            return True
        return self.pll_source(name) is not None

    def pll_input_hz(self, pll: str) -> float:
        src = self.pll_source(pll)
        if src is None:
            return 0.0
        return self.osc_hz(src) / (_f(self.pll_reg(pll, self.PLL_CONFIG[pll][0]), 8, 4) + 1)

    def pll_out_hz(self, pll: str, out: str) -> float:
        cfg_off, div_off, frac_off = self.PLL_CONFIG[pll]
        cfg = self.pll_reg(pll, cfg_off)
        live = self.regs.get(cfg_off, 0)                       # output enables: live
        if not self.is_ready(pll) or not live & (1 << (16 + "pqr".index(out))):  # PLLxyEN
            return 0.0
        d = self.pll_reg(pll, div_off)
        frac = _f(self.pll_reg(pll, frac_off), 3, 13) if cfg & (1 << 4) else 0
        vco = self.pll_input_hz(pll) * (_f(d, 0, 9) + 1 + frac / 8192.0)
        return vco / (_f(d, {"p": 9, "q": 16, "r": 24}[out], 7) + 1)

    def booster_hz(self) -> float:
        """The EPOD booster clock: PLL1's source divided by PLL1MBOOST (RM0456 PWR 10.5.4)."""
        src = self.pll_source("pll1")
        if src is None:
            return 0.0
        div = (1, 2, 4, 6, 8, 10, 12, 14, 16)
        mb = _f(self.regs.get(U5_PLL1CFGR, 0), 12, 4)
        return self.osc_hz(src) / div[mb] if mb < len(div) else 0.0

    def _source_ready(self, src):
        if src == "pll1":
            return self.pll_out_hz("pll1", "r") > 0
        return self.is_ready(src)

    def kernel_hz(self, peripheral):
        if peripheral == "epod_booster":
            return self.booster_hz()
        return super().kernel_hz(peripheral)

    def _hpre(self) -> int:
        return AHB_SHIFT[_f(self.regs.get(U5_CFGR2, 0), 0, 4)]

    def core_hz(self):
        return self.sysclk_hz() / (1 << self._hpre())

    def bus_hz(self, bus):
        core = self._core_in_force()
        if bus == "sysclk":
            return core * (1 << self._hpre())
        if bus == "hclk":
            return core
        reg, sh = {"pclk1": (U5_CFGR2, 4), "pclk2": (U5_CFGR2, 8),
                   "pclk3": (U5_CFGR3, 4)}.get(bus, (None, 0))
        if reg is None:
            return 0.0
        return core / (1 << APB_SHIFT[_f(self.regs.get(reg, 0), sh, 3)])


_FAMILIES = {"stm32l4-rcc": Stm32L4Rcc, "stm32g0-rcc": Stm32G0Rcc, "stm32h7-rcc": Stm32H7Rcc,
             "stm32u5-rcc": Stm32U5Rcc}
