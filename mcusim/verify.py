"""`--verify`: a differential oracle for every run (docs/correctness.md).

Timing, memory and power models must observe execution and never change it. To check it
on any firmware, the timed run (block hook, memory hooks, divide hooks, every model) is
shadowed by a second Unicorn CPU, the *reference*, with the same memory map and no timing
at all: no memory hooks, no code hooks, no timing block hook -- only a C block counter
that stops it after a given number of executed blocks.

Everything outside the CPU is replayed into the reference from the timed run, so the
comparison holds for firmware whose behaviour depends on time too:

* MMIO: the reference's peripheral windows return the values the timed run's devices
  returned, in order; its writes must match the timed run's writes (address, size, value).
* Changes the simulator makes to the CPU (exception entry and return, tail-chaining,
  faults, semihosting, bus masters writing memory) are events: the timed run records the
  registers before and after and the memory it wrote; the reference must reach the same
  event at the same block count with the same registers, then gets the same change.
* Checkpoints: at the end of every CPU slice (the machine's own slices end at the next
  scheduled event and at most every 4 M cycles) and at the end of the run, the reference
  is brought to the same block count and its registers and every byte of RAM (and flash
  at the end) are compared with the timed run's. A shorter `interval` ends slices more
  often, for a finer report; the run's cycles stay the same, but a fast-forwarded
  spin-wait on a status flag may then count a different number of skipped instructions.

The first difference stops the run (outcome "diverged", exit status 5) with a report:
where the two CPUs are, the instruction there, the registers and addresses that differ,
and the last checkpoint that agreed.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

from unicorn import (UC_ARCH_ARM, UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_INTR, UC_MODE_THUMB,
                     UC_PROT_ALL, UC_PROT_EXEC, UC_PROT_READ, Uc, UcError)
from unicorn import arm_const as A

from mcusim.cpu import CpuState

UNTIL = 0xFFFFFFFE
MAX_MEMORY_DIFFS = 8             # differing address ranges reported

# --------------------------------------------------------------------------- reports

@dataclass
class Divergence:
    """Where the timed run and the reference CPU first disagree."""
    what: str                      # one-line description
    kind: str                      # "checkpoint", "event", "mmio", "control flow"
    blocks: int                    # executed blocks (timed run) at the point of comparison
    cycles: int
    pc: int
    ref_pc: int | None = None
    symbol: str | None = None
    line: str | None = None
    instruction: str | None = None
    registers: dict = field(default_factory=dict)     # name -> (timed, reference)
    memory: list = field(default_factory=list)        # (address, timed hex, ref hex, symbol)
    last_good: dict | None = None                     # blocks, cycles, pc, symbol

    def to_dict(self) -> dict:
        return {"what": self.what, "kind": self.kind, "blocks": self.blocks,
                "cycles": self.cycles, "pc": self.pc, "ref_pc": self.ref_pc,
                "symbol": self.symbol, "line": self.line, "instruction": self.instruction,
                "registers": {k: list(v) for k, v in self.registers.items()},
                "memory": [{"address": a, "timed": t, "reference": r, "symbol": s}
                           for a, t, r, s in self.memory],
                "last_good": self.last_good}

    def line_text(self) -> str:
        where = f"pc=0x{self.pc:08x}"
        if self.symbol:
            where += f" in {self.symbol}"
        if self.line:
            where += f" ({self.line})"
        parts = [f"verify: {self.what} at {where}, block {self.blocks:,}, cycle {self.cycles:,}"]
        if self.instruction:
            parts.append(f"instruction {self.instruction}")
        if self.ref_pc is not None and self.ref_pc != self.pc:
            parts.append(f"reference at pc=0x{self.ref_pc:08x}")
        if self.registers:
            parts.append("registers " + ", ".join(
                f"{k} 0x{a:08x}!=0x{b:08x}" for k, a, b in
                ((k, v[0], v[1]) for k, v in list(self.registers.items())[:6])))
        if self.memory:
            a, t, r, s = self.memory[0]
            parts.append(f"memory at 0x{a:08x}{' (' + s + ')' if s else ''}: {t} != {r}"
                         + (f" (+{len(self.memory) - 1} more ranges)" if len(self.memory) > 1 else ""))
        if self.last_good:
            lg = self.last_good
            parts.append(f"last agreement at block {lg['blocks']:,}, pc=0x{lg['pc']:08x}"
                         + (f" in {lg['symbol']}" if lg.get("symbol") else ""))
        return "; ".join(parts)


class _Counter(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint64), ("target", ctypes.c_uint64),
                ("emu_stop", ctypes.c_void_p), ("stopped", ctypes.c_uint32),
                ("pad_", ctypes.c_uint32)]


class _PyCounter:
    """The same counter as a Python block hook (when no C compiler is available)."""

    def __init__(self):
        self.count = self.target = self.stopped = 0

    def hook(self, uc, addr, size, ud):
        if self.count >= self.target:
            self.stopped = 1
            uc.emu_stop()
            return
        self.count += 1


class _Event:
    __slots__ = ("kind", "intno", "blocks", "cycles", "before", "after", "writes", "mmio")

    def __init__(self, kind, intno, blocks, cycles, before, mmio):
        self.kind, self.intno, self.blocks, self.cycles = kind, intno, blocks, cycles
        self.before, self.after, self.writes, self.mmio = before, None, [], mmio


class _Change:
    def __init__(self, verifier, kind):
        self.v, self.kind = verifier, kind

    def __enter__(self):
        self.v.begin(self.kind)
        return self

    def __exit__(self, *exc):
        self.v.end()
        return False


class _Diverged(Exception):
    def __init__(self, d: Divergence):
        self.d = d


# --------------------------------------------------------------------------- verifier

class Verifier:
    """Shadows a Machine's run with a hook-free reference CPU (see the module docstring).
    Attach before `Machine.run()`; `divergence` is None when the runs agree."""

    def __init__(self, machine, interval: int | None = None):
        from mcusim.machine import UC_CPUS
        self.m = machine
        self.interval = max(1, int(interval)) if interval else None
        self.state = CpuState(machine.v6m, machine.has_fpu)
        self.ref = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=UC_CPUS[machine.core.unicorn_cpu])
        self.divergence: Divergence | None = None
        self.events: list[_Event] = []
        self.checkpoints = 0
        self.events_seen = 0
        self.mmio_checked = 0
        self._depth = 0
        self._cur: _Event | None = None
        self._log: list = []
        self._pos = 0
        self._stop = None
        self._mmio_error: str | None = None
        self._code_hooks: list = []
        self._last_good = None
        self._map()
        self._hooks()
        machine.verifier = self
        machine.memory.mmio_log = self._log
        machine.memory.write_observers.append(self.host_wrote)
        if self.interval:
            machine.slice_cycles = min(machine.slice_cycles, self.interval)
        self.host_seconds = 0.0

    # ------------------------------------------------------------------ set-up
    def _map(self) -> None:
        m, ref = self.m, self.ref
        self.buffers: dict[str, ctypes.Array] = {}
        self.pairs = []                      # (region, timed buffer, reference buffer)
        for lo, hi, r in m.memory.regions:
            buf = self.buffers.get(r.name)
            if buf is None:
                buf = self.buffers[r.name] = ctypes.create_string_buffer(r.size)
                self.pairs.append((r, m.memory.buffers[r.name], buf, lo))
            perms = UC_PROT_READ | UC_PROT_EXEC if r.access == "rx" else UC_PROT_ALL
            ref.mem_map_ptr(lo, r.size, perms, ctypes.addressof(buf))
        for base, size in m.memory.mmio_ranges:
            ref.mmio_map(base, size, self._mmio_read, base, self._mmio_write, base)

    def _hooks(self) -> None:
        from mcusim.timing.blocks import native_library
        ref = self.ref
        ref.hook_add(UC_HOOK_INTR, self._intr)
        lib = native_library()
        if lib is not None and hasattr(lib, "mcusim_count_hook"):
            from unicorn.unicorn_py3.unicorn import uclib
            self.counter = _Counter()
            self.counter.emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
            self._hh = ctypes.c_size_t()
            fn = ctypes.cast(lib.mcusim_count_hook, ctypes.c_void_p)
            err = uclib.uc_hook_add(ref._uch, ctypes.byref(self._hh), UC_HOOK_BLOCK, fn,
                                    ctypes.cast(ctypes.pointer(self.counter), ctypes.c_void_p),
                                    ctypes.c_uint64(1), ctypes.c_uint64(0))
            if err:
                raise RuntimeError(f"uc_hook_add failed ({err})")
        else:
            self.counter = _PyCounter()
            ref.hook_add(UC_HOOK_BLOCK, self.counter.hook)

    def start(self) -> None:
        """Copy the timed machine's memory and registers (after load and reset)."""
        for _r, tb, rb, _lo in self.pairs:
            ctypes.memmove(rb, tb, len(tb))
        st = list(self.state.read(self.m.uc))
        st[self.state.index["pc"]] = self.m.cpu.pc
        self.state.write(self.ref, tuple(st))
        self.pc = self.m.cpu.pc
        self.counter.count = self.m.coster.nexec
        self._last_good = self._where(self.m.coster.nexec, self.m.cycles, self.m.cpu.pc)

    # ------------------------------------------------------------------ timed side
    def change(self, kind: str) -> _Change:
        return _Change(self, kind)

    def begin(self, kind: str, intno: int | None = None) -> None:
        self._depth += 1
        if self._depth > 1:
            return
        m = self.m
        before = self.state.read(m.uc)
        self._cur = _Event(kind, intno, m.coster.nexec, m.cycles, before, len(self._log))

    def end(self) -> None:
        self._depth -= 1
        if self._depth:
            return
        ev, self._cur = self._cur, None
        ev.after = self.state.read(self.m.uc)
        if ev.kind == "host" and ev.before == ev.after and not ev.writes:
            return
        self.events.append(ev)

    def host_wrote(self, addr: int, data: bytes) -> None:
        if self._cur is not None:
            self._cur.writes.append((addr, data))
        else:                                   # a bus master between slices
            m = self.m
            ev = _Event("write", None, m.coster.nexec, m.cycles, None, len(self._log))
            ev.writes.append((addr, data))
            self.events.append(ev)

    def after_slice(self) -> bool:
        """Bring the reference to where the timed CPU is and compare. True on divergence
        (the machine's outcome is then "diverged")."""
        if self.divergence is not None:
            return True
        import time
        t0 = time.perf_counter()
        try:
            self._replay()
            self._checkpoint(final=False)
        except _Diverged as e:
            self._diverged(e.d)
        finally:
            self.host_seconds += time.perf_counter() - t0
        return self.divergence is not None

    def finish(self) -> None:
        if self.divergence is not None:
            return
        import time
        t0 = time.perf_counter()
        try:
            self._replay()
            self._checkpoint(final=True)
        except _Diverged as e:
            self._diverged(e.d)
        finally:
            self.host_seconds += time.perf_counter() - t0

    def _diverged(self, d: Divergence) -> None:
        self.divergence = d
        self.m.diverge()

    # ------------------------------------------------------------------ reference side
    def _mmio_read(self, uc, off, size, base):
        addr = base + off
        e = self._next_mmio(False, addr, size, None)
        return 0 if e is None else e[3]

    def _mmio_write(self, uc, off, size, value, base):
        self._next_mmio(True, base + off, size, value)

    def _next_mmio(self, write, addr, size, value):
        if self._mmio_error is not None:
            return None
        log, pos = self._log, self._pos
        kind = "write" if write else "read"
        if pos >= len(log):
            self._mmio_error = (f"the reference CPU made an MMIO {kind} of 0x{addr:08x} that "
                                "the timed run did not make")
            self.ref.emu_stop()
            return None
        e = log[pos]
        if e[0] != write or e[1] != addr or e[2] != size or (write and e[3] != value):
            tk = "write" if e[0] else "read"
            self._mmio_error = (
                f"MMIO accesses differ: the timed run made a {e[2]}-byte {tk} of 0x{e[1]:08x}"
                + (f" (value 0x{e[3]:x})" if e[0] else "")
                + f", the reference CPU a {size}-byte {kind} of 0x{addr:08x}"
                + (f" (value 0x{value:x})" if write else ""))
            self.ref.emu_stop()
            return None
        self._pos = pos + 1
        self.mmio_checked += 1
        return e

    def _intr(self, uc, intno, ud):
        self._stop = ("intr", intno)
        uc.emu_stop()

    def _run_to(self, target: int) -> tuple:
        """Run the reference until it has executed `target` blocks, or stops by itself
        (interrupt/exception, an emulation error, an MMIO mismatch)."""
        c = self.counter
        ref = self.ref
        while True:
            if c.count > target:
                return ("ahead",)
            c.target = target
            c.stopped = 0
            self._stop = None
            try:
                ref.emu_start(self.pc | 1, UNTIL)
            except UcError as e:
                self._stop = ("uerr", e.errno)
            self.pc = ref.reg_read(A.UC_ARM_REG_PC)
            if self._mmio_error is not None:
                return ("mmio",)
            if self._stop is not None:
                return self._stop
            if c.stopped:
                return ("count",)
            # emu_start returned by itself: WFI/WFE; the timed run went on from here too
            if c.count >= target:
                return ("ret",)

    def _replay(self) -> None:
        events, self.events = self.events, []
        for ev in events:
            self.events_seen += 1
            if ev.kind == "code":
                self._code_stop(ev)
            stop = self._run_to(ev.blocks)
            self._remove_code_hooks()
            self._expect(ev, stop)
            if ev.before is not None:
                ref_state = self.state.read(self.ref)
                if ref_state != ev.before:
                    raise _Diverged(self._report(
                        "registers differ before " + _EVENT_NAMES.get(ev.kind, ev.kind),
                        "event", ev.blocks, ev.cycles, ev.before, ref_state))
            for addr, data in ev.writes:
                self.ref.mem_write(addr, data)
            if ev.after is not None:
                self.state.write(self.ref, ev.after)
                self.pc = ev.after[self.state.index["pc"]] & ~1

    def _expect(self, ev: _Event, stop: tuple) -> None:
        if stop[0] == "mmio":
            raise _Diverged(self._report(self._mmio_error, "mmio", ev.blocks, ev.cycles,
                                         ev.before, None))
        c = self.counter.count
        ok = False
        if ev.kind == "intr":
            ok = stop[0] == "intr" and stop[1] == ev.intno and c == ev.blocks
        elif ev.kind == "uerr":
            ok = stop[0] == "uerr" and c == ev.blocks
        elif ev.kind == "code":
            ok = stop[0] == "code" and c == ev.blocks
        else:      # between slices: at a block boundary, or parked by WFI / an earlier event
            ok = stop[0] in ("count", "ret") and c == ev.blocks
        if not ok:
            got = {"intr": f"an exception (intno {stop[1] if len(stop) > 1 else '?'})",
                   "uerr": "an emulation error", "count": "the block count",
                   "ret": "a WFI/WFE", "ahead": "a later block", "code": "a divide"}.get(stop[0], stop[0])
            want = _EVENT_NAMES.get(ev.kind, ev.kind)
            raise _Diverged(self._report(
                f"control flow differs: the timed run reached {want} after {ev.blocks:,} "
                f"blocks, the reference CPU reached {got} after {c:,}",
                "control flow", ev.blocks, ev.cycles, ev.before, None))
        if self._pos != ev.mmio:
            raise _Diverged(self._report(
                f"MMIO accesses differ: since the last checkpoint the timed run made {ev.mmio} "
                f"before this point, the reference CPU {self._pos}",
                "mmio", ev.blocks, ev.cycles, ev.before, None))

    def _code_stop(self, ev: _Event) -> None:
        pc = ev.before[self.state.index["pc"]] & ~1
        target = ev.blocks

        def hook(uc, address, size, ud):
            if self.counter.count == target:
                self._stop = ("code",)
                uc.emu_stop()

        self._code_hooks.append(self.ref.hook_add(UC_HOOK_CODE, hook, begin=pc, end=pc))
        self.ref.ctl_remove_cache(pc, pc + 4)

    def _remove_code_hooks(self) -> None:
        for h in self._code_hooks:
            self.ref.hook_del(h)
        if self._code_hooks:
            self.ref.ctl_flush_tb()
        self._code_hooks = []

    def _checkpoint(self, final: bool) -> None:
        m = self.m
        n = m.coster.nexec
        stop = self._run_to(n)
        if stop[0] == "mmio" or stop[0] not in ("count", "ret") or self.counter.count != n:
            if stop[0] == "mmio":
                what = self._mmio_error
                kind = "mmio"
            else:
                what = (f"control flow differs: the reference CPU stopped at "
                        f"{stop[0]} after {self.counter.count:,} blocks, the timed run "
                        f"was at a checkpoint after {n:,}")
                kind = "control flow"
            raise _Diverged(self._report(what, kind, n, m.cycles, self._timed_state(), None))
        if self._pos != len(self._log):
            raise _Diverged(self._report(
                f"MMIO accesses differ: the timed run made {len(self._log) - self._pos} more "
                "than the reference CPU", "mmio", n, m.cycles, self._timed_state(), None))
        timed = self._timed_state()
        ref_state = self.state.read(self.ref)
        mem = self._memory_diffs(final)
        if timed != ref_state or mem:
            raise _Diverged(self._report("the reference CPU computed a different state",
                                         "checkpoint", n, m.cycles, timed, ref_state, mem))
        self.checkpoints += 1
        self._last_good = self._where(n, m.cycles, m.cpu.pc)
        self._log.clear()
        self._pos = 0

    def _timed_state(self) -> tuple:
        st = list(self.state.read(self.m.uc))
        st[self.state.index["pc"]] = self.m.cpu.pc
        return tuple(st)

    def _memory_diffs(self, final: bool) -> list:
        out = []
        for r, tb, rb, lo in self.pairs:
            if r.access == "rx" and not final:
                continue
            if _memcmp(tb, rb):
                out += _ranges(tb, rb, lo, MAX_MEMORY_DIFFS - len(out))
                if len(out) >= MAX_MEMORY_DIFFS:
                    break
        fw = getattr(self.m, "fw", None)
        return [(a, t, r, fw.symbol_at(a) if fw is not None and hasattr(fw, "symbol_at") else None)
                for a, t, r in out]

    # ------------------------------------------------------------------ reports
    def _where(self, blocks, cycles, pc) -> dict:
        fw = getattr(self.m, "fw", None)
        return {"blocks": blocks, "cycles": cycles, "pc": pc,
                "symbol": fw.function_at(pc) if fw is not None else None}

    def _report(self, what, kind, blocks, cycles, timed, ref, mem=()) -> Divergence:
        st = self.state
        pc = timed[st.index["pc"]] & ~1 if timed is not None else self.m.cpu.pc
        ref_pc = self.pc
        fw = getattr(self.m, "fw", None)
        d = Divergence(what=what, kind=kind, blocks=blocks, cycles=cycles, pc=pc,
                       ref_pc=ref_pc, last_good=self._last_good, memory=list(mem))
        if fw is not None:
            d.symbol = fw.function_at(pc)
            d.line = fw.line_at(pc)
        d.instruction = _disassemble(self.m.uc, pc)
        if timed is not None and ref is not None:
            d.registers = st.diff(timed, ref)
        return d

    def summary(self) -> dict:
        return {"result": "diverged" if self.divergence else "agree",
                "checkpoints": self.checkpoints, "events": self.events_seen,
                "mmio_accesses": self.mmio_checked, "interval_cycles": self.interval,
                "host_seconds": round(self.host_seconds, 3),
                "divergence": self.divergence.to_dict() if self.divergence else None}


_EVENT_NAMES = {"intr": "an exception or semihosting call", "uerr": "a memory or decode fault",
                "code": "a divide-by-zero trap", "host": "a change by the simulator",
                "write": "a write by a bus master"}

_libc = None


def _memcmp(a, b) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None)
        _libc.memcmp.restype = ctypes.c_int
        _libc.memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    return _libc.memcmp(ctypes.addressof(a), ctypes.addressof(b), len(a))


def _ranges(tb, rb, base: int, limit: int) -> list:
    import numpy as np
    x = np.frombuffer(tb, dtype=np.uint8)
    y = np.frombuffer(rb, dtype=np.uint8)
    idx = np.flatnonzero(x != y)
    out = []
    i = 0
    while i < len(idx) and len(out) < limit:
        start = int(idx[i])
        j = i
        while j + 1 < len(idx) and idx[j + 1] - idx[j] <= 4 and idx[j + 1] - start < 16:
            j += 1
        end = int(idx[j]) + 1
        out.append((base + start, bytes(x[start:end]).hex(), bytes(y[start:end]).hex()))
        i = j + 1
    return out


def _disassemble(uc, pc: int) -> str | None:
    try:
        import capstone
        md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        code = bytes(uc.mem_read(pc, 4))
        for ins in md.disasm(code, pc):
            return f"{ins.mnemonic} {ins.op_str}".strip()
    except (UcError, ImportError):
        return None
    return None


def attach(machine, interval: int | None = None) -> Verifier:
    """Shadow `machine`'s run with a reference CPU. Call after load() and reset()."""
    v = Verifier(machine, interval)
    v.start()
    return v
