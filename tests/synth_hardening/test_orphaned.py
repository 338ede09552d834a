"""The supervisor outlives its worker: after a worker SIGKILL mid-job, with no worker restarted, it still
kills a job that goes over its memory, one that runs past its timeout, and, once no worker can take the
run over (one lease), the rest. Real worker process, real SIGKILL."""

from __future__ import annotations

import json
import signal
import time
import uuid

import psutil
from hardening_helpers import escapees, script_project, synth, tagged, wait_gone

LEASE = 8


def test_worker_sigkill_mid_job_and_no_restart(home, tmp_path, procs):
    tag = f"orphan-{uuid.uuid4().hex[:8]}"
    hog = script_project(
        tmp_path,
        "hog",
        f"touch started\nsleep 3\npython3 -c 'import time; x = bytearray(400 << 20); time.sleep(60)' {tag}-hog\n",
    )
    slow = script_project(tmp_path, "slow", f"touch started\n{escapees(tag + '-slow')}sleep 120\n")
    idle = script_project(tmp_path, "idle", f"touch started\n{escapees(tag + '-idle')}sleep 120\n")
    a = synth.submit_local(hog, memory="200M", timeout="10m")["id"]
    b = synth.submit_local(slow, memory="100M", timeout="5s")["id"]
    c = synth.submit_local(idle, memory="100M", timeout="10m")["id"]
    w = procs.start("worker", "--memory-budget", "1G", "--poll", "0.05", "--lease", str(LEASE))
    s = synth.settings()
    started = [s.work / str(i) / "attempt1" / "src" / "hls4ml" / "started" for i in (a, b, c)]
    synth.wait_for(lambda: all(p.exists() for p in started), 60, what="all three jobs to start")
    synth.wait_for(lambda: len(tagged(tag)) >= 4, 30, what="the hidden children")
    supervisors = [
        p for p in psutil.Process(w.pid).children() if "l1ml.synth.supervisor" in " ".join(p.cmdline())
    ]
    assert len(supervisors) == 3
    w.send_signal(signal.SIGKILL)
    w.wait()
    killed_at = time.time()

    def status(i):
        f = s.work / str(i) / "attempt1.status.json"
        st = json.loads(f.read_text()) if f.exists() else {}
        return st if st.get("state", "running") != "running" else None

    sa = synth.wait_for(lambda: status(a), 30, what="the hog to be stopped")
    assert sa["state"] == "oom" and sa["orphaned"] and sa["peak_memory"] > 200 * 1024**2
    sb = synth.wait_for(lambda: status(b), 30, what="the slow job to time out")
    assert sb["state"] == "timeout" and sb["orphaned"]
    sc = synth.wait_for(lambda: status(c), 30, what="the idle job to be ended")
    assert sc["state"] == "failed" and "worker died" in sc["reason"]
    assert time.time() - killed_at >= LEASE - 1  # the idle one was given its lease to be taken over
    assert wait_gone(supervisors, 10), "a supervisor outlived its job"
    assert not tagged(tag), [p.cmdline() for p in tagged(tag)]
    # Nobody reported: the store still holds them running, to be requeued when a worker comes back.
    assert all(synth.job(i).state == "running" for i in (a, b, c))


def _zombies(procs, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if all(psutil.Process(p.pid).status() == psutil.STATUS_ZOMBIE for p in procs):
            return
        time.sleep(0.01)
    raise AssertionError("the children did not exit")


def test_reaping_orphans_keeps_the_jobs_exit_code():
    """The supervisor collects zombie orphans of the job while it runs. It must leave the job's own
    process to Popen: reaped by a waitpid(-1), its exit status is lost, Popen.poll meets ECHILD and
    reports 0, and a failed job was recorded succeeded (the once-flaky csim test of tests/synth)."""
    import subprocess
    import sys

    from l1ml.synth.supervisor import reap_zombies

    job = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    orphan = subprocess.Popen(["true"])
    _zombies([job, orphan])
    reap_zombies(keep=job.pid)
    assert not psutil.pid_exists(orphan.pid) or psutil.Process(orphan.pid).status() != psutil.STATUS_ZOMBIE
    assert job.wait(5) == 3
    # what the old collection did to the job's status: reaped with the orphans, Popen reports 0
    job = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    _zombies([job])
    reap_zombies()
    assert job.wait(5) == 0
