"""The trigger record (l1ml/models/threshold.py) on firmware-exact scores: the threshold in integer and
real form, the rule of metrics.threshold_for_fpr, the count a float comparison and the integer comparison
both give, intervals, and the min_events_above flag."""

from __future__ import annotations

import numpy as np
import pytest

from l1ml.emulate.stream import ScoreCounts
from l1ml.models.metrics import threshold_for_fpr
from l1ml.models.threshold import build, target


@pytest.fixture
def proj(tmp_path):
    from _projects import make_project

    from l1ml.project import load_project

    return load_project(make_project(tmp_path, "dense_ae", **{"trigger.rates_khz": [1.0, 100.0]}))


def test_record_on_exact_scores(proj):
    frac = 10
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 1 << 16, 200_000)
    bits[:50] = 60_000  # a tie at the top: the rule still leaves at most floor(fpr * N) above
    scores = bits * 2.0**-frac
    counts = ScoreCounts()
    counts.add(scores)
    sig = {"A": rng.integers(0, 1 << 17, 5000) * 2.0**-frac}
    fw_man = {"outputs": [{"precision": "ap_fixed<18,8>"}]}
    rec = build(proj, "v1", "abc", "dense_ae", fw_man, counts, sig, ["rate.h5"])
    assert rec["score_frac"] == frac and rec["rate_sample"]["events"] == 200_000
    for rate in (1.0, 100.0):
        e = target(rec, rate)
        fpr = rate * 1e3 / proj.colliding_rate_hz
        assert e["threshold"] == threshold_for_fpr(scores, fpr)  # one rule, here on exact counts
        assert e["threshold"] == e["threshold_int"] * 2.0**-frac
        k = int((bits > e["threshold_int"]).sum())  # the library's integer comparison
        assert e["events_above"] == k == int((scores > e["threshold"]).sum()) <= int(fpr * 200_000)
        assert e["rate_low_khz"] <= e["rate_measured_khz"] <= e["rate_high_khz"]
        s = e["signals"]["A"]
        assert s["tpr"] == float((sig["A"] > e["threshold"]).mean()) and s["tpr_low"] <= s["tpr"] <= s["tpr_high"]
        assert e["enough"] == (k >= 100)
    assert not target(rec)["enough"]  # 1 kHz on 200k events: about 7 events above
    assert target(rec, 100.0)["enough"]
    assert rec["reference"] is not None  # 1e-5 x 200k >= 1: resolvable, so recorded
