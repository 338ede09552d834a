"""ScoreCounts: exact score counts in bounded memory, mergeable; thresholds agree with metrics.py."""

from __future__ import annotations

import numpy as np
import pytest

from l1ml.emulate.stream import ScoreCounts
from l1ml.errors import DataError
from l1ml.models.metrics import threshold_for_fpr


def scores(n=120_000, seed=0):
    # A fixed-point-like score (multiples of 2**-9) with many distinct values and many ties.
    return np.round(np.random.default_rng(seed).exponential(1.0, n) * 512) / 512


@pytest.mark.parametrize("keep", [1 << 18, 2000])
def test_counts_match_the_scores_and_merge_exactly(keep):
    s = scores()
    c = ScoreCounts(keep)
    for i in range(0, len(s), 7000):
        c.add(s[i : i + 7000])
    for fpr in (1e-4, 3.5e-5, 1e-3):
        t = c.threshold_for(fpr)
        assert t == threshold_for_fpr(s, fpr)
        assert c.above(t) == int((s > t).sum())
    parts = []
    for k in range(3):
        p = ScoreCounts(keep)
        p.add(s[k::3])
        parts.append(p)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    t = c.threshold_for(1e-4)
    assert merged.threshold_for(1e-4) == t and merged.above(t) == c.above(t) and merged.events == len(s)
    assert ScoreCounts.from_dict(c.to_dict()) == c
    # Memory is bounded by `keep`, not by the number of events.
    assert len(c.values) <= keep
    # A missing part is caught.
    assert parts[0].merge(parts[1]) != merged


def test_below_the_kept_scores_is_an_error_not_an_approximation():
    c = ScoreCounts(500)
    c.add(scores())
    with pytest.raises(DataError, match="below the 500 highest distinct scores"):
        c.above(0.1)
    bad = c.to_dict()
    bad["events"] += 1
    with pytest.raises(DataError, match="do not add up"):
        ScoreCounts.from_dict(bad)
