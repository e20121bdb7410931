/*
 * mcrt_op_add.c -- ADD: int8 + int8 -> int8 with different scales (both inputs rescaled
 * to twice the larger input scale with 20 bits of headroom, summed, rescaled to the
 * output), broadcasting over up to 4 right-aligned dimensions, fused activation.
 */
#include "mcrt_ops.h"
#include "mcrt_q.h"

static int add_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_add_params_t *p = &op->p.add;
    const mcrt_tensor_t *a = mcrt_tensor(ctx, op->in[0]), *b = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    uint8_t act;
    int rc, i;
    double twice_max, r1, r2, ro;
    if (!a || !b) return MCRT_ERR_BAD_MODEL;
    if ((rc = mcrt_check_q8(ctx, op, a)) || (rc = mcrt_check_q8(ctx, op, b)) ||
        (rc = mcrt_check_q8(ctx, op, out)))
        return rc;
    act = (uint8_t)mcrt_fb_i8(pp->fb, pp->opts, MCRT_F_AddOptions_fused_activation_function, 0);
    if (pp->fb->err) return MCRT_ERR_BAD_MODEL;
    if (a->rank > 4 || b->rank > 4 || out->rank > 4) return mcrt_op_err(ctx, op);
    /* broadcast check, right-aligned dims */
    for (i = 0; i < 4; i++) {
        int32_t da = i < a->rank ? a->dims[a->rank - 1 - i] : 1;
        int32_t db = i < b->rank ? b->dims[b->rank - 1 - i] : 1;
        int32_t dout = i < out->rank ? out->dims[out->rank - 1 - i] : 1;
        if (!(da == db || da == 1 || db == 1)) return MCRT_ERR_BAD_MODEL;
        if (dout != (da > db ? da : db)) return MCRT_ERR_BAD_MODEL;
    }
    if ((a->bytes == 0 || b->bytes == 0) && out->bytes != 0) return MCRT_ERR_BAD_MODEL;
    p->left_shift = 20;
    twice_max = 2.0 * (double)(a->scale > b->scale ? a->scale : b->scale);
    r1 = (double)a->scale / twice_max;
    r2 = (double)b->scale / twice_max;
    ro = twice_max / ((double)(1 << 20) * (double)out->scale);
    mcrt_quantize_multiplier(r1, &p->mult1, &p->shift1);
    mcrt_quantize_multiplier(r2, &p->mult2, &p->shift2);
    mcrt_quantize_multiplier(ro, &p->mult, &p->shift);
    if (p->shift1 > 0 || p->shift2 > 0 || p->shift > 0) return mcrt_op_err(ctx, op);
    if ((rc = mcrt_fused_activation(ctx, op, act, out))) return rc;
    p->in1_off = -a->zero_point;
    p->in2_off = -b->zero_point;
    p->out_off = out->zero_point;
    return MCRT_OK;
}

static int32_t add_one(const mcrt_op_t *op, int32_t a, int32_t b)
{
    const mcrt_add_params_t *p = &op->p.add;
    const int32_t sa = (a + p->in1_off) * (1 << p->left_shift);
    const int32_t sb = (b + p->in2_off) * (1 << p->left_shift);
    const int32_t ra = mcrt_rdbpot(mcrt_srdhm(sa, p->mult1), -p->shift1);
    const int32_t rb = mcrt_rdbpot(mcrt_srdhm(sb, p->mult2), -p->shift2);
    int32_t r = mcrt_rdbpot(mcrt_srdhm(ra + rb, p->mult), -p->shift) + p->out_off;
    return mcrt_clamp(r, op->act_min, op->act_max);
}

static void add_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *a = mcrt_tensor(ctx, op->in[0]), *b = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    const int8_t *pa = (const int8_t *)a->data, *pb = (const int8_t *)b->data;
    int8_t *py = (int8_t *)out->data;
    int32_t d[4], sa[4], sb[4], i0, i1, i2, i3, i;
    if (a->bytes == out->bytes && b->bytes == out->bytes) {
        uint32_t k;
        for (k = 0; k < out->bytes; k++) py[k] = (int8_t)add_one(op, pa[k], pb[k]);
        return;
    }
    /* broadcast over 4 right-aligned dims: strides are 0 on size-1 dims */
    {
        int32_t ma = 1, mb = 1;
        for (i = 3; i >= 0; i--) {
            const int k = 3 - i;
            int32_t da = k < a->rank ? a->dims[a->rank - 1 - k] : 1;
            int32_t db = k < b->rank ? b->dims[b->rank - 1 - k] : 1;
            d[i] = da > db ? da : db;
            sa[i] = da == 1 ? 0 : ma;
            sb[i] = db == 1 ? 0 : mb;
            ma *= da;
            mb *= db;
        }
    }
    for (i0 = 0; i0 < d[0]; i0++)
        for (i1 = 0; i1 < d[1]; i1++)
            for (i2 = 0; i2 < d[2]; i2++)
                for (i3 = 0; i3 < d[3]; i3++) {
                    int32_t ia = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
                    int32_t ib = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
                    *py++ = (int8_t)add_one(op, pa[ia], pb[ib]);
                }
}

const mcrt_op_reg_t mcrt_op_add = {
    .code = MCRT_OP_ADD,
    .prepare = add_prepare,
    .invoke = add_invoke,
};
