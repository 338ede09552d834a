"""The report page: --against with every number side by side and its delta, the firmware table from
parsed Vivado reports with % of the board, the contract files of issues 11/12 (written by the helper in
the documented format), all loaded in headless Chromium."""

from __future__ import annotations

import pytest
from lifecycle_helpers import SIGNALS, VENDOR, make_version, write_scores
from report_browser import load_page
from review_helpers import write_review

from l1ml.errors import ConfigError
from l1ml.lifecycle.promote import promote
from l1ml.project import load_project
from l1ml.report import build_report


@pytest.fixture
def proj(tmp_path, monkeypatch):
    from _projects import make_project

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return load_project(make_project(tmp_path, "dense_ae"))


@pytest.mark.skipif(not VENDOR.is_dir(), reason=f"vendor reports not found at {VENDOR}")
def test_report_against_production_in_chromium(proj, tmp_path):
    make_version(proj, "v1", tpr=0.50, csynth=True, rtl_lut=1000)
    write_scores(proj, "v1", shift=2.0, seed=1)
    make_version(proj, "v2", tpr=0.55, csynth=True, lut_scale=1.03, rtl_lut=990, deploy=True)
    write_scores(proj, "v2", shift=3.0, seed=2)
    with pytest.raises(ConfigError, match="no production version"):
        build_report(proj, "v2", "production")
    rv1, rv2 = write_review(proj, "v1", seed=1), write_review(proj, "v2", seed=2)
    promote(proj, "v1")
    path = build_report(proj, "v2", "production")
    assert path.name == "report-vs-v1.html"
    shot = tmp_path / "against.png"
    page = load_page(path, shot)
    print(f"screenshot: {shot} (kept also as {page['kept']})")
    assert page["errors"] == []
    for fig in ("fig-roc", "fig-scores", "fig-rate", "fig-turnon"):
        assert page["figures"][fig]["complete"] and page["figures"][fig]["width"] > 300, fig
    assert page["figures"]["fig-turnon"]["height"] > 200 * len(SIGNALS)  # one row per signal
    assert page["figures"]["fig-scores"]["height"] > 700  # v1's distributions in a panel of their own
    t = page["tables"]
    # Per signal at the deployed threshold, with the previous production version (v1) and new minus old.
    tpr = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in t["tpr-table"].splitlines()[2:]}
    assert set(tpr) == set(SIGNALS)
    assert tpr["Ato4l"][1].startswith("0.5500 [") and tpr["Ato4l"][2].startswith("0.5000 [")
    assert tpr["Ato4l"][3].startswith("+0.0500 ± 0.0")
    # The baseline: every cut with its rate, the chosen one named, the gain per signal as the record has it.
    assert all(
        c in t["cuts-table"] for c in ("HT", "MET", "leading e/gamma pT", "leading muon pT", "leading jet pT")
    )
    assert f"baseline, {rv2['baseline']}" in t["gain-table"]
    g = rv2["gain"]["Ato4l"]
    gain = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in t["gain-table"].splitlines()[2:]}
    assert gain["Ato4l"][2] == f"{g['difference']:+.4f} ± {g['error']:.4f}"
    assert (
        gain["Ato4l"][3] == f"{rv1['gain']['Ato4l']['difference']:+.4f} ± {rv1['gain']['Ato4l']['error']:.4f}"
    )
    assert "Δ (v2 − v1)" in t["comparison-table"]
    rows = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in t["comparison-table"].splitlines()}
    assert rows["tpr_at_target_rate/Ato4l"] == ["0.55", "0.5", "+0.05"]
    assert rows["LUT"] == ["2,608", "2,532", "+76"]
    assert rows["rtl_lut"] == ["990", "1,000", "-10"]
    assert "Δ TPR" in t["metrics-table"] and "+0.0500" in t["metrics-table"]
    fw = t["firmware-table"]
    # Vivado HLS 2020.1 figures: 10 cycles at 5 ns, II 8; LUT 2532 of the VU9P's 1,182,240 = 0.21%.
    assert "v1\tcsynth (HLS estimate)\t10\t50\t8\t2,532 (0.21%)" in fw
    assert "yosys 0.23: open-source synthesis" in fw and "not Vivado figures" in fw
    assert "2432" in t["deploy-table"].replace(",", "") and "0.858" in t["deploy-table"]
    assert shot.stat().st_size > 20_000


def test_score_axis_follows_the_scores():
    """An autoencoder's scores span decades: log x, the threshold inside; scores in a narrow band: linear."""
    import numpy as np

    from l1ml.report.plots import score_range

    rng = np.random.default_rng(0)
    ae = {"background": rng.lognormal(0, 1.0, 50_000), "weak": rng.lognormal(0.3, 1.0, 2_000)}
    edges, logx = score_range(ae, 200.0)
    assert logx and edges[0] < np.quantile(ae["background"], 0.01) and edges[-1] >= 200.0
    bdt = {"background": rng.uniform(0.2, 0.4, 5000), "s": rng.uniform(0.3, 0.9, 500)}
    edges, logx = score_range(bdt, 0.85)
    assert not logx and edges[0] < 0.21 and edges[-1] > 0.85
    few = {"background": rng.choice([-1.0, 0.25, 1.5], 4000), "s": rng.choice([0.25, 1.5, 2.0], 400)}
    edges, logx = score_range(few, 1.5)  # a small BDT's discrete scores: one bin around each value
    assert not logx and len(edges) == 5 and np.all(np.histogram([-1.0, 0.25, 1.5, 2.0], edges)[0] == 1)


def test_report_without_results_says_what_is_missing(proj, tmp_path):
    make_version(proj, "v1")
    page = load_page(build_report(proj, "v1"), tmp_path / "bare.png")
    assert page["errors"] == [] and page["figures"] == {}
    assert "No synthesis results yet" in page["tables"]["firmware-table"]


def test_firmware_table_falls_back_to_a_labelled_estimate(proj, tmp_path):
    """No vendor report and no open-RTL result: the estimate file (the format l1ml/firmware/estimate.py
    writes) fills the row, named as an estimate; a version with open-RTL figures shows those instead."""
    import json

    from l1ml import layout

    make_version(proj, "v1")
    make_version(proj, "v2", rtl_lut=990)
    for v in ("v1", "v2"):
        layout.estimate_file(proj, v).write_text(json.dumps({
            "source": "estimate (BOPs)", "method": "bit operations from layer widths and bit widths",
            "bops": 120000, "lut": 14780, "dsp": 0, "latency_cycles": 3, "clock_ns": 4.0,
        }))  # fmt: skip
    fw = load_page(build_report(proj, "v1"), tmp_path / "estimate.png")["tables"]["firmware-table"]
    rows = [r for r in fw.splitlines()[1:] if r.strip()]
    assert rows[0].startswith("v1\testimate (BOPs): bit operations") and "not synthesis\t3\t12\t" in rows[0]
    assert "14,780" in rows[0]
    assert [r.split("\t")[1].split(":")[0] for r in rows[1:]] == ["yosys 0.23"]  # v2: open RTL, no estimate


def test_previous_production_is_the_replaced_version(proj):
    """The TPR table's comparison: the current production version, or, for the production version itself,
    the one it replaced; none before any promotion."""
    from l1ml.report.build import previous_production

    for v in ("v1", "v2", "v3"):
        make_version(proj, v)
    assert previous_production(proj, "v2") is None
    promote(proj, "v1")
    assert previous_production(proj, "v2") == "v1" and previous_production(proj, "v1") is None
    promote(proj, "v2", force=True)
    assert previous_production(proj, "v2") == "v1" and previous_production(proj, "v3") == "v2"
