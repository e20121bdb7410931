"""`mcusim check` (issue 11): the gate catches real firmware and catalog changes and points
at the layers and functions that moved; an unchanged rerun passes; tolerances, comparability,
bad input; JUnit XML valid against the Jenkins xUnit plugin's junit-10.xsd; Markdown.

Independent truths used: the build system (which source files a variant compiles
differently: the functions attributed must come from them, by the ELF's DWARF line table),
the model (its operators are the layers), physics (one more flash wait state can only add
cycles, and adds them as memory stalls), and the byte-identical ELF (no function appears or
vanishes when only the catalog changes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import mcusim
from api_records import FW, HAVE_CROSS, PREBUILT, REPO, ad, infer_image, ws6_catalog
from mcusim.check import Tolerance, Tolerances, compare, load_tolerances
from mcusim.cli import main as cli_main
from mcusim.elf import load_firmware
from mcusim.tflite import read_model
from mcusim.tflite.builtin import builtin_model_bytes

AD_LAYERS = {f"{op.op.lower()} layer {op.index}"
             for op in read_model(builtin_model_bytes("ad")).operators}
HELLO = PREBUILT / "cortex-m4f" / "hello.elf"
FAULT = PREBUILT / "cortex-m4f" / "fault_unhandled.elf"


def run_cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "mcusim", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=900)


def check(capsys, *args) -> tuple[int, str, str]:
    """`mcusim check ARGS` in this process: (status, stdout, stderr)."""
    capsys.readouterr()
    status = cli_main(["check", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def save(rec, path: Path) -> Path:
    rec.to_json(path)
    return path


def source_of(func: str, *elfs: str) -> str:
    """The source file (basename) a function of one of the ELFs was compiled from."""
    for elf in elfs:
        fw = load_firmware(elf)
        for start, _end, name in fw.function_ranges():
            if name == func:
                return (fw.line_at(start) or "?").split(":")[0]
    raise AssertionError(f"{func} in none of {elfs}")


def top_functions(b, n: int) -> list[str]:
    moved = [c for c in b.functions if c.status != "unchanged"]
    moved.sort(key=lambda c: -abs(c.delta if c.delta is not None else (c.cur or c.base or 0)))
    return [c.item for c in moved[:n]]


# --------------------------------------------------------------------------- the schema

@pytest.fixture(scope="session")
def junit_schema(request):
    """The Jenkins xUnit plugin's junit-10.xsd (MIT license, Gregory Boissinot), the schema
    pytest validates its own --junitxml output against; taken from the pytest source
    distribution on PyPI (testing/example_scripts/junit-10.xsd), cached in .pytest_cache."""
    xmlschema = pytest.importorskip("xmlschema", reason="pip install '.[test]'")
    cache = Path(request.config.cache.mkdir("mcusim-junit-xsd"))
    xsd = cache / "junit-10.xsd"
    if not xsd.exists():
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                                "--no-binary", ":all:", f"pytest=={pytest.__version__}", "-d", d],
                               capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, "cannot download the pytest sdist for junit-10.xsd:\n" \
                + r.stderr[-2000:]
            sdist = next(Path(d).glob("pytest-*.tar.gz"))
            with tarfile.open(sdist) as t:
                member = next(m for m in t.getmembers()
                              if m.name.endswith("testing/example_scripts/junit-10.xsd"))
                xsd.write_bytes(t.extractfile(member).read())
    text = xsd.read_text()
    assert "Gregory Boissinot" in text and 'name="testsuites"' in text
    return xmlschema.XMLSchema(str(xsd))


def assert_valid_junit(schema, path: Path, *, failures: int, errors: int = 0) -> ET.Element:
    schema.validate(str(path))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert int(root.get("failures")) == failures == len(root.findall(".//failure"))
    assert int(root.get("errors")) == errors == len(root.findall(".//error"))
    assert int(root.get("tests")) == len(root.findall(".//testcase"))
    return root


# --------------------------------------------------------------------------- real changes

def test_unchanged_rerun_and_update_one_step(tmp_path):
    base = tmp_path / "base.json"
    r = run_cli("check", "--baseline", base, "--update", "--", "bench", "--models", "ad")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(base.read_text())
    assert [row["benchmark"] for row in doc["results"]] == ["ad"]
    # a rerun in another process: identical, exit 0
    r = run_cli("check", "--baseline", base, "--", "bench", "--models", "ad")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unchanged: ad" in r.stdout and "result: PASS" in r.stdout
    # the same command with the ref kernels: a regression
    r = run_cli("check", "--baseline", base, "--", "bench", "--models", "ad", "--kernels", "ref")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REGRESSION" in r.stdout and "fully_connected layer" in r.stdout


def test_ref_kernels_against_opt_baseline(tmp_path, capsys, junit_schema):
    opt, ref = ad("opt"), ad("ref")
    base, cur = save(opt, tmp_path / "opt.json"), save(ref, tmp_path / "ref.json")
    status, out, _ = check(capsys, "--baseline", base, cur, "--junit", tmp_path / "j.xml",
                           "--markdown", tmp_path / "m.md", "--top", "10")
    assert status == 1, out
    b, = compare(base, cur).benchmarks
    assert {c.metric for c in b.metrics if c.status == "regression"} == \
        {"cycles", "latency_ms", "energy_uj"}
    # every layer runs the kernels: every layer of the model is slower, and named
    assert {c.item for c in b.layers if c.status == "regression"} == AD_LAYERS
    for layer in AD_LAYERS:
        assert layer in out
    # the functions that moved most come from the files that differ between the two
    # images (infer-ref links *_ref.c, infer-opt *_opt.c)
    elfs = (str(PREBUILT / "cortex-m4f" / "infer-ref.elf"),
            str(PREBUILT / "cortex-m4f" / "infer-opt.elf"))
    top = top_functions(b, 2)
    assert {source_of(f, *elfs) for f in top} <= {"mcrt_kernels_ref.c", "mcrt_kernels_opt.c"}, top
    for f in top:
        assert f in out
    assert "changed: firmware infer-opt.elf" in out and 'option kernels: "opt" -> "ref"' in out
    assert_valid_junit(junit_schema, tmp_path / "j.xml", failures=3)
    md = (tmp_path / "m.md").read_text()
    assert md.startswith("### mcusim check: **REGRESSION**")
    assert "| ad | cycles |" in md and "<details>" in md

    # the other way round: faster, but the opt image is bigger -> flash is the regression
    status, out, _ = check(capsys, "--baseline", cur, base)
    assert status == 1
    b, = compare(cur, base).benchmarks
    assert [c.metric for c in b.metrics if c.status == "regression"] == ["flash_bytes"]
    assert {c.metric for c in b.improvements} == {"cycles", "latency_ms", "energy_uj"}
    # ... within a flash tolerance it passes, and still reports the improvements
    status, out, _ = check(capsys, "--baseline", cur, base, "-t", "flash_bytes=1%")
    assert status == 0, out
    assert out.count("  improved") == 3 and "result: PASS" in out and "3 improved" in out


@pytest.mark.skipif(not HAVE_CROSS, reason="arm-none-eabi-gcc not installed "
                                            "(make -C firmware_images toolchain)")
def test_firmware_rebuilt_at_Os_against_O2(tmp_path, capsys, junit_schema):
    o2 = infer_image(str(tmp_path), "-O2")
    os_ = infer_image(str(tmp_path), "-Os")
    base = save(ad("opt", elf=o2), tmp_path / "o2.json")
    cur = save(ad("opt", elf=os_), tmp_path / "os.json")
    status, out, _ = check(capsys, "--baseline", base, cur, "--junit", tmp_path / "j.xml")
    assert status == 1, out
    b, = compare(base, cur).benchmarks
    assert {"cycles", "latency_ms", "energy_uj"} <= {c.metric for c in b.regressions}
    assert {c.item for c in b.layers if c.status == "regression"} == AD_LAYERS
    # the functions that moved most were compiled from the sources whose flags changed
    # (INFER_CFLAGS: app/ and runtime/; common/ is -Os in both builds)
    changed = {p.name for d in ("app", "runtime") for p in (FW / d).glob("*.[ch]")}
    top = top_functions(b, 3)
    assert {source_of(f, os_, o2) for f in top} <= changed, top
    for f in top:
        assert f in out
    assert_valid_junit(junit_schema, tmp_path / "j.xml", failures=len(b.regressions))


def test_one_more_flash_wait_state(tmp_path, capsys, junit_schema):
    # detailed timing: every access through the memory model (fast mode's sampled stalls
    # can move a few hundred cycles between layers, more than a wait state moves a small layer)
    cat = ws6_catalog(str(tmp_path))
    base_rec, cur_rec = ad("opt", mode="detailed"), ad("opt", cat, mode="detailed")
    base, cur = save(base_rec, tmp_path / "l4r5.json"), save(cur_rec, tmp_path / "ws6.json")
    # another catalog: not comparable unless asked, and the message names the key
    status, out, err = check(capsys, "--baseline", base, cur, "--junit", tmp_path / "j2.xml")
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "flash.wait_states.range1_boost[5].ws: 5 -> 6" in err
    assert_valid_junit(junit_schema, tmp_path / "j2.xml", failures=3, errors=1)
    status, out, _ = check(capsys, "--baseline", base, cur, "--allow-different",
                           "--junit", tmp_path / "j.xml", "--top", "10")
    assert status == 1, out
    assert "comparing across a difference" in out and "range1_boost[5].ws: 5 -> 6" in out
    assert_valid_junit(junit_schema, tmp_path / "j.xml", failures=3)
    rep = compare(base, cur, allow_different=True)
    b, = rep.benchmarks
    assert {c.metric for c in b.regressions} == {"cycles", "latency_ms", "energy_uj"}
    # same ELF: no function appears or vanishes, none gets faster, and all the run gained
    # is memory stalls (core, branch... cycles identical)
    assert not any("firmware" in n for n in rep.notes)
    assert {c.status for c in b.functions} <= {"regression", "unchanged"}
    for k in ("core", "branch", "exception", "bus", "sleep"):
        assert base_rec.stalls[k] == cur_rec.stalls[k], k
    assert cur_rec.stalls["memory"] - base_rec.stalls["memory"] == cur_rec.cycles - base_rec.cycles > 0
    top = max(b.functions, key=lambda c: abs(c.delta or 0))
    assert top.item in out
    # every layer is slower, by memory stalls alone, and the attribution says so
    assert {c.item for c in b.layers if c.status == "regression"} == AD_LAYERS
    for c in b.layers:
        assert c.detail.startswith("memory stalls +") and "core" not in c.detail, c.line()
        assert c.line() in out
    for rb, rc in zip(base_rec.layer_rows, cur_rec.layer_rows):
        d = {k: rc["stalls"][k] - rb["stalls"][k] for k in rb["stalls"]}
        assert d["memory"] > 0 and all(v == 0 for k, v in d.items() if not k.startswith("memory"))


# --------------------------------------------------------------------------- tolerances

def test_tolerances(tmp_path, capsys, monkeypatch):
    cat = ws6_catalog(str(tmp_path))
    b_rec, c_rec = ad("opt", mode="detailed"), ad("opt", cat, mode="detailed")
    base, cur = save(b_rec, tmp_path / "a.json"), save(c_rec, tmp_path / "b.json")
    delta = c_rec.inference_cycles - b_rec.inference_cycles
    rel = delta / b_rec.inference_cycles
    lay = max((c["cycles"] - b["cycles"]) / b["cycles"]
              for b, c in zip(b_rec.layer_rows, c_rec.layer_rows))
    assert 0 < rel < lay < 0.05
    pct = lambda f: f"{f * 100:.4f}%"                                   # noqa: E731
    x = ["--baseline", base, cur, "--allow-different"]
    monkeypatch.chdir(tmp_path)
    assert check(capsys, *x)[0] == 1
    assert check(capsys, *x, "-t", pct(rel * 1.05))[0] == 0
    assert check(capsys, *x, "-t", pct(rel * 0.95))[0] == 1
    # per metric; and a layer tolerance gates layers
    per = ["-t", f"cycles={pct(rel * 1.05)}", "-t", f"latency_ms={pct(rel * 1.05)}",
           "-t", f"energy_uj={pct(rel * 1.05)},0"]
    status, out, _ = check(capsys, *x, *per)
    assert status == 0 and out.count("within tolerance") == 3
    status, out, _ = check(capsys, *x, *per, "-t", f"layer_cycles={pct(lay * 1.05)}")
    assert status == 0
    status, out, _ = check(capsys, *x, *per, "-t", f"layer_cycles={pct(lay * 0.95)}",
                           "--junit", tmp_path / "j.xml")
    assert status == 1 and "[over tolerance]" in out
    failed = [tc.get("name") for tc in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
              if tc.find("failure") is not None]
    assert failed == ["layer_cycles"]
    # absolute tolerances, in the metric's unit
    rest = per[2:] + ["-t", "latency_ms=1"]
    assert check(capsys, *x, *rest, "-t", f"cycles={delta}")[0] == 0
    assert check(capsys, *x, *rest, "-t", f"cycles={delta - 1}")[0] == 1
    # [tool.mcusim.check] in the nearest pyproject.toml; then --config; then options
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "fw"\n[tool.mcusim.check]\n'
                                             f'default = "{pct(rel * 1.05)}"\n')
    sub = tmp_path / "ci"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert check(capsys, *x)[0] == 0
    assert check(capsys, *x, "-t", pct(rel * 0.95))[0] == 1
    (sub / "strict.toml").write_text(f"cycles = {{ rel = {rel * 0.95} }}\n")
    assert check(capsys, *x, "--config", sub / "strict.toml")[0] == 1
    # bad tolerances are bad input
    status, _, err = check(capsys, *x, "-t", "cycels=1%")
    assert status == 2 and "did you mean 'cycles'" in err
    assert check(capsys, *x, "-t", "cycles=fast")[0] == 2
    assert check(capsys, *x, "-t", "cycles=-1%")[0] == 2
    (sub / "bad.toml").write_text("[tool.mcusim.check]\nram = 5\n")
    status, _, err = check(capsys, *x, "--config", sub / "bad.toml")
    assert status == 2 and "unknown metric 'ram'" in err


def test_tolerance_semantics():
    t = Tolerance(rel=0.02, abs=100)
    assert t.allowed(1000) == 100 and t.allowed(100_000) == 2000
    tol = load_tolerances(["cycles=2%,100", "flash_bytes=256", "5%"], cwd=Path("/"))
    assert tol.of("cycles") == Tolerance(0.02, 100)
    assert tol.of("flash_bytes") == Tolerance(0.0, 256)
    assert tol.of("ram_bytes") == Tolerance(0.05, 0)
    assert tol.of("layer_cycles") is None and Tolerances().of("cycles") == Tolerance()


# --------------------------------------------------------------------------- inputs

def test_comparability_and_bad_input(tmp_path, capsys):
    rec = ad("opt")
    base = save(rec, tmp_path / "base.json")
    d = json.loads(base.read_text())
    d["provenance"]["mcusim_version"] = "0.0.1"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(d))
    status, out, err = check(capsys, "--baseline", old, base)
    assert status == 2 and "mcusim version 0.0.1 -> " in err
    status, out, _ = check(capsys, "--baseline", old, base, "--allow-different")
    assert status == 0 and "mcusim version 0.0.1" in out
    del d["provenance"]
    old.write_text(json.dumps(d))
    status, _, err = check(capsys, "--baseline", old, base)
    assert status == 2 and "no provenance" in err
    # files that are not records
    (tmp_path / "notes.json").write_text("[1, 2]")
    (tmp_path / "bad.json").write_text("{not json")
    for bad, what in (("missing.json", "cannot read"), ("notes.json", "not an mcusim"),
                      ("bad.json", "not valid JSON")):
        status, _, err = check(capsys, "--baseline", base, tmp_path / bad)
        assert status == 2 and what in err and len(err.strip().splitlines()) == 1, err
    status, _, err = check(capsys, "--baseline", tmp_path / "none.json", base)
    assert status == 2 and "--update" in err
    assert check(capsys, "--baseline", base)[0] == 2                    # no current
    assert check(capsys, "--baseline", base, base, "--junit", tmp_path / "no" / "j.xml")[0] == 2


def test_bench_documents_pair_by_name(tmp_path, capsys):
    from mcusim.api import RunRecord, bench_json
    rec = ad("opt")

    def named(n):
        r = RunRecord.from_dict(rec.to_dict())
        r.benchmark = n
        return r

    both = tmp_path / "both.json"
    both.write_text(json.dumps(bench_json([named("ad"), named("ad-copy")])))
    one = tmp_path / "one.json"
    one.write_text(json.dumps(bench_json([named("ad")])))
    status, _, err = check(capsys, "--baseline", both, one)
    assert status == 2 and "missing from the current results: ad-copy" in err
    status, out, _ = check(capsys, "--baseline", one, both)
    assert status == 0 and "ad-copy: new benchmark" in out
    status, out, _ = check(capsys, "--baseline", both, both)
    assert status == 0 and "unchanged: ad, ad-copy" in out


def test_failed_current_run(tmp_path, capsys):
    base = save(mcusim.run(HELLO), tmp_path / "hello.json")
    cur = save(mcusim.run(FAULT), tmp_path / "fault.json")
    status, out, _ = check(capsys, "--baseline", base, cur, "--junit", tmp_path / "j.xml")
    assert status == 1 and "current run failed: firmware fault: HardFault" in out
    outcome = [tc for tc in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
               if tc.get("name") == "outcome"]
    assert outcome[0].find("failure") is not None
    status, _, err = check(capsys, "--baseline", base, cur, "--update")
    assert status == 1 and "not updating" in err
    assert json.loads(base.read_text())["outcome"] == "exit"
    status, out, _ = check(capsys, "--baseline", base, base)
    assert status == 0


def test_layers_of_several_inferences_pair_by_index_as_means():
    from mcusim.check import _layers_by_index
    rows = [{"index": 0, "op": "CONV_2D", "cycles": 10, "stalls": {"core": 6, "memory": 4}},
            {"index": 1, "op": "SOFTMAX", "cycles": 5, "stalls": {"core": 5, "memory": 0}},
            {"index": 0, "op": "CONV_2D", "cycles": 20, "stalls": {"core": 12, "memory": 8}}]
    by = _layers_by_index(rows)
    assert by[0]["cycles"] == 15 and by[0]["stalls"] == {"core": 9, "memory": 6}
    assert by[1] == rows[1]
