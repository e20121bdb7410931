/*
 * native.h -- the structures shared by mcusim's native code (blockhook.c, memmodel.c,
 * classify.c) and their ctypes mirrors in mcusim/timing/blocks.py and native.py. Change
 * both sides together: Python checks sizeof() of each structure at load time.
 */
#ifndef MCUSIM_NATIVE_H
#define MCUSIM_NATIVE_H
#include <stdint.h>
#include <stddef.h>

/* ------------------------------------------------------------------ classifier */
#define CL_NINSID 1024      /* capstone ARM instruction ids (ARM_INS_ENDING 472) */
#define CL_NREGID 256       /* capstone ARM register ids (ARM_REG_ENDING 111) */
#define CL_NBITS 128        /* normalised register names (bits of rs_t) */
#define CL_NCLS 64
#define CL_NKEYS (CL_NCLS * 2)
#define CL_NUNITS 8
#define CL_MAXUNITS 6       /* units one class occupies */
#define CL_MAXINS 1100      /* instructions of one block */
#define CL_MAXREGS 64
#define CL_MAXFORBID 16
#define CL_LAT_OCC (-1000000)

#define CL_OK 0
#define CL_PYTHON 1         /* cost this block in Python */

#define CL_MODEL_NONE 0     /* no [timing]: one cycle per instruction */
#define CL_MODEL_SCALAR 1
#define CL_MODEL_DUAL 2

#define CL_F_SELFLOOP 1u    /* the block flags of mcusim/timing/blocks.py */
#define CL_F_UNMASK 2u
#define CL_F_CALL 4u

#define CP_BRANCH 1u        /* class properties (cprop[class]) */
#define CP_DP 2u
#define CP_TERMINAL 4u
#define CP_F64KEY 8u

#define WB_DIFFERENT_BASE 0
#define WB_FIRST_ONLY 1
#define WB_NEVER 2

/* instruction classes: the order of mcusim/timing/native.py CLASSES */
enum {
    K_ALU, K_EXTEND, K_BITFIELD, K_ALU_PC, K_MUL, K_MLA, K_MULL, K_MLAL, K_DSP_MUL,
    K_DSP_MAC, K_DSP, K_DSP_SAT, K_DIV, K_LOAD, K_LOAD_PC, K_STORE, K_LDRD, K_STRD, K_LDM,
    K_LDM_PC, K_STM, K_B, K_CBZ, K_BL, K_BLX, K_BX, K_TBB, K_IT, K_NOP, K_PLD, K_WFI, K_WFE,
    K_BARRIER, K_ISB, K_MRS, K_MSR, K_CPS, K_SVC, K_BKPT, K_UDF, K_FP_ALU, K_FP_MAC,
    K_FP_FMA, K_FP_DIV, K_FP_SQRT, K_VLDR, K_VSTR, K_VLDM, K_VSTM, K_VMOV, K_VMOV_CORE,
    K_VMOV_CORE2, K_VMRS, K_VMSR, K_UNKNOWN, K_CUSTOM, K_NCLASSES
};

typedef struct { uint64_t lo, hi; } rs_t;

typedef struct {
    /* capstone: the handle and functions of the library Python loaded */
    int64_t handle;
    void *cs_disasm, *cs_free, *cs_regs_access;
    /* custom (coprocessor) instructions: cost(hw1, hw2, address) -> cycles or -1
     * (CoreTiming.custom_cost, mcusim/accelerators/coprocessor.py) when custom_on */
    int32_t (*custom_cb)(uint32_t hw1, uint32_t hw2, uint32_t addr);
    int32_t custom_on, pad_;
    struct bcache *cache;    /* costed blocks (bcache.c), shared by classifiers of one table */
    /* register names, normalised as core.py _norm does (bits), per capstone register id */
    rs_t regmask[CL_NREGID];
    rs_t ignore, regmask_flags, regmask_sp;
    /* timing table values */
    int32_t model;
    int32_t bit_pc, bit_flags, bit_sp, bit_lr;
    int32_t base[CL_NCLS];            /* _base_cost of the classes with a fixed cost */
    int32_t xlat[CL_NCLS];            /* extra_latency (scalar) */
    int32_t late_acc[CL_NCLS];
    int32_t ldm_base, ldm_per_reg, ldm_pc_extra, stm_base, stm_per_reg, vldm_base,
            vldm_per_word, store, store_imm, vldr_32, vldr_64, vstr_32, vstr_64, it_folded;
    int32_t P, saving, addr_dep, st_ld, wb_chain, it_fold, late_store, shift_lat;
    int32_t xlat_byte_half;
    int32_t b16, b16_not_taken, b16_taken, b16_taken_fs;     /* taken: -1 = None */
    /* [timing.branch_refill] (core.py CoreTiming.taken_refill): br_rule 0 = fixed P */
    int32_t br_rule, br_decode, br_unaligned, br_max;
    /* dual issue */
    int32_t caps[CL_NUNITS];
    int32_t nforbid;
    int32_t forbid[CL_MAXFORBID][2];
    int32_t unit_load, unit_shift;
    int32_t same_bank_pairs, unknown_bank_pairs, movw_movt;
    int32_t mispredict, mispredict_early, early_flags_distance, pred_taken, indirect;
    int32_t key_nunits[CL_NKEYS];
    int32_t key_units[CL_NKEYS][CL_MAXUNITS];
    int32_t key_occ[CL_NKEYS];
    int32_t key_lat[CL_NKEYS][2];     /* [byte_half]; CL_LAT_OCC: the occupancy */
    int32_t occ_regs[CL_MAXREGS];     /* LDM/STM/VLDM occupancy by register (word) count */
    /* per instruction id and register id */
    uint16_t iflags[CL_NINSID];
    uint8_t cat[CL_NINSID];
    uint8_t icls[CL_NINSID];
    uint8_t regprop[CL_NREGID];
    uint8_t cprop[CL_NCLS];
    uint8_t late_acc_on[CL_NCLS];
    uint8_t key_single[CL_NKEYS];
    uint8_t key_slot0[CL_NKEYS];
    uint8_t key_has_shift[CL_NKEYS];
} cls_t;

typedef struct {
    int32_t nt, tk;           /* cycles_not_taken, cycles_taken */
    int32_t ninsn;            /* BlockCost.instructions (or capstone's count without timing) */
    int32_t ncs;              /* instructions capstone decoded */
    uint32_t flags;           /* CL_F_* */
    int32_t has_div;
    int32_t n_loads, n_stores;  /* BlockCost.n_loads / n_stores (data words; 0 without timing) */
    uint32_t iaddr[CL_MAXINS];
    int32_t cyc[CL_MAXINS];   /* BlockCost.insns cycles */
} cl_block_t;

int mcusim_classify_block(const cls_t *c, const uint8_t *code, uint32_t size, uint32_t addr,
                          cl_block_t *out);
/* the same, reading a taken branch's target through mem_read(uc, ...) for the refill rule's
 * alignment term (mcusim_classify_block: target width unknown, no term, as core.py with
 * peek None) */
int mcusim_classify_block_peek(const cls_t *c, const uint8_t *code, uint32_t size,
                               uint32_t addr, cl_block_t *out, void *mem_read, void *uc);

/* costed blocks by (address, code bytes): in memory, saved to disk by Python (bcache.c) */
typedef struct bcache {
    uint32_t *slots;        /* record offset + 1 (0: empty), open addressing */
    uint32_t cap, used;     /* cap a power of two */
    uint8_t *arena;         /* the records, back to back (the file format) */
    uint32_t len, alloc, limit;
    uint32_t hits, misses;
} bcache_t;

int bcache_get(bcache_t *bc, const uint8_t *code, uint32_t size, uint32_t addr, cl_block_t *out);
void bcache_put(bcache_t *bc, const uint8_t *code, uint32_t size, uint32_t addr,
                const cl_block_t *out, int32_t n);

/* ------------------------------------------------------------------ block table */
/* what the block hook touches on every block (kept small: one cache line) */
typedef struct {
    uint32_t addr;      /* 0xFFFFFFFF: empty slot */
    uint32_t end;
    uint32_t cyc;       /* cost when the block falls through */
    int32_t extra;      /* added when the next block is not the fall-through (may be < 0 on M7) */
    uint32_t flags;
    uint32_t core;      /* the core timing's part of cyc (cyc minus static memory stall) */
    uint64_t count;
    uint64_t taken;
    uint64_t acc;       /* cycles charged to this block (incl. its taken refills) */
} blk_t;

/* the rest of a block's record, in a parallel array (same slot index) */
typedef struct {
    uint32_t ninsn;
    uint32_t lflags;    /* memory model: LF_* */
    double learned;     /* fast mode: mean stall per execution (valid with LF_LEARNED) */
    double wstall;      /* stall summed in this window */
    uint64_t wn;        /* executions counted in this window */
    uint64_t snap;      /* executions at the start of the fast period */
    uint32_t rows_off, rows_gen;   /* fetch granule rows in the rows arena */
    int32_t nrows, rows_src;
    uint32_t n_loads, n_stores;    /* data words one execution loads / stores (activity) */
    uint64_t ecount;    /* executions at the end of the last sampling window */
} blkx_t;

#define LF_LEARNED 1u
#define LF_WSEEN 2u

typedef int (*stop_fn)(void *uc);
typedef int (*mem_read_fn)(void *uc, uint64_t addr, void *bytes, uint64_t size);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);

/* ------------------------------------------------------------------ memory model */
#define MM_MAXSRC 16
#define MM_MAXSPAN 48
#define MM_MAXCACHE 6
#define MM_NCOUNTS 8

/* access counters (MemoryModel.stats; docs/timing.md) */
#define MC_FLASH_THROUGH 0
#define MC_FLASH_AROUND 1
#define MC_RAM_READS 2
#define MC_RAM_WRITES 3
#define MC_UNALIGNED 4

typedef struct {
    int32_t nsets, ways, shift, line, random, write_back, write_allocate, valid;
    uint32_t rng;
    uint32_t pad_;
    uint64_t hits, misses, writebacks, fills;
    uint32_t *lines;    /* nsets * ways line numbers, each set in LRU -> MRU order */
    uint8_t *dirty;     /* beside each line */
    int32_t *n;         /* lines in each set */
} cache_t;

typedef struct {
    int32_t rd_ws, wr_ws, granule, icache, dcache;    /* caches: index or -1 */
    int32_t prefetch, stream, write_through, flash;
    int32_t dbuf, pad_;                                /* D-Code current buffer */
} src_t;

typedef struct {
    uint64_t lo, hi;
    int32_t src, pad_;
} span_t;

typedef struct {
    /* configuration, pushed after every MemoryModel._configure() */
    int32_t detailed, any_stall, timing_none, clear_itstate;
    uint32_t gen;
    int32_t nsrc, nspan, ncache;
    src_t src[MM_MAXSRC];
    span_t span[MM_MAXSPAN];
    cache_t cache[MM_MAXCACHE];
    /* the fetch unit and the model's own clock */
    int64_t t, buf, pf, pf_ready, busy_until;
    int32_t pf_fill;
    /* detailed hooks on (detailed mode, fast-mode windows) */
    int32_t active, in_window;
    uint64_t learn_from;
    uint32_t exec_idx;          /* table index of the block executing (0: none) */
    uint32_t cur_addr;          /* window: the previous block and its stall */
    int32_t cur_valid;
    int32_t pad_;
    double cur_stall;
    /* fast mode: what MemoryModel._request_window would do (mirrored by Python) */
    int32_t pending, has_next;
    uint64_t next_at, new_delay;
    /* stats */
    int64_t fetch_stall, data_stall;
    uint64_t counts[MM_NCOUNTS];
    /* lists of block addresses, in order */
    uint32_t *wlist, *lorder, *snapl;
    uint32_t wlen, wcap, llen, lcap, slen, scap;
    /* fetch granule rows of blocks: (granule index, cycles) */
    int64_t *rows;
    uint32_t rows_len, rows_cap;
    /* Unicorn's register write (the #2309 workaround from a memory hook) */
    reg_write_fn reg_write;
    int32_t epsr_reg;
    uint32_t epsr_value;
    /* [timing.unaligned] (MemoryModel.unaligned): load halfword odd, load word 2 mod 4,
     * load word odd, the same for stores; ua_on: any of them non-zero */
    int32_t ua[6];
    int32_t ua_on, pad2_;
    int64_t dline;      /* flash granule in the D-Code current buffer (-1: none) */
} mm_t;

typedef struct {
    void *state;        /* state_t */
    int32_t src, pad_;
} span_hook_t;

/* ------------------------------------------------------------------ the hook's state */
typedef struct {
    uint64_t cycles;
    uint64_t deadline;
    blk_t *table;       /* entry 0 is the "no previous block" dummy; hash slots from 1 */
    blkx_t *xtab;       /* beside table */
    uint32_t mask;      /* slots - 1 (slots a power of two) */
    uint32_t prev;      /* index of the previous block */
    uint32_t stop_reason; /* 1 deadline, 2 unknown block, 3 flagged block */
    uint32_t miss_addr;
    uint32_t miss_size;
    uint32_t resume_addr; /* a flagged block Python has handled: run it once */
    stop_fn emu_stop;
    /* call-tree profile (optional): a trie of call paths, a shadow call stack */
    uint32_t prof;
    uint32_t pending_call;   /* the previous block ended in BL/BLX: this one is the callee */
    uint32_t cur;            /* current trie node (0 = root) */
    uint32_t sp, maxsp;
    uint32_t nnodes, maxnodes, hmask;
    uint32_t *stack;         /* pairs: return address, caller node */
    uint32_t *nparent, *nfunc, *hash;  /* node arrays; hash slots hold node ids (0 empty) */
    uint64_t *ncycles, *ncalls;
    uint64_t core_total;     /* running sums for cycles-by-cause over any interval */
    int64_t branch_total;
    uint64_t nexec;          /* blocks executed (a fast-forwarded iteration is not one) */
    /* new blocks costed here (mcusim/timing/native.py); NULL cls: all go to Python */
    const cls_t *cls;
    mem_read_fn mem_read;
    void *uc;                /* the engine (for reads outside a hook) */
    mm_t *mm;                /* the native memory model, or NULL */
    uint32_t mm_python;      /* a Python memory model: every new block goes to Python */
    uint32_t used;           /* table entries in use */
    uint32_t *newq;          /* (address, table index) of the blocks added here, in order */
    uint32_t newq_len, newq_cap;
    cl_block_t *scratch;
    /* offset in Unicorn's uc_struct of skip_sync_pc_on_exit (mcusim/timing/pcsync.py),
     * or 0: set at every block start so that memory hooks skip Unicorn's per-access PC
     * re-derivation (no hook reads the PC; the coster knows the block), cleared before
     * any stop so that a stop inside a block still restores the exact PC */
    int64_t pcsync_off;
} state_t;

blk_t *mcusim_lookup(state_t *s, uint32_t addr);
uint32_t mcusim_find(state_t *s, uint32_t addr);
void mcusim_charge(state_t *s, uint32_t idx, int64_t d);
/* memmodel.c */
void mm_block(state_t *s, blk_t *b, uint32_t idx, uint32_t addr, uint32_t size, void *uc);
int mm_new_block_stall(state_t *s, blk_t *b, uint32_t addr, uint32_t size, void *uc,
                       int32_t *stall);
int mm_wants_python(state_t *s);

#endif
