"""Random but valid bare-metal Thumb / Thumb-2 programs for differential testing.

`generate(seed, profile)` returns GNU assembly for a complete program (vector table,
fault handlers, .data copied from flash, .bss, constant tables and literal pools in flash,
code in flash); `build(program, layout, out_dir)` links it for one memory map with
arm-none-eabi-gcc. The program runs an outer loop over "chunks" of random code, then
prints its architectural result through semihosting (SYS_WRITE0) and exits (SYS_EXIT,
ADP_Stopped_ApplicationExit): r0-r12, APSR (NZCVQ and GE), the pointer registers, FP
registers and FPSCR when the core has an FPU, and a hex dump of its data area. Identical
text means an identical result. `parse_dump` turns that text into named fields.

Register discipline, so that one program can be linked at different addresses and still
print the same text: r7 always holds the address of the data area and r6 is a scratch
pointer (RAM or flash) set afresh by every snippet that uses it; SP, LR, r6 and r7 are
printed relative to the start of flash ("F") or RAM ("R"). Data registers
(r0-r5, r8, r9, r12) only ever hold data; r10 and r11 are loop counters. Every memory
access is kept inside the data area, the stack, a constant table or an inline table by
interval arithmetic on r6 (writeback in IT blocks and skipped code widens the interval).
Nothing here is UNPREDICTABLE in the Armv6-M / Armv7-M / Armv8-M manuals.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Profile:
    name: str
    cpu: str                 # -mcpu
    fpu: str | None          # -mfpu (None: soft float, no FP instructions)
    thumb2: bool
    dsp: bool
    dp: bool = False         # double-precision FPU
    v8m: bool = False        # Armv8-M Mainline (LDA/STL, LDAEX/STLEX)

    @property
    def fp(self) -> bool:
        return self.fpu is not None

    def gcc_flags(self) -> list[str]:
        f = [f"-mcpu={self.cpu}", "-mthumb"]
        if self.fpu:
            f += [f"-mfpu={self.fpu}", "-mfloat-abi=hard"]
        else:
            f += ["-mfloat-abi=soft"]
        return f


PROFILES = {
    "m0": Profile("m0", "cortex-m0plus", None, thumb2=False, dsp=False),
    "m3": Profile("m3", "cortex-m3", None, thumb2=True, dsp=False),
    "m4": Profile("m4", "cortex-m4", "fpv4-sp-d16", thumb2=True, dsp=True),
    "m7": Profile("m7", "cortex-m7", "fpv5-d16", thumb2=True, dsp=True, dp=True),
    "m33": Profile("m33", "cortex-m33", "fpv5-sp-d16", thumb2=True, dsp=True, v8m=True),
}

# Memory maps the programs are linked for: (flash origin, RAM origin). 16 KB of RAM and
# 256 KB of flash are enough and fit every target (the micro:bit has 16 KB of RAM).
LAYOUTS = {
    "stm32": (0x08000000, 0x20000000),     # mcusim STM32 parts and generic-* (flash, SRAM1)
    "stm32h7": (0x08000000, 0x24000000),   # mcusim stm32h7a3 / generic-m7: AXI SRAM (cacheable)
    "mps2": (0x00000000, 0x20000000),      # QEMU mps2-an385/an386/an500, micro:bit; flash alias
    "an505": (0x10000000, 0x38000000),     # QEMU mps2-an505 (secure code and SRAM aliases)
}
FLASH_SIZE, RAM_SIZE = 256 * 1024, 16 * 1024

DATA_BYTES = 1024         # .data: random initial values, copied from flash at reset
BSS_BYTES = 256           # .bss: zeroed at reset; contiguous with .data (r7-relative)
AREA = DATA_BYTES + BSS_BYTES
CTABLE_BYTES = 512        # .rodata constant table (flash)

EXIT_OK, EXIT_ERROR = 0x20026, 0x20023
SVC_KEY = 0x9E3779B9      # the SVC handler turns the caller's r0 into (r0 ^ SVC_KEY) + 1

CONDS = ["eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le"]
INVERSE = {"eq": "ne", "ne": "eq", "cs": "cc", "cc": "cs", "mi": "pl", "pl": "mi", "vs": "vc",
           "vc": "vs", "hi": "ls", "ls": "hi", "ge": "lt", "lt": "ge", "gt": "le", "le": "gt"}

DATA = ["r0", "r1", "r2", "r3", "r4", "r5", "r8", "r9", "r12"]
LOW = ["r0", "r1", "r2", "r3", "r4", "r5"]
HIGH = ["r8", "r9", "r12"]
REG_NUM = {f"r{i}": i for i in range(13)}

DSP3 = ("sadd16 sadd8 sasx ssax ssub16 ssub8 qadd16 qadd8 qasx qsax qsub16 qsub8 shadd16 "
        "shadd8 shasx shsax shsub16 shsub8 uadd16 uadd8 uasx usax usub16 usub8 uqadd16 uqadd8 "
        "uqasx uqsax uqsub16 uqsub8 uhadd16 uhadd8 uhasx uhsax uhsub16 uhsub8 sel qadd qsub "
        "qdadd qdsub usad8 smuad smuadx smusd smusdx smulbb smulbt smultb smultt smulwb smulwt "
        "smmul smmulr").split()
DSP4 = ("smlad smladx smlsd smlsdx smlabb smlabt smlatb smlatt smlawb smlawt smmla smmlar "
        "smmls smmlsr usada8").split()
DSPL = "smlald smlaldx smlsld smlsldx smlalbb smlalbt smlaltb smlaltt umaal".split()
DSPX = "sxtab sxtah sxtab16 uxtab uxtah uxtab16".split()

FP3 = "vadd vsub vmul vdiv vnmul vmla vmls vnmla vnmls vfma vfms vfnma vfnms".split()
FP2 = "vabs vneg vsqrt vmov".split()


@dataclass
class Program:
    seed: int
    profile: Profile
    asm: str
    iterations: int
    caches: bool = False
    features: set = field(default_factory=set)
    irq: bool = False
    straddle: int = 0

    label: str = ""

    @property
    def name(self) -> str:
        if self.label:
            return f"{self.profile.name}_{self.label}"
        tags = ("c" if self.caches else "") + ("i" if self.irq else "") + \
            (f"p{self.straddle}" if self.straddle else "")
        return f"{self.profile.name}{tags}_s{self.seed}_n{self.iterations}"


# --------------------------------------------------------------------------- generator


class _Ptr:
    """What r6 points at in the current snippet: an interval of offsets [lo, hi] into a
    region of `size` bytes (writeback in code that may not run widens it)."""

    def __init__(self, region: str, off: int, size: int, writable: bool):
        self.region, self.lo, self.hi, self.size, self.writable = region, off, off, size, writable

    def fits(self, disp: int, nbytes: int, wb: int = 0) -> bool:
        lo = min(self.lo + disp, self.lo + wb + disp)
        hi = max(self.hi + disp, self.hi + wb + disp)
        return lo >= 0 and hi + nbytes <= self.size and self.lo + wb >= 0 and \
            self.hi + wb <= self.size

    def move(self, wb: int, maybe: bool) -> None:
        if maybe:
            self.lo, self.hi = min(self.lo, self.lo + wb), max(self.hi, self.hi + wb)
        else:
            self.lo, self.hi = self.lo + wb, self.hi + wb


class Gen:
    def __init__(self, seed: int, profile: Profile, *, chunks: int, chunk_len: int,
                 iterations: int, caches: bool = False, avoid=frozenset(), irq: bool = False,
                 straddle: int = 0):
        self.seed, self.p = seed, profile
        self.avoid = frozenset(avoid)
        self.irq = irq
        self.straddle = straddle if profile.thumb2 else 0
        self.straddle_left = self.straddle
        self.area = "__data_start"          # what r7 points at (the handlers have their own)
        self.in_handler = False
        self.r = random.Random(f"{profile.name}|{seed}|{caches:d}|{irq:d}|{straddle}")
        self.chunks, self.chunk_len, self.iterations, self.caches = chunks, chunk_len, iterations, caches
        self.out: list[str] = []
        self.nlabel = 0
        self.features: set[str] = set()
        self.reserved: set[str] = set()     # registers later slots of an IT block still read
        self.ptr: _Ptr | None = None
        self.maybe = 0                      # > 0: inside an IT block or skippable code
        self.in_it = False
        self.func_kind = None               # None (chunk body), "leaf", "mid"
        self.leaves: list[str] = []
        self.mids: list[str] = []
        self.pending_tables: list[str] = []  # inline tables to place after the snippet
        self.since_pool = 0

    # ------------------------------------------------------------------ helpers
    def emit(self, s: str) -> None:
        self.out.append("    " + s if not s.endswith(":") else s)
        self.since_pool += 1

    def label(self, stem: str = "L") -> str:
        self.nlabel += 1
        return f".{stem}{self.nlabel}"

    def feat(self, *names: str) -> None:
        self.features.update(names)

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def dst(self, pool=None) -> str:
        pool = [x for x in (pool or (DATA if self.p.thumb2 else LOW)) if x not in self.reserved]
        return self.r.choice(pool)

    def src(self, pool=None) -> str:
        return self.r.choice(pool or (DATA if self.p.thumb2 else LOW))

    def dsts(self, n: int, pool=None) -> list[str]:
        pool = [x for x in (pool or DATA) if x not in self.reserved]
        return self.r.sample(pool, n)

    def word(self) -> int:
        r = self.r.random()
        if r < 0.15:
            return self.r.choice([0, 1, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0xFFFF, 0x8000,
                                  0x7F, 0x80, 0xFF, 0x10000, 0x7FFF, 0xFFFF8000])
        if r < 0.3:
            return self.r.randrange(0, 256)
        return self.r.getrandbits(32)

    def mod_imm(self) -> int:
        """A Thumb-2 modified immediate constant (ThumbExpandImm)."""
        k = self.r.randrange(5)
        x = self.r.randrange(256)
        if k == 0:
            return x
        if k == 1:
            return x * 0x00010001
        if k == 2:
            return x * 0x01000100
        if k == 3:
            return x * 0x01010101
        rot = self.r.randrange(8, 32)
        v = 0x80 | self.r.randrange(128)
        return ((v >> rot) | (v << (32 - rot))) & 0xFFFFFFFF

    def shift(self) -> str:
        t = self.r.choice(["lsl", "lsr", "asr", "ror", "rrx", ""])
        if t == "":
            return ""
        if t == "rrx":
            return ", rrx"
        n = self.r.randrange(1, 32) if t in ("lsl", "ror") else self.r.randrange(1, 33)
        return f", {t} #{n}"

    def ltorg(self, force: bool = False) -> None:
        """A literal pool inside the code, jumped over (Thumb-1 literals reach 1020 bytes
        forward only)."""
        limit = 40 if not self.p.thumb2 else 160
        if force or self.since_pool > limit:
            l = self.label("P")
            self.emit(f"b {l}")
            self.emit(".ltorg")
            self.out.append(f"{l}:")
            self.since_pool = 0
            self.feat("pool_in_code")

    # ------------------------------------------------------------------ r6 set-up
    def set_ptr(self, flash_ok: bool = True, ram_ok: bool = True) -> None:
        t2 = self.p.thumb2
        choices = []
        if ram_ok:
            choices.append("ram")
        if flash_ok:
            choices += ["flash", "inline"]
        kind = self.r.choice(choices)
        if kind == "ram":
            off = self.r.randrange(96, AREA - 352) & ~3
            if not t2:
                off = min(off, 252)
            form = self.r.randrange(3 if t2 else 2)
            if form == 0:
                if t2:
                    self.emit(f"add r6, r7, #{off}")
                else:
                    self.emit("mov r6, r7")
                    self.emit(f"adds r6, #{off}")
            elif form == 1:
                self.emit(f"ldr r6, ={self.area}+{off}")
            else:
                self.emit(f"movw r6, #:lower16:{self.area}+{off}")
                self.emit(f"movt r6, #:upper16:{self.area}+{off}")
                self.feat("movw_movt_reloc")
            self.ptr = _Ptr("ram", off, AREA, True)
        elif kind == "flash":
            off = self.r.randrange(64, CTABLE_BYTES - 64) & ~3
            self.emit(f"ldr r6, =ctable+{off}")
            self.ptr = _Ptr("flash", off, CTABLE_BYTES, False)
            self.feat("flash_table")
        else:
            n = self.r.randrange(16, 48) * 4
            lab = self.label("T")
            words = " ".join(f"0x{self.word():08x}," for _ in range(n // 4)).rstrip(",")
            self.pending_tables.append(f"    .align 2\n{lab}:\n    .word {words}")
            off = self.r.randrange(0, n // 2) & ~3
            self.emit(f"adr r6, {lab}")
            if off:
                self.emit(f"adds r6, #{off}" if not t2 else f"add r6, r6, #{off}")
            self.ptr = _Ptr("inline", off, n, False)
            self.feat("inline_table")

    def flush_tables(self) -> None:
        if not self.pending_tables:
            return
        l = self.label("O")
        self.emit(f"b {l}")
        for t in self.pending_tables:
            self.out.append(t)
        self.out.append(f"{l}:")
        self.pending_tables = []

    # ------------------------------------------------------------------ Thumb-2 instructions
    # Each returns one instruction (condition `c` inserted) or None when not applicable.
    def t2_alu(self, c: str) -> str:
        r = self.r
        d, n, m = self.dst(), self.src(), self.src()
        s = "s" if r.random() < 0.4 else ""
        k = r.randrange(14)
        if k == 0:
            op = r.choice(["add", "sub", "rsb", "and", "orr", "eor", "bic", "orn", "adc", "sbc"])
            return f"{op}{s}{c} {d}, {n}, #{self.mod_imm()}"
        if k == 1:
            op = r.choice(["addw", "subw"])
            return f"{op}{c} {d}, {n}, #{r.randrange(4096)}"
        if k in (2, 3):
            op = r.choice(["add", "sub", "rsb", "and", "orr", "eor", "bic", "orn", "adc", "sbc"])
            return f"{op}{s}{c} {d}, {n}, {m}{self.shift()}"
        if k == 4:
            op = r.choice(["mov", "mvn"])
            if r.random() < 0.5:
                return f"{op}{s}{c} {d}, #{self.mod_imm()}"
            return f"{op}{s}{c} {d}, {m}{self.shift()}"
        if k == 5:
            return f"{r.choice(['movw', 'movt'])}{c} {d}, #{r.randrange(65536)}"
        if k == 6:
            self.feat("shift_by_reg")
            return f"{r.choice(['lsl', 'lsr', 'asr', 'ror'])}{s}{c} {d}, {n}, {m}"
        if k == 7:
            op = r.choice(["cmp", "cmn", "tst", "teq"])
            if r.random() < 0.5:
                return f"{op}{c} {n}, #{self.mod_imm()}"
            return f"{op}{c} {n}, {m}{self.shift()}"
        if k == 8:
            return f"{r.choice(['clz', 'rbit', 'rev', 'rev16', 'revsh'])}{c} {d}, {m}"
        if k == 9:
            lsb = r.randrange(32)
            w = r.randrange(1, 33 - lsb)
            op = r.choice(["bfi", "bfc", "ubfx", "sbfx"])
            self.feat("bitfield")
            if op == "bfc":
                return f"bfc{c} {d}, #{lsb}, #{w}"
            return f"{op}{c} {d}, {n}, #{lsb}, #{w}"
        if k == 10:
            op = r.choice(["uxtb", "uxth", "sxtb", "sxth"])
            rot = r.choice(["", ", ror #8", ", ror #16", ", ror #24"])
            return f"{op}{c} {d}, {m}{rot}"
        if k == 11:
            self.feat("saturate")
            if r.random() < 0.5:
                sat = r.randrange(1, 33)
                op = "ssat"
            else:
                sat = r.randrange(0, 32)
                op = "usat"
            sh = r.choice(["", f", lsl #{r.randrange(1, 32)}", f", asr #{r.randrange(1, 32)}"])
            return f"{op}{c} {d}, #{sat}, {m}{sh}"
        if k == 12:
            return self.t2_mul(c)
        return self.t2_div(c)

    def t2_mul(self, c: str) -> str:
        r = self.r
        self.feat("multiply")
        k = r.randrange(4)
        d, n, m = self.dst(), self.src(), self.src()
        if k == 0:
            if not self.in_it and r.random() < 0.5:
                d = self.dst(LOW)
                return f"muls {d}, {r.choice(LOW)}, {d}"
            return f"mul{c} {d}, {n}, {m}"
        if k == 1:
            return f"{r.choice(['mla', 'mls'])}{c} {d}, {n}, {m}, {self.src()}"
        lo, hi = self.dsts(2)
        self.feat("long_multiply")
        return f"{r.choice(['umull', 'smull', 'umlal', 'smlal'])}{c} {lo}, {hi}, {n}, {m}"

    def t2_div(self, c: str) -> str:
        self.feat("divide")
        return f"{self.r.choice(['sdiv', 'udiv'])}{c} {self.dst()}, {self.src()}, {self.src()}"

    def t2_dsp(self, c: str) -> str | None:
        if not self.p.dsp:
            return None
        r = self.r
        self.feat("dsp")
        k = r.randrange(7)
        d, n, m, a = self.dst(), self.src(), self.src(), self.src()
        if k <= 1:
            op = r.choice(DSP3)
            self.feat("simd" if op[-1] in "68x" or op == "sel" else "dsp_mul")
            return f"{op}{c} {d}, {n}, {m}"
        if k == 2:
            return f"{r.choice(DSP4)}{c} {d}, {n}, {m}, {a}"
        if k == 3:
            lo, hi = self.dsts(2)
            return f"{r.choice(DSPL)}{c} {lo}, {hi}, {n}, {m}"
        if k == 4:
            if r.random() < 0.5:
                return f"ssat16{c} {d}, #{r.randrange(1, 17)}, {m}"
            return f"usat16{c} {d}, #{r.randrange(0, 16)}, {m}"
        if k == 5:
            if r.random() < 0.5:
                sh = r.choice(["", f", lsl #{r.randrange(1, 32)}"])
                return f"pkhbt{c} {d}, {n}, {m}{sh}"
            return f"pkhtb{c} {d}, {n}, {m}, asr #{r.randrange(1, 33)}"
        rot = r.choice(["", ", ror #8", ", ror #16", ", ror #24"])
        if r.random() < 0.4:
            return f"{r.choice(['sxtb16', 'uxtb16'])}{c} {d}, {m}{rot}"
        return f"{r.choice(DSPX)}{c} {d}, {n}, {m}{rot}"

    def t2_mem(self, c: str) -> str | None:
        """A load or store through r6, r7, SP or the PC (literals)."""
        r = self.r
        ptr = self.ptr
        k = r.randrange(10)
        if k == 0:
            self.feat("literal")
            if r.random() < 0.7:
                return f"ldr{c} {self.dst()}, =0x{self.word():08x}"
            return None
        if k == 1:
            # r7-relative (RAM), imm12 / negative imm8 forms don't apply: r7 is the area base
            op, size = r.choice([("ldr", 4), ("ldrh", 2), ("ldrb", 1), ("ldrsh", 2),
                                 ("ldrsb", 1), ("str", 4), ("strh", 2), ("strb", 1)])
            off = r.randrange(0, AREA - 4) & ~(size - 1)
            rt = self.dst() if op.startswith("ldr") else self.src()
            return f"{op}{c} {rt}, [r7, #{off}]"
        if ptr is None:
            return None
        writable = ptr.writable
        loads = [("ldr", 4), ("ldrh", 2), ("ldrb", 1), ("ldrsh", 2), ("ldrsb", 1)]
        stores = [("str", 4), ("strh", 2), ("strb", 1)]
        ops = loads + (stores if writable else [])
        op, size = r.choice(ops)
        is_load = op.startswith("ldr")
        rt = self.dst() if is_load else self.src()
        maybe = self.maybe > 0
        if k in (2, 3):
            # immediate offset (positive imm12 or negative imm8); sometimes unaligned
            disp = r.randrange(-64, 200)
            if size > 1 and not (r.random() < 0.1 and self.p.thumb2):
                disp &= ~(size - 1)
            elif size > 1:
                self.feat("unaligned")
            if not ptr.fits(disp, size):
                return None
            if r.random() < 0.05 and 0 <= disp < 256:
                self.feat("unprivileged_ldst")
                return f"{op}t{c} {rt}, [r6, #{disp}]"
            return f"{op}{c} {rt}, [r6, #{disp}]"
        if k in (4, 5):
            # pre/post-indexed with writeback (word-multiple steps keep r6 aligned)
            wb = r.choice([-16, -8, -4, 4, 8, 12, 16, 32])
            pre = r.random() < 0.5
            disp = wb if pre else 0
            if not ptr.fits(disp, size, wb):
                return None
            ptr.move(wb, maybe)
            self.feat("writeback_pre" if pre else "writeback_post")
            if pre:
                return f"{op}{c} {rt}, [r6, #{wb}]!"
            return f"{op}{c} {rt}, [r6], #{wb}"
        if k == 6:
            # register offset, optionally shifted; the index is masked by the caller
            idx = self.index_reg
            if idx is None:
                return None
            sh, span = self.index_shift
            if not ptr.fits(0, span + size):
                return None
            self.feat("reg_offset" if not sh else "reg_offset_shifted")
            shs = f", lsl #{sh}" if sh else ""
            return f"{op}{c} {rt}, [r6, {idx}{shs}]"
        if k == 7:
            # LDRD / STRD, offset or writeback
            ld = not writable or r.random() < 0.5
            rt, rt2 = self.dsts(2) if ld else r.sample(DATA, 2)
            form = r.randrange(3)
            step = r.choice([-16, -8, 8, 16])
            if form == 0:
                disp = r.randrange(-16, 48) * 4
                if not ptr.fits(disp, 8):
                    return None
                s = f"[r6, #{disp}]"
            elif form == 1:
                if not ptr.fits(step, 8, step):
                    return None
                ptr.move(step, maybe)
                s = f"[r6, #{step}]!"
            else:
                if not ptr.fits(0, 8, step):
                    return None
                ptr.move(step, maybe)
                s = f"[r6], #{step}"
            self.feat("ldrd" if ld else "strd")
            return f"{'ldrd' if ld else 'strd'}{c} {rt}, {rt2}, {s}"
        if k == 8:
            # LDM / STM (IA or DB), with or without writeback
            # two registers at least: GAS turns a one-register LDM/STM into LDR/STR
            n = r.randrange(2, 5)
            ld = not writable or r.random() < 0.5
            regs = sorted(self.dsts(n) if ld else r.sample(DATA, n), key=lambda x: REG_NUM[x])
            db = r.random() < 0.4
            wbk = r.random() < 0.6
            size_b = 4 * n
            delta = -size_b if db else size_b
            lo_disp = -size_b if db else 0
            if not ptr.fits(lo_disp, size_b, delta if wbk else 0):
                return None
            if wbk:
                ptr.move(delta, maybe)
            self.feat("ldm" if ld else "stm")
            mn = ("ldm" if ld else "stm") + ("db" if db else "ia")
            return f"{mn}{c} r6{'!' if wbk else ''}, {{{', '.join(regs)}}}"
        # PC-relative byte/half/word loads from an inline table in code
        if ptr.region == "inline" and self.cur_table_label:
            op, size = r.choice(loads)
            off = r.randrange(0, 16) * 4
            self.feat("pc_relative")
            return f"{op}{c} {self.dst()}, {self.cur_table_label}+{off & ~(size - 1)}"
        return None

    def t2_fp(self, c: str) -> str | None:
        if not self.p.fp:
            return None
        r = self.r
        self.feat("fp")
        s = lambda: f"s{r.randrange(32)}"  # noqa: E731
        k = r.randrange(12)
        if k <= 2:
            return f"{r.choice(FP3)}{c}.f32 {s()}, {s()}, {s()}"
        if k == 3:
            return f"{r.choice(FP2)}{c}.f32 {s()}, {s()}"
        if k == 4:
            if r.random() < 0.5:
                return f"vmov{c} {s()}, {self.src()}"
            return f"vmov{c} {self.dst()}, {s()}"
        if k == 5:
            e = r.randrange(-3, 5)
            n = r.randrange(16, 32)
            v = (n / 16) * 2.0 ** e * r.choice([1, -1])
            return f"vmov{c}.f32 {s()}, #{v!r}"
        if k == 6:
            self.feat("fp_convert")
            op = r.choice(["vcvt.s32.f32", "vcvt.u32.f32", "vcvtr.s32.f32", "vcvtr.u32.f32",
                           "vcvt.f32.s32", "vcvt.f32.u32", "vcvtb.f16.f32", "vcvtt.f16.f32",
                           "vcvtb.f32.f16", "vcvtt.f32.f16"])
            mn, _, ty = op.partition(".")
            return f"{mn}{c}.{ty} {s()}, {s()}"
        if k == 7:
            types = ["s32.f32", "u32.f32", "s16.f32", "u16.f32"]
            if "vcvt_fixed_to_float" not in self.avoid:
                types += ["f32.s32", "f32.u32", "f32.s16", "f32.u16"]
            ty = r.choice(types)
            self.feat("fp_fixed_to_float" if ty.startswith("f32") else "fp_float_to_fixed")
            bits = r.randrange(1, 33) if "32" in ty.replace("f32", "") else r.randrange(1, 17)
            x = s()
            return f"vcvt{c}.{ty} {x}, {x}, #{bits}"
        if k == 8:
            self.feat("fp_compare")
            op = r.choice(["vcmp", "vcmpe"])
            if r.random() < 0.3:
                return f"{op}{c}.f32 {s()}, #0"
            return f"{op}{c}.f32 {s()}, {s()}"
        if k == 9:
            if self.in_it:
                return None
            return "vmrs APSR_nzcv, fpscr"
        if k == 10 and self.ptr is not None:
            disp = r.randrange(-16, 48) * 4
            if not self.ptr.fits(disp, 4):
                return None
            if self.ptr.writable and r.random() < 0.5:
                self.feat("vstr")
                return f"vstr{c} {s()}, [r6, #{disp}]"
            self.feat("vldr")
            return f"vldr{c} {s()}, [r6, #{disp}]"
        if k == 11 and self.p.dp:
            self.feat("fp_double")
            d = lambda: f"d{r.randrange(16)}"  # noqa: E731
            j = r.randrange(5)
            if j == 0:
                return f"{r.choice(FP3)}{c}.f64 {d()}, {d()}, {d()}"
            if j == 1:
                if r.random() < 0.5:
                    return f"vcvt{c}.f64.f32 {d()}, {s()}"
                return f"vcvt{c}.f32.f64 {s()}, {d()}"
            if j == 2:
                lo, hi = self.dsts(2)
                if r.random() < 0.5:
                    return f"vmov{c} {d()}, {self.src()}, {self.src()}"
                return f"vmov{c} {lo}, {hi}, {d()}"
            if j == 3:
                return f"{r.choice(['vabs', 'vneg', 'vsqrt'])}{c}.f64 {d()}, {d()}"
            if self.ptr is not None:
                disp = r.randrange(-8, 24) * 8
                if self.ptr.fits(disp, 8):
                    return f"vldr{c} {d()}, [r6, #{disp}]"
            return f"vcmp{c}.f64 {d()}, {d()}"
        return None

    def t2_fp_uncond(self) -> str | None:
        """FPv5 instructions that have no conditional form (outside IT blocks only)."""
        if not self.p.fpu or "fpv5" not in self.p.fpu:
            return None
        r = self.r
        self.feat("fpv5")
        s = lambda: f"s{r.randrange(32)}"  # noqa: E731
        k = r.randrange(4)
        if k == 0:
            return f"{r.choice(['vmaxnm', 'vminnm'])}.f32 {s()}, {s()}, {s()}"
        if k == 1:
            return f"{r.choice(['vrinta', 'vrintn', 'vrintp', 'vrintm'])}.f32 {s()}, {s()}"
        if k == 2:
            return f"vsel{r.choice(['eq', 'ge', 'gt', 'vs'])}.f32 {s()}, {s()}, {s()}"
        return f"{r.choice(['vcvta', 'vcvtn', 'vcvtp', 'vcvtm'])}.{r.choice(['s32', 'u32'])}.f32 {s()}, {s()}"

    # ------------------------------------------------------------------ Thumb-2 snippets
    index_reg = None
    index_shift = (0, 0)
    cur_table_label = None

    def prep_index(self) -> None:
        """Mask a data register into an index for register-offset addressing."""
        idx = self.dst()
        sh = self.r.choice([0, 0, 1, 2, 3])
        span = self.r.choice([63, 127, 255]) if sh == 0 else 31
        if sh:
            span_bytes = span << sh
        else:
            span_bytes = span
        # word/half accesses stay aligned: the shifted index is a multiple of 1 << sh; an
        # unshifted index is masked to a multiple of 4 (unaligned half/word never faults on
        # v7-M with UNALIGN_TRP clear, but keep those to the immediate forms)
        mask = span if sh else span & ~3
        self.emit(f"and {idx}, {self.src()}, #{mask}")
        self.index_reg, self.index_shift = idx, (sh, span_bytes)
        self.reserved.add(idx)

    def table_label_for_inline(self) -> None:
        self.cur_table_label = None
        if self.ptr is not None and self.ptr.region == "inline" and self.pending_tables:
            t = self.pending_tables[-1]
            self.cur_table_label = t.split("\n")[1].rstrip(":")

    def any_t2(self, c: str) -> str:
        """One random instruction for an IT slot or straight-line code."""
        for _ in range(20):
            k = self.r.random()
            if k < 0.35:
                ins = self.t2_alu(c)
            elif k < 0.65:
                ins = self.t2_mem(c)
            elif k < 0.8:
                ins = self.t2_dsp(c)
            elif k < 0.95:
                ins = self.t2_fp(c)
            else:
                ins = self.t2_mul(c)
            if ins is not None:
                return ins
        return self.t2_alu(c)

    def snip_it(self, flags: bool = True, tail: bool = False) -> None:
        """An IT block of random shape with loads, stores, ALU, DSP, FP inside; the last
        slot may branch forward, call, or return."""
        r = self.r
        n = r.randrange(1, 5)
        mask = "".join(r.choice("te") for _ in range(n - 1))
        if tail:
            # a load early and an else slot after it: ITE, ITxE, ITxxE (Unicorn #2309)
            n = r.randrange(2, 5)
            mask = "".join(r.choice("te") for _ in range(n - 2)) + "e"
        cond = r.choice(CONDS)
        self.feat(f"it_{n}", "it" + mask)
        if tail:
            self.set_ptr(ram_ok=r.random() < 0.3)
            self.table_label_for_inline()
            self.feat("it_then_return")
        elif r.random() < 0.7 and flags:
            self.set_ptr()
            self.table_label_for_inline()
        if r.random() < 0.4 and flags:
            self.prep_index()
        # flags: compare, flag-setting op, or whatever is there
        j = r.random() if flags else 1.0
        if j < 0.5:
            self.emit(f"{r.choice(['cmp', 'cmn', 'tst', 'teq'])} {self.src()}, {self.src()}")
        elif j < 0.65:
            self.emit(f"cmp {self.src()}, #{r.randrange(256)}")
        elif j < 0.75 and self.p.fp:
            self.emit(f"vcmp.f32 s{r.randrange(32)}, s{r.randrange(32)}")
            self.emit("vmrs APSR_nzcv, fpscr")
        self.emit(f"it{mask} {cond}")
        conds = [cond] + [cond if x == "t" else INVERSE[cond] for x in mask]
        self.maybe += 1
        self.in_it = True
        skip = False
        for i, cc in enumerate(conds):
            if i == n - 1 and r.random() < 0.3 and not tail:
                ins, skip = self.it_last(cc)
                self.emit(ins)
            elif (tail and (i == 0 or r.random() < 0.5)) or (i == 0 and r.random() < 0.4):
                ins = None
                for _ in range(10):
                    ins = self.t2_mem(cc)
                    if ins:
                        break
                self.emit(ins or self.t2_alu(cc))
            else:
                self.emit(self.any_t2(cc))
        self.in_it = False
        self.reserved.clear()
        self.index_reg = None
        if skip:
            # fall-through code when the branch is not taken, then its target
            label = self.skip_label
            for _ in range(r.randrange(1, 4)):
                self.emit(self.any_t2(""))
            self.out.append(f"{label}:")
        self.maybe -= 1
        # code right after an IT block: the next instruction(s), in the same block or not
        if r.random() < 0.5:
            self.emit(self.any_t2(""))

    def it_last(self, c: str):
        """A branch as the last instruction of an IT block: (instruction, True when code
        to skip and a label must follow the block)."""
        r = self.r
        k = r.randrange(4)
        if k == 1 and self.leaves and self.func_kind not in ("leaf", "handler"):
            self.feat("it_call")
            self.ptr = None                 # the callee sets r6 for itself
            return f"bl{c} {r.choice(self.leaves)}", False
        if k == 2 and self.func_kind == "leaf":
            self.feat("it_return")
            return f"bx{c} lr", False
        if k == 3 and self.func_kind == "mid":
            self.feat("it_pop_pc")
            return f"pop{c} {{{self.mid_reg}, pc}}", False
        self.skip_label = self.label()
        self.feat("it_branch")
        return f"b{c} {self.skip_label}", True

    def snip_ldr_pc(self) -> None:
        """Jump through a table of code addresses in flash, conditionally (IT) or not."""
        r = self.r
        targets = [self.label() for _ in range(r.randrange(2, 4))]
        end = self.label()
        tab = self.label("J")
        self.pending_tables.append("    .align 2\n" + f"{tab}:\n    .word "
                                   + ", ".join(f"{t}+1" for t in targets))
        self.emit(f"adr r6, {tab}")
        k = r.randrange(len(targets))
        if r.random() < 0.5 and self.p.thumb2:
            cond = r.choice(CONDS)
            self.emit(f"cmp {self.src()}, {self.src()}")
            self.emit(f"it {cond}")
            self.emit(f"ldr{cond} pc, [r6, #{4 * k}]")
            self.feat("it_ldr_pc")
        else:
            self.emit(f"ldr pc, [r6, #{4 * k}]" if self.p.thumb2 else f"ldr r6, [r6, #{4 * k}]")
            if not self.p.thumb2:
                self.emit("bx r6")
        self.feat("ldr_pc")
        self.ptr = None
        self.emit(f"b {end}")
        for t in targets:
            self.out.append(f"{t}:")
            for _ in range(r.randrange(1, 3)):
                self.straight_one()
            self.emit(f"b {end}")
        self.out.append(f"{end}:")

    def straight_one(self) -> None:
        if self.p.thumb2:
            ins = self.any_t2("")
            if self.r.random() < 0.05:
                ins = self.t2_fp_uncond() or ins
            self.emit(ins)
        else:
            self.t1_one()

    def snip_mem(self) -> None:
        self.set_ptr()
        self.table_label_for_inline()
        n = self.r.randrange(2, 8)
        for _ in range(n):
            if self.p.thumb2:
                if self.r.random() < 0.25:
                    self.prep_index()
                ins = None
                for _ in range(10):
                    ins = self.t2_mem("")
                    if ins:
                        break
                if ins:
                    self.emit(ins)
                self.reserved.clear()
                self.index_reg = None
            else:
                self.t1_mem()
        self.ptr = None

    def snip_alu(self) -> None:
        for _ in range(self.r.randrange(2, 7)):
            self.straight_one()

    def snip_branch(self) -> None:
        """A conditional forward branch over a few instructions (Thumb-1 or Thumb-2)."""
        r = self.r
        l = self.label()
        self.emit(f"cmp {r.choice(LOW)}, {r.choice(LOW)}" if r.random() < 0.6
                  else f"cmp {r.choice(LOW)}, #{r.randrange(256)}")
        self.emit(f"b{r.choice(CONDS)} {l}")
        self.feat("cond_branch")
        self.maybe += 1
        if r.random() < 0.5:
            self.set_ptr()
            self.table_label_for_inline()
        for _ in range(r.randrange(1, 5)):
            if self.ptr is not None and r.random() < 0.5:
                if self.p.thumb2:
                    ins = self.t2_mem("")
                    if ins:
                        self.emit(ins)
                else:
                    self.t1_mem()
            else:
                self.straight_one()
        self.maybe -= 1
        self.out.append(f"{l}:")
        self.ptr = None

    def snip_cbz(self) -> None:
        r = self.r
        l = self.label()
        self.emit(f"{r.choice(['cbz', 'cbnz'])} {r.choice(LOW)}, {l}")
        self.feat("cbz")
        for _ in range(r.randrange(1, 5)):
            self.emit(self.t2_alu(""))
        self.out.append(f"{l}:")

    def snip_tbb(self) -> None:
        r = self.r
        n = r.choice([2, 4, 8])
        half = r.random() < 0.4
        idx = self.dst()
        self.emit(f"and {idx}, {self.src()}, #{n - 1}")
        tab, end = self.label("TB"), self.label()
        cases = [self.label() for _ in range(r.randrange(2, 5))]
        slots = [r.choice(cases) for _ in range(n)]
        if half:
            self.emit(f"tbh [pc, {idx}, lsl #1]")
            self.out.append(f"{tab}:")
            for s in slots:
                self.out.append(f"    .hword ({s}-{tab})/2")
            self.feat("tbh")
        else:
            self.emit(f"tbb [pc, {idx}]")
            self.out.append(f"{tab}:")
            for s in slots:
                self.out.append(f"    .byte ({s}-{tab})/2")
            self.out.append("    .align 1")
            self.feat("tbb")
        for cl in cases:
            self.out.append(f"{cl}:")
            for _ in range(r.randrange(1, 4)):
                self.emit(self.any_t2(""))
            self.emit(f"b {end}")
        self.out.append(f"{end}:")

    def snip_stack(self) -> None:
        """PUSH, SP-relative loads and stores, POP into other registers."""
        r = self.r
        n = r.randrange(1, 6)
        pool = DATA if self.p.thumb2 else LOW
        regs = sorted(r.sample(pool, n), key=lambda x: REG_NUM[x])
        self.emit(f"push {{{', '.join(regs)}}}")
        self.feat("push_pop")
        for _ in range(r.randrange(0, 4)):
            slot = r.randrange(n) * 4
            if self.p.thumb2:
                op = r.choice(["ldr", "str", "ldrh", "strh", "ldrb", "strb", "ldrsb"])
                rt = self.dst() if op.startswith("ldr") else self.src()
                self.emit(f"{op} {rt}, [sp, #{slot}]")
            else:
                op = r.choice(["ldr", "str"])
                rt = r.choice(LOW)
                self.emit(f"{op} {rt}, [sp, #{slot}]")
            self.feat("sp_relative")
            self.straight_one()
        if self.p.fp and r.random() < 0.4:
            a = r.randrange(0, 28)
            b = a + r.randrange(0, 4)
            self.emit(f"vpush {{{_slist(a, b)}}}")
            self.straight_one()
            c = r.randrange(0, 32 - (b - a))
            self.emit(f"vpop {{{_slist(c, c + b - a)}}}")
            self.feat("vpush_vpop")
        regs2 = sorted(r.sample(pool, n), key=lambda x: REG_NUM[x])
        if r.random() < 0.3:
            self.emit(f"add sp, #{4 * n}")
        else:
            self.emit(f"pop {{{', '.join(regs2)}}}")

    def snip_exclusive(self) -> None:
        """LDREX/STREX (word, byte, half), CLREX, a failing STREX on an open monitor. With
        interrupts on, an exception between LDREX and STREX clears the monitor (Armv7-M
        ExceptionTaken/ExceptionReturn), so a pair that should succeed retries until it does:
        the result stays independent of where interrupts land."""
        r = self.r
        self.set_ptr(flash_ok=False)
        off = r.randrange(0, 32) * 4
        width = r.choice(["", "", "b", "h"])
        if width:
            # LDREXB/H and STREXB/H take no offset
            self.emit(f"add r6, r6, #{off}")
            addr = "[r6]"
        else:
            addr = f"[r6, #{off}]"
        self.ptr = None
        self.feat("exclusive")
        k = r.randrange(5)
        if k == 0:
            # no LDREX first: the monitor is open (reset state, or after any STREX): fails
            val = self.src()
            self.emit(f"strex{width} {self.dst([x for x in DATA if x != val])}, {val}, {addr}")
            return
        if self.irq and k in (1, 3):
            # idempotent retry loop: rv = f(rt, rx), rt reloaded on every try
            rt, rv, rx, st = self.dsts(4)
            top = self.label("X")
            self.out.append(f"{top}:")
            self.emit(f"ldrex{width} {rt}, {addr}")
            self.emit(f"{r.choice(['add', 'eor', 'sub', 'orr'])} {rv}, {rt}, {rx}")
            if k == 3:
                l = self.label()
                self.emit(f"b {l}")
                self.out.append(f"{l}:")
                self.feat("exclusive_across_blocks")
            self.emit(f"strex{width} {st}, {rv}, {addr}")
            self.emit(f"cmp {st}, #0")
            self.emit(f"bne {top}")
            self.feat("exclusive_retry")
            return
        if self.irq:
            # with interrupts, only sequences whose STREX fails whatever happens in between
            k = r.choice([2, 4])
            if k == 4:
                self.emit(f"ldrex{width} {self.dst()}, {addr}")
                val = self.src()
                self.emit(f"strex{width} {self.dst([x for x in DATA if x != val])}, {val}, {addr}")
                self.emit(f"strex{width} {self.dst([x for x in DATA if x != val])}, {val}, {addr}")
                self.emit(f"mov {self.dst()}, #0")   # the first status depends on interrupts
                return
        self.emit(f"ldrex{width} {self.dst()}, {addr}")
        for _ in range(r.randrange(0, 4)):
            self.emit(self.t2_alu("") if r.random() < 0.7 else self.t2_dsp("") or self.t2_alu(""))
        if k == 2:
            self.emit("clrex")
            self.feat("clrex")
        if k == 3:
            # a branch between the load and the store: they are in different blocks
            l = self.label()
            self.emit(f"b {l}")
            self.emit("nop")
            self.out.append(f"{l}:")
            self.feat("exclusive_across_blocks")
        val = self.src()
        self.emit(f"strex{width} {self.dst([x for x in DATA if x != val])}, {val}, {addr}")
        if k == 4:
            # a second STREX: the first one cleared the monitor, this one fails
            self.emit(f"strex{width} {self.dst([x for x in DATA if x != val])}, {val}, {addr}")

    def snip_v8m(self) -> None:
        """Armv8-M load-acquire / store-release and their exclusive forms."""
        if not self.p.v8m:
            return
        r = self.r
        self.set_ptr(flash_ok=False)
        off = r.randrange(0, 32) * 4
        self.emit(f"add r6, r6, #{off}")
        self.ptr = None
        w = r.choice(["", "b", "h"])
        self.feat("v8m_acquire_release")
        k = r.randrange(3)
        if k == 0:
            self.emit(f"lda{w} {self.dst()}, [r6]")
        elif k == 1:
            self.emit(f"stl{w} {self.src()}, [r6]")
        elif self.irq:
            rt, rv, rx, st = self.dsts(4)
            top = self.label("X")
            self.out.append(f"{top}:")
            self.emit(f"ldaex{w} {rt}, [r6]")
            self.emit(f"eor {rv}, {rt}, {rx}")
            self.emit(f"stlex{w} {st}, {rv}, [r6]")
            self.emit(f"cmp {st}, #0")
            self.emit(f"bne {top}")
        else:
            rt = self.dst()
            self.emit(f"ldaex{w} {rt}, [r6]")
            self.emit(self.t2_alu(""))
            val = self.src()
            st = self.dst([x for x in DATA if x != val])
            self.emit(f"stlex{w} {st}, {val}, [r6]")

    # ------------------------------------------------------------------ exceptions
    def snip_svc(self) -> None:
        """SVC, sometimes conditional in an IT block; its handler changes the caller's r0
        to (r0 ^ SVC_KEY) + 1 (the oracle without exceptions does the same)."""
        r = self.r
        self.feat("svc")
        if self.p.thumb2 and r.random() < 0.5:
            cond = r.choice(CONDS)
            n = r.randrange(1, 4)
            pos = r.randrange(n)
            mask = "".join(r.choice("te") for _ in range(n - 1))
            conds = [cond] + [cond if x == "t" else INVERSE[cond] for x in mask]
            self.emit(f"cmp {self.src()}, {self.src()}")
            self.emit(f"it{mask} {cond}")
            self.maybe += 1
            self.in_it = True
            for i, cc in enumerate(conds):
                if i == pos:
                    self.emit(f"svc{cc} #{r.randrange(256)}")
                else:
                    self.emit(self.t2_alu(cc))
            self.in_it = False
            self.maybe -= 1
            self.feat("svc_in_it")
        else:
            self.emit(f"svc #{r.randrange(256)}")

    def snip_mask(self) -> None:
        """Interrupts masked for a while (PRIMASK, or BASEPRI above SysTick's priority),
        then unmasked in the middle of a block; sometimes WFI while masked or not."""
        r = self.r
        v7 = self.p.thumb2
        if v7 and r.random() < 0.4:
            d = self.dst()
            self.emit(f"movs {d}, #0x40" if d in LOW else f"mov {d}, #0x40")
            self.emit(f"msr basepri, {d}")
            on, off = None, "basepri"
            self.feat("basepri")
        else:
            self.emit("cpsid i")
            on, off = "cpsid", "primask"
            self.feat("primask")
        for _ in range(r.randrange(1, 4)):
            self.straight_one()
        if r.random() < 0.2:
            self.emit("wfi")          # wakes on the pending SysTick even while masked
            self.feat("wfi_masked")
        if off == "basepri":
            d = self.dst()
            self.emit(f"movs {d}, #0" if d in LOW else f"mov {d}, #0")
            self.emit(f"msr basepri, {d}")
        else:
            self.emit("cpsie i")
        for _ in range(r.randrange(0, 3)):
            self.straight_one()
        if r.random() < 0.2:
            self.emit("wfi")
            self.feat("wfi")

    def snip_straddle(self) -> None:
        """An IT block that straddles a 1 KB page: Unicorn ends the translated block inside
        the IT block, so the next block starts with ITSTATE set (block hooks, slice ends and
        interrupts can all happen at that boundary)."""
        if self.straddle_left <= 0 or self.func_kind is not None and self.func_kind != "chunk":
            return
        self.straddle_left -= 1
        r = self.r
        land = self.label("S")
        before = r.choice([2, 4, 6])        # bytes of the IT block before the boundary
        if r.random() < 0.8:
            self.set_ptr()
            self.table_label_for_inline()
        self.emit(f"cmp {self.src()}, {self.src()}")
        self.emit(f"b {land}")
        self.out.append("    .ltorg")              # pending literals go in the gap
        self.since_pool = 0
        self.out.append("    .balign 1024")
        self.out.append(f"    .skip {1024 - before}")
        self.out.append(f"{land}:")
        self.feat("it_straddles_page")
        self.snip_it(flags=False)

    def snip_cache_toggle(self) -> None:
        """Cortex-M7 L1 caches off and on again mid-run (SCB CCR.IC / CCR.DC), done as on
        silicon: the I-cache invalidated before it is re-enabled, the D-cache cleaned and
        invalidated by set/way before it is disabled and invalidated before re-enabling
        (16 KB, 4 ways, 32-byte lines). mcusim re-costs every block on a CCR change."""
        r = self.r
        a, b, c = self.dsts(3, LOW)
        L = ["dsb", "isb", f"ldr {a}, =0xE000ED14", f"ldr {b}, [{a}]"]
        if r.random() < 0.7:
            self.feat("m7_icache_toggle")
            L += [f"bic {b}, {b}, #0x20000", f"str {b}, [{a}]", "dsb", "isb",
                  f"movs {b}, #0"]   # b held the CCR value, which differs between engines
            L += [self.t2_alu("") for _ in range(r.randrange(1, 4))]
            L += [f"ldr {a}, =0xE000EF50", f"movs {b}, #0", f"str {b}, [{a}]", "dsb", "isb",
                  f"ldr {a}, =0xE000ED14", f"ldr {b}, [{a}]", f"orr {b}, {b}, #0x20000",
                  f"str {b}, [{a}]", "dsb", "isb"]
        else:
            self.feat("m7_dcache_toggle")
            top, way = self.label("DC"), self.label("DW")
            top2, way2 = self.label("DC"), self.label("DW")
            def setway(reg_addr, t, w):
                return [f"ldr {a}, ={reg_addr}", f"movs {c}, #127", f"{t}:", f"movs {b}, #3",
                        f"{w}:", f"lsls {self.tmp_sw}, {b}, #30", f"orr {self.tmp_sw}, {self.tmp_sw}, {c}, lsl #5",
                        f"str {self.tmp_sw}, [{a}]", f"subs {b}, #1", f"bpl {w}", f"subs {c}, #1",
                        f"bpl {t}", "dsb"]
            self.tmp_sw = self.dst([x for x in LOW if x not in (a, b, c)])
            L += setway("0xE000EF74", top, way)          # DCCISW: clean and invalidate
            L += [f"ldr {a}, =0xE000ED14", f"ldr {b}, [{a}]", f"bic {b}, {b}, #0x10000",
                  f"str {b}, [{a}]", "dsb", "isb"]
            L += setway("0xE000EF60", top2, way2)        # DCISW: invalidate
            L += [f"ldr {a}, =0xE000ED14", f"ldr {b}, [{a}]", f"orr {b}, {b}, #0x10000",
                  f"str {b}, [{a}]", "dsb", "isb"]
            L += [f"movs {self.tmp_sw}, #{r.randrange(256)}"]
        # the temporaries held CCR values, which differ between implementations
        L += [f"movs {a}, #{r.randrange(256)}", f"movs {b}, #{r.randrange(256)}",
              f"movs {c}, #{r.randrange(256)}"]
        for x in L:
            self.out.append(x if x.endswith(":") else "    " + x)
            self.since_pool += 1

    def handler(self, name: str, kind: str) -> None:
        """A SysTick, PendSV or SVC handler: random work on every core register, the flags
        and the FP registers, stores only to its own area; restores what the exception
        frame does not (r4-r11, s16-s31), so the interrupted code cannot tell it ran."""
        r = self.r
        t2 = self.p.thumb2
        self.out.append("    .align 1")
        self.out.append(f"    .thumb_func\n    .type {name}, %function\n{name}:")
        if t2:
            self.emit("push {r4-r11, lr}")
        else:
            self.emit("push {r4-r7, lr}")
            for i, h in enumerate(["r8", "r9", "r10", "r11"]):
                self.emit(f"mov r{4 + i}, {h}")
            self.emit("push {r4-r7}")
        fp_saved = self.p.fp      # s0-s15 are in the (lazily stacked) extended frame
        if fp_saved:
            self.emit("vpush {s16-s31}")
        if kind == "svc":
            off = 36 + (64 if fp_saved else 0)
            self.emit(f"ldr r0, [sp, #{off}]")
            self.emit(f"ldr r1, ={SVC_KEY}")
            self.emit("eors r0, r1")
            self.emit("adds r0, #1")
            self.emit(f"str r0, [sp, #{off}]")
        if kind == "systick" and r.random() < 0.7:
            # pend PendSV: it tail-chains (or waits while SysTick is active)
            self.emit("ldr r0, =0xE000ED04")
            self.emit("ldr r1, =0x10000000")
            self.emit("str r1, [r0]")
            self.feat("pendsv_tail_chain")
        self.emit("ldr r7, =harea")
        saved = (self.area, self.in_handler, self.func_kind)
        self.area, self.in_handler, self.func_kind = "harea", True, "handler"
        for _ in range(r.randrange(2, 6)):
            self.snippet()
        self.area, self.in_handler, self.func_kind = saved
        if fp_saved:
            self.emit("vpop {s16-s31}")
        if t2:
            self.emit("pop {r4-r11, pc}")
        else:
            self.emit("pop {r4-r7}")
            for i, h in enumerate(["r8", "r9", "r10", "r11"]):
                self.emit(f"mov {h}, r{4 + i}")
            self.emit("pop {r4-r7, pc}")
        self.out.append("    .ltorg")
        self.since_pool = 0

    def snip_fp_block(self) -> None:
        if not self.p.fp:
            return
        r = self.r
        k = r.randrange(5)
        if k == 0:
            # VLDM / VSTM through r6 with or without writeback
            self.set_ptr(flash_ok=True)
            n = r.randrange(1, 5)
            a = r.randrange(0, 32 - n)
            st = self.ptr.writable and r.random() < 0.5
            wb = r.random() < 0.5
            db = wb and r.random() < 0.5
            disp_lo = -4 * n if db else 0
            if self.ptr.fits(disp_lo, 4 * n, (-4 * n if db else 4 * n) if wb else 0):
                mn = ("vstm" if st else "vldm") + ("db" if db else "ia")
                self.emit(f"{mn} r6{'!' if wb else ''}, {{{_slist(a, a + n - 1)}}}")
                self.feat("vldm_vstm")
            self.ptr = None
        elif k == 1:
            # a random FPSCR: rounding mode, flush-to-zero, default NaN, AHP, flags
            v = self.word() & 0xF7C0009F
            d = self.dst()
            self.emit(f"ldr {d}, =0x{v:08x}")
            self.emit(f"vmsr fpscr, {d}")
            self.feat("fpscr_write")
        elif k == 2:
            ins = self.t2_fp_uncond()
            if ins:
                self.emit(ins)
        else:
            for _ in range(r.randrange(2, 6)):
                ins = self.t2_fp("")
                if ins:
                    self.emit(ins)

    def snip_div_edge(self) -> None:
        """Divide by zero (CCR.DIV_0_TRP clear: result 0) and INT_MIN / -1."""
        if not self.p.thumb2:
            return
        r = self.r
        d, n, m = self.dst(), self.src(), self.dst()
        if r.random() < 0.5:
            self.emit(f"movs {m}, #0") if m in LOW else self.emit(f"mov {m}, #0")
            self.feat("divide_by_zero")
        else:
            self.emit(f"mov {m}, #-1")
            self.emit(f"mov {n if n != m else d}, #0x80000000")
            self.feat("divide_overflow")
        self.emit(f"{r.choice(['sdiv', 'udiv'])} {d}, {n}, {m}")

    def snip_msr(self) -> None:
        """Random NZCVQ (and GE with the DSP extension) through MSR."""
        if not self.p.thumb2:
            d = self.dst()
            self.emit(f"ldr {d}, =0x{self.word() & 0xF0000000:08x}")
            self.emit(f"msr apsr_nzcvq, {d}")
            return
        d = self.dst()
        self.emit(f"ldr {d}, =0x{self.word():08x}")
        self.emit(f"msr apsr_nzcvq{'g' if self.p.dsp else ''}, {d}")
        if self.r.random() < 0.5:
            self.emit(f"mrs {self.dst()}, apsr")
        self.feat("msr_mrs")

    def snip_call(self) -> None:
        if self.func_kind == "leaf":
            return
        pool = self.leaves + (self.mids if self.func_kind is None else [])
        if not pool:
            return
        target = self.r.choice(pool)
        if self.r.random() < 0.3:
            # an indirect call: the next block is found from the CPU state, not chained
            self.emit(f"ldr r6, ={target}")
            self.emit("blx r6")
            self.feat("blx_reg")
        else:
            self.emit(f"bl {target}")
        self.feat("call")

    def snip_loop(self, depth: int) -> None:
        """A counted inner loop (r10), its body made of snippets; blocks repeat."""
        r = self.r
        n = r.randrange(2, 12)
        top, done = self.label("LP"), self.label()
        if self.p.thumb2:
            self.emit(f"mov r10, #{n}")
        else:
            self.emit(f"movs r5, #{n}")
            self.emit("mov r10, r5")
        self.out.append(f"{top}:")
        for _ in range(r.randrange(1, 5)):
            self.snippet(depth + 1)
        self.feat("inner_loop")
        if self.p.thumb2:
            k = r.randrange(3)
            if k == 0:
                self.emit("subs r10, r10, #1")
                self.emit(f"bne {top}")
            elif k == 1:
                self.emit("subs r10, #1")
                self.emit("it ne")
                self.emit(f"bne {top}")
                self.feat("it_loop_branch")
            else:
                self.emit("sub r10, r10, #1")
                self.emit("cmp r10, #0")
                self.emit(f"bgt {top}")
        else:
            self.emit("mov r5, r10")
            self.emit("subs r5, #1")
            self.emit("mov r10, r5")
            self.emit(f"beq {done}")
            self.emit(f"b {top}")
        self.out.append(f"{done}:")

    def snippet(self, depth: int = 0) -> None:
        r = self.r
        self.ptr = None             # r6 is set afresh by every snippet that uses it
        t2 = self.p.thumb2
        kinds = [("alu", 4), ("mem", 5), ("branch", 2), ("stack", 1.5), ("call", 1.2),
                 ("ldrpc", 0.4), ("msr", 0.3)]
        if t2:
            kinds += [("it", 7), ("cbz", 1), ("tbb", 0.8), ("excl", 1), ("div", 0.5)]
            if self.p.fp:
                kinds += [("fp", 2)]
            if self.p.v8m:
                kinds += [("v8m", 0.5)]
        if depth == 0 and self.func_kind is None:
            kinds += [("loop", 1.5)]
        if self.irq and not self.in_handler:
            kinds += [("svc", 0.6), ("mask", 0.5)]
        if self.caches and not self.in_handler:
            kinds += [("cache", 0.3)]
        if self.in_handler:
            kinds = [(k, w) for k, w in kinds if k not in ("call", "loop", "ldrpc")]
        total = sum(w for _, w in kinds)
        x = r.random() * total
        for kind, w in kinds:
            x -= w
            if x < 0:
                break
        {"alu": self.snip_alu, "mem": self.snip_mem, "branch": self.snip_branch,
         "stack": self.snip_stack, "call": self.snip_call, "it": self.snip_it,
         "cbz": self.snip_cbz, "tbb": self.snip_tbb, "excl": self.snip_exclusive,
         "div": self.snip_div_edge, "fp": self.snip_fp_block, "v8m": self.snip_v8m,
         "ldrpc": self.snip_ldr_pc, "msr": self.snip_msr, "svc": self.snip_svc,
         "mask": self.snip_mask, "straddle": self.snip_straddle,
         "cache": self.snip_cache_toggle,
         "loop": lambda: self.snip_loop(depth)}[kind]()
        self.ptr = None
        self.flush_tables()
        self.ltorg()

    # ------------------------------------------------------------------ Thumb-1 (Armv6-M)
    def t1_one(self) -> None:
        r = self.r
        d, m = r.choice(LOW), r.choice(LOW)
        k = r.randrange(12)
        if k == 0:
            self.emit(f"{r.choice(['adds', 'subs'])} {d}, {m}, #{r.randrange(8)}")
        elif k == 1:
            self.emit(f"{r.choice(['adds', 'subs', 'movs'])} {d}, #{r.randrange(256)}"
                      if r.random() < 0.7 else f"cmp {d}, #{r.randrange(256)}")
        elif k == 2:
            self.emit(f"{r.choice(['adds', 'subs'])} {d}, {m}, {r.choice(LOW)}")
        elif k == 3:
            op = r.choice(["ands", "orrs", "eors", "bics", "adcs", "sbcs", "mvns", "tst",
                           "cmn", "cmp", "muls"])
            self.emit(f"{op} {d}, {m}" if op != "muls" else f"muls {d}, {m}, {d}")
            if op == "muls":
                self.feat("multiply")
        elif k == 4:
            op = r.choice(["lsls", "lsrs", "asrs"])
            n = r.randrange(0 if op == "lsls" else 1, 32 if op == "lsls" else 33)
            self.emit(f"{op} {d}, {m}, #{n}")
        elif k == 5:
            self.emit(f"{r.choice(['lsls', 'lsrs', 'asrs', 'rors'])} {d}, {m}")
            self.feat("shift_by_reg")
        elif k == 6:
            self.emit(f"{r.choice(['rev', 'rev16', 'revsh', 'sxtb', 'sxth', 'uxtb', 'uxth'])} {d}, {m}")
        elif k == 7:
            self.emit(f"rsbs {d}, {m}, #0")
        elif k == 8:
            h = r.choice(HIGH)
            j = r.randrange(4)
            if j == 0:
                self.emit(f"mov {h}, {m}")
            elif j == 1:
                self.emit(f"mov {d}, {h}")
            elif j == 2:
                self.emit(f"add {h}, {m}")
            else:
                self.emit(f"cmp {h}, {m}" if r.random() < 0.5 else f"add {d}, {h}")
            self.feat("high_registers")
        elif k == 9:
            self.emit(f"ldr {d}, =0x{self.word():08x}")
            self.feat("literal")
        elif k == 10:
            self.emit(f"adcs {d}, {m}")
        else:
            self.emit(f"mov {d}, {m}")

    def t1_mem(self) -> None:
        r = self.r
        ptr = self.ptr
        if ptr is None:
            self.set_ptr()
            ptr = self.ptr
        k = r.randrange(5)
        maybe = self.maybe > 0
        loads = [("ldr", 4), ("ldrh", 2), ("ldrb", 1)]
        stores = [("str", 4), ("strh", 2), ("strb", 1)]
        if k <= 1:
            op, size = r.choice(loads + (stores if ptr.writable else []))
            disp = r.randrange(0, 32) * size
            if ptr.fits(disp, size):
                rt = r.choice(LOW)
                self.emit(f"{op} {rt}, [r6, #{disp}]")
        elif k == 2:
            # register offset (all widths incl. signed); index masked first
            idx = r.choice(LOW)
            self.emit(f"movs {idx}, #{r.choice([0x3C, 0x7C, 0x1E, 0x3F])}")
            self.emit(f"ands {idx}, {r.choice([x for x in LOW if x != idx])}")
            op, size = r.choice(loads + [("ldrsb", 1), ("ldrsh", 2)]
                                + (stores if ptr.writable else []))
            if ptr.fits(0, 0x7C + 4):
                rt = r.choice(LOW)
                if size == 2:
                    self.emit(f"lsrs {idx}, {idx}, #1")
                    self.emit(f"lsls {idx}, {idx}, #1")
                elif size == 4:
                    self.emit(f"lsrs {idx}, {idx}, #2")
                    self.emit(f"lsls {idx}, {idx}, #2")
                self.emit(f"{op} {rt}, [r6, {idx}]")
                self.feat("reg_offset")
        elif k == 3:
            # LDM / STM with writeback (r6 not in the list)
            n = r.randrange(1, 5)
            regs = sorted(r.sample(LOW, n), key=lambda x: REG_NUM[x])
            ld = not ptr.writable or r.random() < 0.5
            if ptr.fits(0, 4 * n, 4 * n):
                ptr.move(4 * n, maybe)
                self.emit(f"{'ldm' if ld else 'stm'} r6!, {{{', '.join(regs)}}}")
                self.feat("ldm" if ld else "stm")
        else:
            if ptr.region == "inline" and self.cur_table_label:
                self.emit(f"ldr {r.choice(LOW)}, {self.cur_table_label}+{r.randrange(8) * 4}")
                self.feat("pc_relative")
            else:
                self.emit(f"ldr {r.choice(LOW)}, =0x{self.word():08x}")
                self.feat("literal")

    # ------------------------------------------------------------------ program
    def fold(self) -> None:
        """acc = rotr(acc, 27) ^ reg for every data register, APSR and a few FP registers,
        into a word of the data area: a register that is wrong for a while leaves a trace in
        the dump even when it is overwritten later. Registers are unchanged afterwards."""
        t2 = self.p.thumb2
        base = AREA - 64                              # r6 (dead between snippets) -> here
        acc = 8 + 8 * self.r.randrange(4)             # one of four accumulators
        tmp = 0
        self.feat("fold")
        L = [f"ldr r6, =__data_start+{base}", f"str r0, [r6, #{tmp}]", "push {r1, r2}",
             f"ldr r0, [r6, #{acc}]"]
        if not t2:
            L.append("movs r2, #27")
        srcs = ["r1", "r2", "r3", "r4", "r5", "r8", "r9", "r12", "apsr", "r0"]
        if self.p.fp:
            srcs += [f"s{i}" for i in self.r.sample(range(32), 4)]
        for x in srcs:
            if x in ("r1", "r2") or x == "r0" or x == "apsr" or x.startswith("s") or \
                    (not t2 and x in HIGH):
                # through r1 (r1 and r2 from the stack, r0 from its slot)
                load = {"r1": "ldr r1, [sp]", "r2": "ldr r1, [sp, #4]",
                        "r0": f"ldr r1, [r6, #{tmp}]", "apsr": "mrs r1, apsr"}.get(x)
                if load is None:
                    load = f"vmov r1, {x}" if x.startswith("s") else f"mov r1, {x}"
                L.append(load)
                x = "r1"
            if t2:
                L.append(f"eor r0, {x}, r0, ror #27")
            else:
                L += ["rors r0, r2", f"eors r0, {x}"]
        # (Thumb-1 RORS/EORS change the flags; the Thumb-2 form does not)
        L += [f"str r0, [r6, #{acc}]", "pop {r1, r2}", f"ldr r0, [r6, #{tmp}]"]
        for x in L:
            self.emit(x)

    def function(self, name: str, kind: str) -> None:
        self.func_kind = kind
        self.out.append("    .align 1")
        self.out.append(f"    .thumb_func\n    .type {name}, %function\n{name}:")
        if kind == "mid":
            self.mid_reg = self.r.choice(DATA if self.p.thumb2 else LOW)
            self.emit(f"push {{{self.mid_reg}, lr}}")
        elif kind == "chunk":
            self.emit("push {lr}" if self.r.random() < 0.5 else "push {r4, lr}")
            self.chunk_pop = self.out[-1].replace("push", "pop").replace("lr", "pc")
        n = {"leaf": self.r.randrange(2, 6), "mid": self.r.randrange(2, 5),
             "chunk": self.chunk_len, "tiny": 0}[kind]
        fk = self.func_kind
        self.func_kind = None if kind == "chunk" else kind
        # chunks share the page-straddling IT blocks out between them
        forced = set()
        if kind == "chunk" and self.straddle_left:
            k = -(-self.straddle_left // max(1, self.chunks_left))
            forced = set(self.r.sample(range(n), min(n, k)))
            self.chunks_left -= 1
        for i in range(n):
            if i in forced:
                self.snip_straddle()
                self.flush_tables()
            self.snippet()
        self.func_kind = fk
        if kind == "chunk":
            self.fold()
        if self.p.thumb2 and (kind == "tiny" or kind in ("leaf", "mid") and self.r.random() < 0.6):
            # the shape that broke real firmware (flatbuffers' GetOptionalFieldOffset):
            # an IT block with loads (from flash) ending inside the block, then a return
            self.func_kind = "leaf" if kind == "tiny" else kind
            self.snip_it(tail=True)
            self.func_kind = fk
            self.ptr = None
            self.flush_tables()
        if kind in ("leaf", "tiny"):
            self.emit("bx lr")
        elif kind == "mid":
            self.emit(f"pop {{{self.mid_reg}, pc}}")
        else:
            self.out.append(self.chunk_pop)
        self.out.append("    .ltorg")
        self.since_pool = 0
        self.func_kind = None

    def generate(self) -> Program:
        p = self.p
        r = self.r
        # leaves first (callable from everything), then mid-level functions, then chunks
        nleaf = r.randrange(2, 5)
        self.leaves = [f"leaf{i}" for i in range(nleaf)]
        for name in self.leaves:
            self.function(name, "leaf")
        if p.thumb2:
            tiny = [f"tiny{i}" for i in range(r.randrange(1, 4))]
            for name in tiny:
                self.function(name, "tiny")
            self.leaves += tiny
        self.mids = [f"mid{i}" for i in range(r.randrange(1, 3))]
        for name in self.mids:
            self.function(name, "mid")
        chunk_names = [f"chunk{i}" for i in range(self.chunks)]
        self.chunks_left = self.chunks
        for name in chunk_names:
            self.function(name, "chunk")
        if self.irq:
            for name, kind in (("svc_handler", "svc"), ("pendsv_handler", "pendsv"),
                               ("systick_handler", "systick")):
                self.handler(name, kind)
        body = "\n".join(self.out)
        self.out = []
        init = self._init()
        main = ["    .align 1", "    .thumb_func", "main:"]
        if p.thumb2:
            main.append(f"    ldr r11, ={self.iterations}")
        else:
            main.append(f"    ldr r5, ={self.iterations}")
            main.append("    mov r11, r5")
        main.append(".Louter:")
        for cn in chunk_names:
            main.append(f"    bl {cn}")
        if p.thumb2:
            main += ["    subs r11, r11, #1", "    bne .Louter"]
        else:
            main += ["    mov r5, r11", "    subs r5, #1", "    mov r11, r5", "    beq .Lfinish",
                     "    b .Louter"]
        main += [".Lfinish:", "    bl rt_final", "    .ltorg"]
        asm = "\n".join([_HEADER.format(syntax=".syntax unified"), _vectors(self.irq), init,
                         "\n".join(main), body, _runtime(p), self._data()]) + "\n"
        return Program(self.seed, p, asm, self.iterations, self.caches, set(self.features),
                       irq=self.irq, straddle=self.straddle)

    def _init(self) -> str:
        p, r = self.p, self.r
        L = ["    .align 1", "    .thumb_func", "    .type reset, %function", "reset:"]
        if p.fp:
            L += ["    ldr r0, =0xE000ED88", "    ldr r1, [r0]", "    ldr r2, =0x00F00000",
                  "    orrs r1, r2", "    str r1, [r0]", "    dsb", "    isb"]
        if self.caches:
            # Cortex-M7 L1 caches on as CMSIS SCB_EnableICache/DCache do it: invalidate the
            # I-cache, the D-cache by set/way (16 KB, 4 ways, 32-byte lines: 128 sets), then
            # SCB->CCR.IC (bit 17) and DC (bit 16)
            self.feat("m7_caches")
            L += ["    dsb", "    isb", "    ldr r0, =0xE000EF50", "    movs r1, #0",
                  "    str r1, [r0]", "    ldr r0, =0xE000EF60", "    movs r2, #127",
                  ".Ldcset:", "    movs r3, #3", ".Ldcway:", "    lsls r1, r3, #30",
                  "    orr r1, r1, r2, lsl #5", "    str r1, [r0]", "    subs r3, #1",
                  "    bpl .Ldcway", "    subs r2, #1", "    bpl .Ldcset", "    dsb",
                  "    ldr r0, =0xE000ED14", "    ldr r1, [r0]", "    orr r1, r1, #0x30000",
                  "    str r1, [r0]", "    dsb", "    isb"]
        # .data from flash, .bss zeroed (Thumb-1 so every core shares it)
        L += ["    ldr r0, =__data_load", "    ldr r1, =__data_start", "    ldr r2, =__data_end",
              ".Lcopy:", "    cmp r1, r2", "    bhs .Lcopied", "    ldr r3, [r0]",
              "    str r3, [r1]", "    adds r0, #4", "    adds r1, #4", "    b .Lcopy",
              ".Lcopied:", "    ldr r2, =__bss_end", "    movs r3, #0", ".Lzero:",
              "    cmp r1, r2", "    bhs .Lzeroed", "    str r3, [r1]", "    adds r1, #4",
              "    b .Lzero", ".Lzeroed:"]
        if p.fp:
            L += ["    ldr r0, =ctable", "    vldmia r0, {s0-s31}",
                  f"    ldr r0, =0x{r.getrandbits(32) & 0xF7C0009F & ~0x01000000:08x}",
                  "    vmsr fpscr, r0"]
        if p.thumb2:
            L += [f"    ldr r0, =0x{r.getrandbits(32):08x}",
                  f"    msr apsr_nzcvq{'g' if p.dsp else ''}, r0"]
        for reg in ["r0", "r1", "r2", "r3", "r4", "r5"]:
            L.append(f"    ldr {reg}, =0x{self.word():08x}")
        for reg in HIGH:
            L.append(f"    ldr r6, =0x{self.word():08x}")
            L.append(f"    mov {reg}, r6")
        if self.irq:
            # SysTick on the core clock every `reload` cycles; priorities: SVC 0, SysTick
            # 0x40 (preempts PendSV), PendSV 0x80 (SHPR3, B3.2.12)
            reload = r.randrange(300, 3000)
            self.feat("systick")
            L += ["    ldr r0, =0xE000ED20", "    ldr r1, =0x40800000", "    str r1, [r0]",
                  "    ldr r0, =0xE000E010", f"    ldr r1, ={reload}", "    str r1, [r0, #4]",
                  "    movs r1, #0", "    str r1, [r0, #8]", "    movs r1, #7", "    str r1, [r0]"]
        L += ["    ldr r7, =__data_start", "    mov r6, r7", "    movs r5, #0", "    mov r10, r5",
              f"    ldr r5, =0x{self.word():08x}", "    b main", "    .ltorg"]
        return "\n".join(L)

    def _data(self) -> str:
        r = self.r
        words = [self.word() for _ in range(DATA_BYTES // 4)]
        ct = [self.word() for _ in range(CTABLE_BYTES // 4)]
        if self.p.fp:
            # floats that are not NaN/denormal-heavy for a part of the table
            for i in range(0, 32):
                e = r.randrange(100, 150)
                ct[i] = (r.getrandbits(1) << 31) | (e << 23) | r.getrandbits(23)
        out = ["    .section .rodata.ctable,\"a\",%progbits", "    .align 3", "ctable:"]
        for i in range(0, len(ct), 8):
            out.append("    .word " + ", ".join(f"0x{w:08x}" for w in ct[i:i + 8]))
        out += ["    .section .data.area,\"aw\",%progbits", "    .align 3", "data_area:"]
        for i in range(0, len(words), 8):
            out.append("    .word " + ", ".join(f"0x{w:08x}" for w in words[i:i + 8]))
        out += ["    .section .bss.area,\"aw\",%nobits", "    .align 3", f"    .space {BSS_BYTES}",
                "    .section .noinit,\"aw\",%nobits", "    .align 2", "outbuf:", "    .space 128",
                "    .align 3", "harea:", f"    .space {AREA}"]
        return "\n".join(out)


_HEADER = """    {syntax}
    .thumb"""


def _slist(a: int, b: int) -> str:
    return f"s{a}" if a == b else f"s{a}-s{b}"


def _vectors(irq: bool) -> str:
    v = ["__stack_top", "reset"] + ["rt_fault"] * 14
    if irq:
        v[11], v[14], v[15] = "svc_handler", "pendsv_handler", "systick_handler"
    return "    .section .vectors,\"a\",%progbits\n" + "\n".join(f"    .word {x}" for x in v) + \
        "\n    .text"


def _runtime(p: Profile) -> str:
    """Result dump and fault handler: Armv6-M instructions only, shared by every core."""
    fault_status = "" if not p.thumb2 else """    ldr r6, =0xE000ED28
    ldr r0, [r6]
    bl rt_hex
    ldr r0, [r6, #4]
    bl rt_hex
    ldr r0, [r6, #16]
    bl rt_norm"""
    fp = ""
    if p.fp:
        fp_lines = ["    ldr r4, =outbuf", "    movs r0, #'F'", "    strb r0, [r4]",
                    "    adds r4, #1"]
        for i in range(32):
            fp_lines += [f"    vmov r0, s{i}", "    bl rt_hex"]
            if i % 8 == 7:
                fp_lines += ["    bl rt_flush", "    movs r0, #'F'", "    strb r0, [r4]",
                             "    adds r4, #1"]
        fp_lines += ["    vmrs r0, fpscr", "    bl rt_hex", "    bl rt_flush"]
        fp = "\n".join(fp_lines)
    return f"""
    .section .text.rt,"ax",%progbits
    .align 1
    .thumb_func
    .type rt_final, %function
rt_final:
    push {{r0-r7}}
    mov r0, r8
    mov r1, r9
    mov r2, r10
    mov r3, r11
    mov r4, r12
    push {{r0-r4}}
    mrs r0, apsr
    mov r1, sp
    adds r1, #52
    mov r2, lr
    push {{r0-r2}}
    mov r5, sp
    @ frame: apsr sp lr r8 r9 r10 r11 r12 r0 .. r7
    ldr r4, =outbuf
    movs r0, #'R'
    strb r0, [r4]
    adds r4, #1
    movs r6, #32
.Lrt_lo:
    ldr r0, [r5, r6]
    cmp r6, #56
    bhs .Lrt_lo_norm
    bl rt_hex
    b .Lrt_lo_next
.Lrt_lo_norm:
    bl rt_norm
.Lrt_lo_next:
    adds r6, #4
    cmp r6, #64
    blo .Lrt_lo
    movs r6, #12
.Lrt_hi:
    ldr r0, [r5, r6]
    bl rt_hex
    adds r6, #4
    cmp r6, #32
    blo .Lrt_hi
    bl rt_flush
    movs r0, #'S'
    strb r0, [r4]
    adds r4, #1
    ldr r0, [r5, #0]
    bl rt_hex
    ldr r0, [r5, #4]
    bl rt_norm
    ldr r0, [r5, #8]
    bl rt_norm
    bl rt_flush
{fp}
    ldr r5, =__dump_start
    ldr r6, =__dump_end
.Lrt_mem:
    ldr r4, =outbuf
    movs r0, #'M'
    strb r0, [r4]
    adds r4, #1
    movs r7, #8
.Lrt_word:
    ldr r0, [r5]
    adds r5, #4
    bl rt_hex
    subs r7, #1
    bne .Lrt_word
    bl rt_flush
    cmp r5, r6
    blo .Lrt_mem
    ldr r4, =outbuf
    movs r0, #'E'
    strb r0, [r4]
    adds r4, #1
    bl rt_flush
    ldr r1, ={EXIT_OK}
    movs r0, #0x18
    bkpt 0xab
    b .

    .align 1
    .thumb_func
rt_hex:
    movs r3, #8
1:  lsrs r2, r0, #28
    lsls r0, r0, #4
    cmp r2, #10
    blo 2f
    adds r2, #39
2:  adds r2, #48
    strb r2, [r4]
    adds r4, #1
    subs r3, #1
    bne 1b
    movs r2, #32
    strb r2, [r4]
    adds r4, #1
    bx lr

    .align 1
    .thumb_func
rt_norm:
    push {{lr}}
    ldr r1, =__flash_start
    subs r2, r0, r1
    ldr r3, =__flash_size
    cmp r2, r3
    bhs 1f
    movs r1, #'F'
    mov r0, r2
    b 3f
1:  ldr r1, =__ram_start
    subs r2, r0, r1
    ldr r3, =__ram_size
    cmp r2, r3
    bhi 2f
    movs r1, #'R'
    mov r0, r2
    b 3f
2:  movs r1, #'A'
3:  strb r1, [r4]
    adds r4, #1
    bl rt_hex
    pop {{pc}}

    .align 1
    .thumb_func
rt_flush:
    movs r0, #10
    strb r0, [r4]
    movs r0, #0
    strb r0, [r4, #1]
    ldr r1, =outbuf
    movs r0, #4
    bkpt 0xab
    ldr r4, =outbuf
    bx lr

    .align 1
    .thumb_func
    .type rt_fault, %function
rt_fault:
    @ X <IPSR> <stacked PC> <stacked xPSR> [<CFSR> <HFSR> <BFAR>]
    mov r5, sp
    ldr r4, =outbuf
    movs r0, #'X'
    strb r0, [r4]
    adds r4, #1
    mrs r0, ipsr
    bl rt_hex
    ldr r0, [r5, #24]
    bl rt_norm
    ldr r0, [r5, #28]
    bl rt_hex
{fault_status}
    bl rt_flush
    ldr r1, ={EXIT_ERROR}
    movs r0, #0x18
    bkpt 0xab
    b .
    .ltorg
"""


_LINKER = """MEMORY
{{
  FLASH (rx) : ORIGIN = 0x{flash:08x}, LENGTH = {flash_size}
  RAM (rwx) : ORIGIN = 0x{ram:08x}, LENGTH = {ram_size}
}}
SECTIONS
{{
  .text : {{
    __flash_start = .;
    KEEP(*(.vectors))
    *(.text*)
    *(.rodata*)
    . = ALIGN(8);
  }} > FLASH
  .data : {{
    __data_start = .;
    __dump_start = .;
    *(.data*)
    . = ALIGN(32);
    __data_end = .;
  }} > RAM AT > FLASH
  __data_load = LOADADDR(.data);
  .bss (NOLOAD) : {{
    __bss_start = .;
    *(.bss*)
    . = ALIGN(32);
    __bss_end = .;
    __dump_end = .;
    *(.noinit*)
  }} > RAM
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
  __ram_start = ORIGIN(RAM);
  __ram_size = LENGTH(RAM);
  __flash_size = LENGTH(FLASH);
  /DISCARD/ : {{ *(.ARM.attributes) *(.comment) }}
}}
"""


# --------------------------------------------------------------------------- public API

# Instructions Unicorn 2.1.4 gets wrong against the Arm ARM and QEMU 7.2 (reproduced on
# their own in tests/test_random_diff.py); not generated unless asked for, so that the
# three-way comparisons keep finding new things.
UNICORN_BUGS = {
    "vcvt_fixed_to_float": "VCVT.F32.<S|U><16|32> #fbits rounds with FPSCR.RMode; the Arm ARM "
                           "says Round to Nearest",
}


def generate(seed: int, profile: str = "m4", *, chunks: int = 4, chunk_len: int = 10,
             iterations: int = 60, caches: bool = False, irq: bool = False, straddle: int = 0,
             avoid=frozenset(UNICORN_BUGS)) -> Program:
    """A random program, deterministic from all the arguments. `irq`: SysTick, PendSV and
    SVC handlers; `straddle`: that many IT blocks across 1 KB page boundaries."""
    p = PROFILES[profile]
    if caches and profile != "m7":
        raise ValueError("L1 caches exist on the Cortex-M7 only")
    return Gen(seed, p, chunks=chunks, chunk_len=chunk_len, iterations=iterations,
               caches=caches, avoid=avoid, irq=irq, straddle=straddle).generate()


def directed(name: str, profile: str, main: str, handlers: dict | None = None) -> Program:
    """A hand-written program with the generated programs' start-up, result dump and link
    maps: `main` is assembly that ends by falling into the dump; `handlers` maps exception
    numbers (11 SVC, 14 PendSV, 15 SysTick) to assembly bodies (labels are made up)."""
    p = PROFILES[profile]
    g = Gen(0, p, chunks=0, chunk_len=0, iterations=1)
    init = g._init()
    vec = ["__stack_top", "reset"] + ["rt_fault"] * 14
    hand = []
    for num, body in (handlers or {}).items():
        vec[num] = f"h_{num}"
        hand += ["    .align 1", "    .thumb_func", f"h_{num}:", body, "    .ltorg"]
    vectors = "    .section .vectors,\"a\",%progbits\n" + "\n".join(f"    .word {x}" for x in vec) + \
        "\n    .text"
    code = ["    .align 1", "    .thumb_func", "main:", main, "    bl rt_final", "    .ltorg"]
    asm = "\n".join([_HEADER.format(syntax=".syntax unified"), vectors, init, "\n".join(code),
                     "\n".join(hand), _runtime(p), g._data()]) + "\n"
    prog = Program(0, p, asm, 1, irq=bool(handlers))
    prog.label = name
    return prog


CC = os.environ.get("MCUSIM_CROSS", "arm-none-eabi-") + "gcc"


def toolchain() -> str | None:
    return shutil.which(CC)


def build(prog: Program, layout: str, out_dir: Path) -> Path:
    """Assemble and link `prog` for LAYOUTS[layout]; returns the ELF path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    flash, ram = LAYOUTS[layout]
    src = out_dir / f"{prog.name}.S"
    if not src.exists() or src.read_text() != prog.asm:
        src.write_text(prog.asm)
    ld = out_dir / f"{layout}.ld"
    text = _LINKER.format(flash=flash, ram=ram, flash_size=FLASH_SIZE, ram_size=RAM_SIZE)
    if not ld.exists() or ld.read_text() != text:
        ld.write_text(text)
    elf = out_dir / f"{prog.name}_{layout}.elf"
    cmd = [CC, *prog.profile.gcc_flags(), "-nostdlib", "-nostartfiles", "-g",
           "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments", "-T", str(ld), str(src),
           "-o", str(elf)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{prog.name}: assembler/linker failed:\n{res.stderr[-4000:]}")
    return elf


def parse_dump(text: str, profile: Profile) -> dict[str, str]:
    """Named fields of a program's output: r0..r12, apsr, sp, lr, s0..s31, fpscr, mem+N."""
    fields: dict[str, str] = {}
    mem = 0
    fp_i = 0
    for line in text.splitlines():
        if not line:
            continue
        tag, vals = line[0], line[1:].split()
        if tag == "R":
            names = [f"r{i}" for i in range(8)] + ["r8", "r9", "r10", "r11", "r12"]
            fields.update(zip(names, vals))
        elif tag == "S":
            fields.update(zip(["apsr", "sp", "lr"], vals))
        elif tag == "F":
            for v in vals:
                fields["fpscr" if fp_i == 32 else f"s{fp_i}"] = v
                fp_i += 1
        elif tag == "M":
            for v in vals:
                fields[f"mem+{mem:03x}"] = v
                mem += 4
        elif tag == "E":
            fields["end"] = "yes"
        elif tag == "X":
            fields["fault"] = " ".join(vals)
        else:
            fields[f"?{len(fields)}"] = line
    return fields
