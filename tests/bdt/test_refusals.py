"""xgboost models conifer's firmware cannot compute, refused by name through the CLI (issue 26):

- trained with missing values (NaN): xgboost learned a default direction per split, which a fixed-point
  input (no NaN) never takes, so firmware and xgboost disagree on the model's own encoding even though a
  validation on the project's NaN-free inputs passes;
- multi-class (`multi:softprob`): refused naming the objective, not as a "NaN input" downstream.
Refused at `models import`, and at `convert` for a version whose model file was put there directly."""

from __future__ import annotations

import json

import numpy as np
from _bdt import dyadic_inputs, labels


def _project(tmp_path):
    from l1ml.project import load_project

    d = tmp_path / "p"
    d.mkdir()
    (d / "project.toml").write_text('name = "refused"\n[model]\nkind = "bdt"\n[data]\nsynthetic = false\n')
    return load_project(d)


def _nan_trained(x, y):
    """A BDT trained with NaN for absent objects, as the issue's user did: 30% of objects missing."""
    import xgboost as xgb

    x = x.copy()
    absent = np.repeat(np.random.default_rng(2).random((len(x), 19)) < 0.3, 3, axis=1)
    x[absent] = np.nan
    return xgb.train(
        {"max_depth": 3, "objective": "binary:logistic", "seed": 1}, xgb.DMatrix(x, y), 8
    ), absent


def _cli(*args):
    """The command's refusal: a ConversionError, which l1ml's entry point prints in one line (exit 2)."""
    from typer.testing import CliRunner

    from l1ml.cli.main import app
    from l1ml.errors import ConversionError

    r = CliRunner().invoke(app, [str(a) for a in args])
    assert isinstance(r.exception, ConversionError), (r.exit_code, r.output, r.exception)
    return " ".join(str(r.exception).split())


def test_a_bdt_trained_with_missing_values_is_refused_at_import_and_convert(tmp_path):
    import xgboost as xgb

    from l1ml.models.bdt import missing_value_splits

    x = dyadic_inputs(2000, seed=1)
    booster, absent = _nan_trained(x, labels(x))
    left, splits = missing_value_splits(booster)
    assert 0 < left < splits  # learned directions, both ways
    # the reason is real: the firmware receives 0 for an absent object, never NaN, and xgboost differs
    x_nan, x_zero = x.copy(), x.copy()
    x_nan[absent], x_zero[absent] = np.nan, 0.0
    on_nan = booster.predict(xgb.DMatrix(x_nan), output_margin=True)
    on_zero = booster.predict(xgb.DMatrix(x_zero), output_margin=True)
    assert (on_nan != on_zero).mean() > 0.5

    f = tmp_path / "nan_bdt.json"
    booster.save_model(str(f))
    prj = _project(tmp_path)
    out = _cli("models", "import", "--project", prj.path, f)
    assert "trained with missing values (NaN)" in out and f"{left} of {splits} splits" in out
    assert not list(prj.models_dir.glob("v*"))  # nothing registered

    # a version put there by hand (or before this check) is refused by convert, with the same reason
    d = prj.models_dir / "v1"
    d.mkdir(parents=True)
    booster.save_model(str(d / "model.json"))
    (d / "manifest.json").write_text(json.dumps({"version": "v1", "kind": "bdt", "model_file": "model.json"}))
    out = _cli("convert", "--project", prj.path, "--model", "v1")
    assert "trained with missing values (NaN)" in out
    assert not (prj.build_dir / "firmware" / "v1").exists()


def test_a_bdt_trained_without_missing_values_is_not_refused():
    import xgboost as xgb

    from l1ml.models.bdt import refusal

    x = dyadic_inputs(1000, seed=3)
    for method in ("hist", "approx", "exact"):  # each leaves all defaults one way when it saw no NaN
        b = xgb.train({"max_depth": 3, "tree_method": method, "seed": 1}, xgb.DMatrix(x, labels(x)), 4)
        assert refusal(b) is None, method


def test_a_multiclass_bdt_is_refused_naming_its_objective(tmp_path):
    import xgboost as xgb

    x = dyadic_inputs(1500, seed=4)
    y = (x[:, 0] > 0).astype(int) + (x[:, 3] > 20).astype(int)
    booster = xgb.train(
        {"max_depth": 2, "objective": "multi:softprob", "num_class": 3, "seed": 1}, xgb.DMatrix(x, y), 3
    )
    f = tmp_path / "multi.ubj"
    booster.save_model(str(f))
    prj = _project(tmp_path)
    out = _cli("models", "import", "--project", prj.path, f)
    assert "objective 'multi:softprob' (3 classes) is multi-class" in out
    assert "NaN" not in out
