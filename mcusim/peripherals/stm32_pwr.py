"""STM32 power control (PWR): voltage scaling with its ready flags, per family.

* Reset values as on silicon (L4+ range 1 normal, G0 range 1, H7A3 supply not configured
  at VOS3, U5 range 4 with VOSRDY).
* A change of the voltage scale raises the "in progress" state (L4/G0 PWR_SR2.VOSF = 1;
  H7 PWR_SRDCR.VOSRDY = 0 and PWR_CSR1.ACTVOSRDY = 0; U5 PWR_VOSR.VOSRDY = 0) for
  `vos_settle_us` (default 0: done at once), then the new scale is in force: the machine
  is told (the flash wait-state table row follows it).
* H7A3: PWR_CR3's supply bits are written once after power-on; ACTVOSRDY rises when the
  supply configuration has been written (HAL_PWREx_ConfigSupply waits for it).
* U5: the EPOD booster: BOOSTRDY follows BOOSTEN once the booster clock (PLL1 source /
  PLL1MBOOST, from RCC) is 4..16 MHz (RM0456 10.5.4).

Sources: RM0432 PWR (CR1 VOS [10:9], SR2 VOSF 10, CR5 R1MODE 8), RM0444 PWR (CR1 VOS
[10:9], SR2 VOSF 10, FLASH_RDY 7), RM0455 PWR (CR3 supply bits [5:0], CSR1 ACTVOSRDY 13,
ACTVOS [15:14], SRDCR VOSRDY 13, VOS [15:14]: 11 VOS0, 10 VOS1, 01 VOS2, 00 VOS3), RM0456
PWR (VOSR BOOSTRDY 14, VOSRDY 15, VOS [17:16], BOOSTEN 18; SVMSR ACTVOSRDY 15, ACTVOS
[17:16]); docs/research/stm32-startup.md sections 2.4, 3.4, 4.4, 5.4.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcusim.peripherals import register
from mcusim.peripherals.regfile import RegisterFile, RegisterFileParams
from mcusim.schema import FLOAT, HEXINT, INT, REG_MAP, FrozenMap, param


def _f(v: int, shift: int, width: int) -> int:
    return (v >> shift) & ((1 << width) - 1)


@dataclass(frozen=True, kw_only=True)
class PwrParams(RegisterFileParams):
    """PWR: voltage scaling and its ready flags; the low-power mode field."""
    status: FrozenMap = param(REG_MAP, FrozenMap(), "bits ORed into reads {\"offset\" = "
                              "bits}", min=0, max=0xFFFFFFFF)
    lpms_offset: int = param(INT, 0, "offset of the register holding the low-power mode",
                             min=0, max=0x3FC)
    lpms_mask: int = param(HEXINT, 0x7, "mask of the low-power mode field (CR1.LPMS on L4)",
                           min=0, max=0xFFFFFFFF)
    vos_settle_us: float = param(FLOAT, 0.0, "time from a voltage-scale change to its ready "
                                 "flag (datasheet: tens of us; 0: at once)", min=0, max=1e6)


class Stm32Pwr(RegisterFile):
    """A PWR register file whose `status` bits read back set (model "stm32-pwr"); the family
    models ("stm32l4-pwr", ...) add voltage scaling. `Stm32Pwr(machine, spec)` builds the
    class `spec.model` names."""

    Params = PwrParams
    CLOCK_REGS: frozenset = frozenset()
    COMPUTED: frozenset = frozenset()      # offsets whose value the model computes

    def __new__(cls, machine=None, spec=None):
        if cls is Stm32Pwr and spec is not None:
            cls = _FAMILIES.get(spec.model, Stm32Pwr)
        return super().__new__(cls)

    def __init__(self, machine, spec):
        super().__init__(machine, spec)
        self.settle_at = 0            # cycle at which the last voltage change is done
        self.applied = self._requested()
        self.pushed = None            # the range last told to the machine
        self.event = None

    # ------------------------------------------------------------------ registers
    def read_word(self, off: int) -> int:
        if off in self.CLOCK_REGS and self.m is not None:
            self.m.clock_control_access()
        self._check_read(off)
        if off in self.COMPUTED:
            v = self._computed(off)
            if self._settling() and self.m is not None and \
                    self.m.poll(f"{self.name}.{off:x}", v, self.settle_at):
                v = self._computed(off)
        else:
            v = self.regs.get(off, 0)
        return v | self.params.status.get(off, 0)

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        if off in self.CLOCK_REGS and self.m is not None:
            self.m.clock_control_access()
        old = self.regs.get(off, 0)
        new = self._write(off, old, (old & ~mask) | (value & mask))
        self.regs[off] = new
        req = self._requested()
        if req != self.applied and self._needs_settle(self.applied, req):
            self._start_settle()
        self._update_range()

    def _write(self, off: int, old: int, new: int) -> int:
        return new

    def _computed(self, off: int) -> int:
        return self.regs.get(off, 0)

    def _needs_settle(self, old, new) -> bool:
        """A change from scale `old` to `new` moves the regulator (sets the flags)."""
        return True

    def low_power_mode(self) -> int:
        return self.regs.get(self.params.lpms_offset, 0) & self.params.lpms_mask

    # ------------------------------------------------------------------ voltage scaling
    def _requested(self):
        """The voltage scale the registers ask for (None: no voltage scaling here)."""
        return None

    def range_name(self, scale) -> str | None:
        """The catalog's [flash.wait_states] key of a scale."""
        return None

    def _now(self) -> int:
        return self.m.now_precise() if self.m is not None else 0

    def _settling(self) -> bool:
        return self.m is not None and self._now() < self.settle_at

    def _start_settle(self) -> None:
        us = self.params.vos_settle_us
        if self.m is None or not us:
            self.settle_at = self._now()
            self.applied = self._requested()
            return
        self.settle_at = self._now() + int(round(us * 1e-6 * self.m.clock_hz))
        if self.event is not None:
            self.event.cancel()
        self.event = self.m.schedule(self.settle_at, self._settled, self.name + ".vos",
                                     wakes=False)

    def _settled(self, at: int) -> None:
        self.event = None
        self.applied = self._requested()
        self._update_range()

    def _update_range(self) -> None:
        if not self._settling():
            self.applied = self._requested()
        name = self.range_name(self.applied)
        if name is not None and name != self.pushed and self.m is not None:
            self.pushed = name
            self.m.set_voltage_range(name)

    def reset_state(self) -> None:
        """The machine starts from reset: tell it the voltage range of the reset values."""
        self.pushed = None
        self._update_range()


# =========================================================================== STM32L4+
@register("stm32l4-pwr")
class Stm32L4Pwr(Stm32Pwr):
    """RM0432: CR1 VOS [10:9] (01 range 1, 10 range 2), CR5 R1MODE 8 (1 normal, 0 boost),
    SR2 VOSF 10 while the regulator moves."""
    RESET = {0x00: 0x0000_0200, 0x08: 0x0000_8000, 0x80: 0x0000_0100}
    CLOCK_REGS = frozenset({0x00, 0x14, 0x80})
    COMPUTED = frozenset({0x14})

    def _requested(self):
        return (_f(self.regs.get(0x00, 0), 9, 2), _f(self.regs.get(0x80, 0), 8, 1))

    def _needs_settle(self, old, new):
        return old is None or old[0] != new[0]    # R1MODE (boost) applies at once

    def range_name(self, scale):
        vos, r1mode = scale
        if vos == 1:
            return "range1" if r1mode else "range1_boost"
        return "range2" if vos == 2 else None

    def _computed(self, off):
        v = self.regs.get(off, 0) & ~(1 << 10)
        return v | (1 << 10) if self._settling() else v


# =========================================================================== STM32G0
@register("stm32g0-pwr")
class Stm32G0Pwr(Stm32Pwr):
    """RM0444: CR1 VOS [10:9] (01 range 1, 10 range 2), SR2 VOSF 10, FLASH_RDY 7."""
    RESET = {0x00: 0x0000_0208, 0x08: 0x0000_8000}
    CLOCK_REGS = frozenset({0x00, 0x14})
    COMPUTED = frozenset({0x14})

    def _requested(self):
        return _f(self.regs.get(0x00, 0), 9, 2)

    def range_name(self, scale):
        return {1: "range1", 2: "range2"}.get(scale)

    def _computed(self, off):
        v = (self.regs.get(off, 0) & ~(1 << 10)) | (1 << 7)      # FLASH_RDY: flash ready
        return v | (1 << 10) if self._settling() else v


# =========================================================================== STM32H7A3
H7_CR3, H7_CSR1, H7_SRDCR = 0x0C, 0x04, 0x18
H7_SUPPLY = 0x3F          # BYPASS, LDOEN, SMPSEN, SMPSEXTHP, SMPSLEVEL: written once


@register("stm32h7-pwr")
class Stm32H7Pwr(Stm32Pwr):
    """RM0455: CR3 supply configuration (write-once), CSR1 ACTVOS/ACTVOSRDY, SRDCR
    VOS/VOSRDY (11 VOS0 ... 00 VOS3)."""
    RESET = {0x00: 0xF000_C000, H7_CR3: 0x0000_0006, H7_SRDCR: 0}
    CLOCK_REGS = frozenset({H7_CSR1, H7_CR3, H7_SRDCR})
    COMPUTED = frozenset({H7_CSR1, H7_SRDCR})

    def __init__(self, machine, spec):
        self.supply_set = False
        super().__init__(machine, spec)

    def _write(self, off, old, new):
        if off == H7_CR3:
            if self.supply_set:
                new = (new & ~H7_SUPPLY) | (old & H7_SUPPLY)   # locked until power-on
            else:
                self.supply_set = True
                self.applied = None               # ACTVOSRDY = 0 until it settles
            new &= ~(1 << 16) & ~(1 << 26)        # SMPSEXTRDY, USB33RDY: read-only
        elif off == H7_SRDCR:
            new &= ~(1 << 13)                     # VOSRDY: read-only
        elif off == H7_CSR1:
            new = old                             # read-only
        return new

    def _requested(self):
        if not getattr(self, "supply_set", False):
            return None
        return _f(self.regs.get(H7_SRDCR, 0), 14, 2)

    def range_name(self, scale):
        return None if scale is None else ("vos3", "vos2", "vos1", "vos0")[scale]

    def _computed(self, off):
        ready = self.supply_set and not self._settling()
        vos = _f(self.regs.get(H7_SRDCR, 0), 14, 2)
        if off == H7_SRDCR:
            return (self.regs.get(H7_SRDCR, 0) & ~(1 << 13)) | ((1 << 13) if ready else 0)
        act = self.applied if self.applied is not None else 0
        return (self.regs.get(H7_CSR1, 0) & ~(0x7 << 13)) | (act << 14) \
            | ((1 << 13) if ready else 0)

    def _update_range(self):
        if self.supply_set and self.applied is None and not self._settling():
            self.applied = self._requested()
        super()._update_range()

    def reset_state(self):
        self.pushed = None
        name = self.range_name(_f(self.regs.get(H7_SRDCR, 0), 14, 2))   # VOS3 at reset
        if name is not None and self.m is not None:
            self.pushed = name
            self.m.set_voltage_range(name)


# =========================================================================== STM32U5
U5_VOSR, U5_SVMSR, U5_CR3 = 0x0C, 0x3C, 0x08


@register("stm32u5-pwr")
class Stm32U5Pwr(Stm32Pwr):
    """RM0456: VOSR VOS [17:16] (11 range 1 ... 00 range 4), VOSRDY 15, BOOSTEN 18,
    BOOSTRDY 14; SVMSR ACTVOS [17:16], ACTVOSRDY 15, REGS 1 (= CR3.REGSEL)."""
    RESET = {U5_VOSR: 0x0000_8000, U5_SVMSR: 0x0000_8000}
    CLOCK_REGS = frozenset({U5_VOSR, U5_SVMSR})
    COMPUTED = frozenset({U5_VOSR, U5_SVMSR})

    def _write(self, off, old, new):
        if off == U5_VOSR:
            new &= ~((1 << 14) | (1 << 15))       # BOOSTRDY, VOSRDY: read-only
        elif off == U5_SVMSR:
            new = old
        return new

    def _requested(self):
        return _f(self.regs.get(U5_VOSR, 0), 16, 2)

    def range_name(self, scale):
        return ("range4", "range3", "range2", "range1")[scale]

    def _booster_ok(self) -> bool:
        """The booster runs: its clock (PLL1 source / PLL1MBOOST) is 4..16 MHz. HAL sets
        BOOSTEN before it configures PLL1, so BOOSTRDY may rise only later."""
        m = self.m
        hz = m.kernel_clock_hz("epod_booster") if m is not None else None
        return hz is None or 4e6 <= hz <= 16e6

    def _computed(self, off):
        ready = not self._settling()
        if off == U5_VOSR:
            v = self.regs.get(U5_VOSR, 0) & ~((1 << 14) | (1 << 15))
            if ready:
                v |= 1 << 15
                if v & (1 << 18) and self._booster_ok():
                    v |= 1 << 14
            return v
        regs = (self.regs.get(U5_CR3, 0) >> 1) & 1
        return (self.applied << 16) | ((1 << 15) if ready else 0) | (regs << 1)


register("stm32-pwr")(Stm32Pwr)
_FAMILIES = {"stm32-pwr": Stm32Pwr, "stm32l4-pwr": Stm32L4Pwr, "stm32g0-pwr": Stm32G0Pwr,
             "stm32h7-pwr": Stm32H7Pwr, "stm32u5-pwr": Stm32U5Pwr}
