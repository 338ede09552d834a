"""The Slurm dispatcher on its own against the real single-node Slurm: the cases a queue run does not reach
easily. A worker that died between sbatch and recording the id; a job Slurm has purged; sbatch refusing."""

from __future__ import annotations

import pytest
from slurm_helpers import scontrol_job, synth

from l1ml.synth.dispatch import Launch, Outcome
from l1ml.synth.dispatch.slurm import SlurmDispatcher
from l1ml.synth.job import Job
from l1ml.synth.settings import Settings

pytestmark = pytest.mark.slurm
M = 1024**2


def launch(
    settings: Settings, job_id: int, body: str, memory: int = 100 * M, timeout: float = 120.0
) -> Launch:
    job = Job(id=job_id, user="u", step="csim", state="running", memory=memory, timeout=timeout, attempts=1)
    wdir = settings.work / str(job_id) / "attempt1"
    (wdir / "src").mkdir(parents=True)
    script = wdir / "run.sh"
    script.write_text(body)
    return Launch(job, wdir, script, settings.work / str(job_id) / "job.log", memory, timeout)


def poll_until_end(d: SlurmDispatcher, job: Job, handle: dict, timeout: float = 60.0):
    return synth.wait_for(
        lambda: isinstance(out := d.poll(job, handle), Outcome) and out, timeout, 0.2, f"job {job.id} to end"
    )


@pytest.fixture
def settings(slurm_conf, tmp_path) -> Settings:
    return Settings(home=tmp_path / "queue", slurm={"poll": 0.2})


def test_run_whose_id_was_never_recorded_is_adopted_not_resubmitted(settings):
    first = SlurmDispatcher(settings)
    la = launch(settings, 1, "sleep 3\necho adopted-run\n")
    handle = first.start(la)
    assert handle["slurm_id"].isdigit()
    # The worker died before storing the handle: a new worker sees the running job with an empty one.
    second = SlurmDispatcher(settings)
    assert second.adopt(la.job, {}) is True
    out = poll_until_end(second, la.job, {})
    assert out.state == "succeeded", out
    assert second.find(first.job_name(la.job)) == [handle["slurm_id"]]  # one Slurm job, not two
    assert "adopted-run" in la.log.read_text()


def test_run_that_never_reached_slurm_is_not_adopted(settings):
    d = SlurmDispatcher(settings)
    job = Job(id=99, user="u", step="csim", state="running", memory=M, attempts=1)
    assert d.adopt(job, {}) is False  # so the worker requeues it


def test_purged_job_ends_from_the_files_it_left(settings):
    d = SlurmDispatcher(settings)
    la = launch(settings, 2, "true\n")
    # A Slurm id Slurm no longer knows (purged after MinJobAge, no accounting): the exit code the wrapper
    # left on the shared filesystem is the answer.
    name = d.job_name(la.job)
    handle = {
        "name": name,
        "slurm_id": "999999",
        "workdir": str(la.workdir),
        "log": str(la.log),
        "memory": la.memory,
    }
    status = la.workdir / ".l1ml-batch" / f"{name}.exit"
    status.parent.mkdir(parents=True)
    status.write_text("0\n")
    assert poll_until_end(d, la.job, handle).state == "succeeded"
    status.unlink()
    out = poll_until_end(SlurmDispatcher(settings), la.job, handle)
    assert out.state == "failed" and "no longer knows job 999999" in out.reason


def test_sbatch_refusal_fails_the_run_with_slurms_words(settings):
    d = SlurmDispatcher(settings)
    la = launch(settings, 3, "true\n", memory=64 * 1024**4)  # 64T: more than the node has
    handle = d.start(la)
    assert handle["error"].startswith("sbatch failed:")
    out = d.poll(la.job, handle)
    assert out.state == "failed" and "sbatch failed" in out.reason


def test_cancel_before_it_runs_and_peak_while_it_runs(settings):
    d = SlurmDispatcher(settings)
    la = launch(
        settings, 4, "python3 -c 'import time; a = bytearray(60 << 20); time.sleep(30)'\n", memory=300 * M
    )
    handle = d.start(la)
    synth.wait_for(
        lambda: d.poll(la.job, handle) is None and scontrol_job(handle["slurm_id"])["JobState"] == "RUNNING",
        30,
        0.2,
        "the job to run",
    )
    # sstat is asked at most every 5 s; jobacct_gather samples every second.
    peak = synth.wait_for(
        lambda: (d.peak(la.job, handle) or 0) > 50 * M and d.peak(la.job, handle),
        20,
        0.5,
        "sstat to report the 60M the job holds",
    )
    assert peak < 300 * M
    d.cancel(la.job, handle, "cancelled", "cancelled by its user")
    out = poll_until_end(d, la.job, handle, 30)
    assert (out.state, out.reason) == ("cancelled", "cancelled by its user")


def test_work_dir_outside_shared_fails_that_job_not_the_worker(slurm_conf, tmp_path, monkeypatch):
    from l1ml.synth.settings import load_settings
    from l1ml.synth.worker import Worker

    monkeypatch.setenv("L1ML_SYNTH_HOME", str(tmp_path / "queue"))
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("L1ML_SYNTH_WORK", raising=False)
    jid = synth.submit_local(synth.make_project(tmp_path / "projects"))["id"]
    # A real misconfiguration: start() raises (before anything reaches sbatch) instead of returning.
    s = load_settings(dispatcher="slurm", slurm={"shared": str(tmp_path / "eos")})
    w = Worker(s, budget=1024**3, poll=0.02)
    try:
        w.step()
        j = synth.job(jid)
        assert j.state == "failed" and j.attempts == 1, j
        assert "is not inside the shared directory" in j.reason and "Set 'work'" in j.reason
        assert not w.active and not w.dispatcher._runs
    finally:
        w.store.close()
