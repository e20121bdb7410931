/* mcrt_op_common.c -- setup shared by operator families, see mcrt_op_common.h. */
#include "mcrt_op_common.h"
#include "mcrt_q.h"

/* ------------------------------------------------------------ requantization */

int mcrt_rq_check_bias(mcrt_ctx_t *ctx, const mcrt_op_t *op, mcrt_rq_params_t *q,
                       int32_t nch)
{
    const mcrt_tensor_t *b = mcrt_tensor(ctx, op->in[2]);
    if (!b) {
        q->has_bias = 0;
        return MCRT_OK;
    }
    if (b->type != MCRT_TYPE_INT32) return mcrt_type_err(ctx, op, b);
    if (b->bytes != 4u * (uint32_t)nch) return MCRT_ERR_BAD_MODEL;
    q->has_bias = 1;
    return MCRT_OK;
}

int mcrt_rq_reserve_channels(mcrt_prep_t *pp, mcrt_rq_params_t *q, const mcrt_tensor_t *w,
                             int32_t nch, int qdim)
{
    uint32_t i;
    if (w->nscale_full != 1 && w->nscale_full != (uint32_t)nch) return MCRT_ERR_BAD_MODEL;
    if (w->nscale_full > 1 && w->qdim != qdim) return MCRT_ERR_BAD_MODEL;
    for (i = 0; i < w->nscale_full; i++) {
        float s = mcrt_ld_f32(pp->fb->b + w->qscale_pos + 4 * i);
        if (!(s >= 0.0f && s <= 3.0e38f)) return MCRT_ERR_BAD_MODEL;
    }
    q->nch = (uint32_t)nch;
    /* int32 mult[nch], then int8 shift[nch] */
    q->pc_off = mcrt_reserve_persistent(pp, MCRT_ALIGN_UP(4u * (uint32_t)nch) +
                                                MCRT_ALIGN_UP((uint32_t)nch));
    return MCRT_OK;
}

static uint8_t *channel_tables(mcrt_ctx_t *ctx, const mcrt_rq_params_t *q)
{
    return ctx->arena + ctx->planned_bytes + q->pc_off;
}

int mcrt_rq_fill_channels(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_rq_params_t *q)
{
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    uint8_t *base = channel_tables(ctx, q);
    int32_t *mult = (int32_t *)(void *)base;
    int8_t *shift = (int8_t *)(base + MCRT_ALIGN_UP(4u * q->nch));
    uint32_t c;
    for (c = 0; c < q->nch; c++) {
        float fs = mcrt_ld_f32(ctx->model + w->qscale_pos + 4 * (w->nscale_full > 1 ? c : 0));
        double eff = (double)in->scale * (double)fs / (double)out->scale;
        int32_t m, s;
        mcrt_quantize_multiplier(eff, &m, &s);
        if (!mcrt_shift_ok(s)) return MCRT_ERR_UNSUPPORTED;
        mult[c] = m;
        shift[c] = (int8_t)s;
    }
    return MCRT_OK;
}

void mcrt_rq_make(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_rq_params_t *q,
                  mcrt_rq_t *rq)
{
    const mcrt_tensor_t *b = mcrt_tensor(ctx, op->in[2]);
    rq->bias = (q->has_bias && b) ? b->data : 0;
    if (q->nch) {
        uint8_t *base = channel_tables(ctx, q);
        rq->mult = (const int32_t *)(const void *)base;
        rq->shift = (const int8_t *)(base + MCRT_ALIGN_UP(4u * q->nch));
    } else {
        rq->mult = 0;
        rq->shift = 0;
    }
    rq->mult0 = q->mult;
    rq->shift0 = q->shift;
    rq->in_off = q->in_off;
    rq->w_off = q->w_off;
    rq->out_off = q->out_off;
    rq->act_min = op->act_min;
    rq->act_max = op->act_max;
}

/* ------------------------------------------------------------------- windows */

/* Output size along one axis (TFLite's rule for SAME and VALID padding). */
static int32_t out_size(int padding, int32_t in, int32_t f, int32_t stride, int32_t dil)
{
    int32_t eff = (f - 1) * dil + 1;
    if (padding == MCRT_PADDING_SAME) return (in + stride - 1) / stride;
    return (in + stride - eff) / stride;
}

/* Padding before the first element along one axis (the smaller half). */
static int32_t pad_size(int32_t stride, int32_t dil, int32_t in, int32_t f, int32_t out)
{
    int32_t eff = (f - 1) * dil + 1;
    int32_t total = (out - 1) * stride + eff - in;
    return total > 0 ? total / 2 : 0;
}

int mcrt_conv_prepare_window(mcrt_prep_t *pp, mcrt_op_t *op, mcrt_conv_params_t *p,
                             uint8_t padding, uint8_t act, int32_t KH, int32_t KW,
                             int32_t OC, int depthwise)
{
    mcrt_ctx_t *ctx = pp->ctx;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    const int32_t N = in->dims[0], H = in->dims[1], W = in->dims[2], C = in->dims[3];
    int32_t OH, OW;
    int rc;
    if (pp->fb->err) return MCRT_ERR_BAD_MODEL;
    if (padding > MCRT_PADDING_VALID) return mcrt_op_err(ctx, op);
    if (p->stride_w < 1 || p->stride_h < 1 || p->dil_w < 1 || p->dil_h < 1 ||
        p->stride_w > 65535 || p->stride_h > 65535 || p->dil_w > 65535 || p->dil_h > 65535)
        return MCRT_ERR_BAD_MODEL;
    if (KH < 1 || KW < 1 || OC < 1) return MCRT_ERR_BAD_MODEL;
    /* the kernels take at most MCRT_MAX_SPANS runs of taps per output pixel: one per
     * filter row (CONV_2D without width dilation) or one per tap */
    if (depthwise ? (KH * KW > MCRT_MAX_SPANS)
                  : ((p->dil_w == 1 ? KH : KH * KW) > MCRT_MAX_SPANS))
        return mcrt_op_err(ctx, op);
    OH = out_size(padding, H, KH, p->stride_h, p->dil_h);
    OW = out_size(padding, W, KW, p->stride_w, p->dil_w);
    if (out->dims[0] != N || out->dims[1] != OH || out->dims[2] != OW || out->dims[3] != OC)
        return MCRT_ERR_BAD_MODEL;
    p->pad_h = pad_size(p->stride_h, p->dil_h, H, KH, OH);
    p->pad_w = pad_size(p->stride_w, p->dil_w, W, KW, OW);
    p->fh = KH;
    p->fw = KW;
    if ((rc = mcrt_rq_check_bias(ctx, op, &p->rq, OC))) return rc;
    if ((rc = mcrt_fused_activation(ctx, op, act, out))) return rc;
    /* per-channel scales run along the output channels: dimension 0 of a CONV_2D
     * filter [OC, KH, KW, C], dimension 3 of a DEPTHWISE_CONV_2D one [1, KH, KW, OC] */
    if ((rc = mcrt_rq_reserve_channels(pp, &p->rq, w, OC, depthwise ? 3 : 0))) return rc;
    p->rq.in_off = -in->zero_point;
    p->rq.out_off = out->zero_point;
    p->rq.w_off = 0;   /* int8 conv weights are symmetric; the zero point is ignored */
    op->macs = mcrt_sat_macs((uint64_t)N * (uint64_t)OH * (uint64_t)OW * (uint64_t)OC *
                             (uint64_t)KH * (uint64_t)KW * (uint64_t)(depthwise ? 1 : C));
    return MCRT_OK;
}

int mcrt_pool_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_fb_t *fb = pp->fb;
    mcrt_pool_params_t *p = &op->p.pool;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    uint8_t padding, act;
    int rc;
    int32_t OH, OW;
    if ((rc = mcrt_check_q8(ctx, op, in)) || (rc = mcrt_check_q8(ctx, op, out))) return rc;
    if (in->rank != 4 || out->rank != 4) return MCRT_ERR_BAD_MODEL;
    padding = mcrt_fb_u8(fb, pp->opts, MCRT_F_Pool2DOptions_padding, 0);
    p->stride_w = mcrt_fb_i32(fb, pp->opts, MCRT_F_Pool2DOptions_stride_w, 0);
    p->stride_h = mcrt_fb_i32(fb, pp->opts, MCRT_F_Pool2DOptions_stride_h, 0);
    p->fw = mcrt_fb_i32(fb, pp->opts, MCRT_F_Pool2DOptions_filter_width, 0);
    p->fh = mcrt_fb_i32(fb, pp->opts, MCRT_F_Pool2DOptions_filter_height, 0);
    act = (uint8_t)mcrt_fb_i8(fb, pp->opts, MCRT_F_Pool2DOptions_fused_activation_function, 0);
    if (fb->err) return MCRT_ERR_BAD_MODEL;
    if (padding > MCRT_PADDING_VALID) return mcrt_op_err(ctx, op);
    if (p->stride_w < 1 || p->stride_h < 1 || p->fw < 1 || p->fh < 1 ||
        p->stride_w > 65535 || p->stride_h > 65535 || p->fw > 65535 || p->fh > 65535)
        return MCRT_ERR_BAD_MODEL;
    OH = out_size(padding, in->dims[1], p->fh, p->stride_h, 1);
    OW = out_size(padding, in->dims[2], p->fw, p->stride_w, 1);
    if (out->dims[0] != in->dims[0] || out->dims[1] != OH || out->dims[2] != OW ||
        out->dims[3] != in->dims[3])
        return MCRT_ERR_BAD_MODEL;
    p->pad_h = pad_size(p->stride_h, 1, in->dims[1], p->fh, OH);
    p->pad_w = pad_size(p->stride_w, 1, in->dims[2], p->fw, OW);
    return mcrt_fused_activation(ctx, op, act, out);
}
