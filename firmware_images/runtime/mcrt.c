/*
 * mcrt.c -- model loading, validation, operator preparation, arena planning and the
 * invoke loop of mcusim's int8 runtime. See mcrt.h for the API and README.md.
 *
 * Arena layout (all offsets from the arena base rounded up to MCRT_ALIGN = 16):
 *   [0, planned_bytes)                      activations + per-op scratch (planned below)
 *   [planned_bytes, + persistent_bytes)     per-channel requantization tables, op by op
 *
 * ARENA PLANNER (deterministic; a Python mirror can reproduce it exactly):
 *  1. Ops run in file order, index 0..nops-1.
 *  2. A "buffer" is every tensor that has no constant data (buffer index 0, or a buffer
 *     with an empty data vector and no external offset) and is used: its lifetime is
 *     [first, last] where first is the smallest and last the largest index of an op
 *     that reads or writes it; a subgraph input gets first = 0, a subgraph output gets
 *     last = nops - 1 (both 0 if there are no ops). Each op needing scratch adds one
 *     buffer with lifetime [op, op] (none of the current kernels needs scratch).
 *     Buffers of 0 bytes are not planned.
 *  3. Sizes are rounded up to a multiple of 16.
 *  4. Buffers are placed one at a time in this order: larger rounded size first; equal
 *     sizes by smaller `first` (lifetime start); then by smaller id (tensor index;
 *     the scratch of op k has id ntensors + k).
 *  5. A buffer goes at the lowest offset (a multiple of 16) at which it does not overlap
 *     in address any already placed buffer whose lifetime overlaps its own (two
 *     lifetimes [a,b] and [c,d] overlap if a <= d and c <= b): candidates are 0 and the
 *     end offset of each such buffer, taken in increasing order, the first that fits wins.
 *  6. planned_bytes = max over buffers of (offset + rounded size), 0 if none.
 *  7. persistent_bytes = sum over CONV_2D / DEPTHWISE_CONV_2D ops and per-channel
 *     FULLY_CONNECTED ops, in op order, of align16(4 * C) + align16(C), C = output
 *     channels (an int32 multiplier and an int8 shift per channel).
 *  arena_used = planned_bytes + persistent_bytes. mcrt_init fails with MCRT_ERR_ARENA and
 *  error_arg = arena_used + (bytes lost aligning the caller's arena pointer) if the
 *  arena given is smaller.
 */
#include <string.h>
#include "mcrt.h"
#include "mcrt_fb.h"
#include "mcrt_kernels.h"
#include "mcrt_q.h"
#include "../include/mcusim_dev.h"

enum {
    K_CONV = 1, K_DW, K_FC, K_AVGPOOL, K_MAXPOOL, K_ADD, K_RESHAPE, K_SOFTMAX,
    K_QUANT_F2I, K_REQUANT, K_DEQUANT
};

#define ALIGN_UP(x) (((x) + (MCRT_ALIGN - 1u)) & ~(uint32_t)(MCRT_ALIGN - 1u))

static int type_size(int type)
{
    switch (type) {
    case MCRT_TYPE_FLOAT32: case MCRT_TYPE_INT32: return 4;
    case MCRT_TYPE_UINT8: case MCRT_TYPE_INT8: case 6 /* BOOL */: return 1;
    case MCRT_TYPE_INT64: case 10 /* FLOAT64 */: return 8;
    case MCRT_TYPE_INT16: return 2;
    default: return 0;
    }
}

static int finite_pos(float f) { return f > 0.0f && f <= 3.0e38f; }

/* ---------------------------------------------------------------- model parsing */

static int parse_tensor(mcrt_fb_t *fb, uint32_t tp, uint32_t bufvec,
                        uint32_t nbuf, mcrt_tensor_t *t)
{
    uint32_t n, p, i, bidx, q;
    uint64_t elems = 1;
    int ts;
    memset(t, 0, sizeof *t);
    t->first_op = t->last_op = -1;
    p = mcrt_fb_vec(fb, tp, 0, 4, &n);
    if (fb->err) return MCRT_ERR_BAD_MODEL;
    if (n > MCRT_MAX_DIMS) return MCRT_ERR_UNSUPPORTED;
    t->rank = (uint8_t)n;
    for (i = 0; i < n; i++) {
        int32_t d = mcrt_ld_i32(fb->b + p + 4 * i);
        if (d < 0) return MCRT_ERR_BAD_MODEL;
        t->dims[i] = d;
        elems *= (uint64_t)d;
        if (elems > (UINT64_C(1) << 28)) return MCRT_ERR_BAD_MODEL;
    }
    t->type = mcrt_fb_u8(fb, tp, 1, 0);
    ts = type_size(t->type);
    t->bytes = (uint32_t)(elems * (uint64_t)ts);
    bidx = mcrt_fb_u32(fb, tp, 2, 0);
    if (bidx >= nbuf && !(bidx == 0 && nbuf == 0)) return MCRT_ERR_BAD_MODEL;
    if (bidx > 0) {
        uint32_t bt = mcrt_fb_vec_table(fb, bufvec, bidx), dn, dp;
        uint64_t off, size;
        if (fb->err) return MCRT_ERR_BAD_MODEL;
        dp = mcrt_fb_vec(fb, bt, 0, 1, &dn);
        off = mcrt_fb_u64(fb, bt, 1, 0);
        size = mcrt_fb_u64(fb, bt, 2, 0);
        if (fb->err) return MCRT_ERR_BAD_MODEL;
        if (dn > 0) {
            if (dn < t->bytes) return MCRT_ERR_BAD_MODEL;
            t->is_const = 1;
            t->data = (uint8_t *)(uintptr_t)(fb->b + dp);
        } else if (off > 1 && size > 0) {
            if (off + size > fb->n || off + size < off || size < t->bytes)
                return MCRT_ERR_BAD_MODEL;
            t->is_const = 1;
            t->data = (uint8_t *)(uintptr_t)(fb->b + (uint32_t)off);
        }
    }
    q = mcrt_fb_table(fb, tp, 4);
    if (fb->err) return MCRT_ERR_BAD_MODEL;
    if (q) {
        uint32_t ns, nz, sp, zp;
        sp = mcrt_fb_vec(fb, q, 2, 4, &ns);
        zp = mcrt_fb_vec(fb, q, 3, 8, &nz);
        t->qdim = (uint8_t)mcrt_fb_i32(fb, q, 6, 0);
        if (fb->err) return MCRT_ERR_BAD_MODEL;
        if (mcrt_fb_i32(fb, q, 6, 0) < 0 || mcrt_fb_i32(fb, q, 6, 0) >= MCRT_MAX_DIMS)
            return MCRT_ERR_BAD_MODEL;
        if (ns > 0) {
            int64_t z = 0;
            if (ns > 65535u) return MCRT_ERR_BAD_MODEL;
            t->nscale_full = (uint16_t)ns;
            t->nscale = (uint8_t)(ns > 255u ? 255u : ns);
            t->qscale_pos = sp;
            t->scale = mcrt_ld_f32(fb->b + sp);
            if (nz > 0) {
                z = (int64_t)((uint64_t)mcrt_ld_u32(fb->b + zp) |
                              ((uint64_t)mcrt_ld_u32(fb->b + zp + 4) << 32));
                if (z < -32768 || z > 65535) return MCRT_ERR_BAD_MODEL;
            }
            t->zero_point = (int32_t)z;
        }
    }
    return MCRT_OK;
}

/* ------------------------------------------------------------- op preparation */

typedef struct {
    mcrt_ctx_t *ctx;
    mcrt_fb_t *fb;
    uint32_t opts;           /* builtin options table (0 if absent) */
    uint32_t persistent;     /* running persistent bytes */
} prep_t;

static mcrt_tensor_t *T(mcrt_ctx_t *ctx, int idx) { return idx >= 0 ? &ctx->t[idx] : 0; }

static int type_err(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_tensor_t *t)
{
    ctx->error_arg = ((uint32_t)t->type << 16) | (uint32_t)op->op_code;
    return MCRT_ERR_UNSUPPORTED;
}

static int op_err(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    ctx->error_arg = (uint32_t)op->op_code;
    return MCRT_ERR_UNSUPPORTED;
}

/* int8 activation tensor with a usable per-tensor quantization */
static int check_q8(mcrt_ctx_t *ctx, const mcrt_op_t *op, const mcrt_tensor_t *t)
{
    if (!t) return MCRT_ERR_BAD_MODEL;
    if (t->type != MCRT_TYPE_INT8) return type_err(ctx, op, t);
    if (t->nscale < 1 || !finite_pos(t->scale)) return MCRT_ERR_BAD_MODEL;
    if (t->zero_point < -128 || t->zero_point > 127) return MCRT_ERR_BAD_MODEL;
    return MCRT_OK;
}

static int act_range(mcrt_op_t *op, const mcrt_tensor_t *out)
{
    int32_t q;
    float s = out->scale;
    int32_t lo = -128, hi = 127;
    switch (op->act) {
    case 0: break;
    case 1: /* RELU */
        if (mcrt_round_f32(0.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if (out->zero_point + q > lo) lo = out->zero_point + q;
        break;
    case 3: /* RELU6 */
        if (mcrt_round_f32(0.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if (out->zero_point + q > lo) lo = out->zero_point + q;
        if (mcrt_round_f32(6.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if ((int64_t)out->zero_point + q < hi) hi = out->zero_point + q;
        break;
    case 2: /* RELU_N1_TO_1 */
        if (mcrt_round_f32(-1.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if ((int64_t)out->zero_point + q > lo) lo = out->zero_point + q;
        if (mcrt_round_f32(1.0f / s, &q)) return MCRT_ERR_BAD_MODEL;
        if ((int64_t)out->zero_point + q < hi) hi = out->zero_point + q;
        break;
    default: return MCRT_ERR_UNSUPPORTED;
    }
    op->act_min = lo;
    op->act_max = hi;
    return MCRT_OK;
}

static int out_size(int padding, int32_t in, int32_t f, int32_t stride, int32_t dil)
{
    int32_t eff = (f - 1) * dil + 1;
    if (padding == 0) return (in + stride - 1) / stride;
    return (in + stride - eff) / stride;
}

static int32_t pad_size(int32_t stride, int32_t dil, int32_t in, int32_t f, int32_t out)
{
    int32_t eff = (f - 1) * dil + 1;
    int32_t total = (out - 1) * stride + eff - in;
    return total > 0 ? total / 2 : 0;
}

static uint32_t sat_macs(uint64_t m) { return m > 0xffffffffu ? 0xffffffffu : (uint32_t)m; }

static int check_mult(int32_t shift) { return shift >= -31 && shift <= 30; }

/* bias: int32, constant or not, one per output channel */
static int check_bias(mcrt_ctx_t *ctx, mcrt_op_t *op, int32_t nch)
{
    const mcrt_tensor_t *b = T(ctx, op->in[2]);
    if (!b) {
        op->has_bias = 0;
        return MCRT_OK;
    }
    if (b->type != MCRT_TYPE_INT32) return type_err(ctx, op, b);
    if (b->bytes != 4u * (uint32_t)nch) return MCRT_ERR_BAD_MODEL;
    op->has_bias = 1;
    return MCRT_OK;
}

/* per-channel (or broadcast per-tensor) weight scales; reserves persistent tables */
static int prep_channels(prep_t *pp, mcrt_op_t *op, const mcrt_tensor_t *w, int32_t nch,
                         int qdim)
{
    uint32_t i;
    if (w->nscale_full != 1 && w->nscale_full != (uint32_t)nch) return MCRT_ERR_BAD_MODEL;
    if (w->nscale_full > 1 && w->qdim != qdim) return MCRT_ERR_BAD_MODEL;
    for (i = 0; i < w->nscale_full; i++) {
        float s = mcrt_ld_f32(pp->fb->b + w->qscale_pos + 4 * i);
        if (!(s >= 0.0f && s <= 3.0e38f)) return MCRT_ERR_BAD_MODEL;
    }
    op->nch = (uint32_t)nch;
    op->pc_off = pp->persistent;
    pp->persistent += ALIGN_UP(4u * (uint32_t)nch) + ALIGN_UP((uint32_t)nch);
    return MCRT_OK;
}

/* fill the per-channel tables once the arena exists */
static int fill_channels(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *w = T(ctx, op->in[1]),
                        *out = T(ctx, op->out);
    uint8_t *base = ctx->arena + ctx->planned_bytes + op->pc_off;
    int32_t *mult = (int32_t *)(void *)base;
    int8_t *shift = (int8_t *)(base + ALIGN_UP(4u * op->nch));
    uint32_t c;
    for (c = 0; c < op->nch; c++) {
        float fs = mcrt_ld_f32(ctx->model + w->qscale_pos + 4 * (w->nscale_full > 1 ? c : 0));
        double eff = (double)in->scale * (double)fs / (double)out->scale;
        int32_t m, s;
        mcrt_quantize_multiplier(eff, &m, &s);
        if (!check_mult(s)) return MCRT_ERR_UNSUPPORTED;
        mult[c] = m;
        shift[c] = (int8_t)s;
    }
    return MCRT_OK;
}

static int prep_conv(prep_t *pp, mcrt_op_t *op, int depthwise)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_fb_t *fb = pp->fb;
    mcrt_tensor_t *in = T(ctx, op->in[0]), *w = T(ctx, op->in[1]), *out = T(ctx, op->out);
    int32_t N, H, W, C, OC, KH, KW, OH, OW;
    int rc;
    if (!in || !w) return MCRT_ERR_BAD_MODEL;
    if ((rc = check_q8(ctx, op, in)) || (rc = check_q8(ctx, op, out))) return rc;
    if (w->type != MCRT_TYPE_INT8) return type_err(ctx, op, w);
    if (in->rank != 4 || w->rank != 4 || out->rank != 4) return MCRT_ERR_BAD_MODEL;
    N = in->dims[0]; H = in->dims[1]; W = in->dims[2]; C = in->dims[3];
    op->padding = mcrt_fb_u8(fb, pp->opts, 0, 0);
    op->stride_w = mcrt_fb_i32(fb, pp->opts, 1, 0);
    op->stride_h = mcrt_fb_i32(fb, pp->opts, 2, 0);
    if (depthwise) {
        op->depth_mult = mcrt_fb_i32(fb, pp->opts, 3, 0);
        op->act = (uint8_t)mcrt_fb_i8(fb, pp->opts, 4, 0);
        op->dil_w = mcrt_fb_i32(fb, pp->opts, 5, 1);
        op->dil_h = mcrt_fb_i32(fb, pp->opts, 6, 1);
        KH = w->dims[1]; KW = w->dims[2]; OC = w->dims[3];
        if (w->dims[0] != 1 || C <= 0) return MCRT_ERR_BAD_MODEL;
        if (op->depth_mult <= 0) op->depth_mult = OC / C;
        if (OC != C * op->depth_mult) return MCRT_ERR_BAD_MODEL;
    } else {
        op->act = (uint8_t)mcrt_fb_i8(fb, pp->opts, 3, 0);
        op->dil_w = mcrt_fb_i32(fb, pp->opts, 4, 1);
        op->dil_h = mcrt_fb_i32(fb, pp->opts, 5, 1);
        OC = w->dims[0]; KH = w->dims[1]; KW = w->dims[2];
        if (w->dims[3] != C) return op_err(ctx, op);   /* grouped conv */
    }
    if (fb->err) return MCRT_ERR_BAD_MODEL;
    if (op->padding > 1) return op_err(ctx, op);
    if (op->stride_w < 1 || op->stride_h < 1 || op->dil_w < 1 || op->dil_h < 1 ||
        op->stride_w > 65535 || op->stride_h > 65535 || op->dil_w > 65535 || op->dil_h > 65535)
        return MCRT_ERR_BAD_MODEL;
    if (KH < 1 || KW < 1 || OC < 1) return MCRT_ERR_BAD_MODEL;
    if (depthwise ? (KH * KW > MCRT_MAX_SPANS)
                  : ((op->dil_w == 1 ? KH : KH * KW) > MCRT_MAX_SPANS))
        return op_err(ctx, op);
    OH = out_size(op->padding, H, KH, op->stride_h, op->dil_h);
    OW = out_size(op->padding, W, KW, op->stride_w, op->dil_w);
    if (out->dims[0] != N || out->dims[1] != OH || out->dims[2] != OW || out->dims[3] != OC)
        return MCRT_ERR_BAD_MODEL;
    op->pad_h = pad_size(op->stride_h, op->dil_h, H, KH, OH);
    op->pad_w = pad_size(op->stride_w, op->dil_w, W, KW, OW);
    op->fh = KH;
    op->fw = KW;
    if ((rc = check_bias(ctx, op, OC))) return rc;
    if ((rc = act_range(op, out))) return rc == MCRT_ERR_UNSUPPORTED ? op_err(ctx, op) : rc;
    if ((rc = prep_channels(pp, op, w, OC, depthwise ? 3 : 0))) return rc;
    op->in_off = -in->zero_point;
    op->out_off = out->zero_point;
    op->w_off = 0;   /* int8 conv weights are symmetric; the zero point is ignored */
    op->macs = sat_macs((uint64_t)N * (uint64_t)OH * (uint64_t)OW * (uint64_t)OC * (uint64_t)KH *
                       (uint64_t)KW * (uint64_t)(depthwise ? 1 : C));
    op->kind = depthwise ? K_DW : K_CONV;
    return MCRT_OK;
}

static int prep_fc(prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_fb_t *fb = pp->fb;
    mcrt_tensor_t *in = T(ctx, op->in[0]), *w = T(ctx, op->in[1]), *out = T(ctx, op->out);
    int32_t OU, ID;
    uint32_t ein, batches;
    int rc;
    if (!in || !w) return MCRT_ERR_BAD_MODEL;
    if ((rc = check_q8(ctx, op, in)) || (rc = check_q8(ctx, op, out))) return rc;
    if (w->type != MCRT_TYPE_INT8) return type_err(ctx, op, w);
    op->act = (uint8_t)mcrt_fb_i8(fb, pp->opts, 0, 0);
    if (mcrt_fb_u8(fb, pp->opts, 1, 0) != 0) return op_err(ctx, op);  /* shuffled weights */
    if (fb->err) return MCRT_ERR_BAD_MODEL;
    if (w->rank != 2 || out->rank < 1) return MCRT_ERR_BAD_MODEL;
    OU = w->dims[0];
    ID = w->dims[1];
    if (OU < 1 || ID < 1) return MCRT_ERR_BAD_MODEL;
    ein = in->bytes;
    if (ein % (uint32_t)ID) return MCRT_ERR_BAD_MODEL;
    batches = ein / (uint32_t)ID;
    if (out->bytes != batches * (uint32_t)OU || out->dims[out->rank - 1] != OU)
        return MCRT_ERR_BAD_MODEL;
    if (w->nscale < 1 || w->zero_point < -128 || w->zero_point > 127)
        return MCRT_ERR_BAD_MODEL;
    if ((rc = check_bias(ctx, op, OU))) return rc;
    if ((rc = act_range(op, out))) return rc == MCRT_ERR_UNSUPPORTED ? op_err(ctx, op) : rc;
    if (w->nscale_full > 1) {
        if ((rc = prep_channels(pp, op, w, OU, 0))) return rc;
    } else {
        double real;
        if (!(w->scale >= 0.0f && w->scale <= 3.0e38f)) return MCRT_ERR_BAD_MODEL;
        real = (double)(in->scale * w->scale) / (double)out->scale;
        mcrt_quantize_multiplier(real, &op->mult, &op->shift);
        if (!check_mult(op->shift)) return op_err(ctx, op);
    }
    op->in_off = -in->zero_point;
    op->w_off = -w->zero_point;
    op->out_off = out->zero_point;
    op->fw = ID;
    op->fh = OU;
    op->macs = sat_macs((uint64_t)batches * OU * ID);
    op->kind = K_FC;
    return MCRT_OK;
}

static int prep_pool(prep_t *pp, mcrt_op_t *op, int is_max)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_fb_t *fb = pp->fb;
    mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    int rc;
    int32_t OH, OW;
    if ((rc = check_q8(ctx, op, in)) || (rc = check_q8(ctx, op, out))) return rc;
    if (in->rank != 4 || out->rank != 4) return MCRT_ERR_BAD_MODEL;
    op->padding = mcrt_fb_u8(fb, pp->opts, 0, 0);
    op->stride_w = mcrt_fb_i32(fb, pp->opts, 1, 0);
    op->stride_h = mcrt_fb_i32(fb, pp->opts, 2, 0);
    op->fw = mcrt_fb_i32(fb, pp->opts, 3, 0);
    op->fh = mcrt_fb_i32(fb, pp->opts, 4, 0);
    op->act = (uint8_t)mcrt_fb_i8(fb, pp->opts, 5, 0);
    if (fb->err) return MCRT_ERR_BAD_MODEL;
    if (op->padding > 1) return op_err(ctx, op);
    if (op->stride_w < 1 || op->stride_h < 1 || op->fw < 1 || op->fh < 1 ||
        op->stride_w > 65535 || op->stride_h > 65535 || op->fw > 65535 || op->fh > 65535)
        return MCRT_ERR_BAD_MODEL;
    OH = out_size(op->padding, in->dims[1], op->fh, op->stride_h, 1);
    OW = out_size(op->padding, in->dims[2], op->fw, op->stride_w, 1);
    if (out->dims[0] != in->dims[0] || out->dims[1] != OH || out->dims[2] != OW ||
        out->dims[3] != in->dims[3])
        return MCRT_ERR_BAD_MODEL;
    op->pad_h = pad_size(op->stride_h, 1, in->dims[1], op->fh, OH);
    op->pad_w = pad_size(op->stride_w, 1, in->dims[2], op->fw, OW);
    if ((rc = act_range(op, out))) return rc == MCRT_ERR_UNSUPPORTED ? op_err(ctx, op) : rc;
    op->kind = is_max ? K_MAXPOOL : K_AVGPOOL;
    return MCRT_OK;
}

static int prep_add(prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_tensor_t *a = T(ctx, op->in[0]), *b = T(ctx, op->in[1]), *out = T(ctx, op->out);
    int rc, i;
    double twice_max, r1, r2, ro;
    if (!a || !b) return MCRT_ERR_BAD_MODEL;
    if ((rc = check_q8(ctx, op, a)) || (rc = check_q8(ctx, op, b)) ||
        (rc = check_q8(ctx, op, out)))
        return rc;
    op->act = (uint8_t)mcrt_fb_i8(pp->fb, pp->opts, 0, 0);
    if (pp->fb->err) return MCRT_ERR_BAD_MODEL;
    if (a->rank > 4 || b->rank > 4 || out->rank > 4) return op_err(ctx, op);
    /* broadcast check, right-aligned dims */
    for (i = 0; i < 4; i++) {
        int32_t da = i < a->rank ? a->dims[a->rank - 1 - i] : 1;
        int32_t db = i < b->rank ? b->dims[b->rank - 1 - i] : 1;
        int32_t dout = i < out->rank ? out->dims[out->rank - 1 - i] : 1;
        if (!(da == db || da == 1 || db == 1)) return MCRT_ERR_BAD_MODEL;
        if (dout != (da > db ? da : db)) return MCRT_ERR_BAD_MODEL;
    }
    if ((a->bytes == 0 || b->bytes == 0) && out->bytes != 0) return MCRT_ERR_BAD_MODEL;
    op->left_shift = 20;
    twice_max = 2.0 * (double)(a->scale > b->scale ? a->scale : b->scale);
    r1 = (double)a->scale / twice_max;
    r2 = (double)b->scale / twice_max;
    ro = twice_max / ((double)(1 << 20) * (double)out->scale);
    mcrt_quantize_multiplier(r1, &op->mult1, &op->shift1);
    mcrt_quantize_multiplier(r2, &op->mult2, &op->shift2);
    mcrt_quantize_multiplier(ro, &op->mult, &op->shift);
    if (op->shift1 > 0 || op->shift2 > 0 || op->shift > 0) return op_err(ctx, op);
    if ((rc = act_range(op, out))) return rc == MCRT_ERR_UNSUPPORTED ? op_err(ctx, op) : rc;
    op->in_off = -a->zero_point;
    op->in2_off = -b->zero_point;
    op->out_off = out->zero_point;
    op->kind = K_ADD;
    return MCRT_OK;
}

static int prep_softmax(prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    float beta = mcrt_fb_f32(pp->fb, pp->opts, 0, 0.0f);
    double real;
    int32_t m, s, depth;
    int rc;
    if ((rc = check_q8(ctx, op, in)) || (rc = check_q8(ctx, op, out))) return rc;
    if (pp->fb->err) return MCRT_ERR_BAD_MODEL;
    if (in->rank < 1 || in->bytes != out->bytes) return MCRT_ERR_BAD_MODEL;
    depth = in->dims[in->rank - 1];
    if (depth < 1 || depth > 4096 || out->dims[out->rank - 1] != depth)
        return MCRT_ERR_BAD_MODEL;
    if (out->zero_point != -128 || out->scale != 1.0f / 256.0f) return op_err(ctx, op);
    if (!(beta >= 0.0f && beta <= 3.0e38f)) return MCRT_ERR_BAD_MODEL;
    real = (double)beta * (double)in->scale * (double)(1 << (31 - 5));
    if (real > 2147483647.0) real = 2147483647.0;
    if (!(real > 1.0)) return op_err(ctx, op);
    mcrt_quantize_multiplier(real, &m, &s);
    if (s < 0 || s > 30) return op_err(ctx, op);
    op->mult = m;
    op->shift = s;
    /* diff_min = -floor(31 * 2^26 / 2^s) */
    op->diff_min = -(int32_t)((UINT64_C(31) << 26) >> s);
    op->fw = depth;
    op->kind = K_SOFTMAX;
    return MCRT_OK;
}

static int prep_reshape(prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    if (!in) return MCRT_ERR_BAD_MODEL;
    if (type_size(in->type) == 0) return type_err(ctx, op, in);
    if (in->type != out->type) return type_err(ctx, op, out);
    if (in->bytes != out->bytes) return MCRT_ERR_BAD_MODEL;
    op->kind = K_RESHAPE;
    return MCRT_OK;
}

static int prep_quantize(prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    int rc;
    if (!in) return MCRT_ERR_BAD_MODEL;
    if ((rc = check_q8(ctx, op, out))) return rc;
    if (type_size(in->type) == 0) return type_err(ctx, op, in);
    if (in->bytes / (uint32_t)type_size(in->type) != out->bytes) return MCRT_ERR_BAD_MODEL;
    if (in->type == MCRT_TYPE_FLOAT32) {
        op->fscale = out->scale;
        op->out_off = out->zero_point;
        op->kind = K_QUANT_F2I;
    } else if (in->type == MCRT_TYPE_INT8) {
        if ((rc = check_q8(ctx, op, in))) return rc;
        mcrt_quantize_multiplier((double)in->scale / (double)out->scale, &op->mult, &op->shift);
        if (!check_mult(op->shift)) return op_err(ctx, op);
        op->in_off = in->zero_point;
        op->out_off = out->zero_point;
        op->kind = K_REQUANT;
    } else {
        return type_err(ctx, op, in);
    }
    return MCRT_OK;
}

static int prep_dequantize(prep_t *pp, mcrt_op_t *op)
{
    mcrt_ctx_t *ctx = pp->ctx;
    mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    int rc;
    if ((rc = check_q8(ctx, op, in))) return rc;
    if (out->type != MCRT_TYPE_FLOAT32) return type_err(ctx, op, out);
    if (out->bytes != 4u * in->bytes) return MCRT_ERR_BAD_MODEL;
    op->fscale = in->scale;
    op->in_off = in->zero_point;
    op->kind = K_DEQUANT;
    return MCRT_OK;
}

static int prepare_op(prep_t *pp, mcrt_op_t *op)
{
    switch (op->op_code) {
    case MCRT_OP_CONV_2D: return prep_conv(pp, op, 0);
    case MCRT_OP_DEPTHWISE_CONV_2D: return prep_conv(pp, op, 1);
    case MCRT_OP_FULLY_CONNECTED: return prep_fc(pp, op);
    case MCRT_OP_AVERAGE_POOL_2D: return prep_pool(pp, op, 0);
    case MCRT_OP_MAX_POOL_2D: return prep_pool(pp, op, 1);
    case MCRT_OP_ADD: return prep_add(pp, op);
    case MCRT_OP_SOFTMAX: return prep_softmax(pp, op);
    case MCRT_OP_RESHAPE: return prep_reshape(pp, op);
    case MCRT_OP_QUANTIZE: return prep_quantize(pp, op);
    case MCRT_OP_DEQUANTIZE: return prep_dequantize(pp, op);
    default: return op_err(pp->ctx, op);
    }
}

/* -------------------------------------------------------------- arena planner */

static uint32_t buf_size(const mcrt_ctx_t *ctx, uint32_t id)
{
    if (id < ctx->ntensors) {
        const mcrt_tensor_t *t = &ctx->t[id];
        if (t->is_const || t->first_op < 0) return 0;
        return ALIGN_UP(t->bytes);
    }
    return ALIGN_UP(ctx->op[id - ctx->ntensors].scratch_bytes);
}

static void buf_life(const mcrt_ctx_t *ctx, uint32_t id, int *first, int *last)
{
    if (id < ctx->ntensors) {
        *first = ctx->t[id].first_op;
        *last = ctx->t[id].last_op;
    } else {
        *first = *last = (int)(id - ctx->ntensors);
    }
}

static uint32_t *buf_off(mcrt_ctx_t *ctx, uint32_t id)
{
    if (id < ctx->ntensors) return &ctx->t[id].arena_off;
    return &ctx->op[id - ctx->ntensors].scratch_off;
}

/* true if buffer a goes before buffer b in placement order (rule 4) */
static int before(const mcrt_ctx_t *ctx, uint32_t a, uint32_t b)
{
    uint32_t sa = buf_size(ctx, a), sb = buf_size(ctx, b);
    int fa, la, fb_, lb;
    if (sa != sb) return sa > sb;
    buf_life(ctx, a, &fa, &la);
    buf_life(ctx, b, &fb_, &lb);
    if (fa != fb_) return fa < fb_;
    return a < b;
}

#define MAX_BUFS (MCRT_MAX_TENSORS + MCRT_MAX_OPS)

static uint32_t plan(mcrt_ctx_t *ctx)
{
    uint8_t placed[(MAX_BUFS + 7) / 8];
    uint16_t order[MAX_BUFS];  /* placed buffers, in placement order */
    uint16_t cand[MAX_BUFS];   /* conflicting placed buffers, sorted by offset */
    uint32_t nb = (uint32_t)ctx->ntensors + ctx->nops, nplaced = 0, total = 0;
    memset(placed, 0, sizeof placed);
    for (;;) {
        uint32_t best = 0xffffffffu, id, k, ncand = 0, size, off;
        int f, l;
        for (id = 0; id < nb; id++) {
            if (placed[id >> 3] & (1u << (id & 7))) continue;
            if (buf_size(ctx, id) == 0) continue;
            if (best == 0xffffffffu || before(ctx, id, best)) best = id;
        }
        if (best == 0xffffffffu) break;
        size = buf_size(ctx, best);
        buf_life(ctx, best, &f, &l);
        for (k = 0; k < nplaced; k++) {
            int f2, l2;
            uint32_t o = order[k], j;
            buf_life(ctx, o, &f2, &l2);
            if (!(f <= l2 && f2 <= l)) continue;
            /* insertion by offset */
            j = ncand;
            while (j > 0 && *buf_off(ctx, cand[j - 1]) > *buf_off(ctx, o)) {
                cand[j] = cand[j - 1];
                j--;
            }
            cand[j] = (uint16_t)o;
            ncand++;
        }
        /* candidates: 0, then each conflicting buffer's end, in increasing order; the
         * lowest that fits wins. Walking the offset-sorted list and keeping the running
         * maximum end finds exactly that. */
        off = 0;
        for (k = 0; k < ncand; k++) {
            uint32_t o0 = *buf_off(ctx, cand[k]), o1 = o0 + buf_size(ctx, cand[k]);
            if (o0 >= off + size) break;     /* gap before this one is large enough */
            if (o1 > off) off = o1;
        }
        *buf_off(ctx, best) = off;
        placed[best >> 3] |= (uint8_t)(1u << (best & 7));
        order[nplaced++] = (uint16_t)best;
        if (off + size > total) total = off + size;
    }
    return total;
}

/* ----------------------------------------------------------------------- init */

static int init_impl(mcrt_ctx_t *ctx, const uint8_t *model, uint32_t len, uint8_t *arena,
                     uint32_t arena_size)
{
    mcrt_fb_t fb;
    uint32_t root, opc_vec, nopc, sg_vec, nsg, buf_vec, nbuf, sg, tvec, nt, ivec, ni, ovec,
        no, opvec, nop, i, j;
    uint32_t slack, need;
    prep_t pp;
    int rc;

    fb.b = model;
    fb.n = len;
    fb.err = 0;
    if (!model || len < 8 || len > 0x7fffffffu) return MCRT_ERR_BAD_MODEL;
    root = mcrt_fb_root(&fb);
    if (fb.err) return MCRT_ERR_BAD_MODEL;
    if (mcrt_fb_u32(&fb, root, 0, 0) != 3) return MCRT_ERR_BAD_MODEL;
    opc_vec = mcrt_fb_vec(&fb, root, 1, 4, &nopc);
    sg_vec = mcrt_fb_vec(&fb, root, 2, 4, &nsg);
    buf_vec = mcrt_fb_vec(&fb, root, 4, 4, &nbuf);
    if (fb.err || nsg < 1) return MCRT_ERR_BAD_MODEL;
    sg = mcrt_fb_vec_table(&fb, sg_vec, 0);
    tvec = mcrt_fb_vec(&fb, sg, 0, 4, &nt);
    ivec = mcrt_fb_vec(&fb, sg, 1, 4, &ni);
    ovec = mcrt_fb_vec(&fb, sg, 2, 4, &no);
    opvec = mcrt_fb_vec(&fb, sg, 3, 4, &nop);
    if (fb.err) return MCRT_ERR_BAD_MODEL;
    if (nt > MCRT_MAX_TENSORS || nop > MCRT_MAX_OPS || ni > MCRT_MAX_IO || no > MCRT_MAX_IO) {
        ctx->error_arg = nt > MCRT_MAX_TENSORS ? nt : (nop > MCRT_MAX_OPS ? nop : (ni > no ? ni : no));
        return MCRT_ERR_UNSUPPORTED;
    }
    if (ni < 1 || no < 1) return MCRT_ERR_BAD_MODEL;
    ctx->ntensors = (uint16_t)nt;
    ctx->nops = (uint16_t)nop;
    ctx->ninputs = (uint8_t)ni;
    ctx->noutputs = (uint8_t)no;

    for (i = 0; i < nt; i++) {
        uint32_t tp = mcrt_fb_vec_table(&fb, tvec, i);
        if (fb.err) return MCRT_ERR_BAD_MODEL;
        rc = parse_tensor(&fb, tp, buf_vec, nbuf, &ctx->t[i]);
        if (rc == MCRT_ERR_UNSUPPORTED) ctx->error_arg = 0;
        if (rc) return rc;
    }
    for (i = 0; i < ni + no; i++) {
        int32_t idx = mcrt_ld_i32(model + (i < ni ? ivec + 4 * i : ovec + 4 * (i - ni)));
        if (idx < 0 || (uint32_t)idx >= nt) return MCRT_ERR_BAD_MODEL;
        if (ctx->t[idx].is_const) return MCRT_ERR_BAD_MODEL;
        if (i < ni) {
            ctx->inputs[i] = (int16_t)idx;
            ctx->t[idx].first_op = 0;
            if (ctx->t[idx].last_op < 0) ctx->t[idx].last_op = 0;
        } else {
            ctx->outputs[i - ni] = (int16_t)idx;
        }
    }

    /* operators: codes, tensors, lifetimes */
    for (i = 0; i < nop; i++) {
        mcrt_op_t *op = &ctx->op[i];
        uint32_t opp = mcrt_fb_vec_table(&fb, opvec, i), oci, oc, inv, nin, outv, nout;
        int32_t code;
        memset(op, 0, sizeof *op);
        op->in[0] = op->in[1] = op->in[2] = -1;
        op->out = -1;
        oci = mcrt_fb_u32(&fb, opp, 0, 0);
        inv = mcrt_fb_vec(&fb, opp, 1, 4, &nin);
        outv = mcrt_fb_vec(&fb, opp, 2, 4, &nout);
        if (fb.err || oci >= nopc) return MCRT_ERR_BAD_MODEL;
        oc = mcrt_fb_vec_table(&fb, opc_vec, oci);
        {
            int32_t dep = mcrt_fb_i8(&fb, oc, 0, 0);
            code = mcrt_fb_i32(&fb, oc, 3, 0);
            if (dep > code) code = dep;
        }
        if (fb.err) return MCRT_ERR_BAD_MODEL;
        op->op_code = code;
        if (nout != 1) {
            ctx->error_arg = (uint32_t)code;
            return nout == 0 ? MCRT_ERR_BAD_MODEL : MCRT_ERR_UNSUPPORTED;
        }
        if (nin > 3) {
            ctx->error_arg = (uint32_t)code;
            return MCRT_ERR_UNSUPPORTED;
        }
        for (j = 0; j < nin + 1; j++) {
            int32_t idx = mcrt_ld_i32(model + (j < nin ? inv + 4 * j : outv));
            mcrt_tensor_t *t;
            if (idx == -1 && j < nin) continue;
            if (idx < 0 || (uint32_t)idx >= nt) return MCRT_ERR_BAD_MODEL;
            if (j < nin) op->in[j] = (int16_t)idx;
            else op->out = (int16_t)idx;
            t = &ctx->t[idx];
            if (t->first_op < 0 || t->first_op > (int)i) t->first_op = (int16_t)i;
            if (t->last_op < (int)i) t->last_op = (int16_t)i;
        }
        for (j = 0; j < 3; j++)
            if (op->in[j] == op->out) return MCRT_ERR_BAD_MODEL;
        if (ctx->t[op->out].is_const) return MCRT_ERR_BAD_MODEL;
    }
    for (i = 0; i < no; i++) {
        mcrt_tensor_t *t = &ctx->t[ctx->outputs[i]];
        if (t->first_op < 0) t->first_op = 0;
        t->last_op = (int16_t)(nop ? nop - 1 : 0);
    }

    /* prepare ops */
    pp.ctx = ctx;
    pp.fb = &fb;
    pp.persistent = 0;
    for (i = 0; i < nop; i++) {
        mcrt_op_t *op = &ctx->op[i];
        uint32_t opp = mcrt_fb_vec_table(&fb, opvec, i);
        pp.opts = mcrt_fb_table(&fb, opp, 4);
        if (fb.err) return MCRT_ERR_BAD_MODEL;
        rc = prepare_op(&pp, op);
        if (fb.err) return MCRT_ERR_BAD_MODEL;
        if (rc) {
            if (rc == MCRT_ERR_UNSUPPORTED && ctx->error_arg == 0)
                ctx->error_arg = (uint32_t)op->op_code;
            return rc;
        }
    }

    /* plan and bind */
    ctx->planned_bytes = plan(ctx);
    ctx->persistent_bytes = pp.persistent;
    ctx->arena_used = ctx->planned_bytes + ctx->persistent_bytes;
    slack = (uint32_t)((MCRT_ALIGN - ((uintptr_t)arena & (MCRT_ALIGN - 1u))) & (MCRT_ALIGN - 1u));
    need = slack + ctx->arena_used;
    if (!arena || arena_size < need) {
        ctx->error_arg = need;
        return MCRT_ERR_ARENA;
    }
    ctx->arena = arena + slack;
    ctx->arena_size = arena_size - slack;
    for (i = 0; i < nt; i++) {
        mcrt_tensor_t *t = &ctx->t[i];
        /* empty tensors get a valid (never dereferenced) pointer, not NULL */
        if (!t->is_const) t->data = ctx->arena + (buf_size(ctx, i) ? t->arena_off : 0);
    }
    for (i = 0; i < nop; i++) {
        const mcrt_op_t *op = &ctx->op[i];
        if (op->nch && (rc = fill_channels(ctx, op))) {
            ctx->error_arg = (uint32_t)op->op_code;
            return rc;
        }
    }
    return MCRT_OK;
}

int mcrt_init(mcrt_ctx_t *ctx, const void *model, uint32_t model_len, void *arena,
              uint32_t arena_size)
{
    int rc;
    if (!ctx) return MCRT_ERR_STATE;
    memset(ctx, 0, sizeof *ctx);
    ctx->model = (const uint8_t *)model;
    ctx->model_len = model_len;
    rc = init_impl(ctx, (const uint8_t *)model, model_len, (uint8_t *)arena, arena_size);
    if (rc == MCRT_ERR_BAD_MODEL) ctx->error_arg = 0;
    ctx->ready = (uint8_t)(rc == MCRT_OK);
#ifdef MCUSIM_TRACE
    if (rc == MCRT_OK) MCUSIM_ARENA_BYTES = ctx->arena_used;
#endif
    return rc;
}

/* ---------------------------------------------------------------------- invoke */

static void make_rq(mcrt_ctx_t *ctx, const mcrt_op_t *op, mcrt_rq_t *rq)
{
    const mcrt_tensor_t *b = T(ctx, op->in[2]);
    rq->bias = (op->has_bias && b) ? b->data : 0;
    if (op->nch) {
        uint8_t *base = ctx->arena + ctx->planned_bytes + op->pc_off;
        rq->mult = (const int32_t *)(const void *)base;
        rq->shift = (const int8_t *)(base + ALIGN_UP(4u * op->nch));
    } else {
        rq->mult = 0;
        rq->shift = 0;
    }
    rq->mult0 = op->mult;
    rq->shift0 = op->shift;
    rq->in_off = op->in_off;
    rq->w_off = op->w_off;
    rq->out_off = op->out_off;
    rq->act_min = op->act_min;
    rq->act_max = op->act_max;
}

static void run_conv(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *w = T(ctx, op->in[1]), *out = T(ctx, op->out);
    const int32_t N = in->dims[0], H = in->dims[1], W = in->dims[2], C = in->dims[3];
    const int32_t OH = out->dims[1], OW = out->dims[2], OC = out->dims[3];
    const int32_t KH = op->fh, KW = op->fw;
    const int8_t *x = (const int8_t *)in->data, *wd = (const int8_t *)w->data;
    int8_t *y = (int8_t *)out->data;
    mcrt_span_t sp[MCRT_MAX_SPANS];
    mcrt_rq_t rq;
    int32_t b, oy, ox, fy, fx;
    make_rq(ctx, op, &rq);
    for (b = 0; b < N; b++)
        for (oy = 0; oy < OH; oy++)
            for (ox = 0; ox < OW; ox++) {
                const int32_t iy0 = oy * op->stride_h - op->pad_h;
                const int32_t ix0 = ox * op->stride_w - op->pad_w;
                int nsp = 0;
                for (fy = 0; fy < KH; fy++) {
                    const int32_t iy = iy0 + fy * op->dil_h;
                    if (iy < 0 || iy >= H) continue;
                    if (op->dil_w == 1) {
                        int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                        int32_t fx1 = W - ix0 < KW ? W - ix0 : KW;
                        if (fx1 <= fx0) continue;
                        sp[nsp].in_off = ((b * H + iy) * W + ix0 + fx0) * C;
                        sp[nsp].w_off = (fy * KW + fx0) * C;
                        sp[nsp].n = (fx1 - fx0) * C;
                        nsp++;
                    } else {
                        for (fx = 0; fx < KW; fx++) {
                            const int32_t ix = ix0 + fx * op->dil_w;
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

static void run_dw(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *w = T(ctx, op->in[1]), *out = T(ctx, op->out);
    const int32_t N = in->dims[0], H = in->dims[1], W = in->dims[2], C = in->dims[3];
    const int32_t OH = out->dims[1], OW = out->dims[2], OC = out->dims[3];
    const int32_t KH = op->fh, KW = op->fw;
    const int8_t *x = (const int8_t *)in->data, *wd = (const int8_t *)w->data;
    int8_t *y = (int8_t *)out->data;
    mcrt_span_t sp[MCRT_MAX_SPANS];
    mcrt_rq_t rq;
    int32_t b, oy, ox, fy, fx;
    make_rq(ctx, op, &rq);
    for (b = 0; b < N; b++)
        for (oy = 0; oy < OH; oy++)
            for (ox = 0; ox < OW; ox++) {
                const int32_t iy0 = oy * op->stride_h - op->pad_h;
                const int32_t ix0 = ox * op->stride_w - op->pad_w;
                int nsp = 0;
                for (fy = 0; fy < KH; fy++) {
                    const int32_t iy = iy0 + fy * op->dil_h;
                    if (iy < 0 || iy >= H) continue;
                    for (fx = 0; fx < KW; fx++) {
                        const int32_t ix = ix0 + fx * op->dil_w;
                        if (ix < 0 || ix >= W) continue;
                        sp[nsp].in_off = ((b * H + iy) * W + ix) * C;
                        sp[nsp].w_off = (fy * KW + fx) * OC;
                        sp[nsp].n = 1;
                        nsp++;
                    }
                }
                mcrt_k_dw_pixel(x, wd, sp, nsp, C, op->depth_mult, &rq,
                                y + ((b * OH + oy) * OW + ox) * OC);
            }
}

static void run_fc(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *w = T(ctx, op->in[1]), *out = T(ctx, op->out);
    const int32_t ID = op->fw, OU = op->fh;
    const uint32_t batches = in->bytes / (uint32_t)ID;
    mcrt_span_t sp;
    mcrt_rq_t rq;
    uint32_t b;
    make_rq(ctx, op, &rq);
    sp.w_off = 0;
    sp.n = ID;
    for (b = 0; b < batches; b++) {
        sp.in_off = (int32_t)b * ID;
        mcrt_k_conv_pixel((const int8_t *)in->data, (const int8_t *)w->data, ID, &sp, 1, OU,
                          &rq, (int8_t *)out->data + b * (uint32_t)OU);
    }
}

static void run_pool(mcrt_ctx_t *ctx, const mcrt_op_t *op, int is_max)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    const int32_t N = in->dims[0], H = in->dims[1], W = in->dims[2], C = in->dims[3];
    const int32_t OH = out->dims[1], OW = out->dims[2];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)out->data;
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < N; b++)
        for (oy = 0; oy < OH; oy++)
            for (ox = 0; ox < OW; ox++) {
                const int32_t iy0 = oy * op->stride_h - op->pad_h;
                const int32_t ix0 = ox * op->stride_w - op->pad_w;
                const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
                const int32_t fy1 = H - iy0 < op->fh ? H - iy0 : op->fh;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = W - ix0 < op->fw ? W - ix0 : op->fw;
                int8_t *yp = y + ((b * OH + oy) * OW + ox) * C;
                for (c = 0; c < C; c++) {
                    int32_t acc = is_max ? -128 : 0, cnt = 0;
                    for (fy = fy0; fy < fy1; fy++)
                        for (fx = fx0; fx < fx1; fx++) {
                            int32_t v = x[((b * H + iy0 + fy) * W + ix0 + fx) * C + c];
                            if (is_max) {
                                if (v > acc) acc = v;
                            } else {
                                acc += v;
                            }
                            cnt++;
                        }
                    if (!is_max) {
                        if (cnt == 0) cnt = 1;  /* empty window: TFLM fails; emit 0 */
                        acc = acc > 0 ? (acc + cnt / 2) / cnt : (acc - cnt / 2) / cnt;
                    }
                    yp[c] = (int8_t)mcrt_clamp(acc, op->act_min, op->act_max);
                }
            }
}

static int32_t add_one(const mcrt_op_t *op, int32_t a, int32_t b)
{
    const int32_t sa = (a + op->in_off) * (1 << op->left_shift);
    const int32_t sb = (b + op->in2_off) * (1 << op->left_shift);
    const int32_t ra = mcrt_rdbpot(mcrt_srdhm(sa, op->mult1), -op->shift1);
    const int32_t rb = mcrt_rdbpot(mcrt_srdhm(sb, op->mult2), -op->shift2);
    int32_t r = mcrt_rdbpot(mcrt_srdhm(ra + rb, op->mult), -op->shift) + op->out_off;
    return mcrt_clamp(r, op->act_min, op->act_max);
}

static void run_add(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *a = T(ctx, op->in[0]), *b = T(ctx, op->in[1]), *out = T(ctx, op->out);
    const int8_t *pa = (const int8_t *)a->data, *pb = (const int8_t *)b->data;
    int8_t *py = (int8_t *)out->data;
    int32_t d[4], sa[4], sb[4], i0, i1, i2, i3, i;
    if (a->bytes == out->bytes && b->bytes == out->bytes) {
        uint32_t k;
        for (k = 0; k < out->bytes; k++) py[k] = (int8_t)add_one(op, pa[k], pb[k]);
        return;
    }
    /* broadcast over 4 right-aligned dims: strides are 0 on size-1 dims */
    {
        int32_t ma = 1, mb = 1;
        for (i = 3; i >= 0; i--) {
            const int k = 3 - i;
            int32_t da = k < a->rank ? a->dims[a->rank - 1 - k] : 1;
            int32_t db = k < b->rank ? b->dims[b->rank - 1 - k] : 1;
            d[i] = da > db ? da : db;
            sa[i] = da == 1 ? 0 : ma;
            sb[i] = db == 1 ? 0 : mb;
            ma *= da;
            mb *= db;
        }
    }
    for (i0 = 0; i0 < d[0]; i0++)
        for (i1 = 0; i1 < d[1]; i1++)
            for (i2 = 0; i2 < d[2]; i2++)
                for (i3 = 0; i3 < d[3]; i3++) {
                    int32_t ia = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
                    int32_t ib = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
                    *py++ = (int8_t)add_one(op, pa[ia], pb[ib]);
                }
}

static int clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

static void run_softmax(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    const int32_t depth = op->fw;
    const uint32_t rows = in->bytes / (uint32_t)depth;
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)out->data;
    uint32_t r;
    int32_t c;
    for (r = 0; r < rows; r++, x += depth, y += depth) {
        int32_t mx = -128, sum = 0, scale, nbits, e;
        int hr;
        for (c = 0; c < depth; c++)
            if (x[c] > mx) mx = x[c];
        for (c = 0; c < depth; c++) {
            int32_t diff = x[c] - mx;
            if (diff >= op->diff_min) {
                int32_t sd = mcrt_srdhm((int32_t)((uint32_t)diff << op->shift), op->mult);
                sum = (int32_t)((uint32_t)sum +
                                (uint32_t)mcrt_rdbpot(mcrt_exp_on_negative_values_q5(sd), 12));
            }
        }
        /* reciprocal of sum (Q12.19) */
        hr = clz32((uint32_t)sum);
        nbits = 12 - hr;
        scale = mcrt_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum << hr) - UINT32_C(0x80000000)));
        e = nbits + 31 - 8;
        if (e > 31) e = 31;
        if (e < 0) e = 0;
        for (c = 0; c < depth; c++) {
            int32_t diff = x[c] - mx;
            if (diff >= op->diff_min) {
                int32_t sd = mcrt_srdhm((int32_t)((uint32_t)diff << op->shift), op->mult);
                int32_t v = mcrt_rdbpot(mcrt_srdhm(scale, mcrt_exp_on_negative_values_q5(sd)), e);
                y[c] = (int8_t)mcrt_clamp(v - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}

static void run_quant_f2i(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    uint32_t k;
    for (k = 0; k < out->bytes; k++) {
        float v = mcrt_ld_f32(in->data + 4 * k) / op->fscale;
        int32_t q;
        int64_t r;
        if (mcrt_round_f32(v, &q)) q = (v > 0.0f) ? 2147483647 : -2147483647 - 1;
        r = (int64_t)q + op->out_off;
        ((int8_t *)out->data)[k] = (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
    }
}

static void run_requant(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)out->data;
    uint32_t k;
    for (k = 0; k < out->bytes; k++) {
        int32_t v = mcrt_mbqm(x[k] - op->in_off, op->mult, op->shift) + op->out_off;
        y[k] = (int8_t)mcrt_clamp(v, -128, 127);
    }
}

static void run_dequant(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
    const int8_t *x = (const int8_t *)in->data;
    uint32_t k;
    for (k = 0; k < in->bytes; k++) {
        float f = op->fscale * (float)(x[k] - op->in_off);
        MCRT_MEMCPY(out->data + 4 * k, &f, 4);
    }
}

int mcrt_invoke(mcrt_ctx_t *ctx)
{
    uint32_t i;
    if (!ctx || !ctx->ready) return MCRT_ERR_STATE;
    for (i = 0; i < ctx->nops; i++) {
        const mcrt_op_t *op = &ctx->op[i];
        MCUSIM_LAYER(i, (uint32_t)op->op_code, op->macs);
        switch (op->kind) {
        case K_CONV: run_conv(ctx, op); break;
        case K_DW: run_dw(ctx, op); break;
        case K_FC: run_fc(ctx, op); break;
        case K_AVGPOOL: run_pool(ctx, op, 0); break;
        case K_MAXPOOL: run_pool(ctx, op, 1); break;
        case K_ADD: run_add(ctx, op); break;
        case K_SOFTMAX: run_softmax(ctx, op); break;
        case K_RESHAPE: {
            const mcrt_tensor_t *in = T(ctx, op->in[0]), *out = T(ctx, op->out);
            if (in->data != out->data && out->bytes) memmove(out->data, in->data, out->bytes);
            break;
        }
        case K_QUANT_F2I: run_quant_f2i(ctx, op); break;
        case K_REQUANT: run_requant(ctx, op); break;
        case K_DEQUANT: run_dequant(ctx, op); break;
        default: return MCRT_ERR_STATE;
        }
        MCUSIM_LAYER_DONE(i);
    }
    return MCRT_OK;
}

/* ------------------------------------------------------------------ accessors */

uint32_t mcrt_error_arg(const mcrt_ctx_t *ctx) { return ctx ? ctx->error_arg : 0; }
uint32_t mcrt_arena_used(const mcrt_ctx_t *ctx) { return ctx ? ctx->arena_used : 0; }
int mcrt_num_ops(const mcrt_ctx_t *ctx) { return ctx ? ctx->nops : 0; }
int mcrt_num_inputs(const mcrt_ctx_t *ctx) { return ctx && ctx->ready ? ctx->ninputs : 0; }
int mcrt_num_outputs(const mcrt_ctx_t *ctx) { return ctx && ctx->ready ? ctx->noutputs : 0; }

const mcrt_tensor_t *mcrt_input_tensor(const mcrt_ctx_t *ctx, int i)
{
    if (!ctx || !ctx->ready || i < 0 || i >= ctx->ninputs) return 0;
    return &ctx->t[ctx->inputs[i]];
}

const mcrt_tensor_t *mcrt_output_tensor(const mcrt_ctx_t *ctx, int i)
{
    if (!ctx || !ctx->ready || i < 0 || i >= ctx->noutputs) return 0;
    return &ctx->t[ctx->outputs[i]];
}

void *mcrt_input(mcrt_ctx_t *ctx, int i)
{
    const mcrt_tensor_t *t = mcrt_input_tensor(ctx, i);
    return t ? t->data : 0;
}
uint32_t mcrt_input_bytes(const mcrt_ctx_t *ctx, int i)
{
    const mcrt_tensor_t *t = mcrt_input_tensor(ctx, i);
    return t ? t->bytes : 0;
}
int mcrt_input_type(const mcrt_ctx_t *ctx, int i)
{
    const mcrt_tensor_t *t = mcrt_input_tensor(ctx, i);
    return t ? t->type : -1;
}
void *mcrt_output(mcrt_ctx_t *ctx, int i)
{
    const mcrt_tensor_t *t = mcrt_output_tensor(ctx, i);
    return t ? t->data : 0;
}
uint32_t mcrt_output_bytes(const mcrt_ctx_t *ctx, int i)
{
    const mcrt_tensor_t *t = mcrt_output_tensor(ctx, i);
    return t ? t->bytes : 0;
}
int mcrt_output_type(const mcrt_ctx_t *ctx, int i)
{
    const mcrt_tensor_t *t = mcrt_output_tensor(ctx, i);
    return t ? t->type : -1;
}
int mcrt_op_code(const mcrt_ctx_t *ctx, int i)
{
    if (!ctx || i < 0 || i >= ctx->nops) return -1;
    return ctx->op[i].op_code;
}
uint32_t mcrt_op_macs(const mcrt_ctx_t *ctx, int i)
{
    if (!ctx || i < 0 || i >= ctx->nops) return 0;
    return ctx->op[i].macs;
}
const char *mcrt_kernels_name(void) { return mcrt_kernel_set_name; }
