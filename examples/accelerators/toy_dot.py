"""A toy accelerator: the dot product of two int8 vectors in memory (docs/accelerators.md)."""
import math
from dataclasses import dataclass

import numpy as np

from mcusim.accelerators import INT, Accelerator, AcceleratorParams, Register, param


class DotEngine(Accelerator):
    """Dot product of two int8 vectors: a bus master with a completion interrupt."""

    @dataclass(frozen=True, kw_only=True)
    class Params(AcceleratorParams):
        macs_per_cycle: int = param(INT, 4, "multiply-accumulates per cycle", min=1, max=1024)

    registers = (
        Register("ID", 0x00, "r", 0x444F5430, "'DOT0'"),
        Register("A", 0x04, "rw", doc="address of vector a (int8)"),
        Register("B", 0x08, "rw", doc="address of vector b (int8)"),
        Register("LEN", 0x0C, "rw", doc="elements in each vector"),
        Register("CTRL", 0x10, "w", doc="bit0 START, bit1 IE (interrupt when done)"),
        Register("STATUS", 0x14, "w1c", doc="bit0 BUSY, bit1 DONE (write 1 to clear)"),
        Register("RESULT", 0x18, "r", doc="the dot product (int32)"),
        Register("OUT", 0x1C, "rw", doc="if not 0: where to store RESULT in memory too"),
        Register("IRQ", 0x20, "r", 0xFFFFFFFF, "its interrupt line (0xFFFFFFFF: none)"),
    )

    def setup(self):
        if self.irq is not None:
            self.regs.IRQ = self.irq

    def write_CTRL(self, value):
        if value & 1 and not self.busy:            # START
            self.regs.STATUS = 1                    # BUSY
            self.start(self.job(irq_enable=bool(value & 2)))

    def job(self, irq_enable):
        n = self.regs.LEN
        a = yield from self.bus_read(self.regs.A, n)      # bursts on the shared bus
        b = yield from self.bus_read(self.regs.B, n)
        yield from self.compute(math.ceil(n / self.params.macs_per_cycle), ops=n)
        dot = int(np.dot(np.frombuffer(a, np.int8).astype(np.int64),
                         np.frombuffer(b, np.int8).astype(np.int64)))
        self.regs.RESULT = dot                      # stored modulo 2^32
        if self.regs.OUT:
            yield from self.bus_write(self.regs.OUT, (dot & 0xFFFFFFFF).to_bytes(4, "little"))
        self.regs.STATUS = 2                        # DONE, not BUSY
        if irq_enable:
            self.raise_irq()
