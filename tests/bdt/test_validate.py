"""Convert, emulate three ways, validate; and make sure validation fails when the firmware is wrong."""

from __future__ import annotations

import re
import shutil
import time

import numpy as np
import pytest
from _bdt import have_ghdl

from l1ml.errors import ConfigError, DataError, ToolNotFound


def test_convert_writes_the_firmware_directory(bdt):
    fw = bdt.fw_dir
    for p in ("conifer_model.json", "conifer_hls/firmware/parameters.h", "conifer_hls/build_hls.tcl",
              "conifer_vhdl/firmware/Arrays0.vhd", "conifer_vhdl/ghdl_compile.sh"):  # fmt: skip
        assert (fw / p).is_file(), p
    m = bdt.manifest
    assert m["kind"] == "bdt" and m["precision"] == "ap_fixed<18,8>" and m["thresholds_corrected"] > 0
    assert m["part"] and m["clock_period_ns"] > 0 and len(m["hashes"]["conifer_model"]) == 64
    params = (fw / "conifer_hls/firmware/parameters.h").read_text()
    assert "typedef ap_fixed<18,8> input_t;" in params and "typedef ap_fixed<18,8> score_t;" in params


@pytest.mark.slow
@pytest.mark.ghdl
def test_validation_passes(validation):
    assert validation.passed, validation.failures
    names = {c.name for c in validation.comparisons}
    for s in ("background", "Ato4l"):
        for kind in ("float_vs_xgboost", "quantization", "hls_csim", "cpp", "ghdl"):
            assert f"{s}/{kind}" in names
    for c in validation.comparisons:
        if c.name.endswith("float_vs_xgboost"):
            assert c.max_diff < 1e-5 and c.mismatches == 0
        elif c.name.endswith("quantization"):
            assert c.informative
        else:
            assert c.mismatches == 0 and c.tolerance_lsb == 0 and not c.informative
    assert set(validation.flips) == {"background", "Ato4l"}
    # Ato4l inputs reach 129: past ap_fixed<18,8>'s range, they wrap. Reported, not failed.
    assert validation.quantization["Ato4l"]["events_with_inputs_out_of_range"] > 0
    assert validation.to_dict()["passed"] is True


@pytest.mark.slow
@pytest.mark.ghdl
def test_three_emulators_are_bit_identical(bdt):
    from l1ml.emulate.bdt_fixed import decision_function_fixed
    from l1ml.emulate.conifer_sim import CppBackend, GhdlSim, HlsCsim

    x = bdt.samples["background"][:200]
    ref = decision_function_fixed(bdt.fw_dir / "conifer_model.json", x)
    hls = HlsCsim(bdt.fw_dir / "conifer_hls").decision_function(x)
    cpp = CppBackend(bdt.fw_dir / "conifer_model.json", bdt.fw_dir.parent / "cpp-work").decision_function(x)
    ghdl = GhdlSim(bdt.fw_dir / "conifer_vhdl", "ap_fixed<18,8>").decision_function(x)
    assert np.array_equal(hls, ref)
    assert np.array_equal(cpp, ref)
    assert np.array_equal(ghdl, ref)
    assert len(np.unique(ref)) > 20  # not a degenerate model


@pytest.mark.slow
def test_second_validation_does_not_recompile(bdt, validation, cache_dir):
    """Not after converting the same model again either: the HLS sources come out identical."""
    from l1ml.emulate.conifer_sim import HlsCsim
    from l1ml.firmware.conifer import convert_bdt

    before = (bdt.fw_dir / "conifer_hls/bridge.cpp").read_text()
    convert_bdt(bdt.project, bdt.model_dir, bdt.fw_dir)
    assert (bdt.fw_dir / "conifer_hls/bridge.cpp").read_text() == before
    libs = sorted(cache_dir.rglob("*.so"))
    mtimes = [p.stat().st_mtime for p in libs]
    t = time.perf_counter()
    HlsCsim(bdt.fw_dir / "conifer_hls")
    assert time.perf_counter() - t < 5
    assert sorted(cache_dir.rglob("*.so")) == libs and [p.stat().st_mtime for p in libs] == mtimes


@pytest.mark.slow
@pytest.mark.ghdl
def test_a_wrong_threshold_in_the_vhdl_is_caught(bdt, tmp_path, validation):
    """Move the first tree's root threshold in the VHDL: GHDL must now disagree with the reference."""
    from l1ml.validate.bdt import validate_bdt

    fw = tmp_path / "fw"
    shutil.copytree(bdt.fw_dir, fw)
    arrays = fw / "conifer_vhdl/firmware/Arrays0.vhd"
    text = arrays.read_text()
    m = re.search(r"constant threshold_int : \w+\(0 to nTrees - 1\) := \(\((-?\d+)", text)
    assert m, "conifer's VHDL array layout changed"
    wrong = text[: m.start(1)] + str(int(m.group(1)) + 40 * 2**10) + text[m.end(1) :]
    arrays.write_text(wrong)
    v = validate_bdt(bdt.project, bdt.model_dir, fw, bdt.samples, threshold=0.0, emulators=("ghdl",))
    assert not v.passed
    bad = [c for c in v.comparisons if c.name.endswith("/ghdl")]
    assert sum(c.mismatches for c in bad) > 0
    assert "background/ghdl" in v.failures


def test_a_too_narrow_precision_shows_as_quantization_not_failure(bdt):
    """ap_fixed<10,4> cannot hold the inputs: the score moves a lot, but that is quantization."""
    from l1ml.compare import compare
    from l1ml.emulate.bdt_fixed import decision_function_fixed, decision_function_float
    from l1ml.fixed import lsb_of

    x = bdt.samples["background"]
    cm = bdt.fw_dir / "conifer_model.json"
    narrow = decision_function_fixed(cm, x, "ap_fixed<10,4>")
    c = compare(
        "narrow", decision_function_float(cm, x), narrow, lsb=lsb_of("ap_fixed<10,4>"), informative=True
    )
    assert c.mismatches > 0 and c.ok
    # and held against the firmware's reference it is a real mismatch
    e = compare("emu", decision_function_fixed(cm, x), narrow, lsb=lsb_of("ap_fixed<18,8>"))
    assert not e.ok and e.mismatches > 0


def test_unknown_board_is_a_clear_error(bdt, tmp_path):
    import dataclasses

    from l1ml.firmware.conifer import convert_bdt

    fw = dataclasses.replace(bdt.project.firmware, board="no_such_board")
    project = dataclasses.replace(bdt.project, firmware=fw)
    with pytest.raises(ConfigError, match="unknown board 'no_such_board'"):
        convert_bdt(project, bdt.model_dir, tmp_path / "fw")


def test_missing_model_file_is_a_clear_error(bdt, tmp_path):
    from l1ml.firmware.conifer import convert_bdt

    with pytest.raises(ConfigError, match=r"missing BDT model file .*model\.json"):
        convert_bdt(bdt.project, tmp_path, tmp_path / "fw")


def test_bad_precision_is_a_clear_error(bdt, tmp_path):
    import dataclasses

    from l1ml.firmware.conifer import convert_bdt

    fw = dataclasses.replace(bdt.project.firmware, precision="ap_fixed<18,8,AP_BOGUS>")
    with pytest.raises(ConfigError, match="AP_BOGUS"):
        convert_bdt(dataclasses.replace(bdt.project, firmware=fw), bdt.model_dir, tmp_path / "fw")


def test_bad_samples_are_clear_errors(bdt):
    from l1ml.validate.bdt import validate_bdt

    with pytest.raises(DataError, match="sample 'background'.*57"):
        validate_bdt(
            bdt.project, bdt.model_dir, bdt.fw_dir, {"background": np.zeros((4, 3))}, None, emulators=()
        )
    with pytest.raises(ConfigError, match="conifer_model.json"):
        validate_bdt(bdt.project, bdt.model_dir, bdt.fw_dir / "nope", bdt.samples, None)


def test_stale_firmware_precision_is_refused(bdt):
    import dataclasses

    from l1ml.validate.bdt import validate_bdt

    fw = dataclasses.replace(bdt.project.firmware, precision="ap_fixed<16,6>")
    with pytest.raises(ConfigError, match="run `l1ml convert` again"):
        validate_bdt(
            dataclasses.replace(bdt.project, firmware=fw), bdt.model_dir, bdt.fw_dir, bdt.samples, None
        )


def test_missing_tools_name_their_package(bdt, monkeypatch, tmp_path):
    from l1ml.emulate.conifer_sim import GhdlSim, json_root

    monkeypatch.setenv("JSON_ROOT", str(tmp_path))
    with pytest.raises(ToolNotFound, match="nlohmann-json3-dev"):
        json_root()
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not have_ghdl()
    with pytest.raises(ToolNotFound, match="apt-get install ghdl"):
        GhdlSim(bdt.fw_dir / "conifer_vhdl", "ap_fixed<18,8>")
