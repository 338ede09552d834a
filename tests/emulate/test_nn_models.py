"""More network shapes against the C simulation: the CNN AE deploy graph, the VAE encoder, and a small
CNN with strided valid convolutions and max pooling."""

from __future__ import annotations

import numpy as np
from _models import deploy_model, hls_model
from test_nn_equality import adversarial, assert_all_equal


def test_cnn_ae(cnn_ae, events):
    _, hm, _ = cnn_ae
    x, pre = events
    x = np.concatenate([x[:2000], adversarial(60, max(pre.shifts), 57, seed=4)])
    assert_all_equal(hm, x.reshape(len(x), 19, 3, 1))


def test_vae_encoder(tmp_path, events):
    from _models import Cfg

    x, pre = events
    model = deploy_model("vae", seed=8, cfg=Cfg(hidden=(16,), latent=4))
    hm = hls_model(model, tmp_path / "vae", pre.input_precision(), backend="Vitis")
    assert_all_equal(hm, np.concatenate([x[:2000], adversarial(60, max(pre.shifts), 57, seed=5)]))


def test_strided_valid_conv_and_max_pooling(tmp_path):
    """Strided valid convolution, max pooling with 'same' padding over an unsigned (ReLU) input, where
    hls4ml pads with its pad_val (the top bit set: a large positive value for an unsigned type), then a
    'same' convolution and an average pooling."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(9)
    L = tf.keras.layers
    inp = tf.keras.Input((8, 6, 2), name="img")
    q = quantized_bits(6, 2, alpha=1)
    x = QConv2D(3, (3, 2), strides=(2, 1), padding="valid", kernel_quantizer=q, bias_quantizer=q, name="c1")(
        inp
    )
    x = QActivation(quantized_relu(6, 2), name="r1")(x)
    x = L.MaxPooling2D((2, 2), padding="same", name="mp")(x)
    x = QConv2D(2, (2, 2), padding="same", kernel_quantizer=q, bias_quantizer=q, name="c2")(x)
    x = L.AveragePooling2D((2, 1), name="ap")(x)
    x = L.Flatten(name="fl")(x)
    model = tf.keras.Model(inp, x)
    hm = hls_model(model, tmp_path / "cnn", "ap_fixed<12,5,AP_RND,AP_SAT>", backend="Vivado")
    rng = np.random.default_rng(2)
    xs = np.concatenate([rng.normal(0, 3, (500, 96)), adversarial(40, 7, 96, seed=6)])
    assert_all_equal(hm, xs.reshape(len(xs), 8, 6, 2))


def test_merges_concatenate_and_unfolded_batchnorm(tmp_path):
    """Maximum, Minimum, Average and Add of two branches, Concatenate, and a BatchNormalization that
    hls4ml keeps as its own scale-and-shift layer."""
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    tf.keras.utils.set_random_seed(10)
    L = tf.keras.layers
    inp = tf.keras.Input((6,), name="x")
    q = quantized_bits(8, 3, alpha=1)
    a = QDense(5, kernel_quantizer=q, bias_quantizer=q, name="a")(inp)
    b = QDense(5, kernel_quantizer=q, bias_quantizer=q, name="b")(inp)
    mx = L.Maximum(name="mx")([a, b])
    mn = L.Minimum(name="mn")([a, b])
    av = L.Average(name="av")([a, b])
    ad = L.Add(name="ad")([mx, mn])
    cat = L.Concatenate(name="cat")([ad, av])
    bn = L.BatchNormalization(name="bn")(cat)
    model = tf.keras.Model(inp, bn)
    rng = np.random.default_rng(10)
    g, be, m, v = model.get_layer("bn").get_weights()
    model.get_layer("bn").set_weights(
        [
            rng.uniform(0.5, 2, g.shape),
            rng.normal(0, 1, be.shape),
            rng.normal(0, 1, m.shape),
            rng.uniform(0.5, 2, v.shape),
        ]
    )
    hm = hls_model(model, tmp_path / "merges", "ap_fixed<14,6,AP_RND_CONV,AP_SAT>", backend="Vivado")
    assert {lay.class_name for lay in hm.get_layers()} >= {"Merge", "Concatenate", "BatchNormalization"}
    xs = np.concatenate([rng.normal(0, 4, (500, 6)), adversarial(40, 8, 6, seed=7)])
    assert_all_equal(hm, xs)


def test_lookup_table_activations(tmp_path):
    """sigmoid and tanh through hls4ml's lookup tables, built by hls4ml's own init code (nn_lut.py)."""
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    tf.keras.utils.set_random_seed(3)
    L = tf.keras.layers
    inp = tf.keras.Input((6,), name="x")
    q = quantized_bits(8, 3, alpha=1)
    s = L.Activation("sigmoid", name="sg")(QDense(5, kernel_quantizer=q, bias_quantizer=q, name="a")(inp))
    t = L.Activation("tanh", name="th")(QDense(4, kernel_quantizer=q, bias_quantizer=q, name="b")(inp))
    model = tf.keras.Model(inp, L.Concatenate(name="cat")([s, t]))
    hm = hls_model(model, tmp_path / "lut", "ap_fixed<14,6,AP_RND_CONV,AP_SAT>", backend="Vivado")
    assert {lay.get_attr("activation") for lay in hm.get_layers()} >= {"sigmoid", "tanh"}
    rng = np.random.default_rng(1)
    xs = np.concatenate([rng.normal(0, 3, (2000, 6)), adversarial(50, 8, 6, seed=3)])
    assert_all_equal(hm, xs)
