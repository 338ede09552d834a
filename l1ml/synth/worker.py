"""A worker: claims jobs that fit its memory budget, runs them through a Dispatcher, keeps their leases
alive, requeues the jobs of dead workers, and files each finished run's summary and results.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import tarfile
import time
import uuid
from pathlib import Path

import psutil

from l1ml.errors import L1mlError
from l1ml.firmware.vendor_reports import board_resources
from l1ml.plan import artifacts, provider, summarize
from l1ml.synth import archive, scheduler
from l1ml.synth.boards import needs_board
from l1ml.synth.dispatch import Dispatcher, Launch, Outcome, Pending, get_dispatcher
from l1ml.synth.job import CANCELLED, FAILED, Job
from l1ml.synth.settings import Settings
from l1ml.synth.store import Store

logger = logging.getLogger(__name__)


def job_dir(settings: Settings, job_id: int) -> Path:
    return settings.work / str(job_id)


def result_path(settings: Settings, job_id: int) -> Path:
    return job_dir(settings, job_id) / "result.tar.gz"


def log_path(settings: Settings, job_id: int) -> Path:
    return job_dir(settings, job_id) / "job.log"


def drop_escaping_links(src: Path) -> int:
    """Delete every symlink under src whose target leaves src (the job may have made any link it liked);
    returns how many. Run once the job's processes are gone, before the worker reads its files."""
    real = src.resolve()
    dropped = 0
    for root, dirs, files in os.walk(src):  # does not descend into linked directories
        for name in dirs + files:
            p = Path(root) / name
            if p.is_symlink():
                target = p.resolve()
                if target != real and real not in target.parents:
                    p.unlink()
                    dropped += 1
    return dropped


def disk_usage(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class Worker:
    def __init__(
        self,
        settings: Settings,
        budget: int,
        max_jobs: int = 0,
        poll: float = 0.2,
        dispatcher: Dispatcher | None = None,
        boards: tuple[tuple[str, str], ...] = (),
    ):
        self.settings = settings
        self.store = Store(settings.db, lease=settings.lease, max_attempts=settings.max_attempts)
        self.budget = budget
        self.boards = boards  # (name, device) attached here: l1ml.synth.boards
        self.max_jobs = max_jobs or 1_000_000
        self.poll_s = poll
        self.dispatcher = dispatcher or get_dispatcher(settings)
        self.host = socket.gethostname()
        self.id = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.active: dict[int, Job] = {}
        self.held: set[int] = set()  # job ids this worker holds, as of its last heartbeat or claim
        self.last_beat = 0.0
        self.stopping = False
        self.limits = archive.Limits(settings.max_members, settings.max_unpacked, settings.max_unpacked)
        settings.work.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:  # every job's sources and results: for the queue's account only
            os.chmod(settings.work, 0o700)
        except OSError:
            pass

    def describe(self) -> str:
        """How this worker isolates and contains its runs: said once at start, so a fallback is never silent."""
        describe = getattr(self.dispatcher, "describe", None)
        return describe() if describe else f"dispatcher {self.dispatcher.name}"

    # --- recovery ---------------------------------------------------------------------------------------

    def _worker_dead(self, job: Job) -> bool:
        host, _, rest = job.worker.partition(":")
        pid = rest.partition(":")[0]
        return (
            host == self.host
            and pid.isdigit()
            and int(pid) != os.getpid()
            and not psutil.pid_exists(int(pid))
        )

    def recover(self, startup: bool = False) -> None:
        """Requeue runs whose worker is gone: lease lapsed, or (at startup) a dead worker on this host."""
        lost = [(j, True) for j in self.store.expired() if j.id not in self.active]
        if startup:
            seen = {j.id for j, _ in lost}
            lost += [
                (j, False)
                for j in self.store.running_on(self.host + ":")
                if j.id not in seen and j.id not in self.active and self._worker_dead(j)
            ]
        for job, expired_only in lost:
            if self.dispatcher.adopt(job, job.handle):
                taken = self.store.adopt(job, self.id)
                if taken is not None:
                    self.active[taken.id] = taken
                    self.held.add(taken.id)
                continue
            # Reap inside the requeue transaction: nobody can claim the job until its old run is gone.
            try:
                self.store.requeue(
                    job,
                    f"worker {job.worker} stopped heartbeating",
                    expired_only=expired_only,
                    before=lambda j: self.dispatcher.reap(j, j.handle),
                )
            except OSError as exc:  # could not kill the old run (e.g. not our user's): try again next round
                logger.error("job %s: cannot reap its lost run: %s", job.id, exc)

    # --- one run ----------------------------------------------------------------------------------------

    def launch(self, job: Job) -> None:
        wdir = job_dir(self.settings, job.id) / f"attempt{job.attempts}"
        log = log_path(self.settings, job.id)
        try:  # `work` may be a network filesystem: failing to write there fails the job, not the worker
            if wdir.exists():
                shutil.rmtree(wdir)  # a run that died before it started: nothing in it is worth keeping
            wdir.parent.mkdir(mode=0o700, exist_ok=True)
            (wdir / "src").mkdir(parents=True)
            with open(log, "a") as f:
                f.write(f"=== job {job.id} attempt {job.attempts} on {self.id} at {time.ctime()}\n")
            archive.extract(self.settings.archives / f"{job.id}.tar.gz", wdir / "src", self.limits)
            step = provider(job.step, wdir / "src")
            if step.prepare:  # e.g. a board step learns which device it holds
                step.prepare(wdir / "src", job)
            plan = step.plan(job.step, wdir / "src", self.settings.tools)
            for rel, text in plan.files.items():
                (wdir / "src" / rel).parent.mkdir(parents=True, exist_ok=True)  # e.g. oneAPI's build/
                (wdir / "src" / rel).write_text(text)
            script = wdir / "run.sh"
            script.write_text(plan.script())
            self.store.record_commands(job.id, self.id, job.attempts, plan.commands)
            handle = self.dispatcher.start(Launch(job, wdir, script, log, job.memory, job.timeout))
        except Exception as exc:  # whatever is wrong with one job or its start must not stop the worker
            self._fail_launch(job, wdir, log, exc)
            return
        self.store.record_start(job.id, self.id, job.attempts, handle, plan.commands)
        job.handle, job.commands = handle, plan.commands
        self.active[job.id] = job

    def _fail_launch(self, job: Job, wdir: Path, log: Path, exc: Exception) -> None:
        """The run could not be prepared or started: the job fails with the reason, once. A retry would
        meet the same archive, plan or dispatcher error again."""
        expected = isinstance(exc, L1mlError | OSError)
        if not expected:
            logger.exception("job %s: preparing or starting the run failed", job.id)
        reason = str(exc) if expected else f"could not start the run: {type(exc).__name__}: {exc}"
        try:
            with open(log, "a") as f:
                f.write(f"error: {reason}\n")
            self._write_result(job, wdir / "src", {"step": job.step, "state": FAILED, "reason": reason})
        except OSError as err:  # e.g. the work directory's filesystem is gone: the outcome still counts
            logger.error("job %s: could not write its results: %s", job.id, err)
        self.store.finish(job.id, self.id, job.attempts, FAILED, None, reason)

    def complete(self, job: Job, out: Outcome) -> None:
        src = job_dir(self.settings, job.id) / f"attempt{job.attempts}" / "src"
        drop_escaping_links(src)  # before anything of the worker's reads a file the job left
        try:
            step = provider(job.step, src)
        except (L1mlError, OSError):  # the run left a tree no provider reads: no hook to ask
            step = None
        if step is not None and step.explain:  # e.g. a board's mismatch names its event and output
            out = step.explain(src, job, out)
        try:
            summary = summarize(src, job.step, board_resources(job.board))
        except Exception as exc:  # a report we cannot read must not lose the job's outcome
            summary = {"step": job.step, "error": f"could not parse the reports: {exc}"}
        summary.update(
            state=out.state,
            exit_code=out.exit_code,
            reason=out.reason,
            peak_memory=out.peak_memory,
            commands=job.commands,
        )
        try:
            self._write_result(job, src, summary)
        except OSError as exc:  # e.g. a full disk: the outcome is still recorded
            logger.error("job %s: could not write its results: %s", job.id, exc)
        if self.store.finish(
            job.id, self.id, job.attempts, out.state, out.exit_code, out.reason, out.peak_memory
        ):
            self.store.set_disk(job.id, disk_usage(job_dir(self.settings, job.id)))
        logger.info("job %s: %s %s", job.id, out.state, out.reason)
        self.active.pop(job.id, None)

    def _write_result(self, job: Job, src: Path, summary: dict) -> None:
        """summary.json, the log, the reports and the artifacts, in one tar.gz written atomically."""
        jdir = job_dir(self.settings, job.id)
        (jdir / "summary.json").write_text(json.dumps(summary, indent=2))
        tmp = jdir / "result.tar.gz.tmp"
        real = src.resolve()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(jdir / "summary.json", "summary.json")
            if log_path(self.settings, job.id).exists():
                tar.add(log_path(self.settings, job.id), "job.log")
            seen: set[Path] = set()
            for pattern in artifacts(job.step):
                for p in sorted(src.glob(pattern)):
                    # Only files really inside the run's tree: a link the job made (to the store, or to
                    # another job's results) is neither followed nor packed.
                    if p.is_file() and not p.is_symlink() and p not in seen and real in p.resolve().parents:
                        seen.add(p)
                        tar.add(p, "files/" + p.relative_to(src).as_posix())
        os.replace(tmp, jdir / "result.tar.gz")
        for left in jdir.glob("*.tmp"):  # half-written by an earlier attempt whose worker was killed
            left.unlink(missing_ok=True)

    # --- the loop ---------------------------------------------------------------------------------------

    def step(self) -> None:
        now = time.time()
        if now - self.last_beat >= self.settings.lease / 4:  # each heartbeat is a write transaction
            self.last_beat = now
            self.held = self.store.heartbeat(self.id, self.host, os.getpid(), self.budget, self.boards)
            for job_id in list(self.active):
                job = self.active[job_id]
                if job_id not in self.held:  # another worker requeued or adopted it: stop following it
                    if getattr(self.dispatcher, "keeps_running", False):
                        self.active.pop(job_id)  # one batch job, one copy: its adopter follows it
                    else:
                        self.dispatcher.cancel(job, job.handle, FAILED, "lease lost")
                    continue
                peak = self.dispatcher.peak(job, job.handle)
                if peak:
                    self.store.set_peak(job_id, self.id, job.attempts, peak)
            self.recover()
        held = self.held
        for job_id in self.store.cancel_requests(self.id):
            if job_id in self.active:
                job = self.active[job_id]
                self.dispatcher.cancel(job, job.handle, CANCELLED, "cancelled by its user")
        for job_id, job in list(self.active.items()):
            out = self.dispatcher.poll(job, job.handle)
            if out is None or isinstance(out, Pending):
                where = out.where if out is not None else ""
                if where != job.pending and job_id in held:  # written only when it changes
                    self.store.set_pending(job_id, self.id, job.attempts, where)
                    job.pending = where
            elif job_id in held:
                self.complete(job, out)
            else:
                self.active.pop(job_id)
        while not self.stopping and len(self.active) < self.max_jobs:
            job = self.store.claim(self.id, self.budget, scheduler.pick, self.boards)
            if job is None:
                break
            self.held.add(job.id)
            logger.info("job %s: %s for %s, attempt %d", job.id, job.step, job.user, job.attempts)
            self.launch(job)

    def drained(self) -> bool:
        """Nothing left for this worker: no run of its own, and no queued job that fits its budget."""
        from l1ml.synth.job import QUEUED

        if self.active:
            return False
        return not any(
            j.memory <= self.budget and (not needs_board(j) or any(n == j.board for n, _ in self.boards))
            for j in self.store.list(states=(QUEUED,))
        )

    def run(self, until=None) -> None:
        """Loop until SIGTERM/SIGINT (or until() is true); then stop running jobs and requeue them."""
        from l1ml.synth import gc

        def stop(*_):
            self.stopping = True

        old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            logger.info("worker %s: %s", self.id, self.describe())
            self.recover(startup=True)
            try:
                logger.info("worker %s: gc at start: %s", self.id, gc.collect(self.settings, self.store))
            except OSError as exc:  # a cleaning problem must not keep the queue from running
                logger.error("gc at start failed: %s", exc)
            while not self.stopping and not (until and until()):
                try:
                    self.step()
                except sqlite3.OperationalError as exc:  # e.g. the store stayed locked past busy_timeout
                    logger.error("store busy (%s); retrying", exc)
                time.sleep(self.poll_s)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.shutdown()

    def shutdown(self) -> None:
        if getattr(self.dispatcher, "keeps_running", False):
            # The batch system holds the runs; the next worker adopts them when their lease lapses.
            self.active.clear()
            self.store.close()
            return
        for job in list(self.active.values()):
            self.dispatcher.cancel(job, job.handle, FAILED, "worker stopped")
            deadline = time.time() + 10
            while not isinstance(self.dispatcher.poll(job, job.handle), Outcome) and time.time() < deadline:
                time.sleep(0.05)
            current = self.store.get(job.id)
            if current is not None:
                self.store.requeue(current, "its worker was stopped", expired_only=False)
        self.active.clear()
        self.store.close()
