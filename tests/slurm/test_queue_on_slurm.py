"""The queue with dispatcher = "slurm" against a real single-node Slurm: csim jobs submitted with
`l1ml synth submit` through the HTTP server, run by sbatch, followed by squeue/scontrol, cancelled with
scancel, and taken over by a new server and worker after both were killed mid-run.

One scenario for the session (tests/slurm/conftest.py): the Slurm time limit cannot be shorter than a
minute, so the timeout job runs beside everything else in tests/slurm and its test
(test_time_limit.py) comes last.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
from slurm_helpers import END, scontrol_job, synth

pytestmark = pytest.mark.slurm
M = 1024**2


def test_slurm_gets_the_declared_memory_and_time(scenario):
    for key, memory, minutes in (
        ("timeout", 200, 1),
        ("cancel", 200, 10),
        ("long", 300, 10),
        ("oom", 150, 10),
        ("later", 250, 10),
    ):
        fields = scontrol_job(scenario.slurm_id(key))
        assert fields["MinMemoryNode"] == f"{memory}M", (key, fields)
        assert f"mem={memory}M" in fields["TRES"]
        assert fields["TimeLimit"] == f"00:{minutes:02d}:00", (key, fields["TimeLimit"])
        assert fields["JobName"].endswith(f"-{scenario.ids[key]}-a1")
        assert scenario.job(key).memory == memory * M


def test_waiting_in_slurm_is_shown_as_queued_there(scenario):
    # The node's two CPUs are taken, so "later" waits in Slurm; a hold makes sure it keeps waiting.
    sid = scenario.slurm_id("later")
    subprocess.run(["scontrol", "hold", sid], capture_output=True, check=True)
    try:
        synth.wait_for(
            lambda: scenario.job("later").pending.startswith("slurm pending (JobHeld"), 30, 0.1, "the hold"
        )
        args = ("--server", scenario.url, "--token", scenario.token, "--json")
        shown = json.loads(synth.cli("status", str(scenario.ids["later"]), *args).stdout)
        assert shown["state"] == "queued" and shown["where"].startswith("slurm pending (JobHeld"), shown
        assert scenario.job("later").state == "running"  # for the queue: handed over, its memory held
        listed = {j["id"]: j for j in json.loads(synth.cli("list", *args).stdout)}
        assert listed[scenario.ids["later"]]["where"] == shown["where"]
        running = listed[scenario.ids["timeout"]]
        assert (running["state"], running["where"]) == ("running", "slurm running"), running
    finally:
        subprocess.run(["scontrol", "release", sid], capture_output=True, check=True)


def test_cancel_reaches_slurm(scenario):
    # 150 s, not 60: should Slurm run one job at a time (one core of two threads), the cancel job starts
    # only when the timeout job's minute is over. The message then shows why it waited.
    scenario.wait_slurm_state("cancel", "RUNNING", 150)
    synth.cli("cancel", str(scenario.ids["cancel"]), "--server", scenario.url, "--token", scenario.token)
    j = scenario.wait("cancel", 30)
    assert j.state == "cancelled" and j.reason == "cancelled by its user", j
    assert scenario.slurm_state("cancel") == "CANCELLED"


def stop_services(scenario, sig: int) -> None:
    for p in scenario.procs.procs:
        if p.poll() is None:
            p.send_signal(sig)
            p.wait(20)
    scenario.procs.procs.clear()


def test_restart_mid_run_loses_and_duplicates_nothing(scenario):
    scenario.wait_slurm_state("long", "RUNNING", 150)
    pending = [k for k in ("ok", "fail", "oom", "later") if scenario.slurm_state(k) == "PENDING"]
    assert pending, "some jobs should be waiting in Slurm's queue at the restart"
    first = scenario.job("long").worker
    # An orderly restart: the worker leaves the Slurm jobs running for the next one.
    stop_services(scenario, signal.SIGTERM)
    assert scenario.slurm_state("long") == "RUNNING" and scenario.job("long").state == "running"
    scenario.start()
    synth.wait_for(lambda: scenario.job("long").worker not in ("", first), 30, 0.1, "the new worker to adopt")
    # Then a crash: both die without a chance to tidy up, as in a host reboot.
    stop_services(scenario, signal.SIGKILL)
    assert scenario.job("long").state == "running"
    scenario.start()
    for key in ("long", "ok", "fail", "oom", "later"):
        j = scenario.wait(key, 90)
        assert j.attempts == 1, j  # adopted, not requeued
        assert j.worker != "" and j.state in END
    # Each run is exactly one Slurm job: no name was submitted twice.
    r = subprocess.run(["scontrol", "--oneliner", "show", "job"], capture_output=True, text=True, check=False)
    names = [
        line.split("JobName=", 1)[1].split()[0] for line in r.stdout.splitlines() if "JobName=l1ml-" in line
    ]
    assert len(names) == len(set(names)), names


def test_true_end_states_after_the_restart(scenario, tmp_path):
    assert scenario.wait("long").state == "succeeded"
    assert scenario.wait("ok").state == "succeeded"
    assert scenario.wait("later").state == "succeeded"
    fail = scenario.wait("fail")
    assert fail.state == "failed" and fail.exit_code == 3, fail
    oom = scenario.wait("oom")
    # No cgroups here: slurmstepd's OverMemoryKill ends it FAILED with signal 9, and its message says why.
    assert oom.state == "oom", oom
    assert "more than its 150M" in oom.reason and oom.peak_memory > 150 * M, oom
    assert scontrol_job(scenario.slurm_id("oom"))["ExitCode"] == "0:9"
    out = synth.cli(
        "fetch",
        str(scenario.ids["ok"]),
        "-o",
        str(tmp_path),
        "--server",
        scenario.url,
        "--token",
        scenario.token,
    )
    assert out.returncode == 0
    summary = json.loads((tmp_path / f"job-{scenario.ids['ok']}" / "summary.json").read_text())
    assert summary["state"] == "succeeded"
    log = synth.cli(
        "logs", str(scenario.ids["ok"]), "--server", scenario.url, "--token", scenario.token
    ).stdout
    assert "testbench done" in log
