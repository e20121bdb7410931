"""The failure list of issue 12, one test per item not covered elsewhere (catalog items:
tests/test_schema.py; ELF and model format errors: tests/test_cli_errors.py; serve:
tests/test_protocol.py; mutated input: tests/test_fuzz.py). Each bad value is refused
before the run with one line "mcusim: ..." and exit status 2, or gives the documented
status. In-process (mcusim.cli.main) and cheap: the default test tier.
"""

from __future__ import annotations

import os
import time

import pytest

from conftest import PREBUILT
from test_fuzz import run_cli

HELLO = PREBUILT / "cortex-m4f" / "hello.elf"
LONGLOOP = PREBUILT / "cortex-m4f" / "longloop.elf"


def refused(argv, *needles, within_s: float = 20):
    """Exit 2, exactly one stderr line 'mcusim: ...' with every needle, nothing simulated
    (no summary line), and quickly."""
    t = time.monotonic()
    rc, out, err = run_cli(argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, (rc, err)
    assert len(lines) == 1 and lines[0].startswith("mcusim: "), err
    for n in needles:
        assert n in lines[0], lines[0]
    assert time.monotonic() - t < within_s
    return lines[0]


# ------------------------------------------------------------------ CLI values

@pytest.mark.parametrize("argv,needle", [
    (["infer", "ad", "--clock-mhz", "-5"], "--clock-mhz"),
    (["infer", "ad", "--clock-mhz", "0"], "--clock-mhz"),
    (["run", HELLO, "--clock-mhz", "nan"], "--clock-mhz"),
    (["run", HELLO, "--clock-mhz", "1e400"], "--clock-mhz"),
    (["run", HELLO, "--max-cycles", "0"], "--max-cycles"),
    (["run", HELLO, "--max-cycles", "-1"], "--max-cycles"),
    (["run", HELLO, "--max-cycles", "1.5"], "--max-cycles"),
    (["run", HELLO, "--timeout", "0"], "--timeout"),
    (["run", HELLO, "--timeout", "nan"], "--timeout"),
    (["run", HELLO, "--timeout", "-3"], "--timeout"),
    (["infer", "ad", "--count", "0"], "--count"),
    (["infer", "ad", "--count", "-2"], "--count"),
    (["infer", "ad", "--warmup", "-1"], "--warmup"),
    (["bench", "--warmup", "-1"], "--warmup"),
    (["bench", "--clock-mhz", "0"], "--clock-mhz"),
    (["run", HELLO, "--verify", "--verify-interval", "0"], "--verify-interval"),
    (["serve", "ad", "--keepalive", "-1"], "--keepalive"),
    (["run", HELLO, "--mode", "exact"], "--mode"),
])
def test_bad_numbers_and_choices(argv, needle):
    refused(argv, needle)


@pytest.mark.parametrize("text", ["\\x", "\\xZZ", "abc\\"])
def test_bad_uart_escape(text):
    refused(["run", HELLO, "--uart-input", text], "--uart-input", "bad escape")


def test_uart_escapes_that_work():
    rc, _, err = run_cli(["run", HELLO, "--quiet", "--uart-input", "a\\x41\\n\\t\\\\"])
    assert rc == 0, err


def test_uart_input_file_is_bounded(tmp_path):
    refused(["run", HELLO, "--uart-input-file", "/dev/zero"], "/dev/zero", "MiB")
    refused(["run", HELLO, "--uart-input-file", tmp_path], "is a directory")
    refused(["run", HELLO, "--uart-input-file", tmp_path / "none"], "cannot read")


def test_proc_self_mem_and_devices():
    refused(["run", "/proc/self/mem"], "/proc/self/mem")
    refused(["run", "/dev/zero"], "/dev/zero")


def test_power_plot_unknown_format(tmp_path):
    refused(["run", HELLO, "--power-plot", tmp_path / "out.xyz"], "--power-plot",
            "unknown plot format")
    refused(["run", HELLO, "--power-plot", tmp_path / "out"], "no extension")


def test_infer_output_path_checked_before_the_run(tmp_path):
    refused(["infer", "ad", "--output", tmp_path / "missing" / "y.npy"], "--output",
            "does not exist")
    refused(["infer", "ad", "--output", tmp_path], "--output", "is a directory")
    refused(["infer", "ad", "--output", tmp_path / "y.txt"], ".npy")


def test_infer_output_writes_exactly_that_path(tmp_path):
    import numpy as np
    out = tmp_path / "y.npy"
    rc, _, err = run_cli(["infer", "ad", "--output", out])
    assert rc == 0, err
    assert out.exists() and not (tmp_path / "y.npy.npy").exists()
    assert np.load(out).dtype == np.int8


@pytest.mark.parametrize("opt", ["--json", "--power-trace", "--collapsed", "--gpio-trace"])
def test_unwritable_run_outputs_refused_before_the_run(tmp_path, opt):
    refused(["run", LONGLOOP, opt, tmp_path / "no" / "such" / "dir.out"], opt, "does not exist",
            within_s=10)
    refused(["run", LONGLOOP, opt, tmp_path], opt, "is a directory", within_s=10)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_directory(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        refused(["run", LONGLOOP, "--json", d / "x.json"], "cannot write")
    finally:
        d.chmod(0o700)


def test_same_file_twice(tmp_path):
    refused(["run", HELLO, "--json", tmp_path / "a", "--power-trace", tmp_path / "a"],
            "same file")


@pytest.mark.parametrize("opt", ["--json", "--csv"])
def test_unwritable_bench_outputs_refused_before_the_run(tmp_path, opt):
    refused(["bench", "--models", "ad", opt, tmp_path / "missing" / "b.out"], opt,
            "does not exist", within_s=10)


def test_semihost_dir_must_exist(tmp_path):
    refused(["run", HELLO, "--semihost-dir", tmp_path / "nope"], "--semihost-dir")


# ------------------------------------------------------------------ bench

def test_bench_empty_model_list():
    refused(["bench", "--models", ""], "--models")
    refused(["bench", "--models", " , "], "--models")


def test_bench_bad_name_in_the_middle_before_any_run():
    line = refused(["bench", "--models", "ad,kwz,vww"], "kwz", within_s=10)
    assert "unknown model" in line


def test_bench_bad_file_in_the_middle_before_any_run(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x10\x00\x00\x00TFL3" + bytes(40))
    refused(["bench", "--models", f"ad,{bad},kws"], "bad.tflite", within_s=10)


def test_bench_limit_is_exit_4():
    rc, out, err = run_cli(["bench", "--models", "ad", "--timeout", "0.001"])
    assert rc == 4, (rc, out, err)
    assert "failed" in out


# ------------------------------------------------------------------ core / ELF compatibility

def test_m0plus_elf_on_an_m4_part():
    line = refused(["run", PREBUILT / "cortex-m0plus" / "hello.elf"], "Armv6-M", "--force")
    assert "stm32l4r5" in line


def test_force_runs_it_anyway():
    rc, _, err = run_cli(["run", PREBUILT / "cortex-m0plus" / "hello.elf", "--force", "--quiet"])
    assert rc == 0, err


def test_m7_elf_on_an_m4_part():
    refused(["run", PREBUILT / "cortex-m7f" / "hello.elf"], "--force")


# ------------------------------------------------------------------ catalogs

def test_bad_power_catalog_refused_before_the_run(tmp_path):
    from mcusim.catalog import catalog_dirs
    src = (catalog_dirs()["power_models"] / "stm32l4r5.toml").read_text()
    assert "\nrun_ua_per_mhz" in src
    (tmp_path / "pw.toml").write_text(src.replace("\nrun_ua_per_mhz", "\nrun_ua_per_mhx", 1))
    (tmp_path / "part.toml").write_text('extends = "stm32l4r5"\n[mcu]\n'
                                        'description = "bad power"\npower_model = "pw.toml"\n')
    refused(["run", LONGLOOP, "--mcu", tmp_path / "part.toml"], "pw.toml", "did you mean",
            within_s=10)


def test_power_model_path_relative_to_the_mcu_file(tmp_path):
    from mcusim.catalog import catalog_dirs, load_mcu
    src = catalog_dirs()["power_models"] / "stm32l4r5.toml"
    (tmp_path / "pw.toml").write_text(src.read_text())
    (tmp_path / "part.toml").write_text('extends = "stm32l4r5"\n[mcu]\n'
                                        'description = "copy"\npower_model = "pw.toml"\n')
    m = load_mcu(str(tmp_path / "part.toml"))
    assert m.power_model == str(tmp_path / "pw.toml")
    rc, _, err = run_cli(["run", HELLO, "--mcu", tmp_path / "part.toml", "--quiet"])
    rc0, _, err0 = run_cli(["run", HELLO, "--quiet"])
    assert rc == rc0 == 0, err
    uj = [e.split(" uJ")[0].rsplit("| ", 1)[1] for e in (err, err0)]
    assert uj[0] == uj[1], (err, err0)


# ------------------------------------------------------------------ fault reports, output

def test_symbol_names_are_sanitized_in_fault_reports(tmp_path):
    """A function name with a newline and a terminal escape: the report stays one line and
    shows them as \\xNN."""
    src = PREBUILT / "cortex-m4f" / "fault_unhandled.elf"
    data = bytearray(src.read_bytes())
    name = b"\0read_unmapped\0"
    i = data.find(name)
    assert i > 0
    data[i + 1:i + 1 + 13] = b"read\n\x1b[31mmap"
    p = tmp_path / "evil.elf"
    p.write_bytes(bytes(data))
    rc, _, err = run_cli(["run", p, "--quiet"])
    assert rc == 3, err
    report = [ln for ln in err.splitlines() if "firmware fault" in ln]
    assert len(report) == 1 and "\x1b" not in err and "read\\x0a\\x1b[31mmap" in report[0], err


def test_printable():
    from mcusim.elf import printable
    assert printable("main") == "main"
    assert printable("a\nb\x1b[0m\u202e") == "a\\x0ab\\x1b[0m\\u202e"


def test_program_output_is_bounded():
    """A firmware printing in a loop: the record keeps the last MAX_CAPTURE bytes and says
    how much it dropped; memory does not grow with the output."""
    from conftest import NullSink
    from mcusim.catalog import load_mcu
    from mcusim.machine import Machine
    from mcusim.output import MAX_CAPTURE
    warnings = []
    m = Machine(load_mcu("stm32l4r5"), stdout=NullSink(), stderr=NullSink(),
                warn=warnings.append)
    chunk = b"x" * 4095 + b"\n"
    for _ in range(5 * MAX_CAPTURE // len(chunk)):
        m.output(chunk)
        assert len(m.captured) <= 2 * MAX_CAPTURE
    m.program_output.finish()
    assert len(m.captured) < MAX_CAPTURE + 200
    assert m.output_dropped["stdout"] >= 3 * MAX_CAPTURE
    assert bytes(m.captured).startswith(b"[mcusim: ")
    assert len(warnings) == 1 and "MiB" in warnings[0]


# ------------------------------------------------------------------ what the numbers are

def test_infer_count_reports_mean_min_max():
    rc, out, err = run_cli(["infer", "ad", "--count", "3"])
    assert rc == 0, err
    assert "3 inferences: mean" in out and "| min " in out and "| max " in out, out
    assert "ad: built-in model with the MLPerf Tiny architecture and random weights" in out


def test_builtin_models_are_not_announced_as_the_mlperf_models():
    rc, out, _ = run_cli(["bench", "--help"])
    assert rc == 0 and "random weights" in out
    rc, out, _ = run_cli(["infer", "--help"])
    assert "random weights" in out and "exit status" in out


def test_profile_shows_sleep_and_cpi_over_active_cycles():
    rc, _, err = run_cli(["run", PREBUILT / "cortex-m4f" / "dutycycle.elf", "--quiet", "--profile"])
    assert rc == 0, err
    cause = next(ln for ln in err.splitlines() if ln.startswith("cycles by cause"))
    assert "over active cycles" in cause and "asleep" in cause, cause
    assert any(ln.startswith("[asleep: WFI/WFE]") for ln in err.splitlines()), err


@pytest.mark.parametrize("cmd", ["run", "infer", "bench", "serve", "check", "list", "show"])
def test_help_shows_exit_statuses_and_an_example(cmd):
    rc, out, _ = run_cli([cmd, "--help"])
    assert rc == 0 and "exit status" in out and "example" in out, out
