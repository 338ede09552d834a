"""Post-training quantization of a float Keras model: import, convert by hls4ml's rules, validate the
firmware against the emulator bit for bit and report what quantization costs against the float model."""

from __future__ import annotations

import json
import re

import pytest
from ptq_helpers import import_float, ptq_project, set_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def imported(tmp_path_factory, small_data):
    """One float dense AE imported into a project; each test sets its own [firmware]/[validation]."""
    tmp = tmp_path_factory.mktemp("ptq")
    proj = ptq_project(tmp, small_data)
    version = import_float(proj, tmp)
    return tmp, version


def test_float_import_converts_and_validates_bit_exact_against_the_emulator(imported, small_data):
    from l1ml.firmware import convert
    from l1ml.models.importer import summary
    from l1ml.project import read_json
    from l1ml.validate import validate, write_reports
    from l1ml.validate.verdict import ROLES, role_of

    tmp, version = imported
    # overrides work as for any model, after hls4ml's rules
    (tmp / "over.yml").write_text("LayerName:\n  dec:\n    Precision:\n      result: ap_fixed<24,8>\n")
    proj = set_settings(
        tmp,
        small_data,
        **{
            "firmware.ptq": "default",
            "firmware.ptq_precision": "ap_fixed<16,6>",
            "firmware.hls_config": str(tmp / "over.yml"),
        },
    )
    man = read_json(proj.model_dir(version) / "manifest.json")
    assert man["origin"]["import"]["float_model"] is True
    assert any("float model (no QKeras layers)" in line for line in summary(man))

    fw = convert(proj, version)
    assert fw["software_model"] == "float"
    assert fw["ptq"]["mode"] == "default" and fw["emulator_refused"] is None
    # hls4ml's rule: float weights and biases take the default precision; the score head keeps its own
    for layer in ("enc", "latent", "dec"):
        assert fw["layer_types"][layer]["weight_t"] == "ap_fixed<16,6>", layer
    assert fw["layer_types"]["score"]["weight_t"] == "ap_fixed<11,1>"
    assert fw["layer_types"]["dec"]["result_t"] == "ap_fixed<24,8>" and fw["hls_config_file"]
    assert "enc_bn" not in fw["layer_types"]  # hls4ml's rule: a float BN is fused into its Dense

    v = validate(proj, version)
    exact = {c.name: c for c in v.comparisons}
    assert set(exact) == {"reconstruction (emulator vs C simulation)", "score (emulator vs C simulation)"}
    for c in exact.values():
        assert c.events > 0 and c.mismatches == 0 and c.max_diff_lsb == 0
        assert role_of(c) == ROLES["emulator"]
    # the firmware really is quantized: it differs from the float model, which validation says plainly
    float_vs_fw = {c.name: c for c in v.quantization}
    assert float_vs_fw["score (float model vs firmware: post-training quantization)"].mismatches > 0
    assert any("the software model is float" in n for n in v.notes)
    q = v.ptq
    assert q["colliding_rate_hz"] == pytest.approx(2544 * 11.245e3)
    assert q["target_rate_khz"] == pytest.approx(1000.0)
    # the physics is measured on every background event of the files ([validation] ptq_events), not
    # only on the 1,500 validated bit for bit, and the target rate's FPR is resolved there
    assert q["background_events"] == 20_000 > v.events["background"] == 1500 and q["resolvable"]
    assert set(q["signals"]) == {"Ato4l", "leptoquark", "hToTauTau", "hChToTauNu"}
    for s in q["signals"].values():
        assert 0 <= s["tpr_firmware"] <= 1 and 0 <= s["auc_firmware"] <= 1
        assert s["tpr_change"] == pytest.approx(s["tpr_firmware"] - s["tpr_float"])
        # judged by [gate]'s rule with the paired error, as the gate and a BDT's quantization cost are
        assert s["within_tolerance"] and s["tpr_change_error"] >= 0 and "sigma" in s["detail"]
    assert q["limits"]["tpr_drop"] == proj.gate.tpr_drop
    assert not any("ptq_tpr_drop" in n for n in v.notes)  # not set: no deprecation note
    assert v.passed and not v.failures
    paths = write_reports(v, tmp / "report")
    rep = json.loads(open(paths["json"]).read())
    assert rep["software_model"] == "float" and rep["ptq"]["signals"]["Ato4l"]["auc_float"] > 0
    assert 'failures="0"' in open(paths["junit"]).read()


def test_the_emulator_check_catches_a_firmware_that_differs(imported, small_data):
    """A real mismatch: the firmware's first ReLU made a linear pass-through in the generated C++ (the
    graph, types and weights the emulator is built from are untouched), so only the 0-LSB check sees it."""
    from l1ml.firmware import convert
    from l1ml.validate import validate

    tmp, version = imported
    settings = {"firmware.ptq": "default", "firmware.ptq_precision": "ap_fixed<16,6>"}
    # physics on the validated events only ([validation] ptq_events = events): not what is tested here
    proj = set_settings(tmp, small_data, **settings, **{"validation.ptq_events": 1500})
    fw = convert(proj, version)
    top = proj.firmware_dir(version) / "hls4ml" / "firmware" / f"{fw['project_name']}.cpp"
    text = top.read_text()
    changed = re.sub(r"nnet::relu<(.*// enc_act)", r"nnet::linear<\1", text, count=1)
    assert changed != text
    top.write_text(changed)
    v = validate(proj, version)
    assert not v.passed
    bad = [c for c in v.comparisons if not c.ok]
    assert bad and all("emulator vs C simulation" in c.name for c in bad)
    assert max(c.max_diff_lsb for c in bad) > 0
    assert any(f.startswith("bit-exact") and "emulator vs C simulation" in f for f in v.failures)


def test_profiled_precisions_and_a_tolerance_violation_fail_validation(imported, small_data):
    from typer.testing import CliRunner

    from l1ml.cli.main import app
    from l1ml.validate import validate

    tmp, version = imported
    proj = set_settings(
        tmp,
        small_data,
        **{
            "firmware.ptq": "profile",
            "firmware.ptq_precision": "ap_fixed<8,3>",
            # a gate allowing no loss at all: any drop of a signal's TPR fails the quantization cost
            "gate.tpr_drop": 0.0,
            "gate.tpr_drop_relative": 0.0,
            "gate.significance": 0.0,
            "validation.ptq_tpr_drop": 0.0,  # deprecated: accepted, ignored, said so
            "validation.ptq_events": 1500,  # the validated events: enough to show the cost, and cheaper
        },
    )
    r = CliRunner().invoke(app, ["convert", "--project", str(proj.path), "--model", version])
    assert r.exit_code == 0, r.output
    assert "post-training quantization: ptq = 'profile'" in " ".join(r.output.split())
    fw = json.loads((proj.firmware_dir(version) / "manifest.json").read_text())
    rec = fw["ptq"]
    assert rec["mode"] == "profile" and rec["profile_events"] > 0
    for name in ("enc", "latent", "dec"):
        layer = rec["layers"][name]
        for key, rng in (("weight", "max_abs_weight"), ("result", "max_abs")):
            w, i = map(int, re.match(r"ap_fixed<(\d+),(\d+)", layer[key]).groups())
            assert w == 8 and 2.0 ** (i - 1) > layer[rng], (name, key)  # holds the profiled range
            assert i == 1 or 2.0 ** (i - 2) <= layer[rng], (name, key)  # and no integer bit to spare
            assert fw["layer_types"][name][f"{key}_t"] == layer[key]  # and it is what the firmware uses
    # issue 26: the identity '<layer>_linear' hls4ml splits off a Dense with no activation takes that
    # layer's profiled type (then hls4ml drops it), not the default ap_fixed<8,3> that wrapped at +-4
    for name, types in fw["layer_types"].items():
        if name.endswith("_linear") and not name.startswith("score"):
            assert types["result_t"] == fw["layer_types"][name.removesuffix("_linear")]["result_t"], name
    for name in ("enc", "dec"):
        assert rec["layers"][f"{name}_linear"]["result"] == rec["layers"][name]["result"]
    # with the Dense's result type set, hls4ml keeps the BN: its own profiled types, emulated exactly
    bn = rec["layers"]["enc_bn"]
    assert fw["layer_types"]["enc_bn"]["scale_t"] == bn["scale"]
    assert 2.0 ** (int(re.match(r"ap_fixed<8,(\d+)", bn["scale"]).group(1)) - 1) > bn["max_abs_scale"]
    v = validate(proj, version)
    assert all(c.ok and c.max_diff_lsb == 0 for c in v.comparisons)  # the emulator still is the firmware
    drops = {k: -s["tpr_change"] for k, s in v.ptq["signals"].items()}
    assert max(drops.values()) > 0  # 8-bit types cost this seeded model signal efficiency
    failing = [f for f in v.failures if f.startswith("quantization cost")]
    assert failing == [f"quantization cost {k}" for k, d in drops.items() if d > 0]
    assert not v.passed
    r = CliRunner().invoke(app, ["validate", "--project", str(proj.path), "--model", version])
    assert r.exit_code == 1, r.output
    out = " ".join(r.output.split())
    assert "physics cost of post-training quantization" in out and "ptq_tpr_drop" in out
    assert "FAIL" in out
    rep = json.loads((proj.build_dir / "validation" / version / "report.json").read_text())
    assert rep["passed"] is False and rep["flip_kind"] == "quantization"
    assert rep["ptq"]["limits"] == {"tpr_drop": 0.0, "tpr_drop_relative": 0.0, "significance": 0.0}
    assert "ptq_tpr_drop is deprecated" in out and any("ptq_tpr_drop is deprecated" in n for n in v.notes)
    # validation reports the overflows the emulator saw, per layer: signals beyond the background's
    # profiled range wrap in these AP_WRAP types, and it is said, not only felt as a physics cost
    ovf = rep["ptq"]["overflows"]
    assert ovf == v.ptq["overflows"] and not any(k.endswith("_linear") for k in ovf)
    wrapped = sum(c.get("wrapped", 0) for c in ovf.values())
    assert wrapped > 0 and "overflows on the" in out and f"{wrapped:,} wrapped around" in out


def test_a_float_model_the_emulator_cannot_follow_is_refused_at_convert(imported, small_data):
    """Its validation rests on the emulator, so a firmware setting the emulator does not reproduce
    (io_stream here) is refused by name, and no firmware is left half-written."""
    from l1ml.errors import ConversionError
    from l1ml.firmware import convert

    tmp, version = imported
    proj = set_settings(tmp, small_data, **{"firmware.io_type": "io_stream"})
    fw_root = proj.build_dir / "firmware"

    def listing():
        return sorted(p.name for p in fw_root.iterdir()) if fw_root.is_dir() else []

    before = listing()
    with pytest.raises(ConversionError, match="post-training quantization.*io_stream"):
        convert(proj, version)
    assert listing() == before


FLOAT_GRID = """\
LayerName:
  dec:
    Precision:
      result: ["ap_fixed<16,6>", "ap_fixed<6,2>"]
"""


@pytest.mark.slow
def test_explore_quantizes_a_float_model_as_convert_does(imported, small_data):
    """Explore on a float network: each point starts from the post-training quantization convert would
    apply (hls4ml's rules at ptq_precision), then the point's overrides; a 6-bit decoder costs physics."""
    from l1ml.explore.sweep import explore

    tmp, version = imported
    proj = set_settings(tmp, small_data, **{"firmware.ptq": "default", "firmware.ptq_precision": "ap_fixed<14,5>"})
    grid = tmp / "float_scan.yml"
    grid.write_text(FLOAT_GRID)
    res = explore(proj, grid, version)
    wide, narrow = res["points"]
    assert "error" not in wide and "error" not in narrow, (wide.get("error"), narrow.get("error"))
    # layers the grid does not touch have the PTQ precision (here ap_fixed<14,5>), not hls4ml's default
    assert wide["layer_types"]["latent"]["weight_t"].startswith("ap_fixed<14,5")
    assert wide["layer_types"]["dec"]["result_t"].startswith("ap_fixed<16,6")
    assert narrow["layer_types"]["dec"]["result_t"].startswith("ap_fixed<6,2")
    assert narrow["physics"]["flipped_fraction"] > wide["physics"]["flipped_fraction"]
