"""The run record (DESIGN.md contract): one dict per run, written as JSON, built from the
run's trace (mcusim.trace.RunTrace)."""

from __future__ import annotations

from collections import defaultdict


def _trace(t):
    """A RunTrace, also from a finished Machine (which keeps the trace of its run)."""
    return getattr(t, "trace", None) or t


def function_profile(t) -> list[dict]:
    """Exclusive cycles and instructions per function, from the block counts."""
    t = _trace(t)
    fw = t.firmware
    per = defaultdict(lambda: [0, 0])
    for addr, _count, cyc, ins in t.blocks:
        if not cyc and not ins:
            continue
        name = (fw.function_at(addr) if fw else None) or f"0x{addr:08x}"
        per[name][0] += cyc
        per[name][1] += ins
    if t.exception_cycles:
        per["[exception entry/exit]"][0] += t.exception_cycles
    tree = call_tree(t)
    incl = tree["inclusive"] if tree else {}
    calls = tree["calls"] if tree else {}
    rows = [{"name": k, "cycles": v[0], "instructions": v[1], "energy_j": None,
             "inclusive_cycles": incl.get(k), "calls": calls.get(k)}
            for k, v in per.items()]
    rows.sort(key=lambda r: (-r["cycles"], r["name"]))
    return rows


def call_tree(t) -> dict | None:
    """Inclusive and exclusive cycles per function from the call-tree profile, and the
    collapsed stacks (`a;b;c cycles`, the format flamegraph.pl and speedscope read)."""
    t = _trace(t)
    nodes = t.call_tree
    if not nodes:
        return None
    fw = t.firmware

    def name(addr):
        return ((fw.function_at(addr) if fw else None) or f"0x{addr:08x}")

    names = ["[root]"] + [name(n[1]) for n in nodes[1:]]
    paths: list[tuple[str, ...]] = [()]
    for i in range(1, len(nodes)):
        paths.append(paths[nodes[i][0]] + (names[i],))
    # subtree cycles, children after parents (ids grow with creation)
    sub = [n[2] for n in nodes]
    for i in range(len(nodes) - 1, 0, -1):
        sub[nodes[i][0]] += sub[i]
    incl: dict[str, int] = {}
    calls: dict[str, int] = {}
    for i in range(1, len(nodes)):
        f = names[i]
        calls[f] = calls.get(f, 0) + nodes[i][3]
        if f in paths[i][:-1]:
            continue                       # recursion: the outer call already counts it
        incl[f] = incl.get(f, 0) + sub[i]
    root_name = (fw.function_at(t.entry_pc) if fw else None) or "[reset]"
    collapsed = {}
    for i, n in enumerate(nodes):
        if n[2]:
            key = ";".join((root_name,) + paths[i])
            collapsed[key] = collapsed.get(key, 0) + n[2]
    incl[root_name] = sub[0]
    return {"inclusive": incl, "calls": calls, "collapsed": collapsed}


_CAUSES = ("core", "branch", "exception", "sleep", "bus")


def interval_causes(iv) -> dict | None:
    """Cycles of one interval (a layer) by cause; memory = the rest."""
    if not iv.causes_begin or not iv.causes_end or iv.end is None:
        return None
    d = {k: int(e - b) for k, b, e in zip(_CAUSES, iv.causes_begin, iv.causes_end)}
    d["memory"] = (iv.end - iv.begin) - sum(d.values())
    return d


def layer_profile(t) -> list[dict]:
    rows = []
    for iv in _trace(t).layers:
        rows.append({"index": iv.index, "op": iv.op, "macs": iv.macs,
                     "cycles": (iv.end or iv.begin) - iv.begin, "energy_j": None,
                     "stalls": interval_causes(iv)})
    return rows


def stall_breakdown(t) -> dict:
    """Where the cycles went, exactly partitioning the run: core (the core timing model's
    issue cycles at zero wait states), branch (taken-branch refills), memory (flash wait
    states, accelerator and cache misses: the memory model; split into fetch/data when it
    ran in detailed mode), exception (entry/exit/tail-chain), bus (stalls behind other bus
    masters), sleep."""
    t = _trace(t)
    core, branch = t.causes                    # running totals kept by the block hook
    sleep = t.sleep_cycles + t.deepsleep_cycles
    bus = t.bus_stall_cycles
    memory = t.cycles - core - branch - t.exception_cycles - sleep - bus
    out = {"core": core, "branch": branch, "memory": memory,
           "exception": t.exception_cycles, "bus": bus, "sleep": sleep}
    if t.mode == "detailed" and t.memory_stats:
        out["memory_fetch"] = int(t.memory_stats.get("fetch_stall", 0))
        out["memory_data"] = int(t.memory_stats.get("data_stall", 0))
    return out


def fault_dict(f) -> dict | None:
    if f is None:
        return None
    return {
        "type": f.type,
        "pc": f.pc,
        "symbol": f.symbol,
        "line": f.line,
        "address": f.address,
        "cause": f.cause,
        "message": f.message,
        "call_chain": [{"pc": a, "symbol": s} for a, s in f.call_chain],
    }


def memory_usage(t) -> dict:
    t = _trace(t)
    fw = t.firmware
    flash = ram = 0
    if fw is not None:
        for seg in fw.segments:
            r = t.region_at(seg.paddr)
            if r is not None and r.kind == "flash":
                flash += len(seg.data)
            rv = t.region_at(seg.vaddr)
            if rv is not None and rv.kind != "flash":
                ram += seg.memsz
    return {"flash_bytes": flash or None, "ram_bytes": ram or None,
            "arena_bytes": t.arena_bytes, "stack_peak_bytes": t.stack_peak}


def build_record(t, *, profile: bool = True) -> dict:
    """The run record of a RunTrace (or of a finished Machine)."""
    t = _trace(t)
    hz = t.clock_hz
    rec = {
        "mcu": t.mcu.name,
        "core": t.mcu.core.name,
        "clock_hz": hz,
        "mode": t.mode,
        "outcome": t.outcome,
        "exit_code": t.exit_code,
        "cycles": t.cycles,
        "instructions": t.instructions,
        "seconds": t.seconds(),
        "energy_j": None,
        "avg_power_w": None,
        "stdout": t.stdout.decode("utf-8", "replace"),
        "fault": fault_dict(t.fault),
        "limit": t.limit_reason if t.outcome == "limit" else None,
        "functions": function_profile(t) if profile else [],
        "layers": layer_profile(t),
        "power_states": {
            "run": {"seconds": t.seconds() - (t.sleep_cycles + t.deepsleep_cycles) / hz,
                    "energy_j": None},
            "sleep": {"seconds": t.sleep_cycles / hz, "energy_j": None},
            "deepsleep": {"seconds": t.deepsleep_cycles / hz, "energy_j": None},
        },
        "memory": memory_usage(t),
        "exceptions_taken": t.exceptions_taken,
        "stalls": stall_breakdown(t),
        "system": t.system_stats,
        "cpi": (t.cycles / t.instructions) if t.instructions else None,
        "runtime_error": ({"code": t.runtime_error[0], "arg": t.runtime_error[1]}
                          if t.runtime_error else None),
        "host_seconds": round(t.host_seconds, 3),
        "verify": t.verify,
        "clock_mode": t.clock_mode,         # run | reset | override (docs/clocks.md)
        "gpio_changes": len(t.gpio),        # output pin changes (mcusim run --gpio-trace)
    }
    if t.accelerators:                    # [[accelerators]] plugins (mcusim/accelerators)
        from mcusim.accelerators.report import add_report
        add_report(rec, t)
    return rec


def write_gpio_trace(t, path: str) -> None:
    """The run's output pin changes as CSV: cycle, seconds, pin (PC7), level."""
    t = _trace(t)
    with open(path, "w") as f:
        f.write("cycle,seconds,pin,level\n")
        for cyc, port, pin, level in t.gpio:
            f.write(f"{cyc},{t.seconds(cyc):.9f},{port}{pin},{level}\n")


def fault_line(f) -> str:
    where = f"pc=0x{f.pc:08x}"
    if f.symbol:
        where += f" in {f.symbol}"
    if f.line:
        where += f" ({f.line})"
    s = f"firmware fault: {f.type}"
    if f.cause:
        s += f" [{f.cause}]"
    s += f" at {where}"
    if f.address is not None:
        s += f", fault address 0x{f.address:08x}"
    if f.call_chain:
        s += ", called from " + " <- ".join(
            f"0x{a:08x}" + (f" {sym}" if sym else "") for a, sym in f.call_chain)
    if f.message:
        s += f" ({f.message})"
    return s


__all__ = ["build_record", "fault_line", "function_profile", "layer_profile", "call_tree"]
