/*
 * mcrt_op_average_pool_2d.c -- AVERAGE_POOL_2D: int8 [N, H, W, C] -> int8, window
 * fw x fh, strides, SAME/VALID padding, fused activation. The average is over the window
 * positions inside the input, rounded half away from zero (TFLite's rule).
 */
#include "mcrt_op_common.h"
#include "mcrt_q.h"

static void average_pool_2d_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_pool_params_t *p = &op->p.pool;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    const int32_t N = in->dims[0], H = in->dims[1], W = in->dims[2], C = in->dims[3];
    const int32_t OH = out->dims[1], OW = out->dims[2];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)out->data;
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < N; b++)
        for (oy = 0; oy < OH; oy++)
            for (ox = 0; ox < OW; ox++) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
                const int32_t fy1 = H - iy0 < p->fh ? H - iy0 : p->fh;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = W - ix0 < p->fw ? W - ix0 : p->fw;
                int8_t *yp = y + ((b * OH + oy) * OW + ox) * C;
                for (c = 0; c < C; c++) {
                    int32_t acc = 0, cnt = 0;
                    for (fy = fy0; fy < fy1; fy++)
                        for (fx = fx0; fx < fx1; fx++) {
                            acc += x[((b * H + iy0 + fy) * W + ix0 + fx) * C + c];
                            cnt++;
                        }
                    if (cnt == 0) cnt = 1;  /* empty window: TFLM fails; emit 0 */
                    acc = acc > 0 ? (acc + cnt / 2) / cnt : (acc - cnt / 2) / cnt;
                    yp[c] = (int8_t)mcrt_clamp(acc, op->act_min, op->act_max);
                }
            }
}

const mcrt_op_reg_t mcrt_op_average_pool_2d = {
    .code = MCRT_OP_AVERAGE_POOL_2D,
    .prepare = mcrt_pool_prepare,
    .invoke = average_pool_2d_invoke,
};
