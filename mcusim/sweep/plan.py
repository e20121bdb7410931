"""From a spec to the runs of a sweep: every point derived from the base MCU and validated
against the catalog schema, every workload read and checked, every (point, workload) run
given a key that names everything its result depends on.

A run's key is the hash of: the derived MCU's catalog content hash (MCU with everything it
extends, its core, its power model: mcusim.provenance), the workload's content (model,
input, image or ELF bytes, counts, limits, expected outcome), the run options (kernels,
mode) and the mcusim version with its engine's code hash (provenance.engine_sha256). A
stored row is reused only when its key is the key the same point and workload would get
now: a changed catalog file, image, model, mcusim version or simulator code
invalidates it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcusim.errors import UserError
from mcusim.sweep.spec import (
    Point,
    SpecError,
    SweepSpec,
    Workload,
    canonical,
    generate,
    make_point,
    short_hash,
)


@dataclass
class Blob:
    """A user file shipped to the workers by content (its sha256 names it there)."""
    name: str
    sha256: str
    data: bytes = field(repr=False)


@dataclass
class WorkloadData:
    """What the client read of a workload: its identity and the bytes workers need."""
    workload: Workload
    identity: dict[str, Any]
    model_blob: Blob | None = None        # a .tflite file (built-in models: by name)
    elf_blob: Blob | None = None          # a firmware ELF or a custom inference image
    input_bytes: bytes | None = None      # the quantized input (infer)
    expected_sha256: str | None = None    # of the expected output (.npy or tflm)


@dataclass
class Run:
    """One (point, workload): the unit of work of a sweep, one task on the cluster."""
    point: Point
    work: WorkloadData
    kernels: str | None
    mode: str
    key: str


@dataclass
class Plan:
    spec: SweepSpec
    base: Any                             # McuSpec
    base_catalog_sha256: str
    points: list[Point]
    runs: list[Run]
    workloads: dict[str, WorkloadData]
    mcus: dict[str, Any]                  # point id -> derived McuSpec
    version: str
    _derived: dict = field(default_factory=dict)   # changes -> (McuSpec, catalog hash)

    def reference_key(self, w: WorkloadData) -> str:
        """Key of the reference run of a workload (base MCU, the sweep's own options)."""
        return short_hash({"catalog": self.base_catalog_sha256, "workload": w.identity,
                           "kernels": self.default_kernels(self.base, w), "mode": self.spec.mode,
                           "version": self.version}, 32)

    def add_point(self, values: Mapping[str, Any]) -> Point | None:
        """Derive and validate a point (SpecError on a problem) and add its runs; None when
        the plan has the same point already."""
        spec, name = self.spec, self.spec.path.name
        p = make_point(spec, len(self.points), values)
        if p.id in self.mcus:
            return None
        ck = canonical(p.changes)
        mcu, chash = self._derived.get(ck, (None, None))
        if mcu is None:
            try:
                mcu = self.base.derive(p.changes, name=f"{self.base.name}+{p.id}") \
                    if p.changes else self.base
            except UserError as e:
                raise SpecError(f"{name}: point {p.index} ({p.label}): {e}") from None
            chash = catalog_hash(mcu) if p.changes else self.base_catalog_sha256
            self._derived[ck] = (mcu, chash)
        mode = p.options.get("mode", spec.mode)
        if mode not in ("fast", "detailed"):
            raise SpecError(f"{name}: point {p.index} ({p.label}): mode must be fast or "
                            f"detailed, got {mode!r}")
        runs = []
        for w in self.workloads.values():
            custom = w.workload.kind != "infer" or w.workload.elf
            kernels = None if custom else (p.options.get("kernels")
                                           or self.default_kernels(mcu, w))
            image = None
            if kernels is not None:
                try:
                    image = image_sha256(mcu.core, kernels, mcu)
                except UserError as e:
                    raise SpecError(f"{name}: point {p.index} ({p.label}), workload "
                                    f"{w.workload.name}: {e}") from None
            key = short_hash({"catalog": chash, "workload": w.identity, "image": image,
                              "kernels": kernels, "mode": mode, "version": self.version}, 32)
            runs.append(Run(p, w, kernels, mode, key))
        self.points.append(p)
        self.mcus[p.id] = mcu
        self.runs.extend(runs)
        return p

    def default_kernels(self, mcu: Any, w: WorkloadData) -> str | None:
        if w.workload.kind != "infer" or w.workload.elf:
            return None
        if self.spec.kernels:
            return self.spec.kernels
        from mcusim.api import default_kernels
        return default_kernels(mcu)


def catalog_hash(mcu: Any) -> str:
    from mcusim.provenance import catalog_parts, catalog_sha256
    return catalog_sha256(catalog_parts(mcu))


_IMAGE_SHA: dict[str, str | None] = {}


def image_sha256(core, kernels: str, mcu=None) -> str | None:
    from mcusim.infer import image_path
    from mcusim.provenance import sha256_file
    p = str(image_path(core, kernels, mcu))
    if p not in _IMAGE_SHA:
        _IMAGE_SHA[p] = sha256_file(p)
    return _IMAGE_SHA[p]


def make_plan(spec: SweepSpec, assignments: list[dict] | None = None) -> Plan:
    """Validate the whole sweep before anything runs (SpecError, one line, on the first
    problem): the base MCU, every point's derived MCU, every run option, every workload."""
    import mcusim
    from mcusim.catalog import load_mcu

    name = spec.path.name
    try:
        base = load_mcu(spec.mcu)
    except UserError as e:
        raise SpecError(f"{name}: sweep.mcu: {e}") from None
    spec = _typed_params(spec, base)
    if assignments is None:
        assignments = generate(spec)
    workloads = {w.name: read_workload(w, name) for w in spec.workloads}
    from mcusim.provenance import engine_sha256
    # the version in the run keys names the engine too: rows computed by other simulator
    # code (a development tree, a local change) are recomputed, not reused
    plan = Plan(spec, base, catalog_hash(base), [], [], workloads, {},
                f"{mcusim.__version__}+{engine_sha256()[:12]}")
    for values in assignments:
        plan.add_point(values)
    return plan


def _typed_params(spec: SweepSpec, base: Any) -> SweepSpec:
    """Check each parameter's path against the schema (did-you-mean) and round the samples
    of integer catalog keys."""
    from mcusim.schema import CoreSpec, McuSpec, check_path
    from mcusim.sweep.spec import RUN_OPTIONS
    kinds = {k.path: k.type for k in base.knobs()}
    params = []
    for p in spec.params:
        paths = list(p.options.values()) if p.is_choice else [{p.name: None}]
        for ch in paths:
            for path in ch:
                if path in RUN_OPTIONS:
                    continue
                head = path.split(".", 1)[0]
                try:
                    check_path(CoreSpec if head in ("core", "timing") else McuSpec, path,
                               who="", table_ok=True)
                except UserError as e:
                    msg = str(e).lstrip(": ")
                    raise SpecError(f"{spec.path.name}: {'choices.' + p.name if p.is_choice else 'params'}"
                                    f": {msg}") from None
        if not p.discrete:
            t = kinds.get(p.name)
            if t in ("int", "address"):
                p = dataclasses.replace(p, integer=True)
            elif t == "float":
                p = dataclasses.replace(p, integer=False)
        params.append(p)
    return dataclasses.replace(spec, params=params)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: str, what: str, where: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SpecError(f"{where}: cannot read {what} {path}: {e.strerror}") from None


def read_workload(w: Workload, spec_name: str) -> WorkloadData:
    """Read and check a workload's files (model, input, image, expected output)."""
    where = f"{spec_name}: workload {w.name}"
    if w.kind == "run":
        from mcusim.elf import load_firmware
        data = _read(w.elf, "firmware", where)
        try:
            load_firmware(w.elf)
        except UserError as e:
            raise SpecError(f"{where}: {e}") from None
        blob = Blob(Path(w.elf).name, _sha(data), data)
        ident = {"kind": "run", "elf": blob.sha256, "expected_exit": w.expected_exit,
                 "expected_stdout": w.expected_stdout, "uart": w.uart_input,
                 "max_cycles": w.max_cycles, "timeout": w.timeout}
        return WorkloadData(w, ident, elf_blob=blob)
    import numpy as np

    from mcusim.api import BUILTIN_MODELS, _input_bytes
    from mcusim.infer import load_model_bytes
    from mcusim.tflite import ModelError, read_model
    try:
        mname, mdata = load_model_bytes(w.model)
        model = read_model(mdata, supported_only=True)
    except UserError as e:
        raise SpecError(f"{where}: {e}") from None
    except ModelError as e:
        raise SpecError(f"{where}: {w.model}: {e}") from None
    blob = None if w.model in BUILTIN_MODELS else Blob(Path(w.model).name, _sha(mdata), mdata)
    elf_blob = None
    if w.elf:
        data = _read(w.elf, "inference image", where)
        elf_blob = Blob(Path(w.elf).name, _sha(data), data)
    inp = None
    if w.input:
        try:
            inp = _input_bytes(w.input, mdata, w.model)
        except UserError as e:
            raise SpecError(f"{where}: {e}") from None
    if inp is None:
        from mcusim.infer import random_input
        inp = random_input(model)
    if len(inp) != model.input_tensors[0].nbytes:
        raise SpecError(f"{where}: the input has {len(inp)} bytes; the model's input tensor "
                        f"needs {model.input_tensors[0].nbytes}")
    expected = None
    if w.expected_output == "tflm":
        expected = _sha(tflm_output(mdata, inp, model, where))
    elif w.expected_output != "base":
        try:
            arr = np.load(w.expected_output, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise SpecError(f"{where}: cannot read expected output {w.expected_output}: {e}") from None
        out = model.output_tensors[0]
        if arr.size != out.elements:
            raise SpecError(f"{where}: the expected output has {arr.size} elements; the model's "
                            f"output tensor has {out.elements}")
        expected = _sha(np.asarray(arr).astype(np.int8).tobytes())
    ident = {"kind": "infer", "model": _sha(mdata), "model_name": mname,
             "input": _sha(inp), "image": elf_blob.sha256 if elf_blob else None,
             "expected": expected or w.expected_output, "count": w.count, "warmup": w.warmup,
             "max_cycles": w.max_cycles, "timeout": w.timeout}
    return WorkloadData(w, ident, model_blob=blob, elf_blob=elf_blob, input_bytes=inp,
                        expected_sha256=expected)


def tflm_output(model_bytes: bytes, inp: bytes, model: Any, where: str) -> bytes:
    """The TensorFlow Lite Micro interpreter's output (the ground truth; PyPI tflite-micro)."""
    import numpy as np
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise SpecError(f"{where}: expected_output = \"tflm\" needs the tflite-micro package "
                        "(pip install tflite-micro)") from None
    it = runtime.Interpreter.from_bytes(model_bytes)
    t = model.input_tensors[0]
    it.set_input(np.frombuffer(inp, dtype=np.int8).reshape(t.shape), 0)
    it.invoke()
    return np.ascontiguousarray(it.get_output(0)).astype(np.int8).tobytes()


def summary_line(plan: Plan) -> str:
    s = plan.spec
    return (f"{s.name}: {len(plan.points)} points x {len(plan.workloads)} workloads = "
            f"{len(plan.runs)} runs ({s.search}{'' if s.search == 'grid' else f', budget {s.budget}'}"
            f", base {plan.base.name}, mcusim {plan.version})")
