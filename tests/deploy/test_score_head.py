"""The deployed AE's on-chip padding mask: a (1, 3) convolution over each object, not a 57x57 dense."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("shape", [(57,), (19, 3, 1)], ids=["dense_ae", "cnn_ae"])
def test_mask_is_the_padding_rule_with_a_small_layer(shape):
    import tensorflow as tf

    from l1ml.models.deploy import MASK, MASK_SCALE, MASK_SHIFT, add_score_head

    L = tf.keras.layers
    inp = tf.keras.Input(shape, name="inputs")
    out = L.Reshape(shape)(L.Dense(57, name="body")(L.Flatten()(inp)))
    deploy = add_score_head(tf.keras.Model(inp, out), "dense_ae" if len(shape) == 1 else "cnn_ae")
    assert deploy.get_layer(MASK_SCALE).get_weights()[0].size == 9  # (1, 3) x 3 filters; a dense took 57x57
    mask = tf.keras.Model(deploy.input, deploy.get_layer(MASK).output)

    rng = np.random.default_rng(5)
    x = rng.integers(-64, 64, size=(200, 57)).astype(np.float32) / 8.0  # eta, phi of any sign, or zero
    pt = rng.integers(1, 4096, size=(200, 19)).astype(np.float32)
    pt[:, 7] = 1.0  # the smallest pT the mask must still see, 2**-MASK_SHIFT after the scale below
    pt /= 2.0**MASK_SHIFT
    absent = rng.random((200, 19)) < 0.4
    pt[absent] = 0.0
    x[:, 0::3] = pt
    x.reshape(200, 19, 3)[absent] = 0.0  # padded objects are all zero, as preprocessing leaves them
    x[:3, 1::3] = 0.0  # present objects whose eta is exactly 0 still count
    want = 0.5 * np.repeat(~absent, 3, axis=1)
    np.testing.assert_array_equal(mask.predict(x.reshape(-1, *shape), verbose=0), want)
