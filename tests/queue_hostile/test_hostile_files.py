"""Issue 27, rows 1-4: what a job leaves in its directory never stops the worker, `synth gc` or a worker
start, and an outcome its supervisor decided while no worker ran is recorded, never re-run."""

from __future__ import annotations

import json
import os
import signal
import time

from hardening_helpers import script_project, synth

from l1ml.synth import pack, tree

LOOP = "ln -s b a\nln -s a b\nln -s a/x c\n"
DEEP = "python3 -c \"import os\nfor i in range(1100):\n    os.mkdir('d'); os.chdir('d')\nopen('f','w').write('x')\"\n"


def test_symlink_loop_and_deep_tree_confined_to_the_job(home, tmp_path, procs):
    hostile = script_project(
        tmp_path, "hostile", LOOP + DEEP + "mkdir -p syn/vhdl && ln -s ../a syn/vhdl/loop\n"
    )
    honest = script_project(tmp_path, "honest", "sleep 2\n")
    h = synth.submit_local(hostile)["id"]
    o = synth.submit_local(honest)["id"]
    w = procs.worker("1G")
    assert synth.wait_state(h, timeout=120).state == "succeeded"
    assert synth.wait_state(o, timeout=120).state == "succeeded"
    assert w.poll() is None, "the worker died"
    assert synth.job(o).attempts == 1 and synth.job(h).attempts == 1
    procs.stop()
    # A later worker start (gc at start, recovery) and `synth gc` survive the same tree.
    (tmp_path / "synth.toml").write_text("keep_days = 0.00001\n")
    time.sleep(1.5)
    w = procs.worker("1G")
    time.sleep(3)
    assert w.poll() is None, "a worker start died on the job's tree"
    procs.stop()
    s = synth.settings()
    assert not (s.work / str(h)).exists()
    synth.cli("gc")


def test_tree_walks_are_bounded_and_iterative(tmp_path):
    root = tmp_path / "job"
    d = str(root)
    os.mkdir(d)
    for _ in range(1100):  # one level at a time: Path.mkdir(parents=True) itself recurses
        d += "/d"
        os.mkdir(d)
    with open(d + "/f", "w") as f:
        f.write("x")
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    os.symlink("/etc/passwd", root / "out")
    assert pack.drop_escaping_links(root) == 1  # the loop stays inside; the way out is dropped
    assert sum(1 for _ in tree.entries(root)) == 1100 + 1 + 2
    assert tree.remove(root) and not root.exists()


def test_sparse_result_is_packed_off_the_loop_bounded(home, tmp_path, procs):
    """A 3 GiB sparse artifact: left out of the results (over max_result_file), packed by a child while
    another user's job runs on; each attempt writes its own temporary file."""
    (tmp_path / "synth.toml").write_text(f"max_result_file = {64 * 1024**2}\n")
    big = script_project(
        tmp_path,
        "big",
        "mkdir -p syn/vhdl && truncate -s 3G syn/vhdl/huge.vhd && echo ok > syn/vhdl/small.vhd\n",
    )
    b = synth.submit_local(big, step="csim")["id"]
    procs.worker("1G")
    j = synth.wait_state(b, timeout=120)
    assert j.state == "succeeded" and j.attempts == 1, j
    s = synth.settings()
    summary = json.loads((s.work / str(b) / "summary.json").read_text())
    assert summary["state"] == "succeeded"
    assert not list((s.work / str(b)).glob("result.tar.gz.tmp"))


def test_outcome_decided_while_no_worker_ran_is_recorded_not_rerun(home, tmp_path, procs):
    slow = script_project(tmp_path, "slow", "touch started\nsleep 120\n")
    j = synth.submit_local(slow, memory="100M", timeout="4s")["id"]
    w = procs.start("worker", "--memory-budget", "1G", "--poll", "0.05", "--lease", "30")
    s = synth.settings()
    synth.wait_for(lambda: (s.work / str(j) / "attempt1" / "src" / "hls4ml" / "started").exists(), 60)
    w.send_signal(signal.SIGKILL)
    w.wait()
    st = s.work / str(j) / "attempt1.status.json"
    synth.wait_for(lambda: json.loads(st.read_text()).get("state") == "timeout" if st.exists() else False, 30)
    procs.worker("1G")
    job = synth.wait_state(j, timeout=60)
    assert job.state == "timeout" and job.attempts == 1, job
    assert "no worker ran" in job.reason
    assert not (s.work / str(j) / "attempt2").exists()


def test_a_report_parser_reading_a_sparse_3g_file_whole_is_confined(home, tmp_path, procs):
    prj = script_project(tmp_path, "sparse", "mkdir -p tb_data && truncate -s 3G tb_data/csim_results.log\n")
    j = synth.submit_local(prj)["id"]
    w = procs.worker("1G")
    job = synth.wait_state(j, timeout=120)
    assert job.state == "succeeded" and job.attempts == 1, job
    s = synth.settings()
    summary = json.loads((s.work / str(j) / "summary.json").read_text())
    assert "could not parse" in summary.get("error", ""), summary
    assert w.poll() is None


def test_only_the_jobs_own_outcomes_are_read_back(tmp_path):
    """oom, timeout, limits and exit codes are the job's; 'no worker took it over' and a stopping worker's
    SIGTERM are not: those runs go again."""
    from l1ml.synth.job import Job
    from l1ml.synth.settings import Settings
    from l1ml.synth.worker import decided, status_path

    s = Settings(home=tmp_path)
    job = Job(id=7, user="u", step="csim", state="running", memory=1, attempts=2, handle={"supervisor": True})
    path = status_path(s, job)
    path.parent.mkdir(parents=True)

    def with_status(**st):
        path.write_text(json.dumps(st))
        return decided(s, job)

    assert with_status(state="running") is None
    assert with_status(state="timeout", reason="ran past", orphaned=True).state == "timeout"
    assert with_status(state="pids", reason="x").state == "pids"
    assert with_status(state="failed", exit_code=2).exit_code == 2
    assert with_status(state="failed", lost=True, orphaned=True) is None
    assert with_status(state="cancelled") is None
    job.cancel_requested = True
    assert with_status(state="cancelled").state == "cancelled"
    job.handle = {}  # a batch system's run: its own dispatcher adopts it
    assert with_status(state="timeout") is None
