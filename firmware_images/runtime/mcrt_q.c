/* mcrt_q.c -- quantization helpers (see mcrt_q.h). */
#include <string.h>
#include "mcrt_q.h"

void mcrt_quantize_multiplier(double d, int32_t *mult, int32_t *shift)
{
    uint64_t bits, mant, q;
    int32_t e;
    int neg;
    memcpy(&bits, &d, sizeof bits);
    neg = (int)(bits >> 63);
    e = (int32_t)((bits >> 52) & 0x7ffu);
    mant = bits & ((UINT64_C(1) << 52) - 1u);
    if (e == 0 || e == 0x7ff) {
        /* zero and subnormals (far below 2^-31) flush to zero; inf/NaN are rejected by
         * the callers' scale checks, map them to zero too. */
        *mult = 0;
        *shift = 0;
        return;
    }
    mant |= UINT64_C(1) << 52;          /* d = mant * 2^(e - 1075), mant in [2^52, 2^53) */
    /* frexp: d = f * 2^(e - 1022) with f = mant / 2^53 in [0.5, 1);
     * significand = round(f * 2^31) = round(mant / 2^22), ties away from zero */
    q = (mant + (UINT64_C(1) << 21)) >> 22;
    e = e - 1022;
    if (q == (UINT64_C(1) << 31)) {
        q >>= 1;
        e += 1;
    }
    if (e < -31) {
        q = 0;
        e = 0;
    }
    *mult = neg ? -(int32_t)q : (int32_t)q;
    *shift = e;
}

int mcrt_round_f32(float v, int32_t *out)
{
    int32_t t;
    float frac;
    if (!(v == v)) return -1;
    if (v >= 2147483648.0f || v < -2147483648.0f) return -1;
    t = (int32_t)v;                  /* truncation toward zero */
    frac = v - (float)t;             /* exact: |v| < 2^24 or v integral */
    if (frac >= 0.5f) t += 1;
    else if (frac <= -0.5f) t -= 1;
    *out = t;
    return 0;
}

static int32_t wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static int32_t wsub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* saturating x * 2^e, e in 1..30 */
static int32_t sat_shl(int32_t x, int e)
{
    const int32_t thr = (int32_t)((UINT32_C(1) << (31 - e)) - 1u);
    if (x > thr) return INT32_MAX;
    if (x < -thr) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8. */
static int32_t exp_quarter(int32_t a)
{
    const int32_t c_exp_m1_8 = 1895147668;   /* exp(-1/8) in Q0.31 */
    const int32_t c_1_3 = 715827883;         /* 1/3 in Q0.31 */
    int32_t x = wadd(a, 1 << 28);            /* a + 1/8 */
    int32_t x2 = mcrt_srdhm(x, x);
    int32_t x3 = mcrt_srdhm(x2, x);
    int32_t x4 = mcrt_srdhm(x2, x2);
    int32_t x4_4 = mcrt_rdbpot(x4, 2);
    int32_t poly = mcrt_rdbpot(wadd(mcrt_srdhm(wadd(x4_4, x3), c_1_3), x2), 1);
    return wadd(c_exp_m1_8, mcrt_srdhm(c_exp_m1_8, wadd(x, poly)));
}

int32_t mcrt_exp_on_negative_values_q5(int32_t a)
{
    /* a <= 0 in Q5.26. Split a = r + k with r in [-1/4, 0) and k a sum of powers of two
     * >= 1/4; exp(r) by series, then multiply by exp(-2^j) for each bit j set in -k. */
    static const int32_t mul[7] = {1672461947, 1302514674, 790015084, 290630308,
                                   39332535, 720401, 242};  /* exp(-2^j), j = -2..4 */
    const int32_t quarter = 1 << 24;
    int32_t r = wsub(a & (quarter - 1), quarter);
    int32_t result = exp_quarter(sat_shl(r, 5));
    int32_t rem = wsub(r, a);
    int j;
    for (j = 0; j < 7; j++)
        if (rem & (int32_t)(UINT32_C(1) << (24 + j))) result = mcrt_srdhm(result, mul[j]);
    if (a == 0) result = INT32_MAX;
    return result;
}

int32_t mcrt_one_over_one_plus_x(int32_t a)
{
    /* 1/(1+a) for a in [0,1): Newton-Raphson on the half denominator, Q2.29 iterate. */
    int64_t sum = (int64_t)a + INT32_MAX;
    int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = wadd(1515870810, mcrt_srdhm(half_den, -1010580540)); /* 48/17 - 32/17 d */
    int i;
    for (i = 0; i < 3; i++) {
        int32_t hdx = mcrt_srdhm(half_den, x);
        int32_t one_minus = wsub(1 << 29, hdx);
        x = wadd(x, sat_shl(mcrt_srdhm(x, one_minus), 2));
    }
    return sat_shl(x, 1);
}
