"""`l1ml explore` on the dense AE: three score precisions give monotone physics; the narrowest loses TPR,
overflows where expected (counted exactly) and would fail validation; a rerun is served from the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from explore_helpers import SCORE_GRID
from typer.testing import CliRunner

from l1ml.cli.main import app


@pytest.mark.slow
def test_three_score_precisions(trained, tmp_path):
    from l1ml.explore.sweep import explore, make_context

    grid = tmp_path / "scan.yml"
    grid.write_text(SCORE_GRID)
    res = explore(trained, grid, "v1")
    base, (wide, mid, narrow) = res["baseline"], res["points"]
    assert [p["name"].split("=")[1] for p in res["points"]] == [
        "ap_fixed<56,26>", "ap_fixed<14,4,AP_TRN,AP_SAT>", "ap_fixed<10,2,AP_TRN,AP_SAT>"
    ]
    # the exact type is the project's own firmware: same physics, no flips, validation passes
    for p in (base, wide):
        assert p["validation"]["passed"] and p["physics"]["flipped_fraction"] == 0
        assert all(s["tpr_change"] == 0 and s["auc_change"] == 0 for s in p["physics"]["signals"].values())
        assert p["new_overflows"] == {}
    # monotone: narrowing never gains; the narrowest saturates below the threshold and loses TPR
    tprs = [p["physics"]["mean_tpr"] for p in (wide, mid, narrow)]
    assert tprs[0] >= tprs[1] >= tprs[2]
    assert tprs[0] - tprs[2] > 0.02, tprs
    assert narrow["physics"]["signals"]["Ato4l"]["tpr_change"] < -0.05
    assert narrow["physics"]["flipped_fraction"] > wide["physics"]["flipped_fraction"]
    # the threshold for the target rate is the variant's own: at most the narrow type's largest value
    assert narrow["physics"]["threshold"] <= 2 - 2**-8 < wide["physics"]["threshold"]
    assert abs(wide["physics"]["rate_khz"] - 286.0) < 286.0 * 0.1
    # overflows: only in the score layer, and exactly the events whose exact score the type cannot hold
    assert set(mid["new_overflows"]) == set(narrow["new_overflows"]) == {"score"}
    ctx = make_context(trained, "v1", 0)
    for p, top in ((mid, 8.0), (narrow, 2.0)):
        want = sum(int((s >= top).sum()) for s in ctx.sw_scores.values())
        assert p["overflows"]["score"]["saturated"] == want > 0
    # validation would fail for both narrowed points, on the score
    for p in (mid, narrow):
        assert not p["validation"]["passed"] and p["validation"]["max_diff_lsb"][-1] > 0
    # the resource estimate is labelled and shrinks with the score's width
    assert wide["resources"]["source"] == "estimate" and "not LUT" in wide["resources"]["label"]
    assert wide["resources"]["bops_per_reuse"] > narrow["resources"]["bops_per_reuse"]
    png = open(res["plot"], "rb").read(8)
    assert png.startswith(b"\x89PNG")

    # a rerun through the CLI: every point from the cache, the same figures; the narrowest kept
    r = CliRunner().invoke(app, ["explore", "-p", str(trained.path), "-m", "v1", "--grid", str(grid), "--json",
                                 "--keep", "3"])
    assert r.exit_code == 0, r.output
    again = json.loads(r.stdout)
    assert all(p["cached"] for p in again["points"]) and again["baseline"]["cached"]
    for a, b in zip(res["points"], again["points"], strict=True):
        assert a["physics"] == b["physics"] and a["variant"] == b["variant"]
    assert again["kept"] == [{"index": 3, "variant": narrow["variant"],
                              "dir": str(trained.firmware_dir("v1", narrow["variant"]))}]
    kept = trained.firmware_dir("v1", narrow["variant"])
    assert "ap_fixed<10,2,AP_TRN,AP_SAT" in (kept / "hls4ml" / "firmware" / "defines.h").read_text()


def test_overflow_counting_catches_saturation_and_wrapping():
    """The counter sees exactly the values an ap_fixed cast brings back into range, per layer and mode."""
    from l1ml.fixed import Bounds, FixedType, cast, count_overflows, from_real, in_layer

    q = np.array([[-300.0, -129.0, -128.0, 0.0, 127.0, 128.0, 5000.0]])  # codes with 0 fractional bits
    b = Bounds(-300.0, 5000.0)
    with count_overflows() as c:
        with in_layer("sat"):
            out, _ = cast(q.copy(), 0, b, FixedType(8, 8, True, "TRN", "SAT"))
        with in_layer("wrap"):
            cast(q.copy(), 0, b, FixedType(8, 8, True, "TRN", "WRAP"))
        with in_layer("shifted"):  # 2 fraction bits dropped: 127.75 -> 127 and -128 fit; 128 and -128.25 -> -129 do not
            cast(np.array([[511.0, 512.0, -512.0, -513.0]]), 2, Bounds(-513.0, 512.0), FixedType(8, 8, True, "TRN", "SAT"))
        with in_layer("input"):
            from_real(np.array([1.0, 200.0]), FixedType(8, 8, True, "TRN", "WRAP"))
        cast(np.array([[1.0, 2.0]]), 0, Bounds(0.0, 2.0), FixedType(8, 8))  # cannot overflow: not counted
    assert out.tolist() == [[-128.0, -128.0, -128.0, 0.0, 127.0, 127.0, 127.0]]
    assert c == {"sat": {"saturated": 4}, "wrap": {"wrapped": 4}, "shifted": {"saturated": 2}, "input": {"wrapped": 1}}
    with count_overflows() as none:
        pass
    assert none == {}


def test_grid_ranges_and_errors(tmp_path):
    from l1ml.errors import ConfigError
    from l1ml.explore.grid import load_grid, points

    g = tmp_path / "g.yml"
    g.write_text("Model:\n  ReuseFactor: [1, 2]\nLayerName:\n  d1:\n    Precision: ap_fixed<8..16/4,6>\nInput:\n  Precision: ap_fixed<19,13>\n")
    pts = points(load_grid(g), str(g), "inputs", "score")
    assert len(pts) == 6
    assert [p.overrides["LayerName"]["d1"]["Precision"] for p in pts[:3]] == ["ap_fixed<8,6>", "ap_fixed<12,6>", "ap_fixed<16,6>"]
    assert {p.reuse_factor for p in pts} == {1, 2}
    assert all(p.overrides["LayerName"]["inputs"] == {"Precision": "ap_fixed<19,13>"} for p in pts)
    g.write_text("LayerName:\n  d1:\n    Precision: [ap_fixed<8,6>, ap_fixed<9,6>]\n")
    with pytest.raises(ConfigError, match="quote each type"):
        points(load_grid(g), str(g), "inputs", "score")
    g.write_text("Model:\n  ClockPeriod: [5, 4]\n")
    with pytest.raises(ConfigError, match="cannot be explored"):
        load_grid(g)
    g.write_text("Model:\n  Strategy: [Latency, Fast]\n")
    with pytest.raises(ConfigError, match="Fast"):
        points(load_grid(g), str(g), "inputs", "score")


@pytest.mark.extended
def test_predicted_validation_matches_l1ml_validate(trained, tmp_path):
    """What explore predicts for validation is what `l1ml validate` (the C simulation) then says, for the
    exact point and the narrowest one, each kept and made active in turn."""
    from l1ml.explore.sweep import explore
    from l1ml.firmware.variants import set_active
    from l1ml.layout import version_root
    from l1ml.validate import validate

    grid = tmp_path / "scan.yml"
    grid.write_text(SCORE_GRID)
    res = explore(trained, grid, "v1", keep=("1", "3"))
    root = version_root(trained, "v1")
    for p in (res["points"][0], res["points"][2]):
        set_active(root, p["variant"], "test")
        v = validate(trained, "v1")
        assert v.variant == p["variant"]
        assert v.passed == p["validation"]["passed"], (p["name"], v.failures)
