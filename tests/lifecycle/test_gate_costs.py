"""The gate's latency and resource checks always have figures, compared like with like: vendor reports
where both versions have them, else open-RTL figures, else the labelled estimate that `l1ml validate`
writes (l1ml/firmware/estimate.py's format) when both come from the same source; each check names it."""

from __future__ import annotations

import json

import pytest
from lifecycle_helpers import VENDOR, make_version

from l1ml import layout
from l1ml.lifecycle.promote import GateFailed, check, promote
from l1ml.project import load_project

ALKAID = "estimate (alkaid 0.8.2)"


@pytest.fixture
def proj(tmp_path, monkeypatch):
    from _projects import make_project

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return load_project(make_project(tmp_path, "dense_ae"))


def write_estimate(proj, version: str, lut: int, cycles: int = 10, source: str = ALKAID) -> None:
    f = layout.estimate_file(proj, version)
    f.write_text(json.dumps({"source": source, "method": "test", "lut": lut, "dsp": 0, "ff": 700,
                             "latency_cycles": cycles, "version": version}))  # fmt: skip


def test_without_synthesis_the_estimate_is_compared_and_named(proj):
    make_version(proj, "v1")
    write_estimate(proj, "v1", 1000)
    promote(proj, "v1")
    make_version(proj, "v2")
    write_estimate(proj, "v2", 1200, cycles=14)  # +20% LUT, +40% latency
    with pytest.raises(GateFailed) as exc:
        promote(proj, "v2")
    msg = str(exc.value)
    assert (
        f"est_lut (1200 vs 1000 (+20.0%; allowed resource_growth 0.05; both from estimate: {ALKAID})" in msg
    )
    assert "est_latency_cycles (14 vs 10 (+40.0%" in msg
    make_version(proj, "v3")
    write_estimate(proj, "v3", 1020)
    g = check(proj, "v3")
    assert g.passed and {c.name for c in g.checks} >= {"est_lut", "est_ff", "est_dsp", "est_latency_cycles"}


def test_estimates_of_different_sources_are_not_compared(proj):
    make_version(proj, "v1")
    write_estimate(proj, "v1", 1000)
    promote(proj, "v1")
    make_version(proj, "v2")
    write_estimate(proj, "v2", 90_000, source="estimate (BOPs)")  # alkaid refused v2: BOPs, not comparable
    g = check(proj, "v2")
    assert not any(c.name.startswith("est_") for c in g.checks)
    assert any(f"v2's from estimate (BOPs), v1's from {ALKAID}; not compared" in n for n in g.notes)
    assert any("latency and resources not compared: no source on both sides" in n for n in g.notes)


@pytest.mark.skipif(not VENDOR.is_dir(), reason=f"vendor reports not found at {VENDOR}")
def test_vendor_figures_on_one_side_only_fall_back_to_the_estimate(proj):
    make_version(proj, "v1", csynth=True)  # production has an HLS report; the candidate does not
    write_estimate(proj, "v1", 1000)
    promote(proj, "v1")
    make_version(proj, "v2")
    write_estimate(proj, "v2", 1300)
    g = check(proj, "v2")
    names = {c.name for c in g.checks}
    assert "LUT" not in names and "latency_cycles" not in names  # never vendor against estimate
    assert [c.ok for c in g.checks if c.name == "est_lut"] == [False]
    # both with vendor reports: those are compared, and the estimate adds no check
    make_version(proj, "v3", csynth=True, lut_scale=1.02)
    write_estimate(proj, "v3", 5000)
    g = check(proj, "v3")
    lut = next(c for c in g.checks if c.name == "LUT")
    assert lut.ok and "both from vendor: csynth (HLS estimate)" in lut.detail
    assert not any(c.name.startswith("est_") for c in g.checks)
