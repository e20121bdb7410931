"""Start-up of mcusim on this machine: seconds from before the first import to the first
instruction (the first CPU slice), issue 16's goal being < 0.3 s.

    python benchmarks/bench_startup.py [--repeat 7] [--json FILE]

Each sample is a new interpreter (the bytecode cache warmed by a first, discarded run)
running, in-process, the CLI command of each workload:

  * run:   mcusim run firmware_images/prebuilt/cortex-m4f/hello.elf --mcu stm32l4r5 --quiet
  * infer: mcusim infer ad --kernels ref (a built-in model: numpy, the model builder)

and stopping at the first CpuProcess.run_slice. Reported per workload: min / median / max
of the total, and its split: `to main` (importing mcusim.cli, which imports little) and
`main to slice` (the command: its lazy imports, argument checks, catalog, ELF, machine).
`python -S -c pass` (the interpreter alone) is printed for scale; the interpreter's own
start and `site` are outside the measured span (they are not mcusim's: here `site`
imports certifi through a .pth file). The largest imports of one run follow
(`python -X importtime`, cumulative ms, mcusim's own and third-party top-level modules).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import time
t0 = time.perf_counter()
import sys
sys.path.insert(0, {root!r})
import mcusim.cli as cli
import mcusim.cpu_process as cp
t1 = time.perf_counter()

def first_slice(self, *a, **k):
    t = time.perf_counter()
    sys.__stdout__.write("STARTUP %.6f %.6f\n" % (t - t0, t1 - t0))
    sys.__stdout__.flush()
    import os
    os._exit(0)

cp.CpuProcess.run_slice = first_slice
cli.main({argv!r})
"""

WORKLOADS = {
    "run": ["run", str(ROOT / "firmware_images/prebuilt/cortex-m4f/hello.elf"), "--mcu",
            "stm32l4r5", "--quiet"],
    "infer": ["infer", "ad", "--kernels", "ref"],
}


def sample(argv: list[str], env: dict) -> tuple[float, float]:
    code = PROBE.format(root=str(ROOT), argv=argv)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=120)
    for line in r.stdout.splitlines():
        if line.startswith("STARTUP "):
            total, imports = map(float, line.split()[1:])
            return total, imports
    raise RuntimeError(f"no start-up line: {r.stdout[-500:]} {r.stderr[-2000:]}")


def interpreter_alone(env: dict) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-S", "-c", "pass"], env=env, check=True)
    return time.perf_counter() - t


def top_imports(argv: list[str], env: dict, n: int = 14) -> list[tuple[str, float]]:
    code = PROBE.format(root=str(ROOT), argv=argv)
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=120)
    rows, started = [], False
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = line.split("|")
        indent = len(name) - len(name.lstrip())
        name = name.strip()
        if name == "site" and indent == 1:
            started = True           # the interpreter's own imports end with site's
            continue
        if started and indent <= 3 and cum.strip().isdigit():
            rows.append((name, int(cum) / 1000.0))
    rows.sort(key=lambda x: -x[1])
    return rows[:n]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--workloads", default="run,infer")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "mcusim-bench-pyc"))
    out = {"machine": os.uname().nodename if hasattr(os, "uname") else "", "goal_s": 0.3,
           "python": sys.version.split()[0], "workloads": {}}
    print(f"interpreter alone (python -S -c pass): "
          f"{min(interpreter_alone(env) for _ in range(3)):.3f} s (not counted)")
    print(f"{'workload':8} {'total s min / median / max':>30} {'to main s (median)':>19} "
          f"{'main to slice s':>18}  goal < 0.3 s")
    for w in [x for x in a.workloads.split(",") if x]:
        argv_w = WORKLOADS[w]
        sample(argv_w, env)                                  # fills the bytecode cache
        s = [sample(argv_w, env) for _ in range(a.repeat)]
        tot = [x[0] for x in s]
        imp = [x[1] for x in s]
        setup = [x[0] - x[1] for x in s]
        med = statistics.median(tot)
        print(f"{w:8} {min(tot):10.3f} / {med:.3f} / {max(tot):.3f} "
              f"{statistics.median(imp):19.3f} {statistics.median(setup):18.3f}  "
              f"{'met' if med < 0.3 else 'not met'} (median)")
        out["workloads"][w] = {"argv": argv_w, "total_s": tot, "imports_s": imp,
                               "setup_s": setup, "top_imports_ms": top_imports(argv_w, env)}
    for w, d in out["workloads"].items():
        print(f"\nlargest imports of `{w}` (cumulative ms, one run):")
        for name, ms in d["top_imports_ms"]:
            print(f"  {ms:8.1f}  {name}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
