"""The HGQ2 / Keras 3 front-end (issue 28): trained and converted in its own environment, bit-exact
against the C simulation, and its failures reported in one line."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from l1ml.errors import L1mlError, ToolNotFound


@pytest.mark.slow  # trains, converts and compiles (session fixture)
def test_trained_converted_and_validated_bit_exact(hgq2_converted):
    """The one CI test proving the front-end: environment built, a tiny model trained with EBOPs in the
    loss, converted by hls4ml in the worker, and validated here at 0 LSB (Keras 3 vs the C simulation
    compiled by l1ml's g++)."""
    from l1ml.project import read_json
    from l1ml.validate import validate

    proj, version, fw_dir = hgq2_converted
    man = read_json(proj.model_dir(version) / "manifest.json")
    assert man["kind"] == "hgq2_ae" and man["ebops"] > 0
    fw = read_json(fw_dir / "manifest.json")
    # convert's own check: Keras 3 (worker) against the C simulation (compiled here), on reference events
    assert fw["reference"]["compared"] > 0
    assert fw["reference"]["exact"] == fw["reference"]["compared"]
    assert (fw_dir / "hls4ml_graph.fml").is_file() or fw["graph_refused"]
    val = validate(proj, version)
    assert val.passed, val.failures
    (score,) = val.comparisons
    assert score.events == sum(val.events.values()) and score.mismatches == 0
    # a real score, not a constant: the check compares values that vary
    with np.load(fw_dir / "reference_outputs.npz") as f:
        assert len(np.unique(f["keras"])) > 3


@pytest.mark.extended
def test_validation_catches_one_weight_moved_by_one_lsb(hgq2_converted, tmp_path):
    """The exactness check can fail: one weight of the written firmware moved by one LSB of its type,
    recompiled by validate, differs from the Keras 3 model."""
    import shutil

    from l1ml.validate import validate

    proj, version, fw_dir = hgq2_converted
    src = fw_dir / "hls4ml" / "firmware" / "weights"
    keep = tmp_path / "weights"
    shutil.copytree(src, keep)
    try:
        header = sorted(src.glob("w*.h"))[0]
        text = header.read_text()
        decl = re.search(r"(\w+) (w\d+)\[\d+\] = \{([^}]*)\}", text)
        defines = (fw_dir / "hls4ml" / "firmware" / "defines.h").read_text()
        width, integer = map(
            int, re.search(rf"typedef ap_u?fixed<(\d+),\s*(-?\d+)[^>]*> {decl.group(1)};", defines).groups()
        )
        lsb = 2.0 ** -(width - integer)
        vals = [float(v) for v in decl.group(3).split(",")]
        i = int(np.argmax(np.abs(vals)))
        vals[i] -= lsb * np.sign(vals[i])  # towards zero: still in the type's range
        header.write_text(text[: decl.start(3)] + ", ".join(repr(v) for v in vals) + text[decl.end(3) :])
        val = validate(proj, version)
        assert not val.passed
        assert val.comparisons[0].mismatches > 0
    finally:
        shutil.rmtree(src)
        shutil.copytree(keep, src)


def test_missing_environment_is_one_line(monkeypatch, tmp_path):
    from l1ml.frontends import keras3

    monkeypatch.setenv("L1ML_KERAS3_PYTHON", str(tmp_path / "nowhere" / "python"))
    with pytest.raises(ToolNotFound, match=r"dev.sh env-keras3"):
        keras3.run("convert", {}, tmp_path)


def test_worker_refusal_is_one_line(keras3_python, tmp_path, monkeypatch):
    """A bad request: the worker exits 2 with one line, which l1ml raises as it is."""
    from l1ml.frontends import keras3

    monkeypatch.setenv("L1ML_KERAS3_PYTHON", str(keras3_python))
    with pytest.raises(L1mlError) as e:
        keras3.run("convert", {"model": str(tmp_path / "absent.keras")}, tmp_path)
    assert "\n" not in str(e.value) and "cannot load the HGQ2 model" in str(e.value)
    assert (tmp_path / "convert.log").read_text().startswith("exit 2")


WRAPPING_MODEL = """
import sys
import keras
from hgq.config import QuantizerConfig
from hgq.layers import QDense
from hgq.quantizer import Quantizer
x = keras.Input((4,))
h = QDense(2, name="enc0", iq_conf=QuantizerConfig("kif", "datalane", overflow_mode="WRAP"))(x)
s = Quantizer(QuantizerConfig("kif", "datalane", overflow_mode="SAT"), name="score_q")(h)
keras.Model(x, s).save(sys.argv[1])
"""


def test_wrapping_input_is_refused_by_name(keras3_python, tmp_path, monkeypatch):
    """HGQ2's default WRAP at the input: refused before conversion, naming the layer."""
    from l1ml.frontends import keras3

    model = tmp_path / "wrap.keras"
    r = subprocess.run(
        [str(keras3_python), "-c", WRAPPING_MODEL, str(model)],
        capture_output=True,
        text=True,
        env={"KERAS_BACKEND": "tensorflow", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    np.savez(tmp_path / "x.npz", x_ref=np.zeros((2, 4), np.float32))
    monkeypatch.setenv("L1ML_KERAS3_PYTHON", str(keras3_python))
    with pytest.raises(L1mlError, match=r"must saturate.*enc0 \(WRAP\)"):
        keras3.run("convert", {"model": str(model), "data": str(tmp_path / "x.npz")}, tmp_path)
    assert json.loads((tmp_path / "convert.request.json").read_text())["action"] == "convert"


@pytest.mark.extended
def test_distributed_arithmetic_variant_is_bit_exact(hgq2_converted):
    """[firmware] strategy = "distributed_arithmetic" (da4ml through hls4ml): a second variant of the same
    version, with DA dense code, validated at 0 LSB like the Latency one."""
    import dataclasses

    from l1ml.firmware import convert
    from l1ml.firmware.variants import set_active
    from l1ml.layout import read_active_raw, version_root
    from l1ml.validate import validate

    proj, version, fw_dir = hgq2_converted
    root = version_root(proj, version)
    before = read_active_raw(root)
    da = dataclasses.replace(
        proj, firmware=dataclasses.replace(proj.firmware, strategy="distributed_arithmetic")
    )
    try:
        fw = convert(da, version, label="da")
        assert fw["variant"] != before and fw["strategy"] == "distributed_arithmetic"
        top = (da.firmware_dir(version) / "hls4ml" / "firmware" / f"{fw['project_name']}.cpp").read_text()
        assert "dense_da_" in top  # distributed-arithmetic code, not the Latency templates
        assert fw["reference"]["exact"] == fw["reference"]["compared"] > 0
        val = validate(da, version)
        assert val.passed and val.variant == fw["variant"], val.failures
    finally:
        set_active(root, before, "test")


def test_main_process_never_imports_the_second_environment():
    """No module of l1ml imports hgq, the worker or Keras 3's own package paths: they run in .venv-keras3."""
    import ast
    from pathlib import Path

    import l1ml

    banned = ("hgq", "l1ml_keras3", "keras.src", "quantizers", "da4ml")
    found = []
    for f in Path(l1ml.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                f"{f.name}: {n}" for n in names if n.split(".")[0] in banned or n.startswith("keras.src")
            ]
    assert found == []
    assert any(Path(l1ml.__file__).parent.joinpath("frontends").glob("*.py"))


def _validation_events(proj, tmp_path, n: int):
    """The background validation split's first `n` events, as convert's reference events were drawn
    (frontends/hgq2.validation_inputs), written as an event file that emulate and rate read."""
    import h5py

    from l1ml.data.samples import load_project_samples, split_background

    _, val, _ = split_background(load_project_samples(proj)["background"], proj.data.split, proj.data.seed)
    f = tmp_path / "validation.h5"
    with h5py.File(f, "w") as h:
        h[proj.data.key] = val[:n]
    return f


@pytest.mark.slow  # trains, converts and compiles (session fixture)
def test_emulate_and_rate_score_with_the_c_simulation(hgq2_converted, tmp_path, monkeypatch):
    """`l1ml emulate` and the rate step for kind hgq2_ae score with the compiled C simulation: on convert's
    reference events their scores equal the Keras 3 model's outputs (saved by convert) and the C
    simulation's (as validate runs it) exactly, in the firmware's real-valued units; the same comparison
    fails for a score shifted by one LSB or scaled by two; a missing library is one line."""
    import h5py

    from l1ml.compare import compare
    from l1ml.data.preprocess import Preprocessing
    from l1ml.emulate.nn_project import emulate_project
    from l1ml.firmware.csim import load_csim
    from l1ml.fixed import lsb_of
    from l1ml.frontends.hgq2 import validation_inputs
    from l1ml.project import read_json
    from l1ml.rates.zerobias import measure

    proj, version, fw_dir = hgq2_converted
    fw = read_json(fw_dir / "manifest.json")
    with np.load(fw_dir / "reference_outputs.npz") as f:
        keras = f["keras"].ravel()
    n = len(keras)
    events = _validation_events(proj, tmp_path, n)

    r = emulate_project(proj, events, tmp_path / "emulated.h5", version=version, workers=1)
    with h5py.File(r.out, "r") as h:
        score = h["score"][:]
        assert "C simulation" in h.attrs["arithmetic"] and h.attrs["events"] == n
        assert list(h["outputs"].attrs["order"]) == [o["name"] for o in fw["outputs"]]
    # the file type is exact for the score's type: float32 up to 24 bits, as the emulator's files
    width = int(re.search(r"<\s*(\d+)", fw["outputs"][-1]["precision"]).group(1))
    assert score.dtype == (np.float32 if width <= 24 else np.float64)
    lsb = lsb_of(fw["outputs"][-1]["precision"])

    def identical(reference, got) -> bool:
        return compare("score", reference, got, lsb, 0).mismatches == 0

    assert len(np.unique(keras)) > 3  # a score that varies, so the comparisons below can tell values apart
    assert identical(keras, score)
    pre = Preprocessing.load(proj.model_dir(version) / "preprocessing.json")
    csim, _ = load_csim(fw_dir, fw)
    x = validation_inputs(proj, pre, n)
    assert identical(csim.predict(x)[0], score)
    # the comparison catches a wrong scale or a shifted score
    assert not identical(keras, score.astype(np.float64) + lsb)
    assert not identical(keras, score.astype(np.float64) * 2)

    # the rate step's counts, from the same engine: events above each of the sample's scores
    rates, counts = measure(proj, version, spec=str(events), workers=1)
    assert counts.events == rates.events == n
    for t in np.unique(score)[:-1]:
        assert counts.above(float(t)) == int(np.sum(score > t))

    # the library is looked up, not compiled again: an empty cache stops with one line naming the fix
    from l1ml.emulate.csim_engine import CSimEngine
    from l1ml.errors import ConfigError

    monkeypatch.setenv("L1ML_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(ConfigError, match=r"not compiled.*l1ml validate --model") as e:
        CSimEngine(proj.model_dir(version), fw_dir, fw)
    assert "\n" not in str(e.value)


def test_kernel_deploy_and_split_rate_jobs_stop_with_one_line(hgq2_converted, tmp_path):
    """What does not run HGQ2 firmware says so in one line, before writing anything: deploy's kernel
    arithmetic (built from the numpy emulator, which cannot rebuild HGQ2 graphs; tests/hgq2/test_deploy.py
    deploys the firmware arithmetic) and split rate jobs (their engine is this machine's C simulation)."""
    from l1ml.data.stream import auto_source
    from l1ml.deploy.core import deploy
    from l1ml.errors import L1mlError
    from l1ml.rates.split import write_job

    proj, version, _ = hgq2_converted
    with pytest.raises(L1mlError, match=r"--arithmetic kernel: .*HGQ2 .*--arithmetic firmware") as e:
        deploy(proj, tmp_path / "deployed", version, force=True, arithmetic="kernel")
    assert "\n" not in str(e.value) and not (tmp_path / "deployed").exists()
    source = auto_source(str(proj.resolve(proj.data.background)), proj)
    with pytest.raises(L1mlError, match=r"without --jobs \(docs/hgq2\.md\)") as e:
        write_job(proj, version, source, [[0, 0, 100]], tmp_path / "job")
    assert "\n" not in str(e.value) and not (tmp_path / "job").exists()
