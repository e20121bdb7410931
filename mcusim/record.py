"""The run record (DESIGN.md contract): one dict per run, written as JSON."""

from __future__ import annotations

from collections import defaultdict

from mcusim import nvic as N


def function_profile(m) -> list[dict]:
    """Exclusive cycles and instructions per function, from the block counts."""
    fw = getattr(m, "fw", None)
    per = defaultdict(lambda: [0, 0])
    for addr, _count, cyc, ins in m.coster.block_cycles():
        if not cyc and not ins:
            continue
        name = (fw.function_at(addr) if fw else None) or f"0x{addr:08x}"
        per[name][0] += cyc
        per[name][1] += ins
    if m.exception_cycles:
        per["[exception entry/exit]"][0] += m.exception_cycles
    tree = call_tree(m)
    incl = tree["inclusive"] if tree else {}
    calls = tree["calls"] if tree else {}
    rows = [{"name": k, "cycles": v[0], "instructions": v[1], "energy_j": None,
             "inclusive_cycles": incl.get(k), "calls": calls.get(k)}
            for k, v in per.items()]
    rows.sort(key=lambda r: (-r["cycles"], r["name"]))
    return rows


def call_tree(m) -> dict | None:
    """Inclusive and exclusive cycles per function from the call-tree profile, and the
    collapsed stacks (`a;b;c cycles`, the format flamegraph.pl and speedscope read)."""
    nodes = m.coster.profile_nodes()
    if not nodes:
        return None
    fw = getattr(m, "fw", None)

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
    root_name = (fw.function_at(getattr(m, "entry_pc", 0)) if fw else None) or "[reset]"
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


def layer_profile(m) -> list[dict]:
    rows = []
    for iv in m.simdev.layers:
        rows.append({"index": iv.index, "op": iv.op, "macs": iv.macs,
                     "cycles": (iv.end or iv.begin) - iv.begin, "energy_j": None,
                     "stalls": interval_causes(iv)})
    return rows


def stall_breakdown(m) -> dict:
    """Where the cycles went, exactly partitioning the run: core (the core timing model's
    issue cycles at zero wait states), branch (taken-branch refills), memory (flash wait
    states, accelerator and cache misses: the memory model; split into fetch/data when it
    ran in detailed mode), exception (entry/exit/tail-chain), bus (stalls behind other bus
    masters), sleep."""
    core, branch = m.coster.cause_snapshot()   # running totals kept by the block hook
    sleep = m.sleep_cycles + m.deepsleep_cycles
    bus = 0
    sysm = getattr(m, "system", None)
    if sysm is not None:
        bus = int(sysm.stats().get("cpu_stall_cycles", 0))
    memory = m.cycles - core - branch - m.exception_cycles - sleep - bus
    out = {"core": core, "branch": branch, "memory": memory,
           "exception": m.exception_cycles, "bus": bus, "sleep": sleep}
    mm = getattr(m, "memory_model", None)
    if mm is not None and m.mode == "detailed" and hasattr(mm, "stats"):
        out["memory_fetch"] = int(mm.stats.get("fetch_stall", 0))
        out["memory_data"] = int(mm.stats.get("data_stall", 0))
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


def memory_usage(m) -> dict:
    fw = getattr(m, "fw", None)
    flash = ram = 0
    if fw is not None:
        for seg in fw.segments:
            r, _ = m.region_at(seg.paddr)
            if r is not None and r.kind == "flash":
                flash += len(seg.data)
            rv, _ = m.region_at(seg.vaddr)
            if rv is not None and rv.kind != "flash":
                ram += seg.memsz
    return {"flash_bytes": flash or None, "ram_bytes": ram or None,
            "arena_bytes": m.simdev.arena_bytes, "stack_peak_bytes": getattr(m, "stack_peak", None)}


def build_record(m, *, profile: bool = True) -> dict:
    seconds = m.cycles_to_seconds(m.cycles)
    rec = {
        "mcu": m.mcu.name,
        "core": m.core.name,
        "clock_hz": m.clock_hz,
        "mode": m.mode,
        "outcome": m.outcome,
        "exit_code": m.exit_code,
        "cycles": m.cycles,
        "instructions": m.instructions,
        "seconds": seconds,
        "energy_j": None,
        "avg_power_w": None,
        "stdout": m.captured.decode("utf-8", "replace"),
        "fault": fault_dict(m.fault),
        "limit": m.limit_reason if m.outcome == "limit" else None,
        "functions": function_profile(m) if profile else [],
        "layers": layer_profile(m),
        "power_states": {
            "run": {"seconds": m.cycles_to_seconds(m.cycles) - (m.sleep_cycles + m.deepsleep_cycles) / m.clock_hz,
                    "energy_j": None},
            "sleep": {"seconds": m.sleep_cycles / m.clock_hz, "energy_j": None},
            "deepsleep": {"seconds": m.deepsleep_cycles / m.clock_hz, "energy_j": None},
        },
        "memory": memory_usage(m),
        "exceptions_taken": m.exceptions_taken,
        "stalls": stall_breakdown(m),
        "system": m.system.stats() if getattr(m, "system", None) is not None else None,
        "cpi": (m.cycles / m.instructions) if m.instructions else None,
        "runtime_error": ({"code": m.simdev.error, "arg": m.simdev.error_arg}
                          if m.simdev.error else None),
        "host_seconds": round(getattr(m, "host_seconds", 0.0), 3),
        "verify": m.verifier.summary() if getattr(m, "verifier", None) is not None else None,
    }
    return rec


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


__all__ = ["build_record", "fault_line", "function_profile", "layer_profile", "N"]
