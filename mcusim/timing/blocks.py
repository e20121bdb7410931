"""Per-block costing: the Unicorn block hook, the block cache and cycle attribution.

Each translated block is decoded once (capstone) and costed once by the core timing
model plus the memory model's stalls; every execution then adds its cost in bulk. A
taken branch's pipeline refill is charged when the next block is not the fall-through.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import capstone
from capstone import arm_const as C
from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE
from unicorn import arm_const as A

from mcusim.timing import pcsync

UNTIL = 0xFFFFFFFE

# A block record is a list (for speed in the hook), indexed:
#  0 count  1 cost (fall-through)  2 extra when taken  3 end address  4 instructions
#  5 flags  6 taken count  7 start address  8 static memory stall  9 cycles charged
F_SELFLOOP, F_UNMASK, F_CALL = 1, 2, 4
PROF_MAX_NODES = 1 << 16
PROF_MAX_DEPTH = 256

_UNMASK_MNEMONICS = {"cpsie", "msr"}

_REGS = {f"r{i}": getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)}
_REGS.update({"sb": A.UC_ARM_REG_R9, "sl": A.UC_ARM_REG_R10, "fp": A.UC_ARM_REG_R11,
              "ip": A.UC_ARM_REG_R12, "sp": A.UC_ARM_REG_SP, "lr": A.UC_ARM_REG_LR,
              "pc": A.UC_ARM_REG_PC})


class BlockCoster:
    """Python block hook (the reference path). `NativeCoster` does the same in C."""

    native = False

    def __init__(self, machine, timing=None, memory=None):
        """`machine`: the host's policy for what the hook cannot decide (a self-loop, a
        divide by zero, whether the slice must end): may_spin, div_by_zero, stopped, and
        its CPU (`uc`). `timing`: the core timing model; `memory`: the memory model, whose
        per-block stalls are added to the core cost (None: ideal memory)."""
        self.m = machine
        self.blocks: dict[int, list] = {}
        self.md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self.md.detail = True
        self.timing = timing
        if timing is not None:          # the taken-branch refill rule reads branch targets
            timing.peek = self._peek
        self.memory = memory
        self._seen_counts: dict[int, int] = {}
        self._decoded: dict[int, list] = {}
        self._last_access = (None, -1)
        self._div_sites: dict[int, tuple] = {}
        self._plans: dict[int, list] = {}
        self._prefixes: dict[int, list] = {}
        self._retranslate: list = []
        self._dummy = [0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0, 0]
        self.prev = self._dummy
        self.cycles = 0
        self.deadline = 0
        self.core_total = 0          # running sums: core issue cycles, taken-branch refills
        self.branch_total = 0
        self.nexec = 0               # blocks executed (--verify positions runs by it)

    def cause_snapshot(self) -> tuple[int, int]:
        """(core, branch) cycles so far: the difference of two snapshots splits an
        interval (a layer) by cause."""
        return self.core_total, self.branch_total

    def install(self, uc) -> None:
        uc.hook_add(UC_HOOK_BLOCK, self.hook_block)

    def emu_stop(self, uc) -> None:
        """End emu_start as soon as possible (from any hook)."""
        uc.emu_stop()

    def emu_run(self, uc, pc: int) -> None:
        m = self.m
        while True:
            uc.emu_start(pc | 1, UNTIL)
            if not self.flush_retranslate(uc) or m.stopped():
                return
            pc = uc.reg_read(A.UC_ARM_REG_PC)

    # ------------------------------------------------------------------ the hook
    def hook_block(self, uc, addr, size, ud):
        if self.cycles >= self.deadline:
            uc.emu_stop()
            return
        b = self.blocks.get(addr)
        if b is None:
            b = self._new_block(addr, size)
            if self._retranslate:
                uc.emu_stop()        # run it re-translated, with its divide hooks
                return
        if b[5] & F_SELFLOOP:
            if not self._selfloop(b) or self.cycles >= self.deadline:
                uc.emu_stop()
                return
        p = self.prev
        c = before = self.cycles
        if p[3] != addr:
            c += p[2]
            p[6] += 1
            p[9] += p[2]
            self.branch_total += p[2]
        b[0] += 1
        self.nexec += 1
        b[9] += b[1]
        self.core_total += b[1] - b[8]
        self.cycles = c + b[1]
        self.prev = b
        if self.prof:
            self._prof_step(addr, p, before)
            self._pending_call = b[5] & F_CALL
        if b[5] & F_UNMASK:
            self.deadline = 0        # look at pending interrupts after this block

    def branch_flush(self) -> None:
        """An exception entry/return redirected the PC: no branch refill to charge."""
        self.prev = self._dummy

    def current_block(self) -> int | None:
        """Start address of the block executing now (inside an MMIO access: the block of the
        accessing instruction), or None. Unicorn's PC is not this: it is synced to the
        instruction only by memory hooks (the memory model's, in detailed windows), so in an
        MMIO callback it is the block start or the last hooked instruction before it."""
        a = self.prev[7]
        return a if a >= 0 else None

    # ------------------------------------------------------------------ call-tree profile
    # A trie of call paths (node = parent + callee entry address) and a shadow call stack:
    # a block ending in BL/BLX makes the next block a callee entry (push); reaching the
    # return address on top of the stack pops. Exception entry pushes the handler with the
    # interrupted PC as its return address. Each block's cycles go to the current node.
    prof = False

    def enable_profile(self) -> None:
        self.prof = True
        self._pending_call = 0
        self._nodes = [[0, 0, 0, 0]]          # parent, func, cycles, calls; node 0 = root
        self._node_index: dict[tuple[int, int], int] = {}
        self._stack: list[tuple[int, int]] = []
        self._cur = 0

    def _child(self, parent: int, func: int) -> int:
        n = self._node_index.get((parent, func))
        if n is None:
            if len(self._nodes) >= PROF_MAX_NODES:
                return parent
            n = len(self._nodes)
            self._nodes.append([parent, func, 0, 0])
            self._node_index[(parent, func)] = n
        return n

    def prof_push(self, ret: int, func: int) -> None:
        if len(self._stack) >= PROF_MAX_DEPTH:
            return
        self._stack.append((ret, self._cur))
        self._cur = self._child(self._cur, func)
        self._nodes[self._cur][3] += 1

    def prof_pop(self) -> None:
        if self._stack:
            self._cur = self._stack.pop()[1]

    def prof_clear_pending(self) -> None:
        self._pending_call = 0

    def prof_top_ret(self):
        return self._stack[-1][0] if self._stack else None

    def _prof_step(self, addr: int, p, before: int) -> None:
        if self._pending_call:
            self._pending_call = 0
            self.prof_push(p[3] & 0xFFFFFFFF, addr)
        elif self._stack and self._stack[-1][0] == addr:
            self.prof_pop()
        self._nodes[self._cur][2] += self.cycles - before

    def profile_nodes(self) -> list:
        """[(parent, func, exclusive cycles, calls)] with node 0 the root."""
        return [tuple(n) for n in self._nodes] if self.prof else []

    def _selfloop(self, b) -> bool:
        """A block that branches to itself (`b .`). In a fault handler it is an unhandled
        fault; with nothing that can ever interrupt it, a hang; otherwise the core spins
        until the next event, which is fast-forwarded (same cycles, fewer host steps).
        Returns False when the run ended."""
        if not self.m.may_spin(b[7]):
            return False
        cost = b[1] + b[2]           # `b .` is always taken: refill included
        skip = self.deadline - self.cycles
        if cost > 0 and skip > 0:
            it = skip // cost
            self._add_iterations(b, it, it * cost)
        return True

    def _add_iterations(self, b, it: int, cycles: int) -> None:
        self.cycles += cycles
        b[0] += it
        b[6] += it
        b[9] += cycles
        self.core_total += it * (b[1] - b[8])
        self.branch_total += it * b[2]

    # ------------------------------------------------------------------ costing
    def _new_block(self, addr: int, size: int) -> list:
        code = bytes(self.m.uc.mem_read(addr, size))
        insns = list(self.md.disasm(code, addr))
        n = len(insns)
        nl = ns = 0
        if self.timing is not None:
            bc = self.timing.block_cost(code, addr)
            cyc, extra, n = bc.cycles_not_taken, bc.cycles_taken - bc.cycles_not_taken, bc.instructions
            nl, ns = bc.n_loads, bc.n_stores
        else:
            cyc, extra = n, 0
        divs = [i for i in insns if i.mnemonic in ("sdiv", "udiv")]
        if divs:
            self._hook_divs(addr, size, divs)
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
        if insns and insns[-1].mnemonic in ("bl", "blx"):
            flags |= F_CALL
        b = [0, cyc, extra, addr + size, n, flags, 0, addr, fetch, 0, nl, ns]
        self.blocks[addr] = b
        return b

    def _peek(self, addr: int, n: int) -> bytes:
        """Code bytes at a branch target (the taken-branch refill rule reads its width)."""
        return bytes(self.m.uc.mem_read(addr, n))

    def recost(self) -> None:
        """The clock, FLASH_ACR or the caches changed: the memory model reconfigures and
        every known block gets its new static stall."""
        if self.memory is not None:
            self.memory.reconfigure()
            for addr, b in list(self.blocks.items()):
                cyc = b[1] - b[8]
                b[8] = self.memory.block_stall(addr, b[3] - addr, None)
                b[1] = cyc + b[8]

    def set_block_stall(self, addr: int, stall: int) -> None:
        """The memory model's per-execution stall of a known block (fast mode learns it)."""
        b = self.blocks.get(addr)
        if b is None or b[8] == stall:
            return
        b[1] += stall - b[8]
        b[8] = stall
        self._block_changed(addr, b)

    def _block_changed(self, addr: int, b) -> None:
        pass

    def loop_iterations(self, addr: int, cycles: int) -> None:
        """A spin-wait fast-forwarded over `cycles` (already charged): when the block at
        `addr` is a loop on itself (its last instruction branches to its start), count the
        iterations it would have run, so instruction counts stay right."""
        b = self.blocks.get(addr)
        if b is None:
            return
        insns = self._decode(addr, b[3] - addr)
        if not insns or not insns[-1].mnemonic.startswith(("b", "cb")):
            return
        ops = insns[-1].operands
        if not ops or ops[-1].type != C.ARM_OP_IMM or ops[-1].imm != addr:
            return
        # an iteration of a polling loop: its core cycles and refill; its learned memory
        # stall (b[8]) is the first pass's (a loop this small runs from the prefetch buffer
        # or cache after it), so it is not part of each skipped iteration
        cost = b[1] - b[8] + b[2]
        if cost <= 0:
            return
        self._count_iterations(addr, b, cycles // cost)

    def _count_iterations(self, addr: int, b, it: int) -> None:
        b[0] += it
        b[6] += it
        self.core_total += it * (b[1] - b[8])
        self.branch_total += it * b[2]

    def charge_current(self, addr, d: int) -> None:
        """Dynamic stall cycles (detailed memory model) of the block now executing: added
        to the clock, to that block's charged cycles and to the current call-tree node."""
        self.cycles += d
        if addr is not None:
            self.attribute(addr, d)
        if self.prof:
            self._nodes[self._cur][2] += d

    def attribute(self, addr: int, d: int) -> None:
        """Add `d` cycles to a block's charged cycles (the function profile); the clock is
        the caller's (charge_current, or cycles already charged in bulk)."""
        b = self.blocks.get(addr)
        if b is not None:
            b[9] += d

    def set_div0_trap(self, on: bool) -> None:
        self.div0_trap = on

    # ------------------------------------------------------------------ divides
    # SDIV/UDIV take 2-12 cycles depending on the operands (TRM), and with CCR.DIV_0_TRP
    # a zero divisor is a UsageFault. A code hook on each divide site (only those) reads
    # the operands; the block is re-translated before its first execution so the hook
    # sees every execution.
    div0_trap = False

    def _hook_divs(self, addr: int, size: int, divs) -> None:
        for ins in divs:
            if ins.address in self._div_sites:
                continue
            ops = ins.operands
            n = len(ops)
            rn = ins.reg_name(ops[n - 2].reg) if n >= 2 else None
            rm = ins.reg_name(ops[n - 1].reg) if n >= 2 else None
            self._div_sites[ins.address] = (rn, rm, ins.mnemonic == "sdiv")
            self.m.uc.hook_add(UC_HOOK_CODE, self._on_div, begin=ins.address, end=ins.address)
        self._retranslate.append((addr, addr + size))

    def _on_div(self, uc, address, size, ud) -> None:
        site = self._div_sites.get(address)
        if site is None:
            return
        rn, rm, signed = site
        a = uc.reg_read(_REGS[rn]) if rn in _REGS else 0
        b = uc.reg_read(_REGS[rm]) if rm in _REGS else 0
        if b == 0 and self.div0_trap:
            self.m.div_by_zero(address)
            return
        if self.timing is not None and hasattr(self.timing, "div_extra"):
            if signed:
                a = a - (1 << 32) if a & 0x80000000 else a
                b = b - (1 << 32) if b & 0x80000000 else b
            extra = self.timing.div_extra(a, b, signed)
            self.cycles += extra
            self.core_total += extra         # operand-dependent divide: core cycles

    def flush_retranslate(self, uc) -> bool:
        """Drop translated blocks that gained divide hooks; True if any."""
        if not self._retranslate:
            return False
        for lo, hi in self._retranslate:
            uc.ctl_remove_cache(lo, hi)
        self._retranslate.clear()
        return True

    # ------------------------------------------------------------------ precise time
    def _decode(self, addr: int, size: int) -> list:
        d = self._decoded.get(addr)
        if d is None:
            code = bytes(self.m.uc.mem_read(addr, size))
            d = list(self.md.disasm(code, addr))
            self._decoded[addr] = d
        return d

    def precise_now(self, cpu, mmio_addr: int | None) -> int:
        """Cycle count at the memory instruction of the current block that is accessing
        MMIO (at `mmio_addr`): block start plus the cost of the instructions before it.
        Several accesses to the same address in one block execution resolve to successive
        instructions."""
        pc = self.current_block()
        if pc is None:
            pc = cpu.reg_read(A.UC_ARM_REG_PC) & ~1
        b = self.blocks.get(pc)
        if b is None:
            return self.cycles
        start = self.cycles - b[1]
        insns = self._decode(pc, b[3] - pc)
        key = (pc, self.cycles)
        after = self._last_access[1] if self._last_access[0] == key else -1
        idx = self._match_access(cpu, mmio_addr, insns, after)
        self._last_access = (key, idx)
        if idx <= 0:
            return start
        return start + min(self._prefix(pc, b, idx), b[1])

    def _prefix(self, pc: int, b, idx: int) -> int:
        """Core cycles of the block's first `idx` instructions (the timing model's
        per-instruction costs; one cycle each without a timing model)."""
        cum = self._prefixes.get(pc)
        if cum is None:
            cum = [0]
            if self.timing is not None:
                bc = self.timing.block_cost(bytes(self.m.uc.mem_read(pc, b[3] - pc)), pc)
                for ins in bc.insns:
                    cum.append(cum[-1] + ins[4])
            self._prefixes[pc] = cum
        if len(cum) > idx:
            return cum[idx]
        return idx

    def _mem_plan(self, pc: int, insns) -> list:
        """Per block: (index, base reg, pc-relative base value, index reg, shift, disp) of
        each memory operand, computed once."""
        plan = self._plans.get(pc)
        if plan is None:
            plan = []
            for i, ins in enumerate(insns):
                for op in ins.operands:
                    if op.type != C.ARM_OP_MEM:
                        continue
                    base = ins.reg_name(op.mem.base) if op.mem.base else None
                    idx = ins.reg_name(op.mem.index) if op.mem.index else None
                    shift = op.shift.value if op.shift.type else 0
                    plan.append((i, _REGS.get(base), (ins.address + 4) & ~3 if base == "pc" else None,
                                 _REGS.get(idx), shift, op.mem.disp))
            self._plans[pc] = plan
        return plan

    def _match_access(self, cpu, target, insns, after: int = -1) -> int:
        first = -1
        reg = cpu.reg_read
        pc = insns[0].address if insns else 0
        for i, base, pcval, idx, shift, disp in self._mem_plan(pc, insns):
            if i <= after:
                continue
            if first < 0:
                first = i
            if target is None:
                return i
            if pcval is not None:
                v = pcval
            elif base is not None:
                v = reg(base)
            else:
                continue
            if idx is not None:
                v += reg(idx) << max(0, shift)
            if ((v + disp) & 0xFFFFFFFC) == (target & 0xFFFFFFFC):
                return i
        return first

    # ------------------------------------------------------------------ results
    def instructions(self) -> int:
        return sum(b[0] * b[4] for b in self.blocks.values())

    def decoded(self, addr: int) -> list:
        """The capstone instructions of a known block."""
        return self._decode(addr, self.blocks[addr][3] - addr)

    def executions(self, addr: int) -> int:
        """How many times a block ran (fast-forwarded iterations included; 0 if unknown)."""
        return self._counts(addr)[0] if addr in self.blocks else 0

    def static_stall(self, addr: int, default=0):
        """The memory stall charged per execution of a known block."""
        b = self.blocks.get(addr)
        return default if b is None else b[8]

    def block_ran(self, addr: int) -> bool:
        """For a second block hook (the memory model's, installed after this one): did this
        hook let the block at `addr` execute, or stop the emulation before it?"""
        b = self.blocks.get(addr)
        if b is None:
            return False
        n = b[0]
        if self._seen_counts.get(addr) == n:
            return False
        self._seen_counts[addr] = n
        return True

    def _counts(self, addr: int) -> tuple[int, int]:
        b = self.blocks[addr]
        return b[0], b[6]

    def _acc(self, addr: int) -> int:
        return self.blocks[addr][9]

    def block_cycles(self):
        """(start address, executions, cycles incl. taken-branch refills, instructions)."""
        for addr, b in self.blocks.items():
            yield addr, b[0], b[9], b[0] * b[4]

    def activity(self) -> tuple[int, int, int]:
        """Code bytes fetched, data words loaded and data words stored by every block run so
        far, each summed over its executions (the core timing model's counts; zeros without
        a timing model). The energy model's activity meter reads it (power/activity.py)."""
        f = ld = st = 0
        for b in self.blocks.values():
            n = b[0]
            if n:
                f += n * (b[3] - b[7])
                ld += n * b[10]
                st += n * b[11]
        return f, ld, st


def load_timing(core, warn=None):
    """The core's timing model (the core file's [timing]); a core without a [timing]
    table is costed one cycle per instruction, and says so."""
    from mcusim.timing.core import CoreTiming
    if core.timing is None:
        msg = f"core {core.name} has no [timing] table: one cycle per instruction"
        if warn is not None:
            warn("no-timing", msg)
        else:
            import sys
            print(f"mcusim: warning: {msg}", file=sys.stderr)
        return None
    return CoreTiming(core)


# ---------------------------------------------------------------------- native path
class _Blk(ctypes.Structure):
    """mcusim/_native/native.h blk_t (what the hook touches)"""
    _fields_ = [("addr", ctypes.c_uint32), ("end", ctypes.c_uint32), ("cyc", ctypes.c_uint32),
                ("extra", ctypes.c_int32), ("flags", ctypes.c_uint32), ("core", ctypes.c_uint32),
                ("count", ctypes.c_uint64), ("taken", ctypes.c_uint64), ("acc", ctypes.c_uint64)]


class _BlkX(ctypes.Structure):
    """mcusim/_native/native.h blkx_t (the rest, beside the table)"""
    _fields_ = [("ninsn", ctypes.c_uint32), ("lflags", ctypes.c_uint32),
                ("learned", ctypes.c_double), ("wstall", ctypes.c_double),
                ("wn", ctypes.c_uint64), ("snap", ctypes.c_uint64),
                ("rows_off", ctypes.c_uint32), ("rows_gen", ctypes.c_uint32),
                ("nrows", ctypes.c_int32), ("rows_src", ctypes.c_int32),
                ("n_loads", ctypes.c_uint32), ("n_stores", ctypes.c_uint32),
                ("ecount", ctypes.c_uint64)]


class _State(ctypes.Structure):
    """mcusim/_native/native.h state_t"""
    _fields_ = [("cycles", ctypes.c_uint64), ("deadline", ctypes.c_uint64),
                ("table", ctypes.POINTER(_Blk)), ("xtab", ctypes.POINTER(_BlkX)),
                ("mask", ctypes.c_uint32),
                ("prev", ctypes.c_uint32), ("stop_reason", ctypes.c_uint32),
                ("miss_addr", ctypes.c_uint32), ("miss_size", ctypes.c_uint32),
                ("resume_addr", ctypes.c_uint32), ("emu_stop", ctypes.c_void_p),
                ("prof", ctypes.c_uint32), ("pending_call", ctypes.c_uint32), ("cur", ctypes.c_uint32),
                ("sp", ctypes.c_uint32), ("maxsp", ctypes.c_uint32), ("nnodes", ctypes.c_uint32),
                ("maxnodes", ctypes.c_uint32), ("hmask", ctypes.c_uint32),
                ("stack", ctypes.POINTER(ctypes.c_uint32)), ("nparent", ctypes.POINTER(ctypes.c_uint32)),
                ("nfunc", ctypes.POINTER(ctypes.c_uint32)), ("hash", ctypes.POINTER(ctypes.c_uint32)),
                ("ncycles", ctypes.POINTER(ctypes.c_uint64)), ("ncalls", ctypes.POINTER(ctypes.c_uint64)),
                ("core_total", ctypes.c_uint64), ("branch_total", ctypes.c_int64),
                ("nexec", ctypes.c_uint64),
                ("cls", ctypes.c_void_p), ("mem_read", ctypes.c_void_p), ("uc", ctypes.c_void_p),
                ("mm", ctypes.c_void_p), ("mm_python", ctypes.c_uint32), ("used", ctypes.c_uint32),
                ("newq", ctypes.POINTER(ctypes.c_uint32)), ("newq_len", ctypes.c_uint32),
                ("newq_cap", ctypes.c_uint32), ("scratch", ctypes.c_void_p),
                ("pcsync_off", ctypes.c_int64)]


_NATIVE_LIB = None
_NATIVE_TRIED = False
_SOURCES = ("blockhook.c", "memmodel.c", "classify.c", "bcache.c")


def _capstone_include():
    """The C headers the capstone package ships (the library Python loaded), or None."""
    try:
        inc = Path(capstone.__file__).resolve().parent / "include"
    except (AttributeError, TypeError):
        return None
    return inc if (inc / "capstone" / "capstone.h").exists() else None


def cache_dir():
    """The user's cache directory for mcusim (native library, costed blocks, parsed
    inputs): $XDG_CACHE_HOME/mcusim or ~/.cache/mcusim, else a temporary directory; None
    when neither can be created."""
    for d in (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mcusim",
              Path(tempfile.gettempdir()) / f"mcusim-{os.getuid() if hasattr(os, 'getuid') else 0}"):
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    return None


def native_library():
    """Compile (once per source version, cached) and load the native hook, memory model
    and classifier. None when no C compiler is available: the Python paths are then used,
    with identical results. Without capstone's headers the library is built without the
    classifier (new blocks are then costed in Python)."""
    global _NATIVE_LIB, _NATIVE_TRIED
    if os.environ.get("MCUSIM_NATIVE", "1") == "0":
        return None                     # checked at every call: tests switch paths
    if _NATIVE_TRIED:
        return _NATIVE_LIB
    _NATIVE_TRIED = True
    srcdir = Path(__file__).resolve().parent.parent / "_native"
    try:
        blobs = [(srcdir / n).read_bytes() for n in (*_SOURCES, "native.h")]
    except OSError:
        return None
    inc = _capstone_include()
    variants = []
    if inc is not None:
        variants.append(["-I", str(inc)])
    variants.append(["-DMCUSIM_NO_CAPSTONE"])
    cc = os.environ.get("CC", "cc")
    dirs = [Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mcusim",
            Path(tempfile.gettempdir()) / f"mcusim-{os.getuid() if hasattr(os, 'getuid') else 0}"]
    for extra in variants:
        flags = ["-O2", "-shared", "-fPIC", "-I", str(srcdir), *extra]
        h = hashlib.sha256()
        for b in blobs:
            h.update(b)
        h.update(" ".join([cc, *flags, str(getattr(capstone, "__version__", ""))]).encode())
        tag = h.hexdigest()[:16]
        for d in dirs:
            so = d / f"mcusim-native-{tag}.so"
            if not so.exists():
                try:
                    d.mkdir(parents=True, exist_ok=True)
                    tmp = so.with_suffix(f".{os.getpid()}.tmp")
                    r = subprocess.run([cc, *flags, "-o", str(tmp), *(str(srcdir / n) for n in _SOURCES),
                                        "-lm"], capture_output=True, timeout=120)
                    if r.returncode != 0:
                        continue
                    os.replace(tmp, so)
                except (OSError, subprocess.SubprocessError):
                    continue
            try:
                lib = ctypes.CDLL(str(so))
            except OSError:
                continue
            from mcusim.timing import native as N
            N._declare(lib)
            if not N.sizes_ok(lib):
                continue
            lib._mcusim_tag = tag
            _NATIVE_LIB = lib
            return lib
    return None


class _BlockView:
    """A native block as the list BlockCoster keeps (indices of BlockCoster: 0 count,
    1 cost, 2 taken extra, 3 end, 4 instructions, 5 flags, 6 taken count, 7 start,
    8 static memory stall, 9 cycles charged), read from and written to the C table."""
    __slots__ = ("c", "a")

    def __init__(self, coster, addr):
        self.c, self.a = coster, addr

    def __getitem__(self, k):
        e = self.c._table[self.c._index[self.a]]
        if k == 1:
            return e.cyc
        if k == 8:
            return e.cyc - e.core
        if k == 3:
            return e.end
        if k == 2:
            return e.extra
        if k == 7:
            return e.addr
        if k == 4:
            return self.c._xtable[self.c._index[self.a]].ninsn
        if k == 5:
            return e.flags
        if k == 0:
            return e.count
        if k == 6:
            return e.taken
        if k == 9:
            return e.acc
        if k == 10:
            return self.c._xtable[self.c._index[self.a]].n_loads
        if k == 11:
            return self.c._xtable[self.c._index[self.a]].n_stores
        raise IndexError(k)

    def __setitem__(self, k, v):
        e = self.c._table[self.c._index[self.a]]
        if k == 1:
            e.cyc = v
        elif k == 8:
            e.cyc = e.core + v
        elif k == 0:
            e.count = v
        elif k == 6:
            e.taken = v
        elif k == 9:
            e.acc = v
        else:
            raise IndexError(k)


class NativeCoster(BlockCoster):
    """The same bookkeeping as BlockCoster.hook_block, in C (mcusim/_native/blockhook.c):
    new blocks are costed by the C port of the core timing model and given their memory
    stall by the native memory model without leaving C; Python sees them lazily (`blocks`
    drains the C queue of new blocks, in order)."""

    native = True
    QUEUE = 4096          # new blocks C may add before Python looks
    SLOTS = 1 << 12       # initial table slots (the table grows x4 at half full)

    def __init__(self, machine, timing, memory, lib):
        from mcusim.timing import native as N
        self._lib = lib
        self._st = _State()
        self._stp = ctypes.addressof(self._st)
        self._blocks = {}
        self._alloc(self.SLOTS)
        super().__init__(machine, timing, memory)
        self._index: dict[int, int] = {}
        st = self._st
        self._newq = (ctypes.c_uint32 * (2 * self.QUEUE))()
        st.newq = ctypes.cast(self._newq, ctypes.POINTER(ctypes.c_uint32))
        st.newq_cap, st.newq_len = self.QUEUE, 0
        self._scratch = N.ClBlock()
        st.scratch = ctypes.addressof(self._scratch)
        self._cl = N.classifier_for(lib, timing)
        st.cls = ctypes.addressof(self._cl.c) if self._cl is not None else None
        st.mm_python = int(memory is not None and not getattr(memory, "native", False))

    def attach_memory(self, mm) -> None:
        """The native memory model's C state (NativeMemoryModel.connect)."""
        self._mm_struct = mm
        self._st.mm = ctypes.addressof(mm)
        self._st.mm_python = 0

    # the block table: C-added blocks appear on first look
    @property
    def blocks(self):
        if self._st.newq_len:
            self._drain()
        return self._blocks

    @blocks.setter
    def blocks(self, v):
        self._blocks = v

    def _drain(self) -> None:
        st = self._st
        n = st.newq_len
        q = self._newq[:2 * n]
        index, blocks = self._index, self._blocks
        for k in range(0, 2 * n, 2):
            a = q[k]
            index[a] = q[k + 1]
            blocks[a] = _BlockView(self, a)
        st.newq_len = 0

    def _alloc(self, slots: int) -> None:
        self._slots = slots
        self._table = (_Blk * (slots + 1))()
        self._xtable = (_BlkX * (slots + 1))()
        ctypes.memset(self._table, 0xFF, ctypes.sizeof(self._table))
        d = self._table[0]
        ctypes.memset(ctypes.byref(d), 0, ctypes.sizeof(_Blk))
        d.addr, d.end = 0xFFFFFFFE, 0xFFFFFFFF
        self._st.table = ctypes.cast(self._table, ctypes.POINTER(_Blk))
        self._st.xtab = ctypes.cast(self._xtable, ctypes.POINTER(_BlkX))
        self._st.mask = slots - 1
        self._st.prev = 0
        self._st.used = 0
        self._st.resume_addr = 0xFFFFFFFF

    # cycles/deadline live in the C struct
    @property
    def cycles(self):
        return self._st.cycles

    @cycles.setter
    def cycles(self, v):
        self._st.cycles = int(v)

    @property
    def deadline(self):
        return self._st.deadline

    @deadline.setter
    def deadline(self, v):
        self._st.deadline = max(0, int(v))

    @property
    def prev(self):
        return None

    def current_block(self) -> int | None:
        i = self._st.prev
        return self._table[i].addr if i else None

    @prev.setter
    def prev(self, v):
        pass

    def install(self, uc) -> None:
        from unicorn.unicorn_py3.unicorn import uclib
        self._uclib = uclib
        st = self._st
        st.emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        st.mem_read = ctypes.cast(uclib.uc_mem_read, ctypes.c_void_p).value
        st.uc = ctypes.cast(uc._uch, ctypes.c_void_p).value
        st.pcsync_off = pcsync.flag_offset()
        self._stop_fn = self._lib.mcusim_stop
        self._hook_fn = ctypes.cast(self._lib.mcusim_block_hook, ctypes.c_void_p)
        self._hh = ctypes.c_size_t()
        err = uclib.uc_hook_add(uc._uch, ctypes.byref(self._hh), UC_HOOK_BLOCK, self._hook_fn,
                                ctypes.cast(ctypes.pointer(st), ctypes.c_void_p),
                                ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise RuntimeError(f"uc_hook_add failed ({err})")

    def emu_stop(self, uc) -> None:
        """uc_emu_stop with Unicorn's PC sync switched back on (mcusim/timing/pcsync.py):
        the stop may fall inside a block."""
        self._stop_fn(self._stp)

    def branch_flush(self) -> None:
        self._st.prev = 0

    def block_ran(self, addr: int) -> bool:
        return self._st.stop_reason == 0

    def enable_profile(self) -> None:
        st = self._st
        n, h = PROF_MAX_NODES, PROF_MAX_NODES * 2
        self._parr = {
            "stack": (ctypes.c_uint32 * (2 * PROF_MAX_DEPTH))(),
            "nparent": (ctypes.c_uint32 * n)(), "nfunc": (ctypes.c_uint32 * n)(),
            "hash": (ctypes.c_uint32 * h)(),
            "ncycles": (ctypes.c_uint64 * n)(), "ncalls": (ctypes.c_uint64 * n)(),
        }
        for k, arr in self._parr.items():
            setattr(st, k, ctypes.cast(arr, type(getattr(st, k))))
        st.maxsp, st.maxnodes, st.hmask = PROF_MAX_DEPTH, n, h - 1
        st.nnodes, st.cur, st.sp, st.pending_call = 1, 0, 0, 0
        st.prof = 1
        self.prof = True

    def prof_push(self, ret: int, func: int) -> None:
        self._lib.mcusim_prof_push(self._stp, ret & 0xFFFFFFFF, func & 0xFFFFFFFF)

    def prof_pop(self) -> None:
        self._lib.mcusim_prof_pop(self._stp)

    def prof_clear_pending(self) -> None:
        self._st.pending_call = 0

    def prof_top_ret(self):
        st = self._st
        return st.stack[2 * (st.sp - 1)] if st.sp else None

    def profile_nodes(self) -> list:
        if not self.prof:
            return []
        a = self._parr
        return [(a["nparent"][i], a["nfunc"][i], a["ncycles"][i], a["ncalls"][i])
                for i in range(self._st.nnodes)]

    def emu_run(self, uc, pc: int) -> None:
        st = self._st
        m = self.m
        if self._cl is not None:
            self._cl.sync_custom()
        while True:
            st.stop_reason = 0
            uc.emu_start(pc | 1, UNTIL)
            reason = st.stop_reason
            if reason == 2:
                self._new_block(st.miss_addr, st.miss_size)
                self.flush_retranslate(uc)
            elif reason == 3:
                b = self.blocks[st.miss_addr]
                if not self._selfloop(b) or m.outcome:
                    return
                st.resume_addr = st.miss_addr
            else:
                if reason == 1:
                    st.resume_addr = 0xFFFFFFFF
                return
            if m.stopped():
                return
            pc = uc.reg_read(A.UC_ARM_REG_PC)

    def _new_block(self, addr: int, size: int):
        self._drain()
        if len(self._index) * 2 >= self._slots:
            self._grow()
        i = self._lib.mcusim_insert(self._stp, addr)
        self._index[addr] = i
        view = _BlockView(self, addr)
        r = code = None
        if self._cl is not None:
            code = bytes(self.m.uc.mem_read(addr, size))
            r = self._cl.block(code, addr, self.m.uc)
        if r is None:
            if self._st.mm:
                raise RuntimeError(f"the native classifier cannot cost the block at 0x{addr:08x}; "
                                   "run with MCUSIM_NATIVE=0")
            b = BlockCoster._new_block(self, addr, size)     # the reference path
            self._sync(i, b)
        else:
            if r.has_div:                 # operand hooks on its divides (BlockCoster)
                self._hook_divs(addr, size, [x for x in self.md.disasm(code, addr)
                                             if x.mnemonic in ("sdiv", "udiv")])
            fetch = self.memory.block_stall(addr, size, None) if self.memory is not None else 0
            e = self._table[i]
            e.end, e.cyc, e.extra, e.flags = ((addr + size) & 0xFFFFFFFF, r.nt + fetch,
                                              r.tk - r.nt, r.flags)
            e.core = r.nt
            x = self._xtable[i]
            x.ninsn, x.n_loads, x.n_stores = r.ninsn, r.n_loads, r.n_stores
        self._blocks[addr] = view
        return view

    def _block_changed(self, addr: int, b) -> None:
        pass                                  # views write through

    def _prefix(self, pc: int, b, idx: int) -> int:
        """BlockCoster._prefix from the C classifier's per-instruction cycles."""
        cum = self._prefixes.get(pc)
        if cum is None and self._cl is not None and self.timing is not None:
            r = self._cl.block(bytes(self.m.uc.mem_read(pc, b[3] - pc)), pc, self.m.uc)
            if r is not None:
                cum = [0]
                for _a, c in r.insns:
                    cum.append(cum[-1] + c)
                self._prefixes[pc] = cum
        if cum is None:
            return super()._prefix(pc, b, idx)
        return cum[idx] if len(cum) > idx else idx

    def _count_iterations(self, addr: int, b, it: int) -> None:
        e = self._table[self._index[addr]]
        e.count += it
        e.taken += it
        self.core_total += it * (b[1] - b[8])
        self.branch_total += it * b[2]

    def attribute(self, addr: int, d: int) -> None:
        i = self._index.get(addr)
        if i is None and self._st.newq_len:
            self._drain()
            i = self._index.get(addr)
        if i is not None:
            self._table[i].acc += d

    def charge_current(self, addr, d: int) -> None:
        st = self._st
        st.cycles += d
        if addr is not None:
            self.attribute(addr, d)
        if self.prof:
            self._parr["ncycles"][st.cur] += d

    def _sync(self, i: int, b) -> None:
        e = self._table[i]
        e.end, e.cyc, e.extra, e.flags = b[3] & 0xFFFFFFFF, b[1], b[2], b[5]
        e.core = b[1] - b[8]
        x = self._xtable[i]
        x.ninsn, x.n_loads, x.n_stores = b[4], b[10], b[11]

    @property
    def core_total(self):
        return self._st.core_total

    @core_total.setter
    def core_total(self, v):
        self._st.core_total = int(v)

    @property
    def branch_total(self):
        return self._st.branch_total

    @property
    def nexec(self):
        return self._st.nexec

    @nexec.setter
    def nexec(self, v):
        self._st.nexec = int(v)

    @branch_total.setter
    def branch_total(self, v):
        self._st.branch_total = int(v)

    def _grow(self) -> None:
        """A four times larger table; every entry moves whole (counts, learned stalls,
        rows); the previous block and the memory model's executing block follow."""
        self._drain()
        old, oldx, old_index = self._table, self._xtable, self._index
        back = {i: a for a, i in old_index.items()}
        prev = back.get(self._st.prev)
        mm = getattr(self, "_mm_struct", None)
        exe = back.get(mm.exec_idx) if mm is not None else None
        self._alloc(self._slots * 4)
        self._index = {}
        size, xsize = ctypes.sizeof(_Blk), ctypes.sizeof(_BlkX)
        for a, i in old_index.items():
            j = self._lib.mcusim_insert(self._stp, a)
            ctypes.memmove(ctypes.addressof(self._table[j]), ctypes.addressof(old[i]), size)
            ctypes.memmove(ctypes.addressof(self._xtable[j]), ctypes.addressof(oldx[i]), xsize)
            self._index[a] = j
        self._st.prev = self._index[prev] if prev is not None else 0
        if mm is not None:
            mm.exec_idx = self._index[exe] if exe is not None else 0

    def _add_iterations(self, b, it: int, cycles: int) -> None:
        self.cycles += cycles
        e = self._table[self._index[b[7]]]
        e.count += it
        e.taken += it
        e.acc += cycles
        self.core_total += it * (b[1] - b[8])
        self.branch_total += it * b[2]

    def _counts(self, addr: int) -> tuple[int, int]:
        e = self._table[self._index[addr]]
        return e.count, e.taken

    def instructions(self) -> int:
        blocks = self.blocks
        t, x, idx = self._table, self._xtable, self._index
        total = 0
        for a in blocks:
            i = idx[a]
            total += t[i].count * x[i].ninsn
        return total

    def _acc(self, addr: int) -> int:
        return self._table[self._index[addr]].acc

    def activity(self) -> tuple[int, int, int]:
        out = (ctypes.c_uint64 * 3)()
        self._lib.mcusim_activity(self._stp, out)
        return out[0], out[1], out[2]

    def block_cycles(self):
        blocks = self.blocks
        t, x, idx = self._table, self._xtable, self._index
        for addr in list(blocks):
            i = idx[addr]
            e = t[i]
            yield addr, e.count, e.acc, e.count * x[i].ninsn


def make_coster(machine, timing, memory=None):
    """The native block hook when a C compiler is available, else the Python one (the
    same results; tests/test_native.py)."""
    lib = native_library()
    if lib is not None:
        return NativeCoster(machine, timing, memory, lib)
    return BlockCoster(machine, timing, memory)
