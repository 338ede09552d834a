"""The wrap-around hazard for networks (issue 26): an anomaly trigger sees out-of-range events by design,
and where the score type wraps (AP_WRAP) such an event becomes a small, normal-looking score that parity
tests cannot catch, since the emulator wraps too. A score type that holds the project's background scores
but not those of events at the hardware range's corners: `convert` warns, naming the layer and the events,
and `validate` fails on those events while the project's own events pass."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from _fidelity import dense_ae, save_h5, tiny_project

pytestmark = pytest.mark.slow


def test_a_score_type_that_wraps_beyond_the_background_is_warned_and_fails_validation(tmp_path, small_data):
    from typer.testing import CliRunner

    from l1ml.cli.main import app
    from l1ml.emulate.nn_fixed import emulate_arrays
    from l1ml.fixed import FixedType

    proj = tiny_project(tmp_path, "dense_ae", small_data, **{"validation.events": 100})
    r = CliRunner().invoke(
        app, ["models", "import", "--project", str(proj.path), str(save_h5(dense_ae(), tmp_path / "m.h5"))]
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["convert", "--project", str(proj.path)])
    assert r.exit_code == 0, r.output
    fw = json.loads((proj.firmware_dir("v1") / "manifest.json").read_text())
    hazard = fw["wrap_hazard"]
    assert "score" in hazard["layers"] and hazard["wrapped"] == {}  # hls4ml's auto type holds every score
    assert hazard["events"]["background"] > 0 and hazard["events"]["hardware-range"] > 0

    # the same fractional bits, and integer bits for twice the largest background score only
    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.wrap import BACKGROUND_EVENTS, hardware_extremes

    auto = FixedType.parse(fw["layer_types"]["score"]["result_t"])
    pre = Preprocessing.load(proj.model_dir("v1") / "preprocessing.json")
    from l1ml.data import units
    from l1ml.data.io import load_particles

    bkg = pre.apply(
        units.to_hardware(
            load_particles(proj.resolve(proj.data.background), proj.data.key, BACKGROUND_EVENTS)
        )
    )
    hls = proj.firmware_dir("v1") / "hls4ml"
    top_bkg = float(np.abs(list(emulate_arrays(hls, bkg).values())[-1]).max())
    top_hw = float(np.abs(list(emulate_arrays(hls, hardware_extremes(pre)).values())[-1]).max())
    integer = max(2, math.ceil(math.log2(2 * top_bkg)) + 1)
    assert 2.0 ** (integer - 1) < top_hw  # the hardware range's corners reach beyond it
    narrow = f"ap_fixed<{integer + auto.frac},{integer}>"
    yml = tmp_path / "narrow_score.yml"
    yml.write_text(f"LayerName:\n  score:\n    Precision:\n      result: {narrow}\n")
    text = proj.file.read_text().replace("[firmware]", f'[firmware]\nhls_config = "{yml}"')
    proj.file.write_text(text)

    r = CliRunner().invoke(app, ["convert", "--project", str(proj.path)])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "warning: layer 'score'" in out and "on the hardware-range events" in out
    assert "on the background events" not in out
    fw = json.loads((proj.firmware_dir("v1") / "manifest.json").read_text())
    assert fw["wrap_hazard"]["wrapped"]["hardware-range"]["score"] > 0

    r = CliRunner().invoke(app, ["validate", "--project", str(proj.path)])
    assert r.exit_code == 1, r.output
    rep = json.loads((proj.build_dir / "validation" / "v1" / "report.json").read_text())
    by_name = {c["name"]: c for c in rep["comparisons"]}
    assert by_name["score"]["mismatches"] == 0  # the project's own events cannot see it...
    assert by_name["score (hardware-range events)"]["mismatches"] > 0  # ...the out-of-range ones do
    assert rep["passed"] is False
