/*
 * blockhook.c -- mcusim's native block hook: the same bookkeeping as the Python hook in
 * mcusim/timing/blocks.py (BlockCoster.hook_block), done in C so a block costs nanoseconds.
 *
 * A block not yet in the table is costed here (classify.c, the port of the core timing
 * model) and, with the native memory model, given its static stall (memmodel.c) without
 * stopping the emulation; Python learns of it from `newq`. Python owns every decision
 * that is not bookkeeping: a block with a divide (its operand hooks), a flagged block
 * (self-loop), a window the memory model must schedule, a reached deadline -> stop the
 * emulation and let Python act. Then the detailed memory model (memmodel.c) runs the
 * block's instruction fetch when its hooks are on.
 * Results are identical to the Python hook (tests/test_native.py checks it).
 */
#include <stdint.h>
#include <string.h>

#include "native.h"

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

blk_t *mcusim_lookup(state_t *s, uint32_t addr)
{
    uint32_t i = mcusim_find(s, addr);
    return i ? &s->table[i] : NULL;
}

uint32_t mcusim_insert(state_t *s, uint32_t addr)
{
    uint32_t i = slot_of(addr, s->mask);
    while (s->table[i].addr != 0xFFFFFFFFu && s->table[i].addr != addr)
        i = 1u + (i & s->mask);
    if (s->table[i].addr != addr) {
        memset(&s->table[i], 0, sizeof(blk_t));
        memset(&s->xtab[i], 0, sizeof(blkx_t));
        s->table[i].addr = addr;
        s->xtab[i].rows_gen = 0xFFFFFFFFu;
        s->used++;
    }
    return i;
}

/* Dynamic cycles of the block now executing (the detailed memory model's stalls): to the
 * clock, to that block and to the current call-tree node (BlockCoster.charge_current). */
void mcusim_charge(state_t *s, uint32_t idx, int64_t d)
{
    s->cycles += (uint64_t)d;
    if (idx)
        s->table[idx].acc += (uint64_t)d;
    if (s->prof)
        s->ncycles[s->cur] += (uint64_t)d;
}

/* A block not in the table: cost it here when no Python decision is needed. Returns its
 * index, or 0 when Python must handle it (the emulation then stops with reason 2). */
static uint32_t new_block(state_t *s, void *uc, uint32_t addr, uint32_t size)
{
    static __thread uint8_t code[4096];
    if (!s->cls || s->mm_python || size == 0 || size > sizeof(code))
        return 0;
    if (s->used * 2 >= s->mask + 1 || s->newq_len >= s->newq_cap)
        return 0;                       /* the table must grow / Python must catch up */
    if (s->mm && mm_wants_python(s))
        return 0;                       /* new code in a fast period: a window to schedule */
    if (s->mem_read(uc, addr, code, size) != 0)
        return 0;
    cl_block_t *o = s->scratch;
    if (mcusim_classify_block_peek(s->cls, code, size, addr, o, (void *)s->mem_read, uc) != CL_OK || o->has_div)
        return 0;
    uint32_t i = mcusim_insert(s, addr);
    blk_t *b = &s->table[i];
    int32_t stall = 0;
    if (s->mm && mm_new_block_stall(s, b, addr, size, uc, &stall) != 0) {
        /* cannot happen after mm_wants_python said no; be safe: undo */
        b->addr = 0xFFFFFFFFu;
        s->used--;
        return 0;
    }
    b->end = addr + size;
    b->core = (uint32_t)o->nt;
    b->cyc = (uint32_t)(o->nt + stall);
    b->extra = o->tk - o->nt;
    b->flags = o->flags;
    s->xtab[i].ninsn = (uint32_t)o->ninsn;
    s->xtab[i].n_loads = (uint32_t)o->n_loads;
    s->xtab[i].n_stores = (uint32_t)o->n_stores;
    s->newq[2 * s->newq_len] = addr;
    s->newq[2 * s->newq_len + 1] = i;
    s->newq_len++;
    return i;
}

/* uc_emu_stop, with Unicorn's PC sync back on (state_t.pcsync_off) */
static void stop_now(state_t *s, void *uc)
{
    if (s->pcsync_off)
        ((volatile uint8_t *)uc)[s->pcsync_off] = 0;
    s->emu_stop(uc);
}

void mcusim_stop(state_t *s)
{
    stop_now(s, s->uc);
}

void mcusim_block_hook(void *uc, uint64_t address, uint32_t size, void *user)
{
    state_t *s = (state_t *)user;
    if (s->cycles >= s->deadline) {
        s->stop_reason = 1;
        stop_now(s, uc);
        return;
    }
    uint32_t addr = (uint32_t)address;
    uint32_t i = slot_of(addr, s->mask);
    blk_t *t = s->table;
    while (t[i].addr != addr) {
        if (t[i].addr == 0xFFFFFFFFu) {
            i = new_block(s, uc, addr, size);
            if (i == 0) {
                s->stop_reason = 2;
                s->miss_addr = addr;
                s->miss_size = size;
                stop_now(s, uc);
                return;
            }
            break;
        }
        i = 1u + (i & s->mask);   /* linear probe within slots 1..mask+1 */
    }
    blk_t *b = &t[i];
    if (b->flags & F_SELFLOOP) {
        if (s->resume_addr != addr) {
            s->stop_reason = 3;
            s->miss_addr = addr;
            stop_now(s, uc);
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
    if (s->pcsync_off)
        ((volatile uint8_t *)uc)[s->pcsync_off] = 1;
    if (s->mm && s->mm->active)
        mm_block(s, b, i, addr, size, uc);
}

/* The activity of every block executed so far (mcusim/power/activity.py Meter): code bytes
 * fetched, data words loaded, data words stored, each summed over executions. */
void mcusim_activity(const state_t *s, uint64_t out[3])
{
    uint64_t f = 0, l = 0, w = 0;
    for (uint32_t i = 1; i <= s->mask + 1; i++) {
        const blk_t *b = &s->table[i];
        if (b->addr == 0xFFFFFFFFu || b->count == 0)
            continue;
        f += b->count * (uint64_t)(b->end - b->addr);
        l += b->count * (uint64_t)s->xtab[i].n_loads;
        w += b->count * (uint64_t)s->xtab[i].n_stores;
    }
    out[0] = f;
    out[1] = l;
    out[2] = w;
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

int64_t mcusim_sizeof(int which)
{
    switch (which) {
    case 0: return (int64_t)sizeof(state_t);
    case 1: return (int64_t)sizeof(blk_t);
    case 2: return (int64_t)sizeof(mm_t);
    case 3: return (int64_t)sizeof(cls_t);
    case 4: return (int64_t)sizeof(cl_block_t);
    case 5: return (int64_t)sizeof(cache_t);
    case 6: return (int64_t)sizeof(span_hook_t);
    case 7: return (int64_t)sizeof(blkx_t);
    default: return -1;
    }
}
