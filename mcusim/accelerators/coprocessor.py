"""Custom instructions: coprocessor instructions trapped in the host.

Real Cortex-M parts reserve the coprocessor instruction space for this: coprocessors 0-7
(Armv7-M/Armv8-M; 10 and 11 are the FPU), reached by MCR/MRC (one core register),
MCRR/MRRC (two) and CDP (none), also in their "2" forms, and the Armv8-M Custom Datapath
Extension encodes its CX* instructions in the same space. Unicorn 2.1.4 decodes neither a
coprocessor nor CDE (measured: every such instruction on coprocessor 0-7 raises the
UsageFault NOCP exception, interrupt number 17, with the PC at the instruction, on the
M4, M7 and M33 models), so mcusim traps them: when an accelerator plugin attached at
coprocessor n defines the instruction (mcusim.accelerators.base.instruction), the trap
runs its Python function with the operand registers, writes the result registers and
continues after the instruction; anything else stays the NOCP UsageFault it was.

Like on hardware, CPACR must grant access first (CPn = 0b11, or 0b01 from privileged
code), else NOCP; CPACR's field of an attached coprocessor is writable (reads back what
was written), of the others reads as zero, which is how firmware detects one.

Timing: each custom instruction's declared latency is its issue cost in the core timing
model (mcusim.timing.core, class "custom"), counted when its block is costed, once; the
trap adds no cycles. (A block costed without that hook -- a core without a [timing]
table, or a coster that classifies blocks on its own -- charged the instruction one
cycle: the trap then charges the rest as a dynamic stall.) Energy: each execution adds its energy (energy_pj, default the
plugin's energy_per_op_pj) to the plugin's counters (mcusim/accelerators/energy.py).
The trap is a host change to the CPU's registers, bracketed for --verify as every
UC_HOOK_INTR event is (cpu_process._hook_intr).

Not supported: a trapped instruction inside an IT block (it takes NOCP), LDC/STC.
Host cost: docs/accelerators.md ("Host cost of a trapped instruction").
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple

from unicorn import arm_const as A

from mcusim.accelerators.base import field_value

IT_MASK = 0x0600FC00          # EPSR IT[1:0] (bits 26:25) and IT[7:2] (bits 15:10)
_REG_IDS = [getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)] + [
    A.UC_ARM_REG_SP, A.UC_ARM_REG_LR, A.UC_ARM_REG_PC, A.UC_ARM_REG_XPSR]
PC_SLOT, XPSR_SLOT = 15, 16


class Insn(NamedTuple):
    """A decoded coprocessor instruction (fields that the encoding lacks are 0)."""
    kind: str
    coproc: int
    opc1: int
    opc2: int
    crn: int
    crm: int
    crd: int
    rt: int
    rt2: int


def decode(hw1: int, hw2: int) -> Insn | None:
    """The coprocessor instruction of a 32-bit Thumb encoding (first and second halfword),
    or None (LDC/STC and everything else). Armv7-M ARM A6.7 (MCR, MRC, MCRR, MRRC, CDP)."""
    two = "2" if hw1 & 0x1000 else ""
    if (hw1 >> 8) & 0xEF == 0xEE:
        cp = (hw2 >> 8) & 0xF
        if hw2 & 0x10:                   # MCR / MRC
            kind = ("mrc" if hw1 & 0x10 else "mcr") + two
            return Insn(kind, cp, (hw1 >> 5) & 7, (hw2 >> 5) & 7, hw1 & 0xF, hw2 & 0xF, 0,
                        hw2 >> 12, 0)
        return Insn("cdp" + two, cp, (hw1 >> 4) & 0xF, (hw2 >> 5) & 7, hw1 & 0xF, hw2 & 0xF,
                    hw2 >> 12, 0, 0)
    if hw1 & 0xEFE0 == 0xEC40:           # MCRR / MRRC
        kind = ("mrrc" if hw1 & 0x10 else "mcrr") + two
        return Insn(kind, (hw2 >> 8) & 0xF, (hw2 >> 4) & 0xF, 0, 0, hw2 & 0xF, 0, hw2 >> 12,
                    hw1 & 0xF)
    return None


def _matches(spec, d: Insn) -> bool:
    return (spec.kind == d.kind and (spec.opc1 is None or spec.opc1 == d.opc1)
            and (spec.opc2 is None or spec.opc2 == d.opc2)
            and (spec.crn is None or spec.crn == d.crn)
            and (spec.crm is None or spec.crm == d.crm))


class _Bound:
    __slots__ = ("acc", "fn", "kind", "insn", "latency", "energy", "spec", "count")

    def __init__(self, acc, spec, d: Insn):
        self.acc, self.spec, self.insn, self.kind = acc, spec, d, d.kind.rstrip("2")
        self.fn = getattr(acc, spec.method)
        self.latency = int(field_value(acc, spec.latency, 1))
        self.energy = float(field_value(acc, spec.energy_pj, acc.params.energy_per_op_pj))
        self.count = 0


class CustomInstructions:
    """The machine's custom instructions: coprocessor number -> accelerator."""

    def __init__(self, machine, accelerators):
        self.m = machine
        self.by_cp = {a.spec.coprocessor_number(): a for a in accelerators if a.instructions()}
        self.executed = 0
        self._cache: dict[int, _Bound | None] = {}
        self._static: dict[tuple, _Bound | None] = {}
        uc = machine.uc
        from unicorn.unicorn_py3.unicorn import uclib
        self._h = uc._uch
        self._lib = uclib
        n = len(_REG_IDS)
        self._ids = (ctypes.c_int * n)(*_REG_IDS)
        self._vals = (ctypes.c_uint64 * n)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * n)(*[base + 8 * i for i in range(n)])
        self._wids = (ctypes.c_int * 3)()
        self._wvals = (ctypes.c_uint64 * 3)()
        wb = ctypes.addressof(self._wvals)
        self._wptrs = (ctypes.c_void_p * 3)(wb, wb + 8, wb + 16)
        self._code = ctypes.create_string_buffer(4)
        self.timing = getattr(machine.coster, "timing", None)
        self.charged_at_trap = 0     # cycles charged at traps (blocks costed without the hook)
        machine.scs.cpacr_mask |= sum(3 << (2 * cp) for cp in self.by_cp)

    # ------------------------------------------------------------------ lookup
    def bind(self, hw1: int, hw2: int) -> _Bound | None:
        key = (hw1, hw2)
        if key in self._static:
            return self._static[key]
        b = None
        d = decode(hw1, hw2)
        if d is not None and d.coproc in self.by_cp:
            acc = self.by_cp[d.coproc]
            for spec in acc.instructions():
                if _matches(spec, d):
                    b = _Bound(acc, spec, d)
                    break
        self._static[key] = b
        return b

    def cost(self, hw1: int, hw2: int) -> int | None:
        """The timing model's hook: issue cycles of a custom instruction, else None."""
        b = self.bind(hw1, hw2)
        return None if b is None else b.latency

    # ------------------------------------------------------------------ the trap
    def trap(self, uc) -> bool:
        """A NOCP exception (UC_HOOK_INTR 17): execute the custom instruction at the PC
        and continue after it (True), or leave it to the fault path (False)."""
        lib, h, vals = self._lib, self._h, self._vals
        lib.uc_reg_read_batch(h, self._ids, self._ptrs, len(_REG_IDS))
        pc = vals[PC_SLOT] & 0xFFFFFFFE
        b = self._cache.get(pc, False)
        if b is False:
            if lib.uc_mem_read(h, pc, self._code, 4):
                return False
            c = self._code.raw
            b = self.bind(c[0] | c[1] << 8, c[2] | c[3] << 8)
            self._cache[pc] = b
        if b is None or vals[XPSR_SLOT] & IT_MASK:
            return False
        d = b.insn
        access = (self.m.scs.cpacr >> (2 * d.coproc)) & 3
        if access != 3 and not (access == 1 and self._privileged()):
            return False
        kind, n = b.kind, 0
        if kind == "mcr":
            b.fn(vals[d.rt] & 0xFFFFFFFF, d)
        elif kind == "mcrr":
            b.fn(vals[d.rt] & 0xFFFFFFFF, vals[d.rt2] & 0xFFFFFFFF, d)
        elif kind == "mrc":
            v = int(b.fn(d)) & 0xFFFFFFFF
            if d.rt == 15:                      # APSR_nzcv
                self._wids[0], self._wvals[0] = A.UC_ARM_REG_APSR_NZCV, v & 0xF0000000
            else:
                self._wids[0], self._wvals[0] = _REG_IDS[d.rt], v
            n = 1
        elif kind == "mrrc":
            v1, v2 = b.fn(d)
            self._wids[0], self._wvals[0] = _REG_IDS[d.rt], int(v1) & 0xFFFFFFFF
            self._wids[1], self._wvals[1] = _REG_IDS[d.rt2], int(v2) & 0xFFFFFFFF
            n = 2
        else:
            b.fn(d)
        self._wids[n], self._wvals[n] = A.UC_ARM_REG_PC, (pc + 4) | 1
        lib.uc_reg_write_batch(h, self._wids, self._wptrs, n + 1)
        if b.latency > 1 and (self.timing is None or pc not in self.timing.custom_sites):
            # the block was costed without the timing model's hook (no [timing] table, or a
            # coster that classifies blocks itself): it charged the instruction one cycle
            self.m.coster.charge_current(None, b.latency - 1)
            self.charged_at_trap += b.latency - 1
        acc = b.acc
        acc.counters.ops += 1
        acc.counters.op_energy_pj += b.energy
        b.count += 1
        self.executed += 1
        return True

    def _privileged(self) -> bool:
        uc = self.m.uc
        return bool(uc.reg_read(A.UC_ARM_REG_IPSR) & 0x1FF) or not (
            uc.reg_read(A.UC_ARM_REG_CONTROL) & 1)

    def executions(self, acc) -> dict:
        """Executions per instruction (method name) of one accelerator."""
        out: dict[str, int] = {}
        for b in self._static.values():
            if b is not None and b.acc is acc and b.count:
                out[b.spec.method] = out.get(b.spec.method, 0) + b.count
        return out
