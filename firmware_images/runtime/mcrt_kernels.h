/*
 * mcrt_kernels.h -- the inner-loop interface of mcrt (internal).
 *
 * The convolution-like operators (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) are split
 * into a portable driver (mcrt_op_conv_2d.c, mcrt_op_depthwise_conv_2d.c,
 * mcrt_op_fully_connected.c: shapes, padding, which taps of the filter fall inside the
 * input) and a per-output-pixel kernel that does the multiply-accumulates,
 * adds the bias, requantizes and stores int8 results. Two kernel sets implement it:
 *   mcrt_kernels_ref.c  portable C (default build)
 *   mcrt_kernels_opt.c  Cortex-M DSP (SMLAD/SXTB16; build with -DMCUSIM_KERNELS_OPT)
 * Both must give the same bits: all accumulation is modulo 2^32 integer arithmetic, so
 * the order of the sums is free.
 */
#ifndef MCRT_KERNELS_H
#define MCRT_KERNELS_H
#include <stdint.h>

/* One contiguous run of taps: n int8 values of the input starting at in + in_off are
 * multiplied with n weights starting at w + w_off (plus the output channel's offset). */
typedef struct {
    int32_t in_off;
    int32_t w_off;
    int32_t n;
} mcrt_span_t;

#define MCRT_MAX_SPANS 64

/* Requantization parameters of one operator. */
typedef struct {
    const uint8_t *bias;     /* int32 little-endian per output channel, or NULL */
    const int32_t *mult;     /* per-channel multipliers, or NULL: use mult0/shift0 */
    const int8_t *shift;
    int32_t mult0, shift0;
    int32_t in_off;          /* -input zero point */
    int32_t w_off;           /* -weight zero point (FULLY_CONNECTED only; else 0) */
    int32_t out_off;         /* output zero point */
    int32_t act_min, act_max;
} mcrt_rq_t;

/* CONV_2D / FULLY_CONNECTED, one output pixel, all noc output channels:
 *   acc[oc] = sum over spans s, i < s.n of
 *             (in[s.in_off + i] + in_off) * (w[oc * w_stride + s.w_off + i] + w_off)
 *   out[oc] = clamp(mbqm(acc[oc] + bias[oc], mult[oc], shift[oc]) + out_off) */
void mcrt_k_conv_pixel(const int8_t *in, const int8_t *w, int32_t w_stride,
                       const mcrt_span_t *sp, int nsp, int32_t noc, const mcrt_rq_t *rq,
                       int8_t *out);

/* DEPTHWISE_CONV_2D, one output pixel, all in_ch * dm output channels:
 *   acc[c*dm+m] = sum over spans s of (in[s.in_off + c] + in_off) * w[s.w_off + c*dm+m]
 * (span n is unused: each span is one filter tap). */
void mcrt_k_dw_pixel(const int8_t *in, const int8_t *w, const mcrt_span_t *sp, int nsp,
                     int32_t in_ch, int32_t dm, const mcrt_rq_t *rq, int8_t *out);

/* Name of the compiled kernel set. */
extern const char mcrt_kernel_set_name[];
#endif
