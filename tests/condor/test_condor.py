"""The HTCondor dispatcher up to the schedd: the submit description it builds, the state mapping on job
ads, and its start/poll/cancel/adopt flow against a stand-in schedd that answers with those ads.

No HTCondor pool can run on these machines, so none was part of the test run. The ads in job_ads.json are
written by hand in `condor_q -json` form, from the HTCondor manual's job attributes and hold codes; they are
not captured from a live pool.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path, PurePosixPath

import pytest

from l1ml.errors import ConfigError, ToolNotFound
from l1ml.synth.dispatch import Launch, Pending
from l1ml.synth.dispatch.condor import (
    TIMEOUT_SUBCODE,
    CondorConfig,
    CondorDispatcher,
    ad_status,
    load_bindings,
    submit_description,
)
from l1ml.synth.job import Job
from l1ml.synth.settings import Settings

M = 1024**2
ADS = json.loads((Path(__file__).parent / "job_ads.json").read_text())


def describe(memory=4 * 1024 * M, timeout=3600.0, extra=None):
    node = PurePosixPath("/eos/cms/l1ml/queue/work/7/attempt1")
    return submit_description(
        "l1ml-3fa2c1-7-a1",
        "3fa2c1",
        node / ".l1ml-batch" / "l1ml-3fa2c1-7-a1.sh",
        node,
        node / ".l1ml-batch",
        memory,
        timeout,
        2,
        extra,
    )


def test_submit_description_carries_memory_cpus_and_time_limit():
    d = describe(memory=4 * 1024 * M + 1, timeout=5400.5)
    assert d["request_memory"] == "4097"  # MiB, rounded up
    assert d["request_cpus"] == "2"
    assert d["periodic_hold"] == "(JobStatus == 2) && (time() - JobCurrentStartDate > 5401)"
    assert d["periodic_hold_subcode"] == str(TIMEOUT_SUBCODE)
    assert d["periodic_hold_reason"] == '"l1ml: ran past its timeout of 5401 s"'
    assert (
        d["periodic_remove"]
        == f"(JobStatus == 5) && (HoldReasonCode == 3) && (HoldReasonSubCode == {TIMEOUT_SUBCODE})"
    )
    assert d["should_transfer_files"] == "NO" and d["initialdir"] == "/eos/cms/l1ml/queue/work/7/attempt1"
    assert d["arguments"] == "\"'/eos/cms/l1ml/queue/work/7/attempt1/.l1ml-batch/l1ml-3fa2c1-7-a1.sh'\""
    assert d["+L1mlName"] == '"l1ml-3fa2c1-7-a1"' and d["+L1mlQueue"] == '"3fa2c1"'
    assert describe(extra={"+JobFlavour": '"workday"'})["+JobFlavour"] == '"workday"'


@pytest.mark.parametrize(
    "key, state, exit_code, words",
    [
        ("idle", "queued", None, "no match found"),
        ("running", "running", None, ""),
        ("transferring", "running", None, ""),
        ("suspended", "running", None, "suspended"),
        ("completed_ok", "succeeded", 0, ""),
        ("completed_exit3", "failed", 3, "exited with code 3"),
        ("completed_signal", "failed", None, "SIGSEGV"),
        ("held_memory", "oom", None, "gone over cgroup memory limit of 4096 megabytes"),
        ("held_system_memory", "oom", None, "SYSTEM_PERIODIC_HOLD"),
        ("held_timeout", "timeout", None, "ran past its timeout of 3600 s"),
        ("held_duration", "timeout", None, "allowed execute duration"),
        ("removed_after_timeout", "timeout", None, "ran past its timeout"),
        ("removed_by_user", "cancelled", None, "via condor_rm (by user alice)"),
        ("held_by_user", "queued", None, "runs again once released"),
        ("held_transfer", "failed", None, "HoldReasonCode 14"),
    ],
)
def test_job_ads_map_to_our_states(key, state, exit_code, words):
    s = ad_status(ADS[key], 4096 * M)
    assert (s.state, s.exit_code) == (state, exit_code), s
    assert words in s.reason


def test_peak_memory_comes_from_the_ad():
    assert ad_status(ADS["held_memory"], 4096 * M).peak_memory == 4209664 * 1024
    assert ad_status(ADS["idle"], 4096 * M).peak_memory is None  # MemoryUsage is an expression there


def test_settings_are_checked(tmp_path):
    cfg = CondorConfig.from_table(
        {"schedd": "bigbird42.cern.ch", "submit": {"+JobFlavour": '"workday"'}}, tmp_path
    )
    assert cfg.schedd == "bigbird42.cern.ch" and cfg.submit == {"+JobFlavour": '"workday"'}
    with pytest.raises(ConfigError, match="unknown key.*scheed"):
        CondorConfig.from_table({"scheed": "x"}, tmp_path)
    with pytest.raises(ConfigError, match="request_memory, which l1ml sets"):
        CondorConfig.from_table({"submit": {"request_memory": "100"}}, tmp_path)


def test_missing_bindings_name_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "htcondor2", None)
    monkeypatch.setitem(sys.modules, "htcondor", None)
    with pytest.raises(ToolNotFound, match="pip install htcondor"):
        load_bindings()


# --- with the real bindings: their Submit and ClassAd language, a stand-in schedd -------------------------


@pytest.fixture
def htcondor():
    return pytest.importorskip(
        "htcondor2", reason="the htcondor bindings are not installed (pip install htcondor)"
    )


def test_the_bindings_accept_the_description_and_its_policy_works(htcondor):
    import classad2

    d = describe(timeout=60)
    sub = htcondor.Submit(d)
    assert sub["request_memory"] == "4096" and sub["periodic_hold_subcode"] == str(TIMEOUT_SUBCODE)
    hold = classad2.ExprTree(d["periodic_hold"])
    now = int(time.time())
    assert hold.eval(classad2.ClassAd({"JobStatus": 2, "JobCurrentStartDate": now - 61})) is True
    assert hold.eval(classad2.ClassAd({"JobStatus": 2, "JobCurrentStartDate": now - 10})) is False
    assert hold.eval(classad2.ClassAd({"JobStatus": 1, "JobCurrentStartDate": now - 600})) is False
    remove = classad2.ExprTree(d["periodic_remove"])
    assert (
        remove.eval(classad2.ClassAd({"JobStatus": 5, "HoldReasonCode": 3, "HoldReasonSubCode": 61})) is True
    )
    assert (
        remove.eval(classad2.ClassAd({"JobStatus": 5, "HoldReasonCode": 34, "HoldReasonSubCode": 102}))
        is False
    )


class StandInSchedd:
    """Answers as a schedd would, evaluating constraints with the real ClassAd library; jobs move through
    the states a test sets."""

    def __init__(self):
        import classad2

        self.classad = classad2
        self.queue: dict[str, dict] = {}
        self.history_ads: dict[str, dict] = {}
        self.submitted: list = []
        self.removed: list = []
        self.next_cluster = 900

    def submit(self, sub, count=1):
        self.next_cluster += 1
        self.submitted.append(sub)
        name = sub["MY.L1mlName"].strip('"')
        self.queue[f"{self.next_cluster}.0"] = {
            "ClusterId": self.next_cluster,
            "ProcId": 0,
            "JobStatus": 1,
            "L1mlName": name,
            "L1mlQueue": sub["MY.L1mlQueue"].strip('"'),
        }
        cluster = self.next_cluster
        return type("SubmitResult", (), {"cluster": lambda self: cluster})()

    def _match(self, ads, constraint):
        expr = self.classad.ExprTree(constraint)
        return [a for a in ads if expr.eval(self.classad.ClassAd(a)) is True]

    def query(self, constraint, projection):
        return self._match(self.queue.values(), constraint)

    def history(self, constraint, projection, match):
        return self._match(self.history_ads.values(), constraint)[:match]

    def act(self, action, ids, reason):
        self.removed += ids
        for i in ids:
            if i in self.queue:
                ad = self.queue.pop(i)
                self.history_ads[i] = {
                    **ad,
                    "JobStatus": 3,
                    "RemoveReason": f"via condor_rm (by user alice): {reason}",
                }

    def finish(self, cid: str, recorded: dict) -> None:
        ad = self.queue.pop(cid)
        self.history_ads[cid] = {
            **recorded,
            "ClusterId": ad["ClusterId"],
            "ProcId": 0,
            "L1mlName": ad["L1mlName"],
            "L1mlQueue": ad["L1mlQueue"],
        }


@pytest.fixture
def condor(htcondor, tmp_path):
    settings = Settings(
        home=tmp_path / "queue", condor={"poll": 0, "cpus": 2, "submit": {"+JobFlavour": '"workday"'}}
    )
    schedd = StandInSchedd()
    return CondorDispatcher(settings, schedd=schedd), schedd, settings


def launch(settings, job_id, memory=300 * M, timeout=900.0):
    job = Job(
        id=job_id, user="alice", step="csim", state="running", memory=memory, timeout=timeout, attempts=1
    )
    wdir = settings.work / str(job_id) / "attempt1"
    (wdir / "src").mkdir(parents=True)
    (wdir / "run.sh").write_text("true\n")
    return Launch(job, wdir, wdir / "run.sh", settings.work / str(job_id) / "job.log", memory, timeout)


def test_start_poll_and_finish(condor):
    d, schedd, settings = condor
    la = launch(settings, 7)
    handle = d.start(la)
    assert handle["condor_id"] == "901.0" and not handle["error"]
    sub = schedd.submitted[0]
    assert (
        sub["request_memory"] == "300" and sub["request_cpus"] == "2" and sub["MY.JobFlavour"] == '"workday"'
    )
    assert sub["initialdir"] == str(la.workdir)  # shared filesystem: the same path on the nodes
    wrapper = (la.workdir / ".l1ml-batch" / f"{handle['name']}.sh").read_text()
    assert f"exec >>{la.log} 2>&1" in wrapper and f"bash {la.script}" in wrapper
    # Idle in the schedd is not running: the worker shows it as queued there.
    assert d.poll(la.job, handle) == Pending("condor idle")
    schedd.queue["901.0"].update(JobStatus=5, HoldReasonCode=1, HoldReason="via condor_hold (by user alice)")
    assert d.poll(la.job, handle) == Pending(
        "condor held (via condor_hold (by user alice); it runs again once released)"
    )
    schedd.queue["901.0"].update(JobStatus=2, ResidentSetSize_RAW=204800)
    assert d.poll(la.job, handle) is None and d.peak(la.job, handle) == 204800 * 1024
    schedd.finish("901.0", ADS["completed_exit3"])
    out = d.poll(la.job, handle)
    assert (out.state, out.exit_code) == ("failed", 3)


def test_held_for_memory_is_oom_and_the_held_job_is_removed(condor):
    d, schedd, settings = condor
    la = launch(settings, 8, memory=4096 * M)
    handle = d.start(la)
    schedd.queue["901.0"].update(
        {k: v for k, v in ADS["held_memory"].items() if k.startswith(("Hold", "Job", "Res"))}
    )
    out = d.poll(la.job, handle)
    assert out.state == "oom" and out.peak_memory == 4209664 * 1024
    assert schedd.removed == ["901.0"]


def test_cancel_removes_and_reports_the_requested_state(condor):
    d, schedd, settings = condor
    la = launch(settings, 9)
    handle = d.start(la)
    d.cancel(la.job, handle, "cancelled", "cancelled by its user")
    assert schedd.removed == ["901.0"]
    out = d.poll(la.job, handle)
    assert (out.state, out.reason) == ("cancelled", "cancelled by its user")


def test_restarted_worker_adopts_by_name_and_never_resubmits(condor):
    d, schedd, settings = condor
    la = launch(settings, 10)
    d.start(la)
    # A new worker with an empty handle (the old one died before storing it) finds the job by its name.
    fresh = CondorDispatcher(settings, schedd=schedd)
    assert fresh.adopt(la.job, {}) is True
    schedd.finish("901.0", ADS["completed_ok"])
    assert fresh.poll(la.job, {}).state == "succeeded"
    assert len(schedd.submitted) == 1
    never = Job(id=11, user="alice", step="csim", state="running", memory=M, attempts=1)
    assert fresh.adopt(never, {}) is False


def test_refused_submission_fails_the_run(condor):
    d, schedd, settings = condor

    def refuse(sub, count=1):
        raise RuntimeError("Submit requirement AcctGroupCheck evaluated to false")

    schedd.submit = refuse
    la = launch(settings, 12)
    handle = d.start(la)
    out = d.poll(la.job, handle)
    assert out.state == "failed" and "AcctGroupCheck" in out.reason
