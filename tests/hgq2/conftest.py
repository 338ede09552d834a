"""The HGQ2 front-end's fixtures: its Keras 3 environment (built by `./dev.sh env-keras3` when missing)
and one tiny project trained and converted through it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from _cache import own_cache
from _projects import REPO, project_on_data

VENV_PY = REPO / ".venv-keras3" / "bin" / "python"


@pytest.fixture(scope="session")
def keras3_python() -> Path:
    """The Keras 3 environment's interpreter, built on demand (about 2 minutes the first time)."""
    if os.environ.get("L1ML_KERAS3_PYTHON"):
        return Path(os.environ["L1ML_KERAS3_PYTHON"])
    if shutil.which("python3.11") is None:
        pytest.skip("the Keras 3 environment needs python3.11, which is not on PATH")
    r = subprocess.run(["bash", str(REPO / "dev.sh"), "env-keras3"], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0 or not VENV_PY.is_file():
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip(
            f"the Keras 3 environment could not be built (./dev.sh env-keras3 exit {r.returncode}): {tail[0]}"
        )
    return VENV_PY


@pytest.fixture(scope="session")
def hgq2_converted(tmp_path_factory, small_data, keras3_python):
    """(project, version, firmware dir) of a tiny HGQ2 autoencoder trained and converted through the worker."""
    from l1ml.firmware import convert
    from l1ml.frontends.hgq2 import train_project
    from l1ml.project import load_project

    tmp = tmp_path_factory.mktemp("hgq2")
    cache = own_cache(tmp_path_factory)
    next(cache)
    proj = load_project(
        project_on_data(
            tmp,
            "hgq_ae",
            small_data,
            **{
                "model.hidden": [4],
                "model.latent": 2,
                "training.epochs": 1,
                "training.batch_size": 512,
                "validation.events": 500,
            },
        )
    )
    version = train_project(proj).name
    convert(proj, version)
    yield proj, version, proj.firmware_dir(version)
    next(cache, None)
