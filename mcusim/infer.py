"""Inference runs: place a .tflite in the inference image's model slot, its input in the
image's input buffer, run the image, and read the output tensor back.

The image and its ABI: firmware_images/app/infer_main.c and docs/CONTRACTS.md.
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcusim.catalog import load_mcu
from mcusim.elf import load_firmware
from mcusim.errors import UserError
from mcusim.machine import Machine
from mcusim.record import build_record
from mcusim.tflite import ModelError, read_model

# firmware image target per core (images built by firmware_images/Makefile)
IMAGE_TARGET = {
    "cortex-m0plus": "cortex-m0plus",
    "cortex-m3": "cortex-m3",
    "cortex-m4f": "cortex-m4f",
    "cortex-m7f": "cortex-m7f",
    "cortex-m33": "cortex-m33",
}
MAX_MODEL_BYTES = 64 << 20   # a .tflite is read whole; larger than any MCU's flash anyway
KERNEL_SETS = ("ref", "opt", "npu", "cx")   # npu, cx: accelerator images (docs/accelerators.md)
ERRORS = {10: "the runtime rejected the model as malformed",
          11: "the model needs an operator or type the runtime lacks",
          12: "the tensor arena does not fit",
          13: "input size does not match the model's input tensor",
          14: "the model does not fit in the model slot"}


def firmware_dir() -> Path:
    """The prebuilt images: shipped in the wheel as mcusim/_firmware, or the checkout's
    firmware_images/prebuilt."""
    here = Path(__file__).resolve().parent
    installed = here / "_firmware"
    if installed.is_dir() and any(installed.glob("*/*.elf")):
        return installed
    return here.parent / "firmware_images" / "prebuilt"


# a user's core file (any name) runs the image of the architecture it declares
_BY_CPU = {"cortex-m0": "cortex-m0plus", "cortex-m3": "cortex-m3", "cortex-m4": "cortex-m4f",
           "cortex-m7": "cortex-m7f", "cortex-m33": "cortex-m33"}


def image_target(core) -> str | None:
    """The prebuilt image target for a core: a CoreSpec (or a built-in core's name). A core
    file under another name gets the image its Unicorn CPU model and FPU run: the FP images
    (hard-float) need an FPU; a core without one runs the Cortex-M3 (Armv7-M, soft-float)
    image, which every Armv7-M/Armv8-M mainline core executes."""
    if isinstance(core, str):
        return IMAGE_TARGET.get(core)
    if core.name in IMAGE_TARGET:
        return IMAGE_TARGET[core.name]
    t = _BY_CPU.get(core.unicorn_cpu)
    if t in ("cortex-m4f", "cortex-m7f", "cortex-m33") and not core.fpu:
        t = "cortex-m3"
    return t


# the same images linked for smaller memories, tried in order when the target's own image
# does not fit the MCU (its stack or a segment outside the MCU's memories)
IMAGE_VARIANTS = {"cortex-m33": ("cortex-m33-256k",)}


def _image_fits(path: Path, mcu) -> bool:
    """Do the image's loaded segments and its stack lie in ``mcu``'s memories (the check
    loading it makes: mcusim.memory_map.misplaced)?"""
    from mcusim.elf import load_firmware
    from mcusim.memory_map import misplaced
    try:
        fw = load_firmware(str(path))
    except UserError:
        return False
    return misplaced(fw, mcu) is None


def image_path(core, kernels: str, mcu=None) -> Path:
    """The inference image of ``core`` (a CoreSpec or a built-in core's name); with ``mcu``
    (an McuSpec), the first of the core's images that fits its memories
    (``IMAGE_VARIANTS``), else the core's own image (loading it then says what lies
    outside)."""
    if mcu is not None:
        first = image_path(core, kernels)
        if _image_fits(first, mcu):
            return first
        for variant in IMAGE_VARIANTS.get(first.parent.name, ()):
            p = first.parent.parent / variant / first.name
            if p.exists() and _image_fits(p, mcu):
                return p
        return first
    target = image_target(core)
    if target is None:
        name = core if isinstance(core, str) else core.name
        raise UserError(f"no inference image for core {name} "
                        f"(images exist for {', '.join(sorted(IMAGE_TARGET))})")
    if kernels not in KERNEL_SETS:
        raise UserError(f"unknown kernel set {kernels!r} ({', '.join(KERNEL_SETS)})")
    p = firmware_dir() / target / f"infer-{kernels}.elf"
    if not p.exists():
        if kernels != "ref" and target in ("cortex-m0plus", "cortex-m3"):
            raise UserError(f"the {target} image has only the ref kernels (no DSP extension); "
                            "use --kernels ref")
        raise UserError(f"inference image {p} is missing (make -C firmware_images)")
    return p


def load_model_bytes(spec: str) -> tuple[str, bytes]:
    """A built-in model name (kws, vww, ic, ad) or a .tflite path -> (name, bytes)."""
    from mcusim.tflite.builtin import BUILTIN_MODELS, builtin_model_bytes
    if spec in BUILTIN_MODELS:
        return spec, builtin_model_bytes(spec)
    from mcusim.argcheck import read_bounded
    if not os.path.exists(spec) and "/" not in spec and not spec.endswith(".tflite"):
        raise UserError(f"unknown model {spec!r}: give a built-in model "
                        f"({', '.join(BUILTIN_MODELS)}) or a .tflite file")
    return Path(spec).stem, read_bounded(spec, "model", MAX_MODEL_BYTES)


def quantize_input(model, arr: np.ndarray) -> bytes:
    t = model.input_tensors[0]
    n = t.nbytes
    if arr.dtype in (np.int8, np.uint8):
        data = arr.astype(np.int8, copy=False).tobytes() if arr.dtype == np.int8 else \
            (arr.astype(np.int16) - 128).astype(np.int8).tobytes()
    elif arr.dtype in (np.float32, np.float64):
        if t.scale is None:
            raise UserError("float input given but the input tensor has no quantization")
        q = arr.astype(np.float64) / t.scale
        q = np.where(q >= 0, np.floor(q + 0.5), np.ceil(q - 0.5)) + t.zero_point
        data = np.clip(q, -128, 127).astype(np.int8).tobytes()
    else:
        raise UserError(f"input dtype {arr.dtype} not supported (int8, uint8 or float32)")
    if len(data) != n:
        raise UserError(f"input has {len(data)} elements; the model's input tensor "
                        f"{list(t.shape)} needs {n}")
    return data


def random_input(model, seed: int = 0) -> bytes:
    n = model.input_tensors[0].nbytes
    return np.random.default_rng(seed).integers(-128, 128, n, dtype=np.int8).tobytes()


@dataclass
class InferenceResult:
    machine: Machine
    record: dict
    output: np.ndarray | None


def _write_init(m: Machine, fw, name: str, data: bytes) -> None:
    """Write an initialised variable in its .data load image (and at its RAM address)."""
    addr = fw.symbol(name)
    if addr is None:
        raise UserError(f"{fw.path}: symbol {name} missing: not an mcusim inference image")
    for seg in fw.segments:
        if seg.vaddr <= addr < seg.vaddr + len(seg.data):
            m.write_memory(seg.paddr + addr - seg.vaddr, data)
            return
    m.write_memory(addr, data)


def run_inference(model_spec: str, mcu_name, *, kernels: str = "opt",
                  input_bytes: bytes | None = None, count: int = 1, warmup: int = 0,
                  clock_mhz: float | None = None, mode: str = "fast",
                  max_cycles: int | None = None, timeout: float | None = None,
                  elf: str | None = None, quiet: bool = True, progress=None,
                  power: bool = True, protocol_input: bytes | None = None,
                  machine_setup=None, verify: bool | int = False) -> InferenceResult:
    """Run the inference image on `mcu_name` with the model in its slot.

    Batch mode (default): `count` inferences on `input_bytes` (random int8 from seed 0 when
    None). Protocol mode (`protocol_input` given): the MLPerf Tiny device protocol over
    the console UART, fed with those bytes; the replies are the record's `stdout`."""
    name, data = load_model_bytes(model_spec)
    try:
        model = read_model(data, supported_only=True)
    except ModelError as e:
        raise UserError(f"{model_spec}: {e}") from None
    mcu = load_mcu(mcu_name) if isinstance(mcu_name, (str, Path)) else mcu_name   # or an McuSpec
    path = elf or str(image_path(mcu.core, kernels, mcu))
    if elf is None and kernels in ("npu", "cx"):
        from mcusim.accelerators.images import check_image_accelerators
        check_image_accelerators(mcu, kernels)
    fw = load_firmware(path)
    if input_bytes is None:
        input_bytes = random_input(model)
    if len(input_bytes) != model.input_tensors[0].nbytes:
        raise UserError(f"input has {len(input_bytes)} bytes; the input tensor needs "
                        f"{model.input_tensors[0].nbytes}")

    sink = _Null() if quiet else None
    warnings: list[str] = []
    m = Machine(mcu, clock_mhz=clock_mhz, mode=mode, stdout=sink, stderr=sink,
                uart_input=protocol_input or b"", warn=warnings.append)
    if machine_setup is not None:
        machine_setup(m)
    m.load(fw)

    # the model slot: from the image's slot start to the end of this MCU's flash
    slot = fw.symbol("__model_slot_start")
    slot_end = fw.symbol("__model_slot_end")
    if slot is None or slot_end is None:
        raise UserError(f"{path}: no model slot (__model_slot_start): not an inference image")
    region, lo = m.region_at(slot)
    cap = 0 if region is None else min(slot_end, lo + region.size) - slot
    if len(data) > cap:
        raise UserError(f"model {name} is {len(data):,} bytes; the model slot of "
                        f"{Path(path).name} on {mcu.name} holds {max(cap, 0):,} bytes")
    # arena: refuse before running when even the activation lower bound does not fit
    a0, a1 = fw.symbol("__arena_start"), fw.symbol("__arena_end")
    ar, alo = m.region_at(a0) if a0 is not None else (None, None)
    arena_cap = 0 if ar is None else min(a1, alo + ar.size) - a0
    need = model.peak_activation_bytes
    if need > arena_cap:
        raise UserError(f"model {name} needs at least {need:,} bytes of tensor arena; "
                        f"{mcu.name} leaves {max(arena_cap, 0):,} bytes for it")
    m.write_memory(slot, data)
    _write_init(m, fw, "mcusim_model_len", len(data).to_bytes(4, "little"))
    _write_init(m, fw, "mcusim_input", input_bytes)
    _write_init(m, fw, "mcusim_input_len", len(input_bytes).to_bytes(4, "little"))
    cfg = [1 if protocol_input is not None else 0, max(1, count), max(0, warmup), int(m.clock_hz)]
    _write_init(m, fw, "mcusim_config", b"".join(v.to_bytes(4, "little") for v in cfg))
    m.reset()
    if verify:
        from mcusim.verify import attach
        attach(m, None if verify is True else int(verify))
    m.run(max_cycles=max_cycles, timeout=timeout, progress=progress)

    if m.outcome == "exit" and m.exit_code in ERRORS and m.trace.runtime_error:
        raise UserError(_runtime_error(m, name, model, arena_cap))

    output = None
    rec = build_record(m.trace)
    if m.outcome == "exit" and m.exit_code == 0 and protocol_input is None:
        olen = int.from_bytes(m.read_memory(fw.symbol("mcusim_output_len"), 4), "little")
        raw = m.read_memory(fw.symbol("mcusim_output"), olen)
        ot = model.output_tensors[0]
        output = np.frombuffer(raw, dtype=np.int8).reshape(ot.shape)
        rec["output_sha256"] = hashlib.sha256(raw).hexdigest()
    else:
        rec["output_sha256"] = None
    rec["warnings"] = warnings
    rec["model"] = name
    rec["kernels"] = kernels if elf is None else None
    rec["image"] = Path(path).name
    # which build of the image (the core's, or a variant linked for smaller memories)
    rec["image_target"] = Path(path).parent.name if elf is None else None
    _enrich(rec, m, model, fw, len(data), max(1, count))
    if m.trace.accelerators:
        from mcusim.accelerators.report import add_report
        add_report(rec, m.trace)
    if power:
        from mcusim.power.run_energy import add_energy
        add_energy(rec, m.trace)
    return InferenceResult(m, rec, output)


def _runtime_error(m, name, model, arena_cap) -> str:
    code, arg = m.exit_code, m.trace.runtime_error[1]
    what = ERRORS.get(code, f"runtime error {code}")
    if code == 11:
        from mcusim.tflite.schema import op_name as builtin_op_name
        op = arg & 0xFFFF
        return f"model {name}: {what}: {builtin_op_name(op)} (op {op})" + (
            f", type code {arg >> 16}" if arg >> 16 else "")
    if code == 12:
        return f"model {name}: {what}: needs {arg:,} bytes, {m.mcu.name} has {arena_cap:,}"
    return f"model {name}: {what} (argument {arg})"


def _enrich(rec: dict, m, model, fw, model_bytes: int, count: int) -> None:
    """Per-layer rows with op names, shapes and MACs; one inference's figures."""
    ops = {op.index: op for op in model.operators}
    per: dict[int, dict] = {}
    for row in rec["layers"]:
        d = per.setdefault(row["index"], {"index": row["index"], "cycles": 0, "n": 0, "stalls": {}})
        d["cycles"] += row["cycles"]
        d["n"] += 1
        for k, v in (row.get("stalls") or {}).items():
            d["stalls"][k] = d["stalls"].get(k, 0) + v
    layers = []
    for idx in sorted(per):
        d = per[idx]
        op = ops.get(idx)
        layers.append({"index": idx, "op": op.op if op else None,
                       "shape": op.summary if op else None,
                       "macs": op.macs if op else None,
                       "cycles": d["cycles"] // max(1, d["n"]), "energy_j": None,
                       "stalls": {k: v // max(1, d["n"]) for k, v in d["stalls"].items()} or None})
    rec["layers"] = layers
    t = m.trace
    done = [w for w in t.windows if w.end is not None]
    per_inf = [w.end - w.begin for w in done]
    ms_each = [(t.seconds(w.end) - t.seconds(w.begin)) * 1e3 for w in done]
    # one inference's figures: the mean over the measured inferences (as the layer table),
    # with the min, the max and each one
    rec["inference"] = {
        "count": len(per_inf),
        "cycles": round(sum(per_inf) / len(per_inf)) if per_inf else None,
        "cycles_min": min(per_inf) if per_inf else None,
        "cycles_max": max(per_inf) if per_inf else None,
        "cycles_each": per_inf,
        "latency_ms": sum(ms_each) / len(ms_each) if ms_each else None,
        "latency_ms_min": min(ms_each) if ms_each else None,
        "latency_ms_max": max(ms_each) if ms_each else None,
        "latency_ms_each": ms_each,
        "macs": model.macs,
    }
    data_lo, bss_hi = fw.symbol("__data_start"), fw.symbol("__bss_end")
    static_ram = (bss_hi - data_lo) if data_lo is not None and bss_hi is not None else 0
    code = sum(len(s.data) for s in fw.segments if t.region_at(s.paddr) is not None
               and t.region_at(s.paddr).kind == "flash")
    mem = rec["memory"]
    mem["flash_bytes"] = code + model_bytes
    mem["code_bytes"] = code
    mem["model_bytes"] = model_bytes
    mem["static_ram_bytes"] = static_ram
    mem["ram_bytes"] = static_ram + (mem["arena_bytes"] or 0) + (mem["stack_peak_bytes"] or 0)


class _Null:
    def write(self, d):
        return len(d)

    def flush(self):
        pass


# `mcusim.infer(...)` is the public API function (mcusim/api.py) and this module has the
# same name; the package attribute `mcusim.infer` is this module once it is imported, so
# calling the module runs the API function.
class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from mcusim.api import infer
        return infer(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
