"""The labelled estimate (l1ml/firmware/estimate.py) on real converted firmware: alkaid's figures equal
the ones alkaid itself writes for the design `l1ml convert --backend rtl` builds; a network alkaid cannot
take gets BOPs from its layers; a BDT gets BOPs from its trees as xgboost counts them."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "rtl"))
sys.path.insert(0, str(TESTS / "bdt"))


@pytest.fixture(scope="module")
def network(tmp_path_factory, small_data):
    from _cache import own_cache
    from rtl_helpers import SMALL, trained

    cache = own_cache(tmp_path_factory, "estimate-cache")
    next(cache)
    proj, _ = trained(tmp_path_factory.mktemp("estimate"), "vae_encoder", small_data, **SMALL)
    yield proj
    next(cache, None)


def test_alkaid_estimate_is_alkaids_own_figures_of_the_rtl_design(network):
    from l1ml import layout
    from l1ml.firmware.estimate import write_estimate
    from l1ml.firmware.rtl.build import build_rtl

    est = write_estimate(network)
    assert est["source"].startswith("estimate (alkaid ")
    f = layout.estimate_file(network, "v1")
    assert json.loads(f.read_text()) == est
    stamp = f.stat().st_mtime_ns
    assert write_estimate(network) == est and f.stat().st_mtime_ns == stamp  # same firmware: kept
    info = build_rtl(network)  # the design convert --backend rtl writes, pipelined by RTLModel.write()
    meta = json.loads((network.firmware_dir("v1") / "rtl" / "design" / "metadata.json").read_text())
    assert est["lut"] == round(meta["cost"])
    assert est["ff"] == meta["reg_bits"]
    assert est["latency_cycles"] == info["latency_cycles"] > 0
    assert est["dsp"] == 0


def test_a_network_alkaid_refuses_gets_bops(network):
    from l1ml.firmware import convert
    from l1ml.firmware.estimate import estimate
    from l1ml.models.io import load_model

    streamed = dataclasses.replace(
        network, firmware=dataclasses.replace(network.firmware, io_type="io_stream")
    )
    convert(streamed, testbench=False)
    est = estimate(streamed)
    assert est["source"] == "estimate (BOPs)"
    assert "io_stream" in est["why_not_alkaid"]
    # The first Dense layer's BOPs (Baskin et al.): its shape from the Keras model, its widths and zero
    # weights from the streamed firmware's graph.
    import numpy as np

    from l1ml.emulate.nn_fixed import load_hls_model
    from l1ml.emulate.nn_layers import result_type, weight_codes

    keras = load_model(network.model_dir("v1") / "deploy.h5")
    dense = next(la for la in keras.layers if "Dense" in type(la).__name__)
    n, m = dense.get_weights()[0].shape
    hm = load_hls_model(streamed.firmware_dir("v1") / "hls4ml", keras_model=keras)
    layer = next(la for la in hm.get_layers() if la.name == dense.name)
    w, wt = weight_codes(layer, "weight")
    b_a = result_type(next(la for la in hm.get_layers() if la.outputs[0] == layer.inputs[0])).width
    want = n * m * ((1 - np.mean(w == 0)) * b_a * wt.width + b_a + wt.width + math.log2(n))
    first = next(la for la in est["layers"] if la["class"] == "Dense")
    assert first["layer"] == dense.name
    assert first["bops"] == round(want)
    assert 0 < est["lut"] < est["bops"] and est["latency_cycles"] >= 1
    assert sum(la["bops"] for la in est["layers"]) == pytest.approx(est["bops"], abs=len(est["layers"]))


def test_bdt_bops_count_xgboosts_splits(tmp_path):
    from _bdt import make_bdt

    from l1ml.firmware.estimate import estimate

    b = make_bdt(tmp_path, n_trees=6, depth=3)
    est = estimate(b.project)
    df = b.booster.trees_to_dataframe()
    assert est["source"] == "estimate (BOPs)"
    assert est["splits"] == int((df["Feature"] != "Leaf").sum())
    assert est["n_trees"] == 6
    # conifer's VHDL is generated for the ensemble's max_depth (conifer's own figure, its writer.py)
    saved = json.loads((b.fw_dir / "conifer_model.json").read_text())
    assert saved["max_depth"] >= 3
    assert est["latency_cycles"] == 1 + saved["max_depth"] + math.ceil(math.log2(6))
    assert est["lut"] == est["bops"] > est["splits"] * 18
