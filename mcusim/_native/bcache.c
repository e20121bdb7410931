/*
 * bcache.c -- costed blocks by (address, code bytes), so that a block is decoded and
 * costed once per core timing table, across machines in one process and, through the
 * file Python saves (mcusim/timing/native.py), across runs. A record holds everything
 * mcusim_classify_block returns; the code bytes are stored and compared, so a hit is
 * exactly the block that was costed. The arena is the file format:
 *
 *   u32 addr, u32 size, i32 nt, i32 tk, i32 ninsn, i32 ncs, u32 flags, u32 has_div, u32 n,
 *   i32 n_loads, i32 n_stores,
 *   n x (u32 address, i32 cycles), size code bytes, zero padding to 4 bytes
 *
 * Loading validates every length before use (a damaged file is dropped, never trusted).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

#define HDR 11u     /* header words */

static uint64_t hash_of(const uint8_t *code, uint32_t size, uint32_t addr)
{
    uint64_t h = 1469598103934665603ull ^ addr ^ ((uint64_t)size << 32);
    for (uint32_t k = 0; k < size; k++) {
        h ^= code[k];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint32_t rec_words(uint32_t size, uint32_t n)
{
    return HDR + 2u * n + (size + 3u) / 4u;
}

bcache_t *mcusim_bcache_new(uint32_t limit)
{
    bcache_t *bc = calloc(1, sizeof(bcache_t));
    if (!bc)
        return NULL;
    bc->cap = 4096;
    bc->slots = calloc(bc->cap, sizeof(uint32_t));
    bc->limit = limit;
    if (!bc->slots) {
        free(bc);
        return NULL;
    }
    return bc;
}

void mcusim_bcache_free(bcache_t *bc)
{
    if (!bc)
        return;
    free(bc->slots);
    free(bc->arena);
    free(bc);
}

static const uint32_t *rec_at(const bcache_t *bc, uint32_t off)
{
    return (const uint32_t *)(bc->arena + off);
}

static int rec_matches(const bcache_t *bc, uint32_t off, const uint8_t *code, uint32_t size,
                       uint32_t addr)
{
    const uint32_t *r = rec_at(bc, off);
    if (r[0] != addr || r[1] != size)
        return 0;
    const uint8_t *c = (const uint8_t *)(r + HDR + 2u * r[8]);
    return memcmp(c, code, size) == 0;
}

static int index_insert(bcache_t *bc, uint32_t off, uint64_t h)
{
    if ((bc->used + 1) * 2 > bc->cap) {
        uint32_t ncap = bc->cap * 2;
        uint32_t *ns = calloc(ncap, sizeof(uint32_t));
        if (!ns)
            return -1;
        for (uint32_t k = 0; k < bc->cap; k++) {
            uint32_t v = bc->slots[k];
            if (!v)
                continue;
            const uint32_t *r = rec_at(bc, v - 1);
            const uint8_t *c = (const uint8_t *)(r + HDR + 2u * r[8]);
            uint32_t j = (uint32_t)hash_of(c, r[1], r[0]) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = v;
        }
        free(bc->slots);
        bc->slots = ns;
        bc->cap = ncap;
    }
    uint32_t j = (uint32_t)h & (bc->cap - 1);
    while (bc->slots[j])
        j = (j + 1) & (bc->cap - 1);
    bc->slots[j] = off + 1;
    bc->used++;
    return 0;
}

int bcache_get(bcache_t *bc, const uint8_t *code, uint32_t size, uint32_t addr, cl_block_t *out)
{
    uint64_t h = hash_of(code, size, addr);
    uint32_t j = (uint32_t)h & (bc->cap - 1);
    for (;;) {
        uint32_t v = bc->slots[j];
        if (!v) {
            bc->misses++;
            return 0;
        }
        if (rec_matches(bc, v - 1, code, size, addr))
            break;
        j = (j + 1) & (bc->cap - 1);
    }
    const uint32_t *r = rec_at(bc, bc->slots[j] - 1);
    out->nt = (int32_t)r[2];
    out->tk = (int32_t)r[3];
    out->ninsn = (int32_t)r[4];
    out->ncs = (int32_t)r[5];
    out->flags = r[6];
    out->has_div = (int32_t)r[7];
    out->n_loads = (int32_t)r[9];
    out->n_stores = (int32_t)r[10];
    uint32_t n = r[8];
    for (uint32_t k = 0; k < n; k++) {
        out->iaddr[k] = r[HDR + 2 * k];
        out->cyc[k] = (int32_t)r[HDR + 2 * k + 1];
    }
    bc->hits++;
    return 1;
}

void bcache_put(bcache_t *bc, const uint8_t *code, uint32_t size, uint32_t addr,
                const cl_block_t *out, int32_t n)
{
    if (n < 0 || n > CL_MAXINS)
        return;
    uint32_t words = rec_words(size, (uint32_t)n);
    uint32_t need = bc->len + 4u * words;
    if (need > bc->limit)
        return;                               /* full: keep what we have */
    if (need > bc->alloc) {
        uint32_t na = bc->alloc ? bc->alloc : 1u << 16;
        while (na < need)
            na *= 2;
        uint8_t *a = realloc(bc->arena, na);
        if (!a)
            return;
        bc->arena = a;
        bc->alloc = na;
    }
    uint32_t off = bc->len;
    uint32_t *r = (uint32_t *)(bc->arena + off);
    r[0] = addr;
    r[1] = size;
    r[2] = (uint32_t)out->nt;
    r[3] = (uint32_t)out->tk;
    r[4] = (uint32_t)out->ninsn;
    r[5] = (uint32_t)out->ncs;
    r[6] = out->flags;
    r[7] = (uint32_t)out->has_div;
    r[8] = (uint32_t)n;
    r[9] = (uint32_t)out->n_loads;
    r[10] = (uint32_t)out->n_stores;
    for (int32_t k = 0; k < n; k++) {
        r[HDR + 2 * k] = out->iaddr[k];
        r[HDR + 2 * k + 1] = (uint32_t)out->cyc[k];
    }
    uint8_t *c = (uint8_t *)(r + HDR + 2u * (uint32_t)n);
    memcpy(c, code, size);
    memset(c + size, 0, 4u * words - 4u * (HDR + 2u * (uint32_t)n) - size);
    if (index_insert(bc, off, hash_of(code, size, addr)) != 0)
        return;
    bc->len = need;
}

/* records from a saved arena; returns how many, or -1 (nothing kept) when it is damaged */
int32_t mcusim_bcache_load(bcache_t *bc, const uint8_t *data, uint32_t len)
{
    uint32_t off = 0, count = 0;
    if (len % 4 || bc->len)
        return -1;
    while (off < len) {                        /* validate everything first */
        if (len - off < 4u * HDR)
            return -1;
        const uint32_t *r = (const uint32_t *)(data + off);
        if (r[1] == 0 || r[1] > 4096 || r[8] > CL_MAXINS)
            return -1;
        uint32_t bytes = 4u * rec_words(r[1], r[8]);
        if (bytes > len - off)
            return -1;
        off += bytes;
        count++;
    }
    if (len > bc->limit)
        return -1;
    bc->arena = malloc(len ? len : 4);
    if (!bc->arena)
        return -1;
    memcpy(bc->arena, data, len);
    bc->alloc = len ? len : 4;
    for (off = 0; off < len;) {
        const uint32_t *r = (const uint32_t *)(bc->arena + off);
        const uint8_t *c = (const uint8_t *)(r + HDR + 2u * r[8]);
        uint32_t bytes = 4u * rec_words(r[1], r[8]);
        if (index_insert(bc, off, hash_of(c, r[1], r[0])) != 0)
            return -1;
        off += bytes;
    }
    bc->len = len;
    return (int32_t)count;
}

uint32_t mcusim_bcache_len(const bcache_t *bc)
{
    return bc->len;
}

const uint8_t *mcusim_bcache_data(const bcache_t *bc)
{
    return bc->arena;
}

void mcusim_bcache_stats(const bcache_t *bc, uint32_t *out)
{
    out[0] = bc->hits;
    out[1] = bc->misses;
    out[2] = bc->used;
    out[3] = bc->len;
}
