"""Semihosting host files: refused without --semihost-dir; inside the directory they work;
nothing outside it can be touched (.., absolute paths, symlinks out)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ELF = ROOT / "firmware_images" / "prebuilt" / "cortex-m4f" / "sh_files.elf"


def run(*extra, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "mcusim", "run", str(ELF), *map(str, extra)],
                          capture_output=True, text=True, cwd=cwd, timeout=120, env=env)


def test_refused_without_sandbox(tmp_path):
    r = run(cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sandbox: files refused" in r.stdout
    assert "--semihost-dir" in r.stderr            # says how to allow it
    assert list(tmp_path.iterdir()) == []


def test_files_inside_sandbox(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    r = run("--semihost-dir", box, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sandbox: files ok" in r.stdout
    assert (box / "out.txt").read_text() == "written by firmware\n"
    assert not (box / "tmp.txt").exists()          # SYS_REMOVE
    assert not (tmp_path / "escape.txt").exists()  # ../escape.txt refused
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box"]


def test_symlink_out_of_sandbox_refused(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    os.symlink(outside, box / "out.txt")
    r = run("--semihost-dir", box, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sandbox: files refused" in r.stdout
    assert outside.read_text() == "precious\n"
