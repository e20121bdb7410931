"""Per-block costing: the Unicorn block hook, the block cache and cycle attribution.

Each translated block is decoded once (capstone) and costed once by the core timing
model plus the memory model's stalls; every execution then adds its cost in bulk. A
taken branch's pipeline refill is charged when the next block is not the fall-through.
"""

from __future__ import annotations

import capstone
from capstone import arm_const as C
from unicorn import arm_const as A

# block record fields (a list, for speed in the hook)
COUNT, CYC, EXTRA, END, NINSN, FLAGS, TAKEN, ADDR, FETCH = range(9)
F_SELFLOOP, F_UNMASK = 1, 2

_UNMASK_MNEMONICS = {"cpsie", "msr"}

_REGS = {f"r{i}": getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)}
_REGS.update({"sb": A.UC_ARM_REG_R9, "sl": A.UC_ARM_REG_R10, "fp": A.UC_ARM_REG_R11,
              "ip": A.UC_ARM_REG_R12, "sp": A.UC_ARM_REG_SP, "lr": A.UC_ARM_REG_LR,
              "pc": A.UC_ARM_REG_PC})


class BlockCoster:
    def __init__(self, machine, timing=None):
        self.m = machine
        self.blocks: dict[int, list] = {}
        self.skipped_insns = 0
        self.md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self.md.detail = True
        self.timing = timing if timing is not None else _load_timing(machine.core)
        self.memory = None          # set by the memory model (timing of fetch/data stalls)
        self._decoded: dict[int, list] = {}
        self._dummy = [0, 0, 0, -1, 0, 0, 0, -1, 0]
        self.prev = self._dummy

    # ------------------------------------------------------------------ the hook
    def hook_block(self, uc, addr, size, ud):
        m = self.m
        if m.cycles >= m.deadline:
            uc.emu_stop()
            return
        b = self.blocks.get(addr)
        if b is None:
            b = self._new_block(addr, size)
        p = self.prev
        c = m.cycles
        if p[3] != addr:
            c += p[2]
            p[6] += 1
        b[0] += 1
        m.cycles = c + b[1]
        self.prev = b
        if b[5]:
            self._special(uc, b)

    def branch_flush(self) -> None:
        """An exception entry/return redirected the PC: no branch refill to charge."""
        self.prev = self._dummy

    # ------------------------------------------------------------------ costing
    def _new_block(self, addr: int, size: int) -> list:
        code = bytes(self.m.uc.mem_read(addr, size))
        insns = list(self.md.disasm(code, addr))
        n = len(insns)
        if self.timing is not None:
            bc = self.timing.block_cost(code, addr)
            cyc, extra, n = bc.cycles_not_taken, bc.cycles_taken - bc.cycles_not_taken, bc.instructions
        else:
            cyc, extra = n, 0
        fetch = 0
        if self.memory is not None:
            fetch = self.memory.block_stall(addr, size, insns)
            cyc += fetch
        flags = 0
        if size == 2 and code == b"\xfe\xe7":
            flags |= F_SELFLOOP
        for i in insns:
            if i.mnemonic == "cpsie" or (i.mnemonic == "msr" and any(
                    k in i.op_str for k in ("primask", "basepri", "faultmask"))):
                flags |= F_UNMASK
        b = [0, cyc, extra, addr + size, n, flags, 0, addr, fetch]
        self.blocks[addr] = b
        return b

    def clock_changed(self) -> None:
        """Wait states follow the clock: re-cost every block on the next execution."""
        if self.memory is not None:
            self.memory.clock_changed()
            for addr, b in self.blocks.items():
                cyc = b[1] - b[8]
                insns = self._decode(addr, b[3] - addr)
                b[8] = self.memory.block_stall(addr, b[3] - addr, insns)
                b[1] = cyc + b[8]

    def set_div0_trap(self, on: bool) -> None:
        if on:
            self.m.warn_once("div0", "CCR.DIV_0_TRP is not modelled: divide by zero returns 0")

    def _special(self, uc, b) -> None:
        m = self.m
        if b[5] & F_UNMASK:
            m.deadline = 0           # look at pending interrupts after this block
        if b[5] & F_SELFLOOP:
            ipsr = m.ipsr()
            if ipsr in (2, 3, 4, 5, 6):
                m._report_fault(unhandled=False)
                return
            if m.env.peek() == float("inf") and not m.exc.any_pending_enabled():
                if m.deadline >= m.max_cycles or m.deadline == m.cycles + 0 or True:
                    fw = getattr(m, "fw", None)
                    sym = fw.function_at(b[7]) if fw else None
                    where = f"0x{b[7]:08x}" + (f" ({sym})" if sym else "")
                    m._end("limit", f"firmware spins forever at {where} with no interrupt source")
                    return
            # Fast-forward the spin to the next event: same cycles, fewer host steps.
            cost = b[1] + (b[2] if b[3] != b[7] else 0)
            skip = m.deadline - m.cycles
            if cost > 0 and skip > 0:
                it = skip // cost + 1
                m.cycles += it * cost
                b[0] += it
                b[6] += it

    # ------------------------------------------------------------------ precise time
    def _decode(self, addr: int, size: int) -> list:
        d = self._decoded.get(addr)
        if d is None:
            code = bytes(self.m.uc.mem_read(addr, size))
            d = list(self.md.disasm(code, addr))
            self._decoded[addr] = d
        return d

    def precise_now(self, m) -> int:
        """Cycle count at the memory instruction of the current block that is accessing
        MMIO: block start plus the cost of the instructions before it."""
        pc = m.uc.reg_read(A.UC_ARM_REG_PC) & ~1
        b = self.blocks.get(pc)
        if b is None:
            return m.cycles
        start = m.cycles - b[1]
        insns = self._decode(pc, b[3] - pc)
        idx = self._match_access(m, insns)
        if idx <= 0:
            return start
        if self.timing is not None and hasattr(self.timing, "prefix_cycles"):
            return start + self.timing.prefix_cycles(bytes(m.uc.mem_read(pc, b[3] - pc)), pc, idx)
        return start + min(idx, b[1])

    def _match_access(self, m, insns) -> int:
        target = getattr(m, "_mmio_addr", None)
        first = -1
        for i, ins in enumerate(insns):
            ops = ins.operands
            for op in ops:
                if op.type == C.ARM_OP_MEM:
                    if first < 0:
                        first = i
                    if target is None:
                        return i
                    base = ins.reg_name(op.mem.base) if op.mem.base else None
                    if base is None or base not in _REGS:
                        continue
                    v = m.uc.reg_read(_REGS[base])
                    if base == "pc":
                        v = (ins.address + 4) & ~3
                    if op.mem.index:
                        idx = ins.reg_name(op.mem.index)
                        if idx in _REGS:
                            v += m.uc.reg_read(_REGS[idx]) << max(0, op.shift.value if op.shift.type else 0)
                    v = (v + op.mem.disp) & 0xFFFFFFFF
                    if (v & ~3) == (target & ~3):
                        return i
        return first

    # ------------------------------------------------------------------ results
    def instructions(self) -> int:
        return sum(b[0] * b[4] for b in self.blocks.values())

    def block_cycles(self):
        """(start address, executions, cycles incl. taken-branch refills, instructions)."""
        for addr, b in self.blocks.items():
            yield addr, b[0], b[0] * b[1] + b[6] * b[2], b[0] * b[4]


def _load_timing(core):
    try:
        from mcusim.timing.core import CoreTiming
    except Exception:
        return None
    try:
        return CoreTiming(core.name)
    except Exception:
        return None
