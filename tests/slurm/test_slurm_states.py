"""Slurm's answers -> the queue's states, on lines recorded from the single-node Slurm 22.05 of these tests
(no cgroups, no accounting), plus the states that cluster cannot produce, written as Slurm prints them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from l1ml.errors import ConfigError, ToolNotFound
from l1ml.synth.dispatch._batch import SharedPaths, read_status_file, wrapper_script
from l1ml.synth.dispatch.slurm import (
    SlurmConfig,
    SlurmDispatcher,
    end_status,
    parse_exit_code,
    parse_mem,
    parse_scontrol,
    sbatch_mem,
    sbatch_time,
)
from l1ml.synth.settings import Settings

M = 1024**2

# `scontrol --oneliner show job`, trimmed of fields the mapping does not read.
RECORDED = {
    "timeout": "JobId=10 JobName=l1ml-5fd9ef-1-a1 JobState=TIMEOUT Reason=TimeLimit ExitCode=143:0 "
    "RunTime=00:01:21 TimeLimit=00:01:00 TRES=cpu=1,mem=200M,node=1,billing=1 MinMemoryNode=200M "
    "Comment=l1ml:l1ml-5fd9ef-1-a1  StdErr=/q/work/1/job.log",
    "cancelled": "JobId=11 JobName=l1ml-5fd9ef-2-a1 JobState=CANCELLED Reason=None ExitCode=0:15 "
    "RunTime=00:00:01 TimeLimit=00:10:00 MinMemoryNode=200M",
    "completed": "JobId=12 JobName=l1ml-5fd9ef-3-a1 JobState=COMPLETED Reason=None ExitCode=0:0 "
    "RunTime=00:00:12 TimeLimit=00:10:00 MinMemoryNode=300M",
    "failed": "JobId=14 JobName=l1ml-5fd9ef-5-a1 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 "
    "MinMemoryNode=200M",
    "memory_kill": "JobId=15 JobName=l1ml-5fd9ef-6-a1 JobState=FAILED Reason=JobLaunchFailure ExitCode=0:9 "
    "RunTime=00:00:02 TRES=cpu=1,mem=150M,node=1,billing=1 MinMemoryNode=150M",
    "pending": "JobId=17 JobName=l1ml-5fd9ef-8-a1 JobState=PENDING Reason=Resources ExitCode=0:0",
    # The states a cgroup cluster and real hardware add, as Slurm 22.05 prints them.
    "out_of_memory": "JobId=31 JobName=l1ml-aa-2-a1 JobState=OUT_OF_MEMORY Reason=OutOfMemory ExitCode=0:125",
    "node_fail": "JobId=32 JobName=l1ml-aa-3-a1 JobState=NODE_FAIL Reason=NodeDown ExitCode=0:0",
    "killed": "JobId=33 JobName=l1ml-aa-4-a1 JobState=FAILED Reason=NonZeroExitCode ExitCode=0:9",
}
# What slurmstepd wrote into the job's log (its stderr) when OverMemoryKill struck job 15.
OOM_LOG = (
    "slurmstepd-localhost: error: StepId=15.batch exceeded memory limit (629145600 > 157286400), "
    "being killed\n"
    "slurmstepd-localhost: error: *** JOB 15 ON localhost CANCELLED AT 2026-11-26T19:34:21 ***\n"
    "slurmstepd-localhost: error: Exceeded job memory limit\n"
)


def status(key: str, memory: int = 200 * M, evidence: tuple[str, ...] = ()):
    f = parse_scontrol(RECORDED[key])
    return end_status(f["JobState"], f["ExitCode"], f["Reason"], memory, list(evidence))


def test_parse_scontrol_keeps_values_with_spaces():
    f = parse_scontrol("JobId=3 JobName=a b Reason=None Comment=l1ml:x  StdErr=/p/q r.log")
    assert f["JobName"] == "a b" and f["Comment"] == "l1ml:x" and f["StdErr"] == "/p/q r.log"


@pytest.mark.parametrize(
    "key, state, exit_code, words",
    [
        ("completed", "succeeded", 0, ""),
        ("failed", "failed", 3, "exited with code 3"),
        ("timeout", "timeout", 143, "time limit"),
        ("cancelled", "cancelled", 0, "cancelled in Slurm"),
        ("pending", "queued", None, "Resources"),
        ("out_of_memory", "oom", 0, "more than its 200M"),
        ("node_fail", "failed", 0, "node running it failed"),
        ("killed", "failed", 0, "SIGKILL"),
    ],
)
def test_recorded_states_map_to_ours(key, state, exit_code, words):
    s = status(key)
    assert (s.state, s.exit_code) == (state, exit_code), s
    assert words in s.reason


def test_memory_kill_without_cgroups_is_oom_from_the_evidence():
    # Without the slurmstepd message, a FAILED with signal 9 is just a kill ...
    bare = status("memory_kill", 150 * M)
    assert bare.state == "failed" and "SIGKILL" in bare.reason
    # ... with it, it is the memory limit, and the message gives the peak.
    s = status("memory_kill", 150 * M, (OOM_LOG,))
    assert s.state == "oom" and s.peak_memory == 629145600
    assert "more than its 150M" in s.reason and "exceeded memory limit" in s.reason


def test_units_and_limits():
    assert parse_exit_code("143:0") == (143, 0) and parse_exit_code("0:9") == (0, 9)
    assert parse_exit_code("") == (None, 0)
    assert (
        sbatch_mem(200 * M) == "200M"
        and sbatch_mem(200 * M + 1) == "201M"
        and sbatch_mem(32 * 1024**3) == "32768M"
    )
    assert [sbatch_time(t) for t in (1, 59, 60, 61, 6 * 3600)] == [1, 1, 1, 2, 360]
    assert (
        parse_mem("96904K") == 96904 * 1024
        and parse_mem("1.5G") == int(1.5 * 1024**3)
        and parse_mem("x") is None
    )


def test_settings_are_checked(tmp_path):
    cfg = SlurmConfig.from_table({"partition": "fpga", "account": "cms", "cpus": 2}, tmp_path)
    # The store stays in home; what batch nodes must see is the work directory, by default home/work.
    assert (cfg.partition, cfg.account, cfg.cpus) == ("fpga", "cms", 2)
    assert cfg.paths.local == tmp_path / "work"
    eos = tmp_path / "eos" / "l1ml-work"
    assert SlurmConfig.from_table({}, tmp_path, work=eos).paths.local == eos
    assert SlurmConfig.from_table({"shared": "/eos/x"}, tmp_path, work=eos).paths.local == Path("/eos/x")
    with pytest.raises(ConfigError, match="unknown key.*partiton"):
        SlurmConfig.from_table({"partiton": "fpga"}, tmp_path)
    with pytest.raises(ConfigError, match="cpus"):
        SlurmConfig.from_table({"cpus": 0}, tmp_path)
    with pytest.raises(ConfigError, match="sbatch_args"):
        SlurmConfig.from_table({"sbatch_args": "--qos=x"}, tmp_path)


def test_shared_paths_map_the_work_dir_to_the_nodes_mount(tmp_path):
    paths = SharedPaths(tmp_path, PurePosixPath("/eos/cms/l1ml"))
    assert paths.on_nodes(tmp_path / "work" / "7") == PurePosixPath("/eos/cms/l1ml/work/7")
    with pytest.raises(ConfigError, match="not inside the shared directory"):
        paths.on_nodes(Path("/elsewhere/work"))


@pytest.mark.parametrize("code", [0, 3])
def test_wrapper_leaves_the_exit_code_beside_the_work(tmp_path, code):
    (tmp_path / "src").mkdir()
    (tmp_path / "run.sh").write_text(f"echo running in $PWD\nexit {code}\n")
    status_file = tmp_path / "st" / "x.exit"
    status_file.parent.mkdir()
    script = tmp_path / "wrapper.sh"
    p = PurePosixPath
    script.write_text(wrapper_script(p(tmp_path / "run.sh"), p(tmp_path / "src"), p(status_file)))
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert r.returncode == code and r.stdout.strip() == f"running in {tmp_path / 'src'}"
    assert read_status_file(status_file) == code
    assert status_file.with_name("x.exit.started").exists()


def test_missing_sbatch_names_the_tool_and_the_package(monkeypatch, tmp_path):
    settings = Settings(home=tmp_path / "queue")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFound, match=r"sbatch not found on PATH.*apt-get install slurm-client"):
        SlurmDispatcher(settings)
    with pytest.raises(ToolNotFound, match="sbatch.*not an executable"):
        SlurmDispatcher(settings, tools={"sbatch": str(Path("/nonexistent/sbatch"))})


@pytest.mark.skipif(shutil.which("sbatch") is None, reason="needs Slurm's client tools (slurm-client)")
def test_local_home_shared_work_and_settings_reach_the_dispatcher(tmp_path, monkeypatch):
    from l1ml.synth.settings import load_settings
    from l1ml.synth.worker import Worker, job_dir

    # The config file says one thing; the worker is given other settings (as CLI options would): the
    # dispatcher must follow the worker's, not read the file again.
    conf = tmp_path / "synth.toml"
    conf.write_text('dispatcher = "slurm"\n[slurm]\npartition = "from-file"\n')
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(conf))
    for var in ("L1ML_SYNTH_HOME", "L1ML_SYNTH_WORK"):
        monkeypatch.delenv(var, raising=False)
    eos = tmp_path / "eos" / "work"
    monkeypatch.setenv("L1ML_SYNTH_WORK", str(eos))
    settings = load_settings(home=str(tmp_path / "local"), slurm={"partition": "given", "poll": 0.5})
    assert settings.db == tmp_path / "local" / "queue.db" and settings.work == eos
    w = Worker(settings, budget=1024**3)
    try:
        assert w.dispatcher.settings is settings
        assert (w.dispatcher.config.partition, w.dispatcher.config.poll) == ("given", 0.5)
        assert w.dispatcher.config.paths.local == eos  # shared defaults to the work dir
        assert job_dir(settings, 3) == eos / "3"
        assert w.dispatcher.config.paths.on_nodes(job_dir(settings, 3)) == PurePosixPath(eos / "3")
    finally:
        w.store.close()
