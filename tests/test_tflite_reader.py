"""mcusim.tflite.reader against the MLPerf Tiny reference models and bad input.

The facts asserted here are the tables of shared/models/README.md.
"""

from __future__ import annotations

import hashlib
import random
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcusim.tflite import ModelError, check_supported, read_model, read_model_file  # noqa: E402
from mcusim.tflite.builtin import OpSpec, TensorSpec, builtin_model_bytes, write_model  # noqa: E402
from mcusim.tflite.schema import BuiltinOptions, Op, TensorType  # noqa: E402
from conftest import SHARED  # noqa: E402

MODELS_DIR = SHARED / "models"
NAMES = ("kws", "vww", "ic", "ad")


def _path(name: str) -> Path:
    p = MODELS_DIR / f"{name}.tflite"
    if not p.is_file():
        pytest.skip(f"reference model {p} not present")
    return p


_CACHE: dict = {}


def ref(name: str):
    if name not in _CACHE:
        p = _path(name)
        _CACHE[name] = (p.read_bytes(), read_model_file(p))
    return _CACHE[name]


# ---------------------------------------------------------------------------
# README facts

FILES = {  # bytes, sha256
    "kws": (53_936, "aeea436800704fce17b17292e4412630ad856e9d777c044c64ef748a880bd0ae"),
    "vww": (333_288, "597a384c8c2c8a1276f04702f25013b7838f2f814f1ca7c174d295b73e3d6b7b"),
    "ic": (98_496, "3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415"),
    "ad": (276_976, "87cf24194ef93d1d9b11a591d805526b98008e351655d29883c825c9c106ba24"),
}

IO = {  # input shape, scale, zp; output shape, scale, zp
    "kws": ((1, 49, 10, 1), 0.5847029089927673, 83, (1, 12), 0.00390625, -128),
    "vww": ((1, 96, 96, 3), 0.003921568859368563, -128, (1, 2), 0.00390625, -128),
    "ic": ((1, 32, 32, 3), 1.0, -128, (1, 10), 0.00390625, -128),
    "ad": ((1, 640), 0.3910152316093445, 89, (1, 640), 0.36449846625328064, 96),
}

OPS = {
    "kws": ({"CONV_2D": 5, "DEPTHWISE_CONV_2D": 4, "AVERAGE_POOL_2D": 1, "RESHAPE": 1,
             "FULLY_CONNECTED": 1, "SOFTMAX": 1}, 13),
    "vww": ({"CONV_2D": 14, "DEPTHWISE_CONV_2D": 13, "AVERAGE_POOL_2D": 1, "RESHAPE": 1,
             "FULLY_CONNECTED": 1, "SOFTMAX": 1}, 31),
    "ic": ({"CONV_2D": 9, "ADD": 3, "AVERAGE_POOL_2D": 1, "RESHAPE": 1,
            "FULLY_CONNECTED": 1, "SOFTMAX": 1}, 16),
    "ad": ({"FULLY_CONNECTED": 10}, 10),
}

# MACs total, CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, int8 weights, int32 bias
# elements, constant data bytes, peak live activations
SIZES = {
    "kws": (2_656_768, 2_368_000, 288_000, 768, 22_016, 588, 24_376, 16_000),
    "vww": (7_489_664, 6_690_816, 798_336, 512, 208_112, 2_736, 219_072, 55_296),
    "ic": (12_501_632, 12_500_992, 0, 640, 77_360, 346, 78_752, 49_152),
    "ad": (264_192, 0, 0, 264_192, 264_192, 1_672, 270_880, 768),
}

VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "AVERAGE_POOL_2D": 2,
            "ADD": 2, "SOFTMAX": 2, "RESHAPE": 1}


@pytest.mark.parametrize("name", NAMES)
def test_file_identity(name):
    data, m = ref(name)
    size, sha = FILES[name]
    assert len(data) == size == m.size_bytes
    assert hashlib.sha256(data).hexdigest() == sha


@pytest.mark.parametrize("name", NAMES)
def test_general_facts(name):
    _, m = ref(name)
    assert m.version == 3
    assert m.description == "MLIR Converted."
    assert m.subgraph_name == "main"
    check_supported(m)  # all ops in mcusim's set, int8 activations
    # int8 activations, int8 weights (conv/depthwise per output channel, FC per tensor),
    # int32 biases
    for op in m.operators:
        for k in op.outputs:
            assert m.tensors[k].dtype == "int8"
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w, b = m.tensors[op.inputs[1]], m.tensors[op.inputs[2]]
            assert w.dtype == "int8" and w.is_constant and b.dtype == "int32" and b.is_constant
            if op.op == "FULLY_CONNECTED":
                assert not w.quant.per_channel and not b.quant.per_channel
            else:
                cout = w.shape[0] if op.op == "CONV_2D" else w.shape[3]
                assert w.quant.per_channel and len(w.quant.scale) == cout
                assert w.quant.axis == (0 if op.op == "CONV_2D" else 3)
                assert len(b.quant.scale) == cout
            assert set(w.quant.zero_point) == {0} and set(b.quant.zero_point) == {0}
            # bias scale = input scale * weight scale
            s_in = m.tensors[op.inputs[0]].scale
            np.testing.assert_allclose(
                np.array(b.quant.scale), s_in * np.array(w.quant.scale), rtol=1e-5
            )


@pytest.mark.parametrize("name", NAMES)
def test_io_tensors(name):
    _, m = ref(name)
    ish, isc, izp, osh, osc, ozp = IO[name]
    (i,), (o,) = m.input_tensors, m.output_tensors
    assert (i.shape, i.dtype, i.zero_point) == (ish, "int8", izp)
    assert (o.shape, o.dtype, o.zero_point) == (osh, "int8", ozp)
    assert i.scale == pytest.approx(isc, rel=1e-7)
    assert o.scale == pytest.approx(osc, rel=1e-7)
    assert not i.is_constant and not o.is_constant


@pytest.mark.parametrize("name", NAMES)
def test_operator_counts_and_versions(name):
    _, m = ref(name)
    counts, total = OPS[name]
    assert m.op_counts() == counts
    assert len(m.operators) == total
    for op in m.operators:
        assert op.version == VERSIONS[op.op], op
    assert [op.index for op in m.operators] == list(range(total))
    assert {op.op for op in m.operators} <= set(VERSIONS)


@pytest.mark.parametrize("name", NAMES)
def test_sizes_macs_memory(name):
    _, m = ref(name)
    macs, conv, dw, fc, w8, bias, const, peak = SIZES[name]
    by = m.macs_by_op()
    assert m.macs == macs
    assert by.get("CONV_2D", 0) == conv
    assert by.get("DEPTHWISE_CONV_2D", 0) == dw
    assert by.get("FULLY_CONNECTED", 0) == fc
    assert all(v == 0 for k, v in by.items()
               if k not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))
    assert m.weight_elements == w8
    assert sum(t.elements for t in m.tensors if t.is_constant and t.dtype == "int8") == w8
    assert m.constant_bytes == const
    assert m.peak_activation_bytes == peak
    if name == "vww":
        # The README counts 2,736: the conv and depthwise biases, leaving out the
        # 2-element dense bias [1463, -1463]; with it the model has 2,738.
        dense_bias = m.tensors[m.operators[-2].inputs[2]]
        assert dense_bias.shape == (2,)
        assert m.bias_elements == bias + 2
    else:
        assert m.bias_elements == bias


def test_layer_details_kws():
    _, m = ref("kws")
    ops = m.operators
    assert ops[0].summary == "1x49x10x1 -> 1x25x5x64, 10x4 s2 SAME"
    assert ops[0].macs == 25 * 5 * 64 * 10 * 4
    for k in range(4):
        d, p = ops[1 + 2 * k], ops[2 + 2 * k]
        assert (d.op, d.filter, d.stride, d.padding, d.depth_multiplier) == (
            "DEPTHWISE_CONV_2D", (3, 3), (1, 1), "SAME", 1)
        assert (p.op, p.filter, p.stride) == ("CONV_2D", (1, 1), (1, 1))
    assert all(op.activation == "RELU" for op in ops[:9])
    assert ops[9].summary == "1x25x5x64 -> 1x1x1x64, 25x5 s25x5 VALID"
    assert ops[10].summary == "1x1x1x64 -> 1x64"
    assert (ops[11].summary, ops[11].activation) == ("1x64 -> 1x12", "NONE")
    assert ops[12].options["beta"] == 1.0


def test_layer_details_vww():
    _, m = ref("vww")
    ops = m.operators
    assert (ops[0].op, ops[0].filter, ops[0].stride) == ("CONV_2D", (3, 3), (2, 2))
    assert m.tensors[ops[0].outputs[0]].shape == (1, 48, 48, 8)
    dws = [op for op in ops if op.op == "DEPTHWISE_CONV_2D"]
    assert [i + 1 for i, op in enumerate(dws) if op.stride == (2, 2)] == [2, 4, 6, 12]
    assert all(op.padding == "SAME" and op.activation == "RELU" for op in ops[:27])
    pw = [op for op in ops[1:27] if op.op == "CONV_2D"]
    assert [m.tensors[op.outputs[0]].shape[3] for op in pw] == [16, 32, 32, 64, 64] + [128] * 6 + [256, 256]
    assert ops[27].filter == (3, 3) and ops[27].padding == "VALID"
    assert ops[29].summary == "1x256 -> 1x2"


def test_layer_details_ic():
    _, m = ref("ic")
    ops = m.operators
    convs = [op for op in ops if op.op == "CONV_2D"]
    assert all(op.padding == "SAME" for op in convs)
    # second conv of each block has no activation; the ADDs carry the ReLU
    assert [op.activation for op in convs] == ["RELU", "RELU", "NONE", "RELU", "NONE", "NONE",
                                               "RELU", "NONE", "NONE"]
    assert [op.activation for op in ops if op.op == "ADD"] == ["RELU"] * 3
    shortcuts = [op for op in convs if op.filter == (1, 1)]
    assert [(op.stride, op.summary) for op in shortcuts] == [
        ((2, 2), "1x32x32x16 -> 1x16x16x32, 1x1 s2 SAME"),
        ((2, 2), "1x16x16x32 -> 1x8x8x64, 1x1 s2 SAME"),
    ]
    assert ops[12].summary == "1x8x8x64 -> 1x1x1x64, 8x8 s8 VALID"
    assert ops[14].summary == "1x64 -> 1x10"


def test_layer_details_ad():
    _, m = ref("ad")
    widths = [m.tensors[m.operators[0].inputs[0]].shape[1]] + [
        m.tensors[op.outputs[0]].shape[1] for op in m.operators
    ]
    assert widths == [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    assert [op.activation for op in m.operators] == ["RELU"] * 9 + ["NONE"]
    assert [op.macs for op in m.operators][:2] == [640 * 128, 128 * 128]


def test_tensor_data_view():
    _, m = ref("kws")
    shape_const = m.operators[10].inputs[1]
    assert m.tensor_data(shape_const).tolist() == [-1, 64]
    w = m.tensor_data(m.operators[0].inputs[1])
    assert w.shape == (64, 10, 4, 1) and w.dtype == np.int8
    with pytest.raises(ModelError):
        m.tensor_data(m.inputs[0])


def test_kws_sample_in_tflite_micro():
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    sample = MODELS_DIR / "samples" / "kws_sample0_on.int8.bin"
    if not sample.is_file():
        pytest.skip("sample absent")
    data, m = ref("kws")
    interp = runtime.Interpreter.from_bytes(data)
    x = np.frombuffer(sample.read_bytes(), dtype=np.int8).reshape(m.input_tensors[0].shape)
    interp.set_input(x, 0)
    interp.invoke()
    out = interp.get_output(0).ravel().tolist()
    assert out == [-128] * 5 + [127] + [-128] * 6


# ---------------------------------------------------------------------------
# bad input: always ModelError, never another exception


def expect_error(data, match=None, **kw):
    with pytest.raises(ModelError) as info:
        read_model(data, **kw)
    msg = str(info.value)
    assert "\n" not in msg and msg
    if match:
        assert match in msg, msg
    return msg


def test_empty_and_tiny():
    expect_error(b"", "empty")
    expect_error(b"\x00" * 5, "too short")


def test_random_bytes():
    rng = random.Random(1234)
    for n in (8, 16, 100, 1000, 5000):
        for _ in range(20):
            data = bytes(rng.randrange(256) for _ in range(n))
            expect_error(data)
            # the right identifier does not make random bytes a model
            expect_error(data[:4] + b"TFL3" + data[8:])


def test_wrong_identifier():
    data, _ = ref("kws")
    msg = expect_error(data[:4] + b"TFL2" + data[8:], "file identifier")
    assert "TFL3" in msg


def test_not_a_flatbuffer_root():
    data, _ = ref("kws")
    expect_error(struct.pack("<I", len(data) + 100) + data[4:], "not a flatbuffer")


@pytest.mark.parametrize("name", NAMES)
def test_truncated_everywhere(name):
    data, _ = ref(name)
    n = len(data)
    cuts = set(range(0, 200)) | set(range(n - 200, n)) | set(range(0, n, max(1, n // 300)))
    for c in sorted(cuts):
        expect_error(data[:c])


@pytest.mark.parametrize("name", ("kws", "ad"))
def test_corrupted_bytes_only_model_error(name):
    data, _ = ref(name)
    rng = random.Random(99)
    for _ in range(400):
        b = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            # mostly in the tables (the front of the file), sometimes anywhere
            p = rng.randrange(min(len(b), 1500)) if rng.random() < 0.7 else rng.randrange(len(b))
            b[p] = rng.randrange(256)
        try:
            read_model(bytes(b), supported_only=True)
        except ModelError as e:
            assert "\n" not in str(e)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        read_model_file(tmp_path / "nope.tflite")


# models built with our writer


def _q(scale=0.1, zp=0):
    return dict(scale=(scale,), zero_point=(zp,))


def _fc_model(type_code=TensorType.INT8, opcode=Op.FULLY_CONNECTED, version=4, **kw):
    """input [1,4] -> op -> [1,2] with FC-shaped weights/bias."""
    itemsize = {TensorType.INT8: 1, TensorType.INT16: 2, TensorType.FLOAT32: 4}[type_code]
    quant = type_code != TensorType.FLOAT32
    tensors = [
        TensorSpec("in", (1, 4), type_code, **(_q() if quant else {})),
        TensorSpec("w", (2, 4), type_code, b"\x01" * (8 * itemsize), **(_q() if quant else {})),
        TensorSpec("b", (2,), TensorType.INT32 if quant else type_code,
                   b"\x00" * 8, **(_q(0.01) if quant else {})),
        TensorSpec("out", (1, 2), type_code, **(_q() if quant else {})),
    ]
    ops = [OpSpec(opcode, (0, 1, 2), (3,),
                  BuiltinOptions.FullyConnectedOptions if opcode == Op.FULLY_CONNECTED else 0)]
    return write_model(tensors, ops, (0,), (3,), [(opcode, version)], **kw)


def test_writer_model_is_valid():
    m = read_model(_fc_model(), supported_only=True)
    assert m.macs == 8 and m.operators[0].summary == "1x4 -> 1x2"
    assert m.constant_bytes == 16 and m.peak_activation_bytes == 6


def test_unsupported_operator():
    lstm = 16
    data = _fc_model(opcode=lstm, version=1)
    m = read_model(data)  # structurally fine
    assert m.operators[0].op == "LSTM"
    with pytest.raises(ModelError, match=r"^unsupported operator LSTM \(op 16\) at index 0$"):
        check_supported(m)
    expect_error(data, "unsupported operator LSTM (op 16) at index 0", supported_only=True)


def test_float_model():
    data = _fc_model(type_code=TensorType.FLOAT32)
    m = read_model(data)
    assert m.tensors[0].dtype == "float32"
    expect_error(data, "float model", supported_only=True)


def test_int16_activations_unsupported():
    data = _fc_model(type_code=TensorType.INT16)
    assert read_model(data).tensors[0].dtype == "int16"
    expect_error(data, "unsupported type int16", supported_only=True)


def test_quantize_dequantize_path():
    """float32 in -> QUANTIZE -> FC -> DEQUANTIZE -> float32 out is supported (and runs)."""
    tensors = [
        TensorSpec("in_f", (1, 4), TensorType.FLOAT32),
        TensorSpec("in", (1, 4), TensorType.INT8, **_q(0.05, -3)),
        TensorSpec("w", (2, 4), TensorType.INT8, bytes([1, 2, 3, 4, 255, 254, 253, 252]), **_q(0.1)),
        TensorSpec("b", (2,), TensorType.INT32, b"\x00" * 8, **_q(0.005)),
        TensorSpec("out", (1, 2), TensorType.INT8, **_q(0.02, 0)),
        TensorSpec("out_f", (1, 2), TensorType.FLOAT32),
    ]
    ops = [
        OpSpec(Op.QUANTIZE, (0,), (1,)),
        OpSpec(Op.FULLY_CONNECTED, (1, 2, 3), (4,), BuiltinOptions.FullyConnectedOptions),
        OpSpec(Op.DEQUANTIZE, (4,), (5,)),
    ]
    data = write_model(tensors, ops, (0,), (5,),
                       [(Op.QUANTIZE, 1), (Op.FULLY_CONNECTED, 4), (Op.DEQUANTIZE, 2)])
    m = read_model(data, supported_only=True)
    assert [op.op for op in m.operators] == ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"]
    assert m.macs == 8 and m.operators[0].summary == "1x4 -> 1x4"
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    interp = runtime.Interpreter.from_bytes(data)
    interp.set_input(np.array([[1.0, 0.5, -0.5, 0.25]], dtype=np.float32), 0)
    interp.invoke()
    y = interp.get_output(0)
    # FC weights [.1,.2,.3,.4] and their negation: 0.1 + 0.1 - 0.15 + 0.1 = 0.15
    np.testing.assert_allclose(y, [[0.15, -0.15]], atol=0.02)


def test_schema_version():
    expect_error(_fc_model(schema_version=2), "schema version 2")


def test_more_than_one_subgraph():
    expect_error(_fc_model(subgraph_copies=2), "2 subgraphs")
    expect_error(_fc_model(subgraph_copies=0), "no subgraph")


def test_unsupported_tensor_type():
    tensors = [TensorSpec("in", (1, 4), 99), TensorSpec("out", (1, 4), TensorType.INT8)]
    data = write_model(tensors, [OpSpec(Op.RESHAPE, (0,), (1,))], (0,), (1,), [(Op.RESHAPE, 1)])
    expect_error(data, "unsupported tensor type code 99")


def test_bad_indices_and_sizes():
    t = [TensorSpec("in", (1, 4), TensorType.INT8, **_q()), TensorSpec("out", (1, 4), TensorType.INT8, **_q())]
    bad_tensor = write_model(t, [OpSpec(Op.RESHAPE, (0,), (7,))], (0,), (1,), [(Op.RESHAPE, 1)])
    expect_error(bad_tensor, "names tensor 7")
    bad_input = write_model(t, [OpSpec(Op.RESHAPE, (0,), (1,))], (5,), (1,), [(Op.RESHAPE, 1)])
    expect_error(bad_input, "subgraph input names tensor 5")
    # constant data that does not match the shape
    t2 = [TensorSpec("in", (1, 4), TensorType.INT8, b"\x00" * 3, **_q()), t[1]]
    expect_error(write_model(t2, [OpSpec(Op.RESHAPE, (0,), (1,))], (0,), (1,), [(Op.RESHAPE, 1)]),
                 "needs 4")
    # per-channel scales that do not match the axis
    t3 = [t[0], TensorSpec("out", (1, 4), TensorType.INT8, scale=(0.1, 0.2, 0.3), zero_point=(0, 0, 0), axis=1)]
    expect_error(write_model(t3, [OpSpec(Op.RESHAPE, (0,), (1,))], (0,), (1,), [(Op.RESHAPE, 1)]),
                 "per-channel")


def test_builtin_truncated_everywhere():
    data = builtin_model_bytes("kws")
    for c in range(0, len(data), 97):
        expect_error(data[:c])
    read_model(data, supported_only=True)
