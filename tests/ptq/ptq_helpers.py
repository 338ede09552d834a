"""Helpers for the post-training-quantization tests: a float Keras dense AE built and trained in the test,
and a small project on the session's generated events."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def float_dense_ae(x_train: np.ndarray, seed: int = 7, epochs: int = 2, activation: str = "relu"):
    """A plain Keras (no QKeras) dense AE, (57,) in and out, trained briefly on `x_train`. Its first
    Dense is followed by a BatchNormalization, as float models often are."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((57,), name="inputs")
    h = tf.keras.layers.Dense(12, name="enc")(inp)
    h = tf.keras.layers.BatchNormalization(name="enc_bn")(h)
    h = tf.keras.layers.Activation(activation, name="enc_act")(h)
    h = tf.keras.layers.Dense(4, activation=activation, name="latent")(h)
    out = tf.keras.layers.Dense(57, name="dec")(h)
    model = tf.keras.Model(inp, out)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss="mse")
    model.fit(x_train, x_train, epochs=epochs, batch_size=256, verbose=0)
    return model


def ptq_project(tmp: Path, data: Path, **overrides):
    from _projects import project_on_data

    from l1ml.project import load_project

    settings = {
        "data.max_events": 4000,
        "validation.events": 1500,
        "validation.csim_events": 3000,
        # a rate the validation sample resolves (FPR 0.035 of 1,500 events): the physics is then measured
        "trigger.rate_khz": 1000.0,
        **overrides,
    }
    return load_project(project_on_data(tmp, "dense_ae", data, **settings))


def import_float(project, tmp: Path, seed: int = 7) -> str:
    """Fit the project's preprocessing on its background, train the float AE on it and import both;
    returns the model version."""
    from l1ml.data import units
    from l1ml.data.preprocess import Preprocessing
    from l1ml.data.samples import load_project_samples
    from l1ml.models.importer import import_model

    hw = units.to_hardware(load_project_samples(project, 3000)["background"])
    pre = Preprocessing.fit(hw)
    pre.save(tmp / "pre.json")
    model = float_dense_ae(pre.apply(hw).astype(np.float32), seed=seed)
    f = tmp / "float_ae.h5"
    model.save(f, save_format="h5")
    return import_model(project, f, preprocessing=tmp / "pre.json").name


def set_settings(tmp: Path, data: Path, **overrides):
    """Rewrite the imported project's project.toml with these settings (same directory, same models)."""
    return ptq_project(tmp, data, **overrides)
