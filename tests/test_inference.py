"""Bit-exactness on the simulated MCUs: the inference image's output tensor equals the
TFLite Micro interpreter's (PyPI tflite-micro), byte for byte, for the four MLPerf Tiny
reference models (../shared/models) and the four built-in ones, with both kernel sets,
on stm32l4r5 (M4F), stm32g0b1 (M0+, ref only), stm32h7a3 (M7F) and stm32u585 (M33).

CI runs every (model, MCU, kernel set) with a few seeded inputs, and 25 on the default
MCU for the small models; `-m slow` runs 25 inputs everywhere. (The C runtime's own host
build checks 32 inputs per model in test_runtime_host.py.)"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "models"

from mcusim.infer import run_inference  # noqa: E402
from mcusim.tflite import read_model  # noqa: E402
from mcusim.tflite.builtin import builtin_model_bytes  # noqa: E402

MCUS = [("stm32l4r5", "ref"), ("stm32l4r5", "opt"), ("stm32g0b1", "ref"), ("stm32h7a3", "ref"),
        ("stm32h7a3", "opt"), ("stm32u585", "ref"), ("stm32u585", "opt"), ("generic-m3", "ref")]
MODELS = ["kws", "vww", "ic", "ad"]
SOURCES = ["builtin", "reference"]


def model_bytes(source: str, name: str) -> tuple[str, bytes]:
    if source == "builtin":
        return name, builtin_model_bytes(name)
    path = SHARED / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return str(path), path.read_bytes()


def inputs(model, n: int, seed: int) -> list[bytes]:
    size = model.input_tensors[0].nbytes
    rng = np.random.default_rng(seed)
    out = [rng.integers(-128, 128, size, dtype=np.int8).tobytes() for _ in range(n)]
    return out


def tflm(data: bytes, model, inp: bytes) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(data)
    it.set_input(np.frombuffer(inp, np.int8).reshape(model.input_tensors[0].shape), 0)
    it.invoke()
    return it.get_output(0)


def n_inputs(name: str, mcu: str, slow: bool) -> int:
    if slow:
        return 25
    if name in ("kws", "ad"):
        return 25 if mcu == "stm32l4r5" else 4
    return 2


def check(source, name, mcu, kernels, n, seed=1234):
    spec, data = model_bytes(source, name)
    model = read_model(data)
    for k, inp in enumerate(inputs(model, n, seed)):
        r = run_inference(spec, mcu, kernels=kernels, input_bytes=inp, power=False)
        assert r.machine.outcome == "exit" and r.machine.exit_code == 0, r.record["stdout"]
        ref = tflm(data, model, inp)
        assert r.output.dtype == np.int8 and r.output.shape == ref.shape
        assert np.array_equal(r.output, ref), f"{source} {name} on {mcu}/{kernels}, input {k}"


@pytest.mark.parametrize("mcu,kernels", MCUS, ids=[f"{m}-{k}" for m, k in MCUS])
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("source", SOURCES)
def test_bit_exact(source, name, mcu, kernels):
    check(source, name, mcu, kernels, n_inputs(name, mcu, slow=False))


@pytest.mark.slow
@pytest.mark.parametrize("mcu,kernels", MCUS, ids=[f"{m}-{k}" for m, k in MCUS])
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("source", SOURCES)
def test_bit_exact_25_inputs(source, name, mcu, kernels):
    check(source, name, mcu, kernels, 25, seed=99)


def test_kws_reference_sample():
    sample = SHARED / "samples" / "kws_sample0_on.int8.bin"
    if not sample.exists():
        pytest.skip("sample not present")
    r = run_inference(str(SHARED / "kws.tflite"), "stm32l4r5", kernels="opt",
                      input_bytes=sample.read_bytes(), power=False)
    assert r.output.reshape(-1).tolist() == [-128] * 5 + [127] + [-128] * 6


def test_record_layers_and_memory():
    r = run_inference("kws", "stm32l4r5", kernels="opt", count=2)
    rec = r.record
    model = read_model(builtin_model_bytes("kws"))
    assert [row["op"] for row in rec["layers"]] == [op.op for op in model.operators]
    assert sum(row["macs"] for row in rec["layers"]) == 2_656_768
    assert rec["inference"]["count"] == 2
    # layers of one inference lie inside its window
    assert sum(row["cycles"] for row in rec["layers"]) <= rec["inference"]["cycles"]
    assert sum(row["cycles"] for row in rec["layers"]) > 0.95 * rec["inference"]["cycles"]
    mem = rec["memory"]
    assert mem["arena_bytes"] == 18_880          # the runtime's planner (runtime README)
    assert mem["model_bytes"] == len(builtin_model_bytes("kws"))
    assert 0 < mem["stack_peak_bytes"] < 8192
    assert mem["ram_bytes"] == mem["static_ram_bytes"] + mem["arena_bytes"] + mem["stack_peak_bytes"]
    assert rec["energy_j"] > 0 and rec["inference_energy_j"] > 0
    # layer rows average the two inferences (the first runs with cold flash-accelerator
    # lines), the inference figure is the last one: equal within a fraction of a percent
    assert sum(row["energy_j"] for row in rec["layers"]) == pytest.approx(rec["inference_energy_j"], rel=0.01)


def test_opt_is_faster_than_ref_on_m4():
    ref = run_inference("kws", "stm32l4r5", kernels="ref", power=False).record["inference"]["cycles"]
    opt = run_inference("kws", "stm32l4r5", kernels="opt", power=False).record["inference"]["cycles"]
    assert opt < 0.75 * ref


def test_unsupported_operator_and_float_model_are_refused(tmp_path):
    import subprocess
    sys.path.insert(0, str(ROOT / "tests"))
    from test_tflite_reader import _fc_model  # a one-FC model written by our writer
    from mcusim.tflite.schema import TensorType
    cases = [(_fc_model(opcode=16, version=1), "unsupported operator LSTM (op 16)"),
             (_fc_model(type_code=TensorType.FLOAT32), "float model")]
    for k, (data, msg) in enumerate(cases):
        p = tmp_path / f"m{k}.tflite"
        p.write_bytes(data)
        r = subprocess.run([sys.executable, "-m", "mcusim", "infer", str(p)], capture_output=True,
                           text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and msg in lines[0], lines


def test_cli_input_output_npy(tmp_path):
    import subprocess
    data = builtin_model_bytes("kws")
    model = read_model(data)
    x = np.random.default_rng(3).integers(-128, 128, model.input_tensors[0].shape, dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run([sys.executable, "-m", "mcusim", "infer", "kws", "--input", str(tmp_path / "x.npy"),
                        "--output", str(tmp_path / "y.npy"), "--json", str(tmp_path / "r.json")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    assert np.array_equal(y, tflm(data, model, x.tobytes()))
    import hashlib
    import json
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["output_sha256"] == hashlib.sha256(y.tobytes()).hexdigest()
    for key in ("model", "kernels", "output_sha256", "mcu", "core", "clock_hz", "mode", "outcome",
                "exit_code", "cycles", "instructions", "seconds", "energy_j", "avg_power_w", "stdout",
                "fault", "functions", "layers", "power_states", "memory"):
        assert key in rec, key
    # float input is quantized with the input tensor's scale and zero point
    t = model.input_tensors[0]
    xf = (x.astype(np.float32) - t.zero_point) * t.scale
    np.save(tmp_path / "xf.npy", xf)
    r = subprocess.run([sys.executable, "-m", "mcusim", "infer", "kws", "--input", str(tmp_path / "xf.npy"),
                        "--output", str(tmp_path / "yf.npy")], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "yf.npy"), y)


def test_every_catalog_mcu_runs_inference():
    """Any int8 .tflite on any catalog MCU: the default kernels of each runs the AD model
    bit-exactly."""
    from mcusim.catalog import list_catalog
    from mcusim.cli import default_kernels
    spec, data = model_bytes("builtin", "ad")
    model = read_model(data)
    inp = inputs(model, 1, 5)[0]
    ref = tflm(data, model, inp)
    names = [n for n, _ in list_catalog()["mcus"]]
    assert len(names) >= 9
    for name in names:
        r = run_inference("ad", name, kernels=default_kernels(name), input_bytes=inp, power=False)
        assert np.array_equal(r.output, ref), name
