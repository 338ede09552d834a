"""Shared, compiled-once hls4ml models for the emulator tests (each hls4ml compile costs 5-30 s)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import _models  # noqa: E402

pytest.importorskip("hls4ml")


@pytest.fixture(scope="session")
def events():
    """Background and one signal sample, preprocessed the way the project does it."""
    bkg = _models.events(3000, seed=11)
    sig = _models.events(1000, seed=12, kind="Ato4l")
    x, pre = _models.network_inputs(np.concatenate([bkg, sig]))
    return x, pre


@pytest.fixture(scope="session")
def dense_ae(tmp_path_factory, events):
    """The project's deploy graph for a dense AE (folded BN, quantized_relu, on-chip score), Vitis backend."""
    _, pre = events
    keras_model = _models.deploy_model("dense_ae", seed=5, cfg=_models.Cfg(hidden=(16,), latent=4))
    out = tmp_path_factory.mktemp("dense_ae") / "hls4ml"
    return keras_model, _models.hls_model(keras_model, out, pre.input_precision(), backend="Vitis"), out


@pytest.fixture(scope="session")
def cnn_ae(tmp_path_factory, events):
    """The project's CNN AE deploy graph: QConv2D, average pooling, flatten, dense, on-chip score."""
    _, pre = events
    keras_model = _models.deploy_model("cnn_ae", seed=6, cfg=_models.Cfg(hidden=(8,), latent=4))
    out = tmp_path_factory.mktemp("cnn_ae") / "hls4ml"
    return keras_model, _models.hls_model(keras_model, out, pre.input_precision(), backend="Vitis"), out
