"""A generic memory-to-memory DMA engine: a bus master in the SimPy system model.

It exists only in the simulator, at 0xE0101000 in the Vendor_SYS region beside the
simulator control block (0xE0100000); the machine maps it on every MCU.
firmware_images/include/mcusim_dma.h is the contract; in short (32-bit registers):

  +0x00 ID            R    0x444D4130 ("DMA0")
  +0x04 SRC           RW   source address
  +0x08 DST           RW   destination address
  +0x0C LEN           RW   bytes to copy
  +0x10 CTRL          RW   bit0 START (write 1; reads 0), bit1 IE (interrupt on done/error),
                           bits[6:4] BURST = log2(beats per burst), 0..4 (reset 2: 4 beats)
  +0x14 STATUS        R/W1C bit0 BUSY (R), bit1 DONE, bit2 ERR (write 1 to clear)
  +0x18 REMAIN        R    bytes not yet written
  +0x1C IRQ           R    the external interrupt line (the MCU's last: num_irqs - 1)
  +0x20 BURST_CYCLES  R    bus cycles one full burst holds the bus at the current BURST
  +0x24 START_CYCLES  R    cycles from the START write to the first bus request

Timing: START at cycle t (the store's own cycle) -> first bus request at t + START_CYCLES;
then one burst after another, each holding the shared bus for a read and a write
transaction of `BURST` beats (2 x (overhead + beats x cycles_per_beat) cycles, see
`mcusim.system.Bus`). Each burst's bytes land in memory at its completion cycle, so
polling firmware sees REMAIN fall and the data arrive. After the last burst DONE is set
and, with IE, the IRQ is pended at that cycle. A copy whose source or destination is not
(writable) memory sets ERR instead, after START_CYCLES, and moves nothing.
"""

from __future__ import annotations

from mcusim.peripherals.base import Peripheral
from mcusim.system import BusMaster

DMA_BASE = 0xE0101000
DMA_SIZE = 0x1000
DMA_ID = 0x444D4130

SRC, DST, LEN, CTRL, STATUS, REMAIN, IRQ, BURST_CYCLES, START_CYCLES = (
    0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1C, 0x20, 0x24)
CTRL_START, CTRL_IE = 1, 2
CTRL_BURST_SHIFT, CTRL_BURST_MASK = 4, 0x7 << 4
ST_BUSY, ST_DONE, ST_ERR = 1, 2, 4
MAX_BURST_LOG2 = 4
START_LATENCY = 2        # cycles: register write to the channel's first request (assumed)


class DmaEngine(Peripheral, BusMaster):
    """Memory-to-memory copy engine, one channel, on the system's main bus."""

    def __init__(self, system, name: str = "dma", irq: int | None = None,
                 start_cycles: int = START_LATENCY):
        m = system.machine
        Peripheral.__init__(self, m, None)
        BusMaster.__init__(self, system, name)
        self.name = name
        self.irq = irq if irq is not None else max(0, int(m.mcu.num_irqs) - 1)
        self.start_cycles = int(start_cycles)
        self.src = self.dst = self.len = 0
        self.ctrl = 2 << CTRL_BURST_SHIFT
        self.status = 0
        self.remain = 0
        self.transfers: list[dict] = []     # one record per START (tests, reports)

    # ---- registers
    def burst_beats(self) -> int:
        return 1 << min(MAX_BURST_LOG2, (self.ctrl & CTRL_BURST_MASK) >> CTRL_BURST_SHIFT)

    def burst_bytes(self) -> int:
        return self.burst_beats() * self.bus.width

    def read_word(self, off: int) -> int:
        if off == 0x00:
            return DMA_ID
        if off == SRC:
            return self.src
        if off == DST:
            return self.dst
        if off == LEN:
            return self.len
        if off == CTRL:
            return self.ctrl & ~CTRL_START
        if off == STATUS:
            return self.status
        if off == REMAIN:
            return self.remain
        if off == IRQ:
            return self.irq
        if off == BURST_CYCLES:
            return self.burst_cycles(self.burst_bytes(), passes=2)
        if off == START_CYCLES:
            return self.start_cycles
        return 0

    def write_word(self, off: int, value: int, mask: int = 0xFFFFFFFF) -> None:
        busy = self.status & ST_BUSY
        if off == STATUS:
            self.status &= ~(value & mask & (ST_DONE | ST_ERR))
            return
        if busy:
            if off == CTRL:    # IE may change while busy; BURST and START may not
                ie = (value & mask) & CTRL_IE if mask & CTRL_IE else self.ctrl & CTRL_IE
                self.ctrl = (self.ctrl & ~CTRL_IE) | ie
            return
        if off in (SRC, DST, LEN):
            old = {SRC: self.src, DST: self.dst, LEN: self.len}[off]
            v = (old & ~mask) | (value & mask)
            setattr(self, {SRC: "src", DST: "dst", LEN: "len"}[off], v)
        elif off == CTRL:
            v = (self.ctrl & ~mask) | (value & mask)
            self.ctrl = v & ~CTRL_START
            if v & CTRL_START:
                self._start()

    # ---- the transfer
    def _start(self) -> None:
        m = self.m
        t = m.now_precise()
        src, dst, n = self.src, self.dst, self.len
        self.status = (self.status & ~(ST_DONE | ST_ERR)) | ST_BUSY
        self.remain = n
        rec = {"src": src, "dst": dst, "len": n, "burst_bytes": self.burst_bytes(),
               "start": t, "first_request": t + self.start_cycles, "end": None,
               "bursts": 0, "error": False}
        self.transfers.append(rec)
        ok = self._valid(src, n, write=False) and self._valid(dst, n, write=True)
        bb = self.burst_bytes()

        def on_burst(off, k):
            m.host_write(dst + off, m.read_memory(src + off, k))
            self.remain -= k
            rec["bursts"] += 1

        def proc():
            if self.start_cycles:
                yield self.env.timeout(self.start_cycles)
            if ok:
                yield from self.transfer(n, burst_bytes=bb, passes=2, on_burst=on_burst)
            rec["end"] = self.env.now
            rec["error"] = not ok
            self.status = (self.status & ~ST_BUSY) | (ST_DONE if ok else ST_ERR)
            if self.ctrl & CTRL_IE:
                m.pend_irq(self.irq)

        self.start(proc, at=t, name=self.name)

    def _valid(self, addr: int, n: int, write: bool) -> bool:
        if n == 0:
            return True
        r, lo = self.m.region_at(addr)
        if r is None or addr + n > lo + r.size:
            return False
        return not (write and r.access == "rx")

    def expected_cycles(self, n: int, burst_bytes: int | None = None) -> int:
        """START to DONE with the bus to itself."""
        bb = burst_bytes or self.burst_bytes()
        full, rest = divmod(int(n), bb)
        c = self.start_cycles + full * self.burst_cycles(bb, passes=2)
        if rest:
            c += self.burst_cycles(rest, passes=2)
        return c
