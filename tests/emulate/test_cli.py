"""`l1ml emulate` end to end on small trained projects: train -> convert -> emulate, and the scores it
writes are the C simulation's, bit for bit."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from _projects import SMALL, project_on_data
from typer.testing import CliRunner

from l1ml.cli.main import app
from l1ml.project import load_project


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_data):
    """dense_ae trained briefly and converted (one compile of its C simulation)."""
    from l1ml.firmware import convert
    from l1ml.models.train import train_project

    tmp = tmp_path_factory.mktemp("proj")
    proj = load_project(
        project_on_data(
            tmp, "dense_ae", small_data, **{"training.epochs": 1, "training.finetune_epochs": 1, **SMALL["dense_ae"]}
        )
    )
    train_project(proj)
    convert(proj)
    return proj


def test_emulate_cli_matches_csim(trained, small_data, tmp_path):
    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.csim import load_csim

    out = tmp_path / "scores.h5"
    r = CliRunner().invoke(
        app, ["emulate", "-p", str(trained.path), "--input", str(small_data / "Ato4l.h5"), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    fw_dir = trained.firmware_dir()
    fw_man = json.loads((fw_dir / "manifest.json").read_text())
    csim, _ = load_csim(fw_dir, fw_man)
    parts = load_particles(small_data / "Ato4l.h5")[:3000]
    pre = Preprocessing.load(trained.model_dir() / "preprocessing.json")
    ref = csim.predict(pre.apply(units.to_hardware(parts)).astype(np.float64))
    with h5py.File(out) as f:
        outs = [f["outputs"][k][:3000] for k in f["outputs"]]
        score = f["score"][:3000]
        assert f["score"].shape[0] == len(load_particles(small_data / "Ato4l.h5"))
    by_size = {o.shape[1]: o for o in outs}
    assert np.array_equal(by_size[57], ref[0])
    assert np.array_equal(score, ref[1][:, 0])


def test_emulate_cli_bad_input_is_one_clear_error(trained, tmp_path):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["Other"] = np.zeros((3, 19, 4))
    r = CliRunner().invoke(
        app, ["emulate", "-p", str(trained.path), "--input", str(bad), "--out", str(tmp_path / "o.h5")]
    )
    assert r.exit_code != 0
    assert "Particles" in str(r.exception) or "Particles" in r.output
    assert not (tmp_path / "o.h5").exists()


def test_emulate_cli_bdt(small_data, tmp_path):
    """A BDT project: the trees go through bdt_fixed, with the same preprocessing as the networks."""
    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.data.preprocess import Preprocessing
    from l1ml.emulate.bdt_fixed import decision_function_fixed
    from l1ml.firmware import convert
    from l1ml.models.train import train_project

    proj = load_project(project_on_data(tmp_path, "bdt", small_data, **{"model.n_estimators": 4}))
    train_project(proj)
    convert(proj)
    out = tmp_path / "bdt_scores.h5"
    r = CliRunner().invoke(
        app, ["emulate", "-p", str(proj.path), "--input", str(small_data / "Ato4l.h5"), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    parts = load_particles(small_data / "Ato4l.h5")
    pre = Preprocessing.load(proj.model_dir() / "preprocessing.json")
    ref = decision_function_fixed(
        proj.firmware_dir() / "conifer_model.json", pre.apply(units.to_hardware(parts))
    )
    with h5py.File(out) as f:
        assert np.array_equal(f["score"][:], ref.reshape(len(parts), -1)[:, 0])
        assert f.attrs["kind"] == "bdt"


def test_emulate_arrays_on_a_firmware_directory(trained, small_data):
    """The validation entry point: a firmware directory alone (the deploy model found via the manifests)
    gives the same bits as `l1ml emulate`'s engine."""
    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.data.preprocess import Preprocessing
    from l1ml.emulate.nn_fixed import emulate_arrays
    from l1ml.emulate.nn_project import load_engine

    parts = load_particles(small_data / "Ato4l.h5")[:2000]
    pre = Preprocessing.load(trained.model_dir() / "preprocessing.json")
    x = pre.apply(units.to_hardware(parts))
    direct = emulate_arrays(trained.firmware_dir(), x)
    engine, _, _, _ = load_engine(trained)
    via_engine = engine(x)
    assert list(direct) == list(via_engine)
    assert all(np.array_equal(direct[k], via_engine[k]) for k in direct)
