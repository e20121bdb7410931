"""The SimPy system model: a shared bus, bus masters, and the CPU's contention for the bus.

One `simpy.Environment` (``machine.env``) keeps time in core clock cycles. The CPU is a
SimPy process (``Machine._cpu``) that runs Unicorn in slices and yields the cycles each
slice took; SysTick, the basic timers and the U(S)ART schedule their own events. This
module adds what other bus masters need (docs/system.md has the whole picture):

- `Bus` -- a shared interconnect (one AHB by default): a ``simpy.Resource`` of capacity 1
  that masters hold for one *transaction* (a burst) at a time, FIFO among waiting masters.
  Cost of a transaction of n bytes: ``overhead_cycles + ceil(n / width_bytes) *
  cycles_per_beat``. Every grant is logged as a busy interval.
- `BusMaster` -- the base of a SimPy process that moves data over a bus:
  ``yield from self.transfer(nbytes)`` takes the bus once per burst (one request, one
  timeout and one release event per burst -- never an event per byte or per beat).
- `System` -- owns the buses and masters and the CPU-side contention hook, registered in
  ``machine.slice_hooks``: after each CPU slice [t0, t1) it returns the extra stall
  cycles the CPU suffered because other masters held the bus during the slice:

      stall = busy_by_others([t0, t1)) * min(1, rho)

  where rho is the CPU's data-access density (bus accesses per cycle) in that slice,
  counted from the loads and stores of the basic blocks it executed (``LDM``/``STM``/
  ``PUSH``/``POP`` count one access per register), or a fixed ``cpu_access_density``.
  Fractions of a cycle carry over between slices, so the total is exact to one cycle.

``attach_system(machine)`` creates ``machine.bus`` and ``machine.system`` and registers
the hook; the machine then maps the bus masters (the DMA engine of
`mcusim.peripherals.dma`) like any other device. It is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

DEFAULT_CPU_ACCESS_DENSITY = 0.3   # accesses/cycle when a slice's own count is unavailable


@dataclass(frozen=True)
class BusParams:
    """Cost model of one bus. Defaults: a 32-bit AHB-Lite to zero-wait-state SRAM, one
    cycle per data beat and one cycle of arbitration/address phase per transaction that
    cannot be pipelined behind another master's (AMBA 3 AHB-Lite, IHI 0033A, 3.1)."""
    name: str = "ahb"
    width_bytes: int = 4
    cycles_per_beat: int = 1
    overhead_cycles: int = 1
    max_burst_beats: int = 16

    def __post_init__(self):
        if self.width_bytes <= 0 or self.cycles_per_beat < 0 or self.overhead_cycles < 0 \
                or self.max_burst_beats <= 0:
            raise ValueError(f"bus {self.name}: bad parameters {self}")


class Bus:
    """A shared bus: masters hold it one transaction at a time (FIFO arbitration)."""

    def __init__(self, env: simpy.Environment, params: BusParams | None = None, **kw):
        self.env = env
        self.p = params or BusParams(**kw)
        self.name = self.p.name
        self.width = self.p.width_bytes
        self.resource = simpy.Resource(env, capacity=1)
        self.transactions = 0
        self.busy_cycles = 0                     # total cycles held, all masters
        self.busy_by: dict[str, int] = {}        # master name -> cycles held
        self.grants: list[tuple[int, int, str]] = []   # (start, end, master), time order;
        # pruned by the System once no CPU window can overlap them
        self.log_grants = False                  # keep every grant in `history` (tests)
        self.history: list[tuple[int, int, str]] = []

    # ---- cost model
    def beats(self, nbytes: int) -> int:
        return max(1, -(-int(nbytes) // self.width))

    def transaction_cycles(self, nbytes: int) -> int:
        """Bus cycles of one transaction (burst) of nbytes."""
        return self.p.overhead_cycles + self.beats(nbytes) * self.p.cycles_per_beat

    # ---- use
    def hold(self, master, cycles: int):
        """Generator: acquire the bus, hold it `cycles`, release it (three SimPy events)."""
        name = getattr(master, "name", str(master))
        cycles = int(cycles)
        with self.resource.request() as req:
            yield req
            start = self.env.now
            g = (start, start + cycles, name)
            self.grants.append(g)
            if self.log_grants:
                self.history.append(g)
            self.transactions += 1
            self.busy_cycles += cycles
            self.busy_by[name] = self.busy_by.get(name, 0) + cycles
            if cycles:
                yield self.env.timeout(cycles)

    def busy_between(self, a: int, b: int) -> int:
        """Cycles in [a, b) during which some master held the bus (grants known so far)."""
        if b <= a:
            return 0
        total = 0
        for s, e, _ in self.grants:
            if s >= b:
                break
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                total += hi - lo
        return total

    def prune(self, before: int) -> None:
        """Forget grants that ended at or before `before`."""
        g = self.grants
        i = 0
        while i < len(g) and g[i][1] <= before:
            i += 1
        if i:
            del g[:i]


class BusMaster:
    """A SimPy process owner that moves data over a bus in bursts.

    Subclasses (DMA engines, accelerators) write a generator and start it with
    `start()`; inside it, ``yield from self.transfer(n)`` or ``yield from self.hold(c)``.
    """

    def __init__(self, system: "System", name: str, bus: Bus | None = None):
        self.system = system
        self.env = system.env
        self.m = system.machine
        self.name = name
        self.bus = bus or system.bus
        self.bursts = 0
        self.bytes_moved = 0
        self.active = False
        system.masters.append(self)

    def start(self, gen_fn, at: int | None = None, name: str = ""):
        """Run the process `gen_fn()` from cycle `at` (default: the cycle of the MMIO
        access now executing). Through Machine.schedule, so the CPU's slice stops at that
        cycle (within one basic block) and the master's bus use is seen from there."""
        m = self.m
        if at is None:
            at = m.now_precise() if m is not None else self.env.now
        self.active = True
        self.system.armed = True

        def run(gen):
            try:
                yield from gen
            finally:
                self.active = False

        def begin(_at):
            self.env.process(run(gen_fn()))

        if m is not None:
            return m.schedule(at, begin, name or self.name)
        self.env.process(self._delayed(at, run(gen_fn())))
        return None

    def _delayed(self, at, gen):
        if at > self.env.now:
            yield self.env.timeout(at - self.env.now)
        yield from gen

    def hold(self, cycles: int):
        """One raw bus transaction of `cycles` bus cycles."""
        yield from self.bus.hold(self, cycles)

    def transfer(self, nbytes: int, burst_bytes: int | None = None, passes: int = 1,
                 on_burst=None):
        """Move nbytes in bursts of burst_bytes (default: the bus's longest burst). Each
        burst holds the bus for `passes` transactions back to back (2 for a memory-to-
        memory copy: a read burst then a write burst) -- one bus request per burst.
        on_burst(offset, n) runs at each burst's completion cycle."""
        bus = self.bus
        if burst_bytes is None:
            burst_bytes = bus.width * bus.p.max_burst_beats
        burst_bytes = max(1, int(burst_bytes))
        off = 0
        nbytes = int(nbytes)
        while off < nbytes:
            n = min(burst_bytes, nbytes - off)
            yield from bus.hold(self, passes * bus.transaction_cycles(n))
            self.bursts += 1
            self.bytes_moved += n
            if on_burst is not None:
                on_burst(off, n)
            off += n

    def burst_cycles(self, burst_bytes: int, passes: int = 1) -> int:
        return passes * self.bus.transaction_cycles(burst_bytes)


# ---------------------------------------------------------------------- CPU contention
def _data_accesses(insns) -> int:
    """Bus data accesses of a decoded block: one per load/store, one per register of
    LDM/STM/PUSH/POP/VLDM/VSTM/VPUSH/VPOP, two for LDRD/STRD (a word each)."""
    n = 0
    for i in insns:
        mn = i.mnemonic.split(".")[0]
        if mn.startswith(("push", "pop", "vpush", "vpop", "ldm", "stm", "vldm", "vstm")):
            try:
                regs = [op for op in i.operands if op.type == 1]   # ARM_OP_REG
            except Exception:
                regs = []
            if mn.startswith(("ldm", "stm", "vldm", "vstm")) and regs:
                regs = regs[1:]        # the base register
            n += max(1, len(regs))
        elif mn.startswith(("ldrd", "strd", "ldaexd", "strexd")):
            n += 2
        elif mn.startswith(("ldr", "str", "lda", "stl", "ldrex", "strex", "vldr", "vstr",
                            "tbb", "tbh", "pld")):
            if not mn.startswith("pld"):
                n += 1
    return n


class System:
    """Buses, bus masters and the CPU's share of the bus, for one Machine."""

    def __init__(self, env: simpy.Environment, machine=None, bus: BusParams | None = None,
                 cpu_access_density: float | None = None):
        self.env = env
        self.machine = machine
        self.bus = Bus(env, bus)
        self.buses = {self.bus.name: self.bus}
        self.masters: list[BusMaster] = []
        self.devices: dict[str, object] = {}
        self.cpu_access_density = cpu_access_density
        self.armed = False            # a master was started: count CPU accesses per slice
        self.stall_cycles = 0         # total charged to the CPU
        self.trace = False            # keep `windows` (tests, debugging)
        self.windows: list[tuple] = []   # (t0, t1, rho, busy, stall) per charged slice
        self._open: list[list] = []      # [t0, t1, factor, charged_busy] not yet final
        self._frac = 0.0
        self._acc_per_block: dict[int, int] = {}
        self._snap = None              # CPU data accesses counted at the last hook

    # ---- the slice hook: f(t0, t1) -> extra CPU stall cycles
    def cpu_stall(self, t0: int, t1: int) -> int:
        bus = self.bus
        if not bus.grants and not self._open and not self.armed:
            self._snap = None
            return 0
        now = self.env.now          # every grant that starts before `now` is known
        stall = 0.0
        # Slices charged earlier: a grant that began in their last block (after the
        # event that ended them) is known only now.
        keep = []
        for w in self._open:
            busy = bus.busy_between(w[0], w[1])
            if busy > w[3]:
                stall += (busy - w[3]) * w[2]
                w[3] = busy
            if w[1] > now:
                keep.append(w)
        self._open = keep
        rho = self._density(t0, t1)
        f = min(1.0, rho)
        busy = bus.busy_between(t0, t1)
        stall += busy * f
        if t1 > t0:
            self._open.append([t0, t1, f, busy])
        self._frac += stall
        n = int(self._frac)
        self._frac -= n
        self.stall_cycles += n
        if self.trace and (busy or n):
            self.windows.append((t0, t1, rho, busy, n))
        oldest = min([w[0] for w in self._open], default=now)
        bus.prune(min(oldest, t0))
        if self.armed and not any(mm.active for mm in self.masters):
            self.armed = False
        return n

    def _density(self, t0: int, t1: int) -> float:
        if self.cpu_access_density is not None:
            return float(self.cpu_access_density)
        m = self.machine
        if m is None or t1 <= t0:
            return DEFAULT_CPU_ACCESS_DENSITY
        acc = self.cpu_data_accesses()
        prev, self._snap = self._snap, acc
        if prev is None:
            # no count at the slice's start: the run's average so far
            return acc / t1 if t1 > 0 and acc else DEFAULT_CPU_ACCESS_DENSITY
        return max(0, acc - prev) / (t1 - t0)

    def cpu_data_accesses(self) -> int:
        """Data accesses the CPU made so far (block execution counts x accesses)."""
        c = self.machine.coster
        table = self._acc_per_block
        total = 0
        for addr in list(c.blocks):
            n = table.get(addr)
            if n is None:
                try:
                    n = _data_accesses(c.decoded(addr))
                except Exception:
                    n = 0
                table[addr] = n
            if n:
                total += c.executions(addr) * n
        return total

    def stats(self) -> dict:
        return {
            "buses": {n: {"transactions": b.transactions, "busy_cycles": b.busy_cycles,
                          "busy_by": dict(b.busy_by)} for n, b in self.buses.items()},
            "cpu_stall_cycles": self.stall_cycles,
            "masters": {mm.name: {"bursts": mm.bursts, "bytes": mm.bytes_moved}
                        for mm in self.masters},
        }


def attach_system(machine, bus: BusParams | None = None,
                  cpu_access_density: float | None = None) -> System:
    """Give `machine` its system model: machine.system, machine.bus (one AHB) and the CPU
    contention hook. Idempotent."""
    sysm = getattr(machine, "system", None)
    if isinstance(sysm, System):
        return sysm
    sysm = System(machine.env, machine, bus, cpu_access_density)
    machine.system = sysm
    machine.bus = sysm.bus
    machine.slice_hooks.append(sysm.cpu_stall)
    return sysm


__all__ = ["Bus", "BusParams", "BusMaster", "System", "attach_system",
           "DEFAULT_CPU_ACCESS_DENSITY"]
