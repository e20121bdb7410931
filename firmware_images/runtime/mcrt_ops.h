/*
 * mcrt_ops.h -- the operator interface of mcrt (internal).
 *
 * Every operator lives in its own file, mcrt_op_<name>.c, and exports one registration
 * (mcrt_op_reg_t): its builtin code and the functions the front end (mcrt.c) calls.
 * mcrt_ops.c lists the registrations in mcrt_op_table, which the front end searches by
 * builtin code. The life of an operator in a context:
 *
 *   prepare  at mcrt_init, op by op in model order, before the arena is planned: reads
 *            the builtin options (pp->opts, field ids from mcrt_schema.h), validates
 *            tensor types, shapes and quantization, precomputes what invoke needs into
 *            op->p (multipliers, padding, offsets), fills op->act_min/act_max and
 *            op->macs, and states its memory needs: op->scratch_bytes (an arena buffer
 *            that lives for this op only) and persistent bytes (mcrt_reserve_persistent).
 *            Tensor data pointers are not bound yet.
 *   bind     optional (NULL if none): at mcrt_init once the arena is bound, fills the
 *            op's persistent memory (the per-channel requantization tables).
 *   invoke   at mcrt_invoke: computes the output from the inputs. It cannot fail: every
 *            check is prepare's.
 *
 * Errors from prepare/bind are MCRT_ERR_* codes: MCRT_ERR_BAD_MODEL for anything that
 * does not check out, MCRT_ERR_UNSUPPORTED (through mcrt_op_err / mcrt_type_err, which
 * set the error argument) for valid models the runtime does not implement.
 */
#ifndef MCRT_OPS_H
#define MCRT_OPS_H
#include <stdint.h>
#include "mcrt.h"
#include "mcrt_fb.h"
#include "mcrt_schema.h"

/* What prepare sees besides its operator. */
typedef struct {
    mcrt_ctx_t *ctx;         /* tensors (shapes, types, quantization; no data pointers) */
    mcrt_fb_t *fb;           /* the model */
    uint32_t opts;           /* the operator's builtin options table (0 if absent) */
    uint32_t persistent;     /* persistent bytes reserved so far */
} mcrt_prep_t;

typedef struct {
    int32_t code;            /* TFLite BuiltinOperator (MCRT_OP_*) */
    int (*prepare)(mcrt_prep_t *pp, mcrt_op_t *op);
    int (*bind)(mcrt_ctx_t *ctx, const mcrt_op_t *op);
    void (*invoke)(mcrt_ctx_t *ctx, const mcrt_op_t *op);
} mcrt_op_reg_t;

/* The registrations (one per mcrt_op_<name>.c) and the table of them (mcrt_ops.c). */
extern const mcrt_op_reg_t mcrt_op_add, mcrt_op_average_pool_2d, mcrt_op_conv_2d,
    mcrt_op_depthwise_conv_2d, mcrt_op_dequantize, mcrt_op_fully_connected,
    mcrt_op_max_pool_2d, mcrt_op_reshape, mcrt_op_softmax, mcrt_op_quantize;
extern const mcrt_op_reg_t *const mcrt_op_table[];
extern const uint8_t mcrt_op_table_len;
/* Index in mcrt_op_table of the operator with this builtin code; -1 if not there. */
int mcrt_op_find(int32_t code);

/* ---- helpers for operators ---- */

#define MCRT_ALIGN_UP(x) (((x) + (MCRT_ALIGN - 1u)) & ~(uint32_t)(MCRT_ALIGN - 1u))

/* Tensor idx of the context; NULL for an absent optional input (-1). */
static inline mcrt_tensor_t *mcrt_tensor(mcrt_ctx_t *ctx, int idx)
{
    return idx >= 0 ? &ctx->t[idx] : 0;
}

/* Reserve persistent bytes (16-aligned) for the op; returns their offset in the
 * persistent region, which starts after the planned region once the arena is bound. */
static inline uint32_t mcrt_reserve_persistent(mcrt_prep_t *pp, uint32_t bytes)
{
    uint32_t off = pp->persistent;
    pp->persistent += MCRT_ALIGN_UP(bytes);
    return off;
}

static inline uint32_t mcrt_sat_macs(uint64_t m)
{
    return m > 0xffffffffu ? 0xffffffffu : (uint32_t)m;
}

/* A quantized multiplier's shift that the fixed-point kernels handle. */
static inline int mcrt_shift_ok(int32_t shift) { return shift >= -31 && shift <= 30; }

/* Bytes per element of a TensorType; 0 for types the runtime does not handle. */
int mcrt_type_size(int type);
/* MCRT_ERR_UNSUPPORTED with error argument op code (mcrt_op_err) or
 * type << 16 | op code (mcrt_type_err). */
int mcrt_op_err(mcrt_ctx_t *ctx, const mcrt_op_t *op);
int mcrt_type_err(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_tensor_t *t);
/* t is an int8 activation tensor with a usable per-tensor quantization. */
int mcrt_check_q8(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_tensor_t *t);
/* op->act_min/act_max of fused activation `act` (ActivationFunctionType) on output out. */
int mcrt_fused_activation(mcrt_ctx_t *ctx, mcrt_op_t *op, uint8_t act,
                          const mcrt_tensor_t *out);
#endif
