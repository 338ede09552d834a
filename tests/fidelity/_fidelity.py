"""Helpers for the fidelity tests: models built in the test, compiled against hls4ml's ap_types."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_and_compile(model, project, out_dir: Path, input_precision: str):
    """The l1ml hls4ml build of `model`, its compiled C simulation and the hls ModelGraph."""
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.csim import CSim, compile_cached
    from l1ml.firmware.hls_project import build
    from l1ml.firmware.names import top_name

    hm, _, _ = build(model, project, project_board(project), out_dir, input_precision)
    name = top_name(project)
    lib, _ = compile_cached(out_dir, name)
    n_in = int(np.prod(model.inputs[0].shape[1:]))
    outs = [int(v.size()) for v in hm.get_output_variables()]
    return CSim(lib, name, n_in, outs), hm


def qkeras_outputs(model, X) -> list[np.ndarray]:
    from l1ml.models.io import predict_exact

    return [np.asarray(o, np.float64).reshape(len(X), -1) for o in predict_exact(model, X)]


def tiny_project(tmp, example, data, **overrides):
    from _projects import project_on_data

    from l1ml.project import load_project

    settings = {
        "training.epochs": 1,
        "training.finetune_epochs": 1,
        "data.max_events": 3000,
        "validation.events": 200,
        **overrides,
    }
    return load_project(project_on_data(tmp, example, data, **settings))


def save_h5(model, path: Path) -> Path:
    model.save(path, save_format="h5")
    return path


def dense_ae(seed: int = 5, bn: bool = False, float_layer: bool = False):
    """A small QKeras dense AE as a user would make it elsewhere: (57,) in and out."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(seed)
    q = quantized_bits(8, 3, alpha=1)
    inp = tf.keras.Input((57,), name="inputs")
    h = QDense(8, kernel_quantizer=q, bias_quantizer=q, name="enc_dense")(inp)
    if bn:
        h = tf.keras.layers.BatchNormalization(name="enc_bn")(h)
    h = QActivation(quantized_relu(8, 3), name="enc_relu")(h)
    if float_layer:
        out = tf.keras.layers.Dense(57, name="float_dense")(h)
    else:
        out = QDense(57, kernel_quantizer=q, bias_quantizer=q, name="dec_dense")(h)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    if bn:
        layer = model.get_layer("enc_bn")
        layer.set_weights(
            [rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.3, 8), rng.normal(0, 0.3, 8), rng.uniform(0.5, 2, 8)]
        )
    return model
