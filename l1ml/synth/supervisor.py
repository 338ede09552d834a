"""The per-run supervisor, like slurmstepd or condor_starter: a small program between the worker and a job.

    python -m l1ml.synth.supervisor SPEC.json

It makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``), so every process the job starts, also
those that leave with ``setsid`` or double-fork, stays its descendant. Every tick it sums the memory of all
its descendants (RSS, and PSS once RSS says it could matter, plus what the run holds in its own /tmp and
/dev/shm tmpfs), counts them, and once a second sums its directory and log and its CPU time; it kills all of
them when one goes over its limit (states ``oom``, ``pids``, ``disk``, ``cpu``), at the timeout, on SIGTERM
(a cancel from the worker) and when the job's first process ends. It does not need the worker: when the
worker dies it goes on enforcing memory and time, and after ``orphan_grace`` seconds with nobody to report
to (the queue requeues the job once the lease lapses) it ends the job itself. The outcome goes to
``status`` (JSON, written atomically, outside the job's writable directory) for the worker to read.

Only the standard library, psutil and l1ml.synth.tree: it starts in a fraction of a second.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

PR_SET_CHILD_SUBREAPER = 36
TICK = 0.1


def make_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def family() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def pss(procs: list[psutil.Process]) -> int:
    """Proportional set size: shared pages divided among the processes that share them (1,100 sleeping
    copies of one interpreter are not 1,100 interpreters). Read only when RSS says it could matter."""
    total = 0
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except (psutil.Error, AttributeError):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    return total


def tmpfs_used(procs: list[psutil.Process], mounts: list[str]) -> int:
    """Bytes in the run's own tmpfs mounts (/tmp, /dev/shm inside the sandbox), seen through the root of
    one of its processes: memory the kernel holds for the run, which no process's RSS shows."""
    if not mounts:
        return 0
    host = {m: _dev(m) for m in mounts}
    for p in reversed(procs):  # the innermost processes are inside the sandbox
        used, seen = 0, False
        for m in mounts:
            where = f"/proc/{p.pid}/root{m}"
            dev = _dev(where)
            if dev is None or dev == host[m]:
                continue
            try:
                v = os.statvfs(where)
            except OSError:
                continue
            seen = True
            used += (v.f_blocks - v.f_bfree) * v.f_frsize
        if seen:
            return used
    return 0


def _dev(path: str) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """CPU time of the run: its live processes, and (we reap them, as subreaper) the ones already gone."""
    total = 0.0
    try:
        own = psutil.Process().cpu_times()
        total += own.children_user + own.children_system
    except psutil.Error:
        pass
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def disk_used(paths: list[str]) -> int:
    from l1ml.synth import tree  # bounded, iterative: the run's tree may be anything

    total = 0
    for p in paths:
        try:
            st = os.lstat(p)
        except OSError:
            continue
        total += tree.size(Path(p)) if os.path.isdir(p) else min(st.st_size, st.st_blocks * 512)
    return total


def rss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def reap_zombies(keep: int | None = None) -> None:
    """Collect our zombie children (orphans of the job are re-parented to us, or they stay zombies),
    except `keep`: the job's own process, which Popen waits for. Reaping it here (waitpid(-1) did) loses
    its exit status: Popen.poll then meets ECHILD and reports 0, so a failed job was recorded succeeded."""
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for p in children:
        if p.pid == keep:
            continue
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(p.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
            pass


def kill_family(deadline: float = 10.0, keep: int | None = None) -> int:
    """SIGSTOP then SIGKILL every descendant, again and again until none is left (a fork bomb that forks
    faster than one pass kills is frozen first). Returns the number of processes signalled. `keep`: a
    child left for its Popen to reap (reap_zombies)."""
    killed: set[int] = set()
    end = time.time() + deadline
    while time.time() < end:
        procs = [p for p in family() if p.pid != os.getpid()]
        live = []
        for p in procs:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    live.append(p)
            except psutil.Error:
                pass
        if not live:
            reap_zombies(keep)
            return len(killed)
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for p in live:
                try:
                    p.send_signal(sig)
                    killed.add(p.pid)
                except psutil.Error:
                    pass
        reap_zombies(keep)
        time.sleep(0.02)
    return len(killed)


def _fmt(n: int) -> str:
    for unit, size in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= size:
            return f"{n / size:.0f}{unit}" if n % size == 0 else f"{n / size:.1f}{unit}"
    return f"{n}B"


def write_status(path: Path, status: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(status, f)
    os.replace(tmp, path)


def supervise(spec: dict) -> dict:
    """Run the job of `spec` to its end under the limits; returns the status written."""
    subreaper = make_subreaper()
    status_path = Path(spec["status"])
    stop = {"sig": None}

    def on_signal(signum, _frame):
        stop["sig"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = int(spec.get("worker_pid") or 0)
    started = time.time()
    with open(spec["log"], "ab") as log:
        proc = subprocess.Popen(
            spec["argv"],
            cwd=spec["cwd"],
            env=spec.get("env"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: a job that kills its process group kills only itself
        )
    write_status(status_path, {"state": "running", "pid": proc.pid, "subreaper": subreaper})
    memory, timeout = int(spec["memory"]), float(spec["timeout"])
    grace, orphan_grace = float(spec.get("grace", 3.0)), float(spec.get("orphan_grace", 60.0))
    peak, ending, term_at, orphaned_at = 0, None, None, None
    max_pids = int(spec.get("max_pids") or 0)
    max_disk = int(spec.get("max_disk") or 0)
    max_cpu = float(spec.get("max_cpu") or 0)
    mounts = list(spec.get("tmpfs") or [])
    slow_at = 0.0  # disk and CPU time are summed once a second, not every tick
    code = None
    while True:
        code = proc.poll()
        if code is not None:
            break
        procs = family()
        used = rss(procs)
        shm = tmpfs_used(procs, mounts)
        if used + shm > memory:  # RSS counts shared pages once per process: PSS decides
            used = pss(procs)
        used += shm
        peak = max(peak, used)
        now = time.time()
        over = None
        if max_pids and len(procs) > max_pids:
            over = ("pids", f"ran {len(procs)} processes, over its limit of {max_pids}; killed")
        if over is None and now - slow_at >= 1.0:
            slow_at = now
            disk = disk_used(spec.get("disk_paths") or []) if max_disk else 0
            cpu = cpu_seconds(procs) if max_cpu else 0.0
            if max_disk and disk > max_disk:
                over = (
                    "disk",
                    f"wrote {_fmt(disk)} (directory and log), over its limit of {_fmt(max_disk)}; killed",
                )
            elif max_cpu and cpu > max_cpu:
                over = ("cpu", f"used {cpu:.0f}s of CPU time, over its limit of {max_cpu:.0f}s; killed")
        if worker and orphaned_at is None and os.getppid() != worker:
            orphaned_at = now  # the worker is gone: we are reparented
        if ending is None:
            if over is not None:
                ending = over
                term_at = now - grace  # straight to SIGKILL: a fork bomb or a disk filler does not wait
            elif used > memory:
                ending = ("oom", f"used {_fmt(used)}, over its declared {_fmt(memory)}; killed")
                term_at = now - grace  # straight to SIGKILL: memory is the host's, not the job's
            elif now - started > timeout:
                ending = ("timeout", f"ran past its timeout of {timeout:.0f}s; killed")
            elif stop["sig"] is not None:
                ending = ("cancelled", "cancelled")
            elif orphaned_at is not None and now - orphaned_at > orphan_grace:
                ending = (
                    "lost",
                    f"its worker died and none took it over within {orphan_grace:.0f}s; killed",
                )
            if ending is not None and term_at is None:
                term_at = now
                for p in procs:  # SIGTERM first, so tools can flush their logs
                    try:
                        p.send_signal(signal.SIGTERM)
                    except psutil.Error:
                        pass
        if ending is not None and now - term_at >= grace:
            kill_family(keep=proc.pid)
        reap_zombies(keep=proc.pid)
        time.sleep(TICK)
    left = kill_family()  # leftovers of the job (setsid, double fork) do not outlive it
    lost = bool(ending and ending[0] == "lost")
    if lost:
        ending = ("failed", ending[1])
    status = {
        "state": ending[0] if ending else ("succeeded" if code == 0 else "failed"),
        "exit_code": code,
        "reason": ending[1] if ending else "",
        "peak_memory": peak or None,
        "leftovers_killed": left,
        "subreaper": subreaper,
        "orphaned": orphaned_at is not None,
        # Ended for want of a worker, not for anything the job did: the queue runs it again.
        "lost": lost,
    }
    if not ending and code != 0:
        status["reason"] = (
            f"killed by signal {-code}" if code < 0 else f"a command exited with code {code}; see the log"
        )
    write_status(status_path, status)
    return status


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m l1ml.synth.supervisor SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text())
    supervise(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
