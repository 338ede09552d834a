"""The gate judges TPR changes at the deployed threshold with their statistical error and relative to the
production value (issue 24), refuses a threshold resting on too few rate-sample events, and works
against whatever production is, itself included."""

from __future__ import annotations

import pytest
from lifecycle_helpers import make_version

from l1ml.lifecycle.promote import GateFailed, check, promote
from l1ml.lifecycle.stages import load_stages
from l1ml.models.threshold import binomial_interval
from l1ml.project import load_project


@pytest.fixture
def proj(tmp_path, monkeypatch):
    from _projects import make_project

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return load_project(make_project(tmp_path, "dense_ae"))


def test_lower_precision_retrain_losing_one_signal_is_refused_naming_it(proj):
    make_version(proj, "v1", tpr=0.30)
    promote(proj, "v1")
    # A 3-bit retrain: leptoquark falls from 0.30 to 0.24 (-20% relative, 0.06 absolute, ~6 sigma on
    # 5000 events); the other signals are unchanged.
    make_version(proj, "v2", tpr=0.30, tprs={"leptoquark": 0.24})
    with pytest.raises(GateFailed) as exc:
        promote(proj, "v2")
    msg = str(exc.value)
    assert "tpr_at_target_rate/leptoquark" in msg and "0.2400 vs 0.3000" in msg and "-20.0%" in msg
    assert "Ato4l" not in msg and "hToTauTau" not in msg
    assert load_stages(proj)["current"]["production"] == "v1"


def test_a_small_relative_loss_of_a_rare_signal_is_caught_when_significant(proj):
    # 0.020 -> 0.0104 is within tpr_drop = 0.01 absolute, but -48% relative and about 4 sigma on 5000
    # events: the relative limit catches what the absolute one alone would not.
    make_version(proj, "v1", tpr=0.3, tprs={"Ato4l": 0.020})
    promote(proj, "v1")
    make_version(proj, "v2", tpr=0.3, tprs={"Ato4l": 0.0196})  # -2%, within every limit
    assert check(proj, "v2").passed
    make_version(proj, "v3", tpr=0.3, tprs={"Ato4l": 0.0104})
    g = check(proj, "v3")
    assert not g.passed and [c.name for c in g.failures] == ["tpr_at_target_rate/Ato4l"]


def test_a_drop_within_its_statistical_error_passes(proj):
    make_version(proj, "v1", tpr=0.3, tprs={"Ato4l": 0.0008})  # 4 of 5000 events
    promote(proj, "v1")
    make_version(proj, "v2", tpr=0.3, tprs={"Ato4l": 0.0004})  # 2 of 5000: -50%, but ~1 sigma
    g = check(proj, "v2")
    assert g.passed, [c.detail for c in g.failures]


def test_threshold_on_too_few_events_is_refused_with_the_count(proj):
    make_version(proj, "v1", tpr=0.3, above=6)
    with pytest.raises(GateFailed, match=r"threshold statistics .*rests on 6 rate-sample events .*need 100"):
        promote(proj, "v1")


def test_gate_against_itself_is_a_no_op_pass(proj):
    make_version(proj, "v1", tpr=0.3)
    promote(proj, "v1")
    g = check(proj, "v1")
    assert g.passed and g.reference == "v1"
    assert any(c.name.startswith("tpr_at_target_rate/") for c in g.checks)
    entry, g2 = promote(proj, "v1")
    assert g2.passed and not entry["forced"]


def test_clopper_pearson_interval():
    lo, hi = binomial_interval(0, 100)
    assert lo == 0 and 0.01 < hi < 0.02
    lo, hi = binomial_interval(100, 3_000_000)
    assert lo < 100 / 3e6 < hi and 0.08 < (hi - lo) / 2 / (100 / 3e6) < 0.12  # about +-10% at 100 events
