/*
 * mcrt_op_quantize.c -- QUANTIZE: float32 -> int8 (divide by the output scale, round
 * half away from zero, add the zero point, saturate) and int8 -> int8 (rescale between
 * the two quantizations).
 */
#include "mcrt_ops.h"
#include "mcrt_q.h"

static int quantize_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_quant_params_t *p = &op->p.quant;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    int rc;
    if (!in) return MCRT_ERR_BAD_MODEL;
    if ((rc = mcrt_check_q8(ctx, op, out))) return rc;
    if (mcrt_type_size(in->type) == 0) return mcrt_type_err(ctx, op, in);
    if (in->bytes / (uint32_t)mcrt_type_size(in->type) != out->bytes) return MCRT_ERR_BAD_MODEL;
    if (in->type == MCRT_TYPE_FLOAT32) {
        p->from_float = 1;
        p->scale = out->scale;
        p->out_zp = out->zero_point;
    } else if (in->type == MCRT_TYPE_INT8) {
        if ((rc = mcrt_check_q8(ctx, op, in))) return rc;
        mcrt_quantize_multiplier((double)in->scale / (double)out->scale, &p->mult, &p->shift);
        if (!mcrt_shift_ok(p->shift)) return mcrt_op_err(ctx, op);
        p->from_float = 0;
        p->in_zp = in->zero_point;
        p->out_zp = out->zero_point;
    } else {
        return mcrt_type_err(ctx, op, in);
    }
    return MCRT_OK;
}

static void quantize_from_float(const mcrt_quant_params_t *p, const uint8_t *x, int8_t *y,
                                uint32_t n)
{
    uint32_t k;
    for (k = 0; k < n; k++) {
        float v = mcrt_ld_f32(x + 4 * k) / p->scale;
        int32_t q;
        int64_t r;
        if (mcrt_round_f32(v, &q)) q = (v > 0.0f) ? 2147483647 : -2147483647 - 1;
        r = (int64_t)q + p->out_zp;
        y[k] = (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
    }
}

static void quantize_int8(const mcrt_quant_params_t *p, const int8_t *x, int8_t *y,
                          uint32_t n)
{
    uint32_t k;
    for (k = 0; k < n; k++) {
        int32_t v = mcrt_mbqm(x[k] - p->in_zp, p->mult, p->shift) + p->out_zp;
        y[k] = (int8_t)mcrt_clamp(v, -128, 127);
    }
}

static void quantize_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_quant_params_t *p = &op->p.quant;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    if (p->from_float)
        quantize_from_float(p, in->data, (int8_t *)out->data, out->bytes);
    else
        quantize_int8(p, (const int8_t *)in->data, (int8_t *)out->data, out->bytes);
}

const mcrt_op_reg_t mcrt_op_quantize = {
    .code = MCRT_OP_QUANTIZE,
    .prepare = quantize_prepare,
    .invoke = quantize_invoke,
};
