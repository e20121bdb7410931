/*
 * mcrt_ops.c -- the operator table (builtin code -> implementation) and the helpers
 * every operator's prepare uses. See mcrt_ops.h.
 */
#include "mcrt_ops.h"
#include "mcrt_q.h"

/* Every operator the runtime implements, in builtin code order. */
const mcrt_op_reg_t *const mcrt_op_table[] = {
    &mcrt_op_add,                /*   0 ADD */
    &mcrt_op_average_pool_2d,    /*   1 AVERAGE_POOL_2D */
    &mcrt_op_conv_2d,            /*   3 CONV_2D */
    &mcrt_op_depthwise_conv_2d,  /*   4 DEPTHWISE_CONV_2D */
    &mcrt_op_dequantize,         /*   6 DEQUANTIZE */
    &mcrt_op_fully_connected,    /*   9 FULLY_CONNECTED */
    &mcrt_op_max_pool_2d,        /*  17 MAX_POOL_2D */
    &mcrt_op_reshape,            /*  22 RESHAPE */
    &mcrt_op_softmax,            /*  25 SOFTMAX */
    &mcrt_op_quantize,           /* 114 QUANTIZE */
};
const uint8_t mcrt_op_table_len = (uint8_t)(sizeof mcrt_op_table / sizeof mcrt_op_table[0]);

int mcrt_op_find(int32_t code)
{
    int i;
    for (i = 0; i < mcrt_op_table_len; i++)
        if (mcrt_op_table[i]->code == code) return i;
    return -1;
}

int mcrt_type_size(int type)
{
    switch (type) {
    case MCRT_TYPE_FLOAT32: case MCRT_TYPE_INT32: return 4;
    case MCRT_TYPE_UINT8: case MCRT_TYPE_INT8: case MCRT_TYPE_BOOL: return 1;
    case MCRT_TYPE_INT64: case MCRT_TYPE_FLOAT64: return 8;
    case MCRT_TYPE_INT16: return 2;
    default: return 0;
    }
}

int mcrt_op_err(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    ctx->error_arg = (uint32_t)op->op_code;
    return MCRT_ERR_UNSUPPORTED;
}

int mcrt_type_err(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_tensor_t *t)
{
    ctx->error_arg = ((uint32_t)t->type << 16) | (uint32_t)op->op_code;
    return MCRT_ERR_UNSUPPORTED;
}

static int finite_pos(float f) { return f > 0.0f && f <= 3.0e38f; }

int mcrt_check_q8(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_tensor_t *t)
{
    if (!t) return MCRT_ERR_BAD_MODEL;
    if (t->type != MCRT_TYPE_INT8) return mcrt_type_err(ctx, op, t);
    if (t->nscale < 1 || !finite_pos(t->scale)) return MCRT_ERR_BAD_MODEL;
    if (t->zero_point < -128 || t->zero_point > 127) return MCRT_ERR_BAD_MODEL;
    return MCRT_OK;
}

/* The clamp is the int8 range narrowed to round(bound / scale) + zero point. */
int mcrt_fused_activation(mcrt_ctx_t *ctx, mcrt_op_t *op, uint8_t act,
                          const mcrt_tensor_t *out)
{
    int32_t q;
    float s = out->scale;
    int32_t lo = -128, hi = 127;
    switch (act) {
    case MCRT_ACT_NONE: break;
    case MCRT_ACT_RELU:
        if (mcrt_round_f32(0.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if (out->zero_point + q > lo) lo = out->zero_point + q;
        break;
    case MCRT_ACT_RELU6:
        if (mcrt_round_f32(0.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if (out->zero_point + q > lo) lo = out->zero_point + q;
        if (mcrt_round_f32(6.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if ((int64_t)out->zero_point + q < hi) hi = out->zero_point + q;
        break;
    case MCRT_ACT_RELU_N1_TO_1:
        if (mcrt_round_f32(-1.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if ((int64_t)out->zero_point + q > lo) lo = out->zero_point + q;
        if (mcrt_round_f32(1.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if ((int64_t)out->zero_point + q < hi) hi = out->zero_point + q;
        break;
    default: return mcrt_op_err(ctx, op);
    }
    op->act_min = lo;
    op->act_max = hi;
    return MCRT_OK;
}
