"""A BDT made outside the project, on identity-preprocessed hardware units (pT up to 4095): convert
chooses a type that holds its inputs and thresholds, or refuses the project's precision with the numbers;
validate prints out-of-range inputs when there are any."""

from __future__ import annotations

import numpy as np
import pytest
from _fidelity import tiny_project

from l1ml.firmware import convert
from l1ml.models.importer import import_model
from l1ml.validate import validate


def _hardware_bdt(tmp_path, small_data):
    """xgboost on the project's own events in hardware units: thresholds far above 128."""
    import xgboost as xgb

    from l1ml.data import units
    from l1ml.data.io import load_particles

    bkg = units.to_hardware(load_particles(small_data / "background.h5", "Particles", 3000))
    sig = units.to_hardware(load_particles(small_data / "Ato4l.h5", "Particles", 3000))
    x = np.concatenate([bkg, sig]).astype(np.float32)
    # a selection on the MET and leading-jet pT in hardware units (0.5 GeV): its cuts lie far above 128
    y = ((x[:, 0] > 150) | (x[:, 15] > 130)).astype(np.float32)
    params = {"max_depth": 3, "objective": "binary:logistic", "seed": 1, "tree_method": "hist"}
    booster = xgb.train(params, xgb.DMatrix(x, y), 6)
    f = tmp_path / "team_bdt.json"
    booster.save_model(str(f))
    return f


def _max_threshold(booster_file) -> float:
    import json

    trees = json.loads(booster_file.read_text())["learner"]["gradient_booster"]["model"]["trees"]
    return max(
        max(c for c, left in zip(t["split_conditions"], t["left_children"], strict=True) if left >= 0)
        for t in trees
    )


def _samples(project, n=400):
    from l1ml.data.preprocess import Preprocessing
    from l1ml.validate.samples import samples_hw

    pre = Preprocessing.identity()
    return {k: pre.apply(v) for k, v in samples_hw(project, n).items()}


@pytest.mark.slow
def test_bdt_precision_holds_inputs_and_thresholds(tmp_path, small_data):
    from l1ml.firmware.bdt_precision import check, needs
    from l1ml.firmware.conifer import ensemble_from_booster, load_booster
    from l1ml.fixed import FixedType
    from l1ml.validate.bdt import validate_bdt

    f = _hardware_bdt(tmp_path, small_data)
    assert _max_threshold(f) >= 128  # the case that overflowed ap_fixed<18,8>
    # the example's precision is the project default, ap_fixed<18,8,AP_RND>: widened, modes kept
    proj = tiny_project(tmp_path, "bdt", small_data)
    d = import_model(proj, f)
    fw = convert(proj)
    t = FixedType.parse(fw["precision"])
    assert fw["precision_requested"] == "ap_fixed<18,8,AP_RND>" and fw["precision_chosen"]
    assert t.rounding == "RND" and t.v_max * t.lsb >= 4095 and t.v_max * t.lsb >= _max_threshold(f)
    from l1ml.manifest import sha256

    cm = proj.firmware_dir("v1") / "conifer_model.json"
    assert fw["hashes"]["conifer_model"] == sha256(cm) and ".staging" not in cm.read_text()
    ens, _ = ensemble_from_booster(load_booster(d))
    assert check(t, needs(ens, None), ens) == []  # every threshold in range and on the right side
    # On the project's events: no input out of range (ap_fixed<18,8> had hundreds), validated against
    # the bit-exact reference without the compiled emulators (those run in the extended test below).
    x = _samples(proj)
    old = FixedType.parse("ap_fixed<18,8,AP_RND>")
    assert sum(int((np.abs(old.quantize(v) - v) >= old.lsb).any(axis=1).sum()) for v in x.values()) > 0
    r = validate_bdt(proj, d, proj.firmware_dir("v1"), x, None, emulators=())
    assert all(q["events_with_inputs_out_of_range"] == 0 for q in r.quantization.values()), r.quantization
    assert all(q["events_with_score_out_of_range"] == 0 for q in r.quantization.values())


@pytest.mark.extended
def test_bdt_with_chosen_precision_validates_through_every_emulator(tmp_path, small_data):
    proj = tiny_project(tmp_path, "bdt", small_data)
    import_model(proj, _hardware_bdt(tmp_path, small_data))
    convert(proj)
    v = validate(proj, events=400)
    quant = v.details["bdt"]["quantization"]
    assert all(q["events_with_inputs_out_of_range"] == 0 for q in quant.values()), quant
    assert v.notes == [] and all(c.ok for c in v.comparisons)


@pytest.mark.slow
def test_a_precision_that_cannot_hold_the_bdt_is_refused_with_numbers(tmp_path, small_data):
    from l1ml.firmware.bdt_precision import PrecisionError

    f = _hardware_bdt(tmp_path, small_data)
    proj = tiny_project(tmp_path, "bdt", small_data, **{"firmware.precision": "ap_fixed<18,8>"})
    import_model(proj, f)
    with pytest.raises(
        PrecisionError, match=r"inputs reach \[-?\d.*4095\].*thresholds are outside.*ap_fixed<"
    ):
        convert(proj)
    assert not (proj.build_dir / "firmware").exists() or not list((proj.build_dir / "firmware").iterdir())


def test_validate_prints_inputs_out_of_range(capsys):
    from l1ml.cli.validate import show
    from l1ml.validate.bdt import BdtValidation
    from l1ml.validate.model import bdt_notes
    from l1ml.validate.verdict import Validation

    r = BdtValidation(
        comparisons=[],
        flips={"background": 0},
        threshold=0.5,
        passed=True,
        precision="ap_fixed<18,8>",
        events={"background": 2000},
        quantization={
            "background": {"events_with_inputs_out_of_range": 1322, "events_with_score_out_of_range": 3}
        },
    )
    v = Validation(
        "p", "v1", "bdt", [], {"background": 0}, 0.5, {"background": 2000}, True, notes=bdt_notes(r)
    )
    show(v, {"json": "r.json", "junit": "j.xml", "png": "d.png"})
    out = capsys.readouterr().out
    assert "1,322 of 2,000 events have inputs outside ap_fixed<18,8>" in out
    assert "3 of 2,000 events have a score outside" in out
