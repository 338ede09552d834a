import numpy as np
import pytest

from l1ml.models.metrics import roc_auc, roc_auc_sorted, threshold_for_fpr, trigger_metrics


def test_auc_matches_pairwise_definition():
    r = np.random.default_rng(0)
    b = np.round(r.normal(0, 1, 300), 1)  # rounded, so there are ties
    s = np.round(r.normal(1, 1, 200), 1)
    pairs = (s[:, None] > b[None, :]).mean() + 0.5 * (s[:, None] == b[None, :]).mean()
    assert roc_auc(b, s) == pytest.approx(pairs, abs=1e-12)


def _rank_sum_auc(b, s):
    """The rank-sum (Mann-Whitney) formula roc_auc used before it counted by binary search."""
    allv = np.concatenate([b, s]).astype(np.float64)
    order = np.argsort(allv, kind="mergesort")
    _, first, counts = np.unique(allv[order], return_index=True, return_counts=True)
    ranks = np.empty(len(allv))
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return float((ranks[len(b) :].sum() - len(s) * (len(s) + 1) / 2.0) / (len(s) * len(b)))


@pytest.mark.parametrize("seed", range(4))
def test_auc_by_binary_search_equals_the_rank_sum_to_the_last_bit(seed):
    r = np.random.default_rng(seed)
    b = np.round(r.normal(0, 1, 200_000), 2)  # integer-like codes with many ties, as firmware scores are
    s = np.round(r.normal(0.3 * seed, 1, 5_000), 2)
    assert roc_auc(b, s) == _rank_sum_auc(b, s)
    assert roc_auc_sorted(np.sort(b), s) == _rank_sum_auc(b, s)
    # and the comparison is sharp: one signal event moved onto a background value changes it
    s2 = s.copy()
    s2[0] = b[np.argmin(np.abs(b - s[0]) + (b == s[0]))]
    assert roc_auc(b, s2) != roc_auc(b, s)


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
