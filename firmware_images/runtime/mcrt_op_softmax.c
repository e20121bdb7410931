/*
 * mcrt_op_softmax.c -- SOFTMAX: int8 -> int8 (output scale 1/256, zero point -128) along
 * the last dimension, any beta; exp and reciprocal in gemmlowp fixed point.
 */
#include "mcrt_ops.h"
#include "mcrt_q.h"

static int softmax_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_softmax_params_t *p = &op->p.softmax;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    float beta = mcrt_fb_f32(pp->fb, pp->opts, MCRT_F_SoftmaxOptions_beta, 0.0f);
    double real;
    int32_t m, s, depth;
    int rc;
    if ((rc = mcrt_check_q8(ctx, op, in)) || (rc = mcrt_check_q8(ctx, op, out))) return rc;
    if (pp->fb->err) return MCRT_ERR_BAD_MODEL;
    if (in->rank < 1 || in->bytes != out->bytes) return MCRT_ERR_BAD_MODEL;
    depth = in->dims[in->rank - 1];
    if (depth < 1 || depth > 4096 || out->dims[out->rank - 1] != depth)
        return MCRT_ERR_BAD_MODEL;
    if (out->zero_point != -128 || out->scale != 1.0f / 256.0f) return mcrt_op_err(ctx, op);
    if (!(beta >= 0.0f && beta <= 3.0e38f)) return MCRT_ERR_BAD_MODEL;
    real = (double)beta * (double)in->scale * (double)(1 << (31 - 5));
    if (real > 2147483647.0) real = 2147483647.0;
    if (!(real > 1.0)) return mcrt_op_err(ctx, op);
    mcrt_quantize_multiplier(real, &m, &s);
    if (s < 0 || s > 30) return mcrt_op_err(ctx, op);
    p->mult = m;
    p->shift = s;
    /* diff_min = -floor(31 * 2^26 / 2^s) */
    p->diff_min = -(int32_t)((UINT64_C(31) << 26) >> s);
    p->depth = depth;
    return MCRT_OK;
}

static int clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

static void softmax_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_softmax_params_t *p = &op->p.softmax;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    const int32_t depth = p->depth;
    const uint32_t rows = in->bytes / (uint32_t)depth;
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)out->data;
    uint32_t r;
    int32_t c;
    for (r = 0; r < rows; r++, x += depth, y += depth) {
        int32_t mx = -128, sum = 0, scale, nbits, e;
        int hr;
        for (c = 0; c < depth; c++)
            if (x[c] > mx) mx = x[c];
        for (c = 0; c < depth; c++) {
            int32_t diff = x[c] - mx;
            if (diff >= p->diff_min) {
                int32_t sd = mcrt_srdhm((int32_t)((uint32_t)diff << p->shift), p->mult);
                sum = (int32_t)((uint32_t)sum +
                                (uint32_t)mcrt_rdbpot(mcrt_exp_on_negative_values_q5(sd), 12));
            }
        }
        /* reciprocal of sum (Q12.19) */
        hr = clz32((uint32_t)sum);
        nbits = 12 - hr;
        scale = mcrt_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum << hr) - UINT32_C(0x80000000)));
        e = nbits + 31 - 8;
        if (e > 31) e = 31;
        if (e < 0) e = 0;
        for (c = 0; c < depth; c++) {
            int32_t diff = x[c] - mx;
            if (diff >= p->diff_min) {
                int32_t sd = mcrt_srdhm((int32_t)((uint32_t)diff << p->shift), p->mult);
                int32_t v = mcrt_rdbpot(mcrt_srdhm(scale, mcrt_exp_on_negative_values_q5(sd)), e);
                y[c] = (int8_t)mcrt_clamp(v - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}

const mcrt_op_reg_t mcrt_op_softmax = {
    .code = MCRT_OP_SOFTMAX,
    .prepare = softmax_prepare,
    .invoke = softmax_invoke,
};
