"""int8 arithmetic of TFLite Micro's CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, in
numpy, for accelerator models (the example NPU) that must give the same bits.

Written from the published definitions (gemmlowp fixed point, TFLite's quantization
utilities) as the C runtime's mcrt_q.h is:

* accumulation: sum over the filter taps inside the input of (x + input_offset) *
  (w + weight_offset), modulo 2^32 (an int32 accumulator); padded taps add nothing;
* bias: added modulo 2^32;
* requantization: MultiplyByQuantizedMultiplier(acc, m, s) = RoundingDivideByPOT(
  SaturatingRoundingDoublingHighMul(acc << max(s, 0), m), max(-s, 0)), per output channel;
* output: + output zero point, clamped to the fused activation's [min, max].

Sums are exact: |x + offset| <= 255 and |w| <= 128 (or 255 with a weight offset), so a
sum of fewer than 2^37 products stays below 2^53 and float64 matrix products (BLAS) are
exact integers; they are then taken modulo 2^32 like the int32 accumulator.
"""

from __future__ import annotations

import numpy as np

INT32_MIN = -(1 << 31)


def wrap32(a: np.ndarray) -> np.ndarray:
    """Two's complement int32 value of int64 `a` (modulo 2^32)."""
    a = np.asarray(a, dtype=np.int64)
    return ((a + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties away from zero, with
    the one overflow case INT32_MIN * INT32_MIN saturating to INT32_MAX."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    # trunc((ab + nudge) / 2^31), nudge = 2^30 (ab >= 0) or 1 - 2^30: both are
    # floor((ab + 2^30) / 2^31), an arithmetic shift
    r = (a * b + (1 << 30)) >> 31
    return np.where((a == INT32_MIN) & (b == INT32_MIN), (1 << 31) - 1, r)


def rdbpot(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def mbqm(x: np.ndarray, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """MultiplyByQuantizedMultiplier, elementwise (m, s broadcast over x)."""
    x = np.asarray(x, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    return rdbpot(srdhm(wrap32(x << left), m), right)


def requantize(acc: np.ndarray, bias: np.ndarray | None, mult: np.ndarray,
               shift: np.ndarray, out_off: int, act_min: int, act_max: int) -> np.ndarray:
    """int8 outputs of exact accumulators `acc` (last axis: output channels)."""
    a = wrap32(acc)
    if bias is not None:
        a = wrap32(a + np.asarray(bias, dtype=np.int64))
    v = mbqm(a, mult, shift) + int(out_off)
    return np.clip(v, act_min, act_max).astype(np.int8)


def _padded(xo: np.ndarray, ph: int, pw: int, rows: int, cols: int) -> np.ndarray:
    n, h, w, c = xo.shape
    xp = np.zeros((n, max(rows, ph + h), max(cols, pw + w), c), dtype=np.float64)
    xp[:, ph:ph + h, pw:pw + w, :] = xo
    return xp


def conv2d_acc(x: np.ndarray, w: np.ndarray, in_off: int, stride: tuple, dil: tuple,
               pad: tuple, out_hw: tuple) -> np.ndarray:
    """Exact accumulators [N, OH, OW, OC] of CONV_2D: x int8 [N, H, W, C], w int8
    [OC, KH, KW, C]; stride, dil, pad as (h, w); padding before the first row/column."""
    sh, sw = stride
    dh, dw = dil
    ph, pw = pad
    oh, ow = out_hw
    n, h, wd, c = x.shape
    oc, kh, kw, _ = w.shape
    xo = x.astype(np.float64) + in_off
    xp = _padded(xo, ph, pw, (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1)
    wf = w.astype(np.float64)
    acc = np.zeros((n * oh * ow, oc), dtype=np.float64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, ky * dh: ky * dh + (oh - 1) * sh + 1: sh,
                       kx * dw: kx * dw + (ow - 1) * sw + 1: sw, :]
            acc += patch.reshape(-1, c) @ wf[:, ky, kx, :].T
    return acc.reshape(n, oh, ow, oc).astype(np.int64)


def depthwise_acc(x: np.ndarray, w: np.ndarray, in_off: int, depth_mult: int, stride: tuple,
                  dil: tuple, pad: tuple, out_hw: tuple) -> np.ndarray:
    """Exact accumulators [N, OH, OW, C*M] of DEPTHWISE_CONV_2D: w int8 [1, KH, KW, C*M]."""
    sh, sw = stride
    dh, dw = dil
    ph, pw = pad
    oh, ow = out_hw
    _, kh, kw, oc = w.shape
    xo = x.astype(np.float64) + in_off
    if depth_mult > 1:
        xo = np.repeat(xo, depth_mult, axis=3)
    xp = _padded(xo, ph, pw, (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1)
    wf = w.astype(np.float64)
    acc = np.zeros((x.shape[0], oh, ow, oc), dtype=np.float64)
    for ky in range(kh):
        for kx in range(kw):
            acc += xp[:, ky * dh: ky * dh + (oh - 1) * sh + 1: sh,
                      kx * dw: kx * dw + (ow - 1) * sw + 1: sw, :] * wf[0, ky, kx, :]
    return acc.astype(np.int64)


def fully_connected_acc(x: np.ndarray, w: np.ndarray, in_off: int, w_off: int) -> np.ndarray:
    """Exact accumulators [B, U] of FULLY_CONNECTED: x int8 [B, D], w int8 [U, D]."""
    xo = x.astype(np.float64) + in_off
    wo = w.astype(np.float64) + w_off
    return (xo @ wo.T).astype(np.int64)
