"""Power model of one MCU: currents per state, voltage range (DVFS) and code location.

Built from a power catalog entry (``power_models/*.toml``, schema in docs/catalogs.md) and,
optionally, the MCU's memory model (for the maximum clock of each voltage range).

Current model (units in the names; all currents are supply currents into VDD):

* Run:    ``I_run  [A] = (run_static_ua   + run_ua_per_mhz   * f_MHz) * 1e-6``
          per voltage range and code location (``flash_accel_on`` | ``flash_accel_off`` |
          ``sram``), table ``[run.<range>.<location>]``.
* Sleep:  ``I_sleep[A] = (sleep_static_ua + sleep_ua_per_mhz * f_MHz) * 1e-6``, table
          ``[sleep]`` (one for all ranges).
* Deep low-power states (Stop 0/1/2, Standby, Shutdown): ``I [A] = current_ua * 1e-6``,
  independent of the clock (``[states.<name>]``).
* Power: ``P [W] = I [A] * vdd_v [V]``; energy of a piecewise-constant segment of ``n`` core
  cycles at ``f`` Hz: ``E [J] = P * n / f``.

Supply voltage: datasheet currents are measured at ``datasheet_vdd_v``. With the internal
LDO (``regulator = "ldo"``) the supply current hardly depends on VDD, so the currents are
used unchanged at ``vdd_v``. With an SMPS (``regulator = "smps"``) the converter draws about
constant *power*, so currents are scaled by ``datasheet_vdd_v / vdd_v`` (first-order model,
converter efficiency assumed independent of VDD).

Fallbacks (the catalog leaves unknown values out; see docs/catalogs.md). Each fallback is
recorded once in :attr:`PowerModel.warnings` and not hidden:

* run current for a (range, location) the catalog lacks: same range, default location;
  else the nearest higher-voltage range that has data (smallest max clock at or above this
  range's max clock; an over-estimate); else the default range;
* no ``[sleep]`` table: the run current at the same clock/range (an over-estimate);
* a deep state the catalog lacks: error (:class:`~mcusim.catalog.CatalogError`) if the
  catalog has other states; if it has none, the sleep current at the clock in force;
* wake-up time not given: 0 s (and a warning for deep states).

Activity energies (``[access_energy]``, off unless ``enabled = true``): an energy per
event the simulator counts (:data:`mcusim.schema.ACTIVITY_EVENTS`: ``fetch_word``,
``data_read``, ``data_write``, ``flash_read_through``, ``flash_read_around``,
``cache_fill``, ``cache_writeback``, ``bus_byte``; and per-instruction-class adders
``instr_<class>_pj``), drawn from the supply at ``datasheet_vdd_v``. With them on, the run
currents are the baseline of a core that spins in its fetch buffer (the datasheet's
``while(1)`` row) and :meth:`PowerModel.activity_energy_j` adds what the code does.
Energies scale with VDD like power: LDO x ``vdd_v / datasheet_vdd_v`` (constant charge),
SMPS by ``smps_power_ratio`` (constant energy without it).

Board domain (``[board]``): ``extra_ua`` flows on the measured rail in every state (not
scaled: it is not the MCU's), ``peripherals_ua_per_mhz`` x f in Run and Sleep (scaled like
the run currents).

SMPS supply scaling: with ``smps_power_ratio = [[vdd, r], ...]`` the input power at
``vdd_v`` is ``r(vdd_v) / r(datasheet_vdd_v)`` times that at ``datasheet_vdd_v`` (linear
interpolation, clamped at the ends), so currents scale by that ratio x
``datasheet_vdd_v / vdd_v``.

Data status: ``data_status = "placeholder"`` (the default) marks a catalog with values that
no source backs; ``"derived"`` a catalog without datasheet tables whose values are derived
from public board measurements (MLPerf Tiny traces; experiments/energy/derive.py);
``"sourced"`` one whose values cite datasheets (or are derived from them).
:attr:`PowerModel.placeholder` / :attr:`PowerModel.derived` let every output flag the figures.
"""

from __future__ import annotations

import pathlib
from fractions import Fraction
from typing import Any, Mapping

from ..catalog import CatalogError, McuSpec, PowerSpec, load_power
from ..errors import UserError
from ..schema import LOCATIONS

__all__ = ["PowerModel", "LOCATIONS", "RUN", "SLEEP", "DEEPSLEEP", "exact"]

RUN, SLEEP, DEEPSLEEP = "run", "sleep", "deepsleep"
# what each catalog data_status means in outputs (records carry the status as power_data)
DATA_NOTES = {"sourced": "sourced power data",
              "derived": "power data derived from public measurements",
              "placeholder": "placeholder power data"}
_UA = Fraction(1, 1_000_000)


def exact(x: Any) -> Fraction:
    """A number as an exact fraction; floats by their shortest decimal repr (1.8 -> 9/5)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, bool):
        raise TypeError("bool is not a number here")
    if isinstance(x, int):
        return Fraction(x)
    return Fraction(repr(float(x)))


class PowerModel:
    """Currents, supply voltage and voltage-range rules of one MCU (see module docstring).

    Public methods return floats; the ``*_exact`` variants return :class:`Fraction` so that
    the energy accounting can sum segments without rounding.
    """

    def __init__(self, power: PowerSpec, mcu: McuSpec | None = None,
                 vdd_v: float | None = None):
        self.spec = power
        self.raw = power.raw
        self.name: str = power.name
        self.mcu = mcu
        self.description: str = power.description
        self.regulator: str = power.regulator
        self.datasheet_vdd_v: float = power.datasheet_vdd_v
        self.vdd_range_v: tuple[float, float] | None = power.vdd_range_v
        self._run = {r: tab.locations() for r, tab in power.run.items()}
        self._run_max_mhz: dict[str, float] = {
            r: tab.max_clock_mhz for r, tab in power.run.items()
            if tab.max_clock_mhz is not None}
        self.default_range: str = power.default_range
        self.default_location: str = power.default_location
        self._sleep = power.sleep
        self.states = dict(power.states)
        self.deep_sleep_default: str | None = power.deep_sleep_default
        ae = power.access_energy
        self.access_energy_enabled: bool = ae.enabled
        self.access_energy_pj: dict[str, float] = ae.events_pj()
        self.board = power.board
        self.smps_power_ratio = power.smps_power_ratio
        self.data_status: str = power.data_status
        self.data_reason: str | None = power.data_reason
        self.warnings: list[str] = []
        self._vdd_v = power.vdd_v
        if vdd_v is not None:
            self.vdd_v = vdd_v

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_catalog(cls, name_or_path: str | pathlib.Path | None,
                     mcu_spec: McuSpec | None = None, vdd_v: float | None = None
                     ) -> "PowerModel":
        """Load ``power_models/<name>.toml`` (or a path). ``None``: the MCU's ``power_model``."""
        if name_or_path is None:
            if mcu_spec is None or not mcu_spec.power_model:
                raise CatalogError(
                    f"{getattr(mcu_spec, 'name', '?')}: no power model (key 'mcu.power_model')")
            name_or_path = mcu_spec.power_model
        return cls(load_power(str(name_or_path)), mcu_spec, vdd_v)

    # ------------------------------------------------------------------ supply voltage
    @property
    def vdd_v(self) -> float:
        """Supply voltage used for power and energy (settable, e.g. from ``--vdd``)."""
        return self._vdd_v

    @vdd_v.setter
    def vdd_v(self, v: float) -> None:
        v = float(v)
        if not v > 0:
            raise UserError(f"supply voltage must be positive, got {v:g} V")
        if self.vdd_range_v and not (self.vdd_range_v[0] - 1e-9 <= v
                                     <= self.vdd_range_v[1] + 1e-9):
            raise UserError(f"{self.name}: VDD {v:g} V is outside the supply range "
                            f"{self.vdd_range_v[0]:g}-{self.vdd_range_v[1]:g} V")
        self._vdd_v = v

    def _smps_ratio(self, v: float) -> Fraction:
        pts = self.smps_power_ratio
        if not pts:
            return Fraction(1)
        if v <= pts[0][0]:
            return exact(pts[0][1])
        if v >= pts[-1][0]:
            return exact(pts[-1][1])
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            if x0 <= v <= x1:
                x0, y0, x1, y1 = (exact(a) for a in (x0, y0, x1, y1))
                return y0 + (y1 - y0) * (exact(v) - x0) / (x1 - x0)
        return Fraction(1)   # pragma: no cover

    def _supply_scale(self) -> Fraction:
        """Supply current at vdd_v per unit of datasheet current."""
        if self.regulator == "smps":
            r = self._smps_ratio(self._vdd_v) / self._smps_ratio(self.datasheet_vdd_v)
            return r * exact(self.datasheet_vdd_v) / exact(self._vdd_v)
        return Fraction(1)

    def _energy_scale(self) -> Fraction:
        """Supply energy at vdd_v per unit of energy at datasheet_vdd_v (the same rule)."""
        return self._supply_scale() * exact(self._vdd_v) / exact(self.datasheet_vdd_v)

    # ------------------------------------------------------------------ data status
    @property
    def placeholder(self) -> bool:
        """True when the catalog says some values are unsourced (neither "sourced" nor
        "derived")."""
        return self.data_status not in ("sourced", "derived")

    @property
    def derived(self) -> bool:
        """True when the catalog has no datasheet table: its values are derived from public
        board measurements (docs/power.md, experiments/energy/derive.py)."""
        return self.data_status == "derived"

    def data_note(self) -> str:
        """One line for outputs: "sourced power data (...)", "power data derived from public
        measurements (...)" or "placeholder power data (...)"."""
        what = DATA_NOTES.get(self.data_status, DATA_NOTES["placeholder"])
        return f"{what} ({self.data_reason})" if self.data_reason else what

    # ------------------------------------------------------------------ warnings
    def _warn(self, msg: str) -> None:
        msg = f"{self.name}: {msg}"
        if msg not in self.warnings:
            self.warnings.append(msg)

    # ------------------------------------------------------------------ voltage ranges
    def range_max_mhz(self) -> dict[str, float]:
        """Highest clock of each voltage range (MCU flash wait-state tables, then the
        power file's ``[run.<range>] max_clock_mhz``)."""
        out: dict[str, float] = {}
        m = self.mcu
        if m is not None:
            if m.flash is not None:
                out.update({r: float(t[-1][0]) for r, t in m.flash.ws_tables.items()})
            else:
                out[m.voltage_range] = float(m.max_clock_mhz)
        for r, v in self._run_max_mhz.items():
            out.setdefault(r, v)
        return out

    def mcu_default_range(self) -> str:
        """The voltage range in force when the machine reports none."""
        if self.mcu is not None and self.mcu.voltage_range:
            return self.mcu.voltage_range
        return self.default_range

    def implied_range(self, clock_hz: float) -> str:
        """DVFS: the lowest voltage range whose maximum clock admits ``clock_hz``."""
        maxes = self.range_max_mhz()
        mhz = float(clock_hz) / 1e6
        if not maxes:   # nothing known: the catalog's default range, unchecked
            return self.default_range
        for r, mx in sorted(maxes.items(), key=lambda kv: (kv[1], kv[0])):
            if mhz <= mx + 1e-9:
                return r
        best = max(maxes.items(), key=lambda kv: kv[1])
        raise CatalogError(
            f"{self.name}: clock {mhz:g} MHz exceeds every voltage range (highest: "
            f"{best[0]!r} up to {best[1]:g} MHz)")

    def check_clock(self, clock_hz: float, vrange: str) -> None:
        """Raise CatalogError if ``clock_hz`` is above the maximum of ``vrange``."""
        if not clock_hz > 0:
            raise CatalogError(f"{self.name}: clock must be positive, got {clock_hz!r} Hz")
        maxes = self.range_max_mhz()
        mhz = float(clock_hz) / 1e6
        if vrange in maxes and mhz > maxes[vrange] + 1e-9:
            raise CatalogError(
                f"{self.name}: clock {mhz:g} MHz is above the {maxes[vrange]:g} MHz maximum "
                f"of voltage range {vrange!r}")
        if maxes and vrange not in maxes and vrange not in self._run:
            raise CatalogError(f"{self.name}: unknown voltage range {vrange!r} (known: "
                               f"{', '.join(sorted(set(maxes) | set(self._run)))})")

    def resolve_range(self, clock_hz: float, vrange: str | None) -> str:
        """``vrange`` checked against the clock; ``None``/``"auto"``: the implied range."""
        if vrange is None or vrange == "auto":
            return self.implied_range(clock_hz)
        self.check_clock(clock_hz, vrange)
        return vrange

    # ------------------------------------------------------------------ currents
    def _run_entry(self, vrange: str, location: str):
        if location not in LOCATIONS:
            raise CatalogError(f"{self.name}: unknown code location {location!r} "
                               f"(known: {', '.join(LOCATIONS)})")
        maxes = self.range_max_mhz()
        # Ranges with data at or above this range's max clock, nearest first: the next
        # higher-voltage range known to the catalog (an over-estimate, never an under-).
        mine = maxes.get(vrange)
        higher = sorted((r for r in self._run if r != vrange and mine is not None
                         and maxes.get(r, -1.0) >= mine), key=lambda r: (maxes[r], r))
        order = [(vrange, location), (vrange, self.default_location)]
        for r in higher:
            order += [(r, location), (r, self.default_location)]
        order += [(self.default_range, location), (self.default_range, self.default_location)]
        for r, loc in order:
            t = self._run.get(r, {}).get(loc)
            if t is not None:
                if (r, loc) != (vrange, location):
                    self._warn(f"no run current for range {vrange!r}, location {location!r} "
                               f"in the catalog; using [run.{r}.{loc}]")
                return t
        raise CatalogError(f"{self.name}: no run current for range {vrange!r}")  # pragma: no cover

    def board_extra_exact(self) -> Fraction:
        """Current on the measured rail besides the MCU ([board] extra_ua), any state [A]."""
        return exact(self.board.extra_ua) * _UA

    def _peripherals_ua(self, clock_hz: float) -> Fraction:
        return exact(self.board.peripherals_ua_per_mhz) * exact(clock_hz) / 10**6

    def run_current_exact(self, clock_hz: float, vrange: str | None = None,
                          location: str | None = None) -> Fraction:
        """The MCU's run current plus the board domain ([board]) [A]."""
        vr = self.resolve_range(clock_hz, vrange if vrange is not None else
                                self.mcu_default_range())
        t = self._run_entry(vr, location or self.default_location)
        ua = exact(t.run_static_ua) + exact(t.run_ua_per_mhz) * exact(clock_hz) / 10**6
        ua += self._peripherals_ua(clock_hz)
        return ua * _UA * self._supply_scale() + self.board_extra_exact()

    def run_current_a(self, clock_hz: float, vrange: str | None = None,
                      location: str | None = None) -> float:
        """Run-mode supply current [A] at ``clock_hz`` [Hz] in ``vrange`` (default: the MCU's
        range; ``"auto"``: implied by the clock) executing from ``location``."""
        return float(self.run_current_exact(clock_hz, vrange, location))

    def sleep_current_exact(self, clock_hz: float, vrange: str | None = None) -> Fraction:
        if self._sleep is None:
            self._warn("no [sleep] table in the catalog; Sleep mode uses the run current")
            return self.run_current_exact(clock_hz, vrange)
        self.resolve_range(clock_hz, vrange if vrange is not None else self.mcu_default_range())
        s = self._sleep
        ua = exact(s.sleep_static_ua) + exact(s.sleep_ua_per_mhz) * exact(clock_hz) / 10**6
        ua += self._peripherals_ua(clock_hz)
        return ua * _UA * self._supply_scale() + self.board_extra_exact()

    def sleep_current_a(self, clock_hz: float, vrange: str | None = None) -> float:
        """Sleep-mode (WFI/WFE, SLEEPDEEP=0) supply current [A] at ``clock_hz`` [Hz]."""
        return float(self.sleep_current_exact(clock_hz, vrange))

    def deep_state(self, name: str | None = None) -> str | None:
        """Name of the deep state for ``"deepsleep"`` (``name`` or the catalog default)."""
        if name in (None, DEEPSLEEP):
            return self.deep_sleep_default
        return name

    def has_state(self, name: str) -> bool:
        return name in self.states

    def state_current_exact(self, state_name: str) -> Fraction:
        st = self.states.get(state_name)
        if st is None:
            raise CatalogError(f"{self.name}: power model has no state {state_name!r} "
                               f"(known: {', '.join(self.states) or 'none'})")
        return exact(st.current_ua) * _UA * self._supply_scale() + self.board_extra_exact()

    def state_current_a(self, state_name: str) -> float:
        """Supply current [A] in a deep low-power state (``stop0``, ``stop2``, ``standby``...)."""
        return float(self.state_current_exact(state_name))

    def wakeup(self, state: str) -> tuple[float, float | None]:
        """(seconds, joules or None) to wake from ``state`` (``"sleep"`` or a deep state name;
        ``"deepsleep"`` means the default deep state). Joules come from an optional
        ``wakeup_energy_uj`` key; ``None`` means "not in the catalog" (the accounting then
        charges the run power of the segment after the wake-up for the wake-up time)."""
        s, j = self.wakeup_exact(state)
        return float(s), (None if j is None else float(j))

    def wakeup_exact(self, state: str) -> tuple[Fraction, Fraction | None]:
        if state == SLEEP:
            tab = self._sleep
        elif state == RUN:
            return Fraction(0), Fraction(0)
        else:
            name = self.deep_state(state)
            if name is None or name not in self.states:
                return Fraction(0), None
            tab = self.states[name]
        us = tab.wakeup_us if tab is not None else None
        if us is None:
            if state != SLEEP:
                self._warn(f"wake-up time from {state!r} not in the catalog; counted as 0")
            secs = Fraction(0)
        else:
            secs = exact(us) * _UA
        e = tab.wakeup_energy_uj if tab is not None else None
        return secs, (None if e is None else exact(e) * _UA)

    # ------------------------------------------------------------------ activity energies
    def activity_energy_exact(self, counts: Mapping[str, int | float] | None) -> Fraction:
        """Sum of count x energy over the events of ``counts`` ({event: n}; keys as in
        :data:`mcusim.schema.ACTIVITY_EVENTS` or ``instr_<class>``, an optional ``_pj``
        suffix ignored), at vdd_v [J]. 0 unless ``[access_energy]`` is enabled."""
        if not counts or not self.access_energy_enabled:
            return Fraction(0)
        tot = Fraction(0)
        for k, n in counts.items():
            key = k[:-3] if k.endswith("_pj") else k
            if not n:
                continue
            if key not in self.access_energy_pj:
                self._warn(f"no energy '{key}_pj' in [access_energy]; '{key}' events "
                           f"are not charged")
                continue
            tot += exact(n) * exact(self.access_energy_pj[key])
        return tot * Fraction(1, 10**12) * self._energy_scale()

    def activity_energy_j(self, counts: Mapping[str, int | float] | None) -> float:
        """:meth:`activity_energy_exact` as a float [J]."""
        return float(self.activity_energy_exact(counts))

    # the names before activity energies had their own events (kept for callers)
    access_energy_exact = activity_energy_exact
    access_energy_j = activity_energy_j

    def __repr__(self) -> str:
        return (f"PowerModel({self.name!r}, vdd_v={self._vdd_v:g}, regulator="
                f"{self.regulator!r}, default_range={self.default_range!r})")
