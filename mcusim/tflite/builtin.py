"""Built-in int8 TFLite models with the architectures of the MLPerf Tiny references.

`builtin_model_bytes(name)` returns a .tflite flatbuffer for ``kws`` (DS-CNN),
``vww`` (MobileNetV1 0.25, 96x96), ``ic`` (ResNet-8) or ``ad`` (FC autoencoder)
with exactly the reference model's operators, order, options, operator
versions, tensor shapes and quantization layout, and so the same MAC counts
and memory footprint.  The weights are random (numpy ``default_rng`` with a
fixed seed per model), so outputs are meaningless, but the cost of running
them is that of the real models.

Activation scales are calibrated by running the float network (with the
already-quantized weights, fake-quantizing every activation) on a few seeded
random inputs; the last classifier layer is centred and scaled so that its
logits vary across inputs and the softmax is not saturated.  The bytes are
identical on every run; scales are snapped to a 2**(k/32) grid so that last-bit
differences between BLAS builds do not change them.

The file is written with ``flatbuffers.Builder`` directly from the TFLite
schema (v3) field ids in `schema.py`.

    python -m mcusim.tflite.builtin kws kws_builtin.tflite
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass, field

import flatbuffers
import numpy as np

from .schema import (
    ACTIVATION_CODE,
    FILE_IDENTIFIER,
    PADDING_CODE,
    SCHEMA_VERSION,
    BuiltinOptions,
    F,
    Op,
    TensorType,
)

__all__ = ["BUILTIN_MODELS", "builtin_model_bytes", "TensorSpec", "OpSpec", "write_model", "main"]

BUILTIN_MODELS = ("kws", "vww", "ic", "ad")

_SEEDS = {"kws": 0x6B7773, "vww": 0x767777, "ic": 0x6963, "ad": 0x6164}
_CALIB_BATCH = 8
_MIN_RUNTIME_VERSION = b"1.5.0".ljust(16, b"\0")

# the operator-code tables of the reference files (code, version), in their order
_OPCODES = {
    "kws": [(Op.CONV_2D, 3), (Op.DEPTHWISE_CONV_2D, 3), (Op.AVERAGE_POOL_2D, 2),
            (Op.RESHAPE, 1), (Op.FULLY_CONNECTED, 4), (Op.SOFTMAX, 2)],
    "vww": [(Op.CONV_2D, 3), (Op.DEPTHWISE_CONV_2D, 3), (Op.AVERAGE_POOL_2D, 2),
            (Op.RESHAPE, 1), (Op.FULLY_CONNECTED, 4), (Op.SOFTMAX, 2),
            (Op.QUANTIZE, 1), (Op.DEQUANTIZE, 2)],
    "ic": [(Op.CONV_2D, 3), (Op.ADD, 2), (Op.AVERAGE_POOL_2D, 2), (Op.RESHAPE, 1),
           (Op.FULLY_CONNECTED, 4), (Op.SOFTMAX, 2), (Op.QUANTIZE, 1), (Op.DEQUANTIZE, 2)],
    "ad": [(Op.FULLY_CONNECTED, 4)],
}

# input quantization of the reference models (what their data feeds assume)
_INPUTS = {
    "kws": ((1, 49, 10, 1), 0.5847029089927673, 83),
    "vww": ((1, 96, 96, 3), 0.003921568859368563, -128),
    "ic": ((1, 32, 32, 3), 1.0, -128),
    "ad": ((1, 640), 0.3910152316093445, 89),
}


# ---------------------------------------------------------------------------
# graph description


@dataclass
class TensorSpec:
    """One tensor for `write_model`: constant when ``data`` is not empty."""

    name: str
    shape: tuple[int, ...]
    type_code: int
    data: bytes = b""
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis: int = 0
    signature: tuple[int, ...] | None = None


@dataclass
class OpSpec:
    """One operator for `write_model`; ``opcode`` must be in its ``opcodes`` table."""

    opcode: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options_type: int = 0
    # (field id, flatbuffers scalar kind, value, schema default)
    options: list[tuple[int, str, object, object]] = field(default_factory=list)


@dataclass
class _Act:
    """An activation under construction: tensor index, calibration values, quantization."""

    index: int
    x: np.ndarray  # float64, (batch,) + shape[1:], already fake-quantized
    scale: float
    zp: int

    @property
    def shape(self):
        return (1,) + self.x.shape[1:]


def _f32(v) -> float:
    return float(np.float32(v))


def _nice_scale(s: float) -> float:
    """Round a scale up onto a 2**(k/32) grid, as a float32 value.

    Snapping keeps the chosen scales identical when the float calibration
    differs in the last bits (different BLAS builds or thread counts)."""
    s = max(float(s), 1e-6)
    return _f32(2.0 ** (math.ceil(math.log2(s) * 32.0 - 1e-6) / 32.0))


def _same_pad(n: int, k: int, s: int) -> tuple[int, int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


class _Net:
    def __init__(self, name: str):
        self.name = name
        self.rng = np.random.default_rng(_SEEDS[name])
        self.opcodes = _OPCODES[name]
        self.tensors: list[TensorSpec] = []
        self.ops: list[OpSpec] = []
        self.counter: dict[str, int] = {}

    # -- bookkeeping --------------------------------------------------------
    def _uniq(self, base: str) -> str:
        k = self.counter.get(base, 0)
        self.counter[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def _tensor(self, t: TensorSpec) -> int:
        self.tensors.append(t)
        return len(self.tensors) - 1

    def _act_tensor(self, name: str, shape, scale: float, zp: int) -> int:
        return self._tensor(TensorSpec(name, tuple(shape), TensorType.INT8, b"", (scale,), (zp,), 0,
                               (-1,) + tuple(shape[1:])))

    def _op(self, code: int, ins, outs, opt_type=0, options=()) -> None:
        self.ops.append(OpSpec(code, tuple(ins), tuple(outs), opt_type, list(options)))

    @staticmethod
    def _quantize_act(y: np.ndarray, relu: bool) -> tuple[np.ndarray, float, int]:
        if relu:
            y = np.maximum(y, 0.0)
            scale = _nice_scale(float(y.max()) / 255.0)
            zp = -128
        else:
            lo, hi = min(float(y.min()), 0.0), max(float(y.max()), 0.0)
            scale = _nice_scale((hi - lo) / 255.0)
            zp = int(np.clip(round(-128 - lo / scale), -128, 127))
        q = np.clip(np.rint(y / scale) + zp, -128, 127)
        return (q - zp) * scale, scale, zp

    def input(self, shape, scale: float, zp: int) -> _Act:
        scale = _f32(scale)
        q = self.rng.integers(-128, 128, size=(_CALIB_BATCH,) + tuple(shape[1:]))
        idx = self._act_tensor("input", shape, scale, zp)
        return _Act(idx, (q - zp) * scale, scale, zp)

    def _weights_per_channel(self, shape, fan_in, axis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
        red = tuple(a for a in range(len(shape)) if a != axis)
        amax = np.abs(w).max(axis=red)
        scales = np.array([_f32(a / 127.0) for a in amax])
        bshape = [1] * len(shape)
        bshape[axis] = -1
        q = np.clip(np.rint(w / scales.reshape(bshape)), -127, 127).astype(np.int8)
        return q, scales, q.astype(np.float64) * scales.reshape(bshape)

    def _bias(self, pre: np.ndarray, in_scale: float, w_scales: np.ndarray, channels: int):
        spread = _nice_scale(float(pre.std()) or 1.0)
        b = self.rng.standard_normal(channels) * 0.25 * spread
        b_scales = np.array([_f32(np.float32(in_scale) * np.float32(s)) for s in w_scales])
        if len(b_scales) == 1:
            b_scales = np.repeat(b_scales, channels)
        qb = np.rint(b / b_scales).astype(np.int32)
        return qb, qb * b_scales

    def _const(self, name, arr: np.ndarray, type_code, scale=(), zp=(), axis=0) -> int:
        dt = {TensorType.INT8: "i1", TensorType.INT32: "<i4"}[type_code]
        return self._tensor(TensorSpec(name, tuple(arr.shape), type_code,
                               np.ascontiguousarray(arr, dtype=dt).tobytes(),
                               tuple(scale), tuple(zp), axis))

    # -- layers -------------------------------------------------------------
    def conv(self, a: _Act, cout: int, k, stride: int, relu: bool, depthwise=False) -> _Act:
        kh, kw = k
        _, h, w, cin = a.shape
        oh, pt, pb = _same_pad(h, kh, stride)
        ow, pl, pr = _same_pad(w, kw, stride)
        xp = np.pad(a.x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        base = self._uniq("depthwise_conv2d" if depthwise else "conv2d")
        if depthwise:
            assert cout == cin
            wq, ws, wf = self._weights_per_channel((1, kh, kw, cin), kh * kw, axis=3)
        else:
            wq, ws, wf = self._weights_per_channel((cout, kh, kw, cin), kh * kw * cin, axis=0)
        pre = np.zeros((a.x.shape[0], oh, ow, cout))
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride, :]
                if depthwise:
                    pre += patch * wf[0, i, j, :]
                else:
                    pre += patch @ wf[:, i, j, :].T
        qb, bf = self._bias(pre, a.scale, ws, cout)
        y, scale, zp = self._quantize_act(pre + bf, relu)
        wi = self._const(f"{base}/weights", wq, TensorType.INT8, ws, (0,) * len(ws),
                         3 if depthwise else 0)
        bi = self._const(f"{base}/bias", qb, TensorType.INT32,
                         [_f32(np.float32(a.scale) * np.float32(s)) for s in ws], (0,) * len(ws), 0)
        oi = self._act_tensor(f"{base}/output", (1, oh, ow, cout), scale, zp)
        act = ACTIVATION_CODE["RELU" if relu else "NONE"]
        if depthwise:
            f_ = F.DepthwiseConv2DOptions
            opts = [(f_.padding, "i8", PADDING_CODE["SAME"], 0), (f_.stride_w, "i32", stride, 0),
                    (f_.stride_h, "i32", stride, 0), (f_.depth_multiplier, "i32", 1, 0),
                    (f_.fused_activation_function, "i8", act, 0),
                    (f_.dilation_w_factor, "i32", 1, 1), (f_.dilation_h_factor, "i32", 1, 1)]
            self._op(Op.DEPTHWISE_CONV_2D, (a.index, wi, bi), (oi,),
                     BuiltinOptions.DepthwiseConv2DOptions, opts)
        else:
            f_ = F.Conv2DOptions
            opts = [(f_.padding, "i8", PADDING_CODE["SAME"], 0), (f_.stride_w, "i32", stride, 0),
                    (f_.stride_h, "i32", stride, 0),
                    (f_.fused_activation_function, "i8", act, 0),
                    (f_.dilation_w_factor, "i32", 1, 1), (f_.dilation_h_factor, "i32", 1, 1)]
            self._op(Op.CONV_2D, (a.index, wi, bi), (oi,), BuiltinOptions.Conv2DOptions, opts)
        return _Act(oi, y, scale, zp)

    def dw(self, a: _Act, k, stride: int, relu: bool = True) -> _Act:
        return self.conv(a, a.shape[3], k, stride, relu, depthwise=True)

    def fc(self, a: _Act, units: int, relu: bool, logits: bool = False) -> _Act:
        base = self._uniq("dense")
        n_in = a.shape[-1]
        x = a.x.reshape(a.x.shape[0], n_in)
        w = self.rng.standard_normal((units, n_in)) * math.sqrt(2.0 / n_in)
        if logits:
            # centre the logits over the calibration inputs and give them a spread
            # of about 2, so the softmax output depends on the input
            z = x @ w.T
            centre = z.mean(axis=0)
            spread = _nice_scale(float((z - centre).std()) or 1.0)
            w = w * (2.0 / spread)
            b = -centre * (2.0 / spread)
        ws = _f32(np.abs(w).max() / 127.0)
        wq = np.clip(np.rint(w / ws), -127, 127).astype(np.int8)
        wf = wq.astype(np.float64) * ws
        pre = x @ wf.T
        bs = _f32(np.float32(a.scale) * np.float32(ws))
        if logits:
            qb = np.rint(b / bs).astype(np.int32)
            bf = qb * bs
        else:
            qb, bf = self._bias(pre, a.scale, np.array([ws]), units)
        y, scale, zp = self._quantize_act(pre + bf, relu)
        wi = self._const(f"{base}/weights", wq, TensorType.INT8, (ws,), (0,), 0)
        bi = self._const(f"{base}/bias", qb, TensorType.INT32, (bs,), (0,), 0)
        oi = self._act_tensor(f"{base}/output", (1, units), scale, zp)
        f_ = F.FullyConnectedOptions
        opts = [(f_.fused_activation_function, "i8", ACTIVATION_CODE["RELU" if relu else "NONE"], 0),
                (f_.weights_format, "i8", 0, 0), (f_.keep_num_dims, "bool", False, False),
                (f_.asymmetric_quantize_inputs, "bool", False, False)]
        self._op(Op.FULLY_CONNECTED, (a.index, wi, bi), (oi,), BuiltinOptions.FullyConnectedOptions, opts)
        return _Act(oi, y, scale, zp)

    def add(self, a: _Act, b: _Act, relu: bool) -> _Act:
        y, scale, zp = self._quantize_act(a.x + b.x, relu)
        oi = self._act_tensor(self._uniq("add") + "/output", a.shape, scale, zp)
        opts = [(F.AddOptions.fused_activation_function, "i8",
                 ACTIVATION_CODE["RELU" if relu else "NONE"], 0)]
        self._op(Op.ADD, (a.index, b.index), (oi,), BuiltinOptions.AddOptions, opts)
        return _Act(oi, y, scale, zp)

    def avgpool(self, a: _Act, k, stride) -> _Act:
        kh, kw = k
        sh, sw = stride
        _, h, w, c = a.shape
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        y = np.zeros((a.x.shape[0], oh, ow, c))
        for i in range(oh):
            for j in range(ow):
                y[:, i, j, :] = a.x[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :].mean(axis=(1, 2))
        q = np.clip(np.rint(y / a.scale) + a.zp, -128, 127)  # same quantization as the input
        oi = self._act_tensor(self._uniq("average_pooling2d") + "/output", (1, oh, ow, c), a.scale, a.zp)
        f_ = F.Pool2DOptions
        opts = [(f_.padding, "i8", PADDING_CODE["VALID"], 0), (f_.stride_w, "i32", sw, 0),
                (f_.stride_h, "i32", sh, 0), (f_.filter_width, "i32", kw, 0),
                (f_.filter_height, "i32", kh, 0), (f_.fused_activation_function, "i8", 0, 0)]
        self._op(Op.AVERAGE_POOL_2D, (a.index,), (oi,), BuiltinOptions.Pool2DOptions, opts)
        return _Act(oi, (q - a.zp) * a.scale, a.scale, a.zp)

    def flatten(self, a: _Act) -> _Act:
        n = int(np.prod(a.shape[1:]))
        si = self._const(self._uniq("flatten") + "/shape", np.array([-1, n]), TensorType.INT32)
        oi = self._act_tensor(self.tensors[si].name.replace("/shape", "/output"), (1, n), a.scale, a.zp)
        self._op(Op.RESHAPE, (a.index, si), (oi,))  # the references carry no ReshapeOptions
        return _Act(oi, a.x.reshape(a.x.shape[0], n), a.scale, a.zp)

    def softmax(self, a: _Act) -> _Act:
        oi = self._act_tensor("output", a.shape, _f32(1.0 / 256.0), -128)
        self._op(Op.SOFTMAX, (a.index,), (oi,), BuiltinOptions.SoftmaxOptions,
                 [(F.SoftmaxOptions.beta, "f32", 1.0, 0.0)])
        z = a.x - a.x.max(axis=-1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
        return _Act(oi, p, 1.0 / 256.0, -128)

    # -- output -------------------------------------------------------------
    def finish(self, inp: _Act, out: _Act) -> bytes:
        if out.index == len(self.tensors) - 1 and self.tensors[out.index].name != "output":
            self.tensors[out.index].name = "output"
        return write_model(
            self.tensors, self.ops, (inp.index,), (out.index,), self.opcodes,
            description=f"mcusim built-in {self.name}: MLPerf Tiny architecture, random int8 weights",
        )


# ---------------------------------------------------------------------------
# the four architectures


def _kws() -> tuple[_Net, _Act, _Act]:
    n = _Net("kws")
    x = inp = n.input(*_INPUTS["kws"])
    x = n.conv(x, 64, (10, 4), 2, relu=True)
    for _ in range(4):
        x = n.dw(x, (3, 3), 1)
        x = n.conv(x, 64, (1, 1), 1, relu=True)
    x = n.avgpool(x, (25, 5), (25, 5))
    x = n.flatten(x)
    x = n.fc(x, 12, relu=False, logits=True)
    return n, inp, n.softmax(x)


def _vww() -> tuple[_Net, _Act, _Act]:
    n = _Net("vww")
    x = inp = n.input(*_INPUTS["vww"])
    x = n.conv(x, 8, (3, 3), 2, relu=True)
    blocks = [(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128)] + [(1, 128)] * 5 + [(2, 256), (1, 256)]
    for stride, cout in blocks:
        x = n.dw(x, (3, 3), stride)
        x = n.conv(x, cout, (1, 1), 1, relu=True)
    x = n.avgpool(x, (3, 3), (3, 3))
    x = n.flatten(x)
    x = n.fc(x, 2, relu=False, logits=True)
    return n, inp, n.softmax(x)


def _ic() -> tuple[_Net, _Act, _Act]:
    n = _Net("ic")
    x = inp = n.input(*_INPUTS["ic"])
    x = n.conv(x, 16, (3, 3), 1, relu=True)
    y = n.conv(x, 16, (3, 3), 1, relu=True)
    y = n.conv(y, 16, (3, 3), 1, relu=False)
    x = n.add(x, y, relu=True)
    for ch in (32, 64):
        y = n.conv(x, ch, (3, 3), 2, relu=True)
        y = n.conv(y, ch, (3, 3), 1, relu=False)
        s = n.conv(x, ch, (1, 1), 2, relu=False)
        x = n.add(s, y, relu=True)
    x = n.avgpool(x, (8, 8), (8, 8))
    x = n.flatten(x)
    x = n.fc(x, 10, relu=False, logits=True)
    return n, inp, n.softmax(x)


def _ad() -> tuple[_Net, _Act, _Act]:
    n = _Net("ad")
    x = inp = n.input(*_INPUTS["ad"])
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = n.fc(x, units, relu=True)
    x = n.fc(x, 640, relu=False)
    return n, inp, x


_ARCHS = {"kws": _kws, "vww": _vww, "ic": _ic, "ad": _ad}


def builtin_model_bytes(name: str) -> bytes:
    """The .tflite bytes of built-in model ``name`` (one of `BUILTIN_MODELS`).

    Deterministic: the same name gives the same bytes on every call (built once per
    process: a bench or a sweep worker runs the same model many times)."""
    if name not in _ARCHS:
        raise ValueError(
            f"unknown built-in model {name!r}; choose one of {', '.join(BUILTIN_MODELS)}"
        )
    return _built(name)


@functools.lru_cache(maxsize=None)
def _built(name: str) -> bytes:
    if name not in _ARCHS:
        raise ValueError(
            f"unknown built-in model {name!r}; choose one of {', '.join(BUILTIN_MODELS)}"
        )
    path = _cache_path(name)
    if path is not None:
        try:
            return path.read_bytes()
        except OSError:
            pass
    net, inp, out = _ARCHS[name]()
    data = net.finish(inp, out)
    if path is not None:
        _cache_write(path, data)
    return data


def _cache_path(name: str):
    """The built model in the user's cache directory, keyed by this builder's source and
    the libraries that shape its bytes (MCUSIM_MODEL_CACHE=0: build every time)."""
    import hashlib
    import os
    from pathlib import Path
    if os.environ.get("MCUSIM_MODEL_CACHE", "1") == "0":
        return None
    try:
        from mcusim.timing.blocks import cache_dir
        d = cache_dir()
        if d is None:
            return None
        h = hashlib.sha256(Path(__file__).read_bytes())
        h.update(f"{name} {np.__version__} {getattr(flatbuffers, '__version__', '')}".encode())
        return d / f"model-{name}-{h.hexdigest()[:20]}.tflite"
    except OSError:
        return None


def _cache_write(path, data: bytes) -> None:
    import os
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# flatbuffer writer


def _bytes_vector(b: flatbuffers.Builder, data: bytes, alignment: int = 16) -> int:
    b.StartVector(1, len(data), alignment)
    b.head = b.head - len(data)
    b.Bytes[b.head : b.head + len(data)] = data
    b.vectorNumElems = len(data)
    return b.EndVector()


def _scalar_vector(b: flatbuffers.Builder, values, kind: str) -> int:
    arr = np.asarray(values, dtype={"i32": "<i4", "f32": "<f4", "i64": "<i8"}[kind])
    return b.CreateNumpyVector(arr)


_SLOT = {
    "i8": "PrependInt8Slot",
    "u8": "PrependUint8Slot",
    "i32": "PrependInt32Slot",
    "u32": "PrependUint32Slot",
    "f32": "PrependFloat32Slot",
    "bool": "PrependBoolSlot",
}


def write_model(
    tensors: list[TensorSpec],
    ops: list[OpSpec],
    inputs,
    outputs,
    opcodes: list[tuple[int, int]],
    *,
    description: str = "",
    schema_version: int = SCHEMA_VERSION,
    subgraph_copies: int = 1,
) -> bytes:
    """Write a single-subgraph TFLite flatbuffer (schema v3 tables).

    ``opcodes`` is the operator-code table as (builtin code, version) pairs.
    ``schema_version`` and ``subgraph_copies`` exist to make invalid files for tests.
    """
    size_hint = sum(len(t.data) for t in tensors) + 64 * 1024
    b = flatbuffers.Builder(size_hint)
    code_index = {code: i for i, (code, _) in enumerate(opcodes)}

    # buffers: 0 is the empty sentinel, one per tensor (as the converter does),
    # then the metadata buffer
    datas = [b""] + [t.data for t in tensors] + [_MIN_RUNTIME_VERSION]
    data_vecs = [(_bytes_vector(b, d) if d else None) for d in datas]
    buf_tables = []
    for vec in data_vecs:
        b.StartObject(3)
        if vec is not None:
            b.PrependUOffsetTRelativeSlot(F.Buffer.data, vec, 0)
        buf_tables.append(b.EndObject())

    # tensors
    tensor_tables = []
    for i, t in enumerate(tensors):
        name = b.CreateString(t.name)
        shape = _scalar_vector(b, t.shape, "i32")
        sig = _scalar_vector(b, t.signature, "i32") if t.signature is not None else None
        quant = None
        if t.scale:
            sc = _scalar_vector(b, t.scale, "f32")
            zp = _scalar_vector(b, t.zero_point, "i64")
            b.StartObject(7)
            b.PrependUOffsetTRelativeSlot(F.QuantizationParameters.scale, sc, 0)
            b.PrependUOffsetTRelativeSlot(F.QuantizationParameters.zero_point, zp, 0)
            b.PrependInt32Slot(F.QuantizationParameters.quantized_dimension, t.axis, 0)
            quant = b.EndObject()
        else:
            b.StartObject(7)
            quant = b.EndObject()
        b.StartObject(8)
        b.PrependUOffsetTRelativeSlot(F.Tensor.shape, shape, 0)
        b.PrependInt8Slot(F.Tensor.type, t.type_code, 0)
        b.PrependUint32Slot(F.Tensor.buffer, i + 1, 0)
        b.PrependUOffsetTRelativeSlot(F.Tensor.name, name, 0)
        b.PrependUOffsetTRelativeSlot(F.Tensor.quantization, quant, 0)
        if sig is not None:
            b.PrependUOffsetTRelativeSlot(F.Tensor.shape_signature, sig, 0)
        tensor_tables.append(b.EndObject())

    # operators
    op_tables = []
    for op in ops:
        ins = _scalar_vector(b, op.inputs, "i32")
        outs = _scalar_vector(b, op.outputs, "i32")
        opt = None
        if op.options_type:
            b.StartObject(max(fid for fid, *_ in op.options) + 1 if op.options else 0)
            for fid, kind, value, default in op.options:
                getattr(b, _SLOT[kind])(fid, value, default)
            opt = b.EndObject()
        b.StartObject(9)
        b.PrependUint32Slot(F.Operator.opcode_index, code_index[op.opcode], 0)
        b.PrependUOffsetTRelativeSlot(F.Operator.inputs, ins, 0)
        b.PrependUOffsetTRelativeSlot(F.Operator.outputs, outs, 0)
        if opt is not None:
            b.PrependUint8Slot(F.Operator.builtin_options_type, op.options_type, 0)
            b.PrependUOffsetTRelativeSlot(F.Operator.builtin_options, opt, 0)
        op_tables.append(b.EndObject())

    def table_vector(offsets):
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    # subgraph
    tv = table_vector(tensor_tables)
    iv = _scalar_vector(b, inputs, "i32")
    ov = _scalar_vector(b, outputs, "i32")
    opv = table_vector(op_tables)
    sg_name = b.CreateString("main")
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(F.SubGraph.tensors, tv, 0)
    b.PrependUOffsetTRelativeSlot(F.SubGraph.inputs, iv, 0)
    b.PrependUOffsetTRelativeSlot(F.SubGraph.outputs, ov, 0)
    b.PrependUOffsetTRelativeSlot(F.SubGraph.operators, opv, 0)
    b.PrependUOffsetTRelativeSlot(F.SubGraph.name, sg_name, 0)
    subgraph = b.EndObject()

    # operator codes
    oc_tables = []
    for code, version in opcodes:
        b.StartObject(4)
        b.PrependInt8Slot(F.OperatorCode.deprecated_builtin_code,
                          min(code, Op.PLACEHOLDER_FOR_GREATER_OP_CODES), 0)
        b.PrependInt32Slot(F.OperatorCode.version, version, 1)
        b.PrependInt32Slot(F.OperatorCode.builtin_code, code, 0)
        oc_tables.append(b.EndObject())

    # metadata
    md_name = b.CreateString("min_runtime_version")
    b.StartObject(2)
    b.PrependUOffsetTRelativeSlot(F.Metadata.name, md_name, 0)
    b.PrependUint32Slot(F.Metadata.buffer, len(datas) - 1, 0)
    md = b.EndObject()

    ocv = table_vector(oc_tables)
    sgv = table_vector([subgraph] * subgraph_copies)
    desc = b.CreateString(description)
    bufv = table_vector(buf_tables)
    mdv = table_vector([md])
    b.StartObject(8)
    b.PrependUint32Slot(F.Model.version, schema_version, 0)
    b.PrependUOffsetTRelativeSlot(F.Model.operator_codes, ocv, 0)
    b.PrependUOffsetTRelativeSlot(F.Model.subgraphs, sgv, 0)
    b.PrependUOffsetTRelativeSlot(F.Model.description, desc, 0)
    b.PrependUOffsetTRelativeSlot(F.Model.buffers, bufv, 0)
    b.PrependUOffsetTRelativeSlot(F.Model.metadata, mdv, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


# ---------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in BUILTIN_MODELS:
        print(
            f"usage: python -m mcusim.tflite.builtin {{{','.join(BUILTIN_MODELS)}}} OUT.tflite",
            file=sys.stderr,
        )
        return 2
    data = builtin_model_bytes(argv[0])
    try:
        with open(argv[1], "wb") as f:
            f.write(data)
    except OSError as e:
        print(f"cannot write {argv[1]}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
