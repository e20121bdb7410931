"""What a run's accelerators did, in its record: per accelerator (counters and energy),
per layer (where it ran, the accelerator's cycles and bus stalls, the energy split CPU /
accelerator / memory) and in the run's totals.

Energy of an accelerator over an interval of `s` seconds in which it was active for `a`
of them (its counters are differences between the interval's ends):

    accelerator_j = idle_power_mw (s - a) + active_power_mw a + counted operation energy
    memory_j      = bus bytes x energy_per_byte_pj + local bytes x local_energy_per_byte_pj

and the CPU's share (`cpu_j`) is what the MCU's power model gives for the interval (the
core, its memories and peripherals as the datasheet currents cover them; asleep in WFI
while a job runs). The record's `energy_j` is the sum of the three.
"""

from __future__ import annotations

from mcusim.accelerators.base import Counters

MW, PJ = 1e-3, 1e-12


def _counters(t: tuple) -> Counters:
    return Counters(*t)


def energy_parts(params: dict, c: Counters, seconds: float, cycles: float) -> tuple:
    """(accelerator_j, memory_j) of counters `c` over an interval."""
    active_s = min(seconds, c.active_cycles / cycles * seconds) if cycles > 0 else 0.0
    acc = ((params.get("idle_power_mw", 0.0) * (seconds - active_s)
            + params.get("active_power_mw", 0.0) * active_s) * MW + c.op_energy_pj * PJ)
    mem = (c.bus_bytes * params.get("energy_per_byte_pj", 0.0)
           + c.local_bytes * params.get("local_energy_per_byte_pj", 0.0)) * PJ
    return acc, mem


def _activity(c: Counters) -> dict:
    return {"active_cycles": int(round(c.active_cycles)),
            "compute_cycles": int(round(c.compute_cycles)),
            "stall_cycles": int(round(max(0.0, c.active_cycles - c.compute_cycles))),
            "bus_cycles": int(c.bus_cycles), "bus_bytes": int(c.bus_bytes),
            "local_bytes": int(c.local_bytes), "ops": int(c.ops), "jobs": int(c.jobs)}


def _did_something(c: Counters) -> bool:
    return c.active_cycles > 0 or c.ops > 0 or c.bus_bytes > 0


def _unit(accs: list, deltas: dict) -> str:
    """Where a stretch of the run ran: "cpu", an accelerator's name (it did the work while
    the core waited), or "cpu+<name>" (the core ran with a coprocessor's instructions)."""
    engines, coprocs = [], []
    for d in accs:
        c = deltas.get(d["name"])
        if c is None or not _did_something(c):
            continue
        (coprocs if d.get("coprocessor") is not None and d.get("base") is None
         else engines).append(d["name"])
    if engines:
        return "+".join(engines)
    return "+".join(["cpu"] + coprocs)


def _intervals_by_index(ivs) -> dict:
    per: dict = {}
    for iv in ivs:
        if iv.end is not None and iv.accel_begin is not None and iv.accel_end is not None:
            per.setdefault(iv.index, []).append(iv)
    return per


def _deltas(iv) -> dict:
    return {n: _counters(iv.accel_end[n]).minus(_counters(iv.accel_begin[n]))
            for n in iv.accel_end if n in iv.accel_begin}


def add_report(rec: dict, t) -> None:
    """The record's `accelerators` rows and each layer's `unit` and accelerator activity
    (no energy: that is add_energy_split's, after the power model ran)."""
    accs = t.accelerators or []
    rows = []
    for d in accs:
        c = _counters(d["counters"])
        row = {k: d.get(k) for k in ("name", "type", "kind", "base", "irq", "coprocessor",
                                     "params")}
        row.update(_activity(c))
        if d.get("executions") is not None:
            row["executions"] = d["executions"]
        row["energy_j"] = row["memory_energy_j"] = None
        rows.append(row)
    rec["accelerators"] = rows
    per = _intervals_by_index(t.layers)
    for row in rec.get("layers", []):
        ivs = per.get(row["index"])
        if not ivs:
            row.setdefault("unit", "cpu")
            continue
        n = len(ivs)
        units = []
        act: dict = {}
        for iv in ivs:
            dl = _deltas(iv)
            units.append(_unit(accs, dl))
            for name, c in dl.items():
                if _did_something(c):
                    a = act.setdefault(name, {})
                    for k, v in _activity(c).items():
                        a[k] = a.get(k, 0) + v
        row["unit"] = max(set(units), key=units.count)
        row["accelerators"] = {name: {k: v // n for k, v in a.items()}
                               for name, a in act.items()} or None


def add_energy_split(rec: dict, t) -> None:
    """Accelerator and memory energy on top of the MCU's (rec['energy_j'] from the power
    model), for the run, each layer and the last inference window."""
    accs = t.accelerators or []
    if not accs:
        return
    params = {d["name"]: d["params"] for d in accs}
    total_s, total_c = t.seconds(), t.cycles
    acc_j = mem_j = 0.0
    by_name = {r["name"]: r for r in rec.get("accelerators") or []}
    for d in accs:
        a, m = energy_parts(d["params"], _counters(d["counters"]), total_s, total_c)
        acc_j += a
        mem_j += m
        if d["name"] in by_name:
            by_name[d["name"]]["energy_j"] = a
            by_name[d["name"]]["memory_energy_j"] = m
    cpu_j = rec.get("energy_j")
    rec["energy_split"] = {"cpu_j": cpu_j, "accelerator_j": acc_j, "memory_j": mem_j}
    if cpu_j is not None:
        rec["energy_j"] = cpu_j + acc_j + mem_j
        if total_s > 0:
            rec["avg_power_w"] = rec["energy_j"] / total_s

    def interval(iv) -> tuple:
        secs = t.seconds(iv.end) - t.seconds(iv.begin)
        cyc = iv.end - iv.begin
        a = m = 0.0
        for name, c in _deltas(iv).items():
            x, y = energy_parts(params[name], c, secs, cyc)
            a, m = a + x, m + y
        return a, m

    per = _intervals_by_index(t.layers)
    for row in rec.get("layers", []):
        ivs = per.get(row["index"])
        if not ivs:
            continue
        parts = [interval(iv) for iv in ivs]
        a = sum(p[0] for p in parts) / len(parts)
        m = sum(p[1] for p in parts) / len(parts)
        cpu = row.get("energy_j")
        row["energy_split"] = {"cpu_j": cpu, "accelerator_j": a, "memory_j": m}
        if cpu is not None:
            row["energy_j"] = cpu + a + m
    wins = [w for w in t.windows if w.end is not None and w.accel_begin is not None
            and w.accel_end is not None]
    if wins and rec.get("inference_energy_j") is not None:
        a, m = interval(wins[-1])
        cpu = rec["inference_energy_j"]
        rec["inference_energy_split"] = {"cpu_j": cpu, "accelerator_j": a, "memory_j": m}
        rec["inference_energy_j"] = cpu + a + m
        secs = t.seconds(wins[-1].end) - t.seconds(wins[-1].begin)
        if secs > 0:
            rec["inference_avg_power_w"] = rec["inference_energy_j"] / secs


def layer_columns(row: dict) -> dict:
    """Flat columns of a layer row's accelerator fields (the API's layers DataFrame):
    unit, accelerator active / stall / bus cycles (summed over accelerators), energy split."""
    acc = row.get("accelerators") or {}
    sp = row.get("energy_split") or {}
    return {"unit": row.get("unit"),
            "accel_active_cycles": sum(a.get("active_cycles", 0) for a in acc.values()),
            "accel_stall_cycles": sum(a.get("stall_cycles", 0) for a in acc.values()),
            "accel_bus_cycles": sum(a.get("bus_cycles", 0) for a in acc.values()),
            "cpu_energy_j": sp.get("cpu_j"), "accelerator_energy_j": sp.get("accelerator_j"),
            "memory_energy_j": sp.get("memory_j")}
