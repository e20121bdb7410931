"""Packaging: a non-editable install into a fresh venv carries the catalogs, the prebuilt
firmware and the native hook source; the README's commands are the ones CI runs."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    test_cmd = readme[1].strip()
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.strip().startswith("#")]
    assert test_cmd in ci, "README line 2 must be the command .ci/run runs"
    assert readme[0].strip().startswith("pip install . && mcusim bench")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    d = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(d)
    py = d / "bin" / "python"
    wheel_dir = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-w", str(wheel_dir), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(wheel_dir.glob("mcusim-*.whl"))
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return py


def run_outside(py, *args):
    # run from a directory that is not the checkout, so only the installed copy is seen
    env = dict(os.environ, PYTHONPATH="")
    return subprocess.run([str(py), *args], capture_output=True, text=True, cwd="/", env=env,
                          timeout=600)


def test_installed_package_has_catalogs_and_firmware(installed):
    code = (
        "import mcusim, mcusim.catalog as c, mcusim.infer as i, pathlib;"
        "assert 'site-packages' in mcusim.__file__, mcusim.__file__;"
        "cat = c.list_catalog(); names = [n for n, _ in cat['mcus']];"
        "assert {'stm32l4r5','stm32g0b1','stm32h7a3','stm32u585','generic-m4'} <= set(names), names;"
        "m = c.load_mcu('stm32l4r5'); assert m.core.name == 'cortex-m4f';"
        "fd = i.firmware_dir(); assert fd.name == '_firmware' and 'site-packages' in str(fd), fd;"
        "assert (fd / 'cortex-m4f' / 'infer-opt.elf').exists();"
        "assert all((pathlib.Path(mcusim.__file__).parent / '_native' / n).exists() for n in "
        "('blockhook.c', 'memmodel.c', 'classify.c', 'bcache.c', 'native.h'));"
        "from mcusim.timing.blocks import native_library; lib = native_library();"
        "assert lib is not None and hasattr(lib, 'mcusim_classify_block');"
        "print('ok')"
    )
    r = run_outside(installed, "-c", code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_installed_console_script_runs_firmware(installed, tmp_path):
    import json
    hello = ROOT / "firmware_images" / "prebuilt" / "cortex-m4f" / "nvic.elf"
    r = run_outside(installed, "-m", "mcusim", "run", str(hello), "--json", str(tmp_path / "i.json"))
    assert r.returncode == 0, r.stderr
    assert "nvic: PASS" in r.stdout
    # the installed copy uses the same timing, memory and power models as the checkout
    src = subprocess.run([sys.executable, "-m", "mcusim", "run", str(hello), "--json", str(tmp_path / "s.json")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert src.returncode == 0, src.stderr
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("i.json", "s.json"))
    assert (a["cycles"], a["energy_j"]) == (b["cycles"], b["energy_j"])
    assert a["cycles"] != a["instructions"]
    r = run_outside(installed, "-m", "mcusim", "list")
    assert r.returncode == 0 and "stm32l4r5" in r.stdout


def test_installed_bench_runs(installed):
    r = run_outside(installed, "-m", "mcusim", "bench", "--models", "ad")
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("ad ")][0]
    latency_ms, energy_uj = float(line.split()[1]), float(line.split()[4])
    assert 1 < latency_ms < 100 and energy_uj > 0
