"""The local queue with real worker processes, a real SQLite file and real jobs (g++ testbenches, GHDL)."""

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
from synth_helpers import cli, job, make_project, settings, submit_local, wait_for, wait_state

M = 1024**2


def writable_marks(tmp_path: Path) -> Path:
    """A directory the jobs may write their marks to: the sandbox makes everything else read-only."""
    d = tmp_path / "marks.d"
    d.mkdir()
    (tmp_path / "synth.toml").write_text(f'sandbox_writable = ["{d}"]\n')
    return d


def job_processes(home: Path) -> list[psutil.Process]:
    """Every process running in a queue work directory (supervisors and their jobs), as the host sees them."""
    out = []
    for p in psutil.process_iter():
        try:
            if p.cwd().startswith(str(home)) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_concurrent_submitters_get_distinct_ids(home, tmp_path):
    prj = make_project(tmp_path)
    # Eight CLI processes at once, plus four processes each submitting ten jobs through the library.
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from synth_helpers import submit_local;"
        f"[submit_local({str(prj)!r}) for _ in range(10)]"
    )
    lib = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        outs = list(
            pool.map(
                lambda _: cli(
                    "submit", "-p", str(prj), "-m", "v1", "--step", "csim", "--memory", "200M", "--json"
                ),
                range(8),
            )
        )
    assert all(p.wait(120) == 0 for p in lib)
    ids = [json.loads(o.stdout)["id"] for o in outs]
    from l1ml.synth.store import Store

    jobs = Store(settings().db).list()
    assert len(jobs) == 48 and len({j.id for j in jobs}) == 48 and set(ids) <= {j.id for j in jobs}
    assert all(j.state == "queued" and j.memory == 200 * M for j in jobs)
    assert all((settings().archives / f"{j.id}.tar.gz").is_file() for j in jobs)


def test_memory_admission_from_recorded_times(home, tmp_path, procs):
    prj = make_project(tmp_path, sleep_ms=800)
    # Each job (g++ and the csim of a tiny project) peaks at 75-80M: the smallest declaration is 150M.
    ids = [submit_local(prj, memory=m)["id"] for m in ("300M", "300M", "450M", "150M", "300M", "150M")]
    procs.worker("675M")
    for i in ids:
        assert wait_state(i).state == "succeeded", job(i)
    from l1ml.synth.store import Store

    runs = Store(settings().db).runs()
    assert len(runs) == len(ids)
    # At every start, the runs alive at that instant fit the budget.
    peak_sum = 0
    for r in runs:
        t = r["started_at"]
        alive = [x for x in runs if x["started_at"] <= t < x["ended_at"]]
        peak_sum = max(peak_sum, sum(x["memory"] for x in alive))
        assert sum(x["memory"] for x in alive) <= 675 * M
    assert peak_sum > 450 * M  # and jobs did run side by side


def test_job_over_its_memory_is_killed_and_its_neighbour_survives(home, tmp_path, procs):
    hog = make_project(tmp_path, "hog", alloc_mb=400, sleep_ms=10_000)
    ok = make_project(tmp_path, "ok", sleep_ms=2000)
    h = submit_local(hog, memory="200M")["id"]
    o = submit_local(ok, memory="200M")["id"]
    procs.worker("1G")
    hj = wait_state(h)
    from l1ml.synth.dispatch.local import cgroup_parent

    assert hj.state == "oom" and "200M" in hj.reason
    if (
        cgroup_parent() is None
    ):  # the RSS watchdog saw it go over; under memory.max the kernel stops it at 200M
        assert hj.peak_memory > 200 * M and "over its declared 200M" in hj.reason
    assert hj.ended_at - hj.started_at < 8  # killed, not left to finish its sleep
    assert wait_state(o).state == "succeeded"
    r = cli("status", str(h), "--json")
    d = json.loads(r.stdout)
    assert d["state"] == "oom" and d["memory"] == 200 * M and d["peak_memory"] > 0


def test_timeout_and_cancel_kill_the_whole_process_group(home, tmp_path, procs):
    marks = writable_marks(tmp_path)
    mark_t, mark_c = marks / "t.marks", marks / "c.marks"
    slow_t = make_project(tmp_path, "slow_t", sleep_ms=60_000, mark=str(mark_t))
    slow_c = make_project(tmp_path, "slow_c", sleep_ms=60_000, mark=str(mark_c))
    t = submit_local(slow_t, timeout="4s")["id"]
    c = submit_local(slow_c, timeout="10m")["id"]
    queued = submit_local(slow_c, memory="900M")["id"]  # does not fit beside the others: stays queued
    procs.worker("1G")
    wait_for(lambda: mark_c.exists() and mark_t.exists(), 30, what="both testbenches to start")
    family = job_processes(home)  # seen from the host: the job may run in its own PID namespace
    assert family
    # The queued one first: once the 4 s job times out and c is cancelled, it would fit and start.
    assert "cancelled" in cli("cancel", str(queued)).stdout
    out = cli("cancel", str(c))
    assert "cancel requested" in out.stdout
    jc = wait_state(c)
    assert jc.state == "cancelled" and "cancelled" in jc.reason
    jt = wait_state(t)
    assert jt.state == "timeout" and "timeout of 4s" in jt.reason
    wait_for(lambda: not job_processes(home), 5, what="every process of both jobs to be gone")
    assert not any(_alive(p) for p in family)
    assert "end" not in mark_c.read_text() and "end" not in mark_t.read_text()
    assert job(queued).state == "cancelled" and job(queued).started_at is None


def test_worker_killed_mid_job_then_restarted(home, tmp_path, procs):
    mark = writable_marks(tmp_path) / "marks"  # before the worker starts: it reads the settings once
    done_prj = make_project(tmp_path, "quick")
    first = submit_local(done_prj)["id"]
    w1 = procs.worker("1G")
    assert wait_state(first).state == "succeeded"
    result = settings().work / str(first) / "result.tar.gz"
    before = result.read_bytes()

    slow = make_project(tmp_path, "slow", sleep_ms=3000, mark=str(mark))
    retried = submit_local(slow)["id"]
    once = submit_local(slow, max_attempts=1)["id"]
    wait_for(lambda: mark.exists() and mark.read_text().count("start") == 2, 30, what="both testbenches")
    orphans = [p.pid for p in job_processes(home)]  # host pids of both runs: supervisors and jobs
    w1.send_signal(signal.SIGKILL)
    w1.wait()
    assert all(psutil.pid_exists(p) for p in orphans)  # the jobs outlived their worker...

    procs.worker("1G")
    assert wait_state(retried).state == "succeeded"
    j = job(retried)
    assert j.attempts == 2 and j.exit_code == 0
    f = job(once)
    assert f.state == "failed" and "gave up after 1 attempt" in f.reason
    for p in orphans:  # ...until the restarted worker reaped them
        assert not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE

    from l1ml.synth.store import Store

    runs = [r for r in Store(settings().db).runs() if r["job_id"] == retried]
    assert [r["outcome"] for r in runs] == ["lost", "succeeded"]
    assert runs[0]["ended_at"] <= runs[1]["started_at"]  # never two runs of one job at once
    lines = mark.read_text().splitlines()
    assert sum(x.startswith("start") for x in lines) == 3 and sum(x.startswith("end") for x in lines) == 1
    assert result.read_bytes() == before and job(first).state == "succeeded"  # finished results intact


@pytest.mark.ghdl
def test_rtlsim_runs_ghdl_and_a_failing_testbench_fails(home, tmp_path, procs):
    if not subprocess.run(["which", "ghdl"], capture_output=True).returncode == 0:
        pytest.fail("ghdl is not installed; apt-get install ghdl (CI installs it)")
    good = make_project(tmp_path, "good", vhdl=True)
    from synth_helpers import make_vhdl

    bad = make_project(tmp_path, "bad")
    make_vhdl(bad / "build" / "firmware" / "v1" / "conifer_vhdl", fail=True)
    g = submit_local(good, step="rtlsim")["id"]
    b = submit_local(bad, step="rtlsim")["id"]
    procs.worker("1G")
    assert wait_state(g).state == "succeeded"
    jb = wait_state(b)
    assert jb.state == "failed" and jb.exit_code not in (0, None)
    assert "BDT output mismatch" in cli("logs", str(b)).stdout
    out = tmp_path / "out"
    cli("fetch", str(g), "--out", str(out))
    summary = json.loads((out / f"job-{g}" / "summary.json").read_text())
    assert summary["state"] == "succeeded" and summary["commands"][-1]["argv"][1] == "-r"


def test_csim_fetch_logs_and_failing_testbench(home, tmp_path, procs):
    prj = make_project(tmp_path, "ok", sleep_ms=1500)
    bad = make_project(tmp_path, "bad", exit_code=3)
    procs.worker("1G")
    jid = json.loads(
        cli("submit", "-p", str(prj), "-m", "v1", "--step", "csim", "--memory", "200M", "--json").stdout
    )["id"]
    bid = submit_local(bad)["id"]
    followed = cli("logs", str(jid), "--follow")  # returns once the job has ended
    assert "testbench done" in followed.stdout and "+ (cd hls4ml) /" in followed.stdout
    assert job(jid).state == "succeeded"
    out = tmp_path / "out"
    cli("fetch", str(jid), "--out", str(out))
    d = out / f"job-{jid}"
    summary = json.loads((d / "summary.json").read_text())
    assert summary["csim_outputs"] == 6 and summary["exit_code"] == 0 and summary["peak_memory"] > 0
    assert (d / "files" / "hls4ml" / "tb_data" / "csim_results.log").read_text().split()[:2] == ["3", "5"]
    jb = wait_state(bid)
    assert jb.state == "failed" and jb.exit_code == 3 and "code 3" in jb.reason
    listing = json.loads(cli("list", "--json").stdout)
    assert {x["id"] for x in listing} == {jid, bid}
    assert {
        "id",
        "user",
        "step",
        "state",
        "memory",
        "peak_memory",
        "started_at",
        "ended_at",
        "exit_code",
        "reason",
    } <= set(listing[0])


def test_missing_vendor_tool_fails_at_once_and_names_it(home, tmp_path, procs):
    prj = make_project(tmp_path)
    env = {"PATH": "/usr/bin:/bin"}
    r = cli("submit", "-p", str(prj), "-m", "v1", "--step", "csynth", check=False, env=env)
    assert r.returncode == 2 and "vitis-run or vitis_hls" in r.stderr and "L1ML_VITIS_RUN" in r.stderr
    assert "Traceback" not in r.stderr
    # Submitted from elsewhere (a client does not check the build host's tools), the worker fails it at once.
    from l1ml.project import load_project
    from l1ml.synth.client import LocalClient, package

    arc, params = package(load_project(prj), "v1", "vsynth", "1G", "1h", check_tools=False)
    jid = LocalClient(settings()).submit(arc, params)["id"]
    os.unlink(arc)
    procs.worker("2G")
    j = wait_state(jid, timeout=20)
    assert j.state == "failed" and "vitis-run or vitis_hls" in j.reason and j.exit_code is None
    assert j.ended_at - j.started_at < 5


def test_bad_input_gives_one_line_errors(home, tmp_path):
    prj = make_project(tmp_path)
    cases = [
        (("submit", "-p", str(prj), "-m", "v1", "--step", "synth"), "unknown step 'synth'"),
        (("submit", "-p", str(prj), "-m", "v1", "--step", "csim", "--memory", "32Q"), "memory '32Q'"),
        (("submit", "-p", str(prj), "-m", "v9", "--step", "csim"), "no firmware at"),
        (("submit", "-p", str(prj), "-m", "v1", "--step", "rtlsim"), "conifer VHDL project"),
        (("status", "12345"), "no job 12345"),
        (("status", "1", "--server", "http://127.0.0.1:9", "--token", "x"), "cannot reach"),
    ]
    for args, msg in cases:
        r = cli(*args, check=False)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_l1ml_synth_through_the_main_cli_and_a_job_too_big_for_any_worker(home, tmp_path, procs):
    prj = make_project(tmp_path)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "l1ml.cli.main",
            "synth",
            "submit",
            "-p",
            str(prj),
            "-m",
            "v1",
            "--step",
            "csim",
            "--memory",
            "5G",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    jid = json.loads(r.stdout)["id"]
    assert "no worker is running" in json.loads(cli("status", str(jid), "--json").stdout)["reason"]
    procs.worker("1G")
    wait_for(
        lambda: "largest 1G" in json.loads(cli("status", str(jid), "--json").stdout)["reason"],
        20,
        what="the reason to name the budget",
    )
    assert job(jid).state == "queued"


def test_a_damaged_archive_fails_its_job_and_the_worker_goes_on(home, tmp_path, procs):
    prj = make_project(tmp_path)
    bad = submit_local(prj)["id"]
    arc = settings().archives / f"{bad}.tar.gz"
    arc.write_bytes(arc.read_bytes()[: arc.stat().st_size // 2])  # e.g. a disk error after acceptance
    good = submit_local(prj)["id"]
    procs.worker("1G")
    jb = wait_state(bad)
    assert jb.state == "failed" and "not a readable tar archive" in jb.reason
    assert wait_state(good).state == "succeeded"


def test_two_workers_never_run_one_job_twice(home, tmp_path, procs):
    prj = make_project(tmp_path, sleep_ms=300)
    ids = [submit_local(prj)["id"] for _ in range(8)]
    procs.worker("400M")  # two jobs at a time each, so the second worker surely gets some
    procs.worker("400M")
    for i in ids:
        assert wait_state(i).state == "succeeded"
    from l1ml.synth.store import Store

    runs = Store(settings().db).runs()
    assert sorted(r["job_id"] for r in runs) == sorted(ids)  # one run per job
    assert len({r["worker"] for r in runs}) == 2  # and both workers took some


HLS4ML_PROJECT = """
import sys
import numpy as np
import hls4ml
import tensorflow as tf

tf.random.set_seed(0)
layers = tf.keras.layers
m = tf.keras.Sequential([layers.Dense(4, input_shape=(8,), activation="relu"), layers.Dense(1)])
x = np.random.default_rng(0).random((10, 8)).astype("float32")
np.savetxt(sys.argv[2], x)
np.savetxt(sys.argv[3], m.predict(x, verbose=0))
cfg = hls4ml.utils.config_from_keras_model(m, granularity="model")
h = hls4ml.converters.convert_from_keras_model(
    m, hls_config=cfg, output_dir=sys.argv[1], backend="Vitis", part="xcvu9p-flga2104-2L-e",
    input_data_tb=sys.argv[2], output_data_tb=sys.argv[3],
)
h.write()
"""


@pytest.mark.slow
def test_csim_on_a_real_hls4ml_project(home, tmp_path, procs):
    """The csim command line on what hls4ml really writes (made here with hls4ml, not `l1ml convert`)."""
    prj = make_project(tmp_path, "real")
    hls = prj / "build" / "firmware" / "v1" / "hls4ml"
    import shutil

    shutil.rmtree(hls)
    script = tmp_path / "make_hls4ml.py"
    script.write_text(HLS4ML_PROJECT)
    r = subprocess.run(
        [sys.executable, str(script), str(hls), str(tmp_path / "x.dat"), str(tmp_path / "y.dat")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    jid = submit_local(prj, memory="2G")["id"]
    procs.worker("4G")
    j = wait_state(jid, timeout=240)
    assert j.state == "succeeded", cli("logs", str(jid)).stdout
    assert any("-DWEIGHTS_DIR" in a for a in j.commands[0]["argv"])
    results = settings().work / str(jid) / "attempt1" / "src" / "hls4ml" / "tb_data" / "csim_results.log"
    got = np.loadtxt(results)
    want = np.loadtxt(tmp_path / "y.dat")
    assert got.shape == want.shape == (10,)
    assert np.allclose(got, want, atol=0.1)  # ap_fixed<16,6> against float


def test_worker_drain_runs_what_fits_then_exits(home, tmp_path):
    """`worker --drain` (CI's way to run a queue to its end) exits 0 once nothing it could run is left;
    a job larger than its budget stays queued for a bigger worker."""
    ok = submit_local(make_project(tmp_path, "ok"))["id"]
    bad = submit_local(make_project(tmp_path, "bad", exit_code=3))["id"]
    big = submit_local(make_project(tmp_path, "big"), memory="64G")["id"]
    r = cli("worker", "--memory-budget", "1G", "--drain", "--poll", "0.05")
    assert r.returncode == 0
    assert (job(ok).state, job(bad).state, job(big).state) == ("succeeded", "failed", "queued")
