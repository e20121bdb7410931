/* mcrt_kernels_ref.c -- portable C kernel set (the default; see mcrt_kernels.h). */
#ifndef MCUSIM_KERNELS_OPT
#include "mcrt_kernels.h"
#include "mcrt_fb.h"
#include "mcrt_q.h"

const char mcrt_kernel_set_name[] = "ref";

static int8_t requant(int32_t acc, int32_t oc, const mcrt_rq_t *rq)
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
    int32_t oc, i, xsum = 0;
    int k;
    if (rq->w_off != 0) {
        /* (x + xo)(w + wo) = (x + xo) w + wo (x + xo): one input sum per pixel */
        for (k = 0; k < nsp; k++)
            for (i = 0; i < sp[k].n; i++) xsum += in[sp[k].in_off + i] + xo;
        xsum = (int32_t)((uint32_t)xsum * (uint32_t)rq->w_off);
    }
    for (oc = 0; oc < noc; oc++) {
        const int8_t *wc = w + oc * w_stride;
        uint32_t acc = (uint32_t)xsum;
        for (k = 0; k < nsp; k++) {
            const int8_t *x = in + sp[k].in_off;
            const int8_t *ww = wc + sp[k].w_off;
            const int32_t n = sp[k].n;
            for (i = 0; i < n; i++) acc += (uint32_t)((x[i] + xo) * ww[i]);
        }
        out[oc] = requant((int32_t)acc, oc, rq);
    }
}

void mcrt_k_dw_pixel(const int8_t *in, const int8_t *w, const mcrt_span_t *sp, int nsp,
                     int32_t in_ch, int32_t dm, const mcrt_rq_t *rq, int8_t *out)
{
    const int32_t xo = rq->in_off;
    int32_t c, m;
    int k;
    for (c = 0; c < in_ch; c++) {
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
typedef int mcrt_kernels_ref_unused_t; /* ISO C: no empty translation unit */
#endif
