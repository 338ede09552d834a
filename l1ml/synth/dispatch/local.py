"""Run jobs on this host, each under its own supervisor process and in its own work directory.

The supervisor (l1ml.synth.supervisor, like slurmstepd) is a child subreaper: it owns every process of the
run, also those that left with setsid or double-forked, sums their RSS, and kills all of them on OOM,
timeout, cancel and at the end. It outlives the worker and ends the run itself when no worker is left to
report to. With bubblewrap (l1ml.synth.sandbox) the run also gets a read-only root, its own PID namespace
and only its own directory writable. Memory: cgroup v2 ``memory.max`` as well when a writable, delegated
cgroup2 tree is there (never created otherwise).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from l1ml.synth.dispatch import Launch, Outcome
from l1ml.synth.job import CANCELLED, FAILED, OOM, TERMINAL, Job, format_memory

GRACE = 3.0  # seconds between SIGTERM and SIGKILL


@dataclass
class _Run:
    proc: subprocess.Popen
    started: float
    memory: int
    timeout: float
    cgroup: Path | None = None
    peak: int = 0
    ending: Outcome | None = None  # why we are killing it
    term_at: float | None = None
    pids: set[int] = field(default_factory=set)
    status: Path = Path()


def cgroup_parent() -> Path | None:
    """This process's cgroup if it can hold per-run cgroups with memory.max; read-only check.

    That needs /sys/fs/cgroup to be cgroup2 and this cgroup to be writable and offer the memory
    controller (a delegated subtree, e.g. a systemd unit with Delegate=yes). Else None: the RSS watchdog
    alone enforces memory. L1ML_SYNTH_CGROUPS=0 turns cgroups off."""
    root = Path("/sys/fs/cgroup")
    if os.environ.get("L1ML_SYNTH_CGROUPS", "1") == "0" or not (root / "cgroup.controllers").is_file():
        return None  # cgroup v1 or none
    try:
        line = next(x for x in Path("/proc/self/cgroup").read_text().splitlines() if x.startswith("0::"))
        own = root / line[3:].lstrip("/")
        if own.name == "l1ml-worker":
            own = own.parent
        if own == root or not os.access(own / "cgroup.procs", os.W_OK):
            return None
        if "memory" not in (own / "cgroup.controllers").read_text().split():
            return None
        return own
    except (OSError, StopIteration):
        return None


def _delegate(own: Path) -> Path | None:
    """Move this process into a leaf `l1ml-worker` (cgroup2 allows no processes beside child cgroups) and
    enable the memory controller for the runs' sibling cgroups. None if the host refuses."""
    try:
        if "memory" not in (own / "cgroup.subtree_control").read_text().split():
            leaf = own / "l1ml-worker"
            leaf.mkdir(exist_ok=True)
            (leaf / "cgroup.procs").write_text(str(os.getpid()))
            (own / "cgroup.subtree_control").write_text("+memory")
        return own
    except OSError:
        return None


def _tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _rss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _signal(pgid: int, pids: set[int], sig: int) -> None:
    # The group covers the job; the pid list also catches children that left it with setsid.
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class LocalDispatcher:
    """Each run under its own supervisor process (l1ml.synth.supervisor), which owns the run's whole process
    family and its memory and time limits, and in a bubblewrap sandbox when this host allows one."""

    name = "local"

    def __init__(self, settings=None, cgroups: bool = True):
        from l1ml.synth import sandbox

        self.runs: dict[int, _Run] = {}
        self.host = socket.gethostname()
        self.settings = settings
        own = cgroup_parent() if cgroups else None
        self.cgroup_parent = _delegate(own) if own is not None else None
        self.isolation = sandbox.probe(getattr(settings, "sandbox", "auto"))
        self.hide = sandbox.hidden_paths(settings) if settings is not None else []

    def describe(self) -> str:
        """One line for the worker's start-up message: how runs are isolated and contained here."""
        memory = (
            f"cgroup v2 memory.max under {self.cgroup_parent}"
            if self.cgroup_parent
            else "RSS of every descendant"
        )
        return (
            f"isolation: {self.isolation.mode} ({self.isolation.detail}); containment: a supervisor per run "
            f"(child subreaper{', PID namespace' if self.isolation.mode == 'bwrap' else ''}); memory: {memory}"
        )

    def start(self, launch: Launch) -> dict:
        from l1ml.synth import sandbox

        cg = None
        if self.cgroup_parent is not None:
            cg = self.cgroup_parent / f"l1ml-job-{launch.job.id}-{launch.job.attempts}"
            cg.mkdir(exist_ok=True)
            (cg / "memory.max").write_text(str(launch.memory))
            if (cg / "memory.swap.max").exists():
                (cg / "memory.swap.max").write_text("0")
        procs_file = str(cg / "cgroup.procs") if cg else None

        def enter_cgroup() -> None:  # runs in the child before exec, so every descendant is inside
            if procs_file:
                with open(procs_file, "w") as f:
                    f.write(str(os.getpid()))

        argv = ["bash", str(launch.script)]
        if self.isolation.mode == "bwrap":
            writable = [Path(p) for p in getattr(self.settings, "sandbox_writable", ())]
            readable = [Path(p) for p in getattr(self.settings, "sandbox_readable", ())]
            argv = sandbox.wrap(
                argv, launch.workdir, self.hide, writable, readable,
                tmpfs_size=int(getattr(self.settings, "tmpfs_size", 1024**3)),
                network=bool(getattr(self.settings, "sandbox_network", False)),
            )  # fmt: skip
        # The supervisor's files sit beside the run's directory, not in it: the job cannot forge its outcome.
        status = launch.workdir.parent / f"{launch.workdir.name}.status.json"
        spec_path = launch.workdir.parent / f"{launch.workdir.name}.spec.json"
        status.unlink(missing_ok=True)
        spec = {
            "argv": argv,
            "cwd": str(launch.workdir / "src"),
            "env": sandbox.job_env(
                dict(os.environ), launch.workdir, getattr(self.settings, "sandbox_env", ())
            ),
            "log": str(launch.log),
            "status": str(status),
            "memory": launch.memory,
            "timeout": launch.timeout,
            "grace": GRACE,
            "worker_pid": os.getpid(),
            "orphan_grace": float(getattr(self.settings, "lease", 60.0)),
            **self.limits(launch),
        }
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[3])  # the directory that holds the l1ml package
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen(
            [sys.executable, "-m", "l1ml.synth.supervisor", str(spec_path)],
            cwd=launch.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(launch.log, "ab"),  # noqa: SIM115 - the child holds it; a traceback lands in the log
            start_new_session=True,
            preexec_fn=enter_cgroup if procs_file else None,
        )
        run = _Run(proc, time.time(), launch.memory, launch.timeout, cg, status=status)
        self.runs[launch.job.id] = run
        return {
            "host": self.host,
            "pid": proc.pid,
            "pgid": proc.pid,
            "create_time": psutil.Process(proc.pid).create_time(),
            "cgroup": str(cg or ""),
            "supervisor": True,
            "isolation": self.isolation.mode,
            "limits": {k: v for k, v in self.limits(launch).items() if k != "disk_paths"},
        }

    def limits(self, launch: Launch) -> dict:
        """The limits this run is held to while it runs (l1ml.synth.supervisor), from synth.toml."""
        st = self.settings
        tmpfs = int(getattr(st, "tmpfs_size", 1024**3))
        return {
            "max_pids": int(getattr(st, "max_pids", 1024)),
            # Disk: its directory and log, and never more than its user's whole quota.
            "max_disk": int(
                min(getattr(st, "max_job_disk", 20 * 1024**3), getattr(st, "max_user_bytes", 2**62))
            ),
            "disk_paths": [str(launch.workdir), str(launch.log)],
            "max_cpu": float(getattr(st, "max_cpu_time", 7 * 86400.0)),
            # Its /tmp and /dev/shm are memory: counted with its processes' PSS (sandboxed runs only).
            "tmpfs": ["/tmp", "/dev/shm"] if self.isolation.mode == "bwrap" else [],
            "tmpfs_size": tmpfs,
        }

    def _kill(self, run: _Run, outcome: Outcome) -> None:
        """Ask the supervisor to end the run (it kills the whole family, SIGTERM then SIGKILL)."""
        if run.ending is None:
            run.ending = outcome
        if run.term_at is None:
            run.term_at = time.time()
            try:
                run.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def poll(self, job: Job, handle: dict) -> Outcome | None:
        run = self.runs.get(job.id)
        if run is None:
            return Outcome(FAILED, reason="run not tracked by this worker")
        code = run.proc.poll()
        if code is None:
            procs = [p for p in _tree(run.proc.pid) if p.pid != run.proc.pid]
            run.peak = max(run.peak, _rss(procs))
            if run.term_at is not None and time.time() - run.term_at > 4 * GRACE:
                # The supervisor did not end in time: kill it and its family ourselves.
                _signal(run.proc.pid, {p.pid for p in _tree(run.proc.pid)}, signal.SIGKILL)
            return None
        _signal(run.proc.pid, {p.pid for p in _tree(run.proc.pid)}, signal.SIGKILL)
        out = self._outcome(run, code)
        self._cleanup(run)
        del self.runs[job.id]
        return out

    def _outcome(self, run: _Run, code: int) -> Outcome:
        try:
            st = json.loads(run.status.read_text())
        except (OSError, ValueError):
            st = {}
        peak = max(run.peak, st.get("peak_memory") or 0) or None
        if run.ending is not None:
            return Outcome(run.ending.state, st.get("exit_code"), run.ending.reason, peak)
        if run.cgroup is not None:
            try:
                events = dict(
                    line.split() for line in (run.cgroup / "memory.events").read_text().splitlines()
                )
                if int(events.get("oom_kill", 0)) > 0:
                    return Outcome(OOM, code, f"hit memory.max of {format_memory(run.memory)}; killed", peak)
            except OSError:
                pass
        state = st.get("state")
        if state in TERMINAL:
            return Outcome(state, st.get("exit_code"), st.get("reason", ""), peak)
        return Outcome(
            FAILED, code, f"its supervisor ended without an outcome (exit {code}); see the log", peak
        )

    def _cleanup(self, run: _Run) -> None:
        if run.cgroup is not None:
            try:
                run.cgroup.rmdir()
            except OSError:
                pass

    def peak(self, job: Job, handle: dict) -> int | None:
        run = self.runs.get(job.id)
        return run.peak if run else None

    def cancel(self, job: Job, handle: dict, state: str = CANCELLED, reason: str = "cancelled") -> None:
        run = self.runs.get(job.id)
        if run is not None:
            self._kill(run, Outcome(state, reason=reason))
        else:
            self.reap(job, handle)

    def adopt(self, job: Job, handle: dict) -> bool:
        return False  # a process we did not start gives us no exit code: reap and requeue instead

    def reap(self, job: Job, handle: dict) -> None:
        if not handle or handle.get("host") != self.host:
            return
        pgid = int(handle["pgid"])
        try:
            leader = psutil.Process(int(handle["pid"]))
            # A recycled pid would belong to someone else's process; only the same start time is ours.
            if abs(leader.create_time() - float(handle["create_time"])) > 0.01:
                return
            # Stop the supervisor first, so it cannot start anything while its family is killed.
            leader.send_signal(signal.SIGSTOP)
            pids = {p.pid for p in _tree(leader.pid)}
        except psutil.NoSuchProcess:
            pids = set()
        _signal(pgid, pids, signal.SIGKILL)
        deadline = time.time() + 5
        while time.time() < deadline and any(psutil.pid_exists(p) for p in pids | {pgid}):
            for p in list(pids | {pgid}):  # collect zombies that are our own children, if any
                try:
                    os.waitpid(p, os.WNOHANG)
                except ChildProcessError:
                    pass
            if not any(_alive(p) for p in pids | {pgid}):
                break
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
