"""The tie defect: inputs exactly on split thresholds must go where xgboost sends them."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _bdt import dyadic_inputs, labels


@pytest.fixture(scope="module")
def booster():
    import xgboost as xgb

    x = dyadic_inputs(3000, seed=1)
    clf = xgb.XGBClassifier(n_estimators=20, max_depth=4, tree_method="hist", random_state=0, n_jobs=2)
    return clf.fit(x, labels(x)).get_booster()


def on_thresholds(booster, n_per_split: int = 2, seed: int = 5) -> np.ndarray:
    """Events with one feature set exactly to a split threshold (xgboost's float32), one per split."""
    import json

    model = json.loads(bytes(booster.save_raw("json")))
    base = dyadic_inputs(n_per_split * 1000, seed=seed)
    rows = []
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for n, left in enumerate(tree["left_children"]):
            if left == -1:
                continue
            for _ in range(n_per_split):
                x = base[len(rows) % len(base)].copy()
                x[tree["split_indices"][n]] = np.float32(tree["split_conditions"][n])
                rows.append(x)
    return np.asarray(rows, dtype=np.float32)


def margin(booster, x):
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(x), output_margin=True).astype(np.float64)


def test_conifer_alone_disagrees_on_ties(booster):
    """The defect as conifer 1.11 has it with xgboost 3: evidence that the test inputs exercise it."""
    import conifer

    x = on_thresholds(booster)
    plain = conifer.converters.convert_from_xgboost(booster)
    diff = np.abs(plain.decision_function(x.astype(np.float64)) - margin(booster, x))
    assert (diff > 1e-5).sum() > 0, "conifer no longer mis-converts ties: revisit docs/bdt.md"


def test_float_model_agrees_with_xgboost_on_ties(booster):
    import conifer

    from l1ml.emulate.bdt_fixed import decision_function_float
    from l1ml.firmware.conifer import ensemble_from_booster

    x = on_thresholds(booster)
    ens, corrected = ensemble_from_booster(booster)
    assert corrected > 0
    m = margin(booster, x)
    fixed = conifer.model.make_model(copy.deepcopy(ens))  # conifer's own float model, python backend
    assert np.abs(fixed.decision_function(x.astype(np.float64)) - m).max() < 1e-5
    assert np.abs(decision_function_float(ens, x) - m).max() < 1e-5
    # and on ordinary events too
    y = dyadic_inputs(2000, seed=9)
    assert np.abs(decision_function_float(ens, y) - margin(booster, y)).max() < 1e-5


def test_ties_at_fixed_point_follow_xgboost_when_inputs_are_exact(booster):
    """Inputs and thresholds both on the ap_fixed<18,8> grid: quantization changes nothing, ties included."""
    from l1ml.emulate.bdt_fixed import decision_function_fixed
    from l1ml.firmware.conifer import ensemble_from_booster
    from l1ml.fixed import FixedType

    x = on_thresholds(booster)
    ens, _ = ensemble_from_booster(booster)
    t = FixedType.parse("ap_fixed<18,8>")
    assert np.array_equal(t.quantize(x), x)
    fixed = decision_function_fixed(ens, x, "ap_fixed<18,8>")
    # only the leaf values are rounded: at most one LSB per tree plus the base score
    assert np.abs(fixed - margin(booster, x)).max() <= (20 + 1) * t.lsb


def test_less_equal_convention_gets_the_float64_below(booster):
    """With a `<=` comparison the exact threshold is the largest float64 below xgboost's float32."""
    from conifer.converters import get_converter

    from l1ml.emulate.bdt_fixed import decision_function_float
    from l1ml.firmware.conifer import exact_splits

    ens = get_converter("xgboost").convert(booster)
    ens["splitting_convention"] = "<="
    exact_splits(ens, booster)
    x = on_thresholds(booster)
    assert np.abs(decision_function_float(ens, x) - margin(booster, x)).max() < 1e-5
