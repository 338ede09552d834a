import json

import numpy as np
import pytest
from _projects import project_on_data

from l1ml.models.train import train_project
from l1ml.project import load_project


def test_dense_ae_separates_the_easiest_signal(tmp_path, small_data):
    proj = load_project(project_on_data(tmp_path, "dense_ae", small_data, **{"training.epochs": 12}))
    d = train_project(proj)
    m = json.loads((d / "metrics.json").read_text())
    assert m["signals"]["Ato4l"]["auc"] > 0.9
    man = json.loads((d / "manifest.json").read_text())
    assert man["version"] == "v1" and man["kind"] == "dense_ae"
    assert set(man["data"]) == {"background", "Ato4l", "leptoquark", "hToTauTau", "hChToTauNu"}
    assert all(len(h) == 64 for h in man["hashes"].values())
    for f in ("model.h5", "deploy.h5", "preprocessing.json", "roc.png", "scores.png"):
        assert (d / f).stat().st_size > 0
    # The threshold reproduces the target rate on the background test sample.
    assert m["background_above_threshold"] == int(np.floor(m["target_fpr"] * m["background_events"]))


def test_bdt_same_seed_same_model_and_new_version(tmp_path, small_data):
    proj = load_project(project_on_data(tmp_path, "bdt", small_data, **{"model.n_estimators": 8}))
    a = train_project(proj)
    b = train_project(proj)
    assert (a.name, b.name) == ("v1", "v2")
    assert (a / "model.json").read_bytes() == (b / "model.json").read_bytes()
    m = json.loads((a / "metrics.json").read_text())
    assert m["signals"]["Ato4l"]["auc"] > 0.9


@pytest.mark.parametrize("example", ["cnn_ae", "vae_encoder"])
def test_other_autoencoders_train_and_deploy_with_a_score(tmp_path, small_data, example):
    from l1ml.models.io import load_model

    proj = load_project(
        project_on_data(
            tmp_path, example, small_data, **{"training.epochs": 2, "training.finetune_epochs": 1}
        )
    )
    d = train_project(proj)
    deploy = load_model(d / "deploy.h5")
    assert len(deploy.outputs) == 2 and deploy.outputs[-1].shape[-1] == 1
    if example == "vae_encoder":
        assert deploy.outputs[0].shape[-1] == proj.model.latent  # only the encoder is deployed
    m = json.loads((d / "metrics.json").read_text())
    assert 0.0 <= m["signals"]["Ato4l"]["auc"] <= 1.0


def test_an_interrupted_training_leaves_no_version(tmp_path, small_data, monkeypatch):
    import l1ml.models.deploy

    proj = load_project(project_on_data(tmp_path, "dense_ae", small_data, **{"training.epochs": 1}))

    def interrupted(*a, **k):  # Ctrl-C arriving after the trained model was written to staging
        raise KeyboardInterrupt

    monkeypatch.setattr(l1ml.models.deploy, "build_deploy_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_project(proj)
    assert list(proj.models_dir.iterdir()) == []


def test_dense_ae_same_seed_same_weights(tmp_path, small_data):
    from l1ml.models.io import load_model

    proj = load_project(
        project_on_data(
            tmp_path, "dense_ae", small_data, **{"training.epochs": 2, "training.finetune_epochs": 1}
        )
    )
    a, b = train_project(proj), train_project(proj)
    wa, wb = load_model(a / "deploy.h5").get_weights(), load_model(b / "deploy.h5").get_weights()
    assert len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))
