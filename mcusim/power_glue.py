"""Energy for a finished run: the machine's timeline through the MCU's power model.

The machine logs, in core cycles, the clock changes, the power state changes (run, sleep
on WFI/WFE, deep sleep with SCR.SLEEPDEEP), per-function cycles and the firmware's layer
and window markers; mcusim.power integrates the power model over them.
"""

from __future__ import annotations

from mcusim.errors import UserError


def timeline(m, functions=None):
    from mcusim.power import Timeline

    layers = [{"index": iv.index, "op": iv.op, "macs": iv.macs, "begin": iv.begin, "end": iv.end}
              for iv in m.simdev.layers if iv.end is not None and iv.end <= m.cycles]
    windows = [(iv.begin, iv.end) for iv in m.simdev.windows if iv.end is not None and iv.end <= m.cycles]
    states = [(c, s) for c, s in m.state_log if c <= m.cycles]
    # DVFS: the voltage range follows the clock (the lowest range that admits it)
    vr = None if len(m.clock_changes) == 1 and m.clock_hz == m.mcu.clock_mhz * 1e6 else \
        [(c, "auto") for c, _ in m.clock_changes]
    return Timeline(total_cycles=m.cycles, clock_changes=list(m.clock_changes), power_states=states,
                    voltage_ranges=vr, functions=functions or [], layers=layers, windows=windows,
                    deep_sleep_state=deep_sleep_state(m))


# STM32 PWR_CR1.LPMS (RM0432 5.4.1; RM0456 and RM0444 likewise): the mode SLEEPDEEP enters
_LPMS = {0: "stop0", 1: "stop1", 2: "stop2", 3: "standby", 4: "shutdown", 5: "shutdown",
         6: "shutdown", 7: "shutdown"}


def deep_sleep_state(m):
    """The low-power mode WFI with SLEEPDEEP enters, from the PWR model when the firmware
    selected one (None: the power catalog's default)."""
    pwr = m.peripherals.get("pwr")
    if pwr is None or not hasattr(pwr, "low_power_mode") or not pwr.regs:
        return None
    pm = power_model(m)
    name = _LPMS.get(pwr.low_power_mode())
    states = getattr(pm, "states", None) or {}
    return name if name in states else None


def power_model(m):
    from mcusim.power import PowerModel
    if not m.mcu.power_model:
        return None
    return PowerModel.from_catalog(m.mcu.power_model, m.mcu)


def add_energy(rec: dict, m) -> None:
    """Fill the record's energy fields (DESIGN.md keys) in place."""
    from mcusim.power import account

    pm = power_model(m)
    if pm is None or m.cycles == 0:
        return
    funcs = [{"name": f["name"], "cycles": f["cycles"], "instructions": f["instructions"]}
             for f in rec.get("functions", []) if not f["name"].startswith("[")]
    rep = account(timeline(m, funcs), pm)
    rec["energy_j"] = rep.energy_j
    rec["avg_power_w"] = rep.avg_power_w
    rec["peak_power_w"] = rep.peak_power_w
    rec["vdd_v"] = rep.vdd_v
    rec["power_model"] = m.mcu.power_model
    rec["power_states"] = {k: {"seconds": v["seconds"], "energy_j": v["energy_j"]}
                           for k, v in rep.power_states.items()}
    by_name = {f["name"]: f.get("energy_j") for f in rep.functions}
    for f in rec.get("functions", []):
        f["energy_j"] = by_name.get(f["name"])
    # layers: the record has one row per layer index (per inference); average its energy
    per: dict[int, list] = {}
    for row in rep.layers:
        per.setdefault(row["index"], []).append(row["energy_j"])
    for row in rec.get("layers", []):
        e = per.get(row["index"])
        row["energy_j"] = sum(e) / len(e) if e else None
    if rep.windows:
        w = rep.windows[-1]
        rec["inference_energy_j"] = w["energy_j"]
        rec["inference_avg_power_w"] = w["avg_power_w"]
    if rep.warnings:
        rec["power_warnings"] = list(rep.warnings)


def write_trace(m, csv_path, png_path) -> None:
    from mcusim.power.trace import plot_power_trace, write_power_trace_csv

    pm = power_model(m)
    if pm is None:
        raise UserError(f"{m.mcu.name} has no power model: no power trace")
    tl = timeline(m)
    try:
        if csv_path:
            write_power_trace_csv(csv_path, tl, pm)
        if png_path:
            plot_power_trace(png_path, tl, pm, title=f"{m.mcu.name} at {m.clock_hz / 1e6:g} MHz")
    except OSError as e:
        raise UserError(f"cannot write the power trace: {e.strerror}") from None
