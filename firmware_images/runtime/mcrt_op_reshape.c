/*
 * mcrt_op_reshape.c -- RESHAPE: any type; the output shape is the output tensor's (the
 * optional shape input and ReshapeOptions.new_shape are not read). The bytes are copied
 * unless the planner gave input and output the same place.
 */
#include <string.h>
#include "mcrt_ops.h"

static int reshape_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    if (!in) return MCRT_ERR_BAD_MODEL;
    if (mcrt_type_size(in->type) == 0) return mcrt_type_err(ctx, op, in);
    if (in->type != out->type) return mcrt_type_err(ctx, op, out);
    if (in->bytes != out->bytes) return MCRT_ERR_BAD_MODEL;
    return MCRT_OK;
}

static void reshape_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *out = mcrt_tensor(ctx, op->out);
    if (in->data != out->data && out->bytes) memmove(out->data, in->data, out->bytes);
}

const mcrt_op_reg_t mcrt_op_reshape = {
    .code = MCRT_OP_RESHAPE,
    .prepare = reshape_prepare,
    .invoke = reshape_invoke,
};
