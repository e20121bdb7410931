/*
 * mcrt_op_common.h -- setup shared by operator families (internal to mcrt):
 *  - the requantizing operators CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: bias check,
 *    per-channel multiplier tables (reserved at prepare, filled at bind), the kernels'
 *    requantization record at invoke;
 *  - the windowed operators: the convolutions' window, output shape, padding and MACs,
 *    and the pools' whole prepare.
 */
#ifndef MCRT_OP_COMMON_H
#define MCRT_OP_COMMON_H
#include "mcrt_ops.h"
#include "mcrt_kernels.h"

/* Bias input op->in[2]: absent, or int32 with one value per output channel (nch). */
int mcrt_rq_check_bias(mcrt_ctx_t *ctx, const mcrt_op_t *op, mcrt_rq_params_t *q,
                       int32_t nch);
/* Per-channel (or one broadcast) weight scales of w, quantized along dimension qdim:
 * validates them and reserves the persistent tables of nch channels. */
int mcrt_rq_reserve_channels(mcrt_prep_t *pp, mcrt_rq_params_t *q, const mcrt_tensor_t *w,
                             int32_t nch, int qdim);
/* bind: fills the per-channel tables (if any) from the input, weight and output scales. */
int mcrt_rq_fill_channels(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_rq_params_t *q);
/* invoke: the kernels' requantization record. */
void mcrt_rq_make(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_rq_params_t *q,
                  mcrt_rq_t *rq);

/* CONV_2D / DEPTHWISE_CONV_2D prepare after the options are read into p (strides,
 * dilations, depth multiplier) and the filter size KH x KW with OC output channels is
 * known: checks the window, output shape, bias and quantization, computes padding,
 * activation clamp, per-channel tables and MACs. */
int mcrt_conv_prepare_window(mcrt_prep_t *pp, mcrt_op_t *op, mcrt_conv_params_t *p,
                             uint8_t padding, uint8_t act, int32_t KH, int32_t KW,
                             int32_t OC, int depthwise);

/* AVERAGE_POOL_2D / MAX_POOL_2D prepare (the two differ only at invoke). */
int mcrt_pool_prepare(mcrt_prep_t *pp, mcrt_op_t *op);
#endif
