"""A validating reader for TensorFlow Lite flatbuffers (schema version 3).

Bytes in, typed records out: every offset and size is checked against the
file before it is used, so a bad file fails here with one clear line
(`ModelError`), never with an IndexError, struct.error or a crash further on.

    model = read_model(Path("kws.tflite").read_bytes())
    model.macs, model.peak_activation_bytes
    for op in model.operators:
        print(op.index, op.op, op.summary, op.macs)
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .schema import (
    ACTIVATIONS,
    FILE_IDENTIFIER,
    PADDING,
    SCHEMA_VERSION,
    SUPPORTED_OPS,
    TENSOR_TYPES,
    BuiltinOptions,
    F,
    Op,
    TensorType,
    op_name,
)

__all__ = [
    "ModelError",
    "Quantization",
    "Tensor",
    "OpCode",
    "Operator",
    "Model",
    "read_model",
    "read_model_file",
    "check_supported",
    "SUPPORTED_OPS",
]

_MAX_RANK = 8


try:
    from ..errors import UserError
except ImportError:  # pragma: no cover - the package ships errors.py
    UserError = Exception  # type: ignore[misc,assignment]


class ModelError(UserError, ValueError):
    """A .tflite file that mcusim cannot use; the message is one line for the user
    (a `UserError`: exit status 2)."""


# ---------------------------------------------------------------------------
# typed records


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point).

    One scale means per-tensor; several mean per-channel along `axis`.
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "int32", "float32", ...
    type_code: int
    buffer: int
    buffer_size: int  # bytes of constant data (0 for activations)
    is_constant: bool
    is_variable: bool = False
    quant: Quantization | None = None
    shape_signature: tuple[int, ...] | None = None
    data_offset: int | None = field(default=None, compare=False)  # file offset of the data

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        size = TENSOR_TYPES[self.type_code][1]
        return 0 if size is None else size

    @property
    def nbytes(self) -> int:
        """Bytes the tensor occupies when materialised."""
        return self.elements * self.itemsize

    @property
    def scale(self) -> float | None:
        return self.quant.scale[0] if self.quant and self.quant.scale else None

    @property
    def zero_point(self) -> int | None:
        return self.quant.zero_point[0] if self.quant and self.quant.zero_point else None


@dataclass(frozen=True)
class OpCode:
    builtin_code: int
    name: str
    version: int
    custom_code: str | None = None


@dataclass(frozen=True)
class Operator:
    index: int
    opcode: int  # builtin operator code
    op: str  # its name, e.g. "CONV_2D"
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, Any] = field(hash=False)  # every decoded builtin option
    options_type: int = 0  # BuiltinOptions union type in the file
    activation: str = "NONE"  # fused activation function
    padding: str | None = None  # "SAME" / "VALID"
    stride: tuple[int, int] | None = None  # (h, w)
    dilation: tuple[int, int] | None = None  # (h, w)
    depth_multiplier: int | None = None
    filter: tuple[int, int] | None = None  # (h, w): kernel or pool window
    macs: int = 0
    summary: str = ""


@dataclass(frozen=True)
class Model:
    version: int
    description: str
    opcodes: tuple[OpCode, ...]
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraph_name: str = ""
    buffer_count: int = 0
    metadata: tuple[tuple[str, int], ...] = ()  # (name, buffer index)
    size_bytes: int = 0
    data: bytes = field(default=b"", repr=False, compare=False)

    # -- derived facts -----------------------------------------------------
    @property
    def input_tensors(self) -> tuple[Tensor, ...]:
        return tuple(self.tensors[i] for i in self.inputs)

    @property
    def output_tensors(self) -> tuple[Tensor, ...]:
        return tuple(self.tensors[i] for i in self.outputs)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.operators)

    def macs_by_op(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self.operators:
            out[op.op] = out.get(op.op, 0) + op.macs
        return out

    def op_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self.operators:
            out[op.op] = out.get(op.op, 0) + 1
        return out

    @property
    def constant_bytes(self) -> int:
        """Bytes of constant tensor data (weights, biases, shape constants)."""
        seen: set[int] = set()
        total = 0
        for t in self.tensors:
            if t.is_constant and t.buffer not in seen:
                seen.add(t.buffer)
                total += t.buffer_size
        return total

    def _role_elements(self, slot: int) -> int:
        seen: set[int] = set()
        total = 0
        for op in self.operators:
            if op.opcode in (Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED):
                if len(op.inputs) > slot and op.inputs[slot] >= 0:
                    t = self.tensors[op.inputs[slot]]
                    if t.is_constant and t.index not in seen:
                        seen.add(t.index)
                        total += t.elements
        return total

    @property
    def weight_elements(self) -> int:
        """Elements of the constant filter/weight tensors of conv, depthwise and FC."""
        return self._role_elements(1)

    @property
    def bias_elements(self) -> int:
        """Elements of the constant bias tensors of conv, depthwise and FC."""
        return self._role_elements(2)

    def live_ranges(self) -> dict[int, tuple[int, int]]:
        """Tensor index -> (first op, last op) for every non-constant tensor in use."""
        n = len(self.operators)
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for i in self.inputs:
            first[i] = 0
        for op in self.operators:
            for t in op.outputs:
                if t >= 0:
                    first.setdefault(t, op.index)
                    last[t] = max(last.get(t, op.index), op.index)
            for t in op.inputs:
                if t >= 0:
                    first.setdefault(t, op.index)
                    last[t] = max(last.get(t, op.index), op.index)
        for o in self.outputs:
            last[o] = max(n - 1, 0)
            first.setdefault(o, max(n - 1, 0))
        return {
            t: (first[t], last.get(t, first[t]))
            for t in first
            if not self.tensors[t].is_constant
        }

    @property
    def peak_activation_bytes(self) -> int:
        """Largest sum of live non-constant tensor bytes at any operator, ops in
        file order, nothing computed in place: a lower bound for any arena plan."""
        ranges = self.live_ranges()
        peak = 0
        for i in range(max(len(self.operators), 1)):
            live = sum(
                self.tensors[t].nbytes for t, (a, b) in ranges.items() if a <= i <= b
            )
            peak = max(peak, live)
        return peak

    def tensor_data(self, index: int) -> np.ndarray:
        """The constant data of a tensor as a numpy array of its shape."""
        t = self.tensors[index]
        if not t.is_constant or t.data_offset is None:
            raise ModelError(f"tensor {index} '{t.name}' has no constant data")
        if t.dtype not in _NUMPY_DTYPES:
            raise ModelError(f"tensor {index} '{t.name}' has type {t.dtype} without a numpy view")
        raw = self.data[t.data_offset : t.data_offset + t.buffer_size]
        return np.frombuffer(raw, dtype=_NUMPY_DTYPES[t.dtype]).reshape(t.shape)


_NUMPY_DTYPES = {
    "float32": "<f4",
    "float16": "<f2",
    "int32": "<i4",
    "uint8": "u1",
    "int64": "<i8",
    "bool": "u1",
    "int16": "<i2",
    "int8": "i1",
    "float64": "<f8",
    "uint64": "<u8",
    "uint32": "<u4",
    "uint16": "<u2",
}


# ---------------------------------------------------------------------------
# bounds-checked flatbuffer access


class _Buf:
    def __init__(self, data: bytes):
        self.data = data
        self.n = len(data)

    def need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > self.n:
            raise ModelError(
                f"truncated or corrupt model: {what} at offset {pos} "
                f"({size} bytes) lies outside the {self.n}-byte file"
            )

    def scalar(self, fmt: str, pos: int, what: str):
        self.need(pos, struct.calcsize(fmt), what)
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def table(self, pos: int, what: str) -> "_Table":
        soff = self.scalar("i", pos, what)
        vt = pos - soff
        vt_size = self.scalar("H", vt, f"vtable of {what}")
        t_size = self.scalar("H", vt + 2, f"vtable of {what}")
        if vt_size < 4 or vt_size % 2:
            raise ModelError(f"corrupt model: vtable of {what} has bad size {vt_size}")
        self.need(vt, vt_size, f"vtable of {what}")
        self.need(pos, max(t_size, 4), what)
        return _Table(self, pos, vt, vt_size, t_size, what)


class _Table:
    def __init__(self, buf: _Buf, pos: int, vt: int, vt_size: int, t_size: int, what: str):
        self.buf, self.pos, self.vt, self.vt_size, self.t_size, self.what = (
            buf, pos, vt, vt_size, t_size, what
        )

    def _field(self, fid: int, width: int) -> int | None:
        slot = 4 + 2 * fid
        if slot + 2 > self.vt_size:
            return None
        off = struct.unpack_from("<H", self.buf.data, self.vt + slot)[0]
        if off == 0:
            return None
        if off + width > self.t_size:
            raise ModelError(
                f"corrupt model: field {fid} of {self.what} lies outside its table"
            )
        return self.pos + off

    def scalar(self, fid: int, fmt: str, default):
        p = self._field(fid, struct.calcsize(fmt))
        if p is None:
            return default
        return self.buf.scalar(fmt, p, f"field {fid} of {self.what}")

    def _target(self, fid: int, what: str) -> int | None:
        p = self._field(fid, 4)
        if p is None:
            return None
        rel = self.buf.scalar("I", p, what)
        return p + rel

    def table(self, fid: int, what: str) -> _Table | None:
        t = self._target(fid, what)
        return None if t is None else self.buf.table(t, what)

    def vector(self, fid: int, elem_size: int, what: str) -> tuple[int, int] | None:
        """(start, length) of a vector field, bounds-checked, or None if absent."""
        t = self._target(fid, what)
        if t is None:
            return None
        n = self.buf.scalar("I", t, f"length of {what}")
        self.buf.need(t + 4, n * elem_size, what)
        return t + 4, n

    def scalars(self, fid: int, fmt: str, what: str) -> tuple | None:
        v = self.vector(fid, struct.calcsize(fmt), what)
        if v is None:
            return None
        start, n = v
        return struct.unpack_from(f"<{n}{fmt}", self.buf.data, start)

    def tables(self, fid: int, what: str) -> list[_Table] | None:
        v = self.vector(fid, 4, what)
        if v is None:
            return None
        start, n = v
        out = []
        for i in range(n):
            p = start + 4 * i
            rel = struct.unpack_from("<I", self.buf.data, p)[0]
            out.append(self.buf.table(p + rel, f"{what}[{i}]"))
        return out

    def string(self, fid: int, what: str) -> str | None:
        v = self.vector(fid, 1, what)
        if v is None:
            return None
        start, n = v
        return bytes(self.buf.data[start : start + n]).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# parsing


def read_model_file(path: str | PathLike, *, supported_only: bool = False) -> Model:
    """Read a .tflite file; see `read_model`."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e.strerror or e}") from None
    return read_model(data, supported_only=supported_only)


def read_model(data: bytes | bytearray | memoryview, *, supported_only: bool = False) -> Model:
    """Parse and validate a TFLite flatbuffer.

    Raises `ModelError` for anything that is not a well-formed single-subgraph
    schema-3 TFLite model.  With ``supported_only=True`` it also applies
    `check_supported` (operators and types mcusim's int8 runtime implements).
    """
    data = bytes(data)
    buf = _Buf(data)
    n = len(data)
    if n == 0:
        raise ModelError("not a TFLite model: the file is empty")
    if n < 8:
        raise ModelError(f"not a TFLite model: {n} bytes is too short for a flatbuffer")
    ident = data[4:8]
    if ident != FILE_IDENTIFIER:
        raise ModelError(
            f"not a TFLite model: file identifier {ident!r} is not {FILE_IDENTIFIER.decode()!r}"
        )
    root = struct.unpack_from("<I", data, 0)[0]
    if root < 8 or root + 4 > n:
        raise ModelError(
            f"not a flatbuffer: root table offset {root} is outside the {n}-byte file"
        )
    m = buf.table(root, "model table")

    version = m.scalar(F.Model.version, "I", 0)
    if version != SCHEMA_VERSION:
        raise ModelError(
            f"unsupported TFLite schema version {version} (mcusim reads version {SCHEMA_VERSION})"
        )
    description = m.string(F.Model.description, "model description") or ""

    # buffers: (size, file offset of data)
    buffers: list[tuple[int, int | None]] = []
    for i, b in enumerate(m.tables(F.Model.buffers, "buffers") or []):
        v = b.vector(F.Buffer.data, 1, f"data of buffer {i}")
        if v is not None and v[1] > 0:
            buffers.append((v[1], v[0]))
            continue
        off = b.scalar(F.Buffer.offset, "Q", 0)
        size = b.scalar(F.Buffer.size, "Q", 0)
        if off > 1:  # data stored after the flatbuffer (models over 2 GB)
            buf.need(off, size, f"data of buffer {i}")
            buffers.append((size, off))
        else:
            buffers.append((0, None))

    metadata = []
    for i, md in enumerate(m.tables(F.Model.metadata, "metadata") or []):
        name = md.string(F.Metadata.name, f"name of metadata {i}") or ""
        bi = md.scalar(F.Metadata.buffer, "I", 0)
        if bi >= len(buffers):
            raise ModelError(f"corrupt model: metadata '{name}' names buffer {bi} of {len(buffers)}")
        metadata.append((name, bi))

    opcodes = []
    for i, oc in enumerate(m.tables(F.Model.operator_codes, "operator codes") or []):
        dep = oc.scalar(F.OperatorCode.deprecated_builtin_code, "b", 0)
        code = oc.scalar(F.OperatorCode.builtin_code, "i", 0)
        code = max(code, dep)
        ver = oc.scalar(F.OperatorCode.version, "i", 1)
        custom = oc.string(F.OperatorCode.custom_code, f"custom code of operator code {i}")
        name = custom if (custom and code == 32) else op_name(code)
        opcodes.append(OpCode(code, name, ver, custom))

    subgraphs = m.tables(F.Model.subgraphs, "subgraphs") or []
    if len(subgraphs) == 0:
        raise ModelError("model has no subgraph")
    if len(subgraphs) > 1:
        raise ModelError(f"model has {len(subgraphs)} subgraphs; mcusim supports exactly one")
    sg = subgraphs[0]
    sg_name = sg.string(F.SubGraph.name, "subgraph name") or ""

    tensors = [
        _read_tensor(i, t, buffers) for i, t in enumerate(sg.tables(F.SubGraph.tensors, "tensors") or [])
    ]
    nt = len(tensors)

    def indices(vals, what, allow_optional=False):
        vals = tuple(vals or ())
        for v in vals:
            if not (0 <= v < nt or (allow_optional and v == -1)):
                raise ModelError(f"corrupt model: {what} names tensor {v} of {nt}")
        return vals

    inputs = indices(sg.scalars(F.SubGraph.inputs, "i", "subgraph inputs"), "subgraph input")
    outputs = indices(sg.scalars(F.SubGraph.outputs, "i", "subgraph outputs"), "subgraph output")

    operators = []
    for i, o in enumerate(sg.tables(F.SubGraph.operators, "operators") or []):
        oci = o.scalar(F.Operator.opcode_index, "I", 0)
        if oci >= len(opcodes):
            raise ModelError(
                f"corrupt model: operator {i} uses operator code {oci} of {len(opcodes)}"
            )
        oc = opcodes[oci]
        ins = indices(o.scalars(F.Operator.inputs, "i", f"inputs of operator {i}"),
                      f"operator {i} ({oc.name}) input", allow_optional=True)
        outs = indices(o.scalars(F.Operator.outputs, "i", f"outputs of operator {i}"),
                       f"operator {i} ({oc.name}) output")
        opt_type = o.scalar(F.Operator.builtin_options_type, "B", 0)
        opt_tab = o.table(F.Operator.builtin_options, f"options of operator {i}") if opt_type else None
        operators.append(_make_operator(i, oc, ins, outs, opt_type, opt_tab, tensors))

    model = Model(
        version=version,
        description=description,
        opcodes=tuple(opcodes),
        tensors=tuple(tensors),
        operators=tuple(operators),
        inputs=inputs,
        outputs=outputs,
        subgraph_name=sg_name,
        buffer_count=len(buffers),
        metadata=tuple(metadata),
        size_bytes=n,
        data=data,
    )
    if supported_only:
        check_supported(model)
    return model


def _read_tensor(i: int, t: _Table, buffers) -> Tensor:
    name = t.string(F.Tensor.name, f"name of tensor {i}") or ""
    label = f"tensor {i} '{name}'"
    shape = tuple(t.scalars(F.Tensor.shape, "i", f"shape of {label}") or ())
    if len(shape) > _MAX_RANK or any(d < 0 for d in shape):
        raise ModelError(f"corrupt model: {label} has shape {list(shape)}")
    sig = t.scalars(F.Tensor.shape_signature, "i", f"shape signature of {label}")
    code = t.scalar(F.Tensor.type, "b", 0)
    if code not in TENSOR_TYPES:
        raise ModelError(f"unsupported tensor type code {code} for {label}")
    dtype, itemsize = TENSOR_TYPES[code]
    bi = t.scalar(F.Tensor.buffer, "I", 0)
    if bi >= len(buffers):
        raise ModelError(f"corrupt model: {label} names buffer {bi} of {len(buffers)}")
    size, offset = buffers[bi]
    is_const = size > 0
    if is_const and itemsize is not None:
        expect = math.prod(shape) * itemsize
        if size != expect:
            raise ModelError(
                f"corrupt model: {label} has {size} bytes of data but shape "
                f"{list(shape)} of {dtype} needs {expect}"
            )
    quant = None
    q = t.table(F.Tensor.quantization, f"quantization of {label}")
    if q is not None:
        scale = q.scalars(F.QuantizationParameters.scale, "f", f"scales of {label}") or ()
        zp = q.scalars(F.QuantizationParameters.zero_point, "q", f"zero points of {label}") or ()
        axis = q.scalar(F.QuantizationParameters.quantized_dimension, "i", 0)
        # validate the min/max vectors too, so no part of the file goes unchecked
        q.vector(F.QuantizationParameters.min, 4, f"min of {label}")
        q.vector(F.QuantizationParameters.max, 4, f"max of {label}")
        if scale:
            if any(not math.isfinite(s) or s < 0 for s in scale):
                raise ModelError(f"corrupt model: {label} has a bad quantization scale")
            if zp and len(zp) != len(scale):
                raise ModelError(
                    f"corrupt model: {label} has {len(scale)} scales but {len(zp)} zero points"
                )
            if len(scale) > 1:
                if not 0 <= axis < len(shape) or shape[axis] != len(scale):
                    raise ModelError(
                        f"corrupt model: {label} of shape {list(shape)} has {len(scale)} "
                        f"per-channel scales along axis {axis}"
                    )
            quant = Quantization(
                tuple(float(s) for s in scale),
                tuple(int(z) for z in zp) if zp else (0,) * len(scale),
                int(axis),
            )
    return Tensor(
        index=i,
        name=name,
        shape=shape,
        dtype=dtype,
        type_code=code,
        buffer=bi,
        buffer_size=size,
        is_constant=is_const,
        is_variable=bool(t.scalar(F.Tensor.is_variable, "B", 0)),
        quant=quant,
        shape_signature=tuple(sig) if sig is not None else None,
        data_offset=offset,
    )


# options table layouts: union type -> (name, [(field, id, fmt, default)])
_OPTIONS = {
    BuiltinOptions.Conv2DOptions: ("Conv2DOptions", [
        ("padding", F.Conv2DOptions.padding, "b", 0),
        ("stride_w", F.Conv2DOptions.stride_w, "i", 0),
        ("stride_h", F.Conv2DOptions.stride_h, "i", 0),
        ("fused_activation_function", F.Conv2DOptions.fused_activation_function, "b", 0),
        ("dilation_w_factor", F.Conv2DOptions.dilation_w_factor, "i", 1),
        ("dilation_h_factor", F.Conv2DOptions.dilation_h_factor, "i", 1),
    ]),
    BuiltinOptions.DepthwiseConv2DOptions: ("DepthwiseConv2DOptions", [
        ("padding", F.DepthwiseConv2DOptions.padding, "b", 0),
        ("stride_w", F.DepthwiseConv2DOptions.stride_w, "i", 0),
        ("stride_h", F.DepthwiseConv2DOptions.stride_h, "i", 0),
        ("depth_multiplier", F.DepthwiseConv2DOptions.depth_multiplier, "i", 0),
        ("fused_activation_function", F.DepthwiseConv2DOptions.fused_activation_function, "b", 0),
        ("dilation_w_factor", F.DepthwiseConv2DOptions.dilation_w_factor, "i", 1),
        ("dilation_h_factor", F.DepthwiseConv2DOptions.dilation_h_factor, "i", 1),
    ]),
    BuiltinOptions.Pool2DOptions: ("Pool2DOptions", [
        ("padding", F.Pool2DOptions.padding, "b", 0),
        ("stride_w", F.Pool2DOptions.stride_w, "i", 0),
        ("stride_h", F.Pool2DOptions.stride_h, "i", 0),
        ("filter_width", F.Pool2DOptions.filter_width, "i", 0),
        ("filter_height", F.Pool2DOptions.filter_height, "i", 0),
        ("fused_activation_function", F.Pool2DOptions.fused_activation_function, "b", 0),
    ]),
    BuiltinOptions.FullyConnectedOptions: ("FullyConnectedOptions", [
        ("fused_activation_function", F.FullyConnectedOptions.fused_activation_function, "b", 0),
        ("weights_format", F.FullyConnectedOptions.weights_format, "b", 0),
        ("keep_num_dims", F.FullyConnectedOptions.keep_num_dims, "B", 0),
        ("asymmetric_quantize_inputs", F.FullyConnectedOptions.asymmetric_quantize_inputs, "B", 0),
    ]),
    BuiltinOptions.SoftmaxOptions: ("SoftmaxOptions", [
        ("beta", F.SoftmaxOptions.beta, "f", 0.0),
    ]),
    BuiltinOptions.AddOptions: ("AddOptions", [
        ("fused_activation_function", F.AddOptions.fused_activation_function, "b", 0),
        ("pot_scale_int16", F.AddOptions.pot_scale_int16, "B", 1),
    ]),
    BuiltinOptions.ReshapeOptions: ("ReshapeOptions", []),  # new_shape handled below
    BuiltinOptions.QuantizeOptions: ("QuantizeOptions", []),
    BuiltinOptions.DequantizeOptions: ("DequantizeOptions", []),
}

# which options union type each supported operator may carry
_OP_OPTIONS = {
    Op.CONV_2D: BuiltinOptions.Conv2DOptions,
    Op.DEPTHWISE_CONV_2D: BuiltinOptions.DepthwiseConv2DOptions,
    Op.AVERAGE_POOL_2D: BuiltinOptions.Pool2DOptions,
    Op.MAX_POOL_2D: BuiltinOptions.Pool2DOptions,
    Op.FULLY_CONNECTED: BuiltinOptions.FullyConnectedOptions,
    Op.SOFTMAX: BuiltinOptions.SoftmaxOptions,
    Op.ADD: BuiltinOptions.AddOptions,
    Op.RESHAPE: BuiltinOptions.ReshapeOptions,
    Op.QUANTIZE: BuiltinOptions.QuantizeOptions,
    Op.DEQUANTIZE: BuiltinOptions.DequantizeOptions,
}

# minimum number of (input, output) tensors of the supported operators
_ARITY = {
    Op.CONV_2D: (2, 1),
    Op.DEPTHWISE_CONV_2D: (2, 1),
    Op.FULLY_CONNECTED: (2, 1),
    Op.AVERAGE_POOL_2D: (1, 1),
    Op.MAX_POOL_2D: (1, 1),
    Op.ADD: (2, 1),
    Op.RESHAPE: (1, 1),
    Op.SOFTMAX: (1, 1),
    Op.QUANTIZE: (1, 1),
    Op.DEQUANTIZE: (1, 1),
}


def _shape_str(shape) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def _pair_str(h: int, w: int) -> str:
    return str(h) if h == w else f"{h}x{w}"


def _make_operator(i, oc: OpCode, ins, outs, opt_type, opt_tab, tensors) -> Operator:
    code = oc.builtin_code
    label = f"operator {i} ({oc.name})"
    options: dict[str, Any] = {}
    if code in _OP_OPTIONS:
        want = _OP_OPTIONS[code]
        if opt_type not in (0, want):
            raise ModelError(
                f"corrupt model: {label} carries options of union type {opt_type}, "
                f"expected {_OPTIONS[want][0]}"
            )
        if opt_tab is not None:
            for fname, fid, fmt, default in _OPTIONS[want][1]:
                options[fname] = opt_tab.scalar(fid, fmt, default)
            if want == BuiltinOptions.ReshapeOptions:
                ns = opt_tab.scalars(F.ReshapeOptions.new_shape, "i", f"new_shape of {label}")
                if ns is not None:
                    options["new_shape"] = tuple(ns)
        else:
            for fname, fid, fmt, default in _OPTIONS[want][1]:
                options[fname] = default
        if "beta" in options:
            options["beta"] = float(options["beta"])
        need_in, need_out = _ARITY[code]
        if len(ins) < need_in or len(outs) < need_out or any(
            ins[k] < 0 for k in range(need_in)
        ):
            raise ModelError(
                f"corrupt model: {label} has {len(ins)} inputs and {len(outs)} outputs"
            )

    act = ACTIVATIONS.get(options.get("fused_activation_function", 0), "UNKNOWN")
    padding = PADDING.get(options["padding"], "UNKNOWN") if "padding" in options else None
    stride = (options["stride_h"], options["stride_w"]) if "stride_h" in options else None
    dilation = (
        (options["dilation_h_factor"], options["dilation_w_factor"])
        if "dilation_h_factor" in options
        else None
    )
    depth_mult = options.get("depth_multiplier")
    filt = None
    macs = 0
    summary = ""

    def shp(k):
        return tensors[k].shape

    if code in _OP_OPTIONS:
        out_shape = shp(outs[0])
        out_elems = math.prod(out_shape)
        in_shape = shp(ins[0])
        if code in (Op.CONV_2D, Op.DEPTHWISE_CONV_2D):
            w = shp(ins[1])
            for what, s in (("input", in_shape), ("filter", w), ("output", out_shape)):
                if len(s) != 4:
                    raise ModelError(
                        f"corrupt model: {label} {what} has shape {list(s)}, expected 4 dimensions"
                    )
            if stride[0] < 1 or stride[1] < 1 or dilation[0] < 1 or dilation[1] < 1:
                raise ModelError(f"corrupt model: {label} has stride {stride} dilation {dilation}")
            filt = (w[1], w[2])
            macs = out_elems * w[1] * w[2] * (w[3] if code == Op.CONV_2D else 1)
            summary = f"{_shape_str(in_shape)} -> {_shape_str(out_shape)}, {w[1]}x{w[2]} s{_pair_str(*stride)} {padding}"
            if dilation != (1, 1):
                summary += f" d{_pair_str(*dilation)}"
            if code == Op.DEPTHWISE_CONV_2D and depth_mult not in (None, 0, 1):
                summary += f" m{depth_mult}"
        elif code in (Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D):
            filt = (options["filter_height"], options["filter_width"])
            summary = f"{_shape_str(in_shape)} -> {_shape_str(out_shape)}, {filt[0]}x{filt[1]} s{_pair_str(*stride)} {padding}"
        elif code == Op.FULLY_CONNECTED:
            w = shp(ins[1])
            if len(w) != 2:
                raise ModelError(
                    f"corrupt model: {label} weights have shape {list(w)}, expected 2 dimensions"
                )
            macs = out_elems * w[1]
            summary = f"{_shape_str(in_shape)} -> {_shape_str(out_shape)}"
        elif code == Op.ADD:
            summary = f"{_shape_str(in_shape)} + {_shape_str(shp(ins[1]))} -> {_shape_str(out_shape)}"
        else:
            summary = f"{_shape_str(in_shape)} -> {_shape_str(out_shape)}"
    else:
        summary = (
            ", ".join(_shape_str(shp(k)) for k in ins if k >= 0)
            + " -> "
            + ", ".join(_shape_str(shp(k)) for k in outs)
        )

    return Operator(
        index=i,
        opcode=code,
        op=oc.name,
        version=oc.version,
        inputs=ins,
        outputs=outs,
        options=options,
        options_type=opt_type,
        activation=act,
        padding=padding,
        stride=stride,
        dilation=dilation,
        depth_multiplier=depth_mult,
        filter=filt,
        macs=macs,
        summary=summary,
    )


# ---------------------------------------------------------------------------
# what mcusim's runtime can run

_INT8_COMPUTE = (
    Op.CONV_2D,
    Op.DEPTHWISE_CONV_2D,
    Op.FULLY_CONNECTED,
    Op.AVERAGE_POOL_2D,
    Op.MAX_POOL_2D,
    Op.ADD,
    Op.SOFTMAX,
)


def check_supported(model: Model) -> None:
    """Raise `ModelError` unless every operator and tensor type is one that
    mcusim's int8 runtime implements (see `SUPPORTED_OPS`)."""
    for op in model.operators:
        if op.opcode not in SUPPORTED_OPS:
            raise ModelError(
                f"unsupported operator {op.op} (op {op.opcode}) at index {op.index}"
            )
    for op in model.operators:
        if op.opcode in _INT8_COMPUTE:
            for k in op.inputs[:1] + op.outputs:
                t = model.tensors[k]
                if t.type_code in (TensorType.FLOAT32, TensorType.FLOAT16, TensorType.FLOAT64):
                    raise ModelError(
                        f"float model: operator {op.index} ({op.op}) works on {t.dtype} "
                        f"tensor '{t.name}'; mcusim needs an int8 quantized model"
                    )
                if t.type_code != TensorType.INT8:
                    raise ModelError(
                        f"unsupported type {t.dtype} for tensor '{t.name}' of operator "
                        f"{op.index} ({op.op}); mcusim runs int8 activations"
                    )
                if t.quant is None:
                    raise ModelError(
                        f"int8 tensor '{t.name}' of operator {op.index} ({op.op}) has no "
                        f"quantization parameters"
                    )
            if op.opcode in (Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED):
                w = model.tensors[op.inputs[1]]
                if w.type_code != TensorType.INT8:
                    raise ModelError(
                        f"unsupported type {w.dtype} for weights '{w.name}' of operator "
                        f"{op.index} ({op.op}); mcusim needs int8 weights"
                    )
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    b = model.tensors[op.inputs[2]]
                    if b.type_code != TensorType.INT32:
                        raise ModelError(
                            f"unsupported type {b.dtype} for bias '{b.name}' of operator "
                            f"{op.index} ({op.op}); mcusim needs int32 biases"
                        )
        elif op.opcode == Op.RESHAPE:
            t = model.tensors[op.inputs[0]]
            if t.type_code != TensorType.INT8:
                raise ModelError(
                    f"unsupported type {t.dtype} for tensor '{t.name}' of operator "
                    f"{op.index} (RESHAPE); mcusim runs int8 activations"
                )
        elif op.opcode == Op.QUANTIZE:
            t = model.tensors[op.outputs[0]]
            if t.type_code != TensorType.INT8:
                raise ModelError(
                    f"unsupported type {t.dtype} for output '{t.name}' of QUANTIZE at index {op.index}"
                )
        elif op.opcode == Op.DEQUANTIZE:
            t = model.tensors[op.inputs[0]]
            if t.type_code != TensorType.INT8:
                raise ModelError(
                    f"unsupported type {t.dtype} for input '{t.name}' of DEQUANTIZE at index {op.index}"
                )
