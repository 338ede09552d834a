"""A real single-node Slurm for the tests marked ``slurm``.

The fixture reuses a cluster that ``scripts/slurm-up.sh`` already started (CI does that in .ci/run), or
starts one itself and stops it when the session ends. When Slurm cannot start, the tests are skipped with
the reason; under CI=true they fail instead, since CI is where they must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLURM_DIR = Path(os.environ.get("L1ML_SLURM_DIR", "/tmp/l1ml-slurm"))
UP = REPO / "scripts" / "slurm-up.sh"


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Slurm must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _ping(conf: Path) -> bool:
    if not conf.is_file() or shutil.which("scontrol") is None:
        return False
    r = subprocess.run(
        ["scontrol", "ping"],
        env={**os.environ, "SLURM_CONF": str(conf)},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return r.returncode == 0 and "UP" in r.stdout


@pytest.fixture(scope="session")
def slurm_conf() -> Path:
    """SLURM_CONF of a running single-node cluster; set in os.environ for the whole session."""
    conf = SLURM_DIR / "slurm.conf"
    missing = [t for t in ("slurmctld", "slurmd", "sbatch", "munged") if shutil.which(t) is None]
    if missing:
        _unavailable(
            f"{', '.join(missing)} not installed (apt-get install slurmctld slurmd slurm-client munge)"
        )
    if os.geteuid() != 0:
        _unavailable("starting slurmd needs root")
    started = not _ping(conf)
    env = {**os.environ, "L1ML_SLURM_DIR": str(SLURM_DIR)}
    r = subprocess.run(["bash", str(UP)], env=env, capture_output=True, text=True, check=False, timeout=120)
    if r.returncode != 0:
        _unavailable(f"scripts/slurm-up.sh failed ({r.returncode}): {(r.stderr or r.stdout).strip()}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLURM_CONF", str(conf))
        yield conf
    if started:
        subprocess.run(
            ["bash", str(UP), "stop"], env=env, capture_output=True, text=True, check=False, timeout=60
        )


def pytest_collection_modifyitems(session, config, items):
    """Slurm's time limit is the longest wait of the suite (a minute at least, checked every 30 s): its test
    goes last of the whole session, so every other test runs while the scenario's timeout job waits."""
    here = Path(__file__).parent / "test_time_limit.py"
    last = [i for i in items if i.path == here]
    items[:] = [i for i in items if i.path != here] + last


@pytest.fixture(scope="session")
def scenario(slurm_conf, tmp_path_factory):
    """One queue on Slurm for the session. Its timeout job is submitted first and its test
    (test_time_limit.py) runs last of all; the environment it sets is the default for the session (tests
    of tests/synth set their own queue home per test)."""
    from slurm_helpers import Scenario, synth

    tmp = tmp_path_factory.mktemp("queue-on-slurm")
    (tmp / "synth.toml").write_text('dispatcher = "slurm"\n[slurm]\npoll = 0.3\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("L1ML_SYNTH_HOME", str(tmp / "queue"))
        mp.setenv("L1ML_SYNTH_CONFIG", str(tmp / "synth.toml"))
        for var in ("L1ML_SYNTH_SERVER", "L1ML_SYNTH_TOKEN", "L1ML_SYNTH_WORK"):
            mp.delenv(var, raising=False)
        s = Scenario(tmp, synth.Procs())
        try:
            s.token = synth.cli("token", "create", "alice").stdout.strip()
            s.start()
            # Two CPUs: the timeout and cancel jobs take them first, so the rest queue in Slurm behind them.
            s.submit("timeout", "200M", timeout="60s", sleep_ms=300_000)
            s.submit("cancel", "200M", sleep_ms=300_000)
            s.submit("long", "300M", sleep_ms=12_000)
            s.submit("ok", "200M")
            s.submit("fail", "200M", exit_code=3)
            s.submit("oom", "150M", alloc_mb=600, sleep_ms=5_000)
            s.submit("later", "250M", sleep_ms=3_000)
            yield s
        finally:
            s.close()
