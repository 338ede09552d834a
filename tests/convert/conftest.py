"""Shared, session-scoped fixtures: tiny trained example projects, converted once, and one compiled-
library cache for the whole session so that each C simulation is compiled once."""

from __future__ import annotations

import pytest
from _cache import own_cache
from _convert import TINY
from _projects import SMALL, project_on_data


@pytest.fixture(scope="session", autouse=True)
def csim_cache(tmp_path_factory):
    yield from own_cache(tmp_path_factory)


@pytest.fixture(scope="session")
def converted(tmp_path_factory, small_data):
    """example -> (project, firmware manifest), trained tiny and converted on first use."""
    from l1ml.firmware import convert
    from l1ml.models.train import train_project
    from l1ml.project import load_project

    done: dict = {}

    def get(example: str, **overrides):
        key = (example, tuple(sorted(overrides.items())))
        if key not in done:
            tmp = tmp_path_factory.mktemp(example)
            settings = {**TINY, **SMALL.get(example, {}), **overrides}
            if example == "bdt":
                settings["model.n_estimators"] = 5
            proj = load_project(project_on_data(tmp, example, small_data, **settings))
            train_project(proj)
            done[key] = (proj, convert(proj))
        return done[key]

    return get


@pytest.fixture(scope="session")
def no_bn_h5(tmp_path_factory):
    """A QKeras dense AE trained elsewhere, without BN, with quantized_bits(8, 0, alpha=1) weights in its
    first layer: the quantizer of hls4ml issue #874."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(5)
    inp = tf.keras.Input((57,), name="inputs")
    h = QDense(
        16,
        kernel_quantizer=quantized_bits(8, 0, alpha=1),
        bias_quantizer=quantized_bits(8, 0, alpha=1),
        name="enc_1_dense",
    )(inp)
    h = QActivation(quantized_relu(8, 3), name="enc_1_relu")(h)
    h = QDense(
        4,
        kernel_quantizer=quantized_bits(8, 3, alpha=1),
        bias_quantizer=quantized_bits(8, 3, alpha=1),
        name="enc_latent_dense",
    )(h)
    out = QDense(
        57,
        kernel_quantizer=quantized_bits(8, 3, alpha=1),
        bias_quantizer=quantized_bits(8, 3, alpha=1),
        name="dec_out_dense",
    )(h)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    f = tmp_path_factory.mktemp("byo") / "team_ae.h5"
    model.save(f, save_format="h5")
    return f
