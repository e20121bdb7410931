/*
 * mcrt_kernels_cx.c -- kernel set on the dot4 custom instructions (include/mcusim_cx.h;
 * the model: mcusim/accelerators/dot4.py). Linked into the infer-cx images instead of
 * mcrt_kernels_ref.c / mcrt_kernels_opt.c; the standard images do not contain it.
 *
 * Same contract and same bits as the other kernel sets (mcrt_kernels.h): the coprocessor
 * holds the input offset and the accumulators; DOT4 adds sum_i (x_i + OFF) * w_i of four
 * int8 pairs to one accumulator (four output channels share each loaded input word), MAC4
 * adds the four products to four accumulators (depthwise, four channels at a time). All
 * sums wrap modulo 2^32 like the reference kernels' int32 accumulators. Tails shorter than
 * four values are done in C and added after the accumulators are read.
 */
#ifdef MCUSIM_KERNELS_CX
#include <string.h>
#include "mcrt_kernels.h"
#include "mcrt_fb.h"
#include "mcrt_q.h"
#include "mcusim_accel.h"
#include "mcusim_cx.h"

const char mcrt_kernel_set_name[] = "cx";

static uint8_t cx_ready;

/* CPACR: grant access to the coprocessor once (the instructions fault without it) */
static void cx_enable(void)
{
    if (!cx_ready) {
        (void)mcusim_accel_coprocessor_enable(MCUSIM_CX_CP);
        cx_ready = 1;
    }
}

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

void mcrt_k_conv_pixel(const int8_t *in, const int8_t *w, int32_t w_stride,
                       const mcrt_span_t *sp, int nsp, int32_t noc, const mcrt_rq_t *rq,
                       int8_t *out)
{
    const int32_t xo = rq->in_off;
    int32_t oc = 0, xsum = 0;
    int k;
    cx_enable();
    MCUSIM_CX_SET_OFFSET(xo);
    if (rq->w_off != 0) {
        /* (x + xo)(w + wo) = (x + xo) w + wo (x + xo): one input sum per pixel */
        int32_t i;
        for (k = 0; k < nsp; k++)
            for (i = 0; i < sp[k].n; i++) xsum += in[sp[k].in_off + i] + xo;
        xsum = (int32_t)((uint32_t)xsum * (uint32_t)rq->w_off);
    }
    for (; oc + 4 <= noc; oc += 4) {
        const int8_t *wc = w + oc * w_stride;
        uint32_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        int32_t a0, a1, a2, a3;
        MCUSIM_CX_SET_ACC(0, xsum);
        MCUSIM_CX_SET_ACC(1, xsum);
        MCUSIM_CX_SET_ACC(2, xsum);
        MCUSIM_CX_SET_ACC(3, xsum);
        for (k = 0; k < nsp; k++) {
            const int8_t *x = in + sp[k].in_off;
            const int8_t *w0 = wc + sp[k].w_off, *w1 = w0 + w_stride, *w2 = w1 + w_stride,
                         *w3 = w2 + w_stride;
            const int32_t n = sp[k].n;
            int32_t i = 0;
            for (; i + 4 <= n; i += 4) {
                const uint32_t xw = ld32(x + i);
                MCUSIM_CX_DOT4(0, xw, ld32(w0 + i));
                MCUSIM_CX_DOT4(1, xw, ld32(w1 + i));
                MCUSIM_CX_DOT4(2, xw, ld32(w2 + i));
                MCUSIM_CX_DOT4(3, xw, ld32(w3 + i));
            }
            for (; i < n; i++) {
                const int32_t xv = x[i] + xo;
                t0 += (uint32_t)(xv * w0[i]);
                t1 += (uint32_t)(xv * w1[i]);
                t2 += (uint32_t)(xv * w2[i]);
                t3 += (uint32_t)(xv * w3[i]);
            }
        }
        MCUSIM_CX_GET_ACC(0, a0);
        MCUSIM_CX_GET_ACC(1, a1);
        MCUSIM_CX_GET_ACC(2, a2);
        MCUSIM_CX_GET_ACC(3, a3);
        out[oc] = requant((int32_t)((uint32_t)a0 + t0), oc, rq);
        out[oc + 1] = requant((int32_t)((uint32_t)a1 + t1), oc + 1, rq);
        out[oc + 2] = requant((int32_t)((uint32_t)a2 + t2), oc + 2, rq);
        out[oc + 3] = requant((int32_t)((uint32_t)a3 + t3), oc + 3, rq);
    }
    for (; oc < noc; oc++) {
        const int8_t *wc = w + oc * w_stride;
        uint32_t t0 = 0;
        int32_t a0;
        MCUSIM_CX_SET_ACC(0, xsum);
        for (k = 0; k < nsp; k++) {
            const int8_t *x = in + sp[k].in_off, *w0 = wc + sp[k].w_off;
            const int32_t n = sp[k].n;
            int32_t i = 0;
            for (; i + 4 <= n; i += 4) MCUSIM_CX_DOT4(0, ld32(x + i), ld32(w0 + i));
            for (; i < n; i++) t0 += (uint32_t)((x[i] + xo) * w0[i]);
        }
        MCUSIM_CX_GET_ACC(0, a0);
        out[oc] = requant((int32_t)((uint32_t)a0 + t0), oc, rq);
    }
}

void mcrt_k_dw_pixel(const int8_t *in, const int8_t *w, const mcrt_span_t *sp, int nsp,
                     int32_t in_ch, int32_t dm, const mcrt_rq_t *rq, int8_t *out)
{
    const int32_t xo = rq->in_off;
    const uint32_t zero = 0;
    int32_t c = 0, m;
    int k;
    cx_enable();
    MCUSIM_CX_SET_OFFSET(xo);
    if (dm == 1) {
        for (; c + 4 <= in_ch; c += 4) {
            int32_t a0, a1, a2, a3;
            MCUSIM_CX_SET_ACC(0, zero);
            MCUSIM_CX_SET_ACC(1, zero);
            MCUSIM_CX_SET_ACC(2, zero);
            MCUSIM_CX_SET_ACC(3, zero);
            for (k = 0; k < nsp; k++)
                MCUSIM_CX_MAC4(0, ld32(in + sp[k].in_off + c), ld32(w + sp[k].w_off + c));
            MCUSIM_CX_GET_ACC(0, a0);
            MCUSIM_CX_GET_ACC(1, a1);
            MCUSIM_CX_GET_ACC(2, a2);
            MCUSIM_CX_GET_ACC(3, a3);
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
                acc += (uint32_t)((in[sp[k].in_off + c] + xo) * w[sp[k].w_off + oc]);
            out[oc] = requant((int32_t)acc, oc, rq);
        }
    }
}
#else
typedef int mcrt_kernels_cx_unused_t; /* ISO C: no empty translation unit */
#endif
