"""Run jobs as process groups on this host, each in its own session and work directory.

Memory: cgroup v2 ``memory.max`` when a writable, delegated cgroup2 tree is there; otherwise (and always,
for the peak figure) an RSS watchdog summing the job's process tree with psutil, which kills the group once
the sum goes over the declared memory. Timeouts and cancels send SIGTERM to the group, then SIGKILL after a
grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from l1ml.synth.dispatch import Launch, Outcome
from l1ml.synth.job import CANCELLED, FAILED, OOM, SUCCEEDED, TIMEOUT, Job, format_memory

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
    name = "local"

    def __init__(self, settings=None, cgroups: bool = True):
        self.runs: dict[int, _Run] = {}
        self.host = socket.gethostname()
        own = cgroup_parent() if cgroups else None
        self.cgroup_parent = _delegate(own) if own is not None else None

    def start(self, launch: Launch) -> dict:
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

        with open(launch.log, "ab") as log:
            proc = subprocess.Popen(
                ["bash", str(launch.script)],
                cwd=launch.workdir / "src",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=enter_cgroup if procs_file else None,
            )
        run = _Run(proc, time.time(), launch.memory, launch.timeout, cg)
        self.runs[launch.job.id] = run
        return {
            "host": self.host,
            "pid": proc.pid,
            "pgid": proc.pid,
            "create_time": psutil.Process(proc.pid).create_time(),
            "cgroup": str(cg or ""),
        }

    def _kill(self, run: _Run, outcome: Outcome, hard: bool) -> None:
        if run.ending is None:
            run.ending = outcome
        run.pids |= {p.pid for p in _tree(run.proc.pid)}
        _signal(run.proc.pid, run.pids, signal.SIGKILL if hard else signal.SIGTERM)
        if not hard and run.term_at is None:
            run.term_at = time.time()

    def poll(self, job: Job, handle: dict) -> Outcome | None:
        run = self.runs.get(job.id)
        if run is None:
            return Outcome(FAILED, reason="run not tracked by this worker")
        code = run.proc.poll()
        if code is None:
            procs = _tree(run.proc.pid)
            run.pids |= {p.pid for p in procs}
            rss = _rss(procs)
            run.peak = max(run.peak, rss)
            if run.ending is not None:
                if run.term_at is not None and time.time() - run.term_at > GRACE:
                    self._kill(run, run.ending, hard=True)
            elif rss > run.memory:
                self._kill(
                    run,
                    Outcome(
                        OOM,
                        reason=f"used {format_memory(rss)}, over its declared "
                        f"{format_memory(run.memory)}; killed",
                    ),
                    hard=True,
                )
            elif time.time() - run.started > run.timeout:
                self._kill(
                    run,
                    Outcome(TIMEOUT, reason=f"ran past its timeout of {run.timeout:.0f}s; killed"),
                    hard=False,
                )
            return None
        _signal(run.proc.pid, run.pids, signal.SIGKILL)  # leftovers of the group must not outlive the job
        out = self._outcome(run, code)
        self._cleanup(run)
        del self.runs[job.id]
        return out

    def _outcome(self, run: _Run, code: int) -> Outcome:
        peak = run.peak or None
        if run.ending is not None:
            return Outcome(run.ending.state, code, run.ending.reason, peak)
        if run.cgroup is not None:
            try:
                events = dict(
                    line.split() for line in (run.cgroup / "memory.events").read_text().splitlines()
                )
                if int(events.get("oom_kill", 0)) > 0:
                    return Outcome(OOM, code, f"hit memory.max of {format_memory(run.memory)}; killed", peak)
            except OSError:
                pass
        if code == 0:
            return Outcome(SUCCEEDED, 0, "", peak)
        if code < 0:
            return Outcome(FAILED, code, f"killed by signal {-code}", peak)
        return Outcome(FAILED, code, f"a command exited with code {code}; see the log", peak)

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
            self._kill(run, Outcome(state, reason=reason), hard=False)
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
