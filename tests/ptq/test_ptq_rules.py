"""The rules around post-training quantization that need no firmware build: which models are float, what
is refused by name, the integer bits of a profiled range, and the project keys."""

from __future__ import annotations

import pytest


def _float_model(activation: str):
    import tensorflow as tf

    inp = tf.keras.Input((57,), name="inputs")
    h = tf.keras.layers.Dense(4, activation="relu", name="enc")(inp)
    out = tf.keras.layers.Dense(57, activation=activation, name="dec")(h)
    return tf.keras.Model(inp, out)


def test_float_models_are_told_apart_from_qkeras_ones():
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    from l1ml.models.deploy import add_score_head
    from l1ml.models.float_net import is_float_model

    assert is_float_model(add_score_head(_float_model("linear"), "dense_ae"))  # the score head is QKeras
    inp = tf.keras.Input((57,), name="inputs")
    h = QDense(4, kernel_quantizer=quantized_bits(8, 3, alpha=1), name="q")(inp)
    mixed = tf.keras.Model(inp, tf.keras.layers.Dense(57, name="float_dense")(h))
    assert not is_float_model(add_score_head(mixed, "dense_ae"))  # stays refused by name at conversion


def test_what_the_emulator_cannot_reproduce_is_refused_by_name():
    from l1ml.errors import ConversionError
    from l1ml.firmware.preflight import preflight

    with pytest.raises(
        ConversionError, match=r"layer 'dec'.*'softmax'.*emulator.*linear, relu, sigmoid, tanh"
    ):
        preflight(_float_model("softmax"), ptq=True)
    preflight(_float_model("sigmoid"), ptq=True)  # hls4ml's table, which the emulator rebuilds exactly
    with pytest.raises(ConversionError, match="layer 'dec'.*sigmoid.*lookup"):
        preflight(_float_model("sigmoid"))  # against a fixed-point software model it cannot be exact


@pytest.mark.parametrize(
    ("maxabs", "bits"), [(0.0, 1), (0.3, 1), (0.99, 1), (1.0, 2), (1.7, 2), (2.0, 3), (5.8, 4), (100.0, 8)]
)
def test_profiled_integer_bits_hold_the_range_and_no_more(maxabs, bits):
    from l1ml.firmware.ptq import integer_bits

    assert integer_bits(maxabs) == bits
    assert maxabs < 2.0 ** (bits - 1)


def test_ptq_project_keys_are_checked(tmp_path):
    from _projects import make_project

    from l1ml.errors import ConfigError
    from l1ml.project import load_project

    p = load_project(make_project(tmp_path / "a", "dense_ae"))
    assert (p.firmware.ptq, p.firmware.ptq_precision, p.validation.ptq_tpr_drop) == (
        "default",
        "ap_fixed<16,6>",
        0.02,
    )
    for key, value, match in (
        ("firmware.ptq", "auto", "ptq must be one of default, profile"),
        ("firmware.ptq_precision", "ap_ufixed<8,3>", "not a signed fixed-point type"),
        ("firmware.ptq_precision", "ap_fixed<8,9>", "integer bits"),
        ("validation.ptq_tpr_drop", 1.5, "ptq_tpr_drop must be between 0 and 1"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_project(
                make_project(
                    tmp_path / key.replace(".", "_") / str(len(str(value))), "dense_ae", **{key: value}
                )
            )
