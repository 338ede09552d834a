"""A run its dispatcher cannot start fails that one job, with the reason, once; the worker goes on."""

import json
import tarfile

from synth_helpers import job, make_project, settings, submit_local

from l1ml.synth.dispatch.local import LocalDispatcher
from l1ml.synth.worker import Worker, result_path


class RefusesOne(LocalDispatcher):
    """The local dispatcher, except that starting one given job raises what a broken dispatcher might."""

    def __init__(self, settings, refuse: int):
        super().__init__(settings)
        self.refuse = refuse

    def start(self, launch):
        if launch.job.id == self.refuse:
            raise RuntimeError("the batch client crashed")
        return super().start(launch)


def test_error_from_start_fails_that_job_and_the_worker_goes_on(home, tmp_path):
    prj = make_project(tmp_path)
    bad = submit_local(prj)["id"]
    good = submit_local(prj)["id"]
    s = settings()
    w = Worker(s, budget=1024**3, poll=0.02, dispatcher=RefusesOne(s, bad))
    w.run(until=lambda: job(good).finished)
    b = job(bad)
    assert b.state == "failed" and b.attempts == 1, b  # failed once, never requeued
    assert b.reason == "could not start the run: RuntimeError: the batch client crashed"
    assert job(good).state == "succeeded"
    with tarfile.open(result_path(s, bad)) as tar:  # fetch has the reason too
        summary = json.load(tar.extractfile("summary.json"))
        assert summary["state"] == "failed" and "batch client crashed" in summary["reason"]
        assert "batch client crashed" in tar.extractfile("job.log").read().decode()
