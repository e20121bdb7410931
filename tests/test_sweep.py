"""mcusim sweep (issue 13): specs checked before anything runs, points, the Parquet store,
resume and invalidation, a LocalCluster and an explicit dask scheduler through the same
code path, a worker lost mid-sweep, and the Pareto report.

Small on purpose (2-6 points of the built-in `ad` model, 1-2 workers): the full worked
example is experiments/l4r5_sweep.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

import numpy as np

import mcusim
from mcusim import sweep
from mcusim.sweep.spec import SpecError, generate, load_spec

REPO = Path(__file__).resolve().parents[1]

TINY = """
[sweep]
mcu = "{mcu}"

[[workloads]]
model = "ad"

[params]
"mcu.clock_mhz" = [60, 120]

[choices.art]
on = {{}}
off = {{ remove = ["flash.accelerator"] }}

[report]
objectives = ["latency_ms", "energy_uj"]
"""


def _spec(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _cli(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "mcusim", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def client():
    """One LocalCluster (2 single-threaded worker processes) for the in-process sweeps."""
    from mcusim.sweep.execute import cluster_client
    c, cluster = cluster_client(workers=2)
    yield c
    c.close()
    cluster.close()


# --------------------------------------------------------------------------- specs

@pytest.mark.parametrize("body, message", [
    ('[sweep]\nsearc = "grid"\n[[workloads]]\nmodel = "ad"\n[params]\n"mcu.clock_mhz" = [80]',
     "s.toml: [sweep]: unknown key 'searc' (did you mean 'search'?)"),
    ('[[workloads]]\nmodel = "ad"\n[params]\n"mcu.clock_mz" = [80]',
     "s.toml: params: unknown key 'mcu.clock_mz' (did you mean 'mcu.clock_mhz'?)"),
    ('[[workloads]]\nmodel = "ad"\n[params]\n"mcu.clock_mhz" = [80, 200]',
     "s.toml: point 1 (clock_mhz=200): derive(): key 'mcu.clock_mhz' (200) is above mcu.max_clock_mhz (120)"),
    ('[[workloads]]\nmodel = "ad"\n[params]\n"flash.accelerator.icache_lines" = [16, 0]',
     "s.toml: point 1 (icache_lines=0): derive(): key 'flash.accelerator.icache_lines' must be >= 1, got 0"),
    ('[[workloads]]\nmodel = "ad"\n[choices.art]\noff = { remove = ["flash.acelerator"] }',
     "s.toml: choices.art: unknown key 'flash.acelerator'"),
    ('[[workloads]]\nmodel = "ad"\n[params]\nkernels = ["ref", "fast"]',
     "s.toml: point 1 (kernels=fast), workload ad: unknown kernel set 'fast'"),
    ('[[workloads]]\nmodel = "nope.tflite"\n[params]\n"mcu.clock_mhz" = [80]',
     "s.toml: workload nope: model "),
    ('[[workloads]]\nmodel = "ad"\n[params]\n"mcu.clock_mhz" = { uniform = [40, 120] }',
     "s.toml: params.\"mcu.clock_mhz\" is a distribution; a grid needs lists or ranges"),
    ('[sweep]\nsearch = "lhs"\n[[workloads]]\nmodel = "ad"\n[params]\n"mcu.clock_mhz" = [80]',
     's.toml: search = "lhs" needs sweep.budget'),
    ('[params]\n"mcu.clock_mhz" = [80]', "s.toml: no [[workloads]]"),
    ('[[workloads]]\nmodel = "ad"\n[params]\n"mcu.clock_mhz" = [80, 80]',
     "value 80 is given twice"),
    ('[[workloads]]\nmodel = "ad"\n[param]\nx = [1]', "s.toml: unknown table [param] (did you mean [params]?)"),
])
def test_bad_spec_is_one_line_exit_2(tmp_path, capsys, body, message):
    from mcusim.cli import main
    p = _spec(tmp_path, body)
    assert main(["sweep", str(p), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mcusim: "), err
    assert message in err, err


def test_bad_point_stops_before_any_run(tmp_path, capsys):
    """The one bad point of a grid is found before the cluster starts or the store exists."""
    from mcusim.cli import main
    p = _spec(tmp_path, '[[workloads]]\nmodel = "ad"\n[params]\n"mcu.clock_mhz" = [40, 80]\n'
              '[choices.ws]\nok = {}\nbad = { "flash.wait_states.range1_boost" = '
              '[{ max_mhz = 60, ws = 2 }] }\n')
    assert main(["sweep", str(p)]) == 2
    err = capsys.readouterr().err
    assert "point 3 (clock_mhz=80 ws=bad)" in err and "80 MHz" in err, err
    assert not (tmp_path / "s.sweep").exists()


def test_points_grid_random_lhs(tmp_path):
    base = ('[[workloads]]\nmodel = "ad"\n[params]\n"mcu.clock_mhz" = { range = [20, 120, 20] }\n'
            '"flash.accelerator.icache_lines" = [8, 16, 32, 64]\n')
    s = load_spec(_spec(tmp_path, base))
    pts = generate(s)
    assert len(pts) == 24 and pts[0] == {"mcu.clock_mhz": 20, "flash.accelerator.icache_lines": 8}
    assert [p["mcu.clock_mhz"] for p in pts[::4]] == [20, 40, 60, 80, 100, 120]
    r = load_spec(_spec(tmp_path, base), search="random", budget=10, seed=3)
    rp = generate(r)
    assert len(rp) == 10 and len({json.dumps(p, sort_keys=True) for p in rp}) == 10
    assert all(p in pts for p in rp)
    assert rp == generate(load_spec(_spec(tmp_path, base), search="random", budget=10, seed=3))
    # Latin hypercube: with a budget of 4, each of the 4 I-cache sizes exactly once
    lhs = load_spec(_spec(tmp_path, base.replace("{ range = [20, 120, 20] }",
                                                 "{ uniform = [20.0, 120.0] }")),
                    search="lhs", budget=4, seed=1)
    lp = generate(lhs)
    assert sorted(p["flash.accelerator.icache_lines"] for p in lp) == [8, 16, 32, 64]
    clocks = sorted(p["mcu.clock_mhz"] for p in lp)
    assert [int((c - 20) // 25) for c in clocks] == [0, 1, 2, 3]       # one per stratum
    # every sampled point is validated: a budget of 4 random clocks in [20, 120] MHz all derive
    plan = sweep.make_plan(lhs)
    assert len(plan.points) == 4 and len(plan.runs) == 4
    assert {round(m.clock_mhz, 6) for m in plan.mcus.values()} == {round(c, 6) for c in clocks}


def test_accelerator_params_are_sweepable(tmp_path):
    """Plugin parameters ([[accelerators]] params) vary through the same schema."""
    npu = REPO / "examples" / "accelerators" / "stm32l4r5-npu.toml"
    if not npu.exists():
        pytest.skip("no NPU example MCU in this checkout")
    p = _spec(tmp_path, f'[sweep]\nmcu = "{npu}"\nkernels = "npu"\n[[workloads]]\nmodel = "ad"\n'
              '[params]\n"accelerators.npu.params.macs_per_cycle" = [8, 64]\n')
    plan = sweep.make_plan(load_spec(p))
    got = sorted(m.get("accelerators.npu.params.macs_per_cycle") for m in plan.mcus.values())
    assert got == [8, 64]
    bad = _spec(tmp_path, p.read_text().replace("[8, 64]", "[0]"), "bad.toml")
    with pytest.raises(SpecError, match="macs_per_cycle' must be >= 1"):
        sweep.make_plan(load_spec(bad))


def test_core_file_path_is_relative_to_the_spec(tmp_path, monkeypatch):
    """A user core file in mcu.core is found beside the spec, whatever the working
    directory; the point's id and label keep the spec's spelling."""
    d = tmp_path / "study"
    d.mkdir()
    (d / "m4-nowb.toml").write_text('extends = "cortex-m4f"\n[timing]\nwrite_buffer_entries = 0\n')
    p = _spec(d, '[sweep]\nmcu = "stm32l4r5"\n[[workloads]]\nmodel = "ad"\n'
              '[params]\n"mcu.core" = ["cortex-m4f", "m4-nowb.toml"]\n')
    monkeypatch.chdir(tmp_path)
    plan = sweep.make_plan(load_spec(p))
    labels = sorted(pt.label for pt in plan.points)
    assert labels == ["core=cortex-m4f", "core=m4-nowb.toml"]
    wb = sorted(m.core.timing.write_buffer_entries for m in plan.mcus.values())
    assert wb == [0, 1]


def test_pareto_mask():
    v = np.array([[1, 5], [2, 2], [3, 3], [5, 1], [2, 2], [4, 1]])
    assert sweep.pareto_mask(v).tolist() == [True, True, False, False, True, True]


# --------------------------------------------------------------------------- running

def test_local_cluster_sweep_store_rerun_report(tmp_path, client):
    """4 points on 2 workers: one row each, figures equal to the API's own run of the same
    derived MCU, correct outputs; a rerun runs nothing; the report names the front."""
    p = _spec(tmp_path, TINY.format(mcu="stm32l4r5"))
    rows = []
    res = sweep.run(p, client=client, stream=None, on_row=rows.append)
    assert (res.total, res.ran, res.stored, res.lost, res.failed) == (4, 4, 0, 0, 0)
    df = sweep.load(tmp_path / "s.sweep")
    assert len(df) == 4 and df["run_key"].is_unique
    assert set(df["point"]) == {"clock_mhz=60 art=on", "clock_mhz=60 art=off",
                                "clock_mhz=120 art=on", "clock_mhz=120 art=off"}
    assert df["output_correct"].all() and (df["outcome"] == "exit").all()
    # which worker runs what is the dask scheduler's choice (on a loaded machine one worker
    # may take all four short runs); every row names a worker of this cluster
    pids = set(df["worker_pid"])
    assert 1 <= len(pids) <= 2 and all(p > 0 for p in pids)
    slow = df[df["point"] == "clock_mhz=60 art=off"].iloc[0]
    rec = mcusim.infer("ad", mcu=mcusim.derive("stm32l4r5", {"mcu.clock_mhz": 60,
                                                             "flash.accelerator": None}))
    assert slow["cycles"] == rec.inference_cycles
    assert slow["energy_uj"] == pytest.approx(rec.energy_uj)
    assert slow["ram_bytes"] == rec.ram_bytes and slow["flash_wait_states"] == 2
    assert slow["catalog_sha256"] == rec.provenance.catalog_sha256
    assert slow["memory_cycles"] > df[df["point"] == "clock_mhz=60 art=on"].iloc[0]["memory_cycles"]
    causes = ["core_cycles", "branch_cycles", "memory_cycles", "exception_cycles",
              "bus_cycles", "sleep_cycles"]
    assert (df[causes].sum(axis=1) <= df["cycles"]).all()
    assert ((df["cycles"] - df[causes].sum(axis=1)) < 0.001 * df["cycles"]).all()
    again = sweep.run(p, client=client, stream=None)
    assert (again.ran, again.stored) == (0, 4)
    assert len(list((tmp_path / "s.sweep").glob("part-*.parquet"))) == 1

    r = _cli("sweep", p, "--report", "--csv", tmp_path / "all.csv")
    assert r.returncode == 0, r.stderr
    front = r.stdout.split("ad:")[1]
    # the front, computed here from the stored rows (latency, energy; both minimised)
    v = df[["latency_ms", "energy_uj"]].to_numpy()
    want = {pt for pt, row in zip(df["point"], v)
            if not any((o <= row).all() and (o < row).any() for o in v)}
    assert {pt for pt in df["point"] if pt in front} == want
    assert "clock_mhz=120 art=on" in want           # shortest; with the board rail's constant
    assert "art=off" not in front                   # current, also the least energy per inference
    assert (tmp_path / "s.sweep" / "report" / "pareto.png").stat().st_size > 10_000
    assert len((tmp_path / "all.csv").read_text().splitlines()) == 5
    r = _cli("sweep", p, "--report", "--objectives", "energy_uj,mcu_ram_bytes",
             "--constraint", "ad.latency_ms <= 10")
    assert r.returncode == 0, r.stderr
    assert "1 of 1 configurations" in r.stdout and "clock_mhz=120 art=on" in r.stdout


def test_changed_catalog_or_version_invalidates(tmp_path, client, monkeypatch):
    part = tmp_path / "part.toml"
    part.write_text('extends = "stm32l4r5"\n[systick]\nref_clock_divider = 8\n')
    p = _spec(tmp_path, TINY.format(mcu="part.toml").replace("[60, 120]", "[120]"))
    res = sweep.run(p, client=client, stream=None)
    assert res.ran == 2
    part.write_text('extends = "stm32l4r5"\n[systick]\nref_clock_divider = 1\n')
    res = sweep.run(p, client=client, stream=None, max_runs=0)
    assert (res.invalidated, res.stored) == (2, 0)
    assert len(sweep.load(tmp_path / "s.sweep")) == 0
    res = sweep.run(p, client=client, stream=None)
    assert res.ran == 2
    monkeypatch.setattr(mcusim, "__version__", "99.0")
    res = sweep.run(p, client=client, stream=None, max_runs=0)
    assert (res.invalidated, res.stored) == (2, 0)


def test_resume_after_interrupt(tmp_path):
    """Interrupt `mcusim sweep` (SIGINT) once some rows are stored; the rerun runs only the
    rest and the store ends with every row once. 24 runs: with 6 the sweep (now faster)
    sometimes finished between the first stored row and the signal."""
    clocks = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]
    n = 2 * len(clocks)
    p = _spec(tmp_path, TINY.format(mcu="stm32l4r5").replace("[60, 120]", str(clocks)))
    store = tmp_path / "s.sweep"
    proc = subprocess.Popen([sys.executable, "-m", "mcusim", "sweep", str(p), "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if list(store.glob("part-*.parquet")):
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err
    done = len(sweep.load(store))
    assert 1 <= done < n
    r = _cli("sweep", p, "--workers", "1", "--no-report")
    assert r.returncode == 0, r.stderr
    assert f"{done} runs stored, skipped" in r.stderr
    assert f"sweep s done: {n - done} runs" in r.stderr
    df = sweep.load(store)
    assert len(df) == n and df["point_id"].is_unique and df["output_correct"].all()


def test_explicit_scheduler_and_a_lost_worker(tmp_path):
    """The same spec on a dask scheduler and two workers started here; one worker is killed
    once the first row is in: its runs go to the other, nothing is lost or stored twice, and
    the rows equal the LocalCluster's."""
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        t0 = time.monotonic()
        while not sched_file.exists() and time.monotonic() - t0 < 60:
            time.sleep(0.2)
        addr = json.loads(sched_file.read_text())["address"]
        workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", addr,
                                     "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(2)]
        procs += workers
        from distributed import Client
        with Client(addr, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=120)
        p = _spec(tmp_path, TINY.format(mcu="stm32l4r5").replace("[60, 120]", "[40, 60, 120]"))
        killed = []

        def kill_one(row):
            if not killed:
                victim = next(w for w in workers if w.pid != row["worker_pid"])
                victim.kill()
                killed.append(victim.pid)

        res = sweep.run(p, scheduler=addr, stream=None, on_row=kill_one)
        assert killed and (res.ran, res.lost, res.failed) == (6, 0, 0)
        df = sweep.load(tmp_path / "s.sweep")
        assert len(df) == 6 and df["output_correct"].all()
        # unchanged spec through the CLI on the same scheduler: all stored
        r = _cli("sweep", p, "--scheduler", addr, "--no-report")
        assert r.returncode == 0 and "6 runs stored, skipped" in r.stderr, r.stderr
        # the same figures as an in-process run of the same point
        row = df[df["point"] == "clock_mhz=40 art=off"].iloc[0]
        rec = mcusim.infer("ad", mcu=mcusim.derive("stm32l4r5", {"mcu.clock_mhz": 40,
                                                                 "flash.accelerator": None}))
        assert row["cycles"] == rec.inference_cycles and row["latency_ms"] == pytest.approx(rec.latency_ms)
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.terminate()
        for pr in procs:
            try:
                pr.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pr.kill()


def test_unreachable_scheduler_is_one_line(tmp_path):
    p = _spec(tmp_path, TINY.format(mcu="stm32l4r5"))
    r = _cli("sweep", p, "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("mcusim: cannot connect to the dask scheduler at tcp://127.0.0.1:9")


def test_optuna_search_resumes(tmp_path, client):
    """search = "optuna": points chosen as results arrive, each validated, rows in the same
    store; a rerun with a larger budget tells Optuna the stored points and runs the rest."""
    pytest.importorskip("optuna")
    p = _spec(tmp_path, '[sweep]\nsearch = "optuna"\nbudget = 3\n[[workloads]]\nmodel = "ad"\n'
              '[params]\n"mcu.clock_mhz" = { uniform = [20.0, 120.0] }\n'
              '"flash.accelerator.icache_lines" = [8, 32]\n'
              '[report]\nobjectives = ["latency_ms", "energy_uj"]\n')
    res = sweep.run(p, client=client, stream=None)
    assert (res.ran, res.lost) == (3, 0)
    res = sweep.run(p, client=client, stream=None, budget=5)
    assert (res.stored, res.ran) == (3, 2)
    df = sweep.load(tmp_path / "s.sweep")
    assert len(df) == 5 and df["point_id"].is_unique and df["output_correct"].all()
    assert df["mcu.clock_mhz"].between(20, 120).all()
    assert (df["clock_mhz"] == df["mcu.clock_mhz"]).all()
