"""The public Python API (issue 11): records, DataFrames, energy, provenance, catalogs,
bench identity; and that the CLI gives the same records (it is a layer over the API)."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mcusim
from api_records import PREBUILT, REPO, ad, ws6_catalog
from mcusim.api import BENCH_COLUMNS, RunRecord, benchmark_names
from mcusim.provenance import catalog_differences, catalog_parts, catalog_sha256
from mcusim.tflite import read_model
from mcusim.tflite.builtin import builtin_model_bytes

HELLO = PREBUILT / "cortex-m4f" / "hello.elf"
CONTRACT = ["mcu", "core", "clock_hz", "mode", "outcome", "exit_code", "cycles", "instructions",
            "seconds", "energy_j", "avg_power_w", "stdout", "fault", "functions", "layers",
            "power_states", "memory"]
HOST_DEPENDENT = {"host_seconds", "verify", "system"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "mcusim", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_import_is_lazy():
    code = ("import sys, mcusim; heavy = [m for m in ('numpy', 'pandas', 'unicorn', 'mcusim.api', "
            "'mcusim.machine') if m in sys.modules]; print(heavy); "
            "assert callable(mcusim.run) and callable(mcusim.infer) and 'mcusim.api' in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_infer_module_is_still_a_module():
    import mcusim.infer as mi
    assert mi.firmware_dir().is_dir()
    assert mcusim.infer is mi and callable(mcusim.infer)


def test_infer_record_is_the_json_contract_with_energy_and_provenance():
    rec = ad("opt")
    d = rec.to_dict()
    assert list(d)[:len(CONTRACT)] == CONTRACT
    for k in ("model", "kernels", "output_sha256", "inference", "provenance", "stalls"):
        assert k in d
    assert rec.kind == "infer" and rec.ok and rec.model == "ad" and rec.kernels == "opt"
    # energy is always there, and the parts add up to the whole
    assert rec.energy_j > 0 and rec.inference_energy_j > 0
    assert rec.inference_energy_j < rec.energy_j
    assert sum(v["energy_j"] for v in d["power_states"].values()) == pytest.approx(rec.energy_j)
    # provenance: independent hashes of the files that produced it
    p = rec.provenance
    assert p.mcusim_version == mcusim.__version__
    assert p.firmware == "infer-opt.elf"
    assert p.firmware_sha256 == sha((PREBUILT / "cortex-m4f" / "infer-opt.elf").read_bytes())
    assert p.model_sha256 == sha(builtin_model_bytes("ad"))
    assert p.mode == "fast" and p.options["kernels"] == "opt" and p.options["count"] == 1
    assert p.catalog_sha256 == catalog_sha256(catalog_parts(mcusim.load_mcu("stm32l4r5")))
    assert d["provenance"]["catalogs"]["mcu"]["values"]["flash.wait_states.range1_boost[5].ws"] == 5
    # the output tensor is the one the record hashes
    assert sha(rec.output.tobytes()) == rec.output_sha256
    # JSON round trip is lossless
    again = RunRecord.from_dict(json.loads(rec.to_json()))
    assert again.to_dict() == d
    assert again.latency_ms == rec.latency_ms and again.energy_uj == rec.energy_uj


def test_record_tables_are_dataframes():
    rec = ad("opt")
    model = read_model(builtin_model_bytes("ad"))
    layers = rec.layers
    assert list(layers["index"]) == [op.index for op in model.operators]
    assert list(layers["op"]) == [op.op for op in model.operators]
    assert list(layers["macs"]) == [op.macs for op in model.operators]
    # layers run inside the inference window; causes partition each layer's cycles
    assert 0 < layers["cycles"].sum() <= rec.inference_cycles
    causes = [c for c in layers.columns if c.endswith("_cycles")]
    assert {"core_cycles", "memory_cycles", "branch_cycles"} <= set(causes)
    assert (layers[causes].sum(axis=1) == layers["cycles"]).all()
    f = rec.functions
    assert list(f.columns)[:4] == ["name", "cycles", "instructions", "energy_j"]
    assert f["cycles"].is_monotonic_decreasing
    # exclusive cycles cover the run: fast mode's stall settled in bulk at the end of each
    # sampling period is attributed to the blocks that earned it (MemoryModel._attribute);
    # before that, 1.07% of this run was outside any function. 20 cycles are left here.
    assert 0.9995 * rec.cycles <= f["cycles"].sum() <= rec.cycles
    ps = rec.power_states
    assert ps["seconds"].sum() == pytest.approx(rec.seconds)
    assert ps["energy_j"].sum() == pytest.approx(rec.energy_j)


def test_cli_json_is_the_api_record(tmp_path):
    out = tmp_path / "ad.json"
    r = cli("infer", "ad", "--kernels", "opt", "--json", out)
    assert r.returncode == 0, r.stderr
    via_cli = json.loads(out.read_text())
    via_api = json.loads(ad("opt").to_json())
    for k in HOST_DEPENDENT:
        via_cli.pop(k, None)
        via_api.pop(k, None)
    assert via_cli == via_api


def test_run_record():
    rec = mcusim.run(HELLO, mcu="stm32l4r5")
    assert rec.kind == "run" and rec.ok and "hello, world" in rec.stdout
    assert rec.energy_j is not None and rec.energy_j > 0
    assert rec.latency_ms == pytest.approx(rec.seconds * 1e3)
    assert rec.provenance.firmware_sha256 == sha(HELLO.read_bytes())
    assert rec.provenance.model_sha256 is None
    assert "model" not in rec.to_dict()
    slow = mcusim.run(HELLO, mcu="stm32l4r5", clock_mhz=24)
    assert slow.clock_hz == 24e6 and slow.provenance.options["clock_mhz"] == 24


def test_load_mcu_and_derive(tmp_path):
    base = mcusim.load_mcu("stm32l4r5")
    ws6 = mcusim.load_mcu(ws6_catalog(str(tmp_path)))
    changes = {"flash.wait_states.range1_boost": [
        {"max_mhz": m, "ws": w} for m, w in ((20, 0), (40, 1), (60, 2), (80, 3), (100, 4), (120, 6))]}
    derived = mcusim.derive("stm32l4r5", changes, "ws6")
    assert derived.flash_wait_states(120) == ws6.flash_wait_states(120) == 6
    assert mcusim.load_mcu("stm32l4r5", changes).flash_wait_states(120) == 6
    assert base.flash_wait_states(120) == 5
    with pytest.raises(mcusim.UserError, match="did you mean"):
        mcusim.derive(base, {"flash.acclerator.icache_lines": 8})
    with pytest.raises(mcusim.CatalogError):
        mcusim.load_mcu("stm32l4r5", {"mcu.clock_mhz": -1})


def test_catalog_hash_is_over_content(tmp_path):
    h = catalog_sha256(catalog_parts(mcusim.load_mcu("stm32l4r5")))
    # a file that only extends the part, and a copy with other citations, hash the same
    (tmp_path / "same.toml").write_text('extends = "stm32l4r5"\n')
    src = (REPO / "memory_models" / "stm32l4r5.toml").read_text()
    recited = src.replace("[mcu]\n", '[mcu]\nsource = "re-cited"\n', 1).replace(
        'description = "', 'description = "re-described ', 1)
    assert recited.count("re-") == 2
    (tmp_path / "copy.toml").write_text(recited)
    for f in ("same.toml", "copy.toml"):
        assert catalog_sha256(catalog_parts(mcusim.load_mcu(tmp_path / f))) == h, f
    # one value anywhere in the chain (MCU, core, power) changes it, and is named
    mcu = mcusim.load_mcu("stm32l4r5")
    for change, key in (({"flash.accelerator.icache_lines": 16}, "flash.accelerator.icache_lines"),
                        ({"mcu.clock_mhz": 80}, "mcu.clock_mhz")):
        d = mcu.derive(change)
        parts = catalog_parts(d)
        assert catalog_sha256(parts) != h
        diff = catalog_differences(catalog_parts(mcu), parts)
        assert len(diff) == 1 and key in diff[0], diff
    other_core = catalog_parts(mcu.derive({"mcu.core": "cortex-m7f"}))
    assert catalog_parts(mcu)["core"].sha256 != other_core["core"].sha256
    assert catalog_parts(mcu)["power"].sha256 == other_core["power"].sha256


def test_infer_on_a_derived_mcu(tmp_path):
    base, slow = ad("opt"), ad("opt", ws6_catalog(str(tmp_path)))
    assert slow.inference_cycles > base.inference_cycles
    assert slow.mcu == "l4r5_ws6"
    assert slow.provenance.catalog_sha256 != base.provenance.catalog_sha256
    assert slow.provenance.catalogs["mcu"].values["flash.wait_states.range1_boost[5].ws"] == 6


def test_benchmark_names():
    assert benchmark_names(["kws", "a/kws.tflite", "b/kws.tflite", "ad", "kws"]) == \
        ["kws", "a/kws", "b/kws", "ad", "kws#2"]
    assert benchmark_names(["m/x.tflite", "y.tflite"]) == ["x", "y"]


def test_bench_reads_every_model_before_running():
    gen = mcusim.bench_records(["ad", "no/such/model.tflite"])
    with pytest.raises(mcusim.UserError, match="no/such/model.tflite"):
        next(gen)


def test_bench_dataframe_models_with_the_same_stem(tmp_path):
    data = builtin_model_bytes("ad")
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "model.tflite").write_bytes(data)
    df = mcusim.bench([tmp_path / "a" / "model.tflite", tmp_path / "b" / "model.tflite"])
    assert list(df.columns) == BENCH_COLUMNS
    assert df["benchmark"].is_unique and len(df) == 2
    assert [Path(b).parts[-2:] for b in df["benchmark"]] == [("a", "model"), ("b", "model")]
    assert list(df["model"]) == ["model", "model"]
    assert list(df["model_sha256"]) == [sha(data)] * 2
    assert set(df["mcu"]) == {"stm32l4r5"} and set(df["core"]) == {"cortex-m4f"}
    assert set(df["clock_hz"]) == {120e6} and set(df["kernels"]) == {"opt"}
    # the same model as the built-in: same figures as mcusim.infer
    assert list(df["cycles"]) == [ad("opt").inference_cycles] * 2


def test_bench_cli_rows_carry_identity(tmp_path):
    js, cs = tmp_path / "b.json", tmp_path / "b.csv"
    r = cli("bench", "--models", "ad", "--mcu", "generic-m4", "--json", js, "--csv", cs)
    assert r.returncode == 0, r.stderr
    doc = json.loads(js.read_text())
    assert doc["mcu"] == "generic-m4" and doc["core"] == "cortex-m4f"
    row = doc["results"][0]
    for k in ("benchmark", "latency_ms", "inferences_per_s", "cycles", "energy_uj", "flash_bytes",
              "ram_bytes"):                            # the DESIGN.md row keys
        assert k in row
    assert row["model_sha256"] == sha(builtin_model_bytes("ad"))
    assert row["record"]["provenance"]["model_sha256"] == row["model_sha256"]
    rows = list(csv.DictReader(cs.open()))
    assert list(rows[0]) == BENCH_COLUMNS
    assert rows[0]["mcu"] == "generic-m4" and float(rows[0]["clock_hz"]) == \
        mcusim.load_mcu("generic-m4").clock_mhz * 1e6
    assert rows[0]["model_sha256"] == row["model_sha256"] and int(rows[0]["cycles"]) == row["cycles"]


def test_bad_input_raises_user_error():
    with pytest.raises(mcusim.UserError, match="unknown MCU"):
        mcusim.infer("ad", mcu="stm32l4r6")
    with pytest.raises(mcusim.UserError, match="mode"):
        mcusim.run(HELLO, mode="turbo")
    with pytest.raises(mcusim.UserError, match="kernel"):
        mcusim.infer("ad", kernels="fast")


def test_user_core_file_under_another_name_runs_inference(tmp_path):
    """A core catalog copied under a new name (design-space exploration) runs the image of
    the architecture it declares: the same cycles as the built-in core; without an FPU the
    soft-float Armv7-M image (the hard-float image would need one)."""
    src = (REPO / "cores" / "cortex-m4f.toml").read_text()
    (tmp_path / "my-m4.toml").write_text(src)
    (tmp_path / "my-m4-nofpu.toml").write_text(src.replace('fpu = "fpv4-sp"', 'fpu = "none"', 1))
    for core in ("my-m4", "my-m4-nofpu"):
        (tmp_path / f"{core}-mcu.toml").write_text(
            f'extends = "stm32l4r5"\n[mcu]\ncore = "{core}.toml"\n')
    base = mcusim.infer("ad", "stm32l4r5", kernels="ref")
    mine = mcusim.infer("ad", str(tmp_path / "my-m4-mcu.toml"), kernels="ref")
    assert mine.core == "my-m4" and mine.inference_cycles == base.inference_cycles
    assert mine.output_sha256 == base.output_sha256
    soft = mcusim.infer("ad", str(tmp_path / "my-m4-nofpu-mcu.toml"), kernels="ref")
    assert soft.ok and soft.output_sha256 == base.output_sha256
    from mcusim.infer import image_path
    core = mcusim.load_mcu(str(tmp_path / "my-m4-nofpu-mcu.toml")).core
    assert image_path(core, "ref").parent.name == "cortex-m3"


def test_image_variant_fits_the_mcu(tmp_path):
    """A Cortex-M33 MCU with 256 KB of RAM (the STM32U385, or a user's part) runs the
    cortex-m33 image linked for 256 KB (firmware_images/ld/cortex-m33-256k.ld): the core's
    own image puts its stack at 0x200C0000, outside such a part. Parts with the RAM get the
    core's own image; a part too small for either gets the core's image, whose loading
    then says what lies outside."""
    from mcusim.elf import load_firmware
    from mcusim.infer import image_path
    for name, want in (("stm32u585", "cortex-m33"), ("stm32u575", "cortex-m33"),
                       ("stm32u385", "cortex-m33-256k")):
        mcu = mcusim.load_mcu(name)
        for kernels in ("ref", "opt"):
            p = image_path(mcu.core, kernels, mcu)
            assert p.parent.name == want, (name, kernels, p)
            fw = load_firmware(str(p))
            top = fw.symbol("__stack_top")
            assert any(r.base < top <= r.base + r.size for r in mcu.memories), (name, hex(top))
    (tmp_path / "tiny.toml").write_text(
        'extends = "stm32u385"\n[memory.sram1]\nsize_bytes = 0x8000\n'
        '[memory.sram2]\nbase = 0x20008000\nsize_bytes = 0x8000\n')
    tiny = mcusim.load_mcu(str(tmp_path / "tiny.toml"))
    assert image_path(tiny.core, "opt", tiny).parent.name == "cortex-m33"
    with pytest.raises(mcusim.UserError, match="lies outside the RAM of tiny"):
        mcusim.infer("ad", str(tmp_path / "tiny.toml"), kernels="opt")
