"""What the Slurm and HTCondor dispatchers share: the run lifecycle (start, poll, cancel, adopt after a
restart), the wrapper script, the shared-filesystem paths, and running a batch system's client tools.

A batch job runs on a node that sees the queue's work directory through a shared filesystem (EOS, AFS,
NFS...). The script it runs writes its exit code to a status file beside the work, so a job whose end the
batch system has already forgotten (Slurm purges finished jobs after MinJobAge) still has a known end.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from l1ml.errors import ConfigError, L1mlError, ToolNotFound
from l1ml.synth.dispatch import Launch, Outcome, Pending
from l1ml.synth.job import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, TERMINAL, Job

PEAK_EVERY = 5.0  # seconds between asking the batch system for one run's memory use

STATUS_DIR = ".l1ml-batch"
GONE = "gone"  # the batch id of a run its batch system has forgotten; only its files remain


class BatchError(L1mlError):
    """A batch system refused a command (sbatch rejected the job, the schedd is unreachable...).

    ``transient`` marks an answer worth retrying (the controller is restarting), as opposed to a refusal
    (no such partition, more memory than any node has) that ends the job."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class BatchStatus:
    """One batch job's state, in the queue's terms (l1ml.synth.job.STATES), with the evidence for it."""

    state: str
    reason: str = ""
    exit_code: int | None = None
    peak_memory: int | None = None
    native: str = ""  # the batch system's own word for it (COMPLETED, HELD...), for logs and reports

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True)
class SharedPaths:
    """The queue's work directory as the queue's host sees it (``local``) and as batch nodes see it
    (``nodes``). They differ where, say, the server mounts EOS at /data/eos and nodes at /eos."""

    local: Path
    nodes: PurePosixPath

    @classmethod
    def from_table(cls, table: dict, work: Path) -> SharedPaths:
        """``shared`` defaults to the queue's work directory (setting ``work``), which then must be on the
        shared filesystem; the store stays on the queue's local ``home``."""
        local = Path(str(table.get("shared") or work)).expanduser()
        nodes = PurePosixPath(str(table.get("shared_on_nodes") or local))
        return cls(local, nodes)

    def on_nodes(self, path: Path) -> PurePosixPath:
        try:
            rel = Path(path).resolve().relative_to(self.local.resolve())
        except ValueError:
            raise ConfigError(
                f"work directory {path} is not inside the shared directory {self.local}; batch "
                "nodes could not see it. Set 'work' in the queue's settings to a directory on the "
                "shared filesystem (EOS, NFS) and leave 'shared' unset, or set 'shared' to a directory "
                "that holds the work directories"
            ) from None
        return self.nodes / rel.as_posix()


def check_keys(table: dict, valid: set[str], where: str) -> None:
    unknown = set(table) - valid
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(valid))}"
        )


def common_fields(table: dict, where: str, default_poll: float) -> tuple[int, float]:
    """The keys every batch dispatcher's table has: cpus per job and seconds between polls."""
    cpus = table.get("cpus", 1)
    if not isinstance(cpus, int) or cpus < 1:
        raise ConfigError(f"{where}: cpus must be a whole number of at least 1, not {cpus!r}")
    poll = table.get("poll", default_poll)
    if not isinstance(poll, (int, float)) or poll < 0:
        raise ConfigError(f"{where}: poll must be a number of seconds, not {poll!r}")
    return cpus, float(poll)


def wrapper_script(
    script: PurePosixPath,
    cwd: PurePosixPath,
    status: PurePosixPath,
    header: tuple[str, ...] | list[str] = (),
    comment: str = "",
) -> str:
    """The batch job itself: runs the queue's run script in ``cwd`` and leaves its exit code in ``status``.

    ``status`` + ".started" is written first, so that after a restart a run the batch system has forgotten can
    still be told apart from one that was never submitted."""
    q = shlex.quote
    tmp = str(status) + ".tmp"
    lines = ["#!/bin/bash", *header]
    if comment:
        lines.append(f"# {comment}")
    lines += [
        f": > {q(str(status) + '.started')}",
        f"cd {q(str(cwd))} || exit 111",
        f"bash {q(str(script))}",
        "rc=$?",
        # Written then renamed, so a reader never sees half a number.
        f'printf "%s\\n" "$rc" > {q(tmp)} && mv -f {q(tmp)} {q(str(status))}',
        'exit "$rc"',
        "",
    ]
    return "\n".join(lines)


def read_status_file(path: Path) -> int | None:
    """The exit code the batch script recorded, or None when it never got that far."""
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def batch_tool(name: str, install_hint: str, tools: dict | None = None) -> str:
    """The executable for a batch system's client ``name``, found by l1ml.plan.find_tool (settings' [tools]
    table, L1ML_<NAME>, then PATH); a missing one raises ToolNotFound with how to install it."""
    from l1ml.plan import find_tool

    configured = (tools or {}).get(name)
    if configured and not os.access(configured, os.X_OK):
        raise ToolNotFound(f"{name}: '{configured}' from the settings' [tools] table is not an executable")
    found = find_tool(name, tools)
    if not found:
        raise ToolNotFound(f"{name} not found on PATH; {install_hint}")
    return str(found)


def run_tool(argv: list[str], env: dict | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run a batch system's client tool; the caller reads the return code."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, env=env, timeout=timeout)
    except FileNotFoundError:
        raise ToolNotFound(f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise BatchError(f"{shlex.join(argv)} did not answer within {timeout:.0f} s") from None


def signal_name(sig: int) -> str:
    import signal

    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def tail(path: Path, size: int = 64 * 1024) -> str:
    """The last ``size`` bytes of a log, or "" if it cannot be read (yet)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def client_env(extra: dict | None = None) -> dict:
    """This process's environment minus its secrets: sbatch and condor pass the submitter's environment on to
    the job, and the server's token must not end up in a batch job's environment."""
    import re

    env = {k: v for k, v in os.environ.items() if not re.search(r"TOKEN|SECRET|PASSWORD", k, re.IGNORECASE)}
    env.update(extra or {})
    return env


def queue_tag(home: Path) -> str:
    """Short and stable per queue, so two queues submitting as one user never adopt each other's jobs."""
    import hashlib

    return hashlib.sha1(str(Path(home).resolve()).encode()).hexdigest()[:6]


@dataclass
class BatchRun:
    """One run as a batch dispatcher follows it; ``handle()`` is what the store keeps."""

    name: str
    batch_id: str  # "" before the batch system answered; GONE once it forgot the run
    workdir: Path
    log: Path
    memory: int
    error: str = ""  # the batch system refused it
    status: BatchStatus | None = None
    ending: tuple[str, str] | None = None  # (state, reason) asked for by cancel()
    peak: int | None = None
    peak_at: float = 0.0

    @property
    def status_file(self) -> Path:
        return self.workdir / STATUS_DIR / f"{self.name}.exit"

    @property
    def started_file(self) -> Path:
        return self.workdir / STATUS_DIR / f"{self.name}.exit.started"

    @property
    def live(self) -> bool:
        return bool(self.batch_id) and self.batch_id != GONE


class BatchDispatcher:
    """The Dispatcher protocol (l1ml.synth.dispatch) for a batch system. The batch system holds the runs, so a
    worker that stops leaves them running (``keeps_running``) and the next one takes them over (``adopt``).

    A subclass names its runs and talks to its batch system: ``_submit``, ``_states``, ``_find``,
    ``_remove`` and ``_peak``."""

    name = ""
    id_key = ""  # the handle's key for the batch system's id: slurm_id, condor_id
    keeps_running = True

    def __init__(self, settings, poll: float):
        self.settings = settings
        self.poll_every = poll
        self._runs: dict[int, BatchRun] = {}
        self._refreshed = 0.0
        self.last_error = ""  # the latest question the batch system did not answer; for logs and status

    # --- what a batch system supplies ---------------------------------------------------------------------

    def job_name(self, job: Job) -> str:
        raise NotImplementedError

    def _submit(self, launch: Launch, run: BatchRun) -> str:
        """Submit; the batch id. Raises BatchError when refused."""
        raise NotImplementedError

    def _states(self, runs: dict[str, BatchRun]) -> dict[str, BatchStatus | None]:
        """The status of each live run, by batch id; None for a run the batch system no longer knows,
        missing for one it cannot say about yet. Raises BatchError when the batch system does not answer."""
        raise NotImplementedError

    def _find(self, name: str) -> list[str]:
        """Batch ids of runs with this name that the batch system still knows, oldest first."""
        raise NotImplementedError

    def _remove(self, batch_id: str) -> None:
        raise NotImplementedError

    def _peak(self, run: BatchRun) -> int | None:
        return None

    def _forgotten(self, run: BatchRun) -> BatchStatus | None:
        """Extra evidence for a run ended without an exit code (e.g. a memory kill in its log)."""
        return None

    # --- the protocol -------------------------------------------------------------------------------------

    def start(self, launch: Launch) -> dict:
        job = launch.job
        run = BatchRun(self.job_name(job), "", Path(launch.workdir), Path(launch.log), launch.memory)
        try:
            (run.workdir / STATUS_DIR).mkdir(parents=True, exist_ok=True)
            run.batch_id = self._submit(launch, run)
        except BatchError as exc:
            # The batch system's refusal is the run's outcome: poll returns it as the reason it failed.
            run.error = str(exc)
        # Anything else (a work dir outside `shared`, a wrapper that cannot be written) is raised before
        # anything was submitted; the worker fails the job with it.
        self._runs[job.id] = run
        run.status = None if run.error else BatchStatus(QUEUED, native="SUBMITTED")
        return self._handle(run)

    def _handle(self, run: BatchRun) -> dict:
        return {
            "system": self.name,
            "name": run.name,
            self.id_key: run.batch_id,
            "workdir": str(run.workdir),
            "log": str(run.log),
            "memory": run.memory,
            "error": run.error,
        }

    def poll(self, job: Job, handle: dict) -> Outcome | Pending | None:
        run = self._track(job, handle)
        if run.error:
            self._runs.pop(job.id, None)
            return Outcome(FAILED, reason=run.error)
        found = self._resolve(run)
        if found is None:
            return None  # the batch system is not answering; ask again next time
        if not found:
            self._runs.pop(job.id, None)
            return Outcome(FAILED, reason=f"{self.name} has no job named {run.name} and it never started")
        if run.status is None or not run.status.finished:
            self._refresh()
        st = run.status
        if st is not None and st.state == QUEUED:
            return Pending(self._where(st))
        if st is None or not st.finished:
            return None
        self._runs.pop(job.id, None)
        if run.ending is not None and st.state == CANCELLED:
            return Outcome(run.ending[0], st.exit_code, run.ending[1], run.peak)
        return Outcome(st.state, st.exit_code, st.reason, st.peak_memory or run.peak)

    def _where(self, st: BatchStatus) -> str:
        where = f"{self.name} {st.native.lower() or 'queued'}"
        return f"{where} ({st.reason})" if st.reason else where

    def _refresh(self) -> None:
        """One question to the batch system for every run this worker follows, at most every poll seconds."""
        now = time.monotonic()
        if now - self._refreshed < self.poll_every:
            return
        self._refreshed = now
        live = {r.batch_id: r for r in self._runs.values() if r.live and not (r.status and r.status.finished)}
        for r in self._runs.values():
            if r.batch_id == GONE and r.status is None:
                r.status = self._from_files(r)
        if not live:
            return
        try:
            states = self._states(live)
        except BatchError as exc:
            # No answer (a controller restarting) says nothing about the runs: they stay running.
            self.last_error = str(exc)
            return
        self.last_error = ""
        for batch_id, st in states.items():
            live[batch_id].status = st if st is not None else self._from_files(live[batch_id])

    def _from_files(self, run: BatchRun) -> BatchStatus:
        """The end of a run the batch system no longer remembers, from what the wrapper left beside it."""
        code = read_status_file(run.status_file)
        if code == 0:
            return BatchStatus(SUCCEEDED, "", 0, native="forgotten")
        if code is not None and code > 128:
            return BatchStatus(
                FAILED,
                f"stopped by {signal_name(code - 128)} while no worker was watching: a "
                f"time limit, a cancel or a node shutting down ({self.name} no longer "
                "says which)",
                code,
                native="forgotten",
            )
        if code is not None:
            return BatchStatus(
                FAILED, f"a command exited with code {code}; see the log", code, native="forgotten"
            )
        other = self._forgotten(run)
        if other is not None:
            return other
        return BatchStatus(
            FAILED,
            f"{self.name} no longer knows job {run.batch_id or run.name} and it left no "
            f"exit code in {run.status_file}: it was killed (time limit, memory, cancel "
            "or node failure) while no worker was watching",
            native="forgotten",
        )

    def peak(self, job: Job, handle: dict) -> int | None:
        run = self._runs.get(job.id)
        if run is None:
            return None
        now = time.monotonic()
        if (
            run.live
            and run.status is not None
            and run.status.state == RUNNING
            and now - run.peak_at >= PEAK_EVERY
        ):
            run.peak_at = now
            value = self._peak(run)
            if value:
                run.peak = max(run.peak or 0, value)
        return run.peak

    def cancel(self, job: Job, handle: dict, state: str = CANCELLED, reason: str = "cancelled") -> None:
        run = self._track(job, handle)
        run.ending = (state, reason)
        if self._resolve(run) and run.live:
            self._remove(run.batch_id)
        self._refreshed = 0.0  # the next poll should see the cancel, not a cached "running"

    def adopt(self, job: Job, handle: dict) -> bool:
        """After a restart: True if the batch system has (or had) this run, so the worker follows it to its
        end. While it does not answer, also True: requeueing a run that may be running would run it twice."""
        return self._resolve(self._track(job, handle)) is not False

    def reap(self, job: Job, handle: dict) -> None:
        run = self._track(job, handle)
        if self._resolve(run) and run.live:
            self._remove(run.batch_id)
        self._runs.pop(job.id, None)

    def _track(self, job: Job, handle: dict) -> BatchRun:
        """The run this worker follows for `job`, rebuilt from its handle after a restart."""
        h = handle or {}
        name = h.get("name") or self.job_name(job)
        run = self._runs.get(job.id)
        if run is None or run.name != name:
            workdir, log = self._paths_for(job, h)
            run = BatchRun(
                name,
                str(h.get(self.id_key) or ""),
                workdir,
                log,
                int(h.get("memory") or job.memory),
                str(h.get("error") or ""),
            )
            self._runs[job.id] = run
            self._refreshed = 0.0  # a run new to this worker: ask about it now, not a poll interval later
        return run

    def _paths_for(self, job: Job, handle: dict) -> tuple[Path, Path]:
        if handle.get("workdir") and handle.get("log"):
            return Path(handle["workdir"]), Path(handle["log"])
        if self.settings is None:
            raise ConfigError(
                f"the {self.name} dispatcher needs the queue's settings to find job {job.id}'s work directory"
            )
        from l1ml.synth.worker import job_dir, log_path  # the worker owns the layout of the work directory

        return job_dir(self.settings, job.id) / f"attempt{job.attempts}", log_path(self.settings, job.id)

    def _resolve(self, run: BatchRun) -> bool | None:
        """Does the batch system have (or had) this run? A handle without a batch id means the worker stopped
        between submitting and recording the answer; the run's unique name finds it. None: no answer."""
        if run.batch_id or run.error:
            return True
        try:
            ids = self._find(run.name)
        except BatchError as exc:
            self.last_error = str(exc)
            return None
        if ids:
            run.batch_id = ids[-1]
        elif run.started_file.exists() or run.status_file.exists():
            run.batch_id = GONE
        else:
            return False
        return True
