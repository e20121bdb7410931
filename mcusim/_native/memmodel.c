/*
 * memmodel.c -- the detailed memory model of mcusim/timing/memory.py in C: instruction
 * fetch per executed block (FetchUnit, MemoryModel._hook_block), data accesses from
 * Unicorn memory hooks (MemoryModel._hook_mem), the caches (Cache), the cold-fetch
 * estimate of a new block (MemoryModel._estimate) and the fast-mode window bookkeeping
 * (learning at the end of a window, period snapshots and settlements). The Python model
 * stays the reference; tests/test_native_memory.py runs both and compares cycles, stalls
 * and cache statistics. Floating-point sums run in the same order as Python's (dicts
 * iterate in insertion order: the lists wlist, lorder and snapl keep that order).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

#define X(b) (&s->xtab[(b) - s->table])   /* the cold part of a table entry */

/* ------------------------------------------------------------------ caches (Cache) */
int mcusim_cache_init(cache_t *c, int32_t nsets, int32_t ways, int32_t shift, int32_t line,
                      int32_t random, int32_t write_back, int32_t write_allocate)
{
    c->nsets = nsets;
    c->ways = ways;
    c->shift = shift;
    c->line = line;
    c->random = random;
    c->write_back = write_back;
    c->write_allocate = write_allocate;
    c->rng = 0x2545F491u;
    c->hits = c->misses = c->writebacks = c->fills = 0;
    c->lines = calloc((size_t)nsets * ways, sizeof(uint32_t));
    c->dirty = calloc((size_t)nsets * ways, 1);
    c->n = calloc((size_t)nsets, sizeof(int32_t));
    c->valid = c->lines && c->dirty && c->n;
    return c->valid ? 0 : -1;
}

void mcusim_cache_free(cache_t *c)
{
    free(c->lines);
    free(c->dirty);
    free(c->n);
    c->lines = NULL;
    c->dirty = NULL;
    c->n = NULL;
    c->valid = 0;
}

void mcusim_cache_invalidate(cache_t *c)
{
    memset(c->n, 0, (size_t)c->nsets * sizeof(int32_t));
    memset(c->dirty, 0, (size_t)c->nsets * c->ways);
}

/* A line is in a set at most once; the search starts at the most recently used end
 * (LRU order: code loops hit there), which finds the same entry as any order would. */
static inline int find_line(const cache_t *c, uint32_t set, uint32_t ln)
{
    const uint32_t *l = c->lines + (size_t)set * c->ways;
    for (int k = c->n[set] - 1; k >= 0; k--)
        if (l[k] == ln)
            return k;
    return -1;
}

int mcusim_cache_contains(const cache_t *c, uint32_t addr)
{
    uint32_t ln = addr >> c->shift;
    return find_line(c, ln % (uint32_t)c->nsets, ln) >= 0;
}

/* Cache.access: returns hit; *victim_dirty when the fill evicted a dirty line */
int mcusim_cache_access(cache_t *c, uint32_t addr, int write, int *victim_dirty)
{
    uint32_t ln = addr >> c->shift;
    uint32_t set = ln % (uint32_t)c->nsets;
    uint32_t *l = c->lines + (size_t)set * c->ways;
    uint8_t *d = c->dirty + (size_t)set * c->ways;
    int n = c->n[set];
    int k = find_line(c, set, ln);
    *victim_dirty = 0;
    if (k >= 0) {
        if (!c->random && k != n - 1) {      /* move to MRU (list.remove + append) */
            uint8_t dk = d[k];
            memmove(l + k, l + k + 1, (size_t)(n - 1 - k) * sizeof(uint32_t));
            memmove(d + k, d + k + 1, (size_t)(n - 1 - k));
            l[n - 1] = ln;
            d[n - 1] = dk;
            k = n - 1;
        }
        if (write && c->write_back)
            d[k] = 1;
        c->hits++;
        return 1;
    }
    c->misses++;
    if (write && !c->write_allocate)
        return 0;
    if (n >= c->ways) {
        int v;
        if (c->random) {
            uint32_t x = c->rng;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            c->rng = x;
            v = (int)(x % (uint32_t)c->ways);
        } else {
            v = 0;
        }
        if (d[v]) {
            *victim_dirty = 1;
            c->writebacks++;
        }
        memmove(l + v, l + v + 1, (size_t)(n - 1 - v) * sizeof(uint32_t));
        memmove(d + v, d + v + 1, (size_t)(n - 1 - v));
        n--;
    }
    l[n] = ln;
    d[n] = (write && c->write_back) ? 1 : 0;
    c->n[set] = n + 1;
    c->fills++;
    return 0;
}

/* ------------------------------------------------------------------ lists */
static int push(uint32_t **arr, uint32_t *len, uint32_t *cap, uint32_t v)
{
    if (*len >= *cap) {
        uint32_t nc = *cap ? *cap * 2 : 1024;
        uint32_t *na = realloc(*arr, (size_t)nc * sizeof(uint32_t));
        if (!na)
            return -1;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*len)++] = v;
    return 0;
}

void mcusim_mm_free(mm_t *m)
{
    for (int k = 0; k < MM_MAXCACHE; k++)
        if (m->cache[k].valid)
            mcusim_cache_free(&m->cache[k]);
    free(m->wlist);
    free(m->lorder);
    free(m->snapl);
    free(m->rows);
    m->wlist = m->lorder = m->snapl = NULL;
    m->rows = NULL;
    m->wlen = m->wcap = m->llen = m->lcap = m->slen = m->scap = 0;
    m->rows_len = m->rows_cap = 0;
}

/* ------------------------------------------------------------------ block rows */
static int source_of(const mm_t *m, uint32_t addr)
{
    for (int k = 0; k < m->nspan; k++)
        if (m->span[k].lo <= addr && addr < m->span[k].hi)
            return m->span[k].src;
    return -1;
}

/* MemoryModel._block_info: the block's fetch granule rows (granule index, core cycles of
 * the instructions starting in it), or none when its source can neither stall nor cache.
 * Cached per block until the configuration changes. Returns the row count (0: none). */
static int block_rows(state_t *s, blk_t *b, uint32_t addr, uint32_t size, void *uc,
                      const int64_t **rows, int *srcp)
{
    mm_t *m = s->mm;
    if (X(b)->rows_gen == m->gen) {
        *rows = m->rows + X(b)->rows_off;
        *srcp = X(b)->rows_src;
        return X(b)->nrows;
    }
    int si = source_of(m, addr);
    int nrows = 0;
    X(b)->rows_gen = m->gen;
    X(b)->rows_src = si;
    X(b)->nrows = 0;
    if (si < 0 || !(m->src[si].rd_ws || m->src[si].icache >= 0)) {
        *srcp = si;
        return 0;
    }
    int64_t g = m->src[si].granule;
    static __thread uint8_t code[4096];
    cl_block_t *o = s->scratch;
    int nper = 0;
    int ok = 0;
    if (!m->timing_none && s->cls && size <= sizeof(code) && s->mem_read(uc, addr, code, size) == 0
        && mcusim_classify_block_peek(s->cls, code, size, addr, o, (void *)s->mem_read, uc) == CL_OK && o->ninsn > 0) {
        nper = o->ninsn;
        ok = 1;
    }
    if (!ok) {
        /* one cycle a halfword (no timing model) */
        nper = 0;
        for (uint32_t a = addr; a < addr + size; a += 2) {
            o->iaddr[nper] = a;
            o->cyc[nper] = 1;
            nper++;
            if (nper >= CL_MAXINS)
                break;
        }
    }
    uint32_t need = m->rows_len + 2u * (uint32_t)(nper + 1);
    if (need > m->rows_cap) {
        uint32_t nc = m->rows_cap ? m->rows_cap : 4096;
        while (nc < need)
            nc *= 2;
        int64_t *nr = realloc(m->rows, (size_t)nc * sizeof(int64_t));
        if (!nr)
            return 0;
        m->rows = nr;
        m->rows_cap = nc;
    }
    int64_t *r = m->rows + m->rows_len;
    for (int j = 0; j < nper; j++) {
        int64_t gi = (int64_t)o->iaddr[j] / g;
        if (nrows && r[2 * (nrows - 1)] == gi) {
            r[2 * (nrows - 1) + 1] += o->cyc[j];
        } else {
            r[2 * nrows] = gi;
            r[2 * nrows + 1] = o->cyc[j];
            nrows++;
        }
    }
    int64_t last = ((int64_t)addr + size - 1) / g;   /* a 32-bit instruction straddling */
    if (nrows && r[2 * (nrows - 1)] < last) {
        r[2 * nrows] = last;
        r[2 * nrows + 1] = 0;
        nrows++;
    }
    X(b)->rows_off = m->rows_len;
    X(b)->nrows = nrows;
    m->rows_len += 2u * (uint32_t)nrows;
    *rows = r;
    *srcp = si;
    return nrows;
}

/* ------------------------------------------------------------------ fetch (per block) */
void mm_block(state_t *s, blk_t *b, uint32_t idx, uint32_t addr, uint32_t size, void *uc)
{
    mm_t *m = s->mm;
    m->exec_idx = idx;
    int64_t stat = (int64_t)b->cyc - (int64_t)b->core;
    const int64_t *rows;
    int si;
    int nrows = block_rows(s, b, addr, size, uc, &rows, &si);
    int64_t stall = 0;
    int64_t t = m->t;
    if (nrows) {
        const src_t *src = &m->src[si];
        int64_t ws = src->rd_ws, gran = src->granule;
        cache_t *ic = src->icache >= 0 ? &m->cache[src->icache] : NULL;
        int flash = src->flash;
        for (int k = 0; k < nrows; k++) {
            int64_t g = rows[2 * k], e = rows[2 * k + 1];
            if (g == m->buf) {
                t += e;
                continue;
            }
            int fill = 0, vd;
            int64_t st;
            if (g == m->pf && m->pf_fill) {
                st = m->pf_ready - t;         /* the rest of a line being filled */
                if (st < 0)
                    st = 0;
                if (flash)
                    m->counts[MC_FLASH_THROUGH]++;
            } else if (ic && mcusim_cache_access(ic, (uint32_t)(g * gran), 0, &vd)) {
                st = 0;
            } else if (g == m->pf) {
                st = m->pf_ready - t;         /* prefetched while the previous executed */
                if (st < 0)
                    st = 0;
                fill = 1;
                if (flash)
                    m->counts[ic ? MC_FLASH_THROUGH : MC_FLASH_AROUND]++;
            } else {
                st = ws + (m->busy_until > t ? m->busy_until - t : 0);
                fill = 1;
                if (flash)
                    m->counts[ic ? MC_FLASH_THROUGH : MC_FLASH_AROUND]++;
            }
            stall += st;
            t += st;
            m->buf = g;
            int64_t nxt = (g + 1) * gran;
            if (fill && ic && (nxt % ic->line)) {
                m->pf = g + 1;
                m->pf_fill = 1;
                m->pf_ready = m->busy_until = t + ws + 1;
            } else if (src->prefetch && (!ic || !mcusim_cache_contains(ic, (uint32_t)nxt))) {
                if (m->pf != g + 1) {
                    m->pf = g + 1;
                    m->pf_fill = 0;
                    m->pf_ready = m->busy_until = t + ws + 1;
                }
            } else {
                m->pf = -1;
            }
            t += e;
        }
        m->fetch_stall += stall;
    }
    m->t = t;
    if (m->in_window) {
        if (m->cur_valid && s->cycles >= m->learn_from) {
            blk_t *pb = mcusim_lookup(s, m->cur_addr);
            if (pb) {
                if (!(X(pb)->lflags & LF_WSEEN)) {
                    X(pb)->lflags |= LF_WSEEN;
                    X(pb)->wn = 0;
                    X(pb)->wstall = 0.0;
                    push(&m->wlist, &m->wlen, &m->wcap, m->cur_addr);
                }
                X(pb)->wn++;
                X(pb)->wstall += m->cur_stall;
            }
        }
        m->cur_addr = addr;
        m->cur_valid = 1;
        m->cur_stall = (double)stall;
    }
    int64_t d = stall - stat;
    if (d)
        mcusim_charge(s, idx, d);
}

/* ------------------------------------------------------------------ data (memory hook) */
void mcusim_mem_hook(void *uc, int type, uint64_t address, int size, int64_t value, void *user)
{
    span_hook_t *h = (span_hook_t *)user;
    state_t *s = (state_t *)h->state;
    mm_t *m = s->mm;
    (void)value;
    if (m->clear_itstate && !(s->pcsync_off && ((volatile uint8_t *)uc)[s->pcsync_off])) {
        /* Unicorn 2.1.4 #2309: restore the CPU copy of ITSTATE the translator relies on
         * (0 inside a block); MemoryModel._hook_mem, docs/correctness.md. Not needed
         * while the PC sync is off (mcusim/timing/pcsync.py): the stale state comes
         * from that sync. */
        uint64_t v = m->epsr_value;
        m->reg_write(uc, m->epsr_reg, &v);
    }
    const src_t *src = &m->src[h->src];
    int write = type == 17;       /* UC_MEM_WRITE */
    uint32_t addr = (uint32_t)address;
    int64_t st;
    if (src->dcache >= 0) {
        cache_t *dc = &m->cache[src->dcache];
        int64_t fill, evict;
        if (src->flash) {
            fill = src->rd_ws;
            evict = src->wr_ws;
        } else {
            int64_t beats = dc->line / src->granule;
            if (beats < 1)
                beats = 1;
            fill = src->rd_ws + (beats - 1) * (1 + src->rd_ws);
            evict = beats * (1 + src->wr_ws);
        }
        int wb = 0;
        if (write) {
            if (src->write_through || !dc->write_allocate) {
                if (mcusim_cache_contains(dc, addr))
                    mcusim_cache_access(dc, addr, 1, &wb);
                st = src->wr_ws;
                if (!src->flash)
                    m->counts[MC_RAM_WRITES]++;
            } else {
                int hit = mcusim_cache_access(dc, addr, 1, &wb);
                st = hit ? 0 : fill;
                if (wb)
                    st += evict;
                if (!hit && src->flash)
                    m->counts[MC_FLASH_THROUGH]++;
            }
        } else {
            int hit = mcusim_cache_access(dc, addr, 0, &wb);
            st = hit ? 0 : fill;
            if (wb)
                st += evict;
            if (!hit && src->flash)
                m->counts[MC_FLASH_THROUGH]++;
        }
    } else {
        st = write ? src->wr_ws : src->rd_ws;
        if (src->flash) {
            if (!write) {
                /* the D-Code current buffer ([flash.accelerator] data_buffer) */
                int64_t g = (int64_t)(addr / (uint32_t)src->granule);
                if (src->dbuf && g == m->dline) {
                    st = 0;
                } else {
                    if (src->dbuf)
                        m->dline = g;
                    m->counts[MC_FLASH_AROUND]++;
                }
            }
        } else {
            m->counts[write ? MC_RAM_WRITES : MC_RAM_READS]++;
        }
    }
    if ((size & 6) && (addr & (uint32_t)(size - 1)) && m->ua_on) {
        /* unaligned LDR/LDRH/STR/STRH ([timing.unaligned]; MemoryModel._hook_mem) */
        int k = size == 2 ? 0 : ((addr & 3) == 2 ? 1 : 2);
        st += m->ua[write ? k + 3 : k];
        m->counts[MC_UNALIGNED]++;
    }
    if (st) {
        m->t += st;
        m->data_stall += st;
        if (m->in_window)
            m->cur_stall += (double)st;
        mcusim_charge(s, m->exec_idx, st);
    }
}

/* ------------------------------------------------------------------ fast mode */
/* MemoryModel._estimate: a new block's fetch through a cold fetch unit */
static double estimate(state_t *s, blk_t *b, uint32_t addr, uint32_t size, void *uc)
{
    mm_t *m = s->mm;
    const int64_t *rows;
    int si;
    int n = block_rows(s, b, addr, size, uc, &rows, &si);
    if (!n)
        return 0.0;
    const src_t *src = &m->src[si];
    double stall = 0.0, t = 0.0, ready = 0.0;
    int64_t buf = -1, pf = -1;
    for (int k = 0; k < n; k++) {
        int64_t g = rows[2 * k];
        double e = (double)rows[2 * k + 1];
        if (g == buf) {
            t += e;
            continue;
        }
        double ws = (double)src->rd_ws, st;
        if (g == pf)
            st = ready - t > 0.0 ? ready - t : 0.0;
        else if (src->icache >= 0)
            st = 0.0;
        else
            st = ws;
        stall += st;
        t += st;
        buf = g;
        if (src->prefetch || src->stream) {
            pf = g + 1;
            ready = t + ws + 1;
        }
        t += e;
    }
    return stall;
}

/* Would MemoryModel.block_stall schedule a window for a new block now? (Python does it) */
int mm_wants_python(state_t *s)
{
    mm_t *m = s->mm;
    if (m->detailed || !m->any_stall || m->in_window || m->pending)
        return 0;
    uint64_t at = s->cycles + m->new_delay;
    return !(m->has_next && m->next_at <= at);
}

/* The static stall of a new block (MemoryModel.block_stall without the window request) */
int mm_new_block_stall(state_t *s, blk_t *b, uint32_t addr, uint32_t size, void *uc,
                       int32_t *stall)
{
    mm_t *m = s->mm;
    *stall = 0;
    if (m->detailed || !m->any_stall)
        return 0;
    double v;
    if (X(b)->lflags & LF_LEARNED) {
        v = X(b)->learned;
    } else {
        v = estimate(s, b, addr, size, uc);
        X(b)->learned = v;
        X(b)->lflags |= LF_LEARNED;
        push(&m->lorder, &m->llen, &m->lcap, addr);
    }
    *stall = (int32_t)rint(v);
    return 0;
}

/* the same for a block Python creates (or re-costs): -1 when it is not in the table */
int mcusim_mm_block_stall(state_t *s, uint32_t addr, uint32_t size, int32_t *stall,
                          int32_t *was_new)
{
    blk_t *b = mcusim_lookup(s, addr);
    if (!b)
        return -1;
    *was_new = !(X(b)->lflags & LF_LEARNED);
    return mm_new_block_stall(s, b, addr, size, s->uc, stall);
}

/* learned.clear() */
void mcusim_mm_clear_learned(state_t *s)
{
    mm_t *m = s->mm;
    for (uint32_t k = 0; k < m->llen; k++) {
        blk_t *b = mcusim_lookup(s, m->lorder[k]);
        if (b)
            X(b)->lflags &= ~LF_LEARNED;
    }
    m->llen = 0;
}

/* The learning part of MemoryModel._end_window: the mean stall of every block seen after
 * the warm-up becomes its learned stall (its floor the static cost). Returns err;
 * *changed the number of blocks whose learned value changed. */
double mcusim_mm_end_window(state_t *s, uint32_t *changed)
{
    mm_t *m = s->mm;
    double err = 0.0, total = 0.0;
    uint32_t nch = 0;
    for (uint32_t k = 0; k < m->wlen; k++) {
        uint32_t addr = m->wlist[k];
        blk_t *b = mcusim_lookup(s, addr);
        if (!b)
            continue;
        double n = (double)X(b)->wn, sum = X(b)->wstall;
        double nw = sum / n;
        int had = (X(b)->lflags & LF_LEARNED) != 0;
        double old = X(b)->learned;
        if (had)
            err += fabs(nw - old) * n;
        else
            err += nw * n;
        total += sum;
        if (!had || nw != old) {
            if (!had) {
                push(&m->lorder, &m->llen, &m->lcap, addr);
                X(b)->lflags |= LF_LEARNED;
            }
            X(b)->learned = nw;
            /* _set_static -> BlockCoster.set_block_stall(addr, floor(learned)) */
            uint32_t st = (uint32_t)floor(nw);
            uint32_t cur = b->cyc - b->core;
            if (st != cur)
                b->cyc = b->core + st;
            nch++;
        }
    }
    for (uint32_t k = 0; k < m->wlen; k++) {
        blk_t *b = mcusim_lookup(s, m->wlist[k]);
        if (b) {
            X(b)->lflags &= ~LF_WSEEN;
            X(b)->wn = 0;
            X(b)->wstall = 0.0;
        }
    }
    m->wlen = 0;
    (void)total;
    *changed = nch;
    return err;
}

/* MemoryModel._unchecked_stall: the stall the fast period before this window charged on
 * learned blocks the window did not see (their estimate went unchecked). Called before
 * mcusim_mm_end_window, while the window's LF_WSEEN flags stand. */
double mcusim_mm_unchecked(state_t *s)
{
    mm_t *m = s->mm;
    double u = 0.0;
    for (uint32_t k = 0; k < m->llen; k++) {
        blk_t *b = mcusim_lookup(s, m->lorder[k]);
        if (!b || !(X(b)->lflags & LF_LEARNED) || (X(b)->lflags & LF_WSEEN))
            continue;
        if (X(b)->learned > 0.0)
            u += (double)(b->count - X(b)->ecount) * X(b)->learned;
    }
    return u;
}

/* after a window: every learned block's execution count (MemoryModel._count_at_end) */
void mcusim_mm_mark_counts(state_t *s)
{
    mm_t *m = s->mm;
    for (uint32_t k = 0; k < m->llen; k++) {
        blk_t *b = mcusim_lookup(s, m->lorder[k]);
        if (b)
            X(b)->ecount = b->count;
    }
}

/* a new window: win_stats = {} */
void mcusim_mm_window_reset(state_t *s)
{
    mm_t *m = s->mm;
    for (uint32_t k = 0; k < m->wlen; k++) {
        blk_t *b = mcusim_lookup(s, m->wlist[k]);
        if (b) {
            X(b)->lflags &= ~LF_WSEEN;
            X(b)->wn = 0;
            X(b)->wstall = 0.0;
        }
    }
    m->wlen = 0;
    m->cur_valid = 0;
    m->cur_stall = 0.0;
}

/* MemoryModel._snapshot_counts */
void mcusim_mm_snapshot(state_t *s)
{
    mm_t *m = s->mm;
    m->slen = 0;
    for (uint32_t k = 0; k < m->llen; k++) {
        blk_t *b = mcusim_lookup(s, m->lorder[k]);
        if (!b)
            continue;
        uint32_t st = b->cyc - b->core;
        if (X(b)->learned != (double)st) {
            X(b)->snap = b->count;
            push(&m->snapl, &m->slen, &m->scap, m->lorder[k]);
        }
    }
}

/* the fractional stall a block earned in the fast period that ends (0: none) */
static double settle_share(state_t *s, uint32_t addr)
{
    blk_t *b = mcusim_lookup(s, addr);
    if (!b || !(X(b)->lflags & LF_LEARNED))
        return 0.0;
    uint32_t st = b->cyc - b->core;
    uint64_t dn = b->count - X(b)->snap;
    return dn ? (X(b)->learned - (double)st) * (double)dn : 0.0;
}

/* MemoryModel._settle_period: the fractional stall of the fast period that ends; *any is
 * 0 when there was nothing to settle. The blocks stay listed for mcusim_mm_attribute. */
double mcusim_mm_settle(state_t *s, int32_t *any)
{
    mm_t *m = s->mm;
    double extra = 0.0;
    *any = m->slen != 0;
    for (uint32_t k = 0; k < m->slen; k++)
        extra += settle_share(s, m->snapl[k]);
    return extra;
}

typedef struct {
    double frac;
    uint32_t addr;
    int64_t whole;
} share_t;

static int by_remainder(const void *a, const void *b)
{
    const share_t *x = (const share_t *)a, *y = (const share_t *)b;
    if (x->frac != y->frac)
        return x->frac > y->frac ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* MemoryModel._attribute: the n whole cycles the clock was just charged for `total`
 * (the settled fractional stall) go to the blocks that earned them, in proportion
 * (largest remainders, ties by address), as charged cycles of those blocks only (the
 * function profile); then the list is cleared. */
void mcusim_mm_attribute(state_t *s, int64_t n, double total)
{
    mm_t *m = s->mm;
    uint32_t len = m->slen;
    m->slen = 0;
    if (n <= 0 || total <= 0.0 || len == 0)
        return;
    share_t *sh = malloc((size_t)len * sizeof(share_t));
    if (!sh)
        return;
    int64_t given = 0;
    for (uint32_t k = 0; k < len; k++) {
        double x = settle_share(s, m->snapl[k]) * (double)n / total;
        double w = floor(x);
        sh[k].frac = x - w;
        sh[k].addr = m->snapl[k];
        sh[k].whole = (int64_t)w;
        given += (int64_t)w;
    }
    qsort(sh, len, sizeof(share_t), by_remainder);
    for (uint32_t k = 0; k < len && given < n; k++, given++)
        sh[k].whole++;
    for (uint32_t k = 0; k < len; k++) {
        blk_t *b = mcusim_lookup(s, sh[k].addr);
        if (b && sh[k].whole)
            b->acc += (uint64_t)sh[k].whole;
    }
    free(sh);
}

/* block addresses whose learned values Python asks for (MemoryModel.learned) */
uint32_t mcusim_mm_learned(state_t *s, uint32_t *addrs, double *vals, uint32_t cap)
{
    mm_t *m = s->mm;
    uint32_t n = 0;
    for (uint32_t k = 0; k < m->llen && n < cap; k++) {
        blk_t *b = mcusim_lookup(s, m->lorder[k]);
        if (!b)
            continue;
        addrs[n] = m->lorder[k];
        vals[n] = X(b)->learned;
        n++;
    }
    return n;
}

/* a new configuration: block rows are recomputed on next use */
void mcusim_mm_new_config(state_t *s)
{
    mm_t *m = s->mm;
    m->gen++;
    m->rows_len = 0;
}
