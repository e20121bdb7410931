/*
 * mcrt.h -- mcusim's int8 inference runtime for .tflite models (public API).
 *
 * A small, self-contained interpreter for int8-quantized TensorFlow Lite flatbuffers
 * (schema v3), bit-exact with TensorFlow Lite Micro's reference kernels.
 * C99, no heap, no OS, no libm; every piece of state lives in a caller-provided
 * mcrt_ctx_t plus one caller-provided arena.
 *
 *   mcrt_ctx_t ctx;                        // large-ish struct: keep it static
 *   int rc = mcrt_init(&ctx, model, model_len, arena, sizeof arena);
 *   if (rc) { ... mcrt_error_arg(&ctx) ... }
 *   memcpy(mcrt_input(&ctx, 0), in, mcrt_input_bytes(&ctx, 0));
 *   rc = mcrt_invoke(&ctx);
 *   memcpy(out, mcrt_output(&ctx, 0), mcrt_output_bytes(&ctx, 0));
 *
 * Return codes are 0 (MCRT_OK) or one of the MCUSIM_ERR_* codes of
 * firmware_images/include/mcusim_dev.h; mcrt_error_arg() gives the argument that goes
 * with it (op code, type code << 16 | op code, or arena bytes needed).
 *
 * The model bytes are read in place (they may live in flash) and must stay valid and
 * unchanged for the life of the context. Weights are used in place.
 */
#ifndef MCRT_H
#define MCRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits (override with -D at build time; the 4 MLPerf Tiny models need at most
 * 89 tensors, 31 operators, 3 inputs per operator, rank 4) ---- */
#ifndef MCRT_MAX_TENSORS
#define MCRT_MAX_TENSORS 128
#endif
#ifndef MCRT_MAX_OPS
#define MCRT_MAX_OPS 64
#endif
#ifndef MCRT_MAX_IO
#define MCRT_MAX_IO 4        /* subgraph inputs / outputs */
#endif
#define MCRT_MAX_DIMS 6
#define MCRT_ALIGN 16        /* arena alignment of every planned buffer */

/* ---- status codes (same values as mcusim_dev.h) ---- */
#define MCRT_OK 0
#define MCRT_ERR_BAD_MODEL 10
#define MCRT_ERR_UNSUPPORTED 11
#define MCRT_ERR_ARENA 12
#define MCRT_ERR_INPUT 13
#define MCRT_ERR_STATE 15    /* API misuse: invoke before a successful init, bad index */

/* ---- TFLite enums used in the API ---- */
#define MCRT_TYPE_FLOAT32 0
#define MCRT_TYPE_INT32 2
#define MCRT_TYPE_UINT8 3
#define MCRT_TYPE_INT64 4
#define MCRT_TYPE_INT16 7
#define MCRT_TYPE_INT8 9

#define MCRT_OP_ADD 0
#define MCRT_OP_AVERAGE_POOL_2D 1
#define MCRT_OP_CONV_2D 3
#define MCRT_OP_DEPTHWISE_CONV_2D 4
#define MCRT_OP_DEQUANTIZE 6
#define MCRT_OP_FULLY_CONNECTED 9
#define MCRT_OP_MAX_POOL_2D 17
#define MCRT_OP_RESHAPE 22
#define MCRT_OP_SOFTMAX 25
#define MCRT_OP_QUANTIZE 114

/* One tensor as the runtime sees it. */
typedef struct {
    uint8_t *data;           /* arena pointer (non-constant) or model pointer (constant) */
    uint32_t bytes;
    int32_t dims[MCRT_MAX_DIMS];
    uint8_t rank;
    uint8_t type;            /* MCRT_TYPE_* (TFLite TensorType) */
    uint8_t is_const;
    uint8_t nscale;          /* 0: not quantized, 1: per tensor, >1: per channel (see qscale) */
    float scale;             /* first scale */
    int32_t zero_point;      /* first zero point */
    uint32_t qscale_pos;     /* model offset of the float scale vector's first element */
    uint16_t nscale_full;    /* number of scales (per-channel count, may exceed 255) */
    uint8_t qdim;            /* quantized dimension */
    uint8_t pad_;
    int16_t first_op, last_op; /* lifetime in op indices (-1: unused) */
    uint32_t arena_off;      /* offset of data in the planned region */
} mcrt_tensor_t;

/* ---- operator parameters: what an operator's prepare computes for its invoke, one
 * struct per operator family (internal to the runtime; the layout may change) ---- */

/* Requantization of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED. */
typedef struct {
    int32_t in_off;          /* -input zero point */
    int32_t w_off;           /* -weight zero point (FULLY_CONNECTED; 0 for convolutions) */
    int32_t out_off;         /* output zero point */
    int32_t mult, shift;     /* per-tensor multiplier, used when nch == 0 */
    uint32_t pc_off;         /* per-channel tables (int32 mult[nch], int8 shift[nch]):
                              * offset in the persistent region */
    uint32_t nch;            /* channels of the per-channel tables (0: none) */
    uint8_t has_bias;
} mcrt_rq_params_t;

typedef struct {             /* CONV_2D, DEPTHWISE_CONV_2D */
    mcrt_rq_params_t rq;
    int32_t stride_w, stride_h, dil_w, dil_h;
    int32_t fw, fh;          /* filter width and height */
    int32_t pad_w, pad_h;    /* padding before the first column / row */
    int32_t depth_mult;      /* DEPTHWISE_CONV_2D: output channels per input channel */
} mcrt_conv_params_t;

typedef struct {             /* FULLY_CONNECTED */
    mcrt_rq_params_t rq;
    int32_t depth;           /* input values per row (weight columns) */
    int32_t units;           /* outputs per row (weight rows) */
} mcrt_fc_params_t;

typedef struct {             /* AVERAGE_POOL_2D, MAX_POOL_2D */
    int32_t stride_w, stride_h;
    int32_t fw, fh;          /* window width and height */
    int32_t pad_w, pad_h;
} mcrt_pool_params_t;

typedef struct {             /* ADD */
    int32_t in1_off, in2_off; /* -input zero points */
    int32_t out_off;         /* output zero point */
    int32_t left_shift;
    int32_t mult1, shift1, mult2, shift2;  /* input rescaling */
    int32_t mult, shift;     /* output rescaling */
} mcrt_add_params_t;

typedef struct {             /* SOFTMAX */
    int32_t mult, shift;     /* beta * input scale, for inputs in Q5.26 */
    int32_t diff_min;        /* differences to the row maximum below this give 0 */
    int32_t depth;           /* the last dimension (softmax is taken along it) */
} mcrt_softmax_params_t;

typedef struct {             /* QUANTIZE, DEQUANTIZE */
    float scale;             /* QUANTIZE from float32: output scale; DEQUANTIZE: input scale */
    int32_t in_zp, out_zp;   /* zero points */
    int32_t mult, shift;     /* QUANTIZE int8 -> int8: rescaling */
    uint8_t from_float;      /* QUANTIZE: 1 float32 input, 0 int8 input */
} mcrt_quant_params_t;

/* One prepared operator. */
typedef struct {
    int32_t op_code;         /* TFLite BuiltinOperator */
    uint8_t reg;             /* its implementation: index in the operator table */
    uint8_t pad_;
    int16_t in[3];           /* tensor indices (-1 absent) */
    int16_t out;
    int32_t act_min, act_max; /* output clamp (fused activation) */
    uint32_t macs;
    uint32_t scratch_bytes;  /* per-op scratch (planned like a tensor living one op) */
    uint32_t scratch_off;
    union {
        mcrt_conv_params_t conv;
        mcrt_fc_params_t fc;
        mcrt_pool_params_t pool;
        mcrt_add_params_t add;
        mcrt_softmax_params_t softmax;
        mcrt_quant_params_t quant;
    } p;                     /* parameters of the operator's family */
} mcrt_op_t;

typedef struct {
    const uint8_t *model;
    uint32_t model_len;
    uint8_t *arena;          /* aligned base */
    uint32_t arena_size;     /* usable bytes after alignment */
    uint32_t arena_used;     /* planned bytes + persistent bytes */
    uint32_t planned_bytes;  /* tensors + scratch */
    uint32_t persistent_bytes;
    uint32_t error_arg;
    uint16_t ntensors, nops;
    uint8_t ninputs, noutputs;
    uint8_t ready;
    uint8_t pad_;
    int16_t inputs[MCRT_MAX_IO];
    int16_t outputs[MCRT_MAX_IO];
    mcrt_tensor_t t[MCRT_MAX_TENSORS];
    mcrt_op_t op[MCRT_MAX_OPS];
} mcrt_ctx_t;

/* Parse, validate and prepare the model, plan the arena. 0 or MCRT_ERR_*.
 * On MCRT_ERR_ARENA, mcrt_error_arg() (and mcrt_arena_needed()) is the arena size in
 * bytes that would have been enough (including alignment slack of the given pointer). */
int mcrt_init(mcrt_ctx_t *ctx, const void *model, uint32_t model_len, void *arena,
              uint32_t arena_size);
int mcrt_invoke(mcrt_ctx_t *ctx);

uint32_t mcrt_error_arg(const mcrt_ctx_t *ctx);
uint32_t mcrt_arena_used(const mcrt_ctx_t *ctx);     /* bytes the plan needs (aligned base) */
int mcrt_num_ops(const mcrt_ctx_t *ctx);
int mcrt_num_inputs(const mcrt_ctx_t *ctx);
int mcrt_num_outputs(const mcrt_ctx_t *ctx);
void *mcrt_input(mcrt_ctx_t *ctx, int i);
uint32_t mcrt_input_bytes(const mcrt_ctx_t *ctx, int i);
int mcrt_input_type(const mcrt_ctx_t *ctx, int i);
const mcrt_tensor_t *mcrt_input_tensor(const mcrt_ctx_t *ctx, int i);
void *mcrt_output(mcrt_ctx_t *ctx, int i);
uint32_t mcrt_output_bytes(const mcrt_ctx_t *ctx, int i);
int mcrt_output_type(const mcrt_ctx_t *ctx, int i);
const mcrt_tensor_t *mcrt_output_tensor(const mcrt_ctx_t *ctx, int i);
/* Builtin op code and MACs of operator i (for reports); -1 if out of range. */
int mcrt_op_code(const mcrt_ctx_t *ctx, int i);
uint32_t mcrt_op_macs(const mcrt_ctx_t *ctx, int i);
const char *mcrt_kernels_name(void);  /* "ref" or "opt" */

#ifdef __cplusplus
}
#endif
#endif
