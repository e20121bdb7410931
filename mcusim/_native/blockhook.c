/*
 * blockhook.c -- mcusim's native block hook: the same bookkeeping as the Python hook in
 * mcusim/blocks.py (BlockCoster.hook_block), done in C so a block costs nanoseconds.
 *
 * Python owns every decision that is not bookkeeping: a block not yet in the table, a
 * flagged block (self-loop), a reached deadline -> stop the emulation and let Python act.
 * Results are identical to the Python hook (tests/test_native.py checks it).
 */
#include <stdint.h>

typedef struct {
    uint32_t addr;      /* 0xFFFFFFFF: empty slot */
    uint32_t end;
    uint32_t cyc;       /* cost when the block falls through */
    int32_t extra;      /* added when the next block is not the fall-through (may be < 0 on M7) */
    uint32_t flags;
    uint32_t ninsn;
    uint64_t count;
    uint64_t taken;
    uint64_t acc;       /* cycles charged to this block (incl. its taken refills) */
    uint32_t core;      /* the core timing's part of cyc (cyc minus static memory stall) */
    uint32_t pad_;
} blk_t;

typedef int (*stop_fn)(void *uc);

typedef struct {
    uint64_t cycles;
    uint64_t deadline;
    blk_t *table;       /* entry 0 is the "no previous block" dummy; hash slots from 1 */
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
} state_t;

#define F_SELFLOOP 1u
#define F_UNMASK 2u
#define F_CALL 4u

static uint32_t child(state_t *s, uint32_t parent, uint32_t func)
{
    uint32_t h = ((parent * 2654435761u) ^ (func >> 1)) & s->hmask;
    for (;;) {
        uint32_t n = s->hash[h];
        if (n == 0)
            break;
        if (s->nparent[n] == parent && s->nfunc[n] == func)
            return n;
        h = (h + 1) & s->hmask;
    }
    if (s->nnodes >= s->maxnodes)
        return parent;              /* full: attribute to the caller */
    uint32_t n = s->nnodes++;
    s->nparent[n] = parent;
    s->nfunc[n] = func;
    s->ncycles[n] = 0;
    s->ncalls[n] = 0;
    s->hash[h] = n;
    return n;
}

void mcusim_prof_push(state_t *s, uint32_t ret, uint32_t func)
{
    if (s->sp >= s->maxsp)
        return;
    s->stack[2 * s->sp] = ret;
    s->stack[2 * s->sp + 1] = s->cur;
    s->sp++;
    s->cur = child(s, s->cur, func);
    s->ncalls[s->cur]++;
}

void mcusim_prof_pop(state_t *s)
{
    if (s->sp) {
        s->sp--;
        s->cur = s->stack[2 * s->sp + 1];
    }
}

static inline void prof_step(state_t *s, uint32_t addr, const blk_t *prev, uint64_t before)
{
    if (s->pending_call) {
        s->pending_call = 0;
        mcusim_prof_push(s, prev->end, addr);
    } else if (s->sp && s->stack[2 * (s->sp - 1)] == addr) {
        mcusim_prof_pop(s);
    }
    s->ncycles[s->cur] += s->cycles - before;
}

static inline uint32_t slot_of(uint32_t addr, uint32_t mask)
{
    uint32_t h = (addr >> 1) * 2654435761u;
    return 1u + ((h >> 8) & mask);
}

void mcusim_block_hook(void *uc, uint64_t address, uint32_t size, void *user)
{
    state_t *s = (state_t *)user;
    if (s->cycles >= s->deadline) {
        s->stop_reason = 1;
        s->emu_stop(uc);
        return;
    }
    uint32_t addr = (uint32_t)address;
    uint32_t i = slot_of(addr, s->mask);
    blk_t *t = s->table;
    while (t[i].addr != addr) {
        if (t[i].addr == 0xFFFFFFFFu) {
            s->stop_reason = 2;
            s->miss_addr = addr;
            s->miss_size = size;
            s->emu_stop(uc);
            return;
        }
        i = 1u + (i & s->mask);   /* linear probe within slots 1..mask+1 */
    }
    blk_t *b = &t[i];
    if (b->flags & F_SELFLOOP) {
        if (s->resume_addr != addr) {
            s->stop_reason = 3;
            s->miss_addr = addr;
            s->emu_stop(uc);
            return;
        }
        s->resume_addr = 0xFFFFFFFFu;
    }
    blk_t *p = &t[s->prev];
    uint64_t c = s->cycles;
    uint64_t before = c;
    if (p->end != addr) {
        c += (int64_t)p->extra;
        p->taken++;
        p->acc += (int64_t)p->extra;
        s->branch_total += p->extra;
    }
    b->count++;
    s->nexec++;
    b->acc += b->cyc;
    s->core_total += b->core;
    s->cycles = c + b->cyc;
    s->prev = i;
    if (s->prof) {
        prof_step(s, addr, p, before);
        s->pending_call = b->flags & F_CALL;
    }
    if (b->flags & F_UNMASK)
        s->deadline = 0;
}

uint32_t mcusim_find(state_t *s, uint32_t addr)
{
    uint32_t i = slot_of(addr, s->mask);
    while (s->table[i].addr != addr) {
        if (s->table[i].addr == 0xFFFFFFFFu)
            return 0;
        i = 1u + (i & s->mask);
    }
    return i;
}

uint32_t mcusim_insert(state_t *s, uint32_t addr)
{
    uint32_t i = slot_of(addr, s->mask);
    while (s->table[i].addr != 0xFFFFFFFFu && s->table[i].addr != addr)
        i = 1u + (i & s->mask);
    s->table[i].addr = addr;
    return i;
}

/*
 * The --verify reference CPU's only hook: count executed blocks and stop before block
 * number `target` + 1 (mcusim/verify.py). Nothing else: no timing, no memory hooks.
 */
typedef struct {
    uint64_t count;
    uint64_t target;
    stop_fn emu_stop;
    uint32_t stopped;
    uint32_t pad_;
} counter_t;

void mcusim_count_hook(void *uc, uint64_t address, uint32_t size, void *user)
{
    counter_t *c = (counter_t *)user;
    (void)address;
    (void)size;
    if (c->count >= c->target) {
        c->stopped = 1;
        c->emu_stop(uc);
        return;
    }
    c->count++;
}
