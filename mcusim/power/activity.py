"""Activity events of a run, for the energy model's per-event energies (docs/power.md).

The events (:data:`mcusim.schema.ACTIVITY_EVENTS`) and where their counts come from:

* ``fetch_word`` -- 32-bit words of code the core executes: each executed block's bytes / 4
  x its executions (static per block, exact in both fidelity modes). The core fetches whole
  words; a word holding two 16-bit instructions counts once, a block edge at a half word
  counts the half.
* ``data_read``, ``data_write`` -- the core's data accesses in 32-bit words, from each
  block's loads and stores as the core timing model counts them (``BlockCost.n_loads`` /
  ``n_stores``: LDM/POP/PUSH each register, LDRD/VLDR.64 two) x executions: exact in both
  modes, whatever memory they reach (SRAM, the flash accelerator's lines, peripherals).
* ``flash_read_through`` / ``flash_read_around`` -- flash reads that fill the flash
  accelerator or an instruction cache / that bypass them, and ``cache_fill`` /
  ``cache_writeback`` -- line fills (Cortex-M7 L1 caches, the U5 ICACHE) and write-backs:
  from the memory model's statistics (``RunTrace.memory_stats``). In ``detailed`` mode
  these are exact. In ``fast`` mode the memory model sees accesses only inside its sampling
  windows, so a count is scaled by ``cycles / sampled cycles`` (an estimate) unless the
  memory model reports ``counts = "exact"``.
* ``bus_byte`` -- bytes moved by other bus masters (the SimPy bus statistics).

Counts are floats when scaled. :func:`run_counts` gives the run's counts from its trace;
:class:`Meter` takes snapshots at the edges of an interval (an inference window) while the
machine runs and returns the interval's counts.
"""

from __future__ import annotations

from typing import Any

from mcusim.schema import ACTIVITY_EVENTS

__all__ = ["ACTIVITY_EVENTS", "Meter", "run_counts", "BlockProfiles", "memory_counts"]

# memory-model statistics -> events (RunTrace.memory_stats / MemoryModel.summary())
_FILLS = ("l1_i_fills", "l1_d_fills", "st_icache_fills")
_WRITEBACKS = ("l1_i_writebacks", "l1_d_writebacks", "st_icache_writebacks")


class BlockProfiles:
    """Static events of one execution of a block: (fetch words, data reads, data writes),
    from the core timing model's decoding, cached per (address, bytes)."""

    def __init__(self, timing):
        self.timing = timing           # mcusim.timing.core.CoreTiming
        self._cache: dict = {}
        # the C port of the same decoding (mcusim/timing/native.py; the same n_loads /
        # n_stores, tests/test_native_classify.py), when the native library is available
        self._cl = None
        try:
            from mcusim.timing.blocks import native_library
            from mcusim.timing.native import classifier_for
            self._cl = classifier_for(native_library(), timing)
        except Exception:              # no compiler / no capstone headers: the Python path
            self._cl = None

    def of_code(self, addr: int, code: bytes) -> tuple[float, int, int]:
        key = (addr, code)
        p = self._cache.get(key)
        if p is None:
            r = self._cl.block(code, addr) if self._cl is not None else None
            if r is not None:
                p = (len(code) / 4.0, r.n_loads, r.n_stores)
            else:
                bc = self.timing.block_cost(code, addr)
                p = (len(code) / 4.0, bc.n_loads, bc.n_stores)
            self._cache[key] = p
        return p

    def of_instructions(self, addr: int, ninsn: int, read) -> tuple[float, int, int] | None:
        """The profile of the block of ``ninsn`` instructions at ``addr``, its bytes read
        with ``read(addr, n) -> bytes | None`` (None: not readable)."""
        key = (addr, ninsn)
        p = self._cache.get(key)
        if p is not None:
            return p
        raw = read(addr, 4 * ninsn)
        if raw is None:
            return None
        ins = self.timing.decode(raw, addr)[:ninsn]
        if len(ins) < ninsn or any(x.cls == "unknown" for x in ins):
            return None
        size = sum(x.size for x in ins)
        p = self._cache[key] = self.of_code(addr, bytes(raw[:size]))
        return p


def _add_blocks(out: dict, prof, n: float) -> None:
    out["fetch_word"] += prof[0] * n
    out["data_read"] += prof[1] * n
    out["data_write"] += prof[2] * n


def _empty() -> dict:
    return {e: 0 for e in ACTIVITY_EVENTS}


def _mem_events(ms: dict) -> dict:
    return {"flash_read_through": ms.get("flash_reads_through", 0),
            "flash_read_around": ms.get("flash_reads_around", 0),
            "cache_fill": sum(ms.get(k, 0) for k in _FILLS),
            "cache_writeback": sum(ms.get(k, 0) for k in _WRITEBACKS)}


def _sampled(ms: dict, mode: str) -> bool:
    """Do the memory model's counts cover only its sampling windows?"""
    if ms.get("counts") == "exact" or mode == "detailed":
        return False
    return True


def memory_counts(ms: dict, mode: str, cycles: int) -> dict:
    """The memory-side events of a run from its memory statistics (scaled from the
    sampling windows to the run in fast mode)."""
    ev = _mem_events(ms or {})
    if not ms or not _sampled(ms, mode):
        return ev
    wc = ms.get("window_cycles", 0)
    if not wc:
        # no sampling window has closed: the first one (from cycle 0) is still open and
        # has seen everything, or no window ran and nothing was seen
        return ev if ms.get("windows", 0) else {e: 0 for e in ev}
    return {e: n * cycles / wc for e, n in ev.items()}


def _bus_bytes(system_stats: dict | None) -> int:
    masters = (system_stats or {}).get("masters") or {}
    return sum(int(m.get("bytes", 0)) for m in masters.values() if isinstance(m, dict))


def run_counts(t) -> dict | None:
    """A finished run's activity counts from its trace (None: nothing to count). The run's
    own record (``RunTrace.activity``) is used when the machine computed it."""
    own = getattr(t, "activity", None)
    if own is not None:
        return dict(own)
    return trace_counts(t)


def trace_counts(t) -> dict | None:
    """The counts computed from a trace alone: its blocks decoded from the firmware's
    bytes (code outside the ELF is not counted), its memory and bus statistics."""
    fw = t.firmware
    if fw is None or not t.blocks:
        return None
    from mcusim.timing.core import CoreTiming
    timing = t.mcu.core.timing
    if timing is None:
        return None
    profiles = BlockProfiles(CoreTiming(t.mcu.core))

    def read(addr: int, n: int):
        for s in fw.segments:
            if s.vaddr <= addr < s.vaddr + len(s.data):
                return bytes(s.data[addr - s.vaddr:addr - s.vaddr + n])
        return None

    out = _empty()
    for addr, n, _cyc, insns in t.blocks:
        if not n:
            continue
        p = profiles.of_instructions(addr, insns // n, read)
        if p is not None:
            _add_blocks(out, p, n)
    out.update(memory_counts(t.memory_stats, t.mode, t.cycles))
    out["bus_byte"] = _bus_bytes(t.system_stats)
    return out


class Meter:
    """Snapshots of a running machine's activity, for intervals (inference windows,
    layers): ``s = meter.snapshot()`` at the start, ``meter.since(s)`` at the end gives
    the interval's counts. Reads the coster's running totals of the core timing model's
    per-block counts (code bytes, data words loaded and stored, summed over executions:
    ``BlockCoster.activity``), the memory model's statistics and the bus's."""

    def __init__(self, machine):
        self.m = machine
        # block events need the core timing model's decoding (the coster's own)
        self.counts_blocks = machine.coster.timing is not None

    def _memory(self) -> dict:
        mm = self.m.memory_model
        if mm is None:
            return {}
        return mm.summary() if hasattr(mm, "summary") else dict(mm.stats)

    def snapshot(self) -> tuple:
        m = self.m
        blocks = m.coster.activity() if self.counts_blocks else (0, 0, 0)
        sysst = m.system.stats() if getattr(m, "system", None) is not None else None
        return (m.now_precise(), blocks, self._memory(), _bus_bytes(sysst))

    def since(self, snap: tuple) -> dict:
        """The counts of the interval from ``snap`` to now."""
        m = self.m
        c0, blk0, mem0, bus0 = snap
        now = self.snapshot()
        c1, blk1, mem1, bus1 = now
        out = _empty()
        out["fetch_word"] = (blk1[0] - blk0[0]) / 4.0
        out["data_read"] = blk1[1] - blk0[1]
        out["data_write"] = blk1[2] - blk0[2]
        ev1, ev0 = _mem_events(mem1), _mem_events(mem0)
        d = {e: ev1[e] - ev0.get(e, 0) for e in ev1}
        if mem1 and _sampled(mem1, m.mode):
            dw = mem1.get("window_cycles", 0) - mem0.get("window_cycles", 0)
            if dw > 0:
                d = {e: n * (c1 - c0) / dw for e, n in d.items()}
            elif mem1.get("window_cycles"):     # no window closed inside: the rate so far
                d = memory_counts(mem1, m.mode, c1 - c0)
            # else: still inside the first window, which has seen everything: d as counted
        out.update(d)
        out["bus_byte"] = bus1 - bus0
        return out

    def total(self) -> dict:
        """The counts of the whole run so far."""
        out = self.since((0, (0, 0, 0), {}, 0))
        out.update(memory_counts(self._memory(), self.m.mode, self.m.cycles))
        return out


def as_floats(counts: dict[str, Any] | None) -> dict | None:
    """Counts for a JSON record (ints stay ints)."""
    if counts is None:
        return None
    return {k: (int(v) if float(v).is_integer() else float(v)) for k, v in counts.items()}
