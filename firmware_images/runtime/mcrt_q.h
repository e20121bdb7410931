/*
 * mcrt_q.h -- fixed-point arithmetic of TFLite's int8 kernels (internal to mcrt).
 *
 * Written from the published definitions of the operations (gemmlowp fixed point,
 * TFLite quantization utilities), to give the same bits:
 *  - srdhm(a, b): saturating rounding doubling high multiply, round(a*b / 2^31) with
 *    ties away from zero; the single overflow case INT32_MIN*INT32_MIN saturates.
 *  - rdbpot(x, e): x / 2^e rounded to nearest, ties away from zero.
 *  - mbqm(x, m, s): x * m * 2^s / 2^31 as rdbpot(srdhm(x << max(s,0), m), max(-s,0))
 *    (TFLite's "double rounding" MultiplyByQuantizedMultiplier).
 */
#ifndef MCRT_Q_H
#define MCRT_Q_H
#include <stdint.h>

static inline int32_t mcrt_srdhm(int32_t a, int32_t b)
{
    /* The definition is trunc((a*b + nudge) / 2^31) with nudge = 2^30 if a*b >= 0 and
     * 1 - 2^30 otherwise. For a*b < 0 that equals ceil((a*b + 1 - 2^30) / 2^31) =
     * floor((a*b + 2^30) / 2^31), the same expression as for a*b >= 0, so one
     * arithmetic shift does it (no 64-bit divide, no branch). */
    if (a == b && a == INT32_MIN) return INT32_MAX;
    return (int32_t)(((int64_t)a * (int64_t)b + (INT64_C(1) << 30)) >> 31);
}

static inline int32_t mcrt_rdbpot(int32_t x, int e)
{
    int32_t mask = (int32_t)((UINT32_C(1) << e) - 1u);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

static inline int32_t mcrt_mbqm(int32_t x, int32_t m, int32_t s)
{
    if (s > 0) return mcrt_srdhm((int32_t)((uint32_t)x << s), m);
    return mcrt_rdbpot(mcrt_srdhm(x, m), -s);
}

static inline int32_t mcrt_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Quantize a positive real multiplier into (Q0.31 significand, power-of-two exponent),
 * rounding the significand half away from zero; multipliers below about 2^-32 become
 * (0, 0). Pure integer work on the IEEE-754 bits: no libm. */
void mcrt_quantize_multiplier(double d, int32_t *mult, int32_t *shift);
/* round(v) half away from zero into *out; 0 on success, -1 if NaN or out of int32. */
int mcrt_round_f32(float v, int32_t *out);
/* gemmlowp-style fixed-point helpers used by SOFTMAX */
int32_t mcrt_exp_on_negative_values_q5(int32_t a);          /* Q5.26 -> Q0.31 */
int32_t mcrt_one_over_one_plus_x(int32_t a);                /* Q0.31 -> Q0.31 */
#endif
