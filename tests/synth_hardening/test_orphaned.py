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
