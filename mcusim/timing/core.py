"""Static per-basic-block core timing for Cortex-M cores.

A translated block is decoded once with capstone and costed with the declarative
``[timing]`` table of ``cores/<name>.toml``. Two engines share one instruction
classifier:

* ``scalar``     -- single-issue in-order cores (M0+, M3, M4, M33): table cost per
  class plus the M3/M4 load/store pipelining rules (TRM §3.3.2), the address-
  dependency stall, result latencies (FP +1, M33 load-use) and IT folding.
* ``dual_issue`` -- Cortex-M7: an in-order two-wide issue scoreboard with unit
  capacities, single-issue and slot-0-only classes, result latencies and a
  static branch-prediction approximation.

Every rule and its source is described in ``docs/timing.md``. Memory wait states are
*not* included here: the memory model adds them on top using ``n_loads``/``n_stores``
and the fetch stream.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import capstone
from capstone import arm as _arm

from mcusim.schema import CatalogError, CoreName, CoreSpec, Ctx, PairingSpec, TimingSpec, \
    build, defaults

__all__ = ["CoreTiming", "BlockCost", "TimingError", "div_cycles", "load_timing_table"]


class TimingError(CatalogError, ValueError):
    """A timing table is missing, unreadable or inconsistent (user-fixable: exit status 2)."""


# --------------------------------------------------------------------------- result

@dataclass
class BlockCost:
    cycles_not_taken: int   # final branch (if any) falls through / is not taken
    cycles_taken: int       # final branch taken (adds the refill / mispredict cost)
    instructions: int
    n_loads: int            # data reads (words/beats: LDM/POP count each register)
    n_stores: int           # data writes
    dyn: list = field(default_factory=list)    # ("sdiv"|"udiv", index, rn, rm)
    insns: list = field(default_factory=list)  # (address, size, mnemonic, op_str, cycles, class)
    ends_in: str = "none"   # branch|call|cond_branch|indirect|return|svc|wfi|wfe|bkpt|udf|none

    def cycles(self, taken: bool) -> int:
        return self.cycles_taken if taken else self.cycles_not_taken


# --------------------------------------------------------------------------- tables

_ALIASES = {
    "m0+": "cortex-m0plus", "cortex-m0+": "cortex-m0plus", "m0plus": "cortex-m0plus",
    "m3": "cortex-m3", "m4": "cortex-m4f", "m4f": "cortex-m4f", "cortex-m4": "cortex-m4f",
    "m7": "cortex-m7f", "m7f": "cortex-m7f", "cortex-m7": "cortex-m7f", "m33": "cortex-m33",
}


def load_timing_table(name_or_path: str) -> dict:
    """The merged ``[timing]`` table of a core as written (after ``extends``), plus its name."""
    return CoreTiming(name_or_path).t


def _load_core(name_or_path: str) -> CoreSpec:
    from mcusim.catalog import load_core
    s = str(name_or_path)
    if not (s.endswith(".toml") or "/" in s or "\\" in s):
        s = _ALIASES.get(s.lower(), s)
    try:
        return load_core(s)
    except CatalogError as e:
        raise TimingError(str(e)) from None


def _core_timing(core: CoreSpec) -> TimingSpec:
    if core.timing is None:
        raise TimingError(f"core {core.name}: no [timing] table")
    return core.timing


def _timing_spec(src) -> TimingSpec:
    """A core's timing from a name, a path, a CoreSpec, a TimingSpec or a raw table."""
    if isinstance(src, TimingSpec):
        return src
    if isinstance(src, CoreSpec):
        return _core_timing(src)
    if isinstance(src, CoreName) and src.timing is not None:
        return src.timing                 # the core's own table (user core files too)
    if isinstance(src, dict):
        t = src.get("timing", src)
        parent = t.get("extends")
        t = {k: v for k, v in t.items() if k not in ("extends", "name")}
        if parent:
            from mcusim.catalog import _deep_merge
            t = _deep_merge(copy.deepcopy(_core_timing(_load_core(parent)).raw), t)
        try:
            return build(TimingSpec, t, Ctx(file="timing table"), "timing")
        except CatalogError as e:
            raise TimingError(str(e)) from None
    return _core_timing(_load_core(src))


# --------------------------------------------------------------------------- classifier

_REGMAP = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12", "r13": "sp", "r14": "lr",
           "r15": "pc", "apsr": "flags", "cpsr": "flags", "apsr_nzcv": "flags"}
_IGNORE_REGS = {"pc", "itstate"}


def _norm(name: str) -> tuple:
    name = _REGMAP.get(name, name)
    if name.startswith("d") and name[1:].isdigit():
        n = int(name[1:])
        return (f"s{2 * n}", f"s{2 * n + 1}") if n < 16 else (name,)
    if name.startswith("q") and name[1:].isdigit():
        n = int(name[1:])
        return tuple(f"s{4 * n + k}" for k in range(4))
    return (name,)


_LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrt", "ldrbt", "ldrht", "ldrsbt",
          "ldrsht", "lda", "ldab", "ldah"}
_LDREX = {"ldrex", "ldrexb", "ldrexh", "ldaex", "ldaexb", "ldaexh"}
_STORES = {"str", "strb", "strh", "strt", "strbt", "strht", "stl", "stlb", "stlh"}
_STREX = {"strex", "strexb", "strexh", "stlex", "stlexb", "stlexh"}
_LDM = {"ldm", "ldmia", "ldmdb", "ldmea", "ldmfd", "pop"}
_STM = {"stm", "stmia", "stmdb", "stmea", "stmfd", "push"}
_MUL = {"mul", "smulbb", "smulbt", "smultb", "smultt", "smulwb", "smulwt", "smmul",
        "smmulr", "smuad", "smuadx", "smusd", "smusdx"}
_MLA = {"mla", "mls"}
_MULL = {"umull", "smull"}
_MLAL = {"umlal", "smlal"}
_DSP_MAC = {"smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt", "smmla", "smmlar",
            "smmls", "smmlsr", "smlad", "smladx", "smlsd", "smlsdx", "smlald", "smlaldx",
            "smlsld", "smlsldx", "smlalbb", "smlalbt", "smlaltb", "smlaltt", "umaal"}
_DSP_MUL_ONLY = {"smulbb", "smulbt", "smultb", "smultt", "smulwb", "smulwt", "smmul",
                 "smmulr", "smuad", "smuadx", "smusd", "smusdx"}
_DSP_SAT = {"qadd", "qsub", "qdadd", "qdsub", "qadd16", "qadd8", "qsub16", "qsub8", "qasx",
            "qsax", "uqadd16", "uqadd8", "uqsub16", "uqsub8", "uqasx", "uqsax", "usad8",
            "usada8", "ssat16", "usat16"}
_DSP = {"sadd16", "sadd8", "ssub16", "ssub8", "sasx", "ssax", "uadd16", "uadd8", "usub16",
        "usub8", "uasx", "usax", "shadd16", "shadd8", "shsub16", "shsub8", "shasx", "shsax",
        "uhadd16", "uhadd8", "uhsub16", "uhsub8", "uhasx", "uhsax", "sel", "pkhbt", "pkhtb",
        "sxtb16", "uxtb16", "sxtab16", "uxtab16", "sxtab", "sxtah", "uxtab", "uxtah"}
_EXTEND = {"sxtb", "sxth", "uxtb", "uxth"}
_BITFIELD = {"clz", "bfi", "bfc", "ubfx", "sbfx", "rev", "rev16", "revsh", "rbit", "ssat",
             "usat"}
_FP_ALU = {"vadd", "vsub", "vmul", "vnmul", "vabs", "vneg", "vcmp", "vcmpe", "vcvt", "vcvta",
           "vcvtn", "vcvtp", "vcvtm", "vcvtr", "vcvtb", "vcvtt", "vrinta", "vrintn", "vrintp",
           "vrintm", "vrintr", "vrintx", "vrintz", "vmaxnm", "vminnm", "vseleq", "vselge",
           "vselgt", "vselvs", "vsel"}
_FP_MAC = {"vmla", "vmls", "vnmla", "vnmls"}
_FP_FMA = {"vfma", "vfms", "vfnma", "vfnms"}
_VLDM = {"vldm", "vldmia", "vldmdb", "vpop"}
_VSTM = {"vstm", "vstmia", "vstmdb", "vpush"}
_HINT_MNEM = {"nop": "nop", "yield": "nop", "sev": "nop", "wfi": "wfi", "wfe": "wfe",
              "sevl": "nop", "esb": "nop", "csdb": "nop"}
_SIMPLE = {"dmb": "barrier", "dsb": "barrier", "isb": "isb", "mrs": "mrs", "msr": "msr",
           "cps": "cps", "svc": "svc", "bkpt": "bkpt", "udf": "udf", "it": "it",
           "vmrs": "vmrs", "vmsr": "vmsr", "sdiv": "div", "udiv": "div", "clrex": "alu",
           "pld": "pld", "pldw": "pld", "pli": "pld", "tbb": "tbb", "tbh": "tbb",
           "cbz": "cbz", "cbnz": "cbz", "bl": "bl", "blx": "blx", "bx": "bx", "b": "b",
           "sg": "alu", "tt": "alu", "tta": "alu", "ttt": "alu", "ttat": "alu",
           "bxns": "bx", "blxns": "blx", "vdiv": "fp_div", "vsqrt": "fp_sqrt"}

# capstone instruction names that differ from the UAL mnemonic
_NAME_ALIASES = {"fmstat": "vmrs", "fconsts": "vmov", "fconstd": "vmov", "vmovs": "vmov",
                 "vmovd": "vmov", "vmovrs": "vmov", "vmovsr": "vmov", "vmovrrd": "vmov",
                 "vmovdrr": "vmov", "vmovrrs": "vmov", "vmovsrr": "vmov"}

_LOAD_CLASSES = {"load", "ldrd", "ldm", "ldm_pc", "load_pc", "vldr", "vldm", "tbb"}
_STORE_CLASSES = {"store", "strd", "stm", "vstr", "vstm"}
_BRANCH_CLASSES = {"b", "bl", "blx", "bx", "cbz", "tbb", "ldm_pc", "load_pc", "alu_pc"}
_DP_CLASSES = {"alu", "extend", "bitfield", "dsp", "dsp_sat", "mul", "mla", "mull", "mlal",
               "dsp_mac"}
_FP_ARITH = {"fp_alu", "fp_mac", "fp_fma", "fp_div", "fp_sqrt"}


class _Ins:
    __slots__ = ("addr", "size", "mnem", "op_str", "name", "cls", "cond", "reads", "writes",
                 "addr_regs", "wb", "nregs", "words", "target", "acc", "store_data",
                 "shifted", "sets_flags", "f64", "byte_half", "rn", "rm", "custom")


def _classify(i) -> _Ins:
    x = _Ins()
    x.addr, x.size, x.mnem, x.op_str = i.address, i.size, i.mnemonic, i.op_str
    name = i.insn_name() or i.mnemonic.split(".")[0]
    base_mnem = i.mnemonic.split(".")[0]
    name = _NAME_ALIASES.get(name, name)
    if name == "hint":
        name = base_mnem if base_mnem in _HINT_MNEM else "nop"
    x.name = name
    cc = i.cc
    x.cond = cc not in (0, _arm.ARM_CC_AL)
    r, w = i.regs_access()
    reads, writes = set(), set()
    for reg in r:
        reads.update(_norm(i.reg_name(reg)))
    for reg in w:
        writes.update(_norm(i.reg_name(reg)))
    if i.update_flags:      # capstone omits CPSR from regs_access for e.g. 16-bit SUBS
        writes.add("flags")
    x.sets_flags = "flags" in writes
    writes_pc = "pc" in writes
    reads -= _IGNORE_REGS
    writes -= _IGNORE_REGS
    x.reads, x.writes = reads, writes
    x.addr_regs = set()
    x.wb = bool(i.writeback)
    x.target = None
    x.acc = set()
    x.store_data = set()
    x.shifted = set()
    x.f64 = False
    x.byte_half = False
    x.rn = x.rm = None
    regops = []
    for op in i.operands:
        if op.type == _arm.ARM_OP_MEM:
            if op.mem.base:
                x.addr_regs.update(_norm(i.reg_name(op.mem.base)))
            if op.mem.index:
                x.addr_regs.update(_norm(i.reg_name(op.mem.index)))
        elif op.type == _arm.ARM_OP_REG:
            rn = i.reg_name(op.value.reg)
            regops.append(rn)
            if rn.startswith("d") and rn[1:2].isdigit():
                x.f64 = True
            if op.shift.type and op.shift.value:
                x.shifted.update(_norm(rn))
        elif op.type == _arm.ARM_OP_IMM and name in ("b", "bl", "cbz", "cbnz", "blx"):
            x.target = op.imm
    x.addr_regs -= _IGNORE_REGS
    x.nregs = 0
    x.words = 0
    cls = "alu"

    # ---- classification
    if name in _SIMPLE:
        cls = _SIMPLE[name]
        if name == "blx" and x.target is not None:
            cls = "bl"      # BLX imm does not exist in M-profile; treat as BL
        if cls == "tbb":
            x.words = 1     # one table read
    elif name in _HINT_MNEM:
        cls = _HINT_MNEM[name]
    elif name in _LOADS or name in _LDREX:
        cls = "load_pc" if writes_pc else "load"
        x.byte_half = name not in ("ldr", "ldrt", "ldrex", "lda", "ldaex")
        x.words = 1
    elif name in _STORES or name in _STREX:
        cls = "store"
        x.words = 1
        x.store_data = set(_norm(regops[0])) if regops else set()
        if name in _STREX and len(regops) > 1:
            x.store_data = set(_norm(regops[1]))
    elif name in ("ldrd", "ldaexd", "ldrexd"):
        cls, x.words = "ldrd", 2
    elif name in ("strd", "stlexd", "strexd"):
        cls, x.words = "strd", 2
        x.store_data = {r for r in reads if r not in x.addr_regs}
    elif name in _LDM:
        # the base register is the first operand; it may also appear in the list
        lst = regops if name == "pop" else regops[1:]
        x.nregs = x.words = len(lst)
        if name != "pop" and regops:
            x.addr_regs.update(_norm(regops[0]))
        else:
            x.addr_regs.add("sp")
        cls = "ldm_pc" if writes_pc else "ldm"
    elif name in _STM:
        lst = regops if name == "push" else regops[1:]
        x.nregs = x.words = len(lst)
        if name != "push" and regops:
            x.addr_regs.update(_norm(regops[0]))
        else:
            x.addr_regs.add("sp")
        cls = "stm"
    elif name == "vldr":
        cls = "vldr"
        x.words = 2 if x.f64 else 1
    elif name == "vstr":
        cls = "vstr"
        x.words = 2 if x.f64 else 1
        x.store_data = set(_norm(regops[0])) if regops else set()
    elif name in _VLDM or name in _VSTM:
        cls = "vldm" if name in _VLDM else "vstm"
        lst = regops
        if name not in ("vpush", "vpop") and regops:
            x.addr_regs.update(_norm(regops[0]))
            lst = regops[1:]
        else:
            x.addr_regs.add("sp")
        x.words = sum(2 if r.startswith("d") else 1 for r in lst)
        x.nregs = x.words
    elif name in _FP_ALU or name.startswith("vcvt") or name.startswith("vrint") \
            or name.startswith("vsel"):
        cls = "fp_alu"
    elif name in _FP_MAC:
        cls = "fp_mac"
        x.acc = set(_norm(regops[0])) if regops else set()
    elif name in _FP_FMA:
        cls = "fp_fma"
        x.acc = set(_norm(regops[0])) if regops else set()
    elif name == "vmov":
        core = sum(1 for r in regops if r[:1] == "r" or r in ("sb", "sl", "fp", "ip", "lr",
                                                               "sp"))
        if core >= 2:
            cls = "vmov_core2"
        elif core == 1 and "[" not in i.op_str:
            cls = "vmov_core"
        else:
            cls = "vmov"
    elif name in _MUL:
        cls = "dsp_mul" if name in _DSP_MUL_ONLY else "mul"
    elif name in _MLA:
        cls = "mla"
        x.acc = set(_norm(regops[3])) if len(regops) > 3 else set()
    elif name in _MULL:
        cls = "mull"
    elif name in _MLAL:
        cls = "mlal"
        x.acc = set(_norm(regops[0])) | set(_norm(regops[1])) if len(regops) > 1 else set()
    elif name in _DSP_MAC:
        cls = "dsp_mac"
        if name.startswith("smlal") or name in ("smlald", "smlaldx", "smlsld", "smlsldx",
                                                "umaal"):
            x.acc = set(_norm(regops[0])) | set(_norm(regops[1])) if len(regops) > 1 \
                else set()
        elif len(regops) > 3:
            x.acc = set(_norm(regops[3]))
    elif name in _DSP_SAT:
        cls = "dsp_sat"
    elif name in _DSP:
        cls = "dsp"
    elif name in _EXTEND:
        cls = "extend"
    elif name in _BITFIELD:
        cls = "bitfield"
    elif writes_pc:
        cls = "alu_pc"
    elif name.startswith("v"):
        cls = "fp_alu"      # any other FP data-processing op
    else:
        cls = "alu"
    if cls == "div" and len(regops) >= 3:
        x.rn, x.rm = regops[1], regops[2]
    x.cls = cls
    return x


# --------------------------------------------------------------------------- divide

def _clz32(v: int) -> int:
    v &= 0xFFFFFFFF
    return 32 - v.bit_length()


def div_cycles(core, rn_value: int, rm_value: int, signed: bool) -> int:
    """Cycles of SDIV/UDIV for the given operands (dividend ``rn``, divisor ``rm``).

    Approximation (docs/timing.md): the divider retires quotient bits at a fixed rate, so
    ``q = clz(|divisor|) - clz(|dividend|) + 1`` quotient bits cost
    ``div_min + ceil(q * (div_max - div_min) / 32)``, and ``div_min`` when the quotient is
    0 or the divisor is 0; clamped to [div_min, div_max]. Cores with div_min == div_max
    (M7: LLVM figure) always return that value.
    """
    ct = core if isinstance(core, CoreTiming) else CoreTiming(core)
    lo, hi = ct.div_min, ct.div_max
    if hi <= lo:
        return lo
    n, d = rn_value & 0xFFFFFFFF, rm_value & 0xFFFFFFFF
    if signed:
        if n & 0x80000000:
            n = (-n) & 0xFFFFFFFF
        if d & 0x80000000:
            d = (-d) & 0xFFFFFFFF
    if d == 0 or n < d:
        return lo
    q = _clz32(d) - _clz32(n) + 1
    return max(lo, min(hi, lo + math.ceil(q * (hi - lo) / 32)))


# --------------------------------------------------------------------------- engine

_MD = None


def _disasm():
    global _MD
    if _MD is None:
        md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        md.detail = True
        _MD = md
    return _MD


def _static_target(code: bytes, address: int) -> int | None:
    """The target of a B/B<cc>/BL/CBZ decoded from ``code`` (one instruction), else None."""
    for i in _disasm().disasm(code, address):
        x = _classify(i)
        return x.target if x.cls in ("b", "bl", "cbz") else None
    return None


class CoreTiming:
    """Static cost of translated blocks for one core, from its ``[timing]`` table."""

    _CACHE_MAX = 1 << 16

    def __init__(self, core: "CoreSpec | TimingSpec | dict | str"):
        """``core``: a CoreSpec, a core name or path (``cortex-m4f``, ``m4``, a .toml), a
        TimingSpec, or a raw ``[timing]`` table (``extends`` allowed)."""
        spec = _timing_spec(core)
        self.spec = spec
        if isinstance(core, CoreSpec):
            self.name = str(core.name)
        elif isinstance(core, str):
            s = str(core)
            self.name = _ALIASES.get(s.lower(), s) if not s.endswith(".toml") else \
                s.replace("\\", "/").rpartition("/")[2][:-5]
        else:
            self.name = "custom"
        self.t = dict(spec.raw or {})        # the table as written (merged), for reference
        self.t.setdefault("name", self.name)
        self.model = spec.model
        self.classes: dict = dict(spec.classes)
        self.extra_latency: dict = dict(spec.extra_latency)
        self.latency: dict = dict(spec.latency)
        self.P = spec.branch_taken_refill
        self.div_min = spec.div_min
        self.div_max = spec.div_max
        self.issue_width = spec.issue_width
        self.pairing: PairingSpec = spec.pairing or defaults(PairingSpec)
        self.exception_entry_cycles = spec.exception_entry_cycles
        self.exception_exit_cycles = spec.exception_exit_cycles
        self.tail_chain_cycles = spec.tail_chain_cycles
        self.exception_entry_cycles_fp = spec.exception_entry_cycles_fp_context
        self.exception_exit_cycles_fp = spec.exception_exit_cycles_fp_context
        # class -> cycles by which the accumulator operand is read late
        self._late_acc = dict(spec.late_accumulator_classes)
        self._cache: dict = {}
        # custom instructions (mcusim/accelerators/coprocessor.py): f(hw1, hw2) -> issue
        # cycles of a coprocessor-space instruction, or None when it is not one of them;
        # the addresses costed so are kept (a block costed elsewhere is charged at the trap)
        self.custom_cost = None
        self.custom_sites: set = set()
        # peek(addr, n) -> bytes: reads a branch target's first halfword for the
        # [timing.branch_refill] rule (the block coster sets it; None: width unknown)
        self.peek = None

    # ------------------------------------------------------------------ helpers
    def _c(self, key: str, default: int | None = None) -> int:
        v = self.classes.get(key)
        if v is None:
            if default is None:
                return int(self.classes["alu"])
            return default
        return int(v)

    def div_extra(self, rn_value: int, rm_value: int, signed: bool) -> int:
        """Cycles to add at run time for a divide (static cost already holds div_min)."""
        return div_cycles(self, rn_value, rm_value, signed) - self.div_min

    def exception_cycles(self, kind: str, fp_context: bool = False) -> int | None:
        """``entry`` | ``exit`` | ``tail_chain`` cycles (zero wait states)."""
        if kind == "entry":
            return self.exception_entry_cycles_fp if fp_context else self.exception_entry_cycles
        if kind == "exit":
            return self.exception_exit_cycles_fp if fp_context else self.exception_exit_cycles
        if kind == "tail_chain":
            return self.tail_chain_cycles
        raise ValueError(f"unknown exception timing {kind!r}")

    # ------------------------------------------------------------------ decode
    def decode(self, code: bytes, address: int) -> list[_Ins]:
        out = []
        end = 0
        for i in _disasm().disasm(bytes(code), address):
            x = _classify(i)
            x.custom = None
            if self.custom_cost is not None and i.size == 4 and (i.bytes[1] & 0xEC) == 0xEC:
                b = i.bytes
                v = self.custom_cost(b[0] | b[1] << 8, b[2] | b[3] << 8)
                if v is not None:
                    x.cls, x.custom = "custom", int(v)
                    self.custom_sites.add(x.addr)
            out.append(x)
            end = i.address + i.size - address
        # undecodable tail (bad bytes or a truncated 32-bit opcode): one cycle a halfword
        while end < len(code):
            x = _Ins()
            x.addr, x.size, x.mnem, x.op_str = address + end, min(2, len(code) - end), \
                ".unknown", ""
            x.name, x.cls, x.cond = "unknown", "unknown", False
            x.reads, x.writes, x.addr_regs, x.acc, x.store_data, x.shifted = \
                set(), set(), set(), set(), set(), set()
            x.wb = x.sets_flags = x.f64 = x.byte_half = False
            x.nregs = x.words = 0
            x.target = x.rn = x.rm = None
            out.append(x)
            end += x.size
        return out

    # ------------------------------------------------------------------ public
    def block_cost(self, code: bytes, address: int) -> BlockCost:
        key = (address, bytes(code), self._target_key(code, address))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        ins = self.decode(code, address)
        if self.model == "dual_issue":
            bc = self._dual(ins)
        else:
            bc = self._scalar(ins)
        if len(self._cache) >= self._CACHE_MAX:
            self._cache.clear()
        self._cache[key] = bc
        return bc

    # ------------------------------------------------------------------ shared
    @staticmethod
    def _ends_in(x: _Ins | None) -> str:
        if x is None:
            return "none"
        c = x.cls
        if c in ("svc", "wfi", "wfe", "bkpt", "udf"):
            return c
        if c not in _BRANCH_CLASSES:
            return "none"
        if x.cond or c == "cbz":
            return "cond_branch"
        if c == "b":
            return "branch"
        if c in ("bl", "blx"):
            return "call"
        if c in ("bx", "alu_pc") and "lr" in x.reads:
            return "return"
        if c in ("ldm_pc",) or (c == "load_pc" and "sp" in x.addr_regs):
            return "return"
        return "indirect"

    def _counts(self, ins):
        nl = sum(x.words for x in ins if x.cls in _LOAD_CLASSES)
        ns = sum(x.words for x in ins if x.cls in _STORE_CLASSES)
        dyn = [(x.name, k, x.rn, x.rm) for k, x in enumerate(ins) if x.cls == "div"]
        return nl, ns, dyn

    def _base_cost(self, x: _Ins) -> int:
        """Issue cost of one instruction, excluding the taken-branch refill."""
        c, k = x.cls, self._c
        if c in ("ldm", "ldm_pc"):
            v = k("ldm_base", 1) + k("ldm_per_reg", 1) * x.nregs
            return v + (k("ldm_pc_extra", 0) if c == "ldm_pc" else 0)
        if c == "stm":
            return k("stm_base", 1) + k("stm_per_reg", 1) * x.nregs
        if c in ("vldm", "vstm"):
            return k("vldm_base", 1) + k("vldm_per_word", 1) * x.words
        if c == "ldrd":
            return k("ldrd", 3)
        if c == "strd":
            return k("strd", 3)
        if c == "load":
            return k("load")
        if c == "store":
            imm = "[" in x.op_str and self._mem_is_imm(x)
            return k("store_imm", k("store")) if imm else k("store")
        if c == "load_pc":
            return k("load_pc", 2) + k("load_pc_extra", 0)
        if c == "tbb":
            return k("tbb", 2) + k("load_pc_extra", 0)
        if c == "vldr":
            return k("vldr_64", 3) if x.f64 else k("vldr_32", 2)
        if c == "vstr":
            return k("vstr_64", 3) if x.f64 else k("vstr_32", 2)
        if c == "div":
            return self.div_min
        if c in ("b", "cbz"):
            return k("branch", 1)
        if c == "unknown":
            return 1
        if c == "custom":
            return x.custom
        return k(c)

    @staticmethod
    def _mem_is_imm(x: _Ins) -> bool:
        inner = x.op_str.split("[", 1)[1].split("]", 1)[0]
        parts = [p.strip() for p in inner.split(",")]
        return len(parts) == 1 or parts[1].startswith("#")

    def _refill(self, x: _Ins) -> int:
        return self.P if x.cls in _BRANCH_CLASSES else 0

    # ------------------------------------------------------------------ refill rule
    def _target_key(self, code: bytes, address: int):
        """What block_cost depends on outside the block: the first halfword at the final
        branch's target when the refill rule looks at it (None otherwise)."""
        rule = self.spec.branch_refill
        if rule is None or not rule.unaligned_wide_target or self.peek is None or len(code) < 2:
            return None
        # the last instruction's offset: walk the halfwords (a 32-bit one starts 0b111xx)
        i = last = 0
        while i + 1 < len(code):
            last = i
            i += 4 if self._wide_at(code[i] | code[i + 1] << 8) else 2
        t = _static_target(bytes(code[last:]), address + last)
        if t is None or t & 3 != 2:
            return None
        try:
            raw = self.peek(t, 2)
        except Exception:
            return None
        return bytes(raw) if raw is not None else None

    @staticmethod
    def _wide_at(hw: int) -> bool:
        """A Thumb halfword that starts a 32-bit instruction (Armv7-M A5.1)."""
        return (hw >> 11) in (0b11101, 0b11110, 0b11111)

    def _decode_time(self, x: _Ins, prev: _Ins | None) -> bool:
        """Resolved in decode (Cortex-M3 TRM r2p0 Table 15-3, branch status interface):
        B, B<cc>, BL; BX/BLX/MOV PC with LR when the previous instruction does not write
        LR. CBZ/CBNZ, other register branches and loads to PC resolve in execute."""
        c = x.cls
        if c in ("b", "bl"):
            return True
        if c in ("bx", "blx", "alu_pc") and x.reads - {"pc"} == {"lr"}:
            return prev is None or "lr" not in prev.writes
        return False

    def taken_refill(self, x: _Ins, prev: _Ins | None, peek=None) -> int:
        """P for the taken branch ``x`` (the block's last instruction; ``prev`` the one
        before it), by the [timing.branch_refill] rule when the core has one, else the
        fixed ``branch_taken_refill``. ``peek(addr, n) -> bytes`` reads the target's first
        halfword (None: its width is unknown and adds nothing)."""
        rule = self.spec.branch_refill
        if rule is None or x.cls not in _BRANCH_CLASSES:
            return self._refill(x)
        p = rule.decode_time if self._decode_time(x, prev) else self.P
        t = x.target
        if rule.unaligned_wide_target and t is not None and t & 3 == 2 and peek is not None:
            try:
                raw = peek(t, 2)
            except Exception:        # the target is not readable: width unknown
                raw = None
            if raw is not None and len(raw) == 2 and self._wide_at(raw[0] | raw[1] << 8):
                p += rule.unaligned_wide_target
        return min(p, rule.max)

    # ------------------------------------------------------------------ scalar
    def _scalar(self, ins: list[_Ins]) -> BlockCost:
        t = self.spec
        k = self._c
        saving = t.load_pipelined_saving
        addr_dep = t.addr_dep_penalty
        st_ld = t.store_then_load_penalty
        wb_chain = t.load_writeback_chains
        it_fold = t.it_folding
        late_store = t.late_store_data
        shift_lat = t.shifted_operand_extra_latency
        b16 = t.pair16_branch             # M33 limited dual issue of 16-bit branches
        ready: dict[str, int] = {}
        now = 0
        starts = []
        prev = None
        last = len(ins) - 1
        taken_extra = 0
        nt_adjust = 0
        b16_used = False
        for idx, x in enumerate(ins):
            c = x.cls
            cost = self._base_cost(x)
            # IT folding onto a preceding 16-bit instruction (M3/M4 TRM Table 3-1)
            if c == "it" and it_fold and prev is not None and prev.size == 2 \
                    and prev.cls not in _BRANCH_CLASSES:
                cost = k("it_folded", 0)
            if prev is not None:
                pc = prev.cls
                # TRM §3.3.2: LDR followed by LDR/STR pipelines (k loads = k + 1)
                if saving and pc == "load" and c in ("load", "store") \
                        and not (x.addr_regs & prev.writes):
                    ok = True
                    if wb_chain == "never" and (x.wb or prev.wb):
                        ok = False
                    elif wb_chain == "first_only" and x.wb:
                        ok = False
                    elif wb_chain == "different_base" and x.wb and prev.wb \
                            and x.addr_regs & prev.addr_regs:
                        ok = False
                    if ok:
                        cost = max(1, cost - saving)
                # TRM §3.3.2: address from the immediately preceding data-processing result
                if addr_dep and pc in _DP_CLASSES and (x.addr_regs & prev.writes):
                    cost += addr_dep
                # JNK-M3M4: a store followed by a load adds a cycle (nothing pipelines
                # after a store, TRM §3.3.2)
                if st_ld and pc in ("store", "strd") and c in ("load", "ldrd", "ldm",
                                                                   "ldm_pc", "load_pc"):
                    cost += st_ld
            # operand readiness (result latencies beyond the issue cost)
            start = now
            srcs = x.reads - x.acc if c in self._late_acc else x.reads
            if late_store and x.store_data:
                srcs = srcs - x.store_data
            for r in srcs:
                rv = ready.get(r)
                if rv is not None and rv > start:
                    start = rv
            for r in (x.acc if c in self._late_acc else ()):
                rv = ready.get(r)
                if rv is not None and rv - self._late_acc[c] > start:
                    start = rv - self._late_acc[c]
            for r in (x.store_data if late_store else ()):
                rv = ready.get(r)
                if rv is not None and rv - 1 > start:
                    start = rv - 1
            # M33: 16-bit branch dual-issued with a preceding 16-bit instruction
            if b16 and idx == last and c in ("b", "cbz") and x.size == 2 and prev \
                    is not None and prev.size == 2 and prev.cls not in _BRANCH_CLASSES:
                nt_adjust = b16.not_taken - cost
                tk = b16.taken_after_flag_setter if prev.sets_flags else b16.taken
                if tk is None:
                    tk = cost + self.P
                taken_extra = tk - cost - self.P
                b16_used = True
            starts.append(start)
            now = start + cost
            lat = cost + int(self.extra_latency.get(c, 0))
            if c == "load" and x.byte_half:
                lat += int(self.extra_latency.get("load_byte_half", 0))
            if shift_lat and x.shifted and c in _DP_CLASSES:
                lat += shift_lat
            for r in x.writes:
                if r == "flags":
                    continue
                ready[r] = start + lat
            if x.sets_flags:
                ready["flags"] = start + cost
            prev = x
        total = now
        final = ins[-1] if ins else None
        ends = self._ends_in(final)
        nl, ns, dyn = self._counts(ins)
        cyc = [(starts[j + 1] if j + 1 < len(ins) else total) - starts[j]
               for j in range(len(ins))]
        if final is not None and final.cls in _BRANCH_CLASSES:
            # the refill rule (absolute M33 pair16 costs are relative to the fixed P)
            refill = self._refill(final) if b16_used else \
                self.taken_refill(final, ins[-2] if len(ins) > 1 else None, self.peek)
            if ends == "cond_branch":
                nt, tk = total + nt_adjust, total + refill + taken_extra
            else:
                nt = tk = total + refill
            cyc[-1] += tk - total
        else:
            nt = tk = total
        # mid-block branches (only if the caller passed more than one TB): not taken
        insns = [(x.addr, x.size, x.mnem, x.op_str, cyc[j], x.cls) for j, x in enumerate(ins)]
        return BlockCost(nt, tk, len(ins), nl, ns, dyn, insns, ends)

    # ------------------------------------------------------------------ dual issue
    def _m7_props(self, x: _Ins):
        p = self.pairing
        c = x.cls
        key = c
        if c in ("fp_alu", "fp_mac", "fp_fma", "fp_div", "fp_sqrt") and x.f64:
            key = c + "_f64"
        if c in ("vldr", "vstr") and x.f64:
            key = c + "_64"
        units = list(p.class_units.get(key, p.class_units.get(c, ())))
        if x.shifted and c in _DP_CLASSES and "shift" not in units:
            units.append("shift")
        single = key in p.single_issue or c in p.single_issue or c == "custom"
        slot0 = key in p.slot0_only or c in p.slot0_only
        return key, units, single, slot0

    def _dual(self, ins: list[_Ins]) -> BlockCost:
        t, p = self.spec, self.pairing
        caps = dict(p.units)
        forbid = [tuple(f) for f in p.forbid_pairs]
        same_bank_pairs = p.load_load_same_bank_pairs
        unknown_bank_pairs = p.load_load_unknown_bank_pairs
        movw_movt = p.movw_movt_pair
        ready: dict[str, int] = {}
        flags_at = None
        cur = 0          # issue cycle of the open group
        free = 0         # first cycle a new group may issue
        group: list = []  # (x, units, single, slot0)
        issue = []
        for x in ins:
            key, units, single, slot0 = self._m7_props(x)
            c = x.cls
            occ = self._m7_occ(x, key)
            srcs = set(x.reads)
            late = x.acc if c in self._late_acc else set()
            srcs -= late
            is_branch = c in _BRANCH_CLASSES
            if movw_movt and x.name == "movt" and len(group) == 1 \
                    and group[0][0].mnem.startswith("movw"):
                srcs -= group[0][0].writes   # JNK-M7: pair despite the dependency
            if is_branch:
                srcs.discard("flags")   # flag timing is in the mispredict cost instead
            rdy = 0
            for r in srcs:
                v = ready.get(r, 0) + (1 if r in x.shifted else 0)
                rdy = max(rdy, v)
            for r in late:
                rdy = max(rdy, ready.get(r, 0) - self._late_acc[c])
            paired = False
            if len(group) == 1 and rdy <= cur and not single and not slot0:
                gx, gunits, gsingle, _ = group[0]
                ok = not gsingle and occ == 1
                if ok:
                    need: dict[str, int] = {}
                    for u in gunits + units:
                        need[u] = need.get(u, 0) + 1
                    ok = all(n <= caps.get(u, 1) for u, n in need.items())
                    if ok and "load" in units and "load" in gunits:
                        ok = self._m7_banks(gx, x, same_bank_pairs, unknown_bank_pairs)
                    if ok:
                        gs, ys = set(gunits), set(units)
                        for f in forbid:
                            a, b = f
                            if (a in gs and b in ys) or (b in gs and a in ys):
                                ok = False
                                break
                    # a dependent pair cannot issue together (movw/movt excepted)
                    if ok and ((x.reads - ({"flags"} if is_branch else set())) & gx.writes) \
                            and not (
                            movw_movt and gx.mnem.startswith("movw") and x.name == "movt"):
                        ok = False
                if ok:
                    paired = True
            if paired:
                group.append((x, units, single, slot0))
                start = cur
                free = max(free, cur + occ)
            else:
                start = max(free, rdy)
                cur = start
                group = [(x, units, single, slot0)]
                free = start + occ
            issue.append(start)
            lat = self._m7_lat(x, key, occ)
            for r in x.writes:
                if r != "flags":
                    ready[r] = start + lat
            if x.sets_flags:
                flags_at = start
                ready["flags"] = start + 1
        total = free
        final = ins[-1] if ins else None
        ends = self._ends_in(final)
        nl, ns, dyn = self._counts(ins)
        nt = tk = total
        if final is not None and final.cls in _BRANCH_CLASSES:
            mis = t.branch_mispredict_cycles
            early = t.branch_mispredict_early_flags_cycles
            dist = t.early_flags_distance
            if flags_at is None or issue[-1] - flags_at >= dist:
                mis = early
            pred_taken = t.branch_predicted_taken_extra
            indirect = t.indirect_extra
            if ends == "cond_branch":
                backward = final.target is not None and final.target <= final.addr
                if final.cls in ("b", "cbz") and final.target is not None:
                    if backward:      # static BTFN: predicted taken
                        nt, tk = total + mis, total + pred_taken
                    else:             # predicted not taken
                        nt, tk = total, total + mis
                else:                 # conditional indirect (e.g. BXEQ LR)
                    nt, tk = total, total + indirect
            elif final.cls in ("b", "bl"):
                nt = tk = total + pred_taken
            else:
                nt = tk = total + indirect
        cyc = [(issue[j + 1] if j + 1 < len(ins) else total) - issue[j]
               for j in range(len(ins))]
        if cyc:
            cyc[-1] += tk - total
        insns = [(x.addr, x.size, x.mnem, x.op_str, cyc[j], x.cls) for j, x in enumerate(ins)]
        return BlockCost(nt, tk, len(ins), nl, ns, dyn, insns, ends)

    def _m7_occ(self, x: _Ins, key: str) -> int:
        c, k = x.cls, self._c
        if c in ("ldm", "ldm_pc", "stm"):
            return max(1, math.ceil(x.nregs / self.spec.ldm_regs_per_cycle))
        if c in ("vldm", "vstm"):
            return max(1, math.ceil(x.words / self.spec.ldm_regs_per_cycle))
        if c == "div":
            return self.div_min
        if c == "unknown":
            return 1
        if c == "custom":
            return max(1, x.custom)
        if key in self.classes:
            return int(self.classes[key])
        return k(c, 1)

    def _m7_lat(self, x: _Ins, key: str, occ: int) -> int:
        L = self.latency
        if x.cls == "load" and x.byte_half and "load_byte_half" in L:
            return int(L["load_byte_half"])
        if key in L:
            return max(int(L[key]), 0)
        if x.cls in L:
            return int(L[x.cls])
        return occ

    @staticmethod
    def _m7_banks(a: _Ins, b: _Ins, same_bank_pairs: bool, unknown_pairs: bool) -> bool:
        """Two loads pair only on different DTCM/D-cache banks (even/odd word)."""
        if a.addr_regs and a.addr_regs == b.addr_regs and not a.wb and not b.wb:
            da, db = CoreTiming._disp(a), CoreTiming._disp(b)
            if da is not None and db is not None:
                return ((da // 4) - (db // 4)) % 2 == 1 or same_bank_pairs
        return unknown_pairs

    @staticmethod
    def _disp(x: _Ins):
        if "[" not in x.op_str:
            return None
        inner = x.op_str.split("[", 1)[1].split("]", 1)[0]
        parts = [q.strip() for q in inner.split(",")]
        if len(parts) == 1:
            return 0
        if parts[1].startswith("#"):
            try:
                return int(parts[1][1:], 0)
            except ValueError:
                return None
        return None
