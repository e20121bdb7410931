/* mcrt_fb.c -- bounds-checked flatbuffer reader, see mcrt_fb.h. */
#include "mcrt_fb.h"

static uint16_t rd_u16(const mcrt_fb_t *fb, uint32_t pos)
{
    return (uint16_t)(fb->b[pos] | (fb->b[pos + 1] << 8));
}

uint32_t mcrt_fb_rd_u32(const mcrt_fb_t *fb, uint32_t pos)
{
    if ((uint64_t)pos + 4u > fb->n) return 0;
    return mcrt_ld_u32(fb->b + pos);
}

static uint32_t fail(mcrt_fb_t *fb)
{
    fb->err = 1;
    return 0;
}

uint32_t mcrt_fb_table_at(mcrt_fb_t *fb, uint32_t pos)
{
    int64_t vt;
    uint32_t vtsize, objsize;
    if (pos == 0 || (uint64_t)pos + 4u > fb->n) return fail(fb);
    vt = (int64_t)pos - (int64_t)(int32_t)mcrt_ld_u32(fb->b + pos);
    if (vt < 0 || vt + 4 > (int64_t)fb->n) return fail(fb);
    vtsize = rd_u16(fb, (uint32_t)vt);
    objsize = rd_u16(fb, (uint32_t)vt + 2);
    if (vtsize < 4 || (vtsize & 1) || vt + vtsize > (int64_t)fb->n) return fail(fb);
    if (objsize < 4 || (uint64_t)pos + objsize > fb->n) return fail(fb);
    return pos;
}

uint32_t mcrt_fb_root(mcrt_fb_t *fb)
{
    uint32_t off;
    if (fb->n < 8) return fail(fb);
    off = mcrt_ld_u32(fb->b);
    if (off >= fb->n) return fail(fb);
    return mcrt_fb_table_at(fb, off);
}

uint32_t mcrt_fb_field(mcrt_fb_t *fb, uint32_t t, unsigned id, unsigned size)
{
    uint32_t vt, vtsize, objsize, slot, foff;
    if (t == 0 || fb->err) return 0;
    /* t was validated by mcrt_fb_table_at */
    vt = (uint32_t)((int64_t)t - (int64_t)(int32_t)mcrt_ld_u32(fb->b + t));
    vtsize = rd_u16(fb, vt);
    objsize = rd_u16(fb, vt + 2);
    slot = 4u + 2u * id;
    if (slot + 2u > vtsize) return 0;
    foff = rd_u16(fb, vt + slot);
    if (foff == 0) return 0;
    if (foff < 4 || foff + size > objsize) return fail(fb);
    return t + foff;
}

uint8_t mcrt_fb_u8(mcrt_fb_t *fb, uint32_t t, unsigned id, uint8_t def)
{
    uint32_t p = mcrt_fb_field(fb, t, id, 1);
    return p ? fb->b[p] : def;
}

int8_t mcrt_fb_i8(mcrt_fb_t *fb, uint32_t t, unsigned id, int8_t def)
{
    uint32_t p = mcrt_fb_field(fb, t, id, 1);
    return p ? (int8_t)fb->b[p] : def;
}

int32_t mcrt_fb_i32(mcrt_fb_t *fb, uint32_t t, unsigned id, int32_t def)
{
    uint32_t p = mcrt_fb_field(fb, t, id, 4);
    return p ? mcrt_ld_i32(fb->b + p) : def;
}

uint32_t mcrt_fb_u32(mcrt_fb_t *fb, uint32_t t, unsigned id, uint32_t def)
{
    uint32_t p = mcrt_fb_field(fb, t, id, 4);
    return p ? mcrt_ld_u32(fb->b + p) : def;
}

uint64_t mcrt_fb_u64(mcrt_fb_t *fb, uint32_t t, unsigned id, uint64_t def)
{
    uint32_t p = mcrt_fb_field(fb, t, id, 8);
    return p ? ((uint64_t)mcrt_ld_u32(fb->b + p) | ((uint64_t)mcrt_ld_u32(fb->b + p + 4) << 32))
             : def;
}

float mcrt_fb_f32(mcrt_fb_t *fb, uint32_t t, unsigned id, float def)
{
    uint32_t p = mcrt_fb_field(fb, t, id, 4);
    return p ? mcrt_ld_f32(fb->b + p) : def;
}

/* Follow the uoffset stored at pos; returns the target or 0 (err set). */
static uint32_t deref(mcrt_fb_t *fb, uint32_t pos)
{
    uint64_t tgt = (uint64_t)pos + mcrt_ld_u32(fb->b + pos);
    if (tgt >= fb->n || tgt == 0) return fail(fb);
    return (uint32_t)tgt;
}

uint32_t mcrt_fb_table(mcrt_fb_t *fb, uint32_t t, unsigned id)
{
    uint32_t p = mcrt_fb_field(fb, t, id, 4);
    if (!p) return 0;
    p = deref(fb, p);
    if (!p) return 0;
    return mcrt_fb_table_at(fb, p);
}

uint32_t mcrt_fb_vec(mcrt_fb_t *fb, uint32_t t, unsigned id, unsigned elem_size,
                     uint32_t *count)
{
    uint32_t p = mcrt_fb_field(fb, t, id, 4), n;
    *count = 0;
    if (!p) return 0;
    p = deref(fb, p);
    if (!p || (uint64_t)p + 4u > fb->n) return fail(fb);
    n = mcrt_ld_u32(fb->b + p);
    if ((uint64_t)p + 4u + (uint64_t)n * elem_size > fb->n) return fail(fb);
    *count = n;
    return p + 4u;
}

uint32_t mcrt_fb_vec_table(mcrt_fb_t *fb, uint32_t vpos, uint32_t i)
{
    uint32_t p;
    if (fb->err) return 0;
    p = deref(fb, vpos + 4u * i);
    if (!p) return 0;
    return mcrt_fb_table_at(fb, p);
}
