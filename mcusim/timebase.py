"""Time: the core clock (frequency, with its changes) and the timebase (the cycle count,
SimPy events scheduled on it, precise time inside a block, spin-wait fast-forward).

Time is counted in core clock cycles. The cycle counter itself lives in the block coster
(a C struct for the native hook), so the hot path never leaves C; the timebase is its one
public face. `Clock` is the single owner of the frequency: RCC models set it; SysTick,
the memory model and the power timeline read it or subscribe to its changes. Hz inside,
MHz only at the edges (catalogs, CLI).
"""

from __future__ import annotations

import simpy
from unicorn import arm_const as A


class Clock:
    def __init__(self, hz: float):
        self.hz = float(hz)
        self.changes: list[tuple[int, float]] = [(0, self.hz)]   # (cycle, Hz)
        self._listeners: list = []

    def subscribe(self, fn) -> None:
        """fn(hz) after every change."""
        self._listeners.append(fn)

    def set(self, hz: float, at: int) -> None:
        hz = float(hz)
        if hz == self.hz:
            return
        self.hz = hz
        self.changes.append((int(at), hz))
        for fn in self._listeners:
            fn(hz)

    def restart(self, hz: float) -> None:
        """The clock was `hz` from cycle 0 on (the run turned out to start from reset)."""
        self.hz = float(hz)
        self.changes = [(0, self.hz)]
        for fn in self._listeners:
            fn(self.hz)

    def seconds(self, cycles: int) -> float:
        """Simulated seconds of the first `cycles` cycles, piecewise over the changes."""
        total = 0.0
        ch = self.changes
        for i, (c0, hz) in enumerate(ch):
            if cycles <= c0:
                break
            c1 = ch[i + 1][0] if i + 1 < len(ch) else None
            end = cycles if c1 is None or cycles < c1 else c1
            total += (end - c0) / hz
        return total


class Scheduled:
    """A handle on a scheduled callback."""
    __slots__ = ("at", "cb", "name", "cancelled")

    def __init__(self, at, cb, name):
        self.at, self.cb, self.name, self.cancelled = at, cb, name, False

    def cancel(self) -> None:
        self.cancelled = True


class Timebase:
    """The SimPy environment on the core clock and the CPU's position in time."""

    SPIN_READS = 4        # identical status reads from one place before fast-forwarding

    def __init__(self, coster, cpu, memory, skip_spin_waits: bool = True):
        self.env = simpy.Environment()
        self.coster = coster
        self.cpu = cpu
        self.memory = memory
        self.in_slice = False         # the CPU is executing (precise time is meaningful)
        self.quiet_pending = 0        # scheduled events that cannot wake the core
        self.skip_spin_waits = skip_spin_waits
        self.spin_cycles = 0          # cycles of fast-forwarded spin-waits on status flags
        self._poll_key, self._poll_n = None, 0
        self._precise_cache = (-1, -1, 0)

    # ------------------------------------------------------------------ now
    @property
    def cycles(self) -> int:
        return self.coster.cycles

    @cycles.setter
    def cycles(self, v: int) -> None:
        self.coster.cycles = v

    @property
    def deadline(self) -> int:
        return self.coster.deadline

    @deadline.setter
    def deadline(self, v: int) -> None:
        self.coster.deadline = v

    def now_precise(self) -> int:
        """The cycle at which the instruction doing the current MMIO access executes."""
        if not self.in_slice:
            return self.coster.cycles
        mem = self.memory
        seq, cyc, val = self._precise_cache
        if seq == mem.mmio_seq and cyc == self.coster.cycles:
            return val                 # the same access asked again
        val = self.coster.precise_now(self.cpu, mem.mmio_addr)
        self._precise_cache = (mem.mmio_seq, self.coster.cycles, val)
        return val

    # ------------------------------------------------------------------ events
    def schedule(self, at: int, cb, name: str = "", wakes: bool = True) -> Scheduled:
        """Call cb(at) at cycle `at` (a SimPy event). `wakes=False` marks bookkeeping
        events (e.g. the memory model's sampling windows) that cannot wake a sleeping
        core: a core asleep with only those pending has nothing to wake it."""
        ev = Scheduled(int(at), cb, name)
        env = self.env
        if not wakes:
            self.quiet_pending += 1

        def proc():
            yield env.timeout(max(0, ev.at - env.now))
            if not wakes:
                self.quiet_pending -= 1
            if not ev.cancelled:
                ev.cb(ev.at)

        env.process(proc())
        if ev.at < self.coster.deadline:
            self.coster.deadline = ev.at
        return ev

    def can_be_woken(self) -> bool:
        """Some pending SimPy event (timer, peripheral, bus master) may raise an interrupt."""
        return len(self.env._queue) > self.quiet_pending

    def stop_soon(self) -> None:
        """Look at pending interrupts at the next block boundary."""
        if self.in_slice:
            self.coster.deadline = 0

    # ------------------------------------------------------------------ spin-waits
    def poll(self, key: str, value: int, ready_at: int | None) -> bool:
        """A status-register read that is not ready yet (`value`), whose state changes at
        cycle `ready_at`. When the same code has read the same value from it several times
        in a row, the firmware is spin-waiting: advance the clock to the change (or to the
        next event, whichever is first), as the loop would. Cycles and energy stay those
        of the loop; the skipped iterations of a loop that is one block are counted as
        instructions. Returns True when the clock moved (the caller re-reads its state)."""
        if not self.skip_spin_waits:
            return False
        pc = self.coster.current_block()       # the polling block (not Unicorn's PC:
        if pc is None:                         # memory hooks move it mid-block)
            pc = self.cpu.reg_read(A.UC_ARM_REG_PC)
        k = (key, pc, value)
        if k != self._poll_key:
            self._poll_key, self._poll_n = k, 1
            return False
        self._poll_n += 1
        if self._poll_n < self.SPIN_READS or ready_at is None:
            return False
        self._poll_n = 0
        now = self.now_precise()
        target = min(int(ready_at), self.coster.deadline)
        if target <= now:
            return False
        self.coster.charge_current(pc & ~1, target - now)
        self.coster.loop_iterations(pc & ~1, target - now)
        self.spin_cycles += target - now
        return True
