"""Models deploy whatever their front-end (issue 23): a post-training-quantized float Keras model and an
imported QKeras model go through convert and deploy, pass `make check` through both interfaces, and
metadata.json names each output by what it is, with the firmware's and the emulator's names beside it."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from deploy_helpers import HERE, TINY, passing_report

pytestmark = pytest.mark.slow


def _deploy_and_check(proj, version, out):
    from l1ml.deploy.core import deploy
    from l1ml.firmware import convert

    convert(proj)
    passing_report(proj, version)
    d = deploy(proj, out, opt="-O1")
    assert "all bit-identical through both interfaces" in d.parity
    md = json.loads((d.out / "metadata.json").read_text())
    outs = md["output"]["outputs"]
    assert [o["name"] for o in outs] == ["reconstruction", "score"]
    assert md["output"]["score"]["output"] == "score"
    fw = json.loads((proj.firmware_dir(version) / "manifest.json").read_text())
    assert [o["firmware_variable"] for o in outs] == [o["name"] for o in fw["outputs"]]
    assert all(o["emulator_output"] for o in outs)
    return d, outs


def test_ptq_float_keras_model_deploys(tmp_path, small_data):
    """The model that failed with "the emulator wrote outputs ['fout_linear', 'score']; the firmware
    declares ['layer13_out', 'layer22_out']": its emulator names are not the firmware's, and deploy
    matches them by position."""
    sys.path.insert(0, str(HERE.parent / "ptq"))
    from ptq_helpers import import_float, ptq_project

    # Rates the 20k-event rate sample resolves: 500 kHz leaves ~350 events above, over min_events_above
    proj = ptq_project(tmp_path, small_data, **{"trigger.rates_khz": [500.0, 1000.0]})
    version = import_float(proj, tmp_path)
    d, outs = _deploy_and_check(proj, version, tmp_path / "out")
    assert any(o["emulator_output"] != o["firmware_variable"] for o in outs)
    assert json.loads((proj.firmware_dir(version) / "manifest.json").read_text())["software_model"] == "float"


def test_imported_qkeras_model_deploys(tmp_path, small_data):
    import tensorflow as tf
    from _projects import project_on_data
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    from l1ml.data.preprocess import Preprocessing
    from l1ml.models.importer import import_model
    from l1ml.project import load_project

    tf.keras.utils.set_random_seed(5)
    inp = tf.keras.Input((57,), name="inputs")
    h = QDense(8, kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 0, alpha=1),
               name="enc_dense")(inp)
    h = QActivation(quantized_relu(8, 3), name="enc_relu")(h)
    out = QDense(57, kernel_quantizer=quantized_bits(8, 3, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1),
                 name="dec_out_dense")(h)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    f = tmp_path / "team_ae.h5"
    model.save(f, save_format="h5")
    pre = tmp_path / "pre.json"
    Preprocessing(offsets=(0, 0, 0) * 19, shifts=(5, 4, 4) * 19).save(pre)
    proj = load_project(project_on_data(tmp_path, "dense_ae", small_data, **TINY))
    version = import_model(proj, f, pre).name
    _deploy_and_check(proj, version, tmp_path / "out")
