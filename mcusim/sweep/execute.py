"""Running a sweep on dask.distributed: a LocalCluster sized to the machine, or an existing
scheduler by address, through the same code path. Each (point, workload) is one task; a
worker lost mid-run loses only its tasks, which the scheduler runs again elsewhere. The
client is the only writer of the results store: it stores each row as it arrives.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from mcusim.errors import UserError
from mcusim.sweep.plan import Plan, Run, WorkloadData, make_plan, summary_line
from mcusim.sweep.spec import SweepSpec, load_spec
from mcusim.sweep.store import Store
from mcusim.sweep.worker import Job, simulate

# outcomes that say nothing about the configuration: run again on the next sweep
RETRY_OUTCOMES = ("error", "lost")


@dataclass
class SweepResult:
    plan: Plan
    store: Store
    total: int = 0                   # runs in the sweep
    stored: int = 0                  # runs already in the store (skipped)
    invalidated: int = 0             # stored rows dropped (changed catalog, image, version...)
    ran: int = 0
    failed: int = 0                  # outcome other than a clean exit
    wrong: int = 0                   # output_correct is False
    lost: int = 0                    # tasks the cluster could not finish (not stored)
    interrupted: bool = False
    seconds: float = 0.0             # wall time of the whole call
    run_seconds: float = 0.0         # from the first submitted run to the last row
    workers: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    sim_seconds: float = 0.0         # sum of the simulations' own host time
    task_seconds: float = 0.0        # sum of the tasks' time on the workers

    @property
    def complete(self) -> bool:
        return not self.interrupted and self.stored + self.ran == self.total and not self.lost


# --------------------------------------------------------------------------- the client

def cluster_client(scheduler: str | None = None, workers: int | None = None):
    """(client, owned cluster or None): an existing scheduler by address, else a
    LocalCluster with one single-threaded worker process per core (or ``workers``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("mcusim sweep needs dask.distributed (pip install 'dask[distributed]')") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="10s", set_as_default=False), None
        except (OSError, TimeoutError) as e:
            raise UserError(f"cannot connect to the dask scheduler at {scheduler}: {e}") from None
    n = workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster, set_as_default=False), cluster


def n_workers(client) -> int:
    try:
        return len(client.scheduler_info(n_workers=-1).get("workers", {}))
    except TypeError:
        return len(client.scheduler_info().get("workers", {}))


# --------------------------------------------------------------------------- rows

def base_row(plan: Plan, run: Run) -> dict[str, Any]:
    p = run.point
    row: dict[str, Any] = {"point_id": p.id, "point": p.label, "point_index": p.index,
                           "workload": run.work.workload.name, "run_key": run.key,
                           "kind": run.work.workload.kind}
    row.update(p.values)
    row["kernels"] = run.kernels
    row["mode"] = run.mode
    row["mcu"] = plan.base.name
    return row


def job_of(plan: Plan, run: Run) -> Job:
    w = run.work
    s = plan.spec
    return Job(base_key=plan.base_catalog_sha256, changes=run.point.changes,
               workload=w.workload, kernels=run.kernels, mode=run.mode,
               max_cycles=s.max_cycles, timeout=s.timeout, input_bytes=w.input_bytes,
               model_name=w.model_blob.name if w.model_blob else None,
               elf_name=w.elf_blob.name if w.elf_blob else None)


def correct(work: WorkloadData, metrics: dict, expected: str | None) -> bool | None:
    """Did the run produce the expected result? None when nothing says what is expected."""
    w = work.workload
    if w.kind == "run":
        if metrics.get("outcome") != "exit" or metrics.get("exit_code") != w.expected_exit:
            return False
        if w.expected_stdout is not None:
            return w.expected_stdout in (metrics.get("stdout_tail") or "")
        return True
    if not metrics.get("output_sha256"):
        return False
    return None if expected is None else metrics["output_sha256"] == expected


# --------------------------------------------------------------------------- progress

class Progress:
    """points done / failures / ETA on one line (a TTY), or a line now and then."""

    def __init__(self, total: int, stream: TextIO | None, label: str = "runs"):
        self.total, self.stream, self.label = total, stream, label
        self.done = self.failed = 0
        self.t0 = time.monotonic()
        self.tty = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
        self._last = 0.0
        self._shown = -1

    def update(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += bool(failed)
        self.show()

    def text(self) -> str:
        el = time.monotonic() - self.t0
        frac = self.done / self.total if self.total else 1.0
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        eta = (el / self.done * (self.total - self.done)) if self.done else None
        return (f"[{bar}] {self.done}/{self.total} {self.label}, {self.failed} failed, "
                f"{_dur(el)} elapsed" + (f", ETA {_dur(eta)}" if eta is not None and
                                         self.done < self.total else ""))

    def show(self, force: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + self.text() + "\x1b[K")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()
            return
        step = max(1, self.total // 10)
        if force or self.done >= self.total or self.done // step != self._shown // step \
                or now - self._last > 30:
            self._shown, self._last = self.done, now
            print(self.text(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self.stream is not None and self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()


def _dur(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s // 60 % 60:02d}m"


# --------------------------------------------------------------------------- the sweep

def run_sweep(spec: SweepSpec | str | os.PathLike, *, scheduler: str | None = None,
              workers: int | None = None, client: Any = None, store: str | None = None,
              search: str | None = None, budget: int | None = None, seed: int | None = None,
              stream: TextIO | None = sys.stderr, max_runs: int | None = None,
              on_row: Callable[[dict], None] | None = None) -> SweepResult:
    """Run (or resume) a sweep; the rows go to its store as they arrive.

    ``scheduler``: the address of an existing dask scheduler; else a LocalCluster with
    ``workers`` processes (default: one per core); ``client``: a dask Client to use as is.
    ``max_runs``: stop after that many new runs (the rest stays for the next call)."""
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec, search=search, budget=budget, seed=seed, store=store)
    if spec.search == "optuna":
        from mcusim.sweep.search import run_optuna
        return run_optuna(spec, scheduler=scheduler, workers=workers, client=client,
                          stream=stream)
    plan = make_plan(spec)
    return execute(plan, scheduler=scheduler, workers=workers, client=client, stream=stream,
                   max_runs=max_runs, on_row=on_row)


def prepare_store(plan: Plan) -> tuple[Store, set[str], int]:
    """Open the store; (store, run keys already done, rows invalidated and dropped)."""
    spec = plan.spec
    st = Store(spec.store_path)
    st.ensure()
    meta = {"spec": spec.name, "spec_file": spec.path.name, "spec_sha256": spec.text_sha256,
            "mcusim_version": plan.version, "base_mcu": plan.base.name,
            "base_catalog_sha256": plan.base_catalog_sha256,
            "params": [p.name for p in spec.params],
            "workloads": [w.name for w in spec.workloads],
            "objectives": spec.objectives, "constraints": spec.constraints,
            "search": spec.search, "budget": spec.budget, "seed": spec.seed}
    st.write_json("sweep.json", meta)
    df = st.load()
    wanted = {(r.point.id, r.work.workload.name): r.key for r in plan.runs}
    done: set[str] = set()
    invalid = 0
    if len(df):
        keep = []
        for pid, wname, key, outcome in zip(df["point_id"], df["workload"], df["run_key"],
                                            df.get("outcome", [None] * len(df))):
            k = wanted.get((pid, wname))
            if k is None:
                keep.append(True)               # a point this spec does not have: kept
            elif k != key:
                keep.append(False)              # the same run would now give another row
                invalid += 1
            else:
                keep.append(True)
                if outcome not in RETRY_OUTCOMES:
                    done.add(key)
        if invalid:
            st.rewrite(df[keep].reset_index(drop=True))
    return st, done, invalid


class Session:
    """The client side of a running sweep: the base MCU and shipped files on the cluster,
    reference outputs, one task per run, and each result as a row in the store."""

    def __init__(self, plan: Plan, client: Any, store: Store, res: SweepResult,
                 stream: TextIO | None, on_row: Callable[[dict], None] | None = None):
        self.plan, self.client, self.store, self.res = plan, client, store, res
        self.stream, self.on_row = stream, on_row
        self.nonce = uuid.uuid4().hex[:8]
        self.refs = store.read_json("references.json")
        self.base_f = None
        self.blobs: dict[str, Any] = {}
        self.progress: Progress | None = None

    def need_references(self) -> list[WorkloadData]:
        return [w for w in self.plan.workloads.values()
                if w.workload.kind == "infer" and w.expected_sha256 is None
                and w.workload.expected_output == "base"
                and self.plan.reference_key(w) not in self.refs]

    def _blob(self, b):
        if b is None:
            return None
        if b.sha256 not in self.blobs:
            self.blobs[b.sha256] = self.client.scatter(b.data, broadcast=True, hash=False)
        return self.blobs[b.sha256]

    def _submit(self, job: Job, w: WorkloadData, key: str, priority: int):
        if self.base_f is None:
            self.base_f = self.client.scatter(self.plan.base, broadcast=True, hash=False)
        return self.client.submit(simulate, job, self.base_f, self._blob(w.model_blob),
                                  self._blob(w.elf_blob), key=f"mcusim-sweep-{key[:20]}-{self.nonce}",
                                  pure=False, retries=1, priority=priority)

    def submit(self, run: Run, priority: int = 0):
        return self._submit(job_of(self.plan, run), run.work, run.key, priority)

    def references(self) -> None:
        """Run each workload whose expected output is "base" on the base MCU (once: the
        outputs are kept in the store's references.json)."""
        need = self.need_references()
        if not need:
            return
        plan = self.plan
        if self.stream is not None:
            print(f"reference outputs: {len(need)} workloads on {plan.base.name}", file=self.stream)
        futs = {}
        for w in need:
            job = Job(base_key=plan.base_catalog_sha256, changes={}, workload=w.workload,
                      kernels=plan.default_kernels(plan.base, w), mode=plan.spec.mode,
                      max_cycles=plan.spec.max_cycles, timeout=plan.spec.timeout,
                      input_bytes=w.input_bytes,
                      model_name=w.model_blob.name if w.model_blob else None,
                      elf_name=w.elf_blob.name if w.elf_blob else None)
            key = plan.reference_key(w)
            futs[key] = self._submit(job, w, "ref-" + key, 10**9)
        for key, f in futs.items():
            m = f.result()
            self.refs[key] = {"output_sha256": m.get("output_sha256"),
                              "outcome": m.get("outcome"), "message": m.get("outcome_message")}
        self.store.write_json("references.json", self.refs)

    def receive(self, fut, run: Run) -> dict | None:
        """The finished task's row (stored), or None when the cluster lost it."""
        res, plan = self.res, self.plan
        row = base_row(plan, run)
        try:
            m = fut.result()
        except Exception as e:  # noqa: BLE001  (KilledWorker, a cancelled task...)
            res.lost += 1
            res.outcomes["lost"] = res.outcomes.get("lost", 0) + 1
            if self.stream is not None:
                if self.progress is not None:
                    self.progress.close()
                print(f"lost: {run.point.label} / {run.work.workload.name}: "
                      f"{type(e).__name__}: {e}", file=self.stream)
            if self.progress is not None:
                self.progress.update(failed=True)
            return None
        infer = run.work.workload.kind == "infer"
        expected = run.work.expected_sha256
        if expected is None and infer:
            expected = (self.refs.get(plan.reference_key(run.work)) or {}).get("output_sha256")
        row.update(m)
        row["expected_sha256"] = expected if infer else None
        row["output_correct"] = correct(run.work, m, expected)
        row["spec"] = plan.spec.name
        self.store.add(row)
        res.ran += 1
        oc = m.get("outcome") or "?"
        res.outcomes[oc] = res.outcomes.get(oc, 0) + 1
        failed = not (oc == "exit" and m.get("exit_code") == 0) if infer else oc != "exit"
        res.failed += failed
        res.wrong += row["output_correct"] is False and not failed
        res.sim_seconds += m.get("host_seconds") or 0.0
        res.task_seconds += m.get("task_seconds") or 0.0
        if self.on_row is not None:
            self.on_row(row)
        if self.progress is not None:
            self.progress.update(failed=failed or row["output_correct"] is False)
        return row


def stop(client, cluster) -> None:
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


def execute(plan: Plan, *, scheduler: str | None = None, workers: int | None = None,
            client: Any = None, stream: TextIO | None = sys.stderr,
            max_runs: int | None = None, on_row: Callable[[dict], None] | None = None
            ) -> SweepResult:
    st, done, invalid = prepare_store(plan)
    todo = [r for r in plan.runs if r.key not in done]
    res = SweepResult(plan, st, total=len(plan.runs), stored=len(plan.runs) - len(todo),
                      invalidated=invalid)
    if stream is not None:
        print(summary_line(plan), file=stream)
        if res.stored or invalid:
            print(f"store {st.path}: {res.stored} runs stored, skipped"
                  + (f"; {invalid} stored rows invalidated (catalog, image, model, mcusim "
                     "version or simulator code changed) and run again" if invalid else ""),
                  file=stream)
    if max_runs is not None:
        todo = todo[:max_runs]
    t0 = time.monotonic()
    session = Session(plan, None, st, res, stream, on_row)
    if not todo and not session.need_references():
        return res
    own, cluster = client is None, None
    if own:
        client, cluster = cluster_client(scheduler, workers)
    session.client = client
    t_runs = None
    try:
        res.workers = n_workers(client)
        session.references()
        session.progress = Progress(len(todo), stream)
        t_runs = time.monotonic()
        futures = {session.submit(r, -i): r for i, r in enumerate(todo)}
        from distributed import as_completed
        for fut in as_completed(list(futures), loop=client.loop):
            session.receive(fut, futures.pop(fut))
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        if session.progress is not None:
            session.progress.close()
        if t_runs is not None:
            res.run_seconds = time.monotonic() - t_runs
        st.flush()
        res.seconds = time.monotonic() - t0
        if own:
            stop(client, cluster)
    if res.complete:
        st.rewrite(st.load())                # one part file for a finished sweep
    return res


def summary_text(res: SweepResult) -> str:
    """The end-of-sweep summary."""
    lines = []
    what = "interrupted" if res.interrupted else "done"
    lines.append(f"sweep {res.plan.spec.name} {what}: {res.ran} runs in {_dur(res.seconds)}"
                 + (f" on {res.workers} workers" if res.workers else "")
                 + f", {res.stored} already stored, {res.total} in all")
    if res.ran and res.run_seconds > 0:
        per_min = res.ran / res.run_seconds * 60
        over = (res.task_seconds - res.sim_seconds) / res.ran
        lines.append(f"  throughput {per_min:.1f} runs/min (after {_dur(res.seconds - res.run_seconds)}"
                     f" of cluster start and reference runs); per run {res.task_seconds / res.ran:.2f} s "
                     f"on a worker, of which {over:.2f} s outside the simulation")
    if res.outcomes:
        lines.append("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(res.outcomes.items())))
    if res.failed or res.wrong or res.lost:
        lines.append(f"  {res.failed} failed, {res.wrong} with a wrong output, {res.lost} lost "
                     "(lost runs are not stored: rerun to retry them)")
    if res.invalidated:
        lines.append(f"  {res.invalidated} stored rows were invalidated and run again")
    lines.append(f"  results: {res.store.path}")
    if res.interrupted:
        lines.append("  rerun the same command to resume: stored runs are skipped")
    return "\n".join(lines)
