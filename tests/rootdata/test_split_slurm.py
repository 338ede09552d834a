"""Split emulation on a real single-node Slurm: one batch job per ROOT file, merged counts equal to the
single run. Slurm is started by scripts/slurm-up.sh, as tests/slurm does, and stopped if started here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# About 100 s (each job imports TensorFlow to rebuild the network): beyond the CI set; the local-worker
# split in test_project_stream.py is the CI-run proof of the queue path.
pytestmark = [pytest.mark.slurm, pytest.mark.extended]

REPO = Path(__file__).resolve().parents[2]
SLURM_DIR = Path(os.environ.get("L1ML_SLURM_DIR", "/tmp/l1ml-slurm"))
UP = REPO / "scripts" / "slurm-up.sh"


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Slurm must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _up(conf: Path, env: dict) -> bool:
    if not conf.is_file():
        return False
    try:
        r = subprocess.run(
            ["scontrol", "ping"], env=env, capture_output=True, text=True, check=False, timeout=30
        )
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0 and "UP" in r.stdout


@pytest.fixture
def slurm(monkeypatch):
    missing = [t for t in ("slurmctld", "slurmd", "sbatch", "munged") if shutil.which(t) is None]
    if missing:
        _unavailable(f"{', '.join(missing)} not installed")
    if os.geteuid() != 0:
        _unavailable("starting slurmd needs root")
    conf = SLURM_DIR / "slurm.conf"
    env = {**os.environ, "L1ML_SLURM_DIR": str(SLURM_DIR), "SLURM_CONF": str(conf)}
    started = not _up(conf, env)
    r = subprocess.run(["bash", str(UP)], env=env, capture_output=True, text=True, check=False, timeout=120)
    if r.returncode != 0:
        _unavailable(f"scripts/slurm-up.sh failed ({r.returncode}): {(r.stderr or r.stdout).strip()}")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    yield conf
    if started:
        subprocess.run(["bash", str(UP), "stop"], env=env, capture_output=True, check=False, timeout=60)


def test_split_on_slurm_equals_the_single_run(slurm, root_project, tmp_path, monkeypatch):
    from queue_helpers import local_queue, split_matches_single

    with local_queue(tmp_path, monkeypatch, "slurm"):
        jobs = split_matches_single(root_project, "file")
    assert len(jobs) == 3
    # Each ran as a Slurm batch job: the dispatcher recorded its Slurm id.
    assert all(str((j.get("handle") or {}).get("slurm_id", "")).isdigit() for j in jobs)
