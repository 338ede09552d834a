"""`l1ml explore` on an HGQ2 model (issue 28): each point converted by the Keras 3 worker, checked against
the Keras 3 reference, scored with its compiled C simulation; rows cached; what cannot run is one line."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from l1ml.cli.main import app

REUSE_GRID = """\
# two reuse factors of the Latency strategy
Model:
  Strategy: Latency
  ReuseFactor: [1, 2]
"""

STRATEGY_GRID = """\
# the multiplier-based strategy against distributed arithmetic (da4ml)
Model:
  Strategy: [Latency, distributed_arithmetic]
"""


def _grid(tmp_path, text: str, name: str):
    f = tmp_path / f"{name}.yml"
    f.write_text(text)
    return f


@pytest.mark.slow  # trains, converts and compiles (session fixture)
def test_explore_reuse_grid_scores_equal_the_c_simulation_and_keras(hgq2_converted, tmp_path):
    """The CI test proving the feature: a 2-point grid (Latency at reuse 1, the variant convert wrote, and
    reuse 2, converted by the worker for explore), every event through the points' C simulations. Each
    point equals the Keras 3 model on every event (no flip, no TPR change, validation would pass), its
    scores equal the C simulation run independently, the comparison fails on a one-LSB shift, and a
    rerun reads every point from the cache."""
    from l1ml.compare import compare
    from l1ml.explore import hgq2
    from l1ml.explore.sweep import CHUNK, explore, make_context, would_validate
    from l1ml.firmware.csim import load_csim
    from l1ml.fixed import lsb_of
    from l1ml.project import read_json

    proj, version, fw_dir = hgq2_converted
    grid = _grid(tmp_path, REUSE_GRID, "reuse")
    t0 = time.perf_counter()
    res = explore(proj, grid, version)
    seconds = time.perf_counter() - t0
    base, (rf1, rf2) = res["baseline"], res["points"]
    assert [p["reuse_factor"] for p in (rf1, rf2)] == [1, 2]
    assert rf1["variant"] == base["variant"] == read_json(fw_dir / "variant.json")["id"]
    assert rf1["firmware"] == "the variant convert wrote"
    assert (
        rf2["firmware"] == "converted by the Keras 3 worker for explore" and rf2["variant"] != rf1["variant"]
    )
    n_events = sum(rf1["physics"]["events"].values())
    assert n_events > 20_000
    for p in (base, rf1, rf2):
        assert "error" not in p, p.get("error")
        assert "C simulation" in p["arithmetic"] and p["overflows"] is None
        assert (
            p["reference"]["exact"] == p["reference"]["compared"] > 0
        )  # convert's check, as convert makes it
        ph = p["physics"]
        assert ph["flipped_fraction"] == 0 and p["validation"]["passed"], p["validation"]
        assert p["validation"]["max_diff_lsb"] == [0.0]
        for s in ph["signals"].values():
            assert s["tpr_change"] == 0 and s["auc_change"] == 0 and s["tpr_low"] <= s["tpr"] <= s["tpr_high"]
        assert ph["rate_low_khz"] <= ph["rate_khz"] <= ph["rate_high_khz"]
        assert (
            p["resources"]["source"] == "hgq2_ebops"
            and p["resources"]["figure"] == p["resources"]["ebops"] > 0
        )
    assert res["resource_axis"] == "HGQ2 EBOPs (estimate)"
    print(f"\nexplore, 2-point HGQ2 grid: {seconds:.1f} s ({n_events} events per point)")

    # the scores behind a row, recomputed: equal to Keras 3 (the worker) and to the C simulation run by
    # firmware/csim.py (another caller of the same library) on every background event
    ctx = make_context(proj, version, 0)
    fw_man = read_json(fw_dir / "manifest.json")
    fields, scores, check, lsbs, _ = hgq2.score_point(ctx, proj, proj, rf1["variant"], tmp_path / "w", CHUNK)
    assert "error" not in fields
    lsb = lsb_of(fw_man["outputs"][-1]["precision"])
    bkg = scores["background"]
    assert len(np.unique(bkg)) > 3  # a score that varies, so the comparisons can tell values apart
    csim, _ = load_csim(fw_dir, fw_man)
    assert compare("score", csim.predict(ctx.x["background"])[0], bkg, lsb, 0).mismatches == 0
    assert compare("score", ctx.sw_scores["background"], bkg, lsb, 0).mismatches == 0
    # the comparison catches a real mismatch: one LSB more on every score, or on one validation output
    assert compare("score", ctx.sw_scores["background"], bkg + lsb, lsb, 0).mismatches == len(bkg)
    shifted = [[c[0] + np.where(np.arange(len(c[0]))[:, None] == 7, lsb, 0)] for c in check]
    val = would_validate(ctx, shifted, lsbs, scores)
    assert not val["passed"] and val["events_mismatched"] == [1] and val["max_diff_lsb"] == [1.0]

    # a rerun: every point from the cache, the same figures
    t0 = time.perf_counter()
    again = explore(proj, grid, version)
    assert all(p["cached"] for p in [again["baseline"], *again["points"]])
    assert [p["physics"] for p in again["points"]] == json.loads(
        json.dumps([p["physics"] for p in res["points"]])
    )
    assert time.perf_counter() - t0 < seconds


def test_grid_outside_strategy_and_reuse_is_one_line(hgq2_converted, tmp_path):
    """An HGQ2 grid may vary Model.Strategy and Model.ReuseFactor only: a precision, or a strategy never
    checked here, is refused in one line through the command (run_app prints it as one red line), before
    any conversion."""
    from l1ml.errors import ConfigError

    proj, version, _ = hgq2_converted
    cases = {
        "precision": ("Score:\n  Precision: [ap_fixed<16,8>, ap_fixed<12,6>]\n", r"so Score cannot be set"),
        "resource": (
            "Model:\n  Strategy: [Latency, Resource]\n",
            r"'Resource' is not one of Latency, distributed_arithmetic",
        ),
    }
    for name, (text, message) in cases.items():
        grid = _grid(tmp_path, text, name)
        r = CliRunner().invoke(app, ["explore", "-p", str(proj.path), "-m", version, "--grid", str(grid)])
        assert isinstance(r.exception, ConfigError), r.output
        assert re.search(message, str(r.exception)) and "\n" not in str(r.exception), str(r.exception)
    assert not (proj.build_dir / "explore" / version / "points").exists() or not any(
        (proj.build_dir / "explore" / version / "points").glob("*.firmware")
    )


@pytest.mark.extended
def test_explore_latency_against_distributed_arithmetic(hgq2_converted, tmp_path):
    """Latency and distributed arithmetic (da4ml) side by side: both bit-exact to Keras 3 on every event;
    DA's resources are da4ml's LUT estimate of its kernels, Latency's HGQ2's EBOPs, never on one axis.
    The DA point kept becomes a variant with the same figures. DA at reuse 2 cannot be built (hls4ml's DA
    needs reuse 1): one line in its row."""
    from l1ml.explore.sweep import explore
    from l1ml.project import read_json

    proj, version, _ = hgq2_converted
    t0 = time.perf_counter()
    res = explore(proj, _grid(tmp_path, STRATEGY_GRID, "strategy"), version)
    print(f"\nexplore, Latency vs DA: {time.perf_counter() - t0:.1f} s")
    lat, da = res["points"]
    assert (lat["strategy"], da["strategy"]) == ("Latency", "distributed_arithmetic")
    for p in (lat, da):
        assert "error" not in p, p.get("error")
        assert p["validation"]["passed"] and p["physics"]["flipped_fraction"] == 0
    assert lat["resources"]["source"] == "hgq2_ebops"
    assert da["resources"]["source"] == "da4ml" and da["resources"]["figure"] > 0
    assert da["resources"]["figure"] == sum(da["resources"]["layers"].values())
    assert res["resource_axis"].startswith("no common resource estimate")

    # --keep makes the DA point a firmware variant through convert itself (the rows from the cache): the id
    # explore reported, and the same da4ml figures recorded in its manifest
    kept = explore(proj, _grid(tmp_path, STRATEGY_GRID, "strategy"), version, keep=("2",))
    assert [k["variant"] for k in kept["kept"]] == [da["variant"]] and kept["points"][1]["cached"]
    fw = read_json(proj.firmware_dir(version, da["variant"]) / "manifest.json")
    assert fw["strategy"] == "distributed_arithmetic" and fw["da4ml_cost"] == da["resources"]["layers"]

    bad = _grid(tmp_path, "Model:\n  Strategy: distributed_arithmetic\n  ReuseFactor: 2\n", "da_reuse")
    (row,) = explore(proj, bad, version)["points"]
    assert "error" in row and "\n" not in row["error"] and "rf" in row["error"], row
