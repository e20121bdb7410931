/*
 * mcrt_fb.h -- a minimal, bounds-checked flatbuffer reader (internal to mcrt).
 *
 * Positions are byte offsets from the start of the buffer (uint32). Position 0 means
 * "absent" (no table can start at 0: the root offset lives there). Every accessor checks
 * its offsets and sizes against the buffer length before reading; on any violation it
 * sets fb->err and returns a neutral value (0 / absent), so callers may read a whole
 * section and test fb->err once afterwards. All reads are byte-wise little-endian, so
 * no alignment is assumed.
 */
#ifndef MCRT_FB_H
#define MCRT_FB_H
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *b;
    uint32_t n;
    int err;
} mcrt_fb_t;

uint32_t mcrt_fb_rd_u32(const mcrt_fb_t *fb, uint32_t pos);  /* pos+4 <= n checked */
/* Root table position (0 and err set if invalid). */
uint32_t mcrt_fb_root(mcrt_fb_t *fb);
/* Validate a table at pos; returns pos or 0. */
uint32_t mcrt_fb_table_at(mcrt_fb_t *fb, uint32_t pos);
/* Absolute position of field `id` of table t, whose value has `size` bytes; 0 if the
 * field is absent (or t is 0). */
uint32_t mcrt_fb_field(mcrt_fb_t *fb, uint32_t t, unsigned id, unsigned size);
/* Scalars with defaults. */
uint8_t mcrt_fb_u8(mcrt_fb_t *fb, uint32_t t, unsigned id, uint8_t def);
int8_t mcrt_fb_i8(mcrt_fb_t *fb, uint32_t t, unsigned id, int8_t def);
int32_t mcrt_fb_i32(mcrt_fb_t *fb, uint32_t t, unsigned id, int32_t def);
uint32_t mcrt_fb_u32(mcrt_fb_t *fb, uint32_t t, unsigned id, uint32_t def);
uint64_t mcrt_fb_u64(mcrt_fb_t *fb, uint32_t t, unsigned id, uint64_t def);
float mcrt_fb_f32(mcrt_fb_t *fb, uint32_t t, unsigned id, float def);
/* Sub-table referenced by field id (0 if absent). */
uint32_t mcrt_fb_table(mcrt_fb_t *fb, uint32_t t, unsigned id);
/* Vector referenced by field id: returns position of element 0 (0 if absent) and
 * the element count in *count (0 if absent). Checks count*elem_size fits. */
uint32_t mcrt_fb_vec(mcrt_fb_t *fb, uint32_t t, unsigned id, unsigned elem_size,
                     uint32_t *count);
/* Element i of a vector of tables starting at vpos (count already checked by caller). */
uint32_t mcrt_fb_vec_table(mcrt_fb_t *fb, uint32_t vpos, uint32_t i);
/* A fixed-size memcpy that stays inline under -ffreestanding / -fno-builtin. */
#if defined(__GNUC__)
#define MCRT_MEMCPY __builtin_memcpy
#else
#define MCRT_MEMCPY memcpy
#endif
/* Plain little-endian loads from a position already validated by the caller. */
static inline uint32_t mcrt_ld_u32(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    MCRT_MEMCPY(&v, p, 4);   /* one (unaligned-capable) load where the core allows it */
    return v;
#else
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
#endif
}
static inline int32_t mcrt_ld_i32(const uint8_t *p) { return (int32_t)mcrt_ld_u32(p); }
static inline float mcrt_ld_f32(const uint8_t *p)
{
    union { uint32_t u; float f; } v;
    v.u = mcrt_ld_u32(p);
    return v.f;
}
#endif
