"""The native (C) paths of the timing pipeline and their Python glue.

* `Classifier`: the core timing model's per-block cost in C (mcusim/_native/classify.c, a
  port of mcusim/timing/core.py, which stays the reference). Its name-based decisions are
  precomputed here from core.py's own tables and functions, so the two cannot drift apart
  silently; tests/test_native_classify.py compares them on every block of every test
  firmware and on random instruction streams.
* `NativeMemoryModel`: `MemoryModel` with its detailed path (instruction fetch, data
  accesses, caches, cold-fetch estimates and the fast-mode window bookkeeping) in C
  (mcusim/_native/memmodel.c). Policy stays in Python: configuration, when windows open
  and close, the adaptive period. tests/test_native_memory.py runs both models and
  compares cycles, stalls and cache statistics.

The C side is compiled on first use (mcusim.timing.blocks.native_library); without a C
compiler (or with MCUSIM_NATIVE=0) the Python paths run, with identical results.
"""

from __future__ import annotations

import ctypes
from collections import namedtuple

import capstone
from capstone import arm_const as CA

from mcusim.timing import core as _core
from mcusim.timing.memory import Cache, MemoryModel

c_i32, c_u32, c_i64, c_u64, c_u8, c_u16 = (ctypes.c_int32, ctypes.c_uint32, ctypes.c_int64,
                                          ctypes.c_uint64, ctypes.c_uint8, ctypes.c_uint16)
c_vp, c_double = ctypes.c_void_p, ctypes.c_double

# the classes of native.h's enum, in its order
CLASSES = ["alu", "extend", "bitfield", "alu_pc", "mul", "mla", "mull", "mlal", "dsp_mul",
           "dsp_mac", "dsp", "dsp_sat", "div", "load", "load_pc", "store", "ldrd", "strd",
           "ldm", "ldm_pc", "stm", "b", "cbz", "bl", "blx", "bx", "tbb", "it", "nop", "pld",
           "wfi", "wfe", "barrier", "isb", "mrs", "msr", "cps", "svc", "bkpt", "udf",
           "fp_alu", "fp_mac", "fp_fma", "fp_div", "fp_sqrt", "vldr", "vstr", "vldm", "vstm",
           "vmov", "vmov_core", "vmov_core2", "vmrs", "vmsr", "unknown", "custom"]
_CI = {c: i for i, c in enumerate(CLASSES)}

NINSID, NREGID, NBITS, NCLS, NUNITS, MAXUNITS, MAXINS, MAXREGS, MAXFORBID = (
    1024, 256, 128, 64, 8, 6, 1100, 64, 16)
NKEYS = NCLS * 2
LAT_OCC = -1000000
MODEL_NONE, MODEL_SCALAR, MODEL_DUAL = 0, 1, 2
CP_BRANCH, CP_DP, CP_TERMINAL, CP_F64KEY = 1, 2, 4, 8
(CAT_OTHER, CAT_SIMPLE, CAT_HINTNAME, CAT_HINT, CAT_LOAD, CAT_STORE, CAT_LDRD, CAT_STRD,
 CAT_LDM, CAT_STM, CAT_VLDR, CAT_VSTR, CAT_VLDSTM, CAT_FPALU, CAT_FPMAC, CAT_FPFMA, CAT_VMOV,
 CAT_MUL, CAT_MLA, CAT_MULL, CAT_MLAL, CAT_DSPMAC, CAT_DSPSAT, CAT_DSP, CAT_EXTEND,
 CAT_BITFIELD, CAT_PYTHON) = range(27)
(IF_BLX, IF_TARGET, IF_BYTEHALF, IF_STREX, IF_POPPUSH, IF_VPUSHPOP, IF_VLDM, IF_DSPLONG,
 IF_MOVT, IF_STARTSV, IF_MULONLY) = (1 << i for i in range(11))
RP_D, RP_DDIGIT, RP_CORE, RP_KNOWN = 1, 2, 4, 8


class _Rs(ctypes.Structure):
    _fields_ = [("lo", c_u64), ("hi", c_u64)]


class Cls(ctypes.Structure):
    _fields_ = [
        ("handle", c_i64), ("cs_disasm", c_vp), ("cs_free", c_vp), ("cs_regs_access", c_vp),
        ("custom_cb", c_vp), ("custom_on", c_i32), ("pad_", c_i32), ("cache", c_vp),
        ("regmask", _Rs * NREGID), ("ignore", _Rs), ("regmask_flags", _Rs), ("regmask_sp", _Rs),
        ("model", c_i32), ("bit_pc", c_i32), ("bit_flags", c_i32), ("bit_sp", c_i32),
        ("bit_lr", c_i32),
        ("base", c_i32 * NCLS), ("xlat", c_i32 * NCLS), ("late_acc", c_i32 * NCLS),
        *[(n, c_i32) for n in ("ldm_base", "ldm_per_reg", "ldm_pc_extra", "stm_base",
                               "stm_per_reg", "vldm_base", "vldm_per_word", "store", "store_imm",
                               "vldr_32", "vldr_64", "vstr_32", "vstr_64", "it_folded",
                               "P", "saving", "addr_dep", "st_ld", "wb_chain", "it_fold",
                               "late_store", "shift_lat", "xlat_byte_half",
                               "b16", "b16_not_taken", "b16_taken", "b16_taken_fs",
                               "br_rule", "br_decode", "br_unaligned", "br_max")],
        ("caps", c_i32 * NUNITS), ("nforbid", c_i32), ("forbid", (c_i32 * 2) * MAXFORBID),
        ("unit_load", c_i32), ("unit_shift", c_i32),
        ("same_bank_pairs", c_i32), ("unknown_bank_pairs", c_i32), ("movw_movt", c_i32),
        ("mispredict", c_i32), ("mispredict_early", c_i32), ("early_flags_distance", c_i32),
        ("pred_taken", c_i32), ("indirect", c_i32),
        ("key_nunits", c_i32 * NKEYS), ("key_units", (c_i32 * MAXUNITS) * NKEYS),
        ("key_occ", c_i32 * NKEYS), ("key_lat", (c_i32 * 2) * NKEYS),
        ("occ_regs", c_i32 * MAXREGS),
        ("iflags", c_u16 * NINSID), ("cat", c_u8 * NINSID), ("icls", c_u8 * NINSID),
        ("regprop", c_u8 * NREGID), ("cprop", c_u8 * NCLS), ("late_acc_on", c_u8 * NCLS),
        ("key_single", c_u8 * NKEYS), ("key_slot0", c_u8 * NKEYS),
        ("key_has_shift", c_u8 * NKEYS),
    ]


class ClBlock(ctypes.Structure):
    _fields_ = [("nt", c_i32), ("tk", c_i32), ("ninsn", c_i32), ("ncs", c_i32),
                ("flags", c_u32), ("has_div", c_i32), ("n_loads", c_i32), ("n_stores", c_i32),
                ("iaddr", c_u32 * MAXINS),
                ("cyc", c_i32 * MAXINS)]


Costed = namedtuple("Costed", "nt tk ninsn ncs flags has_div insns n_loads n_stores")


# --------------------------------------------------------------------------- classifier
def _category(name: str):
    """(category, class) of an instruction name, in the order of core.py _classify."""
    if name == "hint":
        return CAT_HINT, 0
    if name in _core._SIMPLE:
        return CAT_SIMPLE, _CI[_core._SIMPLE[name]]
    if name in _core._HINT_MNEM:
        return CAT_HINTNAME, _CI[_core._HINT_MNEM[name]]
    if name in _core._LOADS or name in _core._LDREX:
        return CAT_LOAD, 0
    if name in _core._STORES or name in _core._STREX:
        return CAT_STORE, 0
    if name in ("ldrd", "ldaexd", "ldrexd"):
        return CAT_LDRD, 0
    if name in ("strd", "stlexd", "strexd"):
        return CAT_STRD, 0
    if name in _core._LDM:
        return CAT_LDM, 0
    if name in _core._STM:
        return CAT_STM, 0
    if name == "vldr":
        return CAT_VLDR, 0
    if name == "vstr":
        return CAT_VSTR, 0
    if name in _core._VLDM or name in _core._VSTM:
        return CAT_VLDSTM, 0
    if name in _core._FP_ALU or name.startswith("vcvt") or name.startswith("vrint") \
            or name.startswith("vsel"):
        return CAT_FPALU, 0
    if name in _core._FP_MAC:
        return CAT_FPMAC, 0
    if name in _core._FP_FMA:
        return CAT_FPFMA, 0
    if name == "vmov":
        return CAT_VMOV, 0
    if name in _core._MUL:
        return CAT_MUL, 0
    if name in _core._MLA:
        return CAT_MLA, 0
    if name in _core._MULL:
        return CAT_MULL, 0
    if name in _core._MLAL:
        return CAT_MLAL, 0
    if name in _core._DSP_MAC:
        return CAT_DSPMAC, 0
    if name in _core._DSP_SAT:
        return CAT_DSPSAT, 0
    if name in _core._DSP:
        return CAT_DSP, 0
    if name in _core._EXTEND:
        return CAT_EXTEND, 0
    if name in _core._BITFIELD:
        return CAT_BITFIELD, 0
    return CAT_OTHER, 0


def _iflags(name: str) -> int:
    f = 0
    f |= IF_BLX if name == "blx" else 0
    f |= IF_TARGET if name in ("b", "bl", "cbz", "cbnz", "blx") else 0
    f |= IF_BYTEHALF if name not in ("ldr", "ldrt", "ldrex", "lda", "ldaex") else 0
    f |= IF_STREX if name in _core._STREX else 0
    f |= IF_POPPUSH if name in ("pop", "push") else 0
    f |= IF_VPUSHPOP if name in ("vpush", "vpop") else 0
    f |= IF_VLDM if name in _core._VLDM else 0
    f |= IF_DSPLONG if (name.startswith("smlal") or name in (
        "smlald", "smlaldx", "smlsld", "smlsldx", "umaal")) else 0
    f |= IF_MOVT if name == "movt" else 0
    f |= IF_STARTSV if name.startswith("v") else 0
    f |= IF_MULONLY if name in _core._DSP_MUL_ONLY else 0
    return f


_CUSTOM_CB = ctypes.CFUNCTYPE(c_i32, c_u32, c_u32, c_u32)


def _fake(cls: str, **kw):
    x = _core._Ins()
    x.cls, x.f64, x.byte_half, x.nregs, x.words = cls, False, False, 0, 0
    x.shifted, x.op_str, x.custom = set(), "", 1
    for k, v in kw.items():
        setattr(x, k, v)
    return x


class Classifier:
    """The C cost of blocks for one core timing model (None: one cycle per instruction)."""

    def __init__(self, lib, timing):
        self.lib = lib
        self.timing = timing
        self.md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self.md.detail = True
        c = self.c = Cls()
        cs = capstone._cs
        c.handle = self.md.csh.value
        c.cs_disasm = ctypes.cast(cs.cs_disasm, c_vp).value
        c.cs_free = ctypes.cast(cs.cs_free, c_vp).value
        c.cs_regs_access = ctypes.cast(cs.cs_regs_access, c_vp).value
        self._registers()
        self._instructions()
        self._timing(timing)
        self._custom = _CUSTOM_CB(self._custom_cost)
        c.custom_cb = ctypes.cast(self._custom, c_vp).value
        self.cache = block_cache(lib, self.table_key())
        c.cache = self.cache.ptr if self.cache is not None else None
        self.out = ClBlock()
        self._fn = lib.mcusim_classify_block_peek
        self._fn.restype = ctypes.c_int
        self._fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, c_u32, c_u32, ctypes.c_void_p,
                             ctypes.c_void_p, ctypes.c_void_p]

    # ------------------------------------------------------------------ tables
    def _registers(self) -> None:
        c = self.c
        bits: dict[str, int] = {}

        def bit(name):
            if name not in bits:
                if len(bits) >= NBITS:
                    raise ValueError("more normalised register names than bits")
                bits[name] = len(bits)
            return bits[name]

        def mask(names):
            lo = hi = 0
            for n in names:
                b = bit(n)
                if b < 64:
                    lo |= 1 << b
                else:
                    hi |= 1 << (b - 64)
            return lo, hi

        for n in ("pc", "itstate", "flags", "sp", "lr"):
            bit(n)
        for r in range(min(CA.ARM_REG_ENDING, NREGID)):
            name = self.md.reg_name(r)
            if not name:
                continue
            lo, hi = mask(_core._norm(name))
            c.regmask[r].lo, c.regmask[r].hi = lo, hi
            p = RP_KNOWN
            p |= RP_D if name.startswith("d") else 0
            p |= RP_DDIGIT if name.startswith("d") and name[1:2].isdigit() else 0
            p |= RP_CORE if (name[:1] == "r" or name in ("sb", "sl", "fp", "ip", "lr", "sp")) else 0
            c.regprop[r] = p
        c.ignore.lo, c.ignore.hi = mask(_core._IGNORE_REGS)
        c.regmask_flags.lo, c.regmask_flags.hi = mask(["flags"])
        c.regmask_sp.lo, c.regmask_sp.hi = mask(["sp"])
        c.bit_pc, c.bit_flags, c.bit_sp, c.bit_lr = (bits[n] for n in ("pc", "flags", "sp", "lr"))

    def _instructions(self) -> None:
        c = self.c
        for i in range(NINSID):
            c.cat[i] = CAT_PYTHON
        for i in range(1, min(CA.ARM_INS_ENDING, NINSID)):
            name = self.md.insn_name(i)
            if not name:
                continue
            name = _core._NAME_ALIASES.get(name, name)
            cat, cls = _category(name)
            c.cat[i], c.icls[i], c.iflags[i] = cat, cls, _iflags(name)

    def _timing(self, ct) -> None:
        c = self.c
        for k, name in enumerate(CLASSES):
            p = 0
            p |= CP_BRANCH if name in _core._BRANCH_CLASSES else 0
            p |= CP_DP if name in _core._DP_CLASSES else 0
            p |= CP_TERMINAL if name in ("svc", "wfi", "wfe", "bkpt", "udf") else 0
            p |= CP_F64KEY if name in ("fp_alu", "fp_mac", "fp_fma", "fp_div", "fp_sqrt",
                                       "vldr", "vstr") else 0
            c.cprop[k] = p
        if ct is None:
            c.model = MODEL_NONE
            return
        c.model = MODEL_DUAL if ct.model == "dual_issue" else MODEL_SCALAR
        k = ct._c
        for i, name in enumerate(CLASSES):
            if name in ("ldm", "ldm_pc", "stm", "vldm", "vstm", "store", "vldr", "vstr", "custom"):
                continue                     # costed from the fields below
            c.base[i] = ct._base_cost(_fake(name))
            c.xlat[i] = int(ct.extra_latency.get(name, 0))
            if name in ct._late_acc:
                c.late_acc_on[i] = 1
                c.late_acc[i] = int(ct._late_acc[name])
        for name in ("ldm", "ldm_pc", "stm", "vldm", "vstm", "store", "vldr", "vstr", "custom"):
            i = _CI[name]
            c.xlat[i] = int(ct.extra_latency.get(name, 0))
            if name in ct._late_acc:
                c.late_acc_on[i] = 1
                c.late_acc[i] = int(ct._late_acc[name])
        c.ldm_base, c.ldm_per_reg, c.ldm_pc_extra = k("ldm_base", 1), k("ldm_per_reg", 1), \
            k("ldm_pc_extra", 0)
        c.stm_base, c.stm_per_reg = k("stm_base", 1), k("stm_per_reg", 1)
        c.vldm_base, c.vldm_per_word = k("vldm_base", 1), k("vldm_per_word", 1)
        c.store, c.store_imm = k("store"), k("store_imm", k("store"))
        c.vldr_32, c.vldr_64, c.vstr_32, c.vstr_64 = k("vldr_32", 2), k("vldr_64", 3), \
            k("vstr_32", 2), k("vstr_64", 3)
        # the formulas above must be _base_cost's: check them on a few shapes
        for name, kw in (("ldm", dict(nregs=3)), ("ldm_pc", dict(nregs=2)), ("stm", dict(nregs=4)),
                         ("vldm", dict(words=6)), ("vstm", dict(words=2)),
                         ("vldr", dict(f64=True)), ("vstr", dict(f64=False))):
            x = _fake(name, **kw)
            mine = {"ldm": c.ldm_base + c.ldm_per_reg * 3,
                    "ldm_pc": c.ldm_base + c.ldm_per_reg * 2 + c.ldm_pc_extra,
                    "stm": c.stm_base + c.stm_per_reg * 4, "vldm": c.vldm_base + c.vldm_per_word * 6,
                    "vstm": c.vldm_base + c.vldm_per_word * 2, "vldr": c.vldr_64,
                    "vstr": c.vstr_32}[name]
            if ct._base_cost(x) != mine:
                raise ValueError(f"native classifier: {name} cost formula differs")
        c.it_folded = k("it_folded", 0)
        t = ct.spec
        c.P = ct.P
        c.saving, c.addr_dep, c.st_ld = (t.load_pipelined_saving, t.addr_dep_penalty,
                                         t.store_then_load_penalty)
        chains = {"different_base": 0, "first_only": 1, "never": 2}
        if t.load_writeback_chains not in chains:
            raise ValueError(f"load_writeback_chains {t.load_writeback_chains!r}")
        c.wb_chain = chains[t.load_writeback_chains]
        c.it_fold, c.late_store = int(bool(t.it_folding)), int(bool(t.late_store_data))
        c.shift_lat = t.shifted_operand_extra_latency
        c.xlat_byte_half = int(ct.extra_latency.get("load_byte_half", 0))
        b16 = t.pair16_branch
        c.b16 = int(bool(b16))
        if b16:
            c.b16_not_taken = b16.not_taken
            c.b16_taken = -1 if b16.taken is None else b16.taken
            c.b16_taken_fs = -1 if b16.taken_after_flag_setter is None else b16.taken_after_flag_setter
        br = t.branch_refill
        c.br_rule = int(br is not None)
        if br is not None:
            c.br_decode, c.br_unaligned, c.br_max = br.decode_time, br.unaligned_wide_target, br.max
        if ct.model == "dual_issue":
            self._dual(ct)

    def _dual(self, ct) -> None:
        from mcusim.schema import UNITS
        c, p, t = self.c, ct.pairing, ct.spec
        units = list(UNITS)
        if len(units) > NUNITS:
            raise ValueError("too many units")
        caps = dict(p.units)
        for u, name in enumerate(units):
            c.caps[u] = int(caps.get(name, 1))
        for u in range(len(units), NUNITS):
            c.caps[u] = 1 << 20
        forbid = [tuple(f) for f in p.forbid_pairs]
        if len(forbid) > MAXFORBID:
            raise ValueError("too many forbidden pairs")
        c.nforbid = len(forbid)
        for i, (a, b) in enumerate(forbid):
            c.forbid[i][0], c.forbid[i][1] = units.index(a), units.index(b)
        c.unit_load, c.unit_shift = units.index("load"), units.index("shift")
        c.same_bank_pairs = int(bool(p.load_load_same_bank_pairs))
        c.unknown_bank_pairs = int(bool(p.load_load_unknown_bank_pairs))
        c.movw_movt = int(bool(p.movw_movt_pair))
        c.mispredict = t.branch_mispredict_cycles
        c.mispredict_early = t.branch_mispredict_early_flags_cycles
        c.early_flags_distance = t.early_flags_distance
        c.pred_taken = t.branch_predicted_taken_extra
        c.indirect = t.indirect_extra
        for i, name in enumerate(CLASSES):
            for f64 in (0, 1):
                key = i * 2 + f64
                x = _fake(name, f64=bool(f64))
                kname, us, single, slot0 = ct._m7_props(x)
                if len(us) > MAXUNITS:
                    raise ValueError("too many units for a class")
                c.key_nunits[key] = len(us)
                for j, u in enumerate(us):
                    c.key_units[key][j] = units.index(u)
                c.key_has_shift[key] = int("shift" in us)
                c.key_single[key], c.key_slot0[key] = int(single), int(slot0)
                occ = 0 if name in ("ldm", "ldm_pc", "stm", "vldm", "vstm", "custom") \
                    else ct._m7_occ(x, kname)
                c.key_occ[key] = occ
                for bh in (0, 1):
                    y = _fake(name, f64=bool(f64), byte_half=bool(bh))
                    lat = ct._m7_lat(y, kname, LAT_OCC)
                    c.key_lat[key][bh] = LAT_OCC if lat == LAT_OCC else lat
        for n in range(MAXREGS):
            c.occ_regs[n] = ct._m7_occ(_fake("ldm", nregs=n), "ldm")
            if ct._m7_occ(_fake("vldm", words=n), "vldm") != c.occ_regs[n]:
                raise ValueError("LDM and VLDM occupancy differ")

    def table_key(self) -> str:
        """What a block's cost depends on besides its address and bytes: every table
        value (the structure from `regmask` on: no pointers), the C sources and capstone."""
        import hashlib
        raw = bytes(self.c)[Cls.regmask.offset:]
        h = hashlib.sha256(raw)
        h.update(str(getattr(capstone, "__version__", "")).encode())
        h.update(getattr(self.lib, "_mcusim_tag", "").encode())
        return h.hexdigest()[:24]

    # ------------------------------------------------------------------ custom instructions
    def _custom_cost(self, hw1: int, hw2: int, addr: int) -> int:
        """CoreTiming.decode's custom-instruction rule, for the C classifier."""
        t = self.timing
        f = getattr(t, "custom_cost", None)
        v = f(hw1, hw2) if f is not None else None
        if v is None:
            return -1
        t.custom_sites.add(addr)
        return int(v)

    def sync_custom(self) -> None:
        """Accelerators may give the timing model a custom-instruction cost after the
        machine is built: follow it."""
        on = int(getattr(self.timing, "custom_cost", None) is not None)
        if self.c.custom_on != on:
            self.c.custom_on = on

    # ------------------------------------------------------------------ use
    def block(self, code: bytes, addr: int, uc=None):
        """The block's cost, or None when the Python path must cost it. ``uc``: the Unicorn
        machine whose memory holds branch targets (the refill rule's alignment term; None:
        target width unknown, as CoreTiming with no peek)."""
        self.sync_custom()
        o = self.out
        rd = h = None
        if uc is not None:
            from unicorn.unicorn_py3.unicorn import uclib
            rd, h = ctypes.cast(uclib.uc_mem_read, c_vp).value, ctypes.cast(uc._uch, c_vp).value
        if self._fn(ctypes.byref(self.c), bytes(code), len(code), addr, ctypes.byref(o), rd, h) != 0:
            return None
        n = o.ninsn if self.c.model != MODEL_NONE else 0
        return Costed(o.nt, o.tk, o.ninsn, o.ncs, o.flags, bool(o.has_div),
                      [(o.iaddr[j], o.cyc[j]) for j in range(n)], o.n_loads, o.n_stores)


# --------------------------------------------------------------------------- block cache
class BlockCache:
    """Costed blocks of one timing table (mcusim/_native/bcache.c), shared by every
    classifier of that table in the process, loaded from and saved to the user's cache
    directory (MCUSIM_BLOCK_CACHE=0: memory only). A hit needs the same address and the
    same code bytes; the file is keyed by the table, the C sources and capstone."""

    LIMIT = 64 << 20

    def __init__(self, lib, key: str):
        self.lib, self.key = lib, key
        self.ptr = lib.mcusim_bcache_new(self.LIMIT)
        if not self.ptr:
            raise MemoryError("block cache")
        self.loaded = 0
        self.path = None
        if _disk_cache_on():
            d = _cache_dir()
            if d is not None:
                self.path = d / f"blocks-{key}.bin"
                try:
                    data = self.path.read_bytes()
                except OSError:
                    data = None
                if data:
                    if lib.mcusim_bcache_load(self.ptr, data, len(data)) >= 0:
                        self.loaded = len(data)

    def size(self) -> int:
        return self.lib.mcusim_bcache_len(self.ptr)

    def stats(self) -> dict:
        out = (c_u32 * 4)()
        self.lib.mcusim_bcache_stats(self.ptr, out)
        return dict(hits=out[0], misses=out[1], blocks=out[2], bytes=out[3])

    def save(self) -> None:
        """Write the records to the cache file when there are new ones (atomically)."""
        n = self.size()
        if self.path is None or n <= self.loaded:
            return
        import os
        data = ctypes.string_at(self.lib.mcusim_bcache_data(self.ptr), n)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, self.path)
            self.loaded = n
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass


_BLOCK_CACHES: dict = {}


def _disk_cache_on() -> bool:
    import os
    return os.environ.get("MCUSIM_BLOCK_CACHE", "1") != "0"


def _cache_dir():
    from mcusim.timing.blocks import cache_dir
    return cache_dir()


def block_cache(lib, key: str):
    bc = _BLOCK_CACHES.get((id(lib), key))
    if bc is None:
        try:
            bc = BlockCache(lib, key)
        except MemoryError:
            return None
        if not _BLOCK_CACHES:
            import atexit
            atexit.register(save_block_caches)
        _BLOCK_CACHES[(id(lib), key)] = bc
    return bc


def save_block_caches() -> None:
    """Save every block cache with new records (also at exit)."""
    for bc in list(_BLOCK_CACHES.values()):
        bc.save()


def classifier_for(lib, timing):
    """One Classifier per timing model (shared by the coster and the memory model); None
    when the library was built without capstone or its layout does not match."""
    if lib is None or not hasattr(lib, "mcusim_classify_block") or not layout_ok(lib):
        return None
    key = "_mcusim_native_classifier"
    holder = timing if timing is not None else _NO_TIMING
    cl = getattr(holder, key, None)
    if cl is None or cl.lib is not lib:
        try:
            cl = Classifier(lib, timing)
        except (ValueError, KeyError, AttributeError, TypeError):
            return None
        setattr(holder, key, cl)
    return cl


class _NoTiming:
    pass


_NO_TIMING = _NoTiming()


def layout_ok(lib) -> bool:
    out = (c_i64 * 8)()
    lib.mcusim_cs_layout(out)
    if out[0] == 0:
        return False                 # built without capstone
    arm = capstone.arm
    want = [ctypes.sizeof(capstone._cs_insn), capstone._cs_insn.detail.offset,
            capstone._cs_detail.arch.offset, ctypes.sizeof(arm.ArmOp),
            arm.CsArm.operands.offset, capstone._cs_insn.op_str.offset, ctypes.sizeof(Cls)]
    return list(out[:7]) == want


# --------------------------------------------------------------------------- memory model
class CCache(ctypes.Structure):
    _fields_ = [("nsets", c_i32), ("ways", c_i32), ("shift", c_i32), ("line", c_i32),
                ("random", c_i32), ("write_back", c_i32), ("write_allocate", c_i32),
                ("valid", c_i32), ("rng", c_u32), ("pad_", c_u32),
                ("hits", c_u64), ("misses", c_u64), ("writebacks", c_u64), ("fills", c_u64),
                ("lines", ctypes.POINTER(c_u32)), ("dirty", ctypes.POINTER(c_u8)),
                ("n", ctypes.POINTER(c_i32))]


class CSrc(ctypes.Structure):
    _fields_ = [(n, c_i32) for n in ("rd_ws", "wr_ws", "granule", "icache", "dcache", "prefetch",
                                     "stream", "write_through", "flash", "dbuf", "pad_")]


class CSpan(ctypes.Structure):
    _fields_ = [("lo", c_u64), ("hi", c_u64), ("src", c_i32), ("pad_", c_i32)]


MM_MAXSRC, MM_MAXSPAN, MM_MAXCACHE, MM_NCOUNTS = 16, 48, 6, 8
COUNT_NAMES = ("flash_reads_through", "flash_reads_around", "ram_reads", "ram_writes",
               "unaligned_accesses")


class MM(ctypes.Structure):
    _fields_ = [
        ("detailed", c_i32), ("any_stall", c_i32), ("timing_none", c_i32), ("clear_itstate", c_i32),
        ("gen", c_u32), ("nsrc", c_i32), ("nspan", c_i32), ("ncache", c_i32),
        ("src", CSrc * MM_MAXSRC), ("span", CSpan * MM_MAXSPAN), ("cache", CCache * MM_MAXCACHE),
        ("t", c_i64), ("buf", c_i64), ("pf", c_i64), ("pf_ready", c_i64), ("busy_until", c_i64),
        ("pf_fill", c_i32), ("active", c_i32), ("in_window", c_i32),
        ("learn_from", c_u64), ("exec_idx", c_u32), ("cur_addr", c_u32), ("cur_valid", c_i32),
        ("pad_", c_i32), ("cur_stall", c_double),
        ("pending", c_i32), ("has_next", c_i32), ("next_at", c_u64), ("new_delay", c_u64),
        ("fetch_stall", c_i64), ("data_stall", c_i64), ("counts", c_u64 * MM_NCOUNTS),
        ("wlist", ctypes.POINTER(c_u32)), ("lorder", ctypes.POINTER(c_u32)),
        ("snapl", ctypes.POINTER(c_u32)),
        ("wlen", c_u32), ("wcap", c_u32), ("llen", c_u32), ("lcap", c_u32), ("slen", c_u32),
        ("scap", c_u32),
        ("rows", ctypes.POINTER(c_i64)), ("rows_len", c_u32), ("rows_cap", c_u32),
        ("reg_write", c_vp), ("epsr_reg", c_i32), ("epsr_value", c_u32),
        ("ua", c_i32 * 6), ("ua_on", c_i32), ("pad2_", c_i32), ("dline", c_i64),
    ]


class SpanHook(ctypes.Structure):
    _fields_ = [("state", c_vp), ("src", c_i32), ("pad_", c_i32)]


class NativeCache(Cache):
    """A Cache whose lines live in the C memory model (same geometry and policies; the
    Python methods work on the C state, for the configuration code and for tests)."""

    def __init__(self, mm, index, lib, size_bytes, line_bytes, ways, *, replacement="lru",
                 write_back=True, write_allocate=True, name="cache"):
        super().__init__(size_bytes, line_bytes, ways, replacement=replacement,
                         write_back=write_back, write_allocate=write_allocate, name=name)
        self.sets = None
        self.dirty = None
        self._mm, self._k, self._lib = mm, index, lib
        cc = mm.cache[index]
        if lib.mcusim_cache_init(ctypes.byref(cc), self.nsets, self.ways, self.shift, self.line,
                                 int(self.random), int(self.write_back),
                                 int(self.write_allocate)) != 0:
            raise MemoryError(f"{name}: cannot allocate the native cache")

    @property
    def _c(self):
        return self._mm.cache[self._k]

    hits = property(lambda s: s._c.hits if hasattr(s, "_mm") else 0, lambda s, v: None)
    misses = property(lambda s: s._c.misses if hasattr(s, "_mm") else 0, lambda s, v: None)
    writebacks = property(lambda s: s._c.writebacks if hasattr(s, "_mm") else 0, lambda s, v: None)
    fills = property(lambda s: s._c.fills if hasattr(s, "_mm") else 0, lambda s, v: None)

    def invalidate(self) -> None:
        if hasattr(self, "_mm"):
            self._lib.mcusim_cache_invalidate(ctypes.byref(self._c))

    def contains(self, addr: int) -> bool:
        return bool(self._lib.mcusim_cache_contains(ctypes.byref(self._c), c_u32(addr)))

    def access(self, addr: int, write: bool = False) -> tuple[bool, bool]:
        vd = ctypes.c_int()
        hit = self._lib.mcusim_cache_access(ctypes.byref(self._c), c_u32(addr), int(write),
                                            ctypes.byref(vd))
        return bool(hit), bool(vd.value)


class NativeMemoryModel(MemoryModel):
    """MemoryModel with the detailed path in C (module docstring). Connected to a
    NativeCoster, whose C block hook runs the fetch model; the data side is a C memory
    hook per span."""

    native = True

    def __init__(self, mcu, mode, cpu, memory_map, clock, timing, warn, *, lib, classifier):
        self._lib = lib
        self._classifier = classifier
        self._mm = MM()
        self._ncache = 0
        self._stats = {}
        super().__init__(mcu, mode, cpu, memory_map, clock, timing, warn)
        if self.wb_on:
            # the write buffer (RAM with write wait states) is the Python model's only
            raise ValueError("write buffer: the Python memory model runs it")
        m = self._mm
        m.detailed = int(mode == "detailed")
        m.timing_none = int(timing is None)
        m.new_delay = self.NEW_DELAY
        m.buf = m.pf = -1
        m.dline = -1
        from unicorn import arm_const
        from unicorn.unicorn_py3.unicorn import uclib
        m.reg_write = ctypes.cast(uclib.uc_reg_write, c_vp).value
        m.epsr_reg = arm_const.UC_ARM_REG_EPSR
        m.epsr_value = 1 << 24
        self._span_hooks = (SpanHook * max(1, len(self.spans)))()
        self._src_index = {id(s): i for i, s in enumerate(self.sources.values())}
        self._hook_fn = ctypes.cast(lib.mcusim_mem_hook, c_vp)
        self._mirror()

    def __del__(self):
        try:
            self._lib.mcusim_mm_free(ctypes.byref(self._mm))
        except Exception:
            pass

    # ------------------------------------------------------------------ parts
    def _make_cache(self, size_bytes, line_bytes, ways, **kw):
        if self._ncache >= MM_MAXCACHE:
            raise ValueError("too many caches for the native memory model")
        c = NativeCache(self._mm, self._ncache, self._lib, size_bytes, line_bytes, ways, **kw)
        self._ncache += 1
        return c

    def _configure(self) -> None:
        super()._configure()
        self._push_config()

    def _push_config(self) -> None:
        m = self._mm
        if len(self.sources) > MM_MAXSRC or len(self.spans) > MM_MAXSPAN:
            raise ValueError("too many memories for the native memory model")
        srcs = list(self.sources.values())
        caches = {}
        for s in srcs:
            for c in (s.icache, s.dcache):
                if c is not None and not isinstance(c, NativeCache):
                    raise TypeError("a cache the native model does not hold")
        for i, s in enumerate(srcs):
            cs = m.src[i]
            cs.rd_ws, cs.wr_ws, cs.granule = int(s.rd_ws), int(s.wr_ws), int(s.granule)
            cs.icache = s.icache._k if s.icache is not None else -1
            cs.dcache = s.dcache._k if s.dcache is not None else -1
            cs.prefetch, cs.stream = int(bool(s.prefetch)), int(bool(s.stream))
            cs.write_through, cs.flash = int(bool(s.write_through)), int(s.kind == "flash")
            cs.dbuf = int(bool(s.dbuf))
        m.nsrc = len(srcs)
        index = {id(s): i for i, s in enumerate(srcs)}
        for k, (lo, hi, s) in enumerate(self.spans):
            m.span[k].lo, m.span[k].hi, m.span[k].src = lo, hi, index[id(s)]
        m.nspan = len(self.spans)
        m.ncache = self._ncache
        m.any_stall = int(bool(self.any_stall_possible))
        m.clear_itstate = int(bool(self.clear_itstate))
        for k, v in enumerate(self.unaligned):      # [timing.unaligned]
            m.ua[k] = int(v)
        m.ua_on = int(bool(self.ua_on))
        del caches
        if self.coster is not None:
            self._lib.mcusim_mm_new_config(self.coster._stp)
        else:
            m.gen += 1
            m.rows_len = 0

    # ------------------------------------------------------------------ ports
    def connect(self, coster, timebase) -> None:
        if not getattr(coster, "native", False) or getattr(coster, "_st", None) is None:
            raise TypeError("the native memory model needs the native coster")
        coster.attach_memory(self._mm)
        super().connect(coster, timebase)

    # ------------------------------------------------------------------ state in C
    @property
    def t(self):
        return self._mm.t

    @t.setter
    def t(self, v):
        self._mm.t = int(v)

    @property
    def in_window(self):
        return bool(self._mm.in_window)

    @in_window.setter
    def in_window(self, v):
        self._mm.in_window = int(bool(v))

    @property
    def learn_from(self):
        return self._mm.learn_from

    @learn_from.setter
    def learn_from(self, v):
        self._mm.learn_from = max(0, int(v))

    @property
    def stats(self):
        d = self._stats
        m = self._mm
        d["fetch_stall"], d["data_stall"] = m.fetch_stall, m.data_stall
        for i, name in enumerate(COUNT_NAMES):
            d[name] = m.counts[i]
        return d

    @stats.setter
    def stats(self, v):
        self._stats = dict(v)
        m = self._mm
        m.fetch_stall, m.data_stall = int(v.get("fetch_stall", 0)), int(v.get("data_stall", 0))
        for i, name in enumerate(COUNT_NAMES):
            m.counts[i] = int(v.get(name, 0))

    @property
    def learned(self) -> dict:
        """Block address -> mean stall per execution (a copy, in learning order)."""
        st = self.coster._stp if self.coster is not None else None
        if st is None:
            return {}
        n = self._mm.llen
        addrs, vals = (c_u32 * max(1, n))(), (c_double * max(1, n))()
        k = self._lib.mcusim_mm_learned(st, addrs, vals, n)
        return {addrs[i]: vals[i] for i in range(k)}

    @learned.setter
    def learned(self, v):
        if v:
            raise ValueError("the native memory model learns in C")
        if self.coster is not None:
            self._lib.mcusim_mm_clear_learned(self.coster._stp)

    def _mirror(self) -> None:
        """What _request_window decides on, for the C hook's new blocks."""
        m = self._mm
        m.pending = int(getattr(self, "_pending", None) is not None)
        nw = getattr(self, "_next_window", None)
        m.has_next = int(nw is not None)
        m.next_at = nw.at if nw is not None else 0

    # ------------------------------------------------------------------ coster interface
    def block_stall(self, addr: int, size: int, insns) -> int:
        if self.mode == "detailed" or not self.any_stall_possible:
            return 0
        stall, new = c_i32(), c_i32()
        if self._lib.mcusim_mm_block_stall(self.coster._stp, c_u32(addr), c_u32(size),
                                           ctypes.byref(stall), ctypes.byref(new)) != 0:
            raise RuntimeError(f"native memory model: block 0x{addr:08x} is not in the table")
        if new.value and not self.in_window:
            self._request_window(self.timebase.cycles + self.NEW_DELAY)
        return stall.value

    def reconfigure(self) -> None:
        old = dict(self.config)
        self._configure()
        if self.config != old and self.mode != "detailed":
            self._settle_period()
            self._lib.mcusim_mm_clear_learned(self.coster._stp)
            self.period = self.P_MIN
            if not self.in_window:
                self._request_window(self.timebase.cycles)
        if self.mode == "detailed" and self.any_stall_possible and not self.hooks_on:
            self._install_hooks()

    # ------------------------------------------------------------------ detailed hooks
    def _install_hooks(self) -> None:
        if self.hooks_on:
            return
        uc = self.cpu
        from unicorn import UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
        from unicorn.unicorn_py3.unicorn import uclib
        self._mm.active = 1
        stp = self.coster._stp
        self._mm.clear_itstate = int(bool(self.clear_itstate))
        for k, (lo, hi, s) in enumerate(self.spans):
            if not self._may_matter(s, lo):
                continue
            h = self._span_hooks[k]
            h.state, h.src = stp, self._src_index[id(s)]
            hh = ctypes.c_size_t()
            err = uclib.uc_hook_add(uc._uch, ctypes.byref(hh), UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                                    self._hook_fn, ctypes.cast(ctypes.pointer(h), c_vp),
                                    c_u64(lo), c_u64(hi - 1))
            if err:
                raise RuntimeError(f"uc_hook_add failed ({err})")
            self._hh.append(hh.value)
        self.hooks_on = True
        uc.ctl_flush_tb()
        self._mm.buf = -1          # the fetch buffer's content is unknown after fast code
        self._mm.dline = -1        # so is the D-Code current buffer's

    def _remove_hooks(self) -> None:
        if not self.hooks_on:
            return
        from unicorn.unicorn_py3.unicorn import uclib
        uc = self.cpu
        for h in self._hh:
            uclib.uc_hook_del(uc._uch, ctypes.c_size_t(h))
        self._hh = []
        self._mm.active = 0
        self.hooks_on = False
        self._flush_unhooked(uc)

    # ------------------------------------------------------------------ fast: windows
    def _request_window(self, at: int) -> None:
        super()._request_window(at)
        self._mirror()

    def _start_window(self, at: int) -> None:
        self._pending = None
        self._next_window = None
        self._mirror()
        if self.in_window:
            return
        self._settle_period()
        self.in_window = True
        self._lib.mcusim_mm_window_reset(self.coster._stp)
        self._install_hooks()
        now = self.timebase.cycles
        self.learn_from = now + self.warmup
        self.window_end = now + (self.FIRST_WINDOW if self.stats["windows"] == 0
                                 else self.warmup + self.WINDOW)
        self._win_start = now
        self._stats["windows"] += 1
        self.timebase.schedule(self.window_end, self._end_window, "memory-window-end", wakes=False)

    def _end_window(self, at: int) -> None:
        if not self.in_window:
            return
        self._remove_hooks()
        self.in_window = False
        self._stats["window_cycles"] += self.timebase.cycles - self._win_start
        unchecked = self._lib.mcusim_mm_unchecked(self.coster._stp)
        changed = c_u32()
        err = self._lib.mcusim_mm_end_window(self.coster._stp, ctypes.byref(changed))
        self._next_period(err, unchecked)
        self._lib.mcusim_mm_mark_counts(self.coster._stp)
        self._last_end = self.timebase.cycles
        self._snapshot_counts()
        self._next_window = self.timebase.schedule(self.timebase.cycles + self.period,
                                                   self._start_window, "memory-window",
                                                   wakes=False)
        self._mirror()

    def _snapshot_counts(self) -> None:
        self._lib.mcusim_mm_snapshot(self.coster._stp)

    def _settle_period(self) -> None:
        if self.coster is None:
            return
        anyp = c_i32()
        extra = self._lib.mcusim_mm_settle(self.coster._stp, ctypes.byref(anyp))
        n = self._charge(extra) if anyp.value else 0
        self._lib.mcusim_mm_attribute(self.coster._stp, n, extra)

    def summary(self) -> dict:
        d = super().summary()
        return d


def _declare(lib) -> None:
    """Argument and result types of the native memory model's functions."""
    P = ctypes.c_void_p
    for name, res, args in (
            ("mcusim_mm_end_window", c_double, [P, P]),
            ("mcusim_mm_settle", c_double, [P, P]),
            ("mcusim_mm_attribute", None, [P, c_i64, c_double]),
            ("mcusim_mm_snapshot", None, [P]),
            ("mcusim_mm_unchecked", c_double, [P]),
            ("mcusim_mm_mark_counts", None, [P]),
            ("mcusim_mm_window_reset", None, [P]),
            ("mcusim_mm_clear_learned", None, [P]),
            ("mcusim_mm_new_config", None, [P]),
            ("mcusim_mm_block_stall", ctypes.c_int, [P, c_u32, c_u32, P, P]),
            ("mcusim_mm_learned", c_u32, [P, P, P, c_u32]),
            ("mcusim_mm_free", None, [P]),
            ("mcusim_cache_init", ctypes.c_int, [P, c_i32, c_i32, c_i32, c_i32, c_i32, c_i32, c_i32]),
            ("mcusim_cache_invalidate", None, [P]),
            ("mcusim_cache_contains", ctypes.c_int, [P, c_u32]),
            ("mcusim_cache_access", ctypes.c_int, [P, c_u32, ctypes.c_int, P]),
            ("mcusim_cs_layout", None, [P]),
            ("mcusim_bcache_new", P, [c_u32]),
            ("mcusim_bcache_load", c_i32, [P, ctypes.c_char_p, c_u32]),
            ("mcusim_bcache_len", c_u32, [P]),
            ("mcusim_bcache_data", P, [P]),
            ("mcusim_bcache_stats", None, [P, P]),
            ("mcusim_find", c_u32, [P, c_u32]),
            ("mcusim_insert", c_u32, [P, c_u32]),
            ("mcusim_prof_push", None, [P, c_u32, c_u32]),
            ("mcusim_prof_pop", None, [P]),
            ("mcusim_activity", None, [P, P]),
            ("mcusim_stop", None, [P]),
            ("mcusim_sizeof", c_i64, [ctypes.c_int])):
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args


def sizes_ok(lib) -> bool:
    """The ctypes mirrors match the C structures."""
    from mcusim.timing.blocks import _Blk, _BlkX, _State
    want = [ctypes.sizeof(_State), ctypes.sizeof(_Blk), ctypes.sizeof(MM), ctypes.sizeof(Cls),
            ctypes.sizeof(ClBlock), ctypes.sizeof(CCache), ctypes.sizeof(SpanHook),
            ctypes.sizeof(_BlkX)]
    return [lib.mcusim_sizeof(i) for i in range(len(want))] == want


def make_memory_model(mcu, mode, cpu, memory_map, clock, timing, warn):
    """The native memory model when the native library (with its classifier) is available,
    else the Python one (identical results; MCUSIM_NATIVE_MEMORY=0 forces Python)."""
    import os

    from mcusim.timing.blocks import native_library
    lib = native_library()
    if lib is not None and os.environ.get("MCUSIM_NATIVE_MEMORY", "1") != "0":
        cl = classifier_for(lib, timing)
        if cl is not None or timing is None:
            try:
                return NativeMemoryModel(mcu, mode, cpu, memory_map, clock, timing, warn,
                                         lib=lib, classifier=cl)
            except (ValueError, TypeError, MemoryError):
                pass
    return MemoryModel(mcu, mode, cpu, memory_map, clock, timing, warn)


__all__ = ["Classifier", "NativeMemoryModel", "classifier_for", "make_memory_model", "CLASSES"]
