import numpy as np
import pytest

from l1ml.models.metrics import roc_auc, threshold_for_fpr, trigger_metrics


def test_auc_matches_pairwise_definition():
    r = np.random.default_rng(0)
    b = np.round(r.normal(0, 1, 300), 1)  # rounded, so there are ties
    s = np.round(r.normal(1, 1, 200), 1)
    pairs = (s[:, None] > b[None, :]).mean() + 0.5 * (s[:, None] == b[None, :]).mean()
    assert roc_auc(b, s) == pytest.approx(pairs, abs=1e-12)


def test_threshold_for_rate_counts_events_above():
    b = np.arange(100000, dtype=float)
    t = threshold_for_fpr(b, 2.5e-5)
    assert (b > t).sum() == 2  # floor(2.5e-5 * 1e5)


def test_trigger_metrics():
    r = np.random.default_rng(1)
    b = r.normal(0, 1, 200000)
    colliding = 2544 * 11.245e3
    m = trigger_metrics(b, {"easy": r.normal(6, 1, 1000), "none": r.normal(0, 1, 1000)}, 2.5e-5, 1e-5, colliding)
    assert m["target_rate_khz"] == pytest.approx(2.5e-5 * colliding / 1e3)
    assert m["background_above_threshold"] == 5
    assert m["signals"]["easy"]["auc"] > 0.99 and m["signals"]["easy"]["tpr_at_target_rate"] > 0.5
    assert abs(m["signals"]["none"]["auc"] - 0.5) < 0.05
    assert m["signals"]["none"]["tpr_at_reference_fpr"] < 0.01
