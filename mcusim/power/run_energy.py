"""The energy of a finished run: its trace (mcusim.trace.RunTrace) through the MCU's
power model.

The trace holds, in core cycles, the clock changes, the power state changes (run, sleep
on WFI/WFE, deep sleep with SCR.SLEEPDEEP), per-function cycles and the firmware's layer
and window markers; mcusim.power integrates the power model over them.
"""

from __future__ import annotations

from mcusim.errors import UserError


def _trace(t):
    return getattr(t, "trace", None) or t


def timeline(t, functions=None):
    from mcusim.power import Timeline

    from mcusim.power.activity import run_counts

    t = _trace(t)
    layers = [{"index": iv.index, "op": iv.op, "macs": iv.macs, "begin": iv.begin, "end": iv.end,
               **({"activity": iv.activity} if getattr(iv, "activity", None) else {})}
              for iv in t.layers if iv.end is not None and iv.end <= t.cycles]
    windows = [(iv.begin, iv.end) + ((iv.activity,) if getattr(iv, "activity", None) else ())
               for iv in t.windows if iv.end is not None and iv.end <= t.cycles]
    states = [(c, s) for c, s in t.power_states if c <= t.cycles]
    # DVFS: the voltage range follows the clock (the lowest range that admits it)
    vr = None if len(t.clock_changes) == 1 and t.clock_hz == t.mcu.clock_mhz * 1e6 else \
        [(c, "auto") for c, _ in t.clock_changes]
    return Timeline(total_cycles=t.cycles, clock_changes=list(t.clock_changes), power_states=states,
                    voltage_ranges=vr, functions=functions or [], layers=layers, windows=windows,
                    deep_sleep_state=deep_sleep_state(t), access_counts=run_counts(t))


# STM32 PWR_CR1.LPMS (RM0432 5.4.1; RM0456 and RM0444 likewise): the mode SLEEPDEEP enters
_LPMS = {0: "stop0", 1: "stop1", 2: "stop2", 3: "standby", 4: "shutdown", 5: "shutdown",
         6: "shutdown", 7: "shutdown"}


def deep_sleep_state(t):
    """The low-power mode WFI with SLEEPDEEP enters, from the PWR model when the firmware
    selected one (None: the power catalog's default)."""
    t = _trace(t)
    if t.deep_sleep_mode is None:
        return None
    pm = power_model(t)
    name = _LPMS.get(t.deep_sleep_mode)
    states = getattr(pm, "states", None) or {}
    return name if name in states else None


def power_model(t):
    from mcusim.power import PowerModel
    mcu = _trace(t).mcu
    if not mcu.power_model:
        return None
    return PowerModel.from_catalog(mcu.power_model, mcu)


def add_energy(rec: dict, t) -> None:
    """Fill the record's energy fields (DESIGN.md keys) in place."""
    from mcusim.power import account

    t = _trace(t)
    pm = power_model(t)
    if pm is None or t.cycles == 0:
        return
    funcs = [{"name": f["name"], "cycles": f["cycles"], "instructions": f["instructions"]}
             for f in rec.get("functions", []) if not f["name"].startswith("[")]
    tl = timeline(t, funcs)
    rep = account(tl, pm)
    rec["energy_j"] = rep.energy_j
    rec["avg_power_w"] = rep.avg_power_w
    rec["peak_power_w"] = rep.peak_power_w
    rec["vdd_v"] = rep.vdd_v
    rec["power_model"] = t.mcu.power_model
    rec["power_data"] = rep.data_status          # "sourced" | "derived" | "placeholder"
    rec["power_data_reason"] = rep.data_reason
    if pm.access_energy_enabled:
        from mcusim.power.activity import as_floats
        rec["activity_energy_j"] = rep.activity_energy_j
        rec["activity"] = as_floats(tl.access_counts)
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
        # one inference: the mean over the measured ones (each in inference_energy_each_j)
        each = [x["energy_j"] for x in rep.windows]
        rec["inference_energy_j"] = sum(each) / len(each)
        rec["inference_energy_each_j"] = each
        secs = [x["energy_j"] / x["avg_power_w"] for x in rep.windows if x["avg_power_w"]]
        rec["inference_avg_power_w"] = (sum(each) / sum(secs) if len(secs) == len(each)
                                        and sum(secs) else w["avg_power_w"])
        if w.get("activity"):
            from mcusim.power.activity import as_floats
            rec["inference_activity"] = as_floats(w["activity"])
    if rep.warnings:
        rec["power_warnings"] = list(rep.warnings)
    if t.accelerators:                    # accelerator and memory energy on top
        from mcusim.accelerators.report import add_energy_split
        add_energy_split(rec, t)


def write_trace(t, csv_path, png_path) -> None:
    from mcusim.power.trace import plot_power_trace, write_power_trace_csv

    t = _trace(t)
    pm = power_model(t)
    if pm is None:
        raise UserError(f"{t.mcu.name} has no power model: no power trace")
    tl = timeline(t)
    try:
        if csv_path:
            write_power_trace_csv(csv_path, tl, pm)
        if png_path:
            plot_power_trace(png_path, tl, pm, title=f"{t.mcu.name} at {t.clock_hz / 1e6:g} MHz")
    except OSError as e:
        raise UserError(f"cannot write the power trace: {e.strerror}") from None
