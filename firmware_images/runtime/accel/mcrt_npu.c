/*
 * mcrt_npu.c -- offload of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED to the example
 * NPU (include/mcusim_npu.h; the model: mcusim/accelerators/npu.py).
 *
 * Linked into the infer-npu images (with the opt kernels for what stays on the CPU); the
 * standard images do not contain it. The three operators' registrations are wrapped at
 * link time (-Wl,--wrap=mcrt_op_conv_2d, ...): the operator table of mcrt_ops.c then holds
 * the registrations below, which use the CPU implementations (__real_mcrt_op_*) to
 * prepare and bind every layer and to run the layers the NPU does not take.
 *
 *  - Detection: at the first prepare, the simulator control block is asked for a device
 *    whose ID register reads "NPU0" (mcusim_accel_find); none: every layer runs here.
 *  - Which layers: those of the operators the NPU's CAPS register lists whose shapes fit
 *    its local buffer (the rules in mcusim_npu.h), decided at prepare. A job that ends
 *    in ERR anyway runs on the CPU.
 *  - A job: the descriptor on the stack, DESC, START; the core waits in WFI with PRIMASK
 *    set for the NPU's interrupt (pending, never taken: cleared after), or polls STATUS
 *    when the NPU has no interrupt line.
 */
#include "mcrt_op_common.h"
#include "cortexm.h"
#include "mcusim_accel.h"
#include "mcusim_npu.h"

extern const mcrt_op_reg_t __real_mcrt_op_conv_2d, __real_mcrt_op_depthwise_conv_2d,
    __real_mcrt_op_fully_connected;

#define NPU(off) MCUSIM_NPU_REG(npu_base, (off))

static uint32_t npu_base;                  /* 0: no NPU */
static uint32_t npu_irq = MCUSIM_NPU_NO_IRQ;
static uint32_t npu_caps, npu_half;
static uint8_t npu_probed;
static uint8_t on_npu[MCRT_MAX_OPS];       /* per operator index: offload it */

static void npu_probe(void)
{
    if (npu_probed) return;
    npu_probed = 1;
    npu_base = mcusim_accel_find(MCUSIM_NPU_ID_VALUE);
    if (!npu_base || NPU(MCUSIM_NPU_ID) != MCUSIM_NPU_ID_VALUE) {
        npu_base = 0;
        return;
    }
    npu_caps = NPU(MCUSIM_NPU_CAPS);
    npu_half = NPU(MCUSIM_NPU_LOCAL_BYTES) / 2u;
    npu_irq = NPU(MCUSIM_NPU_IRQ);
    if (npu_irq < 496u) {
        nvic_unpend(npu_irq);
        nvic_enable(npu_irq);             /* wakes WFI; PRIMASK keeps it from being taken */
    }
}

/* The NPU's buffer rules (mcusim_npu.h): weights per output channel (or per input channel
 * of a depthwise layer) fit half the buffer; a streamed input's rows for one output row
 * fit the other half. */
static int npu_fits(uint32_t cap, uint32_t w_per_ch, uint32_t in_bytes, uint32_t rows,
                    uint32_t row_bytes)
{
    if (!npu_base || !(npu_caps & cap)) return 0;
    if (w_per_ch > npu_half) return 0;
    if (in_bytes > npu_half && (uint64_t)rows * row_bytes > npu_half) return 0;
    return 1;
}

static uint32_t eff(int32_t k, int32_t dil) { return (uint32_t)((k - 1) * dil + 1); }

/* Submit a job and wait for it; 1 when it is DONE, 0 on ERR. */
static int npu_submit(const mcusim_npu_desc_t *d)
{
    uint32_t st, pm;
    NPU(MCUSIM_NPU_DESC) = (uint32_t)(uintptr_t)d;
    NPU(MCUSIM_NPU_STATUS) = MCUSIM_NPU_ST_DONE | MCUSIM_NPU_ST_ERR;
    cpu_dsb();                                   /* the descriptor is in memory */
    if (npu_irq < 496u) {
        pm = cpu_get_primask();
        cpu_disable_irq();
        NPU(MCUSIM_NPU_CTRL) = MCUSIM_NPU_CTRL_START | MCUSIM_NPU_CTRL_IE;
        while (!((st = NPU(MCUSIM_NPU_STATUS)) & (MCUSIM_NPU_ST_DONE | MCUSIM_NPU_ST_ERR)))
            cpu_wfi();
        nvic_unpend(npu_irq);
        if (!(pm & 1u)) cpu_enable_irq();
    } else {
        NPU(MCUSIM_NPU_CTRL) = MCUSIM_NPU_CTRL_START;
        while (!((st = NPU(MCUSIM_NPU_STATUS)) & (MCUSIM_NPU_ST_DONE | MCUSIM_NPU_ST_ERR)))
            ;
    }
    NPU(MCUSIM_NPU_STATUS) = MCUSIM_NPU_ST_DONE | MCUSIM_NPU_ST_ERR;
    cpu_dsb();                                   /* the outputs are in memory */
    return (st & MCUSIM_NPU_ST_DONE) != 0;
}

static void desc_rq(mcusim_npu_desc_t *d, const mcrt_rq_t *rq)
{
    d->bias = (uint32_t)(uintptr_t)rq->bias;
    d->mult = (uint32_t)(uintptr_t)rq->mult;
    d->shift = (uint32_t)(uintptr_t)rq->shift;
    d->mult0 = rq->mult0;
    d->shift0 = rq->shift0;
    d->in_off = rq->in_off;
    d->w_off = rq->w_off;
    d->out_off = rq->out_off;
    d->act_min = rq->act_min;
    d->act_max = rq->act_max;
}

static int npu_conv(mcrt_ctx_t *ctx, const mcrt_op_t *op, uint32_t kind)
{
    const mcrt_conv_params_t *p = &op->p.conv;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    mcusim_npu_desc_t d;
    mcrt_rq_t rq;
    mcrt_rq_make(ctx, op, &p->rq, &rq);
    d.op = kind;
    d.input = (uint32_t)(uintptr_t)in->data;
    d.weights = (uint32_t)(uintptr_t)w->data;
    d.output = (uint32_t)(uintptr_t)out->data;
    d.n = (uint32_t)in->dims[0];
    d.h = (uint32_t)in->dims[1];
    d.w = (uint32_t)in->dims[2];
    d.c = (uint32_t)in->dims[3];
    d.oh = (uint32_t)out->dims[1];
    d.ow = (uint32_t)out->dims[2];
    d.oc = (uint32_t)out->dims[3];
    d.kh = (uint32_t)p->fh;
    d.kw = (uint32_t)p->fw;
    d.stride_h = (uint32_t)p->stride_h;
    d.stride_w = (uint32_t)p->stride_w;
    d.dil_h = (uint32_t)p->dil_h;
    d.dil_w = (uint32_t)p->dil_w;
    d.pad_h = p->pad_h;
    d.pad_w = p->pad_w;
    d.depth_mult = kind == MCUSIM_NPU_OP_DEPTHWISE_CONV_2D ? (uint32_t)p->depth_mult : 1u;
    desc_rq(&d, &rq);
    return npu_submit(&d);
}

static int npu_fc(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    const mcrt_fc_params_t *p = &op->p.fc;
    const mcrt_tensor_t *in = mcrt_tensor(ctx, op->in[0]), *w = mcrt_tensor(ctx, op->in[1]),
                        *out = mcrt_tensor(ctx, op->out);
    mcusim_npu_desc_t d;
    mcrt_rq_t rq;
    mcrt_rq_make(ctx, op, &p->rq, &rq);
    d.op = MCUSIM_NPU_OP_FULLY_CONNECTED;
    d.input = (uint32_t)(uintptr_t)in->data;
    d.weights = (uint32_t)(uintptr_t)w->data;
    d.output = (uint32_t)(uintptr_t)out->data;
    d.n = in->bytes / (uint32_t)p->depth;
    d.h = d.w = d.oh = d.ow = d.kh = d.kw = 1;
    d.c = (uint32_t)p->depth;
    d.oc = (uint32_t)p->units;
    d.stride_h = d.stride_w = d.dil_h = d.dil_w = d.depth_mult = 1;
    d.pad_h = d.pad_w = 0;
    desc_rq(&d, &rq);
    return npu_submit(&d);
}

/* ------------------------------------------------------------ the registrations */

static int conv_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    int rc = __real_mcrt_op_conv_2d.prepare(pp, op);
    if (rc == MCRT_OK) {
        const mcrt_tensor_t *in = mcrt_tensor(pp->ctx, op->in[0]);
        const mcrt_conv_params_t *p = &op->p.conv;
        npu_probe();
        on_npu[op - pp->ctx->op] = (uint8_t)npu_fits(
            MCUSIM_NPU_CAP_CONV, (uint32_t)(p->fh * p->fw * in->dims[3]), in->bytes,
            eff(p->fh, p->dil_h), (uint32_t)(in->dims[2] * in->dims[3]));
    }
    return rc;
}

static int conv_bind(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    return __real_mcrt_op_conv_2d.bind(ctx, op);
}

static void conv_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    if (!on_npu[op - ctx->op] || !npu_conv(ctx, op, MCUSIM_NPU_OP_CONV_2D))
        __real_mcrt_op_conv_2d.invoke(ctx, op);
}

static int dw_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    int rc = __real_mcrt_op_depthwise_conv_2d.prepare(pp, op);
    if (rc == MCRT_OK) {
        const mcrt_tensor_t *in = mcrt_tensor(pp->ctx, op->in[0]);
        const mcrt_conv_params_t *p = &op->p.conv;
        npu_probe();
        on_npu[op - pp->ctx->op] = (uint8_t)npu_fits(
            MCUSIM_NPU_CAP_DW, (uint32_t)(p->fh * p->fw * p->depth_mult), in->bytes,
            eff(p->fh, p->dil_h), (uint32_t)in->dims[2]);
    }
    return rc;
}

static int dw_bind(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    return __real_mcrt_op_depthwise_conv_2d.bind(ctx, op);
}

static void dw_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    if (!on_npu[op - ctx->op] || !npu_conv(ctx, op, MCUSIM_NPU_OP_DEPTHWISE_CONV_2D))
        __real_mcrt_op_depthwise_conv_2d.invoke(ctx, op);
}

static int fc_prepare(mcrt_prep_t *pp, mcrt_op_t *op)
{
    int rc = __real_mcrt_op_fully_connected.prepare(pp, op);
    if (rc == MCRT_OK) {
        const mcrt_tensor_t *in = mcrt_tensor(pp->ctx, op->in[0]);
        const uint32_t depth = (uint32_t)op->p.fc.depth;
        npu_probe();
        on_npu[op - pp->ctx->op] = (uint8_t)npu_fits(MCUSIM_NPU_CAP_FC, depth, in->bytes, 1u,
                                                     depth);
    }
    return rc;
}

static int fc_bind(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    return __real_mcrt_op_fully_connected.bind(ctx, op);
}

static void fc_invoke(mcrt_ctx_t *ctx, const mcrt_op_t *op)
{
    if (!on_npu[op - ctx->op] || !npu_fc(ctx, op))
        __real_mcrt_op_fully_connected.invoke(ctx, op);
}

const mcrt_op_reg_t __wrap_mcrt_op_conv_2d = {
    .code = MCRT_OP_CONV_2D, .prepare = conv_prepare, .bind = conv_bind,
    .invoke = conv_invoke,
};
const mcrt_op_reg_t __wrap_mcrt_op_depthwise_conv_2d = {
    .code = MCRT_OP_DEPTHWISE_CONV_2D, .prepare = dw_prepare, .bind = dw_bind,
    .invoke = dw_invoke,
};
const mcrt_op_reg_t __wrap_mcrt_op_fully_connected = {
    .code = MCRT_OP_FULLY_CONNECTED, .prepare = fc_prepare, .bind = fc_bind,
    .invoke = fc_invoke,
};
