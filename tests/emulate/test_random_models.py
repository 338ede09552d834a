"""Seeded random small QKeras dense models and precision settings: each one either matches hls4ml's C
simulation bit for bit on every output, or is refused before any event is evaluated.

Bounded on purpose: 8 models, each compiled once (5-10 s each on two cores).
"""

from __future__ import annotations

import numpy as np
import pytest
from _models import hls_model
from test_nn_equality import adversarial, predict

from l1ml.emulate.nn_fixed import NNEmulator
from l1ml.fixed import ROUNDING, UnsupportedError

N_MODELS = 8
OVERFLOWS = ("WRAP", "SAT", "SAT_SYM", "SAT_ZERO")


def ap_type(rng, base: str, width: int, integer: int) -> str:
    """An ap type string with a random rounding and overflow mode (drawn in that order)."""
    rounding = rng.choice(ROUNDING)
    return f"{base}<{width},{integer},AP_{rounding},AP_{rng.choice(OVERFLOWS)}>"


def random_case(seed: int):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    rng = np.random.default_rng(seed)
    tf.keras.utils.set_random_seed(seed)
    n_in = int(rng.integers(3, 9))
    inp = tf.keras.Input((n_in,), name="x")
    x = inp
    overrides: dict = {}
    for i in range(int(rng.integers(1, 3))):
        bits = int(rng.choice([4, 6, 8]))
        integer = int(rng.integers(0, 4))
        alpha = 1 if rng.random() < 0.7 else None  # None: po2 scales, hls4ml adds ApplyAlpha layers
        q = quantized_bits(bits, integer, alpha=alpha)
        name = f"d{i}"
        x = QDense(
            int(rng.integers(2, 9)),
            kernel_quantizer=q,
            bias_quantizer=quantized_bits(bits, integer, alpha=1),
            name=name,
        )(x)
        prec = {}
        if rng.random() < 0.5:  # an accumulator that rounds products or saturates partial sums
            w = int(rng.integers(10, 20))
            prec["accum"] = ap_type(rng, "ap_fixed", w, int(rng.integers(3, 8)))
        if rng.random() < 0.6:
            w = int(rng.integers(6, 16))
            prec["result"] = ap_type(rng, "ap_fixed", w, int(rng.integers(2, 7)))
        if prec:
            overrides[name] = prec
        if rng.random() < 0.3:
            overrides.setdefault(name, {})["Strategy"] = "Resource"
        act = rng.choice(["qrelu", "relu", "none"])
        if act == "qrelu":
            x = QActivation(
                quantized_relu(int(rng.choice([4, 6, 8])), int(rng.integers(0, 4))), name=f"a{i}"
            )(x)
        elif act == "relu":
            x = tf.keras.layers.Activation("relu", name=f"a{i}")(x)
            w = int(rng.integers(4, 12))
            overrides[f"a{i}"] = {"result": ap_type(rng, "ap_ufixed", w, int(rng.integers(1, 5)))}
    if rng.random() < 0.5:
        y = QDense(
            n_in,
            kernel_quantizer=quantized_bits(6, 2, alpha=1),
            bias_quantizer=quantized_bits(6, 2, alpha=1),
            name="back",
        )(x)
        op = rng.choice(["Subtract", "Add", "Multiply"])
        x = getattr(tf.keras.layers, op)(name="merge")([inp, y])
    model = tf.keras.Model(inp, x)
    w = int(rng.integers(8, 17))
    in_prec = ap_type(rng, "ap_fixed", w, int(rng.integers(3, 7)))
    return model, in_prec, overrides, n_in


def apply_overrides(overrides):
    """Split the Strategy overrides from the Precision ones, as hls4ml's config wants them."""
    prec, strat = {}, {}
    for name, d in overrides.items():
        d = dict(d)
        if "Strategy" in d:
            strat[name] = d.pop("Strategy")
        if d:
            prec[name] = d
    return prec, strat


@pytest.mark.parametrize("seed", range(N_MODELS))
def test_random_model_matches_or_is_refused(seed, tmp_path):
    import hls4ml

    model, in_prec, overrides, n_in = random_case(seed)
    prec, strat = apply_overrides(overrides)
    cfg = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend="Vivado", default_precision="ap_fixed<16,6>"
    )
    cfg["LayerName"]["x"]["Precision"]["result"] = in_prec
    for name, p in prec.items():
        cfg["LayerName"].setdefault(name, {}).setdefault("Precision", {}).update(p)
    for name, s in strat.items():
        cfg["LayerName"][name]["Strategy"] = s
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, output_dir=str(tmp_path / "p"), backend="Vivado", io_type="io_parallel"
    )
    try:
        emu = NNEmulator(hm)
    except UnsupportedError as exc:
        # Refused up front: the message must name a layer of this model.
        assert any(f"'{lay.name}'" in str(exc) for lay in hm.get_layers()), str(exc)
        return
    hm.compile()
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 4, (400, n_in)), adversarial(40, 10, n_in, seed)])
    ref = predict(hm, x)
    out = emu(x)
    for r, (name, e) in zip(ref, out.items(), strict=True):
        bad = np.argwhere(r != e)
        assert np.array_equal(r, e), (
            f"seed {seed} {name} {overrides} {in_prec}: {len(bad)} mismatches, first {bad[:2].tolist()}"
        )


def test_hls_model_helper_importable():
    assert callable(hls_model)
