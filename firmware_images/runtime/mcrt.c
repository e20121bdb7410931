/*
 * mcrt.c -- the front end of mcusim's int8 runtime: model parsing and validation, the
 * operator loop (each operator's prepare, bind and invoke, found by builtin code in the
 * operator table of mcrt_ops.c), the arena planner, and the API accessors. See mcrt.h
 * for the API, mcrt_ops.h for the operator interface and README.md.
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
 *     last = nops - 1 (both 0 if there are no ops). Each op whose prepare asks for
 *     scratch adds one buffer with lifetime [op, op] (no current operator does).
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
 *  7. persistent_bytes = what the ops' prepare reserved, in op order: per CONV_2D /
 *     DEPTHWISE_CONV_2D op and per-channel FULLY_CONNECTED op, align16(4 * C) +
 *     align16(C), C = output channels (an int32 multiplier and an int8 shift per
 *     channel).
 *  arena_used = planned_bytes + persistent_bytes. mcrt_init fails with MCRT_ERR_ARENA and
 *  error_arg = arena_used + (bytes lost aligning the caller's arena pointer) if the
 *  arena given is smaller.
 */
#include <string.h>
#include "mcrt.h"
#include "mcrt_fb.h"
#include "mcrt_kernels.h"
#include "mcrt_ops.h"
#include "mcrt_schema.h"
#include "../include/mcusim_dev.h"

/* ---------------------------------------------------------------- model parsing */

static int parse_tensor(mcrt_fb_t *fb, uint32_t tp, uint32_t bufvec,
                        uint32_t nbuf, mcrt_tensor_t *t)
{
    uint32_t n, p, i, bidx, q;
    uint64_t elems = 1;
    int ts;
    memset(t, 0, sizeof *t);
    t->first_op = t->last_op = -1;
    p = mcrt_fb_vec(fb, tp, MCRT_F_Tensor_shape, 4, &n);
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
    t->type = mcrt_fb_u8(fb, tp, MCRT_F_Tensor_type, 0);
    ts = mcrt_type_size(t->type);
    t->bytes = (uint32_t)(elems * (uint64_t)ts);
    bidx = mcrt_fb_u32(fb, tp, MCRT_F_Tensor_buffer, 0);
    if (bidx >= nbuf && !(bidx == 0 && nbuf == 0)) return MCRT_ERR_BAD_MODEL;
    if (bidx > 0) {
        uint32_t bt = mcrt_fb_vec_table(fb, bufvec, bidx), dn, dp;
        uint64_t off, size;
        if (fb->err) return MCRT_ERR_BAD_MODEL;
        dp = mcrt_fb_vec(fb, bt, MCRT_F_Buffer_data, 1, &dn);
        off = mcrt_fb_u64(fb, bt, MCRT_F_Buffer_offset, 0);
        size = mcrt_fb_u64(fb, bt, MCRT_F_Buffer_size, 0);
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
    q = mcrt_fb_table(fb, tp, MCRT_F_Tensor_quantization);
    if (fb->err) return MCRT_ERR_BAD_MODEL;
    if (q) {
        uint32_t ns, nz, sp, zp;
        int32_t qdim;
        sp = mcrt_fb_vec(fb, q, MCRT_F_QuantizationParameters_scale, 4, &ns);
        zp = mcrt_fb_vec(fb, q, MCRT_F_QuantizationParameters_zero_point, 8, &nz);
        qdim = mcrt_fb_i32(fb, q, MCRT_F_QuantizationParameters_quantized_dimension, 0);
        if (fb->err) return MCRT_ERR_BAD_MODEL;
        if (qdim < 0 || qdim >= MCRT_MAX_DIMS) return MCRT_ERR_BAD_MODEL;
        t->qdim = (uint8_t)qdim;
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

/* -------------------------------------------------------------- arena planner */

static uint32_t buf_size(const mcrt_ctx_t *ctx, uint32_t id)
{
    if (id < ctx->ntensors) {
        const mcrt_tensor_t *t = &ctx->t[id];
        if (t->is_const || t->first_op < 0) return 0;
        return MCRT_ALIGN_UP(t->bytes);
    }
    return MCRT_ALIGN_UP(ctx->op[id - ctx->ntensors].scratch_bytes);
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
    mcrt_prep_t pp;
    int rc;

    fb.b = model;
    fb.n = len;
    fb.err = 0;
    if (!model || len < 8 || len > 0x7fffffffu) return MCRT_ERR_BAD_MODEL;
    root = mcrt_fb_root(&fb);
    if (fb.err) return MCRT_ERR_BAD_MODEL;
    if (mcrt_fb_u32(&fb, root, MCRT_F_Model_version, 0) != MCRT_SCHEMA_VERSION)
        return MCRT_ERR_BAD_MODEL;
    opc_vec = mcrt_fb_vec(&fb, root, MCRT_F_Model_operator_codes, 4, &nopc);
    sg_vec = mcrt_fb_vec(&fb, root, MCRT_F_Model_subgraphs, 4, &nsg);
    buf_vec = mcrt_fb_vec(&fb, root, MCRT_F_Model_buffers, 4, &nbuf);
    if (fb.err || nsg < 1) return MCRT_ERR_BAD_MODEL;
    sg = mcrt_fb_vec_table(&fb, sg_vec, 0);
    tvec = mcrt_fb_vec(&fb, sg, MCRT_F_SubGraph_tensors, 4, &nt);
    ivec = mcrt_fb_vec(&fb, sg, MCRT_F_SubGraph_inputs, 4, &ni);
    ovec = mcrt_fb_vec(&fb, sg, MCRT_F_SubGraph_outputs, 4, &no);
    opvec = mcrt_fb_vec(&fb, sg, MCRT_F_SubGraph_operators, 4, &nop);
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
        oci = mcrt_fb_u32(&fb, opp, MCRT_F_Operator_opcode_index, 0);
        inv = mcrt_fb_vec(&fb, opp, MCRT_F_Operator_inputs, 4, &nin);
        outv = mcrt_fb_vec(&fb, opp, MCRT_F_Operator_outputs, 4, &nout);
        if (fb.err || oci >= nopc) return MCRT_ERR_BAD_MODEL;
        oc = mcrt_fb_vec_table(&fb, opc_vec, oci);
        {
            /* builtin_code is the newer field; old files have only the byte
             * (127 means "see builtin_code"): the larger of the two is the code */
            int32_t dep = mcrt_fb_i8(&fb, oc, MCRT_F_OperatorCode_deprecated_builtin_code, 0);
            code = mcrt_fb_i32(&fb, oc, MCRT_F_OperatorCode_builtin_code, 0);
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
        int reg;
        pp.opts = mcrt_fb_table(&fb, opp, MCRT_F_Operator_builtin_options);
        if (fb.err) return MCRT_ERR_BAD_MODEL;
        reg = mcrt_op_find(op->op_code);
        if (reg < 0) {
            rc = mcrt_op_err(ctx, op);
        } else {
            op->reg = (uint8_t)reg;
            rc = mcrt_op_table[reg]->prepare(&pp, op);
        }
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
        const mcrt_op_reg_t *reg = mcrt_op_table[op->reg];
        if (reg->bind && (rc = reg->bind(ctx, op))) {
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

int mcrt_invoke(mcrt_ctx_t *ctx)
{
    uint32_t i;
    if (!ctx || !ctx->ready) return MCRT_ERR_STATE;
    for (i = 0; i < ctx->nops; i++) {
        const mcrt_op_t *op = &ctx->op[i];
        if (op->reg >= mcrt_op_table_len) return MCRT_ERR_STATE;
        MCUSIM_LAYER(i, (uint32_t)op->op_code, op->macs);
        mcrt_op_table[op->reg]->invoke(ctx, op);
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
