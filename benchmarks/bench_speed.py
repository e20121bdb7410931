"""Simulator speed as ratios to hook-free Unicorn, measured side by side in one run.

For each workload (one inference of a built-in MLPerf Tiny model with the ref and opt
kernels, a TFLM ELF of ../shared/firmware/tflm, or any ELF) it runs, back to back:

  * mcusim fast mode (the default), recording every value the run's devices returned
    (MMIO reads, semihosting results) and the machine's state at reset;
  * Unicorn alone on the same memory image: no hooks at all except the interrupt hook that
    replays those semihosting results, and MMIO windows that replay the recorded reads
    (so firmware that waits for a PLL or reads DWT runs the same program); the ceiling;
  * mcusim detailed mode (every fetch and data access through the memory model);

and prints the host seconds of each run (the run only: loading the catalog, the ELF and
the model is start-up, timed separately by `mcusim bench`), the ratios fast/Unicorn and
detailed/Unicorn (goals: >= 1/3 and >= 1/20, issue 16), MIPS, and the cycles each mode
measured, so a speed change that moves a cycle count is visible. The machine is noisy
(2 cores, shared): compare ratios of one run, not absolute seconds across runs.

`act. s` is the part of the fast run spent in the activity meter (mcusim/power/activity.py,
the energy model's event counts, which still decodes blocks in Python) and `w/o act.` the
fast ratio without it. --json writes {meta (git revision, load average, versions), rows,
summary}; a file that already holds such runs gets this one appended.
Results and their reading: benchmarks/results/bench_speed.{txt,json}, docs/speed.md.

    python benchmarks/bench_speed.py                       # built-in models, ref and opt
    python benchmarks/bench_speed.py --models kws,ad --kernels opt
    python benchmarks/bench_speed.py --tflm                # the shared TFLM ELFs (m4f O2)
    python benchmarks/bench_speed.py --elf X.elf --mcu stm32l4r5
    python benchmarks/bench_speed.py --modes fast          # skip detailed
    python benchmarks/bench_speed.py --python              # also the Python reference path
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from unicorn import UC_ARCH_ARM, UC_HOOK_INTR, UC_MODE_THUMB, UC_PROT_ALL, Uc  # noqa: E402
from unicorn import arm_const as A  # noqa: E402

SHARED = Path(os.environ.get("MCUSIM_SHARED", ROOT.parent / "shared"))
TFLM = SHARED / "firmware" / "tflm" / "elf"
TFLM_DEFAULT = ["m4f_O2_kws_cmsisnn.elf", "m4f_O2_ic_cmsisnn.elf", "m33_O2_kws_cmsisnn.elf",
                "m7_O2_kws_cmsisnn.elf"]
TFLM_MCU = {"m4f": "stm32l4r5", "m33": "stm32u585", "m7": "stm32h7a3"}


class _Null:
    def write(self, d):
        return len(d)

    def flush(self):
        pass


# --------------------------------------------------------------------------- recording
_ACTIVITY = {"depth": 0, "seconds": {}}


def _time_activity_meter() -> None:
    """Count, per machine, the host CPU seconds spent in the activity meter
    (mcusim.power.activity.Meter: per-layer/window/run event counts for the energy model),
    outermost calls only. Reported as a column so the cost of that pass is visible; it runs
    inside Machine.run whether or not energy is asked for."""
    from mcusim.power import activity
    if getattr(activity.Meter, "_bench_timed", False):
        return
    for name in ("snapshot", "since", "total"):
        f = getattr(activity.Meter, name)

        def timed(self, *a, _f=f, **k):
            _ACTIVITY["depth"] += 1
            t = time.process_time()
            try:
                return _f(self, *a, **k)
            finally:
                _ACTIVITY["depth"] -= 1
                if _ACTIVITY["depth"] == 0:
                    sec = _ACTIVITY["seconds"]
                    sec[id(self.m)] = sec.get(id(self.m), 0.0) + time.process_time() - t
        setattr(activity.Meter, name, timed)
    activity.Meter._bench_timed = True


class Recorder:
    """Attached to a Machine before it runs: its memory and registers at reset, the MMIO
    reads and semihosting results of the run (replayed into the hook-free Unicorn)."""

    def __init__(self, m):
        self.m = m
        self.mmio: list = []
        self.semihost: list = []
        m.memory.mmio_log = self.mmio
        sh = m.semihost
        call = sh.call

        def logged(op, arg):
            try:
                r = call(op, arg)
            except BaseException:
                self.semihost.append((op, None))
                raise
            self.semihost.append((op, r))
            return r

        sh.call = logged
        run = m.run
        self.cpu_seconds = None
        self.activity_seconds = 0.0

        def run_and_snapshot(*a, **k):
            self.snapshot()
            _ACTIVITY["seconds"][id(m)] = 0.0
            t = time.process_time()
            try:
                return run(*a, **k)
            finally:
                self.cpu_seconds = time.process_time() - t
                self.activity_seconds = _ACTIVITY["seconds"].pop(id(m), 0.0)

        m.run = run_and_snapshot

    def snapshot(self) -> None:
        m = self.m
        self.memory = {name: bytes(buf) for name, buf in m.memory.buffers.items()}
        self.sp = m.uc.reg_read(A.UC_ARM_REG_SP)
        self.pc = m.cpu.pc


def hook_free_unicorn(rec: Recorder, setup=None) -> tuple[float, str]:
    """Host seconds of Unicorn alone on the recorded image, and how the replay went.
    `setup(uc)` may add hooks first (experiments: what does one hook cost?)."""
    m = rec.m
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=_uc_cpu(m))
    keep = []
    done = {}
    for r in m.mcu.memories:
        b = ctypes.create_string_buffer(rec.memory[r.name], r.size)
        keep.append(b)
        for base in (r.base, *r.aliases):
            uc.mem_map_ptr(base, r.size, UC_PROT_ALL, ctypes.addressof(b))
    reads = deque((a, v) for w, a, _s, v in rec.mmio if not w)
    results = deque(rec.semihost)
    bad = []

    def rd(uc, off, size, base):
        if not reads:
            bad.append("more MMIO reads than recorded")
            uc.emu_stop()
            return 0
        a, v = reads.popleft()
        if a != base + off:
            bad.append(f"MMIO read at 0x{base + off:08x}, recorded 0x{a:08x}")
        return v

    def wr(uc, off, size, value, base):
        pass

    for base, size in m.memory.mmio_ranges:
        uc.mmio_map(base, size, rd, base, wr, base)

    def intr(uc, intno, ud):
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        if intno == 7 and results:
            op, r = results.popleft()
            if r is None:               # the exit (or an error the run ended on)
                done["exit"] = op
                uc.emu_stop()
                return
            uc.reg_write(A.UC_ARM_REG_R0, r & 0xFFFFFFFF)
            uc.reg_write(A.UC_ARM_REG_PC, (pc + 2) | 1)
            return
        bad.append(f"exception {intno} at 0x{pc:08x} (not replayed)")
        uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, intr)
    uc.reg_write(A.UC_ARM_REG_SP, rec.sp)
    if setup is not None:
        setup(uc)
    t = time.process_time()
    uc.emu_start(rec.pc | 1, 0xFFFFFFFE)
    dt = time.process_time() - t
    if not bad and reads:
        bad.append(f"{len(reads)} recorded MMIO reads not made")
    return dt, ("ok" if not bad and "exit" in done else (bad[0] if bad else "no exit"))


def _uc_cpu(m):
    from mcusim.machine import UC_CPUS
    return UC_CPUS[m.core.unicorn_cpu]


# --------------------------------------------------------------------------- workloads
def run_workload(w: dict, mode: str, record: bool = True):
    """One mcusim run; returns (machine, run CPU seconds, recorder)."""
    from mcusim.catalog import load_mcu
    from mcusim.elf import load_firmware
    from mcusim.machine import Machine
    box = {}

    def setup(m):
        box["rec"] = Recorder(m)

    if w["kind"] == "model":
        from mcusim.infer import run_inference
        r = run_inference(w["model"], w["mcu"], kernels=w["kernels"], mode=mode, power=False,
                          machine_setup=setup)
        m = r.machine
    else:
        m = Machine(load_mcu(w["mcu"]), mode=mode, stdout=_Null(), stderr=_Null())
        setup(m)
        m.load(load_firmware(w["elf"]))
        m.reset()
        m.run()
    rec = box["rec"]
    return m, rec.cpu_seconds, rec


def workloads(a) -> list[dict]:
    out = []
    if a.elf:
        out.append(dict(kind="elf", name=Path(a.elf).name, elf=a.elf, mcu=a.mcu))
    if a.tflm is not None:
        for name in (a.tflm or TFLM_DEFAULT):
            p = Path(name) if Path(name).exists() else TFLM / name
            out.append(dict(kind="elf", name=p.name, elf=str(p),
                            mcu=a.mcu if a.elf else TFLM_MCU[p.name.split("_")[0]]))
    if a.models and not (a.elf or a.tflm is not None) or a.models_given:
        for model in [x for x in a.models.split(",") if x]:
            for k in [x for x in a.kernels.split(",") if x]:
                out.append(dict(kind="model", name=f"{model} {k}", model=model, kernels=k,
                                mcu=a.mcu))
    return out


def _meta(argv) -> dict:
    """Where and when the figures were measured (they are only comparable as ratios)."""
    import platform
    import subprocess
    import unicorn
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "-uno"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        rev, dirty = "", None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return dict(argv=list(argv), date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                git=rev, worktree_modified=dirty, python=platform.python_version(),
                unicorn=unicorn.__version__, machine=platform.machine(),
                cpus=os.cpu_count(), loadavg_at_start=load,
                native=os.environ.get("MCUSIM_NATIVE", "1") != "0")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="built-in models (default kws,vww,ic,ad)")
    ap.add_argument("--kernels", default="ref,opt")
    ap.add_argument("--mcu", default="stm32l4r5")
    ap.add_argument("--elf", default=None, help="an ELF to time (on --mcu)")
    ap.add_argument("--tflm", nargs="*", default=None,
                    help="TFLM ELFs (names in ../shared/firmware/tflm/elf; default: O2 kws/ic)")
    ap.add_argument("--modes", default="fast,detailed")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every measurement N times, interleaved, and keep the fastest")
    ap.add_argument("--python", action="store_true",
                    help="also time the Python reference path (MCUSIM_NATIVE=0)")
    ap.add_argument("--json", default=None,
                    help="write {meta, rows, summary} as JSON (an existing file of such runs "
                         "becomes a list with this run appended)")
    a = ap.parse_args(argv)
    a.models_given = a.models is not None
    if a.models is None:
        a.models = "kws,vww,ic,ad"
    modes = [x for x in a.modes.split(",") if x]
    meta = _meta(sys.argv[1:] if argv is None else argv)
    _time_activity_meter()

    cols = ["unicorn s", "fast s", "fast ratio", "act. s", "w/o act."]
    if "detailed" in modes:
        cols += ["detailed s", "det. ratio"]
    if a.python:
        cols += ["py fast s", "py ratio"]
    print("host CPU seconds of the run (best of %d); ratio = Unicorn alone / mcusim; act. s = "
          "the fast run's seconds in the activity meter (power/activity.py), w/o act. = the "
          "fast ratio without them" % a.repeat)
    print(f"{'workload':24} {'mcu':10} {'instructions':>13} " +
          " ".join(f"{c:>10}" for c in cols) + f" {'MIPS fast':>9}  cycles fast / detailed")
    rows = []
    for w in workloads(a):
        best = {}
        try:
            for _ in range(max(1, a.repeat)):
                m, fast_s, rec = run_workload(w, "fast")
                bare_s, replay = hook_free_unicorn(rec)
                if fast_s < best.get("fast", float("inf")):
                    best["fast"], best["act"] = fast_s, rec.activity_seconds
                best["bare"] = min(best.get("bare", bare_s), bare_s)
                if "detailed" in modes:
                    md, det_s, _ = run_workload(w, "detailed")
                    best["detailed"] = min(best.get("detailed", det_s), det_s)
                if a.python:
                    os.environ["MCUSIM_NATIVE"] = "0"
                    try:
                        mp, py_s, _ = run_workload(w, "fast")
                    finally:
                        os.environ.pop("MCUSIM_NATIVE", None)
                    best["python"] = min(best.get("python", py_s), py_s)
        except Exception as e:      # e.g. no opt image for this core
            print(f"{w['name']:24} skipped: {type(e).__name__}: {e}")
            continue
        n = m.instructions
        bare_s, fast_s, act_s = best["bare"], best["fast"], best["act"]
        row = dict(workload=w["name"], mcu=w["mcu"], instructions=n, cycles_fast=m.cycles,
                   unicorn_s=bare_s, fast_s=fast_s, fast_ratio=bare_s / fast_s,
                   fast_activity_s=act_s,
                   fast_ratio_without_activity=bare_s / max(1e-9, fast_s - act_s),
                   mips_unicorn=n / bare_s / 1e6, mips_fast=n / fast_s / 1e6,
                   replay=replay, outcome=m.outcome)
        vals = [bare_s, fast_s, bare_s / fast_s, act_s, row["fast_ratio_without_activity"]]
        if "detailed" in modes:
            det_s = best["detailed"]
            row.update(detailed_s=det_s, detailed_ratio=bare_s / det_s, cycles_detailed=md.cycles,
                       instructions_detailed=md.instructions, mips_detailed=n / det_s / 1e6)
            vals += [det_s, bare_s / det_s]
        if a.python:
            py_s = best["python"]
            row.update(python_fast_s=py_s, python_ratio=bare_s / py_s,
                       cycles_python=mp.cycles,
                       python_identical=(mp.cycles, mp.instructions) == (m.cycles, m.instructions))
            vals += [py_s, bare_s / py_s]
        rows.append(row)
        cyc = f"{m.cycles:,}" + (f" / {row['cycles_detailed']:,}" if "cycles_detailed" in row else "")
        note = "" if replay == "ok" else f"  [replay: {replay}]"
        if a.python and not row["python_identical"]:
            note += "  [PYTHON PATH DIFFERS]"
        print(f"{w['name']:24} {w['mcu']:10} {n:>13,} " + " ".join(f"{v:>10.3f}" for v in vals) +
              f" {n / fast_s / 1e6:>9.1f}  {cyc}{note}", flush=True)
    summary = {}
    if rows:
        fr = [r["fast_ratio"] for r in rows]
        summary = dict(fast_ratio_min=min(fr), fast_ratio_max=max(fr), fast_goal=1 / 3,
                       fast_meets_goal=sum(x >= 1 / 3 for x in fr), workloads=len(rows),
                       fast_ratio_without_activity_min=min(
                           r["fast_ratio_without_activity"] for r in rows))
        line = (f"fast/unicorn: min {min(fr):.3f}, max {max(fr):.3f} (goal >= 0.333; "
                f"{summary['fast_meets_goal']}/{len(rows)} meet it)")
        if "detailed" in modes:
            dr = [r["detailed_ratio"] for r in rows]
            summary.update(detailed_ratio_min=min(dr), detailed_ratio_max=max(dr),
                           detailed_goal=1 / 20,
                           detailed_meets_goal=sum(x >= 1 / 20 for x in dr))
            line += (f"; detailed/unicorn: min {min(dr):.3f}, max {max(dr):.3f} (goal >= 0.050;"
                     f" {summary['detailed_meets_goal']}/{len(rows)} meet it)")
        print(line)
    if a.json:
        out = dict(meta=meta, rows=rows, summary=summary)
        p = Path(a.json)
        runs = []
        if p.exists():
            try:
                old = json.loads(p.read_text())
            except ValueError:
                old = None
            if isinstance(old, dict) and "meta" in old:
                runs = [old]
            elif isinstance(old, list) and all(isinstance(x, dict) and "meta" in x for x in old):
                runs = old
        p.write_text(json.dumps(runs + [out] if runs else out, indent=2) + "\n")


if __name__ == "__main__":
    main()
