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


def _deployed(tmp_path_factory, events, kind: str, seed: int, cfg):
    """(Keras deploy graph, its Vitis hls4ml model, the hls4ml directory) for one of the project's models."""
    _, pre = events
    keras_model = _models.deploy_model(kind, seed=seed, cfg=cfg)
    out = tmp_path_factory.mktemp(kind) / "hls4ml"
    return keras_model, _models.hls_model(keras_model, out, pre.input_precision(), backend="Vitis"), out


@pytest.fixture(scope="session")
def dense_ae(tmp_path_factory, events):
    """The project's deploy graph for a dense AE (folded BN, quantized_relu, on-chip score), Vitis backend."""
    return _deployed(tmp_path_factory, events, "dense_ae", 5, _models.Cfg(hidden=(16,), latent=4))


@pytest.fixture(scope="session")
def cnn_ae(tmp_path_factory, events):
    """The project's CNN AE deploy graph: QConv2D, average pooling, flatten, dense, on-chip score."""
    return _deployed(tmp_path_factory, events, "cnn_ae", 6, _models.Cfg(hidden=(8,), latent=4))
