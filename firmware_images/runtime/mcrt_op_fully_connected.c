/*
 * mcrt_op_fully_connected.c -- FULLY_CONNECTED: int8 input (any shape; rows of D values),
 * int8 weights [U, D] (per-tensor scale with any zero point, or per-channel scales),
 * optional int32 bias [U], int8 output with U values per row; fused activation. Shuffled
 * weights are not supported.
 */
#include "mcrt_op_common.h"
#include "mcrt_q.h"

static int fully_connected_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_fb_t *fb = pp->fb;
    mcrt_fc_params_t *p = &op->p.fc;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    int32_t OU, ID;
    uint32_t ein, batches;
    uint8_t act;
    int rc;
    if (!in || !w) return MCRT_ERR_BAD_MODEL;
    if ((rc = mcrt_check_q8(ctx, op, in)) || (rc = mcrt_check_q8(ctx, op, out))) return rc;
    if (w->type != MCRT_TYPE_INT8) return mcrt_type_err(ctx, op, w);
    act = (uint8_t)mcrt_fb_i8(fb, pp->opts,
                              MCRT_F_FullyConnectedOptions_fused_activation_function, 0);
    if (mcrt_fb_u8(fb, pp->opts, MCRT_F_FullyConnectedOptions_weights_format,
                   MCRT_FC_WEIGHTS_DEFAULT) != MCRT_FC_WEIGHTS_DEFAULT)
        return mcrt_op_err(ctx, op);
    if (fb->err) return MCRT_ERR_BAD_MODEL;
    if (w->rank != 2 || out->rank < 1) return MCRT_ERR_BAD_MODEL;
    OU = w->dims[0];
    ID = w->dims[1];
    if (OU < 1 || ID < 1) return MCRT_ERR_BAD_MODEL;
    ein = in->bytes;
    if (ein % (uint32_t)ID) return MCRT_ERR_BAD_MODEL;
    batches = ein / (uint32_t)ID;
    if (out->bytes != batches * (uint32_t)OU || out->dims[out->rank - 1] != OU)
        return MCRT_ERR_BAD_MODEL;
    if (w->nscale < 1 || w->zero_point < -128 || w->zero_point > 127)
        return MCRT_ERR_BAD_MODEL;
    if ((rc = mcrt_rq_check_bias(ctx, op, &p->rq, OU))) return rc;
    if ((rc = mcrt_fused_activation(ctx, op, act, out))) return rc;
    if (w->nscale_full > 1) {
        if ((rc = mcrt_rq_reserve_channels(pp, &p->rq, w, OU, 0))) return rc;
    } else {
        double real;
        if (!(w->scale >= 0.0f && w->scale <= 3.0e38f)) return MCRT_ERR_BAD_MODEL;
        real = (double)(in->scale * w->scale) / (double)out->scale;
        mcrt_quantize_multiplier(real, &p->rq.mult, &p->rq.shift);
        if (!mcrt_shift_ok(p->rq.shift)) return mcrt_op_err(ctx, op);
    }
    p->rq.in_off = -in->zero_point;
    p->rq.w_off = -w->zero_point;
    p->rq.out_off = out->zero_point;
    p->depth = ID;
    p->units = OU;
    op->macs = mcrt_sat_macs((uint64_t)batches * OU * ID);
    return MCRT_OK;
}

static int fully_connected_bind(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    return mcrt_rq_fill_channels(ctx, op, &op->p.fc.rq);
}

/* Each input row is one span of D values, multiplied with every weight row. */
static void fully_connected_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_fc_params_t *p = &op->p.fc;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    const int32_t ID = p->depth, OU = p->units;
    const uint32_t batches = in->bytes / (uint32_t)ID;
    mcrt_span_t sp;
    mcrt_rq_t rq;
    uint32_t b;
    mcrt_rq_make(ctx, op, &p->rq, &rq);
    sp.w_off = 0;
    sp.n = ID;
    for (b = 0; b < batches; b++) {
        sp.in_off = (int32_t)b * ID;
        mcrt_k_conv_pixel((const int8_t *)in->data, (const int8_t *)w->data, ID, &sp, 1, OU,
                          &rq, (int8_t *)out->data + b * (uint32_t)OU);
    }
}

const mcrt_op_reg_t mcrt_op_fully_connected = {
    .code = MCRT_OP_FULLY_CONNECTED,
    .prepare = fully_connected_prepare,
    .bind = fully_connected_bind,
    .invoke = fully_connected_invoke,
};
