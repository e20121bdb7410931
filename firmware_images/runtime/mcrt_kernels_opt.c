/*
 * mcrt_kernels_opt.c -- Cortex-M DSP kernel set (build with -DMCUSIM_KERNELS_OPT).
 *
 * Same contract and same bits as mcrt_kernels_ref.c (see mcrt_kernels.h). Four int8
 * values are loaded as one word; SXTB16 / SXTAB16 spread them into two pairs of 16-bit
 * lanes (adding the input offset on the way), SMLAD multiplies both lanes and adds them to
 * a 32-bit accumulator, four output channels at a time sharing the expanded input; depthwise uses SMLABB / SMLATT to keep channels apart. On a core
 * without the DSP extension (and on the host) the intrinsics are portable C functions
 * with the architectural semantics, so the host build runs this exact code path.
 * All sums wrap modulo 2^32 exactly like the reference kernels.
 */
#ifdef MCUSIM_KERNELS_OPT
#include <string.h>
#include "mcrt_kernels.h"
#include "mcrt_fb.h"
#include "mcrt_q.h"

const char mcrt_kernel_set_name[] = "opt";

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define K_SXTB16(x) ((uint32_t)__sxtb16((uint32_t)(x)))
#define K_SXTAB16(a, x) ((uint32_t)__sxtab16((int32_t)(a), (int32_t)(x)))
#define K_SMLAD(a, b, acc) ((int32_t)__smlad((int32_t)(a), (int32_t)(b), (int32_t)(acc)))
#define K_SMLABB(a, b, acc) ((int32_t)__smlabb((int32_t)(a), (int32_t)(b), (int32_t)(acc)))
#define K_SMLATT(a, b, acc) ((int32_t)__smlatt((int32_t)(a), (int32_t)(b), (int32_t)(acc)))
#define K_ROR8(x) ((((uint32_t)(x)) >> 8) | (((uint32_t)(x)) << 24))  /* compiles to ROR */
/* the rotated forms fold the ROR into the extend (GCC does not combine them itself) */
static inline uint32_t K_SXTB16_ROR8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t K_SXTAB16_ROR8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
#else
/* portable emulation with the architectural semantics */
static inline int32_t lo16(uint32_t v) { return (int32_t)(int16_t)(uint16_t)(v & 0xffffu); }
static inline int32_t hi16(uint32_t v) { return (int32_t)(int16_t)(uint16_t)(v >> 16); }
static inline int32_t sx8(uint32_t v) { return (int32_t)(int8_t)(uint8_t)(v & 0xffu); }
static inline uint32_t pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xffffu) | (((uint32_t)hi & 0xffffu) << 16);
}
static inline uint32_t K_SXTB16(uint32_t x) { return pack16(sx8(x), sx8(x >> 16)); }
static inline uint32_t K_SXTAB16(uint32_t a, uint32_t x)
{
    return pack16(lo16(a) + sx8(x), hi16(a) + sx8(x >> 16));
}
static inline int32_t K_SMLAD(uint32_t a, uint32_t b, int32_t acc)
{
    uint32_t r = (uint32_t)acc + (uint32_t)(lo16(a) * lo16(b)) + (uint32_t)(hi16(a) * hi16(b));
    return (int32_t)r;
}
static inline int32_t K_SMLABB(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(lo16(a) * lo16(b)));
}
static inline int32_t K_SMLATT(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(hi16(a) * hi16(b)));
}
static inline uint32_t K_ROR8(uint32_t x) { return (x >> 8) | (x << 24); }
static inline uint32_t K_SXTB16_ROR8(uint32_t x) { return K_SXTB16(K_ROR8(x)); }
static inline uint32_t K_SXTAB16_ROR8(uint32_t a, uint32_t x) { return K_SXTAB16(a, K_ROR8(x)); }
#endif

static inline uint32_t ld32(const int8_t *p)
{
    uint32_t v;
    MCRT_MEMCPY(&v, p, 4);   /* little-endian; unaligned-safe */
    return v;
}

static inline int8_t requant(int32_t acc, int32_t oc, const mcrt_rq_t *rq)
{
    int32_t m = rq->mult ? rq->mult[oc] : rq->mult0;
    int32_t s = rq->mult ? rq->shift[oc] : rq->shift0;
    if (rq->bias) acc = (int32_t)((uint32_t)acc + (uint32_t)mcrt_ld_i32(rq->bias + 4 * oc));
    acc = mcrt_mbqm(acc, m, s) + rq->out_off;
    return (int8_t)mcrt_clamp(acc, rq->act_min, rq->act_max);
}

/* a[k] += sum_i (x[i] + xo) * w[k * ws + i], k = 0..3 */
static inline void dot4(const int8_t *x, const int8_t *w, int32_t ws, int32_t n, int32_t xo,
                        int32_t *a)
{
    const uint32_t off2 = ((uint32_t)xo & 0xffffu) | ((uint32_t)xo << 16);
    const int8_t *w0 = w, *w1 = w + ws, *w2 = w1 + ws, *w3 = w2 + ws;
    int32_t s0 = a[0], s1 = a[1], s2 = a[2], s3 = a[3], i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xw = ld32(x + i);
        const uint32_t xa = K_SXTAB16(off2, xw), xb = K_SXTAB16_ROR8(off2, xw);
        uint32_t v;
        v = ld32(w0 + i);
        s0 = K_SMLAD(xa, K_SXTB16(v), s0);
        s0 = K_SMLAD(xb, K_SXTB16_ROR8(v), s0);
        v = ld32(w1 + i);
        s1 = K_SMLAD(xa, K_SXTB16(v), s1);
        s1 = K_SMLAD(xb, K_SXTB16_ROR8(v), s1);
        v = ld32(w2 + i);
        s2 = K_SMLAD(xa, K_SXTB16(v), s2);
        s2 = K_SMLAD(xb, K_SXTB16_ROR8(v), s2);
        v = ld32(w3 + i);
        s3 = K_SMLAD(xa, K_SXTB16(v), s3);
        s3 = K_SMLAD(xb, K_SXTB16_ROR8(v), s3);
    }
    for (; i < n; i++) {
        const int32_t xv = x[i] + xo;
        s0 = (int32_t)((uint32_t)s0 + (uint32_t)(xv * w0[i]));
        s1 = (int32_t)((uint32_t)s1 + (uint32_t)(xv * w1[i]));
        s2 = (int32_t)((uint32_t)s2 + (uint32_t)(xv * w2[i]));
        s3 = (int32_t)((uint32_t)s3 + (uint32_t)(xv * w3[i]));
    }
    a[0] = s0;
    a[1] = s1;
    a[2] = s2;
    a[3] = s3;
}

static int32_t dot1(const int8_t *x, const int8_t *w0, int32_t n, int32_t xo, int32_t s0)
{
    const uint32_t off2 = ((uint32_t)xo & 0xffffu) | ((uint32_t)xo << 16);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xw = ld32(x + i), v0 = ld32(w0 + i);
        s0 = K_SMLAD(K_SXTAB16(off2, xw), K_SXTB16(v0), s0);
        s0 = K_SMLAD(K_SXTAB16_ROR8(off2, xw), K_SXTB16_ROR8(v0), s0);
    }
    for (; i < n; i++) s0 = (int32_t)((uint32_t)s0 + (uint32_t)((x[i] + xo) * w0[i]));
    return s0;
}

void mcrt_k_conv_pixel(const int8_t *in, const int8_t *w, int32_t w_stride,
                       const mcrt_span_t *sp, int nsp, int32_t noc, const mcrt_rq_t *rq,
                       int8_t *out)
{
    const int32_t xo = rq->in_off;
    int32_t oc = 0, xsum = 0;
    int k;
    if (rq->w_off != 0) {
        /* (x + xo)(w + wo) = (x + xo) w + wo (x + xo): one input sum per pixel */
        int32_t i;
        for (k = 0; k < nsp; k++)
            for (i = 0; i < sp[k].n; i++) xsum += in[sp[k].in_off + i] + xo;
        xsum = (int32_t)((uint32_t)xsum * (uint32_t)rq->w_off);
    }
    for (; oc + 4 <= noc; oc += 4) {
        const int8_t *wc = w + oc * w_stride;
        int32_t a[4];
        a[0] = a[1] = a[2] = a[3] = xsum;
        for (k = 0; k < nsp; k++)
            dot4(in + sp[k].in_off, wc + sp[k].w_off, w_stride, sp[k].n, xo, a);
        out[oc] = requant(a[0], oc, rq);
        out[oc + 1] = requant(a[1], oc + 1, rq);
        out[oc + 2] = requant(a[2], oc + 2, rq);
        out[oc + 3] = requant(a[3], oc + 3, rq);
    }
    for (; oc < noc; oc++) {
        const int8_t *wc = w + oc * w_stride;
        int32_t a0 = xsum;
        for (k = 0; k < nsp; k++) a0 = dot1(in + sp[k].in_off, wc + sp[k].w_off, sp[k].n, xo, a0);
        out[oc] = requant(a0, oc, rq);
    }
}

void mcrt_k_dw_pixel(const int8_t *in, const int8_t *w, const mcrt_span_t *sp, int nsp,
                     int32_t in_ch, int32_t dm, const mcrt_rq_t *rq, int8_t *out)
{
    const int32_t xo = rq->in_off;
    const uint32_t off2 = ((uint32_t)xo & 0xffffu) | ((uint32_t)xo << 16);
    int32_t c = 0, m;
    int k;
    if (dm == 1) {
        for (; c + 4 <= in_ch; c += 4) {
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (k = 0; k < nsp; k++) {
                const uint32_t xw = ld32(in + sp[k].in_off + c), ww = ld32(w + sp[k].w_off + c);
                const uint32_t xa = K_SXTAB16(off2, xw), xb = K_SXTAB16_ROR8(off2, xw);
                const uint32_t wa = K_SXTB16(ww), wb = K_SXTB16_ROR8(ww);
                a0 = K_SMLABB(xa, wa, a0);
                a2 = K_SMLATT(xa, wa, a2);
                a1 = K_SMLABB(xb, wb, a1);
                a3 = K_SMLATT(xb, wb, a3);
            }
            out[c] = requant(a0, c, rq);
            out[c + 1] = requant(a1, c + 1, rq);
            out[c + 2] = requant(a2, c + 2, rq);
            out[c + 3] = requant(a3, c + 3, rq);
        }
    }
    for (; c < in_ch; c++) {
        for (m = 0; m < dm; m++) {
            const int32_t oc = c * dm + m;
            uint32_t acc = 0;
            for (k = 0; k < nsp; k++)
                acc += (uint32_t)((int32_t)(in[sp[k].in_off + c] + xo) * (int32_t)w[sp[k].w_off + oc]);
            out[oc] = requant((int32_t)acc, oc, rq);
        }
    }
}
#else
typedef int mcrt_kernels_opt_unused_t; /* ISO C: no empty translation unit */
#endif
