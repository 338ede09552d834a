from pathlib import Path

import pytest

from l1ml.errors import ConfigError
from l1ml.project import load_project

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["dense_ae", "cnn_ae", "vae_encoder", "bdt"])
def test_example_projects_load(name):
    p = load_project(REPO / "projects" / name)
    assert p.name == name
    # 1 kHz of the colliding-bunch rate, 2544 x 11.245 kHz = 28.6 MHz, not of 40 MHz
    assert p.colliding_rate_hz == pytest.approx(28.607e6, rel=1e-4)
    assert p.trigger_fpr == pytest.approx(1e3 / 28.60728e6)


def test_colliding_bunches_set_the_rate_normalisation(tmp_path):
    (tmp_path / "project.toml").write_text("[trigger]\nrate_khz = 2.0\ncolliding_bunches = 1200\n")
    p = load_project(tmp_path)
    assert p.trigger_fpr == pytest.approx(2e3 / (1200 * 11.245e3))
    (tmp_path / "project.toml").write_text("[trigger]\ncolliding_bunches = 4000\n")
    with pytest.raises(ConfigError, match="colliding_bunches"):
        load_project(tmp_path)


def write(tmp_path, text) -> Path:
    (tmp_path / "project.toml").write_text(text)
    return tmp_path


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    d = write(tmp_path, "[training]\nepohcs = 3\n")
    with pytest.raises(ConfigError) as e:
        load_project(d)
    msg = str(e.value)
    assert "epohcs" in msg and "did you mean 'epochs'" in msg and str(d / "project.toml") in msg


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'modle'.*did you mean 'model'"):
        load_project(write(tmp_path, "[modle]\nkind = 'bdt'\n"))


def test_wrong_type_names_key(tmp_path):
    with pytest.raises(ConfigError, match=r"\[training\]: key 'epochs': expected an integer, got 'ten'"):
        load_project(write(tmp_path, "[training]\nepochs = 'ten'\n"))


def test_bad_model_kind_lists_choices(tmp_path):
    with pytest.raises(ConfigError, match="kind 'transformer' is not one of dense_ae, cnn_ae, vae, bdt"):
        load_project(write(tmp_path, "[model]\nkind = 'transformer'\n"))


def test_bad_split(tmp_path):
    with pytest.raises(ConfigError, match="split must be three positive fractions"):
        load_project(write(tmp_path, "[data]\nsplit = [0.5, 0.6, 0.1]\n"))


def test_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_project(write(tmp_path, "[data\n"))


def test_missing_project(tmp_path):
    with pytest.raises(ConfigError, match="no project file"):
        load_project(tmp_path / "nope")


def test_no_model_yet(tmp_path):
    p = load_project(write(tmp_path, ""))
    with pytest.raises(ConfigError, match="has no model yet"):
        p.model_dir()


def test_negative_layer_size(tmp_path):
    with pytest.raises(ConfigError, match=r"hidden must hold positive layer sizes, got \[32, -4\]"):
        load_project(write(tmp_path, "[model]\nhidden = [32, -4]\n"))
