"""Session fixtures: a tiny dense AE (validated), the CNN AE and VAE encoder examples trained briefly
(validated) and a tiny BDT (forced, never validated), trained,
converted and deployed once; the C++ host program compiled once. "dense_ae_twin" is a second dense AE
with another training seed but the same project name, so the same namespace, layer and library names."""

from __future__ import annotations

import pytest
from _projects import SMALL, project_on_data
from deploy_helpers import BDT, DENSE, TINY, compile_host, passing_report


@pytest.fixture(scope="session")
def deployed(tmp_path_factory, small_data):
    """"dense_ae", "dense_ae_twin", "cnn_ae", "vae_encoder" or "bdt" -> (project, Deployment)."""
    from l1ml.deploy.core import deploy
    from l1ml.firmware import convert
    from l1ml.models.train import train_project
    from l1ml.project import load_project

    done: dict = {}

    def get(key: str):
        if key not in done:
            tmp = tmp_path_factory.mktemp(key)
            example = "dense_ae" if key == "dense_ae_twin" else key
            extra = BDT if example == "bdt" else DENSE if example == "dense_ae" else SMALL.get(example, {})
            if key == "dense_ae_twin":
                extra = {**extra, "training.seed": 2}
            proj = load_project(project_on_data(tmp, example, small_data, **{**TINY, **extra}))
            train_project(proj)
            convert(proj)
            if key == "bdt":
                d = deploy(proj, tmp / "out", force=True, opt="-O1")
            else:
                passing_report(proj)
                d = deploy(proj, tmp / "out", opt="-O1")
            done[key] = (proj, d)
        return done[key]

    return get


@pytest.fixture(scope="session")
def host(tmp_path_factory):
    return compile_host(tmp_path_factory.mktemp("host"))
