"""The known traps: the check catches them, the workbench handles them."""

from __future__ import annotations

import numpy as np
import pytest
from _convert import tiny_project

from l1ml.firmware import convert
from l1ml.validate import validate


@pytest.mark.slow
def test_too_narrow_precision_fails_and_names_the_layer(converted, tmp_path):
    """The CNN trap: hls4ml's default pooling result type (the input's) drops the average's extra bit.
    Forcing it back through an hls_config override must fail validation at that layer."""
    import shutil

    proj, _ = converted("cnn_ae")
    yml = tmp_path / "narrow.yml"
    yml.write_text("LayerName:\n  enc_pool:\n    Precision:\n      result: ufixed<8,3>\n")
    text = proj.file.read_text().replace("[firmware]", f'[firmware]\nhls_config = "{yml}"')
    clone = tmp_path / "cnn_narrow"
    shutil.copytree(proj.path, clone, ignore=shutil.ignore_patterns("firmware", "validation"))
    (clone / "project.toml").write_text(text)
    from l1ml.project import load_project

    narrow = load_project(clone)
    fw = convert(narrow)
    assert fw["widened_pooling"] == [] and fw["layer_types"]["enc_pool"]["result_t"] == "ap_ufixed<8,3>"
    v = validate(narrow, events=60)
    assert not v.passed
    assert any(c.mismatches > 0 for c in v.comparisons)
    assert v.divergence is not None and v.divergence.layer == "enc_pool"


def _folded_vs_unfolded(tmp_path):
    """A dense AE with BN, converted as trained (BN kept) and as deployed (BN folded)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((57,), name="inputs")
    h = QDense(
        8,
        kernel_quantizer=quantized_bits(8, 3, alpha=1),
        bias_quantizer=quantized_bits(8, 3, alpha=1),
        name="enc_1_dense",
    )(inp)
    h = tf.keras.layers.BatchNormalization(name="enc_1_bn")(h)
    h = QActivation(quantized_relu(8, 3), name="enc_1_relu")(h)
    out = QDense(
        57,
        kernel_quantizer=quantized_bits(8, 3, alpha=1),
        bias_quantizer=quantized_bits(8, 3, alpha=1),
        name="dec_out_dense",
    )(h)
    model = tf.keras.Model(inp, out)
    bn = model.get_layer("enc_1_bn")
    rng = np.random.default_rng(3)
    bn.set_weights(
        [rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.3, 8), rng.normal(0, 0.3, 8), rng.uniform(0.5, 2, 8)]
    )
    return model


def test_bn_kept_in_firmware_is_refused_naming_the_layer(tmp_path, small_data):
    """BatchNormalization after a QDense gets hls4ml's default ap_fixed<16,6> scale: the written weights
    are not the trained ones, which the conversion's weight check refuses."""
    from l1ml.errors import ConversionError
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls_project import build
    from l1ml.models.deploy import add_score_head, trunk

    proj = tiny_project(tmp_path, "dense_ae", small_data)
    model = _folded_vs_unfolded(tmp_path)
    unfolded = add_score_head(trunk(model, "dense_ae"), "dense_ae")
    with pytest.raises(ConversionError, match="enc_1_bn"):
        build(unfolded, proj, project_board(proj), tmp_path / "h", "ap_fixed<19,13>")


def test_bn_folding_keeps_quantizers_and_removes_bn(tmp_path):
    from l1ml.models.deploy import fold_batchnorm

    model = _folded_vs_unfolded(tmp_path)
    folded, n = fold_batchnorm(model)
    assert n == 1 and "enc_1_bn" not in [layer.name for layer in folded.layers]
    q = folded.get_layer("enc_1_dense").get_config()["kernel_quantizer"]
    assert q["config"]["bits"] == 8 and q["config"]["integer"] == 3
    # Before re-quantization the fold is the same affine map: check it on the float kernels.
    x = np.random.default_rng(0).normal(size=(64, 57)).astype(np.float32)
    dense, bn = model.get_layer("enc_1_dense"), model.get_layer("enc_1_bn")
    w, b = dense.get_weights()
    g, beta, mean, var = bn.get_weights()
    ref = ((x @ w + b) - mean) / np.sqrt(var + bn.epsilon) * g + beta
    fw, fb = folded.get_layer("enc_1_dense").get_weights()
    np.testing.assert_allclose(x @ fw + fb, ref, rtol=1e-4, atol=1e-4)


def test_weights_that_do_not_fit_their_type_are_refused(tmp_path, small_data):
    """The #874 class of bug: a weight the firmware holds differently from the software model. Here an
    unquantized Dense, whose float weights hls4ml would round to its default ap_fixed<16,6>."""
    import tensorflow as tf

    from l1ml.errors import ConversionError
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls_project import build
    from l1ml.models.deploy import add_score_head

    tf.keras.utils.set_random_seed(2)
    inp = tf.keras.Input((57,), name="inputs")
    out = tf.keras.layers.Dense(57, name="float_dense")(inp)
    proj = tiny_project(tmp_path, "dense_ae", small_data)
    deploy = add_score_head(tf.keras.Model(inp, out), "dense_ae")
    with pytest.raises(ConversionError, match="float_dense"):
        build(deploy, proj, project_board(proj), tmp_path / "h", "ap_fixed<19,13>")


def test_quantized_bits_bits_equal_integer_is_refused():
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    from l1ml.errors import ConversionError
    from l1ml.firmware.preflight import preflight

    inp = tf.keras.Input((4,))
    out = QDense(2, kernel_quantizer=quantized_bits(4, 4, alpha=1), name="wide_int")(inp)
    with pytest.raises(ConversionError, match="wide_int"):
        preflight(tf.keras.Model(inp, out))
