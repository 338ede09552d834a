"""A worker: claims jobs that fit its memory budget, runs them through a Dispatcher, keeps their leases
alive, requeues the jobs of dead workers, and files each finished run's summary and results.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import signal
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from l1ml.errors import L1mlError
from l1ml.plan import provider
from l1ml.synth import archive, pack, scheduler, tree
from l1ml.synth.boards import needs_board
from l1ml.synth.dispatch import Dispatcher, Launch, Outcome, Pending, get_dispatcher
from l1ml.synth.job import CANCELLED, FAILED, TERMINAL, Job
from l1ml.synth.settings import Settings
from l1ml.synth.store import Store

logger = logging.getLogger(__name__)


def job_dir(settings: Settings, job_id: int) -> Path:
    return settings.work / str(job_id)


def result_path(settings: Settings, job_id: int) -> Path:
    return job_dir(settings, job_id) / "result.tar.gz"


def log_path(settings: Settings, job_id: int) -> Path:
    return job_dir(settings, job_id) / "job.log"


def status_path(settings: Settings, job: Job) -> Path:
    """Where a run's supervisor leaves its outcome (l1ml.synth.supervisor), beside the run's directory."""
    return job_dir(settings, job.id) / f"attempt{job.attempts}.status.json"


def decided(settings: Settings, job: Job) -> Outcome | None:
    """The outcome a supervisor wrote for this attempt, if it ended the run while no worker followed it
    (oom, timeout, an exit code): recorded, never re-run."""
    if not (job.handle or {}).get("supervisor"):
        return None
    try:
        st = json.loads(status_path(settings, job).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(st, dict) or st.get("state") not in TERMINAL or st.get("lost"):
        return None  # still running, or ended only because no worker took it over: run it again
    if st["state"] == CANCELLED and not job.cancel_requested:
        return None  # a worker stopping ended it (SIGTERM), not its user: run it again
    reason = str(st.get("reason") or "")
    if st.get("orphaned"):
        reason = (reason + "; " if reason else "") + "decided by its supervisor while no worker ran"
    return Outcome(st["state"], st.get("exit_code"), reason, st.get("peak_memory"))


class _Child:
    """A forked child, with the part of Popen's interface the worker uses."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, st = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(st)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self) -> int:
        while self.poll() is None:
            time.sleep(0.01)
        return self.returncode


PACK_MEMORY = 1024**3  # address space a packer may add to what it inherits
PR_SET_PDEATHSIG = 1


def warm_packing() -> None:
    """Import what packing imports lazily (report parsers, numpy), once in the worker: every forked
    packer then starts with it instead of paying the imports per run."""
    import tempfile

    from l1ml.plan import summarize

    with tempfile.TemporaryDirectory() as d:
        try:
            summarize(Path(d), "csim", None)
        except Exception:  # noqa: BLE001 - a warm-up only
            pass


def _fork_packer(spec: dict) -> _Child:
    """Pack in a forked child (l1ml.synth.pack): it starts in a millisecond with everything imported,
    and whatever a job's files do to it (a crash, a stall, a RecursionError) stays in it."""
    pid = os.fork()
    if pid == 0:  # the child: no store, no logging, no return into the worker's loop
        code = 1
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            # It dies with the worker: the next worker start packs the run again (decided()).
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            # A report parser that reads a job's 3 GiB (sparse) file whole meets MemoryError here, caught
            # as an unreadable report, instead of taking the host's memory.
            vm = psutil.Process().memory_info().vms
            resource.setrlimit(resource.RLIMIT_AS, (vm + PACK_MEMORY, vm + PACK_MEMORY))
            verdict = pack.pack(spec)
            dest = Path(spec["verdict"])
            tmp = dest.with_name(dest.name + ".tmp")
            tmp.write_text(json.dumps(verdict))
            os.replace(tmp, dest)
            code = 0
        finally:
            os._exit(code)
    return _Child(pid)


@dataclass
class _Packing:
    job: Job
    out: Outcome
    proc: _Child
    verdict: Path
    started: float


class Worker:
    def __init__(
        self,
        settings: Settings,
        budget: int,
        max_jobs: int = 0,
        poll: float = 0.2,
        dispatcher: Dispatcher | None = None,
        boards: tuple[tuple[str, str], ...] = (),
        reap_strays: bool = False,
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
        self.packing: dict[int, _Packing] = {}  # runs that ended, whose results a child is packing
        self.held: set[int] = set()  # job ids this worker holds, as of its last heartbeat or claim
        self.last_beat = 0.0
        self.stopping = False
        self.limits = archive.Limits(settings.max_members, settings.max_unpacked, settings.max_unpacked)
        from l1ml.synth.supervisor import make_subreaper

        # What a job leaves behind after killing its own supervisor is re-parented here (reap_strays).
        self.subreaper = reap_strays and make_subreaper()
        if reap_strays:  # the CLI worker, which forks packers
            warm_packing()
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
        mine = self.active.keys() | self.packing.keys()
        lost = [(j, True) for j in self.store.expired() if j.id not in mine]
        if startup:
            seen = {j.id for j, _ in lost}
            lost += [
                (j, False)
                for j in self.store.running_on(self.host + ":")
                if j.id not in seen and j.id not in mine and self._worker_dead(j)
            ]
        for job, expired_only in lost:
            out = decided(self.settings, job)
            if out is not None:  # its supervisor ended it while no worker ran: record that, never re-run
                taken = self.store.adopt(job, self.id)
                if taken is not None:
                    self.held.add(taken.id)
                    try:
                        self.dispatcher.reap(taken, taken.handle)
                    except OSError:
                        pass
                    logger.info("job %s: its supervisor decided %s while no worker ran", job.id, out.state)
                    self.complete(taken, out)
                continue
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
                tree.remove(wdir)  # a run that died before it started: nothing in it is worth keeping
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
            summary = {"step": job.step, "state": FAILED, "reason": reason}
            pack.write_result(job_dir(self.settings, job.id), wdir / "src", log, summary, (), job.attempts, 0)
        except OSError as err:  # e.g. the work directory's filesystem is gone: the outcome still counts
            logger.error("job %s: could not write its results: %s", job.id, err)
        self.store.finish(job.id, self.id, job.attempts, FAILED, None, reason)

    def complete(self, job: Job, out: Outcome) -> None:
        """The run has ended: its results are packed by a child (l1ml.synth.pack), off this loop; the
        outcome is recorded once the packer is done (poll_packers)."""
        self.active.pop(job.id, None)
        jdir = job_dir(self.settings, job.id)
        src = jdir / f"attempt{job.attempts}" / "src"
        verdict = jdir / f"attempt{job.attempts}.packed.json"
        spec_path = jdir / f"attempt{job.attempts}.pack.json"
        spec = {
            "job": job.to_dict(),
            "outcome": {"state": out.state, "exit_code": out.exit_code, "reason": out.reason,
                        "peak_memory": out.peak_memory},
            "src": str(src),
            "jdir": str(jdir),
            "log": str(log_path(self.settings, job.id)),
            "verdict": str(verdict),
            "max_file": self.settings.max_result_file,
            "limits": job.handle.get("limits", {}) if job.handle else {},
        }  # fmt: skip
        try:
            verdict.unlink(missing_ok=True)
            spec_path.write_text(json.dumps(spec))
            proc = _fork_packer(spec)
        except OSError as exc:  # e.g. a full disk: the outcome is still recorded
            logger.error("job %s: could not start packing its results: %s", job.id, exc)
            self._record(job, out, f"results not packed: {exc}", None)
            return
        self.packing[job.id] = _Packing(job, out, proc, verdict, time.time())

    def poll_packers(self, wait: float = 0.0) -> None:
        """Record the outcome of every run whose packer has finished, or has run past pack_timeout (it is
        killed: that job loses its results, never its outcome). `wait`: seconds to give them (shutdown)."""
        end = time.time() + wait
        while self.packing:
            for job_id, pk in list(self.packing.items()):
                code = pk.proc.poll()
                over = time.time() - pk.started > self.settings.pack_timeout
                if code is None and not over:
                    continue
                if code is None:
                    pk.proc.kill()
                    pk.proc.wait()
                del self.packing[job_id]
                try:
                    v = json.loads(pk.verdict.read_text())
                except (OSError, ValueError):
                    v = None
                if v is None:
                    why = (
                        f"packing its results ran past {self.settings.pack_timeout:.0f}s; results not packed"
                        if over
                        else f"packing its results failed (exit {code}); results not packed"
                    )
                    self._record(pk.job, pk.out, why, None)
                else:
                    out = Outcome(*v["outcome"])
                    self._record(pk.job, out, v.get("error", ""), v.get("disk"))
            if not self.packing or time.time() >= end:
                return
            time.sleep(0.05)

    def _record(self, job: Job, out: Outcome, note: str, disk: int | None) -> None:
        reason = out.reason + (("; " if out.reason else "") + note if note else "")
        if self.store.finish(
            job.id, self.id, job.attempts, out.state, out.exit_code, reason, out.peak_memory
        ):
            self.store.set_disk(
                job.id, disk if disk is not None else tree.size(job_dir(self.settings, job.id))
            )
        logger.info("job %s: %s %s", job.id, out.state, reason)

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
        self.poll_packers()
        self.reap_strays()
        while not self.stopping and len(self.active) < self.max_jobs:
            job = self.store.claim(self.id, self.budget, scheduler.pick, self.boards)
            if job is None:
                break
            self.held.add(job.id)
            logger.info("job %s: %s for %s, attempt %d", job.id, job.step, job.user, job.attempts)
            self.launch(job)

    def reap_strays(self) -> None:
        """This worker is a child subreaper: what a job left behind after killing its own supervisor is
        re-parented here, and killed. Only supervisors and packers are this worker's children by right."""
        if not self.subreaper:
            return
        known = {pk.proc.pid for pk in self.packing.values()}
        known |= {r.proc.pid for r in getattr(self.dispatcher, "runs", {}).values()}
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return
        for p in children:
            if p.pid in known:
                continue
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    p.kill()
                os.waitpid(p.pid, os.WNOHANG)
            except (psutil.Error, ChildProcessError):
                pass

    def drained(self) -> bool:
        """Nothing left for this worker: no run of its own, and no queued job that fits its budget."""
        from l1ml.synth.job import QUEUED

        if self.active or self.packing:
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
        self.poll_packers(wait=30.0)  # a run that has ended keeps its outcome: never requeued
        for pk in list(self.packing.values()):
            pk.proc.kill()
            pk.proc.wait()
            self._record(pk.job, pk.out, "results not packed: its worker was stopped", None)
        self.packing.clear()
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
