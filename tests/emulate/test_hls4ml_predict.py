"""l1ml's emulator behind hls4ml's predict: `l1ml.emulate.predict(hls_model, X)` and a model converted for
the "L1ml" backend (hls4ml's Vitis backend with the predict hook) return what hls4ml's compiled C
simulation returns, bit for bit, in its shapes, on the example networks and on a user's own QKeras model
imported the way an unknown model arrives (its own layer names and precisions, Vivado backend)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hls4ml")


def _same(got, want):
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _same(g, w)
        return
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.array_equal(got, want)


@pytest.mark.parametrize("which", ["dense_ae", "cnn_ae"])
def test_predict_equals_compiled_csim(which, request, events, tmp_path):
    import hls4ml

    import l1ml.emulate
    import l1ml.emulate.hls4ml_backend  # noqa: F401  (registers "L1ml")

    keras_model, hm, _ = request.getfixturevalue(which)
    x, _ = events
    x = x[:500].reshape((500, *hm.get_input_variables()[0].shape))
    want = hm.predict(np.ascontiguousarray(x))
    _same(l1ml.emulate.predict(hm, x), want)
    _same(l1ml.emulate.predict(hm, x[:1]), hm.predict(np.ascontiguousarray(x[:1])))  # one sample: squeezed

    # the same model converted for the L1ml backend: hls4ml's own predict, nothing compiled
    ours = hls4ml.converters.convert_from_keras_model(
        keras_model, hls_config=hm.config.config["HLSConfig"], output_dir=str(tmp_path / "l1ml"),
        backend="L1ml", io_type="io_parallel", project_name="emu",
    )
    vitis = hls4ml.backends.get_backend("Vitis")
    assert ours.config.backend.writer is vitis.writer  # Vitis firmware in every other respect
    _same(ours.predict(x), want)
    assert ours._top_function_lib is None  # predicted without compiling


def test_a_users_own_qkeras_model(tmp_path):
    import hls4ml
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    import l1ml.emulate

    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((57,), name="l1_objects")
    h = QDense(20, kernel_quantizer=quantized_bits(6, 1, alpha=1), bias_quantizer=quantized_bits(6, 1, alpha=1),
               name="fc_in")(inp)
    h = QActivation(quantized_relu(6, 2), name="relu_in")(h)
    out = QDense(3, kernel_quantizer=quantized_bits(8, 2, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1),
                 name="fc_out")(h)
    model = tf.keras.Model(inp, out)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado",
                                               default_precision="ap_fixed<14,6>")
    cfg["LayerName"]["l1_objects"]["Precision"]["result"] = "ap_fixed<12,6,AP_RND,AP_SAT>"
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=str(tmp_path / "hls"),
                                                   backend="Vivado", io_type="io_parallel", project_name="user")
    hm.compile()
    x = np.random.default_rng(4).normal(0, 8, (400, 57))  # saturates the input, rounds on ties
    _same(l1ml.emulate.predict(hm, x), hm.predict(x))
    _same(l1ml.emulate.predict(hm, x[:1]), hm.predict(np.ascontiguousarray(x[:1])))


def test_other_backends_are_refused():
    from types import SimpleNamespace

    import l1ml.emulate
    from l1ml.fixed import UnsupportedError

    fake = SimpleNamespace(config=SimpleNamespace(backend=SimpleNamespace(name="Quartus")))
    with pytest.raises(UnsupportedError, match="Quartus"):
        l1ml.emulate.predict(fake, np.zeros((1, 57)))
