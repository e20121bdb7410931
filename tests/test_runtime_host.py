"""Host bit-exactness tests of the firmware int8 runtime (firmware_images/runtime).

The runtime's C sources are compiled for the host (gcc -O2) together with the tiny harness
in firmware_images/runtime/host/, once with the portable `ref` kernels and once with the
`opt` kernels (-DMCUSIM_KERNELS_OPT; on the host the DSP intrinsics are emulated in C, so
the same code path is tested). Outputs are compared byte for byte with the PyPI
`tflite-micro` interpreter, the ground truth:
  - the four MLPerf Tiny reference models (../shared/models) on seeded random inputs,
  - the KWS sample input,
  - single-operator synthetic models covering options the four models do not use,
  - corrupt and truncated model files (must fail with the bad-model code, never crash),
  - arena planning: too-small arena, and a Python mirror of the documented planner.
"""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "firmware_images" / "runtime"
MODELS = SHARED / "models"
MODEL_NAMES = ["kws", "vww", "ic", "ad"]
N_INPUTS = 32

ERR_BAD_MODEL, ERR_UNSUPPORTED, ERR_ARENA = 10, 11, 12

tflm_runtime = pytest.importorskip(
    "tflite_micro.python.tflite_micro.runtime", reason="tflite-micro (PyPI tflite_micro) not installed")


def _need_models():
    if not all((MODELS / f"{m}.tflite").is_file() for m in MODEL_NAMES):
        pytest.skip(f"MLPerf Tiny models not found in {MODELS} (shared data directory absent)")


def _compile(out, extra):
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("host gcc not available")
    srcs = sorted(str(p) for p in RUNTIME.glob("*.c")) + [str(RUNTIME / "host" / "mcrt_host.c")]
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out)] + extra + srcs
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    return out, ""


@pytest.fixture(scope="session")
def host_builds(tmp_path_factory):
    d = tmp_path_factory.mktemp("mcrt_host")
    builds = {}
    for name, extra in (("ref", []), ("opt", ["-DMCUSIM_KERNELS_OPT"])):
        exe, err = _compile(d / f"mcrt_host_{name}", extra)
        assert exe is not None, f"host build ({name}) failed:\n{err}"
        builds[name] = exe
    # address/UB-sanitized build for the corrupt-model tests (optional)
    exe, _ = _compile(d / "mcrt_host_asan",
                      ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"])
    builds["asan"] = exe
    return builds


@pytest.fixture(params=["ref", "opt"])
def host(request, host_builds):
    return host_builds[request.param]


def run_host(exe, model_path, inputs=None, tmp=None, extra=(), timeout=120):
    """Run the harness; returns (returncode, output bytes or None, stderr)."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    tmp = Path(tmp)
    out = tmp / "out.bin"
    if inputs is None:
        in_arg = "-"
    else:
        in_arg = str(tmp / "in.bin")
        Path(in_arg).write_bytes(inputs)
    if out.exists():
        out.unlink()
    r = subprocess.run([str(exe), str(model_path), in_arg, str(out), *extra],
                       capture_output=True, text=True, timeout=timeout, env=env)
    data = out.read_bytes() if (r.returncode == 0 and out.exists()) else None
    return r.returncode, data, r.stderr


def tflm_outputs(model, inputs):
    """Run tflite-micro on each input array; returns the concatenated output bytes."""
    if isinstance(model, (str, Path)):
        it = tflm_runtime.Interpreter.from_file(str(model))
    else:
        it = tflm_runtime.Interpreter.from_bytes(model)
    outs = []
    for x in inputs:
        it.set_input(x, 0)
        it.invoke()
        outs.append(np.ascontiguousarray(it.get_output(0)).tobytes())
    return b"".join(outs)


def random_inputs(shape, dtype, seed, n=N_INPUTS):
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return [rng.normal(0, 3, size=shape).astype(np.float32) for _ in range(n)]
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]


# ------------------------------------------------------------------ the four models

@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_bit_exact(model, host, tmp_path):
    _need_models()
    path = MODELS / f"{model}.tflite"
    it = tflm_runtime.Interpreter.from_file(str(path))
    shape = it.get_input_details(0)["shape"]
    seed = 1000 + MODEL_NAMES.index(model)
    xs = random_inputs(shape, np.int8, seed)
    xs[0] = np.zeros(shape, np.int8)
    xs[1] = np.full(shape, 127, np.int8)
    xs[2] = np.full(shape, -128, np.int8)
    want = tflm_outputs(path, xs)
    rc, got, err = run_host(host, path, b"".join(x.tobytes() for x in xs), tmp_path)
    assert rc == 0, err
    out_bytes = len(want) // len(xs)
    bad = [i for i in range(len(xs))
           if got[i * out_bytes:(i + 1) * out_bytes] != want[i * out_bytes:(i + 1) * out_bytes]]
    assert not bad, f"{model}: outputs differ from tflite-micro for inputs {bad}"


def test_kws_sample(host, tmp_path):
    _need_models()
    sample = MODELS / "samples" / "kws_sample0_on.int8.bin"
    if not sample.is_file():
        pytest.skip(f"{sample} absent")
    rc, got, err = run_host(host, MODELS / "kws.tflite", sample.read_bytes(), tmp_path)
    assert rc == 0, err
    assert list(np.frombuffer(got, np.int8)) == [-128] * 5 + [127] + [-128] * 6


def _info(exe, path, tmp, extra=()):
    import json
    r = subprocess.run([str(exe), str(path), "-", str(Path(tmp) / "o.bin"), "--info", *extra],
                       capture_output=True, text=True)
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else None), r.stderr


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_arena_plan_and_too_small(model, host_builds, tmp_path):
    _need_models()
    path = MODELS / f"{model}.tflite"
    rc, info, err = _info(host_builds["ref"], path, tmp_path)
    assert rc == 0, err
    # the plan the runtime reports equals the documented algorithm (Python mirror)
    planned, persistent = plan_arena(path.read_bytes())
    assert (info["planned_bytes"], info["persistent_bytes"]) == (planned, persistent)
    assert info["arena_bytes"] == planned + persistent
    # MACs per layer sum to the documented totals
    total = {"kws": 2656768, "vww": 7489664, "ic": 12501632, "ad": 264192}[model]
    assert sum(m for _, m in info["ops"]) == total
    # one byte short -> arena error with the bytes needed (malloc'ed arena is 16-aligned)
    need = info["arena_bytes"]
    rc, info2, err = _info(host_builds["ref"], path, tmp_path, ("--arena", str(need - 1)))
    assert rc == ERR_ARENA and err.split()[:3] == ["error", str(ERR_ARENA), str(need)]
    rc, _, err = _info(host_builds["ref"], path, tmp_path, ("--arena", str(need)))
    assert rc == 0, err


# ------------------------------------------------------------ arena planner mirror

def plan_arena(model_bytes):
    """Python mirror of the planner documented at the top of mcrt.c.
    Returns (planned_bytes, persistent_bytes)."""
    tflite = pytest.importorskip("tflite")
    m = tflite.Model.GetRootAsModel(model_bytes, 0)
    g = m.Subgraphs(0)
    a16 = lambda x: (x + 15) & ~15
    sizes = {0: 4, 2: 4, 3: 1, 9: 1, 6: 1, 4: 8, 10: 8, 7: 2}
    nops = g.OperatorsLength()
    life = {}

    def touch(t, i):
        f, l = life.get(t, (i, i))
        life[t] = (min(f, i), max(l, i))

    for k in range(g.InputsLength()):
        touch(g.Inputs(k), 0)
    persistent = 0
    for i in range(nops):
        op = g.Operators(i)
        for t in list(op.InputsAsNumpy()) + list(op.OutputsAsNumpy()):
            if t >= 0:
                touch(int(t), i)
        oc = m.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        w = g.Tensors(int(op.Inputs(1))) if op.InputsLength() > 1 else None
        if code in (3, 4) or (code == 9 and w.Quantization() and w.Quantization().ScaleLength() > 1):
            oshape = g.Tensors(int(op.Outputs(0))).ShapeAsNumpy()
            c = int(oshape[-1]) if code in (3, 4) else int(w.ShapeAsNumpy()[0])
            persistent += a16(4 * c) + a16(c)
    for k in range(g.OutputsLength()):
        t = g.Outputs(k)
        f, _ = life.get(t, (0, 0))
        life[t] = (f, max(nops - 1, 0))
    bufs = []
    for t, (f, l) in life.items():
        ten = g.Tensors(t)
        b = m.Buffers(ten.Buffer())
        if ten.Buffer() > 0 and (b.DataLength() > 0 or (b.Offset() > 1 and b.Size() > 0)):
            continue
        n = int(np.prod(ten.ShapeAsNumpy())) if ten.ShapeLength() else 1
        size = a16(n * sizes.get(ten.Type(), 0))
        if size:
            bufs.append((size, f, l, t))
    bufs.sort(key=lambda b: (-b[0], b[1], b[3]))
    placed = []
    total = 0
    for size, f, l, t in bufs:
        conflicts = sorted((o, o + s) for (o, s, f2, l2) in placed if f <= l2 and f2 <= l)
        cands = sorted({0} | {e for _, e in conflicts})
        off = next(c for c in cands if all(c + size <= o0 or c >= o1 for o0, o1 in conflicts))
        placed.append((off, size, f, l))
        total = max(total, off + size)
    return total, persistent


# --------------------------------------------------------------- corrupt models

def _check_no_crash(rc, err, what):
    assert rc >= 0, f"{what}: killed by signal {-rc}\n{err[-2000:]}"
    assert rc in (0, ERR_BAD_MODEL, ERR_UNSUPPORTED, ERR_ARENA), f"{what}: rc={rc}\n{err[-3000:]}"


@pytest.mark.parametrize("model", ["kws", "ic", "ad"])
def test_truncated_models_rejected(model, host_builds, tmp_path):
    _need_models()
    exe = host_builds["asan"] or host_builds["ref"]
    data = (MODELS / f"{model}.tflite").read_bytes()
    for n in [0, 1, 4, 7, 8, 16, 100, len(data) // 3, len(data) // 2, len(data) - 200,
              len(data) - 8, len(data) - 1]:
        p = tmp_path / "trunc.tflite"
        p.write_bytes(data[:n])
        rc, _, err = run_host(exe, p, None, tmp_path)
        assert rc == ERR_BAD_MODEL, f"{model} truncated to {n}: rc={rc}\n{err[-2000:]}"


def _metadata_positions(data):
    """Byte positions outside the constant-data buffers (where the schema lives)."""
    tflite = pytest.importorskip("tflite")
    m = tflite.Model.GetRootAsModel(data, 0)
    mask = np.ones(len(data), bool)
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        if b.DataLength() > 0:
            o = b._tab.Vector(4)
            mask[o:o + b.DataLength()] = False
    return np.nonzero(mask)[0]


@pytest.mark.parametrize("model", ["kws", "ic", "ad"])
def test_corrupt_models_never_crash(model, host_builds, tmp_path):
    _need_models()
    exe = host_builds["asan"] or host_builds["ref"]
    data = (MODELS / f"{model}.tflite").read_bytes()
    meta = _metadata_positions(data)
    rng = np.random.default_rng(77 + MODEL_NAMES.index(model))
    n_bad = 0
    for i in range(60):
        c = np.frombuffer(data, np.uint8).copy()
        for _ in range(int(rng.integers(1, 6))):
            pos = meta[rng.integers(0, len(meta))]
            kind = rng.integers(0, 3)
            if kind == 0:
                c[pos] = rng.integers(0, 256)
            elif kind == 1:
                c[pos] ^= np.uint8(1 << int(rng.integers(0, 8)))
            else:
                c[pos] = rng.choice([0, 1, 0x7F, 0x80, 0xFF])
        p = tmp_path / "bad.tflite"
        p.write_bytes(c.tobytes())
        rc, _, err = run_host(exe, p, None, tmp_path)
        _check_no_crash(rc, err, f"{model} mutation {i}")
        n_bad += rc == ERR_BAD_MODEL
    assert n_bad > 0


def test_specific_corruptions(host_builds, tmp_path):
    _need_models()
    import struct
    exe = host_builds["asan"] or host_builds["ref"]
    data = bytearray((MODELS / "kws.tflite").read_bytes())
    cases = {}
    d = bytearray(data); d[0:4] = struct.pack("<I", len(data) + 100); cases["root past end"] = d
    d = bytearray(data); d[0:4] = struct.pack("<I", 0xFFFFFFF0); cases["root huge"] = d
    root = struct.unpack_from("<I", data, 0)[0]
    d = bytearray(data); d[root:root + 4] = struct.pack("<i", -0x7FFFFFFF); cases["vtable off"] = d
    d = bytearray(data); d[root:root + 4] = struct.pack("<i", 0x7FFFFFFF); cases["vtable neg"] = d
    cases["garbage"] = bytes(np.random.default_rng(5).integers(0, 256, 5000, dtype=np.uint8))
    cases["zeros"] = bytes(4096)
    for name, blob in cases.items():
        p = tmp_path / "x.tflite"
        p.write_bytes(bytes(blob))
        rc, _, err = run_host(exe, p, None, tmp_path)
        assert rc == ERR_BAD_MODEL, f"{name}: rc={rc}\n{err[-2000:]}"


# ------------------------------------------------------- synthetic single-op models

def _schema():
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as S
        import flatbuffers  # noqa: F401
    except ImportError:
        pytest.skip("tflite_micro schema or flatbuffers not importable")
    return S


class Net:
    """Tiny .tflite writer for single-operator test models."""

    def __init__(self):
        self.S = _schema()
        self.tensors, self.buffers, self.ops, self.codes = [], [self.S.BufferT()], [], []

    def tensor(self, shape, dtype, scale=None, zp=None, data=None, qdim=0):
        S = self.S
        types = {np.int8: S.TensorType.INT8, np.int32: S.TensorType.INT32,
                 np.float32: S.TensorType.FLOAT32}
        t = S.TensorT()
        t.shape = list(shape)
        t.type = types[dtype]
        t.name = f"t{len(self.tensors)}".encode()
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = S.QuantizationParametersT()
            q.scale = [float(s) for s in np.atleast_1d(np.float32(scale))]
            zps = np.atleast_1d(0 if zp is None else zp)
            q.zeroPoint = [int(z) for z in zps]
            q.quantizedDimension = qdim
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, opt_type=0, opts=None, version=1):
        if (code, version) not in self.codes:
            self.codes.append((code, version))
        o = self.S.OperatorT()
        o.opcodeIndex = self.codes.index((code, version))
        o.inputs, o.outputs = list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = opt_type, opts
        self.ops.append(o)

    def build(self, inputs, outputs):
        import flatbuffers
        S = self.S
        m = S.ModelT()
        m.version = 3
        m.description = b"mcrt synthetic test"
        m.operatorCodes = []
        for c, v in self.codes:
            oc = S.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = c, min(c, 127), v
            m.operatorCodes.append(oc)
        sg = S.SubGraphT()
        sg.tensors, sg.inputs, sg.outputs, sg.operators = self.tensors, list(inputs), list(outputs), self.ops
        m.subgraphs, m.buffers = [sg], self.buffers
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _opts(S, cls, **kw):
    o = getattr(S, cls)()
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def _conv_case(rng, depthwise, shape, kh, kw, oc_or_dm, padding, stride, dil, act,
               per_channel=True, bias=True):
    n = Net()
    S = n.S
    N, H, W, C = shape
    x = n.tensor(shape, np.int8, rng.uniform(0.01, 0.1), int(rng.integers(-20, 20)))
    OC = C * oc_or_dm if depthwise else oc_or_dm
    nsc = OC if per_channel else 1
    wshape = [1, kh, kw, OC] if depthwise else [OC, kh, kw, C]
    w = n.tensor(wshape, np.int8, rng.uniform(0.002, 0.02, nsc), [0] * nsc,
                 data=rng.integers(-127, 128, wshape), qdim=3 if depthwise else 0)
    b = n.tensor([OC], np.int32, None, data=rng.integers(-3000, 3000, OC)) if bias else -1
    eff_h, eff_w = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    if padding == 0:
        OH, OW = -(-H // stride[0]), -(-W // stride[1])
    else:
        OH, OW = (H - eff_h) // stride[0] + 1, (W - eff_w) // stride[1] + 1
    y = n.tensor([N, OH, OW, OC], np.int8, rng.uniform(0.02, 0.2), int(rng.integers(-30, 30)))
    if depthwise:
        opts = _opts(S, "DepthwiseConv2DOptionsT", padding=padding, strideW=stride[1],
                     strideH=stride[0], depthMultiplier=oc_or_dm, fusedActivationFunction=act,
                     dilationWFactor=dil[1], dilationHFactor=dil[0])
        n.op(4, [x, w, b], [y], S.BuiltinOptions.DepthwiseConv2DOptions, opts, 3)
    else:
        opts = _opts(S, "Conv2DOptionsT", padding=padding, strideW=stride[1], strideH=stride[0],
                     fusedActivationFunction=act, dilationWFactor=dil[1], dilationHFactor=dil[0])
        n.op(3, [x, w, b], [y], S.BuiltinOptions.Conv2DOptions, opts, 3)
    return n.build([x], [y]), shape, np.int8


def _fc_case(rng, in_shape, units, act, per_channel=False, bias=True, w_zp=0):
    n = Net()
    S = n.S
    depth = in_shape[-1] if len(in_shape) == 2 else int(np.prod(in_shape[1:]))
    batches = int(np.prod(in_shape)) // depth
    x = n.tensor(in_shape, np.int8, rng.uniform(0.01, 0.1), int(rng.integers(-20, 20)))
    nsc = units if per_channel else 1
    w = n.tensor([units, depth], np.int8, rng.uniform(0.002, 0.02, nsc), [w_zp] * nsc,
                 data=rng.integers(-127, 128, (units, depth)))
    b = n.tensor([units], np.int32, None, data=rng.integers(-3000, 3000, units)) if bias else -1
    y = n.tensor([batches, units], np.int8, rng.uniform(0.05, 0.3), int(rng.integers(-30, 30)))
    n.op(9, [x, w, b], [y], S.BuiltinOptions.FullyConnectedOptions,
         _opts(S, "FullyConnectedOptionsT", fusedActivationFunction=act), 4)
    return n.build([x], [y]), in_shape, np.int8


def _pool_case(rng, code, shape, fh, fw, stride, padding, act):
    n = Net()
    S = n.S
    N, H, W, C = shape
    sc, zp = rng.uniform(0.01, 0.1), int(rng.integers(-20, 20))
    x = n.tensor(shape, np.int8, sc, zp)
    if padding == 0:
        OH, OW = -(-H // stride[0]), -(-W // stride[1])
    else:
        OH, OW = (H - fh) // stride[0] + 1, (W - fw) // stride[1] + 1
    y = n.tensor([N, OH, OW, C], np.int8, sc, zp)
    n.op(code, [x], [y], S.BuiltinOptions.Pool2DOptions,
         _opts(S, "Pool2DOptionsT", padding=padding, strideW=stride[1], strideH=stride[0],
               filterWidth=fw, filterHeight=fh, fusedActivationFunction=act), 2)
    return n.build([x], [y]), shape, np.int8


def _add_case(rng, shape_a, shape_b, act, const_b=False):
    n = Net()
    S = n.S
    a = n.tensor(shape_a, np.int8, rng.uniform(0.01, 0.1), int(rng.integers(-20, 20)))
    bdata = rng.integers(-128, 128, shape_b) if const_b else None
    b = n.tensor(shape_b, np.int8, rng.uniform(0.01, 0.1), int(rng.integers(-20, 20)), data=bdata)
    out_shape = list(np.broadcast_shapes(tuple(shape_a), tuple(shape_b)))
    y = n.tensor(out_shape, np.int8, rng.uniform(0.02, 0.2), int(rng.integers(-20, 20)))
    n.op(0, [a, b], [y], S.BuiltinOptions.AddOptions,
         _opts(S, "AddOptionsT", fusedActivationFunction=act), 2)
    return n.build([a], [y]), shape_a, np.int8


def _softmax_case(rng, shape, beta, in_scale):
    n = Net()
    S = n.S
    x = n.tensor(shape, np.int8, in_scale, int(rng.integers(-20, 20)))
    y = n.tensor(shape, np.int8, 1.0 / 256, -128)
    n.op(25, [x], [y], S.BuiltinOptions.SoftmaxOptions, _opts(S, "SoftmaxOptionsT", beta=beta), 2)
    return n.build([x], [y]), shape, np.int8


def _quant_case(rng, kind, shape):
    n = Net()
    if kind == "f2i":
        x = n.tensor(shape, np.float32)
        y = n.tensor(shape, np.int8, 0.05, 7)
        n.op(114, [x], [y])
        return n.build([x], [y]), shape, np.float32
    if kind == "i2i":
        x = n.tensor(shape, np.int8, 0.03, -9)
        y = n.tensor(shape, np.int8, 0.07, 11)
        n.op(114, [x], [y])
        return n.build([x], [y]), shape, np.int8
    x = n.tensor(shape, np.int8, 0.037, -3)
    y = n.tensor(shape, np.float32)
    n.op(6, [x], [y], version=2)
    return n.build([x], [y]), shape, np.int8


def _chain_case(rng):
    """QUANTIZE -> CONV -> MAX_POOL -> RESHAPE -> FC -> SOFTMAX -> DEQUANTIZE"""
    n = Net()
    S = n.S
    xf = n.tensor([1, 8, 8, 2], np.float32)
    x = n.tensor([1, 8, 8, 2], np.int8, 0.04, 1)
    n.op(114, [xf], [x])
    w = n.tensor([6, 3, 3, 2], np.int8, rng.uniform(0.005, 0.02, 6), [0] * 6,
                 data=rng.integers(-127, 128, (6, 3, 3, 2)))
    b = n.tensor([6], np.int32, None, data=rng.integers(-500, 500, 6))
    c = n.tensor([1, 8, 8, 6], np.int8, 0.05, -128)
    n.op(3, [x, w, b], [c], S.BuiltinOptions.Conv2DOptions,
         _opts(S, "Conv2DOptionsT", padding=0, strideW=1, strideH=1, fusedActivationFunction=1,
               dilationWFactor=1, dilationHFactor=1), 3)
    p = n.tensor([1, 4, 4, 6], np.int8, 0.05, -128)
    n.op(17, [c], [p], S.BuiltinOptions.Pool2DOptions,
         _opts(S, "Pool2DOptionsT", padding=1, strideW=2, strideH=2, filterWidth=2,
               filterHeight=2, fusedActivationFunction=0), 2)
    shp = n.tensor([2], np.int32, None, data=np.array([1, 96]))
    r = n.tensor([1, 96], np.int8, 0.05, -128)
    n.op(22, [p, shp], [r], S.BuiltinOptions.ReshapeOptions, _opts(S, "ReshapeOptionsT", newShape=[1, 96]))
    fw = n.tensor([5, 96], np.int8, 0.01, 0, data=rng.integers(-127, 128, (5, 96)))
    f = n.tensor([1, 5], np.int8, 0.2, 3)
    n.op(9, [r, fw, -1], [f], S.BuiltinOptions.FullyConnectedOptions,
         _opts(S, "FullyConnectedOptionsT", fusedActivationFunction=0), 4)
    s = n.tensor([1, 5], np.int8, 1.0 / 256, -128)
    n.op(25, [f], [s], S.BuiltinOptions.SoftmaxOptions, _opts(S, "SoftmaxOptionsT", beta=1.0), 2)
    o = n.tensor([1, 5], np.float32)
    n.op(6, [s], [o], version=2)
    return n.build([xf], [o]), [1, 8, 8, 2], np.float32


SYNTHETIC = {
    "conv_same_s2_relu6": lambda r: _conv_case(r, False, [1, 7, 6, 3], 3, 3, 4, 0, (2, 2), (1, 1), 3),
    "conv_valid_dil2_relun1": lambda r: _conv_case(r, False, [2, 9, 8, 4], 3, 2, 5, 1, (1, 1), (2, 2), 2),
    "conv_same_dil_w2": lambda r: _conv_case(r, False, [1, 6, 7, 2], 2, 3, 3, 0, (1, 2), (1, 2), 1),
    "conv_per_tensor_nobias": lambda r: _conv_case(r, False, [1, 5, 5, 8], 1, 1, 6, 1, (1, 1), (1, 1), 0,
                                                   per_channel=False, bias=False),
    "conv_big_kernel": lambda r: _conv_case(r, False, [1, 12, 9, 3], 5, 4, 7, 0, (2, 3), (1, 1), 1),
    "dw_dm2_same_relu": lambda r: _conv_case(r, True, [1, 6, 6, 3], 3, 3, 2, 0, (1, 1), (1, 1), 1),
    "dw_valid_s2_dil2": lambda r: _conv_case(r, True, [1, 11, 10, 5], 3, 3, 1, 1, (2, 2), (2, 2), 0),
    "dw_same_s2_relu6": lambda r: _conv_case(r, True, [2, 7, 8, 8], 3, 3, 1, 0, (2, 2), (1, 1), 3),
    "fc_batches_relu": lambda r: _fc_case(r, [3, 20], 7, 1),
    "fc_4d_input_nobias": lambda r: _fc_case(r, [1, 2, 2, 5], 6, 0, bias=False),
    "fc_relu6": lambda r: _fc_case(r, [1, 33], 9, 3),
    "fc_per_channel": lambda r: _fc_case(r, [2, 24], 10, 0, per_channel=True),
    "fc_weight_zero_point": lambda r: _fc_case(r, [1, 19], 5, 0, w_zp=3),
    "avgpool_same_s2_relu6": lambda r: _pool_case(r, 1, [1, 7, 7, 3], 3, 3, (2, 2), 0, 3),
    "avgpool_valid": lambda r: _pool_case(r, 1, [2, 6, 9, 4], 2, 3, (2, 3), 1, 0),
    "maxpool_same_relu": lambda r: _pool_case(r, 17, [1, 8, 6, 5], 3, 2, (2, 1), 0, 1),
    "maxpool_valid": lambda r: _pool_case(r, 17, [1, 9, 9, 2], 3, 3, (3, 3), 1, 0),
    "add_same_shape": lambda r: _add_case(r, [1, 4, 4, 3], [1, 4, 4, 3], 0, const_b=True),
    "add_broadcast_relu": lambda r: _add_case(r, [1, 4, 4, 3], [1, 1, 1, 3], 1, const_b=True),
    "add_broadcast_rows_relu6": lambda r: _add_case(r, [2, 3, 5], [2, 1, 5], 3, const_b=True),
    "softmax_rows_beta": lambda r: _softmax_case(r, [3, 10], 0.5, 0.1),
    "softmax_wide": lambda r: _softmax_case(r, [1, 100], 1.0, 0.05),
    "softmax_4d": lambda r: _softmax_case(r, [1, 2, 3, 7], 2.0, 0.2),
    "quantize_f32_i8": lambda r: _quant_case(r, "f2i", [2, 37]),
    "requantize_i8_i8": lambda r: _quant_case(r, "i2i", [1, 64]),
    "dequantize_i8_f32": lambda r: _quant_case(r, "deq", [3, 11]),
    "chain_quant_conv_pool_fc_softmax_deq": _chain_case,
}


@pytest.mark.parametrize("case", sorted(SYNTHETIC))
def test_synthetic_op_bit_exact(case, host, tmp_path):
    rng = np.random.default_rng(sorted(SYNTHETIC).index(case))
    model, shape, dtype = SYNTHETIC[case](rng)
    xs = random_inputs(shape, dtype, 500 + sorted(SYNTHETIC).index(case), n=25)
    if dtype == np.float32:  # exercise ties of round(x / scale): multiples of scale / 2
        xs[0] = (np.arange(np.prod(shape)).reshape(shape) - np.prod(shape) // 2).astype(np.float32) * 0.025
    want = tflm_outputs(model, xs)
    p = tmp_path / "m.tflite"
    p.write_bytes(model)
    rc, got, err = run_host(host, p, b"".join(x.tobytes() for x in xs), tmp_path)
    assert rc == 0, err
    ob = len(want) // len(xs)
    bad = [i for i in range(len(xs)) if got[i * ob:(i + 1) * ob] != want[i * ob:(i + 1) * ob]]
    assert not bad, f"{case}: differs from tflite-micro for inputs {bad}"


def test_unsupported_op_reports_code(host_builds, tmp_path):
    S = _schema()
    n = Net()
    a = n.tensor([1, 4], np.int8, 0.1, 0)
    b = n.tensor([1, 4], np.int8, 0.1, 0)
    y = n.tensor([1, 4], np.int8, 0.1, 0)
    n.op(18, [a, b], [y], S.BuiltinOptions.MulOptions, S.MulOptionsT())  # MUL
    p = tmp_path / "mul.tflite"
    p.write_bytes(n.build([a, b], [y]))
    rc, _, err = run_host(host_builds["ref"], p, None, tmp_path)
    assert rc == ERR_UNSUPPORTED and err.split()[:3] == ["error", str(ERR_UNSUPPORTED), "18"]


def test_unsupported_type_reports_type_and_op(host_builds, tmp_path):
    S = _schema()
    n = Net()
    x = n.tensor([1, 4], np.float32)
    y = n.tensor([1, 4], np.float32)
    n.op(25, [x], [y], S.BuiltinOptions.SoftmaxOptions, _opts(S, "SoftmaxOptionsT", beta=1.0), 1)
    p = tmp_path / "fsm.tflite"
    p.write_bytes(n.build([x], [y]))
    rc, _, err = run_host(host_builds["ref"], p, None, tmp_path)
    assert rc == ERR_UNSUPPORTED and err.split()[:3] == ["error", str(ERR_UNSUPPORTED), str((0 << 16) | 25)]


def test_runtime_schema_field_ids_match_the_python_reader():
    """firmware_images/runtime/mcrt_schema.h and mcusim/tflite/schema.py name the same
    TFLite schema field ids (schema.fbs): the C runtime and the Python reader must agree."""
    import re

    from mcusim.tflite.schema import F
    text = (REPO / "firmware_images" / "runtime" / "mcrt_schema.h").read_text()
    pairs = re.findall(r"MCRT_F_([A-Za-z0-9]+)_([a-z0-9_]+)\s*=\s*(\d+)", text)
    assert len(pairs) >= 40
    for table, field, value in pairs:
        assert hasattr(F, table), f"schema.py has no table {table}"
        assert getattr(getattr(F, table), field, None) == int(value), f"{table}.{field}"
