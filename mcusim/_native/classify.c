/*
 * classify.c -- the core timing model's per-block cost in C: a line-by-line port of
 * mcusim/timing/core.py (_classify, CoreTiming._scalar, CoreTiming._dual), which stays
 * the reference. tests/test_native_classify.py compares the two on every block of every
 * test firmware and on random instruction streams; any difference is a bug here.
 *
 * Decoding uses the same capstone library the Python side loaded (function pointers
 * handed over by mcusim/timing/native.py), so both see the same instructions. Everything
 * name-based (instruction categories, register names and their normalisation, timing
 * table values) is precomputed in Python into the tables of cls_t, so this file holds
 * only the rules. A block this port cannot cost exactly returns CL_PYTHON and is costed
 * by the Python path.
 */
#include <stdint.h>
#include <string.h>

#include "native.h"

#ifdef MCUSIM_NO_CAPSTONE
/* built without capstone's headers: every block is costed in Python */
void mcusim_cs_layout(int64_t *out)
{
    for (int k = 0; k < 8; k++)
        out[k] = 0;
}

int mcusim_classify_block(const cls_t *c, const uint8_t *code, uint32_t size, uint32_t addr,
                          cl_block_t *out)
{
    (void)c, (void)code, (void)size, (void)addr, (void)out;
    return CL_PYTHON;
}

int mcusim_classify_block_peek(const cls_t *c, const uint8_t *code, uint32_t size,
                               uint32_t addr, cl_block_t *out, void *mem_read, void *uc)
{
    (void)mem_read, (void)uc;
    return mcusim_classify_block(c, code, size, addr, out);
}
#else
#include <capstone/capstone.h>

/* instruction categories (cat[id]) -- the order of the if-chain in core.py _classify */
enum {
    CAT_OTHER = 0, CAT_SIMPLE, CAT_HINTNAME, CAT_HINT, CAT_LOAD, CAT_STORE, CAT_LDRD,
    CAT_STRD, CAT_LDM, CAT_STM, CAT_VLDR, CAT_VSTR, CAT_VLDSTM, CAT_FPALU, CAT_FPMAC,
    CAT_FPFMA, CAT_VMOV, CAT_MUL, CAT_MLA, CAT_MULL, CAT_MLAL, CAT_DSPMAC, CAT_DSPSAT,
    CAT_DSP, CAT_EXTEND, CAT_BITFIELD, CAT_PYTHON
};

/* per-id flags (iflags[id]) */
#define IF_BLX        0x0001u  /* name == "blx" */
#define IF_TARGET     0x0002u  /* name in (b, bl, cbz, cbnz, blx): IMM operand is the target */
#define IF_BYTEHALF   0x0004u  /* load: not ldr/ldrt/ldrex/lda/ldaex */
#define IF_STREX      0x0008u
#define IF_POPPUSH    0x0010u  /* pop / push (LDM/STM on SP) */
#define IF_VPUSHPOP   0x0020u
#define IF_VLDM       0x0040u  /* VLDM family (else VSTM) */
#define IF_DSPLONG    0x0080u  /* smlal* / smlald / smlaldx / smlsld / smlsldx / umaal */
#define IF_MOVT       0x0100u
#define IF_STARTSV    0x0200u  /* name starts with "v" */
#define IF_MULONLY    0x0400u  /* MUL family member in _DSP_MUL_ONLY */

/* register properties (regprop[id]) */
#define RP_D       1u   /* name starts with "d" */
#define RP_DDIGIT  2u   /* name starts with "d" followed by a digit */
#define RP_CORE    4u   /* r*, sb, sl, fp, ip, lr, sp (vmov core operand) */
#define RP_KNOWN   8u   /* capstone has a name for it */

typedef struct {
    uint32_t addr;
    uint16_t size;
    uint8_t cls, cond;
    rs_t reads, writes, addr_regs, acc, store_data, shifted;
    uint8_t wb, sets_flags, f64, byte_half, movt, movw, lr_read, sp_addr;
    int32_t nregs, words;
    int32_t has_target;
    int64_t target;
    int32_t mem_imm;        /* store: "[" in op_str and the offset is an immediate */
    int32_t custom;         /* K_CUSTOM: its issue cycles */
    int32_t disp_ok;        /* M7 bank check: displacement parsed from op_str */
    int64_t disp;
} ins_t;

static inline int rs_any(rs_t a) { return (a.lo | a.hi) != 0; }
static inline rs_t rs_or(rs_t a, rs_t b) { rs_t r = {a.lo | b.lo, a.hi | b.hi}; return r; }
static inline rs_t rs_and(rs_t a, rs_t b) { rs_t r = {a.lo & b.lo, a.hi & b.hi}; return r; }
static inline rs_t rs_minus(rs_t a, rs_t b) { rs_t r = {a.lo & ~b.lo, a.hi & ~b.hi}; return r; }
static inline int rs_has(rs_t a, int bit)
{
    return bit < 64 ? (int)((a.lo >> bit) & 1u) : (int)((a.hi >> (bit - 64)) & 1u);
}
static inline int rs_eq(rs_t a, rs_t b) { return a.lo == b.lo && a.hi == b.hi; }

/* for each set bit b of r (b in 0..127) */
#define RS_FOREACH(r, b, body)                                                     \
    do {                                                                           \
        uint64_t w_ = (r).lo;                                                      \
        while (w_) {                                                               \
            int b = __builtin_ctzll(w_);                                           \
            w_ &= w_ - 1;                                                          \
            body;                                                                  \
        }                                                                          \
        w_ = (r).hi;                                                               \
        while (w_) {                                                               \
            int b = 64 + __builtin_ctzll(w_);                                      \
            w_ &= w_ - 1;                                                          \
            body;                                                                  \
        }                                                                          \
    } while (0)

typedef size_t (*cs_disasm_fn)(csh, const uint8_t *, size_t, uint64_t, size_t, cs_insn **);
typedef void (*cs_free_fn)(cs_insn *, size_t);
typedef cs_err (*cs_regs_access_fn)(csh, const cs_insn *, cs_regs, uint8_t *, cs_regs, uint8_t *);

/* layout check: Python compares these with its ctypes structures before using us */
void mcusim_cs_layout(int64_t *out)
{
    out[0] = (int64_t)sizeof(cs_insn);
    out[1] = (int64_t)offsetof(cs_insn, detail);
    out[2] = (int64_t)offsetof(cs_detail, arm);
    out[3] = (int64_t)sizeof(cs_arm_op);
    out[4] = (int64_t)offsetof(cs_arm, operands);
    out[5] = (int64_t)offsetof(cs_insn, op_str);
    out[6] = (int64_t)sizeof(cls_t);
}

/* ------------------------------------------------------------------ op_str helpers */
/* the text between the first "[" and the following "]", split at ","; Python strips
 * each part (str.strip: whitespace) */
static int mem_parts(const char *op, const char **p1, int *n1, int *nparts)
{
    const char *lb = strchr(op, '[');
    if (!lb)
        return 0;
    const char *in = lb + 1;
    const char *rb = strchr(in, ']');
    const char *end = rb ? rb : in + strlen(in);
    const char *comma = NULL;
    int parts = 1;
    for (const char *q = in; q < end; q++)
        if (*q == ',') {
            if (!comma)
                comma = q;
            parts++;
        }
    *nparts = parts;
    if (comma) {
        const char *s = comma + 1;
        const char *e = s;
        while (e < end && *e != ',')
            e++;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\f' || e[-1] == '\v'))
            e--;
        *p1 = s;
        *n1 = (int)(e - s);
    } else {
        *p1 = NULL;
        *n1 = 0;
    }
    return 1;
}

/* CoreTiming._mem_is_imm (called only when "[" is in op_str) */
static int mem_is_imm(const char *op)
{
    const char *p1;
    int n1, parts;
    if (!mem_parts(op, &p1, &n1, &parts))
        return 0;
    return parts == 1 || (n1 > 0 && p1[0] == '#');
}

/* Python int(s, 0) for the forms capstone prints; returns 0 when it would raise */
static int py_int0(const char *s, int n, int64_t *out)
{
    int i = 0, neg = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (i >= n)
        return 0;
    int64_t v = 0;
    if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        i += 2;
        if (i >= n)
            return 0;
        for (; i < n; i++) {
            char c = s[i];
            int d;
            if (c >= '0' && c <= '9') d = c - '0';
            else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
            else return 0;
            v = v * 16 + d;
            if (v > ((int64_t)1 << 40))
                return 0;
        }
    } else {
        if (s[i] == '0') {             /* base 0: "0", "00" ok; "01" is an error */
            for (int j = i; j < n; j++)
                if (s[j] != '0')
                    return 0;
            v = 0;
        } else {
            for (; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                    return 0;
                v = v * 10 + (s[i] - '0');
                if (v > ((int64_t)1 << 40))
                    return 0;
            }
        }
    }
    *out = neg ? -v : v;
    return 1;
}

/* CoreTiming._disp */
static int disp_of(const char *op, int64_t *out)
{
    const char *p1;
    int n1, parts;
    if (!mem_parts(op, &p1, &n1, &parts))
        return 0;
    if (parts == 1) {
        *out = 0;
        return 1;
    }
    if (n1 > 0 && p1[0] == '#')
        return py_int0(p1 + 1, n1 - 1, out);
    return 0;
}

static int base_mnem_is(const char *m, const char *w)
{
    size_t n = strlen(w);
    return strncmp(m, w, n) == 0 && (m[n] == 0 || m[n] == '.');
}

/* the class of a "hint": its base mnemonic when it is a hint name, else nop */
static int hint_class(const cls_t *c, const char *mnem)
{
    (void)c;
    static const char *names[] = {"nop", "yield", "sev", "wfi", "wfe", "sevl", "esb", "csdb"};
    for (int k = 0; k < 8; k++)
        if (base_mnem_is(mnem, names[k]))
            return (k == 3) ? K_WFI : (k == 4) ? K_WFE : K_NOP;
    return K_NOP;
}

/* ------------------------------------------------------------------ _classify */
static int classify_insn(const cls_t *c, cs_insn *i, ins_t *x)
{
    cs_regs rr, ww;
    uint8_t nr = 0, nw = 0;
    unsigned id = i->id;
    if (id >= CL_NINSID)
        return -1;
    int cat = c->cat[id];
    if (cat == CAT_PYTHON)
        return -1;
    uint32_t fl = c->iflags[id];
    cs_arm *a = &i->detail->arm;
    memset(x, 0, sizeof(*x));
    x->addr = (uint32_t)i->address;
    x->size = i->size;
    x->cond = a->cc != 0 && a->cc != ARM_CC_AL;
    if (((cs_regs_access_fn)c->cs_regs_access)((csh)c->handle, i, rr, &nr, ww, &nw) != CS_ERR_OK)
        return -1;
    rs_t reads = {0, 0}, writes = {0, 0};
    for (int k = 0; k < nr; k++) {
        if (rr[k] >= CL_NREGID || !(c->regprop[rr[k]] & RP_KNOWN))
            return -1;
        reads = rs_or(reads, c->regmask[rr[k]]);
    }
    for (int k = 0; k < nw; k++) {
        if (ww[k] >= CL_NREGID || !(c->regprop[ww[k]] & RP_KNOWN))
            return -1;
        writes = rs_or(writes, c->regmask[ww[k]]);
    }
    if (a->update_flags)
        writes = rs_or(writes, c->regmask_flags);
    x->sets_flags = (uint8_t)rs_has(writes, c->bit_flags);
    int writes_pc = rs_has(writes, c->bit_pc);
    reads = rs_minus(reads, c->ignore);
    writes = rs_minus(writes, c->ignore);
    x->reads = reads;
    x->writes = writes;
    x->wb = a->writeback;
    int regops[40];
    int nreg = 0;
    for (int k = 0; k < a->op_count; k++) {
        cs_arm_op *op = &a->operands[k];
        if (op->type == ARM_OP_MEM) {
            if (op->mem.base) {
                if ((unsigned)op->mem.base >= CL_NREGID || !(c->regprop[op->mem.base] & RP_KNOWN))
                    return -1;
                x->addr_regs = rs_or(x->addr_regs, c->regmask[op->mem.base]);
            }
            if (op->mem.index) {
                if ((unsigned)op->mem.index >= CL_NREGID || !(c->regprop[op->mem.index] & RP_KNOWN))
                    return -1;
                x->addr_regs = rs_or(x->addr_regs, c->regmask[op->mem.index]);
            }
        } else if (op->type == ARM_OP_REG) {
            unsigned r = (unsigned)op->reg;
            if (r >= CL_NREGID || !(c->regprop[r] & RP_KNOWN) || nreg >= 40)
                return -1;
            regops[nreg++] = (int)r;
            if (c->regprop[r] & RP_DDIGIT)
                x->f64 = 1;
            if (op->shift.type && op->shift.value)
                x->shifted = rs_or(x->shifted, c->regmask[r]);
        } else if (op->type == ARM_OP_IMM && (fl & IF_TARGET)) {
            x->has_target = 1;
            x->target = (int64_t)op->imm;
        }
    }
    x->addr_regs = rs_minus(x->addr_regs, c->ignore);
    int cls = K_ALU;
    switch (cat) {
    case CAT_SIMPLE:
        cls = c->icls[id];
        if ((fl & IF_BLX) && x->has_target)
            cls = K_BL;
        if (cls == K_TBB)
            x->words = 1;
        break;
    case CAT_HINTNAME:
        cls = c->icls[id];
        break;
    case CAT_HINT:
        cls = hint_class(c, i->mnemonic);
        break;
    case CAT_LOAD:
        cls = writes_pc ? K_LOAD_PC : K_LOAD;
        x->byte_half = (fl & IF_BYTEHALF) != 0;
        x->words = 1;
        break;
    case CAT_STORE:
        cls = K_STORE;
        x->words = 1;
        if (nreg)
            x->store_data = c->regmask[regops[0]];
        if ((fl & IF_STREX) && nreg > 1)
            x->store_data = c->regmask[regops[1]];
        break;
    case CAT_LDRD:
        cls = K_LDRD;
        x->words = 2;
        break;
    case CAT_STRD:
        cls = K_STRD;
        x->words = 2;
        x->store_data = rs_minus(reads, x->addr_regs);
        break;
    case CAT_LDM:
    case CAT_STM: {
        int first = (fl & IF_POPPUSH) ? 0 : 1;
        int n = nreg - first;
        if (n < 0)
            n = 0;
        x->nregs = x->words = n;
        if (!(fl & IF_POPPUSH) && nreg)
            x->addr_regs = rs_or(x->addr_regs, c->regmask[regops[0]]);
        else
            x->addr_regs = rs_or(x->addr_regs, c->regmask_sp);
        if (cat == CAT_LDM)
            cls = writes_pc ? K_LDM_PC : K_LDM;
        else
            cls = K_STM;
        break;
    }
    case CAT_VLDR:
        cls = K_VLDR;
        x->words = x->f64 ? 2 : 1;
        break;
    case CAT_VSTR:
        cls = K_VSTR;
        x->words = x->f64 ? 2 : 1;
        if (nreg)
            x->store_data = c->regmask[regops[0]];
        break;
    case CAT_VLDSTM: {
        cls = (fl & IF_VLDM) ? K_VLDM : K_VSTM;
        int first = 0;
        if (!(fl & IF_VPUSHPOP) && nreg) {
            x->addr_regs = rs_or(x->addr_regs, c->regmask[regops[0]]);
            first = 1;
        } else {
            x->addr_regs = rs_or(x->addr_regs, c->regmask_sp);
        }
        int w = 0;
        for (int k = first; k < nreg; k++)
            w += (c->regprop[regops[k]] & RP_D) ? 2 : 1;
        x->words = w;
        x->nregs = w;
        break;
    }
    case CAT_FPALU:
        cls = K_FP_ALU;
        break;
    case CAT_FPMAC:
    case CAT_FPFMA:
        cls = cat == CAT_FPMAC ? K_FP_MAC : K_FP_FMA;
        if (nreg)
            x->acc = c->regmask[regops[0]];
        break;
    case CAT_VMOV: {
        int core = 0;
        for (int k = 0; k < nreg; k++)
            if (c->regprop[regops[k]] & RP_CORE)
                core++;
        if (core >= 2)
            cls = K_VMOV_CORE2;
        else if (core == 1 && !strchr(i->op_str, '['))
            cls = K_VMOV_CORE;
        else
            cls = K_VMOV;
        break;
    }
    case CAT_MUL:
        cls = (fl & IF_MULONLY) ? K_DSP_MUL : K_MUL;
        break;
    case CAT_MLA:
        cls = K_MLA;
        if (nreg > 3)
            x->acc = c->regmask[regops[3]];
        break;
    case CAT_MULL:
        cls = K_MULL;
        break;
    case CAT_MLAL:
        cls = K_MLAL;
        if (nreg > 1)
            x->acc = rs_or(c->regmask[regops[0]], c->regmask[regops[1]]);
        break;
    case CAT_DSPMAC:
        cls = K_DSP_MAC;
        if (fl & IF_DSPLONG) {
            if (nreg > 1)
                x->acc = rs_or(c->regmask[regops[0]], c->regmask[regops[1]]);
        } else if (nreg > 3) {
            x->acc = c->regmask[regops[3]];
        }
        break;
    case CAT_DSPSAT:
        cls = K_DSP_SAT;
        break;
    case CAT_DSP:
        cls = K_DSP;
        break;
    case CAT_EXTEND:
        cls = K_EXTEND;
        break;
    case CAT_BITFIELD:
        cls = K_BITFIELD;
        break;
    default:
        if (writes_pc)
            cls = K_ALU_PC;
        else if (fl & IF_STARTSV)
            cls = K_FP_ALU;
        else
            cls = K_ALU;
    }
    x->cls = (uint8_t)cls;
    x->movt = (fl & IF_MOVT) != 0;
    x->movw = strncmp(i->mnemonic, "movw", 4) == 0;
    x->lr_read = (uint8_t)rs_has(x->reads, c->bit_lr);
    x->sp_addr = (uint8_t)rs_has(x->addr_regs, c->bit_sp);
    if (cls == K_STORE && strchr(i->op_str, '['))
        x->mem_imm = mem_is_imm(i->op_str);
    x->disp_ok = disp_of(i->op_str, &x->disp);
    /* CoreTiming.decode: a custom instruction of an accelerator (coprocessor space) */
    if (c->custom_on && c->custom_cb && i->size == 4 && (i->bytes[1] & 0xEC) == 0xEC) {
        int32_t v = c->custom_cb((uint32_t)(i->bytes[0] | i->bytes[1] << 8),
                                 (uint32_t)(i->bytes[2] | i->bytes[3] << 8), x->addr);
        if (v >= 0) {
            x->cls = K_CUSTOM;
            x->custom = v;
        }
    }
    return 0;
}

static void unknown_insn(const cls_t *c, ins_t *x, uint32_t addr, uint16_t size)
{
    (void)c;
    memset(x, 0, sizeof(*x));
    x->addr = addr;
    x->size = size;
    x->cls = (uint8_t)K_UNKNOWN;
}

/* ------------------------------------------------------------------ shared */
enum { ENDS_NONE, ENDS_BRANCH, ENDS_CALL, ENDS_COND, ENDS_INDIRECT, ENDS_RETURN, ENDS_OTHER };

static int ends_in(const cls_t *c, const ins_t *x)
{
    if (!x)
        return ENDS_NONE;
    int k = x->cls;
    if (c->cprop[k] & CP_TERMINAL)
        return ENDS_OTHER;          /* svc, wfi, wfe, bkpt, udf */
    if (!(c->cprop[k] & CP_BRANCH))
        return ENDS_NONE;
    if (x->cond || k == K_CBZ)
        return ENDS_COND;
    if (k == K_B)
        return ENDS_BRANCH;
    if (k == K_BL || k == K_BLX)
        return ENDS_CALL;
    if ((k == K_BX || k == K_ALU_PC) && x->lr_read)
        return ENDS_RETURN;
    if (k == K_LDM_PC || (k == K_LOAD_PC && x->sp_addr))
        return ENDS_RETURN;
    return ENDS_INDIRECT;
}

/* CoreTiming._base_cost */
static int32_t base_cost(const cls_t *c, const ins_t *x)
{
    int k = x->cls;
    if (k == K_LDM || k == K_LDM_PC)
        return c->ldm_base + c->ldm_per_reg * x->nregs + (k == K_LDM_PC ? c->ldm_pc_extra : 0);
    if (k == K_STM)
        return c->stm_base + c->stm_per_reg * x->nregs;
    if (k == K_VLDM || k == K_VSTM)
        return c->vldm_base + c->vldm_per_word * x->words;
    if (k == K_STORE)
        return x->mem_imm ? c->store_imm : c->store;
    if (k == K_VLDR)
        return x->f64 ? c->vldr_64 : c->vldr_32;
    if (k == K_VSTR)
        return x->f64 ? c->vstr_64 : c->vstr_32;
    if (k == K_CUSTOM)
        return x->custom;
    return c->base[k];
}

/* ------------------------------------------------------------------ refill rule */
/* the target reader of the block being classified (mcusim_classify_block_peek), and
 * whether its cost depended on a target outside the block (never cached then) */
static __thread mem_read_fn peek_fn;
static __thread void *peek_uc;
static __thread int peek_used;

static int wide_at(uint16_t hw)            /* core.py CoreTiming._wide_at */
{
    uint16_t t = hw >> 11;
    return t == 0x1D || t == 0x1E || t == 0x1F;
}

/* core.py CoreTiming.taken_refill: P of the block's final taken branch x (prev before it) */
static int32_t taken_refill(const cls_t *c, const ins_t *x, const ins_t *prev)
{
    int k = x->cls;
    int dt = 0;
    if (k == K_B || k == K_BL)
        dt = 1;
    else if (k == K_BX || k == K_BLX || k == K_ALU_PC) {
        rs_t r = x->reads;
        if (c->bit_pc < 64) r.lo &= ~(1ull << c->bit_pc); else r.hi &= ~(1ull << (c->bit_pc - 64));
        rs_t lr = {0, 0};
        if (c->bit_lr < 64) lr.lo = 1ull << c->bit_lr; else lr.hi = 1ull << (c->bit_lr - 64);
        if (rs_eq(r, lr))
            dt = !prev || !rs_has(prev->writes, c->bit_lr);
    }
    int32_t p = dt ? c->br_decode : c->P;
    if (c->br_unaligned && x->has_target && (x->target & 3) == 2) {
        peek_used = 1;                      /* the cost depends on the target's bytes */
        uint8_t hw[2];
        if (peek_fn && peek_fn(peek_uc, (uint64_t)(uint32_t)x->target, hw, 2) == 0
            && wide_at((uint16_t)(hw[0] | hw[1] << 8)))
            p += c->br_unaligned;
    }
    return p < c->br_max ? p : c->br_max;
}

/* ------------------------------------------------------------------ scalar */
static void scalar(const cls_t *c, const ins_t *ins, int n, cl_block_t *out)
{
    int32_t ready[CL_NBITS];
    uint8_t has[CL_NBITS];
    int32_t starts[CL_MAXINS + 1];
    memset(has, 0, sizeof(has));
    int32_t now = 0;
    const ins_t *prev = NULL;
    int last = n - 1;
    int32_t taken_extra = 0, nt_adjust = 0;
    int b16_used = 0;
    for (int idx = 0; idx < n; idx++) {
        const ins_t *x = &ins[idx];
        int k = x->cls;
        int32_t cost = base_cost(c, x);
        if (k == K_IT && c->it_fold && prev && prev->size == 2 && !(c->cprop[prev->cls] & CP_BRANCH))
            cost = c->it_folded;
        if (prev) {
            int pk = prev->cls;
            if (c->saving && pk == K_LOAD && (k == K_LOAD || k == K_STORE)
                && !rs_any(rs_and(x->addr_regs, prev->writes))) {
                int ok = 1;
                if (c->wb_chain == WB_NEVER && (x->wb || prev->wb))
                    ok = 0;
                else if (c->wb_chain == WB_FIRST_ONLY && x->wb)
                    ok = 0;
                else if (c->wb_chain == WB_DIFFERENT_BASE && x->wb && prev->wb
                         && rs_any(rs_and(x->addr_regs, prev->addr_regs)))
                    ok = 0;
                if (ok) {
                    cost -= c->saving;
                    if (cost < 1)
                        cost = 1;
                }
            }
            if (c->addr_dep && (c->cprop[pk] & CP_DP) && rs_any(rs_and(x->addr_regs, prev->writes)))
                cost += c->addr_dep;
            if (c->st_ld && (pk == K_STORE || pk == K_STRD)
                && (k == K_LOAD || k == K_LDRD || k == K_LDM || k == K_LDM_PC
                    || k == K_LOAD_PC))
                cost += c->st_ld;
        }
        int32_t start = now;
        int late = c->late_acc_on[k];
        rs_t srcs = late ? rs_minus(x->reads, x->acc) : x->reads;
        if (c->late_store && rs_any(x->store_data))
            srcs = rs_minus(srcs, x->store_data);
        RS_FOREACH(srcs, b, {
            if (has[b] && ready[b] > start)
                start = ready[b];
        });
        if (late)
            RS_FOREACH(x->acc, b, {
                if (has[b] && ready[b] - c->late_acc[k] > start)
                    start = ready[b] - c->late_acc[k];
            });
        if (c->late_store)
            RS_FOREACH(x->store_data, b, {
                if (has[b] && ready[b] - 1 > start)
                    start = ready[b] - 1;
            });
        if (c->b16 && idx == last && (k == K_B || k == K_CBZ) && x->size == 2 && prev
            && prev->size == 2 && !(c->cprop[prev->cls] & CP_BRANCH)) {
            nt_adjust = c->b16_not_taken - cost;
            int32_t tk = prev->sets_flags ? c->b16_taken_fs : c->b16_taken;
            if (tk < 0)
                tk = cost + c->P;
            taken_extra = tk - cost - c->P;
            b16_used = 1;
        }
        starts[idx] = start;
        now = start + cost;
        int32_t lat = cost + c->xlat[k];
        if (k == K_LOAD && x->byte_half)
            lat += c->xlat_byte_half;
        if (c->shift_lat && rs_any(x->shifted) && (c->cprop[k] & CP_DP))
            lat += c->shift_lat;
        RS_FOREACH(x->writes, b, {
            if (b != c->bit_flags) {
                ready[b] = start + lat;
                has[b] = 1;
            }
        });
        if (x->sets_flags) {
            ready[c->bit_flags] = start + cost;
            has[c->bit_flags] = 1;
        }
        prev = x;
    }
    int32_t total = now;
    const ins_t *final = n ? &ins[n - 1] : NULL;
    int ends = ends_in(c, final);
    for (int j = 0; j < n; j++)
        out->cyc[j] = (j + 1 < n ? starts[j + 1] : total) - starts[j];
    if (final && (c->cprop[final->cls] & CP_BRANCH)) {
        /* the refill rule (absolute M33 pair16 costs are relative to the fixed P) */
        int32_t refill = (c->br_rule && !b16_used)
            ? taken_refill(c, final, n > 1 ? &ins[n - 2] : NULL) : c->P;
        if (ends == ENDS_COND) {
            out->nt = total + nt_adjust;
            out->tk = total + refill + taken_extra;
        } else {
            out->nt = out->tk = total + refill;
        }
        out->cyc[n - 1] += out->tk - total;
    } else {
        out->nt = out->tk = total;
    }
}

/* ------------------------------------------------------------------ dual issue (M7) */
static int pyfloordiv4(int64_t v) { return (int)(v >= 0 ? v / 4 : -((-v + 3) / 4)); }
static int pymod2(int64_t v) { int64_t r = v % 2; return (int)(r < 0 ? r + 2 : r); }

static int m7_banks(const cls_t *c, const ins_t *a, const ins_t *b)
{
    if (rs_any(a->addr_regs) && rs_eq(a->addr_regs, b->addr_regs) && !a->wb && !b->wb) {
        if (a->disp_ok && b->disp_ok)
            return pymod2((int64_t)pyfloordiv4(a->disp) - pyfloordiv4(b->disp)) == 1 || c->same_bank_pairs;
    }
    return c->unknown_bank_pairs;
}

static void dual(const cls_t *c, const ins_t *ins, int n, cl_block_t *out)
{
    int32_t ready[CL_NBITS];
    memset(ready, 0, sizeof(ready));
    int32_t issue[CL_MAXINS + 1];
    int have_flags_at = 0;
    int32_t flags_at = 0;
    int32_t cur = 0, free_ = 0;
    int glen = 0;
    const ins_t *gx = NULL;
    int gkey = 0;
    for (int idx = 0; idx < n; idx++) {
        const ins_t *x = &ins[idx];
        int k = x->cls;
        int key = k * 2 + ((c->cprop[k] & CP_F64KEY) && x->f64 ? 1 : 0);
        int shifted = rs_any(x->shifted) && (c->cprop[k] & CP_DP) && !c->key_has_shift[key];
        int single = c->key_single[key], slot0 = c->key_slot0[key];
        int32_t occ;
        if (k == K_LDM || k == K_LDM_PC || k == K_STM)
            occ = c->occ_regs[x->nregs < CL_MAXREGS ? x->nregs : CL_MAXREGS - 1];
        else if (k == K_VLDM || k == K_VSTM)
            occ = c->occ_regs[x->words < CL_MAXREGS ? x->words : CL_MAXREGS - 1];
        else if (k == K_CUSTOM)
            occ = x->custom > 1 ? x->custom : 1;
        else
            occ = c->key_occ[key];
        rs_t srcs = x->reads;
        int late = c->late_acc_on[k];
        if (late)
            srcs = rs_minus(srcs, x->acc);
        int is_branch = (c->cprop[k] & CP_BRANCH) != 0;
        if (c->movw_movt && x->movt && glen == 1 && gx->movw)
            srcs = rs_minus(srcs, gx->writes);
        if (is_branch)
            srcs = rs_minus(srcs, c->regmask_flags);
        int32_t rdy = 0;
        RS_FOREACH(srcs, b, {
            int32_t v = ready[b] + (rs_has(x->shifted, b) ? 1 : 0);
            if (v > rdy)
                rdy = v;
        });
        if (late)
            RS_FOREACH(x->acc, b, {
                if (ready[b] - c->late_acc[k] > rdy)
                    rdy = ready[b] - c->late_acc[k];
            });
        int paired = 0;
        if (glen == 1 && rdy <= cur && !single && !slot0) {
            int ok = !c->key_single[gkey] && occ == 1;
            /* units of the open group's instruction and of this one */
            int gsh = rs_any(gx->shifted) && (c->cprop[gx->cls] & CP_DP) && !c->key_has_shift[gkey];
            if (ok) {
                int need[CL_NUNITS];
                memset(need, 0, sizeof(need));
                for (int u = 0; u < c->key_nunits[gkey]; u++)
                    need[c->key_units[gkey][u]]++;
                if (gsh)
                    need[c->unit_shift]++;
                for (int u = 0; u < c->key_nunits[key]; u++)
                    need[c->key_units[key][u]]++;
                if (shifted)
                    need[c->unit_shift]++;
                for (int u = 0; u < CL_NUNITS; u++)
                    if (need[u] > c->caps[u])
                        ok = 0;
                if (ok) {
                    int yl = 0, gl = 0;
                    for (int u = 0; u < c->key_nunits[key]; u++)
                        if (c->key_units[key][u] == c->unit_load)
                            yl = 1;
                    for (int u = 0; u < c->key_nunits[gkey]; u++)
                        if (c->key_units[gkey][u] == c->unit_load)
                            gl = 1;
                    if (yl && gl)
                        ok = m7_banks(c, gx, x);
                }
                if (ok) {
                    uint32_t gs = 0, ys = 0;
                    for (int u = 0; u < c->key_nunits[gkey]; u++)
                        gs |= 1u << c->key_units[gkey][u];
                    if (gsh)
                        gs |= 1u << c->unit_shift;
                    for (int u = 0; u < c->key_nunits[key]; u++)
                        ys |= 1u << c->key_units[key][u];
                    if (shifted)
                        ys |= 1u << c->unit_shift;
                    for (int f = 0; f < c->nforbid; f++) {
                        uint32_t fa = 1u << c->forbid[f][0], fb = 1u << c->forbid[f][1];
                        if (((gs & fa) && (ys & fb)) || ((gs & fb) && (ys & fa))) {
                            ok = 0;
                            break;
                        }
                    }
                }
                if (ok) {
                    rs_t r = x->reads;
                    if (is_branch)
                        r = rs_minus(r, c->regmask_flags);
                    if (rs_any(rs_and(r, gx->writes)) && !(c->movw_movt && gx->movw && x->movt))
                        ok = 0;
                }
            }
            if (ok)
                paired = 1;
        }
        int32_t start;
        if (paired) {
            glen = 2;
            start = cur;
            if (cur + occ > free_)
                free_ = cur + occ;
        } else {
            start = free_ > rdy ? free_ : rdy;
            cur = start;
            glen = 1;
            gx = x;
            gkey = key;
            free_ = start + occ;
        }
        issue[idx] = start;
        int32_t lat = c->key_lat[key][(k == K_LOAD && x->byte_half) ? 1 : 0];
        if (lat == CL_LAT_OCC)
            lat = occ;
        RS_FOREACH(x->writes, b, {
            if (b != c->bit_flags)
                ready[b] = start + lat;
        });
        if (x->sets_flags) {
            have_flags_at = 1;
            flags_at = start;
            ready[c->bit_flags] = start + 1;
        }
    }
    int32_t total = free_;
    const ins_t *final = n ? &ins[n - 1] : NULL;
    int ends = ends_in(c, final);
    int32_t nt = total, tk = total;
    if (final && (c->cprop[final->cls] & CP_BRANCH)) {
        int32_t mis = c->mispredict;
        if (!have_flags_at || issue[n - 1] - flags_at >= c->early_flags_distance)
            mis = c->mispredict_early;
        if (ends == ENDS_COND) {
            int fk = final->cls;
            int backward = final->has_target && final->target <= (int64_t)final->addr;
            if ((fk == K_B || fk == K_CBZ) && final->has_target) {
                if (backward) {
                    nt = total + mis;
                    tk = total + c->pred_taken;
                } else {
                    nt = total;
                    tk = total + mis;
                }
            } else {
                nt = total;
                tk = total + c->indirect;
            }
        } else if (final->cls == K_B || final->cls == K_BL) {
            nt = tk = total + c->pred_taken;
        } else {
            nt = tk = total + c->indirect;
        }
    }
    for (int j = 0; j < n; j++)
        out->cyc[j] = (j + 1 < n ? issue[j + 1] : total) - issue[j];
    if (n)
        out->cyc[n - 1] += tk - total;
    out->nt = nt;
    out->tk = tk;
}

/* ------------------------------------------------------------------ entry point */
static int classify_block(const cls_t *c, const uint8_t *code, uint32_t size, uint32_t addr,
                          cl_block_t *out);

int mcusim_classify_block(const cls_t *c, const uint8_t *code, uint32_t size, uint32_t addr,
                          cl_block_t *out)
{
    /* a custom-instruction cost is a Python decision with side effects: never cached */
    return mcusim_classify_block_peek(c, code, size, addr, out, NULL, NULL);
}

int mcusim_classify_block_peek(const cls_t *c, const uint8_t *code, uint32_t size,
                               uint32_t addr, cl_block_t *out, void *mem_read, void *uc)
{
    /* a custom-instruction cost is a Python decision with side effects: never cached;
     * nor a block whose refill depends on its branch target's bytes (peek_used): the same
     * (address, code) is then looked up and costed again, never found */
    bcache_t *bc = c->custom_on ? NULL : c->cache;
    if (bc && bcache_get(bc, code, size, addr, out))
        return CL_OK;
    peek_fn = (mem_read_fn)mem_read;
    peek_uc = uc;
    peek_used = 0;
    int st = classify_block(c, code, size, addr, out);
    peek_fn = NULL;
    peek_uc = NULL;
    if (st == CL_OK && bc && !peek_used)
        bcache_put(bc, code, size, addr, out, c->model != CL_MODEL_NONE ? out->ninsn : 0);
    return st;
}

static int classify_block(const cls_t *c, const uint8_t *code, uint32_t size, uint32_t addr,
                          cl_block_t *out)
{
    static __thread ins_t ins[CL_MAXINS];
    cs_insn *all = NULL;
    size_t cnt = ((cs_disasm_fn)c->cs_disasm)((csh)c->handle, code, size, addr, 0, &all);
    int n = 0, st = CL_OK;
    uint32_t end = 0;
    out->flags = 0;
    out->has_div = 0;
    if (size == 2 && code[0] == 0xfe && code[1] == 0xe7)
        out->flags |= CL_F_SELFLOOP;
    for (size_t k = 0; k < cnt; k++) {
        cs_insn *i = &all[k];
        const char *m = i->mnemonic;
        if (strcmp(m, "cpsie") == 0 || (strcmp(m, "msr") == 0 && (strstr(i->op_str, "primask")
                || strstr(i->op_str, "basepri") || strstr(i->op_str, "faultmask"))))
            out->flags |= CL_F_UNMASK;
        if (strcmp(m, "sdiv") == 0 || strcmp(m, "udiv") == 0)
            out->has_div = 1;
        if (k + 1 == cnt && (strcmp(m, "bl") == 0 || strcmp(m, "blx") == 0))
            out->flags |= CL_F_CALL;
        if (n >= CL_MAXINS - 2 || (c->model != CL_MODEL_NONE && classify_insn(c, i, &ins[n]) != 0)) {
            st = CL_PYTHON;
            break;
        }
        if (c->model == CL_MODEL_NONE)
            ins[n].addr = (uint32_t)i->address, ins[n].size = i->size;
        n++;
        end = (uint32_t)(i->address + i->size - addr);
    }
    if (all)
        ((cs_free_fn)c->cs_free)(all, cnt);
    if (st != CL_OK)
        return st;
    out->ncs = n;                          /* capstone's instructions (the coster's n without timing) */
    while (end < size) {                   /* undecodable tail: one cycle a halfword */
        if (n >= CL_MAXINS - 1)
            return CL_PYTHON;
        uint16_t sz = (uint16_t)(size - end < 2 ? size - end : 2);
        unknown_insn(c, &ins[n], addr + end, sz);
        n++;
        end += sz;
    }
    out->ninsn = n;
    out->n_loads = out->n_stores = 0;
    for (int j = 0; j < n; j++) {
        out->iaddr[j] = ins[j].addr;
        if (c->model == CL_MODEL_NONE)
            continue;
        /* core.py _LOAD_CLASSES / _STORE_CLASSES, each counted in words */
        switch (ins[j].cls) {
        case K_LOAD: case K_LDRD: case K_LDM: case K_LDM_PC: case K_LOAD_PC: case K_VLDR:
        case K_VLDM: case K_TBB:
            out->n_loads += ins[j].words;
            break;
        case K_STORE: case K_STRD: case K_STM: case K_VSTR: case K_VSTM:
            out->n_stores += ins[j].words;
            break;
        default:
            break;
        }
    }
    if (c->model == CL_MODEL_SCALAR)
        scalar(c, ins, n, out);
    else if (c->model == CL_MODEL_DUAL)
        dual(c, ins, n, out);
    else {
        /* no timing table: one cycle per capstone instruction (BlockCoster._new_block) */
        out->nt = out->tk = out->ncs;
        out->ninsn = out->ncs;
        for (int j = 0; j < n; j++)
            out->cyc[j] = 1;
    }
    return CL_OK;
}
#endif
