"""Drive the OFFICIAL MLPerf Tiny runner (mlcommons/tiny, benchmark/runner) in performance
mode against `mcusim serve MODEL --pty`, one model at a time.

    python experiments/mlperf_runner/run_official_runner.py --runner /tmp/tinyrunner \
        --models kws,vww,ic,ad [--runner-python /tmp/tinyrunner-venv/bin/python]

The runner is used from its extracted directory (never copied into the project) and none of
its files are changed. For each model this script

1. writes a synthetic dataset in the runner's layout (DATASET/<model>01/y_labels.csv and
   5 .bin files: the performance script loops 5 times and loads the next file each time),
2. starts `python -m mcusim serve MODEL --pty` and reads the pty path it prints,
3. writes a devices yaml with a single DUT (direct connection, no interface board and no
   energy monitor; VID:PID of the reference NUCLEO-L4R5ZI's ST-LINK),
4. runs the runner's main.py `--mode p` with tests_performance.yaml,
5. parses the runner's output and writes experiments/mlperf_runner/results/summary.json.

Port discovery: the runner finds its DUT only through
`serial.tools.list_ports.comports(True)` entries that have a USB VID:PID
(device_manager.py: `pending_serial = [p for p in list_ports.comports(True) if p.vid]`),
so a pseudo-terminal is never found ("RuntimeError: No interface or DUT detected"). The
runner is therefore started through a small bootstrap that replaces only that enumeration
function, making it report the pty as a USB serial port with the configured VID:PID (what
the OS reports for a real board); everything else (device_manager, device_under_test,
serial_device, script, main) is the runner's own code. With `--strict-check` (default on)
the runner is also started once without the bootstrap to record that failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = HERE / "results"
DEFAULT_MIRROR = Path("/work/.mirror/mlcommons+tiny/repo")

# model -> (runner model id, input bytes per file, classes, generator)
MODELS = {
    "kws": ("kws01", 12),   # 49x10 int8 MFCC features, sent as raw int8 bytes
    "vww": ("vww01", 2),    # 96x96x3 uint8 pixels (the firmware subtracts 128)
    "ic": ("ic01", 10),     # 32x32x3 uint8 pixels (the firmware subtracts 128)
    "ad": ("ad01", 2),      # float32 log-mel frames; one segment = 640 floats = 2560 bytes
}
N_FILES = 5                 # tests_performance.yaml: `loop 5: [download, infer N W]`
AD_SEGMENT = 2560           # bytes_to_send for ad01
AD_STRIDE = 512             # stride between segments (only the first is sent in mode p)
AD_SEGMENTS = 4

BOOTSTRAP = r'''
import os, runpy, sys
runner, pty_path, vid, pid = sys.argv[1], sys.argv[2], int(sys.argv[3], 0), int(sys.argv[4], 0)
import serial.tools.list_ports as list_ports
from serial.tools.list_ports_common import ListPortInfo

def comports(include_links=False):
    """The pty of mcusim serve, reported as the USB serial port of a board."""
    p = ListPortInfo(pty_path, skip_link_detection=True)
    p.vid, p.pid = vid, pid
    p.description = "mcusim serve (pseudo-terminal)"
    p.hwid = f"USB VID:PID={vid:04X}:{pid:04X} (mcusim pty)"
    return [p]

list_ports.comports = comports
sys.path.insert(0, runner)
sys.argv = [os.path.join(runner, "main.py")] + sys.argv[5:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def make_dataset(model: str, root: Path, seed: int = 0) -> Path:
    mid, classes = MODELS[model]
    d = root / mid
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(N_FILES):
        name = f"{mid}_{i:03d}.bin"
        if model == "kws":
            data = rng.integers(-128, 128, 490, dtype=np.int8).tobytes()
        elif model == "vww":
            data = rng.integers(0, 256, 96 * 96 * 3, dtype=np.uint8).tobytes()
        elif model == "ic":
            data = rng.integers(0, 256, 32 * 32 * 3, dtype=np.uint8).tobytes()
        else:
            n = (AD_SEGMENT + (AD_SEGMENTS - 1) * AD_STRIDE) // 4
            data = rng.normal(-2.0, 1.0, n).astype(np.float32).tobytes()
        (d / name).write_bytes(data)
        label = i % classes
        # datasets.py: csv.DictReader(fieldnames=["file","classes","class","bytes_to_send","stride"])
        rows.append(f"{name},{classes},{label}" + (f",{AD_SEGMENT},{AD_STRIDE}" if model == "ad" else ""))
    (d / "y_labels.csv").write_text("\n".join(rows) + "\n")
    return d


def devices_yaml(path: Path, vid: int, pid: int, baud: int) -> None:
    path.write_text(
        "- name: mcusim\n"
        "  type: dut\n"
        "  baud:\n"
        f"    energy: {baud}\n"
        f"    performance: {baud}\n"
        f"    accuracy: {baud}\n"
        "  usb:\n"
        f"    0x{vid:04x}: 0x{pid:04x}\n")


class Serve:
    """`python -m mcusim serve MODEL --pty` in the background."""

    def __init__(self, model: str, extra: list[str], log: Path):
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.cmd = [sys.executable, "-m", "mcusim", "serve", model, "--pty"] + extra
        self.log = open(log, "w")
        self.p = subprocess.Popen(self.cmd, cwd=ROOT, env=env, stdout=self.log,
                                  stderr=subprocess.PIPE, text=True)
        self.path = None
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end:
            line = self.p.stderr.readline()
            if not line:
                break
            self.log.write(line)
            self.log.flush()
            m = re.search(r"serial device (\S+)", line)
            if m:
                self.path = m.group(1)
                break
        if self.path is None:
            self.stop()
            raise RuntimeError(f"mcusim serve printed no pty path (see {log})")
        self._drain = threading.Thread(target=self._copy_stderr, daemon=True)
        self._drain.start()

    def _copy_stderr(self):
        for line in self.p.stderr:
            self.log.write(line)
            self.log.flush()

    def stop(self, timeout: float = 60.0) -> int | None:
        """`exit%` on the link (serve exits 0), else terminate the process we started."""
        if self.p.poll() is None and self.path:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                try:
                    os.write(fd, b"exit%")
                    t_end = time.monotonic() + timeout
                    while self.p.poll() is None and time.monotonic() < t_end:
                        r, _, _ = select.select([fd], [], [], 0.2)
                        if r:
                            try:
                                os.read(fd, 4096)
                            except OSError:
                                pass
                finally:
                    os.close(fd)
            except OSError:
                pass
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


def run_runner(cmd: list[str], cwd: Path, log: Path, timeout: float) -> tuple[int | str, float, str]:
    t0 = time.monotonic()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = []
        killer = threading.Timer(timeout, p.kill)
        killer.start()
        try:
            for line in p.stdout:
                out.append(line)
                f.write(line)
                f.flush()
            rc = p.wait()
        finally:
            timed_out = not killer.is_alive()
            killer.cancel()
    return ("timeout" if timed_out else rc), time.monotonic() - t0, "".join(out)


def parse_output(text: str) -> dict:
    windows = []
    for m in re.finditer(r"Performance results for window (\d+):\s*\n.*?# Inferences :\s*(\d+)\s*\n"
                         r".*?Runtime\s*:\s*([\d.]+) sec\.\s*\n.*?Throughput\s*:\s*([\d.]+) inf\./sec\.", text):
        windows.append({"window": int(m.group(1)), "inferences": int(m.group(2)),
                        "runtime_s": float(m.group(3)), "throughput_inf_s": float(m.group(4))})
    med = re.search(r"Median throughput is\s+([\d.]+) inf\./sec\.", text)
    errors = sorted(set(re.findall(r"(ERROR[^\n]*|RuntimeError[^\n]*|No response to command[^\n]*"
                                   r"|WARNING[^\n]*|Traceback[^\n]*)", text)))
    session = re.search(r"Session logged in file (\S+)", text)
    r = {"windows": windows,
         "median_throughput_inf_s": float(med.group(1)) if med else None,
         "latency_ms": round(1000.0 / float(med.group(1)), 3) if med and float(med.group(1)) > 0 else None,
         "runtime_met_10s": text.count("Runtime requirements have been met."),
         "errors_and_warnings": errors[:20],
         "session_log": session.group(1) if session else None}
    return r


PREFLIGHT = ("import serial, serial.tools.list_ports, yaml, numpy, sklearn, matplotlib, usb.core; "
             "yaml.CLoader; usb.core.find(find_all=True)")


def preflight(python: str) -> None:
    """The runner's imports (main.py, device_manager.py) and pyusb's libusb backend
    (DeviceManager.scan calls usb.core.find)."""
    r = subprocess.run([python, "-c", PREFLIGHT], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{python} cannot run the runner (needs pyserial, pyyaml with libyaml, numpy, "
                 f"scikit-learn, matplotlib, pyusb and libusb):\n{r.stderr.strip()[-600:]}")


def git_blob_sha(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def check_runner_files(runner: Path, mirror: Path, commit: str) -> dict:
    """Compare the runner's .py/.yaml files with benchmark/runner at `commit` of the mirror."""
    try:
        tree = subprocess.run(["git", "-C", str(mirror), "ls-tree", "-r", f"{commit}:benchmark/runner"],
                              capture_output=True, text=True, check=True).stdout
        full = subprocess.run(["git", "-C", str(mirror), "rev-parse", commit],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        return {"checked": False, "why": str(e)}
    want = {}
    for ln in tree.splitlines():
        meta, name = ln.split("\t", 1)
        if name.endswith((".py", ".yaml")):
            want[name] = meta.split()[2]
    bad = [n for n, sha in want.items()
           if not (runner / n).is_file() or git_blob_sha(runner / n) != sha]
    return {"checked": True, "commit": full, "files_compared": len(want), "mismatches": bad}


def mcusim_provenance() -> dict:
    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    return {"commit": git("rev-parse", "HEAD"),
            "dirty_files": len([x for x in git("status", "--porcelain").splitlines() if x.strip()])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", required=True, type=Path, help="extracted benchmark/runner directory")
    ap.add_argument("--models", default="kws,vww,ic,ad", help="comma-separated: kws,vww,ic,ad")
    ap.add_argument("--runner-python", default=sys.executable,
                    help="python with the runner's requirements (pyserial, pyyaml, numpy, "
                         "scikit-learn, matplotlib, pyusb + libusb)")
    ap.add_argument("--runner-commit", default="1afd2c9", help="mlcommons/tiny commit of the runner")
    ap.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR,
                    help="bare git dir of mlcommons/tiny, to verify the runner files (optional)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcusim_official_runner"),
                    help="scratch dir for datasets, runner sessions and logs")
    ap.add_argument("--serve-args", default="", help="extra arguments for mcusim serve, e.g. "
                    "'--kernels ref --keepalive 1'")
    ap.add_argument("--vid", default="0x0483", help="USB VID reported for the pty (ST)")
    ap.add_argument("--pid", default="0x374B", help="USB PID reported for the pty (ST-LINK/V2-1)")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--timeout", type=float, default=3600.0, help="wall seconds per model")
    ap.add_argument("--no-strict-check", action="store_true",
                    help="skip the run of the runner without the port-enumeration bootstrap")
    ap.add_argument("--out", type=Path, default=RESULTS / "summary.json")
    a = ap.parse_args()

    runner = a.runner.resolve()
    if not (runner / "main.py").is_file():
        ap.error(f"{runner}/main.py not found")
    preflight(a.runner_python)
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model {m!r} (kws, vww, ic, ad)")
    vid, pid = int(a.vid, 0), int(a.pid, 0)
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    work = (a.work / stamp).resolve()
    work.mkdir(parents=True, exist_ok=True)
    data_root = work / "datasets"
    boot = work / "bootstrap.py"
    boot.write_text(BOOTSTRAP)
    dev_yaml = work / "devices_mcusim.yaml"
    devices_yaml(dev_yaml, vid, pid, a.baud)
    tests_yaml = runner / "tests_performance.yaml"
    runner_args = ["--device_list", str(dev_yaml), "--test_script", str(tests_yaml),
                   "--dataset_path", str(data_root), "--mode", "p"]

    summary = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runner": {"path": str(runner), "commit": a.runner_commit,
                   "files_vs_commit": check_runner_files(runner, a.mirror, a.runner_commit)
                   if a.mirror.exists() else {"checked": False, "why": f"{a.mirror} not found"},
                   "python": a.runner_python, "mode": "p", "test_script": str(tests_yaml),
                   "port_enumeration": "bootstrap: serial.tools.list_ports.comports -> the pty "
                                       f"as USB {vid:04X}:{pid:04X}; no runner file changed"},
        "mcusim": mcusim_provenance() | {"serve_args": a.serve_args},
        "work_dir": str(work),
        "strict_unmodified_discovery": None,
        "models": [],
    }

    if not a.no_strict_check:
        # the runner exactly as documented, pointed at a device list holding only the DUT
        sdir = work / "strict"
        sdir.mkdir()
        make_dataset(models[0], data_root)
        serve = Serve(models[0], a.serve_args.split(), sdir / "serve.log")
        try:
            rc, wall, out = run_runner([a.runner_python, str(runner / "main.py")] + runner_args,
                                       sdir, sdir / "runner.log", 120)
        finally:
            serve.stop()
        last = [ln for ln in out.splitlines() if ln.strip()][-1:] or [""]
        summary["strict_unmodified_discovery"] = {
            "exit_status": rc, "wall_s": round(wall, 1), "last_line": last[0],
            "note": "runner started directly (no bootstrap): DeviceManager.scan() only takes "
                    "serial ports with a USB VID:PID, so the pty is not found"}
        print(f"strict (no bootstrap): exit {rc}: {last[0]}", flush=True)

    for m in models:
        mdir = work / m
        mdir.mkdir(exist_ok=True)
        make_dataset(m, data_root)
        t0 = time.monotonic()
        serve = Serve(m, a.serve_args.split(), mdir / "serve.log")
        print(f"{m}: mcusim serve on {serve.path}; running the runner ...", flush=True)
        try:
            rc, wall, out = run_runner([a.runner_python, str(boot), str(runner), serve.path,
                                        hex(vid), hex(pid)] + runner_args,
                                       mdir, mdir / "runner.log", a.timeout)
        finally:
            serve_rc = serve.stop()
        total = time.monotonic() - t0
        res = parse_output(out)
        logs = a.out.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        shutil.copy(mdir / "runner.log", logs / f"{m}_runner.log")
        shutil.copy(mdir / "serve.log", logs / f"{m}_serve.log")
        entry = {"model": m, "runner_model": MODELS[m][0], "runner_exit_status": rc,
                 "completed": rc == 0 and res["median_throughput_inf_s"] is not None,
                 **res, "runner_wall_s": round(wall, 1), "total_wall_s": round(total, 1),
                 "serve_exit_status": serve_rc, "pty": serve.path,
                 "runner_log": str(logs / f"{m}_runner.log"), "serve_log": str(logs / f"{m}_serve.log")}
        summary["models"].append(entry)
        print(f"{m}: runner exit {rc}, median throughput {res['median_throughput_inf_s']} inf/s "
              f"(latency {res['latency_ms']} ms), runner wall {wall:.1f} s", flush=True)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(summary, indent=2) + "\n")

    print(f"summary: {a.out}")
    return 0 if all(e["completed"] for e in summary["models"]) else 1


if __name__ == "__main__":
    sys.exit(main())
