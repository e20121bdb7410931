/*
 * mcrt_op_conv_2d.c -- CONV_2D: int8 input [N, H, W, C], int8 filter [OC, KH, KW, C]
 * (per-channel or per-tensor scales, symmetric), optional int32 bias [OC]; SAME/VALID
 * padding, strides, dilation, fused activation. Grouped convolution is not supported.
 */
#include "mcrt_op_common.h"

static int conv_2d_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_fb_t *fb = pp->fb;
    mcrt_conv_params_t *p = &op->p.conv;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    uint8_t padding, act;
    int rc;
    if (!in || !w) return MCRT_ERR_BAD_MODEL;
    if ((rc = mcrt_check_q8(ctx, op, in)) || (rc = mcrt_check_q8(ctx, op, out))) return rc;
    if (w->type != MCRT_TYPE_INT8) return mcrt_type_err(ctx, op, w);
    if (in->rank != 4 || w->rank != 4 || out->rank != 4) return MCRT_ERR_BAD_MODEL;
    padding = mcrt_fb_u8(fb, pp->opts, MCRT_F_Conv2DOptions_padding, 0);
    p->stride_w = mcrt_fb_i32(fb, pp->opts, MCRT_F_Conv2DOptions_stride_w, 0);
    p->stride_h = mcrt_fb_i32(fb, pp->opts, MCRT_F_Conv2DOptions_stride_h, 0);
    act = (uint8_t)mcrt_fb_i8(fb, pp->opts, MCRT_F_Conv2DOptions_fused_activation_function, 0);
    p->dil_w = mcrt_fb_i32(fb, pp->opts, MCRT_F_Conv2DOptions_dilation_w_factor, 1);
    p->dil_h = mcrt_fb_i32(fb, pp->opts, MCRT_F_Conv2DOptions_dilation_h_factor, 1);
    if (w->dims[3] != in->dims[3]) return mcrt_op_err(ctx, op);   /* grouped conv */
    return mcrt_conv_prepare_window(pp, op, p, padding, act, w->dims[1], w->dims[2],
                                    w->dims[0], 0);
}

static int conv_2d_bind(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    return mcrt_rq_fill_channels(ctx, op, &op->p.conv.rq);
}

/* Per output pixel, the filter taps that fall inside the input become runs of
 * contiguous input values (a whole filter row at once without width dilation); the
 * kernel multiplies them with the weights of every output channel. */
static void conv_2d_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
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
                    if (p->dil_w == 1) {
                        int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                        int32_t fx1 = W - ix0 < KW ? W - ix0 : KW;
                        if (fx1 <= fx0) continue;
                        sp[nsp].in_off = ((b * H + iy) * W + ix0 + fx0) * C;
                        sp[nsp].w_off = (fy * KW + fx0) * C;
                        sp[nsp].n = (fx1 - fx0) * C;
                        nsp++;
                    } else {
                        for (fx = 0; fx < KW; fx++) {
                            const int32_t ix = ix0 + fx * p->dil_w;
                            if (ix < 0 || ix >= W) continue;
                            sp[nsp].in_off = ((b * H + iy) * W + ix) * C;
                            sp[nsp].w_off = (fy * KW + fx) * C;
                            sp[nsp].n = C;
                            nsp++;
                        }
                    }
                }
                mcrt_k_conv_pixel(x, wd, KH * KW * C, sp, nsp, OC, &rq,
                                  y + ((b * OH + oy) * OW + ox) * OC);
            }
}

const mcrt_op_reg_t mcrt_op_conv_2d = {
    .code = MCRT_OP_CONV_2D,
    .prepare = conv_2d_prepare,
    .bind = conv_2d_bind,
    .invoke = conv_2d_invoke,
};
