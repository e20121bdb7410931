"""The built-in models have exactly the MLPerf Tiny reference architectures,
are deterministic, and run in tflite-micro with input-dependent outputs."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcusim.tflite import BUILTIN_MODELS, builtin_model_bytes, read_model, read_model_file  # noqa: E402
from conftest import SHARED  # noqa: E402

MODELS_DIR = SHARED / "models"

_CACHE: dict = {}


def built(name):
    if name not in _CACHE:
        t0 = time.perf_counter()
        data = builtin_model_bytes(name)
        _CACHE[name] = (data, read_model(data, supported_only=True), time.perf_counter() - t0)
    return _CACHE[name]


def reference(name):
    p = MODELS_DIR / f"{name}.tflite"
    if not p.is_file():
        pytest.skip(f"reference model {p} not present")
    return read_model_file(p)


def test_names():
    assert BUILTIN_MODELS == ("kws", "vww", "ic", "ad")
    with pytest.raises(ValueError, match="unknown built-in model"):
        builtin_model_bytes("resnet50")


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_deterministic_and_fast(name):
    data, _, seconds = built(name)
    assert seconds < 2.0
    again = builtin_model_bytes(name)
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(data).hexdigest()
    assert data[4:8] == b"TFL3"


def _layout(t):
    q = t.quant
    return (
        t.shape,
        t.dtype,
        t.is_constant,
        None if q is None else (len(q.scale), q.per_channel, q.axis if q.per_channel else None),
    )


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_architecture_matches_reference(name):
    ref = reference(name)
    _, m, _ = built(name)

    assert m.version == 3 and len(m.tensors) == len(ref.tensors)
    # operator-code table: codes and versions in the same order
    assert [(c.builtin_code, c.version) for c in m.opcodes] == [
        (c.builtin_code, c.version) for c in ref.opcodes
    ]
    assert len(m.operators) == len(ref.operators)
    for a, b in zip(m.operators, ref.operators):
        where = f"{name} op {a.index}"
        assert (a.opcode, a.op, a.version, a.options_type) == (b.opcode, b.op, b.version, b.options_type), where
        assert dict(a.options) == dict(b.options), where
        assert (a.activation, a.padding, a.stride, a.dilation, a.depth_multiplier, a.filter) == (
            b.activation, b.padding, b.stride, b.dilation, b.depth_multiplier, b.filter), where
        assert (a.macs, a.summary) == (b.macs, b.summary), where
        assert len(a.inputs) == len(b.inputs) and len(a.outputs) == len(b.outputs), where
        for ta, tb in zip(
            [m.tensors[i] for i in a.inputs + a.outputs], [ref.tensors[i] for i in b.inputs + b.outputs]
        ):
            assert _layout(ta) == _layout(tb), (where, ta.name, tb.name)
            if tb.quant is not None and tb.is_constant:
                assert set(ta.quant.zero_point) == set(tb.quant.zero_point) == {0}
        # wiring: each input is the output of the same earlier op (or the model input)
        prod_a = {t: op.index for op in m.operators for t in op.outputs}
        prod_b = {t: op.index for op in ref.operators for t in op.outputs}
        assert [prod_a.get(t) for t in a.inputs] == [prod_b.get(t) for t in b.inputs], where
        # ops that keep quantization (pool, reshape) keep it in both
        if a.op in ("AVERAGE_POOL_2D", "RESHAPE"):
            assert m.tensors[a.outputs[0]].quant == m.tensors[a.inputs[0]].quant
        # ReLU outputs use the full int8 range from zero: zero point -128, as in the reference
        if a.activation == "RELU":
            assert m.tensors[a.outputs[0]].zero_point == ref.tensors[b.outputs[0]].zero_point == -128
        # bias scale = input scale * weight scale
        if a.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            s_in = m.tensors[a.inputs[0]].scale
            w, bias = m.tensors[a.inputs[1]], m.tensors[a.inputs[2]]
            np.testing.assert_allclose(np.array(bias.quant.scale), s_in * np.array(w.quant.scale), rtol=1e-6)

    # every tensor: same multiset of shapes, types, constness, quantization layout
    assert sorted(map(_layout, m.tensors), key=repr) == sorted(map(_layout, ref.tensors), key=repr)
    assert sorted((t.shape_signature or ()) for t in m.tensors) == sorted(
        (t.shape_signature or ()) for t in ref.tensors
    )

    # inputs and outputs; input quantization as the reference (the data feed assumes it)
    for ta, tb in zip(m.input_tensors, ref.input_tensors):
        assert (ta.shape, ta.dtype, ta.scale, ta.zero_point) == (tb.shape, tb.dtype, tb.scale, tb.zero_point)
    for ta, tb in zip(m.output_tensors, ref.output_tensors):
        assert (ta.shape, ta.dtype) == (tb.shape, tb.dtype)
    if name != "ad":  # softmax output: scale 1/256, zero point -128
        (out,) = m.output_tensors
        assert (out.scale, out.zero_point) == (1.0 / 256.0, -128)

    # costs
    assert m.macs == ref.macs
    assert m.macs_by_op() == ref.macs_by_op()
    assert m.op_counts() == ref.op_counts()
    assert m.weight_elements == ref.weight_elements
    assert m.bias_elements == ref.bias_elements
    assert m.constant_bytes == ref.constant_bytes
    assert m.peak_activation_bytes == ref.peak_activation_bytes
    assert [md[0] for md in m.metadata] == [md[0] for md in ref.metadata]


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_runs_in_tflite_micro(name):
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    data, m, _ = built(name)
    interp = runtime.Interpreter.from_bytes(data)
    (inp,), (out,) = m.input_tensors, m.output_tensors
    rng = np.random.default_rng(2024)
    outputs = []
    for _ in range(5):
        x = rng.integers(-128, 128, size=inp.shape, dtype=np.int8)
        interp.set_input(x, 0)
        interp.invoke()
        y = np.array(interp.get_output(0))
        assert y.shape == out.shape and y.dtype == np.int8
        outputs.append(y.copy())
    assert len({y.tobytes() for y in outputs}) > 1, "output does not depend on the input"
    if name == "ad":
        assert len(np.unique(outputs[0])) > 10  # not saturated
    else:
        # softmax: probabilities sum to ~1; not always the same winner with full confidence
        assert all(abs(int(y.astype(np.int32).sum()) + 128 * y.size - 256) < 8 * y.size for y in outputs)


def test_cli_writes_model(tmp_path):
    out = tmp_path / "kws.tflite"
    env_path = str(ROOT)
    r = subprocess.run(
        [sys.executable, "-m", "mcusim.tflite.builtin", "kws", str(out)],
        cwd=env_path, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == builtin_model_bytes("kws")
    r = subprocess.run(
        [sys.executable, "-m", "mcusim.tflite.builtin", "nope", str(out)],
        cwd=env_path, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2 and "usage" in r.stderr
