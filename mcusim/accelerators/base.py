"""The accelerator plugin API (docs/accelerators.md has the tutorial).

A plugin is a Python class, a subclass of :class:`Accelerator`, named in an MCU file:

    [[accelerators]]
    type = "mypackage.mymodule:MyEngine"    # any importable class
    base = 0xE0102000                       # its register window (memory-mapped plugins)
    irq = 93                                # its interrupt line (optional)
    [accelerators.params]
    macs_per_cycle = 64                     # the class's own, typed parameters

What the class declares, as data:

* ``Params`` -- its parameters: a frozen dataclass extending :class:`AcceleratorParams`,
  each field declared with :func:`mcusim.schema.param` (kind, default, range, doc; the unit
  comes from the key name: ``clock_mhz``, ``energy_per_mac_pj``). The catalog loader
  validates them like every other catalog value (unknown keys, types, ranges are one-line
  errors, exit status 2); ``self.params`` is the typed instance.
* ``registers`` -- its register map: :class:`Register` rows (name, offset, access, reset
  value, doc). Firmware reads and writes them through the MMIO window at ``base``;
  ``self.regs.NAME`` is the value as the model sees it. Optional methods ``read_NAME()``
  (a live value) and ``write_NAME(value)`` (after a firmware write) give them behaviour.
* ``coprocessor`` and methods decorated with :func:`instruction` -- custom instructions
  (tightly coupled): coprocessor instructions MCR/MRC/MCRR/MRRC/CDP on coprocessor 0-7,
  executed by a Python function when the core traps them, with a latency in cycles that
  the timing model charges (mcusim/accelerators/coprocessor.py).

Its behaviour is SimPy processes (generator methods) started with ``self.start(gen)``
(from the cycle of the MMIO access that started them). Inside one:

* ``data = yield from self.bus_read(addr, n)`` / ``yield from self.bus_write(addr, data)``
  -- it is a bus master: bursts on the shared bus (contending with the CPU and the DMA
  engine: mcusim/system.py), its port ``params.bus_width_bytes`` wide; flash pays its
  wait states. Data are read and written at each burst's completion cycle.
* ``yield from self.compute(cycles, ops=n)`` -- busy for ``cycles`` of its own clock
  (``params.clock_mhz``; absent: the core clock), counting ``n`` operations.
* ``self.local_read(off, n)`` / ``self.local_write(off, data)`` -- its private local
  memory (``local_bytes`` class attribute), free of bus time, counted for energy.
* ``self.raise_irq()`` -- pend its interrupt line (if the catalog gave one).

Energy (``AcceleratorParams``): ``idle_power_mw`` while no process runs, ``active_power_mw``
while one does, ``energy_per_op_pj`` per counted operation (custom instructions: per
execution), ``energy_per_byte_pj`` per byte it moves over the bus (the memory side) and
``local_energy_per_byte_pj`` per byte of its local memory. mcusim/accelerators/energy.py
turns the counters into joules per run, per layer and per inference window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from mcusim.schema import BOOL, FLOAT, HEXINT, INT, MAX_CLOCK_MHZ, STR, Spec, param  # noqa: F401
from mcusim.system import BusMaster

ACCESS = ("r", "rw", "w", "w1c")

__all__ = ["Accelerator", "AcceleratorParams", "Register", "instruction", "param", "INT",
           "FLOAT", "BOOL", "STR", "HEXINT"]


@dataclass(frozen=True, kw_only=True)
class AcceleratorParams(Spec):
    """Parameters every accelerator has; a plugin's ``Params`` extends this class."""
    clock_mhz: float | None = param(FLOAT, None, "its clock; absent: the core clock", gt=0,
                                    max=MAX_CLOCK_MHZ, default_doc="the core clock")
    bus_width_bytes: int = param(INT, 4, "width of its bus port: bytes per bus beat",
                                 choices=(1, 2, 4, 8, 16, 32, 64))
    idle_power_mw: float = param(FLOAT, 0.0, "power while none of its processes runs",
                                 min=0, max=1e5)
    active_power_mw: float = param(FLOAT, 0.0, "power while a process runs (instead of "
                                   "idle_power_mw)", min=0, max=1e5)
    energy_per_op_pj: float = param(FLOAT, 0.0, "energy per operation it counts (a MAC; a "
                                    "custom instruction's execution)", min=0, max=1e9)
    energy_per_byte_pj: float = param(FLOAT, 0.0, "energy per byte it moves over the bus "
                                      "(memory and interconnect)", min=0, max=1e9)
    local_energy_per_byte_pj: float = param(FLOAT, 0.0, "energy per byte of its local "
                                            "memory read or written", min=0, max=1e9)


@dataclass(frozen=True)
class Register:
    """One register of a plugin's register map (32-bit, word offsets).

    access: ``r`` read-only (firmware writes are ignored), ``rw``, ``w`` write-only (reads
    0), ``w1c`` (firmware writes 1 to clear bits; the model sets them)."""
    name: str
    offset: int
    access: str = "rw"
    reset: int = 0
    doc: str = ""

    def __post_init__(self):
        if self.access not in ACCESS:
            raise ValueError(f"register {self.name}: access {self.access!r} is not one of "
                             f"{', '.join(ACCESS)}")
        if self.offset % 4 or self.offset < 0:
            raise ValueError(f"register {self.name}: offset {self.offset:#x} is not a "
                             "multiple of 4")


class RegisterFile:
    """The register values of one accelerator: ``regs.NAME`` reads and writes them (as
    the model, bypassing the access rules)."""

    def __init__(self, registers):
        object.__setattr__(self, "_by_name", {r.name: r for r in registers})
        object.__setattr__(self, "_v", {r.name: r.reset & 0xFFFFFFFF for r in registers})

    def __getattr__(self, name):
        try:
            return self._v[name]
        except KeyError:
            raise AttributeError(f"no register {name!r}") from None

    def __setattr__(self, name, value):
        if name not in self._v:
            raise AttributeError(f"no register {name!r}")
        self._v[name] = int(value) & 0xFFFFFFFF

    def as_dict(self) -> dict:
        return dict(self._v)


@dataclass(frozen=True)
class InstructionSpec:
    """A custom instruction: which coprocessor encodings it takes and what it costs."""
    kind: str                   # mcr, mrc, mcrr, mrrc, cdp (the *2 forms: mcr2, ...)
    opc1: int | None
    opc2: int | None
    crn: int | None
    crm: int | None
    latency: Any                # cycles: an int, a Params field name, or f(self) -> int
    energy_pj: Any              # per execution: None (params.energy_per_op_pj), a number,
    #                             a Params field name or f(self) -> float
    method: str = ""
    doc: str = ""


KINDS = ("mcr", "mrc", "mcrr", "mrrc", "cdp", "mcr2", "mrc2", "mcrr2", "mrrc2", "cdp2")


def instruction(kind: str, *, opc1: int | None = None, opc2: int | None = None,
                crn: int | None = None, crm: int | None = None, latency: Any = 1,
                energy_pj: Any = None):
    """Decorate an accelerator method as the semantics of a custom instruction.

    ``kind``: mcr (core -> coprocessor: ``f(self, value, insn)``), mrc (coprocessor ->
    core: ``f(self, insn) -> int``), mcrr (``f(self, value, value2, insn)``), mrrc
    (``f(self, insn) -> (int, int)``), cdp (``f(self, insn)``); opc1/opc2/crn/crm select the
    encodings it takes (None: any); ``insn`` has the decoded fields (kind, coproc, opc1,
    opc2, crn, crm, crd, rt, rt2). ``latency``: issue cycles the timing model charges (an
    int, the name of a Params field, or ``f(self)``); ``energy_pj``: energy per execution
    (default ``params.energy_per_op_pj``)."""
    if kind not in KINDS:
        raise ValueError(f"instruction kind {kind!r} is not one of {', '.join(KINDS)}")

    def deco(fn):
        fn.__mcusim_instruction__ = InstructionSpec(kind, opc1, opc2, crn, crm, latency,
                                                    energy_pj, fn.__name__,
                                                    (fn.__doc__ or "").strip())
        return fn
    return deco


@dataclass
class Counters:
    """What an accelerator did so far (energy and reports are differences of these)."""
    active_cycles: float = 0.0     # core cycles during which one of its processes ran
    compute_cycles: float = 0.0    # core cycles of compute()
    ops: int = 0                   # operations counted (MACs, instructions)
    bus_bytes: int = 0             # bytes moved over the bus
    bus_cycles: int = 0            # bus cycles its transactions held the bus
    local_bytes: int = 0           # bytes of local memory read or written
    op_energy_pj: float = 0.0      # energy of counted operations
    jobs: int = 0                  # processes started

    def minus(self, o: "Counters") -> "Counters":
        return Counters(*(a - b for a, b in zip(self.astuple(), o.astuple())))

    def astuple(self) -> tuple:
        return (self.active_cycles, self.compute_cycles, self.ops, self.bus_bytes,
                self.bus_cycles, self.local_bytes, self.op_energy_pj, self.jobs)


class Accelerator(BusMaster):
    """Base of accelerator plugins (see the module docstring)."""

    Params = AcceleratorParams
    registers: tuple = ()
    window_bytes: int | None = None      # its MMIO window (default 4 KB when it has registers)
    coprocessor: int | None = None       # default coprocessor number of its instructions
    local_bytes: int = 0                 # private local memory (bytes), or a Params field name
    kind = "accelerator"                 # what reports call it

    # ------------------------------------------------------------------ declarations
    @classmethod
    def window_size(cls) -> int:
        if cls.window_bytes is not None:
            return int(cls.window_bytes)
        if not cls.registers:
            return 0
        end = max(r.offset for r in cls.registers) + 4
        return max(0x1000, -(-end // 0x1000) * 0x1000)

    @classmethod
    def instructions(cls) -> list[InstructionSpec]:
        out = []
        for name in dir(cls):
            fn = getattr(cls, name, None)
            spec = getattr(fn, "__mcusim_instruction__", None)
            if spec is not None:
                out.append(spec)
        return out

    @classmethod
    def register_map(cls) -> list[Register]:
        return sorted(cls.registers, key=lambda r: r.offset)

    @classmethod
    def offset_of(cls, name: str) -> int | None:
        for r in cls.registers:
            if r.name == name:
                return r.offset
        return None

    # ------------------------------------------------------------------ life
    def __init__(self, system, spec):
        """Built by the machine (mcusim/accelerators/attach.py) from its catalog entry;
        plugins override `setup()` instead of this."""
        BusMaster.__init__(self, system, spec.name)
        self.spec = spec
        self.name = spec.name
        self.base = spec.base
        self.irq = spec.irq
        self.params = spec.params
        self.regs = RegisterFile(self.registers)
        self._by_offset = {r.offset: r for r in self.registers}
        lb = self.local_bytes
        self.local_size = int(getattr(self.params, lb) if isinstance(lb, str) else lb)
        self.local = bytearray(self.local_size)
        self.counters = Counters()
        self._running = 0
        self._active_since = 0
        self.log: list[dict] = []            # rows the plugin adds (reports)
        self.processes: list[tuple] = []     # (start, end) cycles of each finished process
        self.setup()

    def setup(self) -> None:
        """Plugin initialisation (after params, registers and local memory exist)."""

    # ------------------------------------------------------------------ MMIO
    def read(self, off: int, size: int) -> int:
        w = self._read_word(off & ~3)
        return (w >> ((off & 3) * 8)) & ((1 << (size * 8)) - 1)

    def write(self, off: int, size: int, value: int) -> None:
        if size == 4:
            self._write_word(off & ~3, value & 0xFFFFFFFF, 0xFFFFFFFF)
        else:
            shift = (off & 3) * 8
            mask = ((1 << (size * 8)) - 1) << shift
            self._write_word(off & ~3, (value << shift) & mask, mask)

    def _read_word(self, off: int) -> int:
        r = self._by_offset.get(off)
        if r is None or r.access == "w":
            return 0
        fn = getattr(self, "read_" + r.name, None)
        if fn is not None:
            return int(fn()) & 0xFFFFFFFF
        return getattr(self.regs, r.name)

    def _write_word(self, off: int, value: int, mask: int) -> None:
        r = self._by_offset.get(off)
        if r is None or r.access == "r":
            return
        old = getattr(self.regs, r.name)
        if r.access == "w1c":
            setattr(self.regs, r.name, old & ~(value & mask))
        else:
            setattr(self.regs, r.name, (old & ~mask) | (value & mask))
        fn = getattr(self, "write_" + r.name, None)
        if fn is not None:
            fn(value & mask if r.access == "w1c" else getattr(self.regs, r.name))

    # ------------------------------------------------------------------ time
    @property
    def clock_hz(self) -> float:
        p = self.params.clock_mhz
        return p * 1e6 if p else self.m.clock_hz

    def core_cycles(self, cycles: float) -> int:
        """Its own clock cycles as core clock cycles (rounded up)."""
        p = self.params.clock_mhz
        if not p:
            return int(math.ceil(cycles))
        return int(math.ceil(cycles * self.m.clock_hz / (p * 1e6) - 1e-9))

    def now(self) -> int:
        return int(self.env.now)

    def start(self, gen_or_fn, at: int | None = None, name: str = ""):
        """Run a process (a generator, or a function returning one) from cycle `at`
        (default: the cycle of the MMIO access now executing), as the DMA engine does.
        While any of its processes runs the accelerator is active (active power)."""
        gen_fn = gen_or_fn if callable(gen_or_fn) else (lambda g=gen_or_fn: g)
        self.counters.jobs += 1

        def wrapped():
            t0 = self.env.now
            self._begin()
            try:
                yield from gen_fn()
            finally:
                self._end()
                self.processes.append((t0, self.env.now))
        return BusMaster.start(self, wrapped, at=at, name=name or self.name)

    def _begin(self) -> None:
        if self._running == 0:
            self._active_since = self.env.now
        self._running += 1
        self.active = True

    def _end(self) -> None:
        self._running -= 1
        if self._running == 0:
            self.counters.active_cycles += self.env.now - self._active_since
            self.active = False
        else:
            self.active = True

    @property
    def busy(self) -> bool:
        return self._running > 0

    def snapshot(self, at: int | None = None) -> Counters:
        """Its counters as of cycle `at` (default: now), a running process's time
        included up to `at`."""
        c = Counters(*self.counters.astuple())
        if self._running:
            t = self.env.now if at is None else at
            c.active_cycles += max(0, t - self._active_since)
        return c

    def compute(self, cycles: float, ops: int = 0, energy_pj: float | None = None):
        """Generator: busy `cycles` of its own clock (no bus), counting `ops` operations
        (energy: ops x params.energy_per_op_pj, or `energy_pj` if given)."""
        c = self.core_cycles(cycles)
        self.count_ops(ops, energy_pj)
        self.counters.compute_cycles += c
        if c:
            yield self.env.timeout(c)

    def count_ops(self, n: int, energy_pj: float | None = None) -> None:
        self.counters.ops += int(n)
        self.counters.op_energy_pj += (float(energy_pj) if energy_pj is not None
                                       else n * self.params.energy_per_op_pj)

    # ------------------------------------------------------------------ the bus
    def burst_bytes(self) -> int:
        """Bytes of its longest burst (the bus's max_burst_beats at its port width)."""
        return self.params.bus_width_bytes * self.bus.p.max_burst_beats

    def transaction_cycles(self, addr: int, n: int) -> int:
        """Bus cycles one transaction of n bytes at addr holds the bus: arbitration plus
        ceil(n / port width) beats, or what the memory needs if it is slower: flash
        delivers width_bits per (1 + wait states) cycles (the wait states of the clock
        now), other memories their fixed wait states per access of width_bits. SRAM
        without wait states keeps up with any port width (a hypothetical part widens it
        with the port)."""
        p = self.bus.p
        beats = max(1, -(-int(n) // self.params.bus_width_bytes))
        port = beats * p.cycles_per_beat
        r, _lo = self.m.region_at(addr)
        mem = 0
        if r is not None:
            ws = self._wait_states(r)
            if ws:
                w = max(1, r.width_bits // 8)
                mem = -(-int(n) // w) * (1 + ws)
        return p.overhead_cycles + max(port, mem)

    def _wait_states(self, r) -> int:
        if r.kind == "flash" and r.read_wait_states is None:
            try:
                return int(self.m.mcu.flash_wait_states(self.m.clock_hz / 1e6))
            except Exception:
                return 0
        return int(r.read_wait_states or 0)

    def _bursts(self, addr: int, n: int, burst: int | None):
        b = int(burst) if burst else self.burst_bytes()
        off = 0
        while off < n:
            k = min(b, n - off)
            yield addr + off, off, k
            off += k

    def _hold(self, cycles: int, k: int) -> Any:
        yield from self.bus.hold(self, cycles)
        self.bursts += 1
        self.bytes_moved += k
        self.counters.bus_bytes += k
        self.counters.bus_cycles += cycles

    def bus_read(self, addr: int, n: int, burst: int | None = None):
        """Generator returning n bytes read from memory at addr, burst by burst through
        the shared bus (each burst's bytes are read at its completion cycle)."""
        out = bytearray()
        for a, _off, k in self._bursts(addr, int(n), burst):
            yield from self._hold(self.transaction_cycles(a, k), k)
            out += self.m.read_memory(a, k)
        return bytes(out)

    def bus_write(self, addr: int, data: bytes, burst: int | None = None):
        """Generator: write data to memory at addr, burst by burst through the shared bus
        (each burst lands at its completion cycle, through the machine's host_write, so
        --verify replays it)."""
        data = bytes(data)
        for a, off, k in self._bursts(addr, len(data), burst):
            yield from self._hold(self.transaction_cycles(a, k), k)
            self.m.host_write(a, data[off:off + k])

    def bus_traffic(self, addr: int, n: int, burst: int | None = None):
        """Generator: the bus time of moving n bytes at addr without moving data (a model
        that computes its results from memory elsewhere)."""
        for a, _off, k in self._bursts(addr, int(n), burst):
            yield from self._hold(self.transaction_cycles(a, k), k)

    # ------------------------------------------------------------------ local memory
    def local_read(self, off: int, n: int) -> bytes:
        if off < 0 or off + n > self.local_size:
            raise IndexError(f"{self.name}: local memory read {off}+{n} outside "
                             f"{self.local_size} bytes")
        self.counters.local_bytes += n
        return bytes(self.local[off:off + n])

    def local_write(self, off: int, data: bytes) -> None:
        n = len(data)
        if off < 0 or off + n > self.local_size:
            raise IndexError(f"{self.name}: local memory write {off}+{n} outside "
                             f"{self.local_size} bytes")
        self.counters.local_bytes += n
        self.local[off:off + n] = data

    def count_local(self, n: int) -> None:
        """Count n bytes of local memory traffic without moving them."""
        self.counters.local_bytes += int(n)

    # ------------------------------------------------------------------ interrupts
    def raise_irq(self) -> None:
        """Pend its interrupt line (nothing when the catalog entry gives none)."""
        if self.irq is not None:
            self.m.pend_irq(self.irq)

    # ------------------------------------------------------------------ reports
    def describe(self) -> dict:
        """What the run record says about it (add plugin specifics by overriding)."""
        return {"name": self.name, "type": self.spec.type, "kind": self.kind,
                "base": self.base, "irq": self.irq,
                "coprocessor": self.spec.coprocessor_number() if self.instructions() else None,
                "params": {f.name: getattr(self.params, f.name) for f in fields(self.params)}}


def field_value(acc: Accelerator, v: Any, default: Any = None) -> Any:
    """A declaration's value: a number, a Params field name, or f(acc)."""
    if v is None:
        return default
    if isinstance(v, str):
        return getattr(acc.params, v)
    if callable(v):
        return v(acc)
    return v

