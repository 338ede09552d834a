"""Bring your own model: an imported QKeras .h5 and an imported xgboost model go through convert and
validate like trained ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _convert import tiny_project

from l1ml.firmware import convert
from l1ml.manifest import sha256
from l1ml.models.importer import import_model, list_models
from l1ml.validate import validate


@pytest.mark.slow
def test_imported_qkeras_h5_converts_and_validates_bit_exact(tmp_path, small_data, no_bn_h5):
    from l1ml.data.preprocess import Preprocessing

    proj = tiny_project(tmp_path, "dense_ae", small_data)
    pre = tmp_path / "pre.json"
    Preprocessing(offsets=(0, 0, 0) * 19, shifts=(5, 4, 4) * 19).save(pre)
    d = import_model(proj, no_bn_h5, pre)
    man = json.loads((d / "manifest.json").read_text())
    assert man["source"] == "import" and man["version"] == "v1"
    assert man["origin"]["sha256"] == sha256(no_bn_h5) and man["origin"]["finetuned"] is False
    assert man["input_precision"] == Preprocessing.load(pre).input_precision()
    # Metrics and the rate threshold come from the project's data, as for a trained model.
    metrics = json.loads((d / "metrics.json").read_text())
    assert man["threshold"] == metrics["threshold"] and (d / "roc.png").is_file()
    fw = convert(proj)
    # hls4ml #874: quantized_bits(8, 0, alpha=1) weights map to ap_fixed<8,1> and are written exactly.
    assert fw["layer_types"]["enc_1_dense"]["weight_t"] == "ap_fixed<8,1>"
    v = validate(proj, events=150)
    assert v.passed and all(c.mismatches == 0 for c in v.comparisons)
    assert v.threshold == man["threshold"] and sum(v.flips.values()) == 0
    rows = list_models(proj)
    assert rows[0]["source"] == "import" and rows[0]["converted"] is True


def test_import_keeps_the_weights_of_a_model_without_bn(tmp_path, small_data, no_bn_h5):
    from l1ml.models.io import load_model

    proj = tiny_project(tmp_path, "dense_ae", small_data)
    d = import_model(proj, no_bn_h5)
    src, dep = load_model(no_bn_h5), load_model(d / "deploy.h5")
    for layer in src.layers[1:]:
        for a, b in zip(layer.get_weights(), dep.get_layer(layer.name).get_weights(), strict=True):
            assert np.array_equal(a, b)
    assert json.loads((d / "preprocessing.json").read_text())["shifts"] == [0] * 57  # identity by default


@pytest.mark.slow
def test_imported_xgboost_converts_and_validates(tmp_path, small_data):
    import xgboost as xgb

    rng = np.random.default_rng(1)
    x = rng.integers(-64, 64, size=(2000, 57)).astype(np.float32)
    y = (x[:, 0] + x[:, 3] > 0).astype(np.float32)
    booster = xgb.train({"max_depth": 3, "objective": "binary:logistic", "seed": 1}, xgb.DMatrix(x, y), 4)
    f = tmp_path / "team_bdt.ubj"
    booster.save_model(str(f))
    proj = tiny_project(tmp_path, "bdt", small_data)
    d = import_model(proj, f)
    assert (d / "model.json").is_file()
    fw = convert(proj)
    assert fw["kind"] == "bdt"
    v = validate(proj, events=100)
    assert v.passed, v.to_dict()


def test_import_refuses_a_model_of_the_wrong_kind(tmp_path, small_data, no_bn_h5):
    from l1ml.errors import ConfigError

    proj = tiny_project(tmp_path, "bdt", small_data)
    with pytest.raises(ConfigError, match="kind is 'bdt'"):
        import_model(proj, no_bn_h5)
    assert not list(proj.models_dir.glob("v*"))
