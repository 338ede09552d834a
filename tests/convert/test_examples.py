"""Every example project converts and validates at 0 LSB; the second validation reuses the library."""

from __future__ import annotations

import json

import numpy as np
import pytest

from l1ml.validate import default_report_dir, validate, write_reports


def _bit_exact(proj, fw) -> None:
    """Direct check on the arrays: software (float64 deploy model) equals the C simulation."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.csim import load_csim
    from l1ml.models.ae import shape_inputs
    from l1ml.models.io import load_model, predict_exact
    from l1ml.validate import samples_hw

    d = proj.model_dir(fw["version"])
    man = json.loads((d / "manifest.json").read_text())
    pre = Preprocessing.load(d / "preprocessing.json")
    hw = np.concatenate(list(samples_hw(proj, 100).values()))
    x = shape_inputs(man["kind"], pre.apply(hw))
    csim, _ = load_csim(proj.firmware_dir(fw["version"]), fw)
    sw = predict_exact(load_model(d / "deploy.h5"), x)
    fw_out = csim.predict(x)
    assert len(sw) == len(fw_out) == 2
    for s, f in zip(sw, fw_out, strict=True):
        assert np.array_equal(s.reshape(f.shape), f)


@pytest.mark.slow
@pytest.mark.parametrize("example", ["dense_ae", "cnn_ae", "vae_encoder"])
def test_network_example_is_bit_exact(converted, example):
    proj, fw = converted(example)
    assert fw["tool"] == "hls4ml" and fw["namespace"] == proj.name
    model_man = proj.model_dir(fw["version"]) / "manifest.json"
    from l1ml.manifest import sha256

    assert fw["model_manifest"] == {"version": "v1", "path": str(model_man), "sha256": sha256(model_man)}
    assert (proj.firmware_dir("v1") / "hls4ml" / "firmware").is_dir()
    if example == "cnn_ae":
        assert fw["widened_pooling"] == ["enc_pool"]  # the CNN trap: pooling needs the extra bit
    v = validate(proj)
    assert v.passed, v.to_dict()
    assert all(c.mismatches == 0 and c.max_diff_lsb == 0 for c in v.comparisons)
    assert v.threshold is not None and set(v.flips) >= {"background", "Ato4l"}
    assert sum(v.flips.values()) == 0
    assert v.quantization and all(c.informative for c in v.quantization)
    _bit_exact(proj, fw)
    _testbench_data_written(
        proj, fw, ["hls4ml/tb_data/tb_input_features.dat", "hls4ml/tb_data/tb_output_predictions.dat"]
    )
    paths = write_reports(v, default_report_dir(proj, v.version))
    report = json.loads(open(paths["json"]).read())
    assert report["passed"] is True and report["comparisons"][1]["name"] == "score"
    assert "<testsuite" in open(paths["junit"]).read()
    assert open(paths["png"], "rb").read(4) == b"\x89PNG"


@pytest.mark.slow
def test_second_validation_does_not_recompile(converted):
    proj, _ = converted("dense_ae")
    validate(proj, events=50)
    again = validate(proj, events=50)
    assert again.cached_library is True and again.passed


@pytest.mark.slow
def test_bdt_example_converts_and_validates(converted):
    proj, fw = converted("bdt")
    assert fw["kind"] == "bdt" and fw["board"]["part"] == "xcvu9p-flga2104-2L-e"
    v = validate(proj, events=200)
    assert v.passed, v.to_dict()
    emulated = [c for c in v.comparisons if not c.name.endswith("float_vs_xgboost")]
    assert emulated and all(c.mismatches == 0 and c.max_diff_lsb == 0 for c in emulated)
    assert any(c.name == "background/hls_csim" for c in emulated)
    _testbench_data_written(
        proj,
        fw,
        [
            "conifer_hls/tb_data/tb_input_features.dat",
            "conifer_hls/tb_data/tb_output_predictions.dat",
            "conifer_vhdl/SimulationInput.txt",
        ],
    )


def _testbench_data_written(proj, fw, files) -> None:
    """convert fills the testbench data that hls4ml and conifer leave empty: real background events,
    and the outputs the firmware must give for them (the emulator's)."""
    tb = fw["testbench"]
    assert tb["files"] == files and tb["events"] > 0
    d = proj.firmware_dir(fw["version"])
    inputs = np.loadtxt(d / files[0], ndmin=2)
    expected = np.loadtxt(d / files[1], ndmin=2)
    assert inputs.shape == (tb["events"], 57) and len(expected) == tb["events"]
    assert len(np.unique(expected[:, -1])) > 1  # real, differing events, not one default input


@pytest.mark.slow
def test_cli_validate_writes_junit_and_exits_zero(converted, tmp_path):
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    proj, _ = converted("dense_ae")
    validate(proj, events=30)  # compiles the C simulation, unless an earlier test did: then it is cached
    junit = tmp_path / "ci" / "junit.xml"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "l1ml.cli.main",
            "validate",
            "-p",
            str(proj.path),
            "-n",
            "30",
            "--junit",
            str(junit),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout and "cached library" in r.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 2


@pytest.mark.slow
def test_large_validation_uses_the_emulator_checked_against_csim(converted):
    """Beyond [validation] csim_events the batch emulator stands in for the firmware, and is itself
    compared with the C simulation, at 0 LSB, on the events both ran."""
    from dataclasses import replace

    proj, _ = converted("dense_ae")
    proj = replace(proj, validation=replace(proj.validation, csim_events=300))
    v = validate(proj, events=200)
    assert v.passed, v.to_dict()
    assert v.details["firmware_outputs"].startswith("batch emulator on all 1000 events")
    checks = [c for c in v.comparisons if "emulator vs C simulation" in c.name]
    assert [c.name.split(" ")[0] for c in checks] == ["reconstruction", "score"]
    assert all(c.events in (300, 300 * 57) and c.mismatches == 0 for c in checks)
    assert sum(v.events.values()) == 1000
