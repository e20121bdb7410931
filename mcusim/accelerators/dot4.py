"""An example custom instruction set: a 4-way int8 dot product with accumulate, on a
coprocessor (tightly coupled: no bus, no registers in memory; the core traps the
instructions and this model executes them).

State: an input offset OFF and sixteen 32-bit accumulators ACC[0..15]. Instructions
(coprocessor `cp`, 0 by default; firmware_images/include/mcusim_cx.h has them as C
macros):

  MCR  p<cp>, #0, Rt, c0, c0, #0     OFF := Rt
  MCR  p<cp>, #1, Rt, cN, c0, #0     ACC[N] := Rt
  MRC  p<cp>, #0, Rt, cN, c0, #0     Rt := ACC[N]
  MCRR p<cp>, #0, Rx, Rw, cN         DOT4: ACC[N] += sum_i (x_i + OFF) * w_i
  MCRR p<cp>, #1, Rx, Rw, cN         MAC4: ACC[N + i] += (x_i + OFF) * w_i, i = 0..3
                                     (N a multiple of 4: four lanes, for depthwise)

where x_i and w_i are the signed bytes i (0 = least significant) of Rx and Rw. Sums wrap
modulo 2^32, as the int32 accumulators of TFLite Micro's kernels do, so kernels built on
these instructions give the same bits as the reference kernels
(firmware_images/runtime/accel/mcrt_kernels_cx.c).

Cost: every instruction issues in ``latency_cycles`` (1 by default: a single-cycle
datapath like SMLAD's); energy ``energy_per_op_pj`` per execution (default 2 pJ: four int8
MACs and the accumulator access), the core's own energy comes from the MCU's power model.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcusim.accelerators.base import FLOAT, INT, Accelerator, AcceleratorParams, instruction, param

M32 = 0xFFFFFFFF
S8 = [b - 256 if b & 0x80 else b for b in range(256)]     # a byte as a signed value


class Dot4(Accelerator):
    """A 4-way int8 dot product with accumulate (custom instructions on a coprocessor)."""

    kind = "coprocessor"
    coprocessor = 0

    @dataclass(frozen=True, kw_only=True)
    class Params(AcceleratorParams):
        """The dot4 coprocessor's parameters (mcusim/accelerators/dot4.py)."""
        latency_cycles: int = param(INT, 1, "issue cycles of each of its instructions",
                                    min=1, max=64)
        energy_per_op_pj: float = param(FLOAT, 2.0, "energy per instruction executed (a "
                                        "DOT4 is four int8 MACs)", min=0, max=1e9)

    def setup(self) -> None:
        self.off = 0
        self.acc = [0] * 16

    @instruction("mcr", opc1=0, crn=0, crm=0, opc2=0, latency="latency_cycles")
    def set_offset(self, value, insn):
        """OFF := Rt (the input offset, -input zero point)."""
        self.off = value - ((value & 0x80000000) << 1)

    @instruction("mcr", opc1=1, crm=0, opc2=0, latency="latency_cycles")
    def set_acc(self, value, insn):
        """ACC[CRn] := Rt."""
        self.acc[insn.crn] = value

    @instruction("mrc", opc1=0, crm=0, opc2=0, latency="latency_cycles")
    def get_acc(self, insn):
        """Rt := ACC[CRn]."""
        return self.acc[insn.crn]

    @instruction("mcrr", opc1=0, latency="latency_cycles")
    def dot4(self, x, w, insn):
        """ACC[CRm] += sum_i (x_i + OFF) * w_i."""
        o, n = self.off, insn.crm
        self.acc[n] = (self.acc[n] + (S8[x & 255] + o) * S8[w & 255]
                       + (S8[(x >> 8) & 255] + o) * S8[(w >> 8) & 255]
                       + (S8[(x >> 16) & 255] + o) * S8[(w >> 16) & 255]
                       + (S8[x >> 24] + o) * S8[w >> 24]) & M32

    @instruction("mcrr", opc1=1, latency="latency_cycles")
    def mac4(self, x, w, insn):
        """ACC[CRm + i] += (x_i + OFF) * w_i, i = 0..3 (CRm a multiple of 4)."""
        o, n, acc = self.off, insn.crm & 12, self.acc
        for i in range(4):
            acc[n + i] = (acc[n + i] + (S8[(x >> 8 * i) & 255] + o) * S8[(w >> 8 * i) & 255]) & M32
