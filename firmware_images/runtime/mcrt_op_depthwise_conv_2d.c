/*
 * mcrt_op_depthwise_conv_2d.c -- DEPTHWISE_CONV_2D: int8 input [N, H, W, C], int8 filter
 * [1, KH, KW, C * M] (M = depth multiplier; per-channel or per-tensor scales), optional
 * int32 bias [C * M]; SAME/VALID padding, strides, dilation, fused activation.
 */
#include "mcrt_op_common.h"

static int depthwise_conv_2d_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_fb_t *fb = pp->fb;
    mcrt_conv_params_t *p = &op->p.conv;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    int32_t C, OC;
    uint8_t padding, act;
    int rc;
    if (!in || !w) return MCRT_ERR_BAD_MODEL;
    if ((rc = mcrt_check_q8(ctx, op, in)) || (rc = mcrt_check_q8(ctx, op, out))) return rc;
    if (w->type != MCRT_TYPE_INT8) return mcrt_type_err(ctx, op, w);
    if (in->rank != 4 || w->rank != 4 || out->rank != 4) return MCRT_ERR_BAD_MODEL;
    padding = mcrt_fb_u8(fb, pp->opts, MCRT_F_DepthwiseConv2DOptions_padding, 0);
    p->stride_w = mcrt_fb_i32(fb, pp->opts, MCRT_F_DepthwiseConv2DOptions_stride_w, 0);
    p->stride_h = mcrt_fb_i32(fb, pp->opts, MCRT_F_DepthwiseConv2DOptions_stride_h, 0);
    p->depth_mult = mcrt_fb_i32(fb, pp->opts, MCRT_F_DepthwiseConv2DOptions_depth_multiplier, 0);
    act = (uint8_t)mcrt_fb_i8(fb, pp->opts,
                              MCRT_F_DepthwiseConv2DOptions_fused_activation_function, 0);
    p->dil_w = mcrt_fb_i32(fb, pp->opts, MCRT_F_DepthwiseConv2DOptions_dilation_w_factor, 1);
    p->dil_h = mcrt_fb_i32(fb, pp->opts, MCRT_F_DepthwiseConv2DOptions_dilation_h_factor, 1);
    C = in->dims[3];
    OC = w->dims[3];
    if (w->dims[0] != 1 || C <= 0) return MCRT_ERR_BAD_MODEL;
    /* the option is redundant (newer converters may leave it 0): the shapes decide */
    if (p->depth_mult <= 0) p->depth_mult = OC / C;
    if ((int64_t)C * p->depth_mult != OC) return MCRT_ERR_BAD_MODEL;
    return mcrt_conv_prepare_window(pp, op, p, padding, act, w->dims[1], w->dims[2], OC, 1);
}

static int depthwise_conv_2d_bind(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    return mcrt_rq_fill_channels(ctx, op, &op->p.conv.rq);
}

/* Per output pixel, each filter tap inside the input is one span (n unused); the kernel
 * does all C * M output channels. */
static void depthwise_conv_2d_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_conv_params_t *p = &op->p.conv;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    const int32_t N = in->dims[0], H = in->dims[1], W = in->dims[2], C = in->dims[3];
    const int32_t OH = out->dims[1], OW = out->dims[2], OC = out->dims[3];
    const int32_t KH = p->fh, KW = p->fw;
    const int8_t *x = (const int8_t *)in->data, *wd = (const int8_t *)w->data;
    int8_t *y = (int8_t *)out->data;
    mcrt_span_t sp[MCRT_MAX_SPANS];
    mcrt_rq_t rq;
    int32_t b, oy, ox, fy, fx;
    mcrt_rq_make(ctx, op, &p->rq, &rq);
    for (b = 0; b < N; b++)
        for (oy = 0; oy < OH; oy++)
            for (ox = 0; ox < OW; ox++) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int nsp = 0;
                for (fy = 0; fy < KH; fy++) {
                    const int32_t iy = iy0 + fy * p->dil_h;
                    if (iy < 0 || iy >= H) continue;
                    for (fx = 0; fx < KW; fx++) {
                        const int32_t ix = ix0 + fx * p->dil_w;
                        if (ix < 0 || ix >= W) continue;
                        sp[nsp].in_off = ((b * H + iy) * W + ix) * C;
                        sp[nsp].w_off = (fy * KW + fx) * OC;
                        sp[nsp].n = 1;
                        nsp++;
                    }
                }
                mcrt_k_dw_pixel(x, wd, sp, nsp, C, p->depth_mult, &rq,
                                y + ((b * OH + oy) * OW + ox) * OC);
            }
}

const mcrt_op_reg_t mcrt_op_depthwise_conv_2d = {
    .code = MCRT_OP_DEPTHWISE_CONV_2D,
    .prepare = depthwise_conv_2d_prepare,
    .bind = depthwise_conv_2d_bind,
    .invoke = depthwise_conv_2d_invoke,
};
