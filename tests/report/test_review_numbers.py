"""l1ml/models/review.py: the cut baseline's threshold rule on exact counts, the observables' definitions,
the paired error of the model's gain, and turn-on bins that hold every event."""

from __future__ import annotations

import math

import numpy as np
import pytest
from review_helpers import events

from l1ml.errors import L1mlError
from l1ml.models import review


def test_observables_on_handmade_events():
    hw = np.zeros((2, 19, 3), dtype=np.int32)
    hw[0, 0, 0] = 100  # MET 50 GeV
    hw[0, 2, 0] = 80  # an e/gamma of 40 GeV
    hw[0, 6, 0] = 30  # a muon of 15 GeV
    hw[0, 9] = (120, 10, 0)  # a 60 GeV central jet: in HT
    hw[0, 10] = (100, 70, 0)  # 50 GeV at |eta| = 3.0: outside HT's acceptance
    hw[0, 11] = (50, 0, 0)  # 25 GeV: below HT's jet threshold
    o = review.observables(hw.reshape(2, 57))
    assert o["MET"].tolist() == [100, 0] and o["HT"].tolist() == [120, 0]
    assert (
        o["leading e/gamma pT"][0] == 80 and o["leading muon pT"][0] == 30 and o["leading jet pT"][0] == 120
    )
    assert o["leading object pT"][0] == 120


def test_cut_threshold_rule_and_gain():
    rng = np.random.default_rng(5)
    counts = review.CutCounts()
    chunks = [events(rng, 40_000, 20.0) for _ in range(3)]
    for c in chunks:
        counts.add(c)  # streamed in chunks: the histograms grow as larger values appear
    allobs = review.observables(np.concatenate(chunks))
    fpr = 2e-4
    allowed = math.floor(fpr * 120_000)
    for name in review.CUTS:
        t, k = counts.threshold(name, fpr)
        x = allobs[name]
        assert k == int((x > t).sum()) <= allowed  # the record's rule ...
        assert int((x > t - 1).sum()) > allowed  # ... at the lowest such threshold
    s = rng.exponential(1.0, 3000)
    sig = events(rng, 3000, 20.0 + 30.0 * s)
    rec = review.build(counts, {"X": (sig, s)}, fpr, 40e6, {"threshold": 2.0})
    with pytest.raises(L1mlError, match="signal X: 3000 events but 2999 scores"):
        review.build(counts, {"X": (sig, s[:-1])}, fpr, 40e6, {"threshold": 2.0})
    streamed = review.stream_observables(sig[i : i + 700] for i in range(0, 3000, 700))
    assert review.build(counts, {"X": (streamed, s)}, fpr, 40e6, {"threshold": 2.0}) == rec
    best = rec["baseline"]
    cut = review.observables(sig)[best] > counts.threshold(best, fpr)[0]
    model = s > 2.0
    g = rec["gain"]["X"]
    assert g["model_tpr"] == model.mean() and g["baseline_tpr"] == cut.mean()
    assert math.isclose(g["difference"], model.mean() - cut.mean(), abs_tol=1e-12)
    d = model.astype(float) - cut.astype(float)
    assert math.isclose(g["error"], d.std() / math.sqrt(len(d)), rel_tol=1e-9)
    means = {c: np.mean([e["tpr"] for e in rec["cuts"][c]["signals"].values()]) for c in review.CUTS}
    assert means[best] == max(means.values())
    for o, pts in rec["turn_on"]["X"].items():
        assert sum(p["events"] for p in pts) == 3000, o
        assert sum(p["passed"] for p in pts) == int(model.sum()), o
        assert all(p["tpr_low"] <= p["tpr"] <= p["tpr_high"] for p in pts)
    for o, pts in rec["baseline_turn_on"]["X"].items():  # the cut's own curve, in the model's bins
        assert [p["events"] for p in pts] == [p["events"] for p in rec["turn_on"]["X"][o]], o
        assert sum(p["passed"] for p in pts) == int(cut.sum()), o
    lead = rec["turn_on"]["X"]["leading object pT"]
    assert lead[-1]["tpr"] > lead[0]["tpr"]  # pTs grow with the score here: the curve turns on
