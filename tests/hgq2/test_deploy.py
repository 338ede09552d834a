"""`l1ml deploy` of an HGQ2 (Keras 3) model: hls4ml's firmware code, in its own C++ namespace, as the
CMSSW emulator library with the hls4mlEmulator::Model interface, loaded the way CMSSW loads it (dlopen,
create_model) and equal to the Keras 3 model and the C simulation bit for bit."""

from __future__ import annotations

import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
HOST = REPO / "tests" / "deploy" / "host.cpp"  # the CMSSW-like host of tests/deploy
TEMPLATES = REPO / "l1ml" / "deploy" / "templates"


def _hls_fixes():
    """The worker's hls4ml fixes (standard library only, so importable here without Keras 3)."""
    sys.path.insert(0, str(REPO / "envs" / "keras3"))
    try:
        return importlib.import_module("l1ml_keras3.hls_fixes")
    finally:
        sys.path.remove(str(REPO / "envs" / "keras3"))


@pytest.fixture(scope="module")
def deployed(hgq2_converted, tmp_path_factory):
    """(project, deployment) of the session's HGQ2 model, validated and deployed. The 20k-event sample
    cannot hold 100 events above a 1 kHz threshold, so the minimum is lifted as tests/deploy does."""
    from l1ml import layout
    from l1ml.deploy.core import deploy
    from l1ml.validate import default_report_dir, validate, write_reports

    proj, version, _ = hgq2_converted
    proj = dataclasses.replace(proj, trigger=dataclasses.replace(proj.trigger, min_events_above=0))
    report = layout.validation_report(proj, version)
    if not (report.is_file() and json.loads(report.read_text()).get("passed") is True):
        val = validate(proj, version)
        assert val.passed, val.failures
        write_reports(val, default_report_dir(proj, version))  # as `l1ml validate` does: deploy's gate reads it
    return proj, deploy(proj, tmp_path_factory.mktemp("hgq2-deploy") / "deployed", version)


def _validation_events(proj, n: int) -> np.ndarray:
    """The hardware integers of convert's reference events (the validation split's first n)."""
    from l1ml.data import units
    from l1ml.data.samples import load_project_samples, split_background

    bkg = units.to_hardware(load_project_samples(proj)["background"])
    _, val, _ = split_background(bkg, proj.data.split, proj.data.seed)
    return np.ascontiguousarray(val[:n], np.int32)


@pytest.mark.slow  # trains, converts and compiles (session fixture)
def test_library_through_dlopen_equals_keras3_and_the_c_simulation(deployed, hgq2_converted, tmp_path):
    """The deployed library, loaded with dlopen + create_model by tests/deploy's host, scores convert's
    reference events exactly as the Keras 3 model (its saved outputs) and the C simulation do; its symbol
    audit passed and its own parity check ran."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.csim import load_csim
    from l1ml.fixed import FixedType
    from l1ml.project import read_json

    proj, d = deployed
    _, version, fw_dir = hgq2_converted
    fw = read_json(fw_dir / "manifest.json")
    assert fw["namespace"] and d.audit["passed"] and sorted(d.audit["exported"]) == ["create_model", "destroy_model"]
    assert d.parity.startswith("parity ") and not d.forced
    meta = json.loads((d.out / "metadata.json").read_text())
    assert meta["kind"] == "hgq2_ae" and meta["arithmetic"] == "hls4ml's firmware code"
    assert "C simulation" in meta["parity"]["source"]

    with np.load(fw_dir / "reference_outputs.npz") as f:
        keras = f["keras"]
    hw = _validation_events(proj, len(keras))
    events = tmp_path / "events.bin"
    hw.tofile(events)
    host = tmp_path / "host"
    r = subprocess.run(
        ["g++", "-std=c++17", "-O1", f"-I{TEMPLATES}", str(HOST), "-o", str(host), "-ldl"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([str(host), "run", str(events), str(tmp_path / "out"), str(d.library)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    n_out = sum(o["size"] for o in fw["outputs"])
    n_thr = len(d.thresholds["thresholds"])
    got = np.fromfile(tmp_path / "out.0.bin", np.int64).reshape(len(hw), n_out + n_thr)

    score_type = FixedType.parse(fw["outputs"][-1]["precision"], integers=True)
    want = score_type.to_bits(keras.ravel(), "Keras 3 score")
    assert len(np.unique(want)) > 3  # a score that varies, so equality below tells values apart
    assert np.array_equal(got[:, n_out - 1], want)
    pre = Preprocessing.load(proj.model_dir(version) / "preprocessing.json")
    csim, _ = load_csim(fw_dir, fw)
    assert np.array_equal(got[:, n_out - 1], score_type.to_bits(csim.predict(pre.apply(hw))[0].ravel(), "C sim"))
    # the trigger bits: score_bits > threshold_int, as the thresholds say
    for t, thr in enumerate(d.thresholds["thresholds"]):
        assert np.array_equal(got[:, n_out + t], (want > thr["threshold_int"]).astype(np.int64))


def test_parity_check_catches_one_lsb(deployed, tmp_path):
    """Deploy's parity check (`make check`: the library against the C simulation's outputs) fails when
    one expected score differs by one LSB."""
    import shutil

    from l1ml.deploy.build import BuildError, check

    _, d = deployed
    pkg = tmp_path / "emulator"
    shutil.copytree(d.out / "emulator", pkg, symlinks=True)
    expected = np.loadtxt(pkg / "parity" / "expected.txt", dtype=np.int64, ndmin=2)
    assert check(pkg).startswith("parity ")  # the copy passes as deployed
    n_out = expected.shape[1] - len(d.thresholds["thresholds"])
    row = int(np.argmax(expected[:, n_out - 1]))
    expected[row, n_out - 1] += 1
    np.savetxt(pkg / "parity" / "expected.txt", expected, fmt="%d")
    with pytest.raises(BuildError, match=r"parity FAILED: 1 of \d+ values differ"):
        check(pkg)


def test_namespace_fix_applies_only_where_hls4ml_13_needs_it():
    """The worker's fix of hls4ml 1.3's renamed nnet_code_gen.h: `using nnet::bit_shift;` after the
    renamed namespace when distributed-arithmetic code calls bit_shift unqualified; nothing for Latency
    code, nothing twice, nothing without a namespace; one line when the header looks otherwise."""
    fx = _hls_fixes()
    da = "#include \"nnet_mult.h\"\n\nnamespace hgq_ae {\n\n// hls4ml insert code\nauto v = bit_shift<-2>(x);\n}\n"
    fixed, applied = fx.qualify_bit_shift(da, "hgq_ae")
    assert applied and fixed.count("using nnet::bit_shift;") == 1
    assert fixed.index("namespace hgq_ae {") < fixed.index("using nnet::bit_shift;") < fixed.index("bit_shift<-2>")
    assert fx.qualify_bit_shift(fixed, "hgq_ae") == (fixed, False)
    latency = da.replace("bit_shift<-2>(x)", "nnet::bit_shift<-2>(x)")
    assert fx.qualify_bit_shift(latency, "hgq_ae") == (latency, False)
    assert fx.qualify_bit_shift(da, None) == (da, False)
    in_nnet = da.replace("namespace hgq_ae {", "namespace nnet {")
    assert fx.qualify_bit_shift(in_nnet, "hgq_ae") == (in_nnet, False)
    with pytest.raises(fx.Unpatchable, match=r"namespace hgq_ae \{.*found 0") as e:
        fx.qualify_bit_shift(da.replace("namespace hgq_ae {", "namespace other {"), "hgq_ae")
    assert "\n" not in str(e.value)
