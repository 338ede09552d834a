"""QKeras autoencoders: a dense AE like the published L1 one, a small CNN AE, and a VAE.

Layer names matter downstream: encoder layers start with ``enc_``, decoder layers with ``dec_``, the
VAE's latent mean is ``z_mean``. The deploy step (deploy.py) reads them to fold BatchNormalization and
to cut the VAE down to its encoder.

All training models take the preprocessed inputs and are trained on ``y = [x, mask]`` (concatenated),
so the loss is the squared error over present objects only.
"""

from __future__ import annotations

from l1ml.data import units


def _q(bits: int, integer: int, alpha: int):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=alpha)


def _dense(x, n: int, name: str, cfg, bn: bool, relu: bool):
    from qkeras import QActivation, QDense, quantized_relu
    from tensorflow import keras

    x = QDense(
        n,
        kernel_quantizer=_q(cfg.bits, cfg.integer, cfg.alpha),
        bias_quantizer=_q(cfg.bits, cfg.integer, cfg.alpha),
        name=f"{name}_dense",
    )(x)
    if bn:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    if relu:
        x = QActivation(quantized_relu(cfg.bits, cfg.integer), name=f"{name}_relu")(x)
    return x


def masked_mse(y_true, y_pred):
    """y_true = [x, mask] concatenated on the last axis."""
    import tensorflow as tf

    n = tf.shape(y_pred)[-1]
    x, mask = y_true[:, :n], y_true[:, n:]
    return tf.reduce_sum(mask * tf.square(x - y_pred), axis=-1) / tf.cast(n, tf.float32)


def build_dense_ae(cfg):
    """57 -> hidden... -> latent -> ...hidden -> 57, BN after each hidden QDense."""
    from tensorflow import keras

    inp = keras.Input((units.N_INPUTS,), name="inputs")
    x = inp
    for i, n in enumerate(cfg.hidden):
        x = _dense(x, n, f"enc_{i + 1}", cfg, cfg.batchnorm, True)
    x = _dense(x, cfg.latent, "enc_latent", cfg, False, False)
    for i, n in enumerate(reversed(cfg.hidden)):
        x = _dense(x, n, f"dec_{i + 1}", cfg, cfg.batchnorm, True)
    out = _dense(x, units.N_INPUTS, "dec_out", cfg, False, False)
    return keras.Model(inp, out, name="dense_ae")


def build_cnn_ae(cfg):
    """(19, 3, 1) object grid -> QConv2D -> pool -> QConv2D -> flatten -> latent -> 57."""
    from qkeras import QActivation, QConv2D, quantized_relu
    from tensorflow import keras

    inp = keras.Input((units.N_OBJECTS, units.N_FEATURES, 1), name="inputs")
    x = inp
    for i, f in enumerate(cfg.filters):
        x = QConv2D(
            f,
            (3, 3),
            padding="same",
            kernel_quantizer=_q(cfg.bits, cfg.integer, cfg.alpha),
            bias_quantizer=_q(cfg.bits, cfg.integer, cfg.alpha),
            name=f"enc_conv{i + 1}",
        )(x)
        if cfg.batchnorm:
            x = keras.layers.BatchNormalization(name=f"enc_conv{i + 1}_bn")(x)
        x = QActivation(quantized_relu(cfg.bits, cfg.integer), name=f"enc_conv{i + 1}_relu")(x)
        if i == 0:
            x = keras.layers.AveragePooling2D((2, 1), name="enc_pool")(x)
    x = keras.layers.Flatten(name="enc_flatten")(x)
    x = _dense(x, cfg.latent, "enc_latent", cfg, False, False)
    x = _dense(x, cfg.hidden[-1], "dec_1", cfg, cfg.batchnorm, True)
    out = _dense(x, units.N_INPUTS, "dec_out", cfg, False, False)
    return keras.Model(inp, out, name="cnn_ae")


def _sampling_layer():
    """A reparameterisation layer that also adds the KL term; defined lazily to keep TF out of import."""
    import tensorflow as tf
    from tensorflow import keras

    class Sampling(keras.layers.Layer):
        def __init__(self, beta: float = 1e-3, **kw):
            super().__init__(**kw)
            self.beta = beta

        def call(self, inputs):
            mean, log_var = inputs
            kl = -0.5 * tf.reduce_mean(
                tf.reduce_sum(1 + log_var - tf.square(mean) - tf.exp(log_var), axis=-1)
            )
            self.add_loss(self.beta * kl)
            eps = tf.random.normal(tf.shape(mean))
            return mean + tf.exp(0.5 * log_var) * eps

        def get_config(self):
            return {**super().get_config(), "beta": self.beta}

    return Sampling


def custom_objects() -> dict:
    """Everything needed to load a saved l1ml Keras model."""
    from qkeras.utils import _add_supported_quantized_objects

    objs = {"masked_mse": masked_mse, "Sampling": _sampling_layer()}
    _add_supported_quantized_objects(objs)
    return objs


def build_vae(cfg):
    """Encoder 57 -> hidden -> (z_mean, z_log_var); decoder latent -> reversed hidden -> 57."""
    from tensorflow import keras

    inp = keras.Input((units.N_INPUTS,), name="inputs")
    x = inp
    for i, n in enumerate(cfg.hidden):
        x = _dense(x, n, f"enc_{i + 1}", cfg, cfg.batchnorm, True)
    from qkeras import QDense

    z_mean = QDense(
        cfg.latent,
        kernel_quantizer=_q(cfg.bits, cfg.integer, cfg.alpha),
        bias_quantizer=_q(cfg.bits, cfg.integer, cfg.alpha),
        name="z_mean",
    )(x)
    z_log_var = keras.layers.Dense(cfg.latent, name="z_log_var")(x)
    z = _sampling_layer()(name="sampling")([z_mean, z_log_var])
    y = z
    for i, n in enumerate(reversed(cfg.hidden)):
        y = keras.layers.Dense(n, activation="relu", name=f"dec_{i + 1}")(y)
    out = keras.layers.Dense(units.N_INPUTS, name="dec_out")(y)
    return keras.Model(inp, out, name="vae")


BUILDERS = {"dense_ae": build_dense_ae, "cnn_ae": build_cnn_ae, "vae": build_vae}


def shape_inputs(kind: str, x):
    """The CNN takes the (19, 3, 1) grid; the others the flat 57 inputs."""
    if kind == "cnn_ae":
        return x.reshape(len(x), units.N_OBJECTS, units.N_FEATURES, 1)
    return x
