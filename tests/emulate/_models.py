"""Seeded firmware-ready models for the emulator's tests and benchmark, with random weights (no training).

The dense AE is the project's own deploy graph (l1ml.models.ae + l1ml.models.deploy): QDense layers with
folded BatchNormalization, quantized_relu, and the on-chip score head (mask, Subtract, Multiply, Dense).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cfg:
    hidden: tuple = (32,)
    latent: int = 8
    bits: int = 8
    integer: int = 3
    alpha: int = 1
    batchnorm: bool = True
    filters: tuple = (4, 8)


def randomize_bn(model, seed: int) -> None:
    """Give every BatchNormalization non-trivial statistics, so that folding changes the weights."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, g.shape),
                    rng.normal(0, 0.3, b.shape),
                    rng.normal(0, 0.3, m.shape),
                    rng.uniform(0.5, 2.0, v.shape),
                ]
            )


def deploy_model(kind: str = "dense_ae", seed: int = 0, cfg: Cfg | None = None):
    import tensorflow as tf

    from l1ml.models import ae, deploy

    tf.keras.utils.set_random_seed(seed)
    cfg = cfg or Cfg()
    model = ae.BUILDERS[kind](cfg)
    randomize_bn(model, seed)
    trunk = deploy.trunk(model, kind)
    folded, _ = deploy.fold_batchnorm(trunk)
    return deploy.add_score_head(folded, kind)


def hls_model(
    model,
    out_dir,
    input_precision: str,
    backend: str = "Vitis",
    overrides: dict | None = None,
    compile: bool = True,
):
    """Convert with per-layer configs; the input takes the preprocessing's exact type."""
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend=backend, default_precision="ap_fixed<16,6>"
    )
    cfg["LayerName"][model.layers[0].name]["Precision"]["result"] = input_precision
    for name, prec in (overrides or {}).items():
        cfg["LayerName"].setdefault(name, {}).setdefault("Precision", {}).update(prec)
    hm = hls4ml.converters.convert_from_keras_model(
        model,
        hls_config=cfg,
        output_dir=str(out_dir),
        backend=backend,
        io_type="io_parallel",
        project_name="emu",
    )
    if compile:
        hm.compile()
    else:
        hm.write()
    return hm


def events(n: int, seed: int = 0, kind: str = "background") -> np.ndarray:
    from l1ml.data import generate

    return generate.generate(kind, n, seed)


def network_inputs(particles: np.ndarray, pre=None):
    from l1ml.data import units
    from l1ml.data.preprocess import Preprocessing

    hw = units.to_hardware(particles)
    pre = pre or Preprocessing.fit(hw)
    return pre.apply(hw).astype(np.float64), pre
