/*
 * mcrt_op_dequantize.c -- DEQUANTIZE: int8 -> float32, scale * (q - zero point) in
 * single precision.
 */
#include "mcrt_ops.h"

static int dequantize_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_quant_params_t *p = &op->p.quant;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    int rc;
    if ((rc = mcrt_check_q8(ctx, op, in))) return rc;
    if (out->type != MCRT_TYPE_FLOAT32) return mcrt_type_err(ctx, op, out);
    if (out->bytes != 4u * in->bytes) return MCRT_ERR_BAD_MODEL;
    p->scale = in->scale;
    p->in_zp = in->zero_point;
    return MCRT_OK;
}

static void dequantize_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_quant_params_t *p = &op->p.quant;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    const int8_t *x = (const int8_t *)in->data;
    uint32_t k;
    for (k = 0; k < in->bytes; k++) {
        float f = p->scale * (float)(x[k] - p->in_zp);
        MCRT_MEMCPY(out->data + 4 * k, &f, 4);
    }
}

const mcrt_op_reg_t mcrt_op_dequantize = {
    .code = MCRT_OP_DEQUANTIZE,
    .prepare = dequantize_prepare,
    .invoke = dequantize_invoke,
};
