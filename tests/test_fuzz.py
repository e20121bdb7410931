"""Seeded mutational fuzzing of mcusim's inputs: firmware ELFs, .tflite models and catalog
TOML files (issue 12).

Every mutated input must end in one of the documented ways, never a Python traceback, a
crash, a hang or a memory blow-up:

- refused before the run: exit status 2 and exactly one line on stderr, "mcusim: ...";
- a run that ends: the summary line "mcusim: <outcome> | ..." and the matching status
  (the firmware's own exit status, 3 with a fault report, 4 at a limit).

Runs are in-process calls of ``mcusim.cli.main(argv)`` (fast), bounded by --max-cycles and
--timeout and by a SIGALRM watchdog for anything before the run; a small sample goes
through a subprocess as well. The default (CI) tier is about 300 cases in 20-40 s on a
shared 2-core machine; ``-m slow`` runs the same generators with several thousand cases
and other seeds (about 10 minutes). Each failure message names the seed and case so that
it can be replayed:

    python -m pytest -q tests/test_fuzz.py -k elf            # CI tier
    python -m pytest -q -m slow tests/test_fuzz.py           # long tier
    MCUSIM_FUZZ_SEED=7 python -m pytest -q tests/test_fuzz.py    # other seeds

The firmware runtime's own model validation is fuzzed too: mutated bytes are written
straight into the inference image's model slot (the host-side reader, which refuses most
of them, is bypassed); the runtime must compute or refuse the model with one of its
documented errors (mcusim/infer.py ERRORS: exit 2 with one line).

A bug the fuzzer found in the energy accounting after a run is
test_post_run_accounting_is_bounded (slow tier; fixed).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import resource
import signal
import struct
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from conftest import PREBUILT, SHARED, TARGET_MCU

REPO = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("MCUSIM_FUZZ_SEED", "12"))

# bounds of one in-process case
MAX_CYCLES = "60000"    # every unmutated source image ends in < 30,000 cycles
TIMEOUT_S = "3"
WATCHDOG_S = 60            # anything longer (a hang before --timeout applies) fails the case
RSS_GROWTH_MB = 1500       # peak RSS may not grow by more than this over a test

ELFS = [("cortex-m4f", "hello.elf"), ("cortex-m4f", "fault_udf.elf"),
        ("cortex-m0plus", "hello.elf"), ("cortex-m33", "nvic.elf"), ("cortex-m7f", "hello.elf")]

SUMMARY = re.compile(r"^mcusim: (exit status (\d+)|fault|limit|diverged) \| ")


# --------------------------------------------------------------------------- running

class Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise Hang(f"no result after {WATCHDOG_S} s")


class _Stdin(io.TextIOWrapper):
    def isatty(self):
        return False


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """mcusim.cli.main(argv) in-process -> (status, stdout, stderr). Any exception that
    escapes main() is a failure (a traceback the user would see)."""
    from mcusim.cli import main
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(WATCHDOG_S)
    stdin = sys.stdin
    sys.stdin = _Stdin(io.BytesIO(b""))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 2
    except Hang as e:
        pytest.fail(f"hang: {argv}: {e}\nstderr so far: {err.getvalue()[-2000:]}")
    except BaseException:
        pytest.fail(f"traceback from mcusim {' '.join(map(str, argv))}:\n"
                    f"{traceback.format_exc()}\nstderr: {err.getvalue()[-2000:]}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        sys.stdin = stdin
    return rc, out.getvalue(), err.getvalue()


def check_outcome(rc: int, err: str, what: str, *, allow_limit: bool = True) -> str:
    """The documented endings; returns 'refused', 'exit', 'fault' or 'limit'."""
    assert "Traceback" not in err, f"{what}: traceback\n{err}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    summary = [m for m in map(SUMMARY.match, lines) if m]
    if summary:                                   # `run` simulated: status follows outcome
        m = summary[-1]
        if m.group(2) is not None:
            assert rc == int(m.group(2)) & 0xFF, f"{what}: status {rc} for {m.group(0)}\n{err}"
            return "exit"
        if m.group(1) == "fault":
            assert rc == 3, f"{what}: status {rc} after a fault\n{err}"
            assert any(ln.startswith("mcusim: firmware fault") for ln in lines), \
                f"{what}: fault without a fault report\n{err}"
            return "fault"
        if m.group(1) == "limit":
            assert rc == 4 and allow_limit, f"{what}: status {rc} at a limit\n{err}"
            return "limit"
        pytest.fail(f"{what}: unexpected outcome {m.group(0)}\n{err}")
    if rc == 2:
        assert len(lines) == 1 and lines[0].startswith("mcusim: "), \
            f"{what}: exit 2 needs exactly one line 'mcusim: ...' on stderr, got:\n{err}"
        return "refused"
    if rc == 3:                                   # `infer`: the fault line, no summary
        assert lines and lines[-1].startswith("mcusim: "), f"{what}: status 3\n{err}"
        return "fault"
    if rc == 4:
        assert allow_limit and lines and "limit" in lines[-1], f"{what}: status 4\n{err}"
        return "limit"
    if rc == 0:
        return "exit"
    pytest.fail(f"{what}: status {rc}\n{err}")


class RssGuard:
    """Peak RSS (this process and its children) may not grow by more than RSS_GROWTH_MB."""

    def __enter__(self):
        self.start = self._peak()
        return self

    @staticmethod
    def _peak() -> int:
        return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) // 1024

    def __exit__(self, *exc):
        grew = self._peak() - self.start
        assert grew < RSS_GROWTH_MB, f"peak RSS grew by {grew} MB"
        return False


# --------------------------------------------------------------------------- mutators

INTERESTING32 = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x20000000, 0x08000000,
                 0xE000E000, 0x40000000]


def mutate_bytes(data: bytes, rng: random.Random, hot: list[tuple[int, int]] = ()) -> bytes:
    """One to four mutations; `hot` ranges (offset, length) get most of them."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if hot and rng.random() < 0.75:
            lo, n = rng.choice(hot)
        else:
            lo, n = 0, len(b)
        n = max(1, min(n, len(b) - lo))
        if not b or lo >= len(b):
            break
        k = rng.randrange(8)
        off = lo + rng.randrange(n)
        if k <= 2:                                          # bit flip
            b[off] ^= 1 << rng.randrange(8)
        elif k == 3:                                        # random byte
            b[off] = rng.randrange(256)
        elif k <= 5:                                        # interesting aligned word
            off = lo + (rng.randrange(n) & ~3)
            if off + 4 <= len(b):
                b[off:off + 4] = struct.pack("<I", rng.choice(INTERESTING32))
        elif k == 6:                                        # truncate
            del b[rng.randrange(1, len(b)):]
        else:                                               # delete or duplicate a chunk
            m = rng.randint(1, 64)
            if rng.random() < 0.5:
                del b[off:off + m]
            else:
                b[off:off] = b[off:off + m]
    return bytes(b)


def elf_hot_ranges(data: bytes) -> list[tuple[int, int]]:
    """ELF header, program and section headers, the symbol table and build attributes."""
    from elftools.elf.elffile import ELFFile
    e = ELFFile(io.BytesIO(data))
    hot = [(0, 52), (e["e_phoff"], e["e_phnum"] * e["e_phentsize"]),
           (e["e_shoff"], e["e_shnum"] * e["e_shentsize"])]
    for s in e.iter_sections():
        if s.name in (".symtab", ".ARM.attributes", ".isr_vector", ".strtab"):
            hot.append((s["sh_offset"], min(s["sh_size"], 4096)))
    return [(o, n) for o, n in hot if n > 0]


def mutate_elf(data: bytes, rng: random.Random, hot) -> bytes:
    if rng.random() < 0.1:           # a section header's type (e.g. .symtab as PROGBITS)
        from elftools.elf.elffile import ELFFile
        e = ELFFile(io.BytesIO(data))
        b = bytearray(data)
        i = rng.randrange(1, e["e_shnum"])
        off = e["e_shoff"] + i * e["e_shentsize"] + 4
        b[off:off + 4] = struct.pack("<I", rng.choice([0, 1, 2, 3, 4, 8, 11, 0x70000003, 99]))
        return bytes(b)
    return mutate_bytes(data, rng, hot)


_NUM = re.compile(r"(?<![\w.])(-?(?:0x[0-9A-Fa-f_]+|\d[\d_]*(?:\.\d+)?(?:e-?\d+)?))")
ODD_VALUES = ["0", "-1", "1e308", "-1e308", "nan", "inf", "0xFFFFFFFF", "0x100000000",
              "99999999999999999999", "1.5", "true", '"x"', "[]", "{}", "0.0", "1e-30",
              "4294967296", "2147483648"]


def mutate_toml(text: str, rng: random.Random) -> str:
    """Text-level mutations of a catalog, mostly ones that keep it valid TOML (the schema's
    checks are the target, not the TOML parser's): odd or shifted numbers, typos in keys
    and tables, lines removed, duplicated or swapped, and now and then a stray character."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 2)):
        k = rng.randrange(12)
        i = rng.randrange(len(lines))
        ln = lines[i]
        nums = list(_NUM.finditer(ln.split("#")[0]))
        if k <= 4 and nums:                                 # a number -> an odd value
            m = rng.choice(nums)
            lines[i] = ln[:m.start()] + rng.choice(ODD_VALUES) + ln[m.end():]
        elif k == 5 and nums:                               # a number -> a near one
            m = rng.choice(nums)
            try:
                v = int(m.group(0).replace("_", ""), 0)
                v = rng.choice([v * 2, v // 2, v + 1, v - 1, v + 0x1000, v * 16])
                rep = hex(v) if m.group(0).startswith("0x") and v >= 0 else str(v)
            except ValueError:
                rep = repr(float(m.group(0)) * rng.choice([0.5, 2, 10, -1]))
            lines[i] = ln[:m.start()] + rep + ln[m.end():]
        elif k == 6 and "=" in ln and not ln.lstrip().startswith(("#", "[")):   # key typo
            key, rest = ln.split("=", 1)
            key = key.rstrip()
            if len(key) > 2:
                j = rng.randrange(1, len(key))
                key = key[:j] + rng.choice("_xs") + key[j + 1:]
            lines[i] = key + " =" + rest
        elif k == 7 and ln.startswith("["):                 # table typo
            lines[i] = ln.replace("]", "s]", 1) if rng.random() < 0.5 else ln.replace(".", "_", 1)
        elif k == 8:
            del lines[i]
        elif k == 9:
            lines.insert(i, ln)
        elif k == 10:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif k == 11:                                       # a stray character or byte
            c = rng.choice(['"', "[", "]", "=", "{", "\\", "\x00", "\u00e9", "'", ","])
            p = rng.randrange(len(ln) + 1)
            lines[i] = ln[:p] + c + ln[p:]
        if not lines:
            lines = [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- ELF

def _elf_cases(n: int, seed: int):
    rng = random.Random(seed)
    sources = [(PREBUILT / core / name, TARGET_MCU[core]) for core, name in ELFS]
    cache = {}
    for i in range(n):
        path, mcu = sources[i % len(sources)]
        if path not in cache:
            data = path.read_bytes()
            cache[path] = (data, elf_hot_ranges(data))
        data, hot = cache[path]
        yield i, path, mcu, mutate_elf(data, rng, hot)


def fuzz_elfs(tmp_path: Path, n: int, seed: int) -> dict[str, int]:
    seen: dict[str, int] = {}
    with RssGuard():
        for i, src, mcu, data in _elf_cases(n, seed):
            p = tmp_path / f"m{i}.elf"
            p.write_bytes(data)
            what = f"ELF seed {seed} case {i} (from {src.parent.name}/{src.name})"
            rc, _, err = run_cli(["run", p, "--mcu", mcu, "--quiet", "--max-cycles", MAX_CYCLES,
                                  "--timeout", TIMEOUT_S])
            kind = check_outcome(rc, err, what)
            seen[kind] = seen.get(kind, 0) + 1
            p.unlink()
    return seen


def test_fuzz_elf(tmp_path):
    seen = fuzz_elfs(tmp_path, 70, SEED)
    # the fuzzer reaches both the loader's refusals and simulated runs
    assert seen.get("refused", 0) > 10 and seen.get("exit", 0) + seen.get("fault", 0) > 10, seen


def test_elf_symtab_with_wrong_section_type(tmp_path):
    """The issue's traceback: a .symtab whose sh_type is not SHT_SYMTAB."""
    from elftools.elf.elffile import ELFFile
    src = PREBUILT / "cortex-m4f" / "hello.elf"
    data = bytearray(src.read_bytes())
    e = ELFFile(io.BytesIO(bytes(data)))
    for i, s in enumerate(e.iter_sections()):
        if s.name == ".symtab":
            off = e["e_shoff"] + i * e["e_shentsize"] + 4
            for t in (1, 3, 8):                          # PROGBITS, STRTAB, NOBITS
                data[off:off + 4] = struct.pack("<I", t)
                p = tmp_path / f"symtab{t}.elf"
                p.write_bytes(bytes(data))
                rc, _, err = run_cli(["run", p, "--quiet", "--max-cycles", MAX_CYCLES])
                check_outcome(rc, err, f"symtab type {t}")


@pytest.mark.slow
def test_post_run_accounting_is_bounded(tmp_path):
    """Found by this fuzzer (ELF seed 12 case 38 at --max-cycles 500000): the mutated nvic.elf
    runs into zero-filled SRAM (911 distinct 1 KB blocks) and faults after 0.2 s of
    simulation; the power-activity accounting then decoded every block in Python (~35 s,
    outside --timeout). Fixed: the block profiles come from the C classifier (3.6 s)."""
    import time
    for i, src, mcu, data in _elf_cases(39, 12):
        if i == 38:
            p = tmp_path / "case38.elf"
            p.write_bytes(data)
    t = time.monotonic()
    rc, _, err = run_cli(["run", p, "--mcu", "stm32u585", "--quiet", "--max-cycles", "500000",
                          "--timeout", "3"])
    check_outcome(rc, err, "ELF seed 12 case 38")
    assert time.monotonic() - t < 15, f"{time.monotonic() - t:.0f} s with --timeout 3"


# --------------------------------------------------------------------------- models (host reader)

def _model_sources():
    from mcusim.tflite.builtin import builtin_model_bytes
    out = [("ad", builtin_model_bytes("ad")), ("kws", builtin_model_bytes("kws"))]
    for name in ("ad", "kws"):
        p = SHARED / "models" / f"{name}.tflite"
        if p.exists():
            out.append((str(p), p.read_bytes()))
    return out


def _model_hot(data: bytes) -> list[tuple[int, int]]:
    """The flatbuffer's tables and vectors (the first 4 KB and the last 4 KB, where the
    writers put offsets, shapes and operator tables), besides anything else."""
    n = len(data)
    return [(0, min(n, 4096)), (max(0, n - 4096), min(n, 4096))]


def fuzz_models(tmp_path: Path, n: int, seed: int, *, max_runs: int) -> dict[str, int]:
    """Mutated models through `mcusim infer FILE`: the reader refuses them (exit 2, one
    line) or the image runs them (at most `max_runs` simulated, ad-sized models only)."""
    from mcusim.tflite import ModelError, read_model
    rng = random.Random(seed)
    sources = _model_sources()
    seen: dict[str, int] = {}
    runs = 0
    with RssGuard():
        for i in range(n):
            name, data = sources[i % len(sources)]
            mut = mutate_bytes(data, rng, _model_hot(data))
            p = tmp_path / f"m{i}.tflite"
            p.write_bytes(mut)
            try:
                read_model(mut, supported_only=True)
                accepted = True
            except ModelError:
                accepted = False
            except Exception:
                pytest.fail(f"model seed {seed} case {i} (from {name}): the reader raised "
                            f"instead of ModelError:\n{traceback.format_exc()}")
            if accepted and (runs >= max_runs or len(data) > 100_000 and runs >= max_runs // 4):
                p.unlink()
                seen["accepted, not run"] = seen.get("accepted, not run", 0) + 1
                continue
            runs += accepted
            rc, _, err = run_cli(["infer", p, "--max-cycles", "60000000", "--timeout", "20"])
            kind = check_outcome(rc, err, f"model seed {seed} case {i} (from {name})")
            seen[kind] = seen.get(kind, 0) + 1
            p.unlink()
    return seen


def test_fuzz_models(tmp_path):
    seen = fuzz_models(tmp_path, 80, SEED, max_runs=4)
    assert seen.get("refused", 0) > 20, seen


# --------------------------------------------------------------------------- models (runtime)

def _accepted(read, data) -> bool:
    from mcusim.tflite import ModelError
    try:
        read(data, supported_only=True)
        return True
    except ModelError:
        return False


def fuzz_model_slot(monkeypatch, n: int, seed: int, model: str = "ad") -> dict[str, int]:
    """Mutated model bytes straight into the image's model slot through `mcusim infer`:
    the host reader is bypassed (it parses the original model, for the input size and
    the arena check), so the C runtime sees bytes the reader would have refused."""
    import mcusim.infer as infer_mod
    from mcusim.tflite import ModelError
    from mcusim.tflite.builtin import builtin_model_bytes
    real_read = infer_mod.read_model
    orig = builtin_model_bytes(model)
    rng = random.Random(seed)
    seen: dict[str, int] = {}
    with RssGuard():
        for i in range(n):
            mut = mutate_bytes(orig, rng, _model_hot(orig))

            def read(data, supported_only=False, _mut=mut):
                try:            # what the reader makes of the mutant, if anything
                    return real_read(data, supported_only=supported_only)
                except ModelError:
                    return real_read(orig, supported_only=supported_only)

            monkeypatch.setattr(infer_mod, "load_model_bytes", lambda spec, _m=mut: (model, _m))
            monkeypatch.setattr(infer_mod, "read_model", read)
            what = f"model-slot seed {seed} case {i} (from {model})"
            try:
                rc, out, err = run_cli(["infer", model, "--kernels", "ref", "--max-cycles",
                                        "60000000", "--timeout", "20"])
            except pytest.fail.Exception as e:
                # the harness read the output with the original model's output shape: a
                # runtime that computed a mutant of another output size is not a failure
                # when the host reader refuses that mutant (a user could not get there)
                if "cannot reshape" in str(e) and not _accepted(real_read, mut):
                    seen["exit (other output size)"] = seen.get("exit (other output size)", 0) + 1
                    continue
                raise
            kind = check_outcome(rc, err, what, allow_limit=False)
            assert kind != "fault", f"{what}: the runtime faulted on a mutated model\n{err}"
            if kind == "refused":
                assert "model" in err, f"{what}: {err}"
            seen[kind] = seen.get(kind, 0) + 1
    return seen


def test_fuzz_model_slot(monkeypatch):
    seen = fuzz_model_slot(monkeypatch, 12, SEED)
    assert sum(seen.values()) == 12, seen


# --------------------------------------------------------------------------- catalogs

CATALOG_FILES = [("memory_models", "stm32l4r5.toml", "cortex-m4f"),
                 ("memory_models", "stm32l4.toml", "cortex-m4f"),
                 ("memory_models", "stm32g0.toml", "cortex-m0plus"),
                 ("memory_models", "stm32h7a3.toml", "cortex-m7f"),
                 ("memory_models", "stm32u5.toml", "cortex-m33"),
                 ("cores", "cortex-m4f.toml", "cortex-m4f"),
                 ("cores", "cortex-m0plus.toml", "cortex-m0plus"),
                 ("power_models", "stm32l4r5.toml", "cortex-m4f"),
                 ("power_models", "stm32u585.toml", "cortex-m33")]
PART_OF_CORE = {"cortex-m4f": "stm32l4r5", "cortex-m0plus": "stm32g0b1",
                "cortex-m7f": "stm32h7a3", "cortex-m33": "stm32u585"}


def _catalog_case(tmp_path: Path, kind: str, name: str, core: str, text: str) -> Path:
    """The mutated file in a fresh directory, and the MCU file that uses it."""
    d = tmp_path
    if kind == "memory_models":
        stem = Path(name).stem
        if stem in ("stm32l4", "stm32g0", "stm32u5"):   # abstract family files: through a part
            (d / name).write_text(text)
            part = {"stm32l4": "stm32l4r5", "stm32g0": "stm32g0b1", "stm32u5": "stm32u585"}[stem]
            src = (REPO / "memory_models" / f"{part}.toml").read_text()
            src = re.sub(r'(?m)^extends = "[^"]*"', f'extends = "{name}"', src)
            (d / "part.toml").write_text(src)
            return d / "part.toml"
        (d / "part.toml").write_text(text)
        return d / "part.toml"
    (d / name).write_text(text)
    key = "core" if kind == "cores" else "power_model"
    table = "mcu"
    (d / "part.toml").write_text(f'extends = "{PART_OF_CORE[core]}"\n[{table}]\n'
                                 f'description = "fuzzed {kind}"\n{key} = "{name}"\n')
    return d / "part.toml"


def fuzz_catalogs(tmp_path: Path, n: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    seen: dict[str, int] = {}
    with RssGuard():
        for i in range(n):
            kind, name, core = CATALOG_FILES[i % len(CATALOG_FILES)]
            text = (REPO / kind / name).read_text()
            d = tmp_path / f"c{i}"
            d.mkdir()
            part = _catalog_case(d, kind, name, core, mutate_toml(text, rng))
            elf = PREBUILT / core / "hello.elf"
            what = f"catalog seed {seed} case {i} ({kind}/{name})"
            rc, _, err = run_cli(["run", elf, "--mcu", part, "--quiet", "--max-cycles",
                                  MAX_CYCLES, "--timeout", TIMEOUT_S])
            kind_ = check_outcome(rc, err, what)
            seen[kind_] = seen.get(kind_, 0) + 1
    return seen


def test_fuzz_catalogs(tmp_path):
    seen = fuzz_catalogs(tmp_path, 90, SEED)
    assert seen.get("refused", 0) > 10 and seen.get("exit", 0) > 10, seen


def test_catalog_copies_run_unchanged(tmp_path):
    """The harness itself: unmutated copies of every fuzzed file run (exit 0)."""
    for i, (kind, name, core) in enumerate(CATALOG_FILES):
        d = tmp_path / f"c{i}"
        d.mkdir()
        part = _catalog_case(d, kind, name, core, (REPO / kind / name).read_text())
        elf = PREBUILT / core / "hello.elf"
        rc, _, err = run_cli(["run", elf, "--mcu", part, "--quiet", "--max-cycles", MAX_CYCLES])
        assert rc == 0, f"{kind}/{name}: {err}"


# --------------------------------------------------------------------------- subprocess sample

def test_fuzz_subprocess_sample(tmp_path):
    """A few mutants through the real command line (a fresh interpreter each): the same
    endings, and nothing that only shows outside the test process."""
    cases = list(_elf_cases(2, SEED + 1))
    for i, src, mcu, data in cases:
        p = tmp_path / f"s{i}.elf"
        p.write_bytes(data)
        r = subprocess.run([sys.executable, "-m", "mcusim", "run", str(p), "--mcu", mcu, "--quiet",
                            "--max-cycles", MAX_CYCLES, "--timeout", TIMEOUT_S],
                           capture_output=True, text=True, timeout=120, cwd=REPO,
                           stdin=subprocess.DEVNULL)
        check_outcome(r.returncode, r.stderr, f"subprocess ELF seed {SEED + 1} case {i}")


# --------------------------------------------------------------------------- long tier

@pytest.mark.slow
@pytest.mark.parametrize("seed", [SEED + 100, SEED + 101])
def test_fuzz_elf_long(tmp_path, seed):
    fuzz_elfs(tmp_path, 800, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [SEED + 100, SEED + 101])
def test_fuzz_models_long(tmp_path, seed):
    fuzz_models(tmp_path, 600, seed, max_runs=60)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ad", "kws"])
def test_fuzz_model_slot_long(monkeypatch, model):
    fuzz_model_slot(monkeypatch, 150, SEED + 100, model)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [SEED + 100, SEED + 101])
def test_fuzz_catalogs_long(tmp_path, seed):
    fuzz_catalogs(tmp_path, 300, seed)
