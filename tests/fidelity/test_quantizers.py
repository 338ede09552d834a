"""Every QKeras quantizer option at its bounds: the firmware type l1ml writes computes what QKeras
computes (the C simulation compiled with g++ against hls4ml's ap_types), the batch emulator agrees with
that C simulation, and the options with no exact type are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from _fidelity import build_and_compile, qkeras_outputs

# name -> (quantizer, the type it must become)
EXACT = {
    "sym": ("quantized_bits(16, 6, 1, alpha=1)", "ap_fixed<16,7,AP_RND_CONV,AP_SAT_SYM>"),
    "asym": ("quantized_bits(16, 6, 0, alpha=1)", "ap_fixed<16,7,AP_RND_CONV,AP_SAT>"),
    "sym_small": ("quantized_bits(4, 1, 1)", "ap_fixed<4,2,AP_RND_CONV,AP_SAT_SYM>"),
    "unsigned": ("quantized_bits(8, 3, keep_negative=False, alpha=1)", "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"),
    "unsigned_sym": ("quantized_bits(8, 3, 1, keep_negative=False)", "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"),
    "relu": ("quantized_relu(8, 3)", "ap_ufixed<8,3,AP_RND_CONV,AP_SAT>"),
    "relu_ub": ("quantized_relu(6, 2, relu_upper_bound=1.0)", "ap_ufixed<6,2,AP_RND_CONV,AP_SAT>"),
}


def _bound_inputs(n_in: int) -> np.ndarray:
    """Values at, just inside and beyond every type's bounds, ties for the rounding, and random values."""
    edges = []
    for b in (64.0, 8.0, 4.0, 2.0, 0.5):
        for lsb in (2.0**-9, 2.0**-5, 2.0**-2, 2.0**-4, 2.0**-7):
            edges += [b, b - lsb, b - lsb / 2, b + lsb, -b, -b + lsb, -b + lsb / 2, -b - lsb]
    edges += [0.0, 1e-9, -1e-9, 100.0, -100.0, 0.5 * 2.0**-9, 1.5 * 2.0**-9, -2.5 * 2.0**-9]
    v = np.array(edges, np.float64)
    rng = np.random.default_rng(7)
    fixed = np.repeat(v[:, None], n_in, axis=1)
    rand = rng.uniform(-80, 80, (200, n_in)).round(9)
    return np.concatenate([fixed, rand])


@pytest.mark.slow
def test_every_exact_quantizer_option_matches_qkeras_at_its_bounds(tmp_path, small_data):
    import tensorflow as tf
    from _projects import project_on_data
    from qkeras import QActivation

    from l1ml.emulate.nn_fixed import emulate_arrays
    from l1ml.firmware.hls_project import layer_types
    from l1ml.project import load_project

    proj = load_project(project_on_data(tmp_path, "dense_ae", small_data))
    inp = tf.keras.Input((2,), name="inputs")
    outs = [QActivation(q, name=k)(inp) for k, (q, _) in EXACT.items()]
    model = tf.keras.Model(inp, outs)
    X = _bound_inputs(2)
    # The input type holds every test value exactly, so only the quantizers round and clip.
    csim, hm = build_and_compile(model, proj, tmp_path / "hls", "ap_fixed<40,10>")
    types = layer_types(hm)
    for k, (_, want) in EXACT.items():
        assert types[k]["result_t"].replace(",0>", ">") == want, (k, types[k])
    sw = qkeras_outputs(model, X)
    fw = csim.predict(X)
    emu = list(emulate_arrays(hm, X).values())
    for k, s, f, e in zip(EXACT, sw, fw, emu, strict=True):
        bad = np.flatnonzero((s != f).any(axis=1))
        assert not bad.size, f"{k}: QKeras {s[bad[0]]} firmware {f[bad[0]]} for input {X[bad[0]]}"
        assert np.array_equal(e, f), k
    # the symmetric bound itself is exercised: QKeras clips -64 to -64 + 2**-9, not -64
    i = int(np.flatnonzero(X[:, 0] == -64.0)[0])
    assert sw[0][i, 0] == -64 + 2.0**-9 and sw[1][i, 0] == -64.0


REFUSED = [
    ("quantized_bits(8, 2, alpha='auto')", "alpha"),
    ("quantized_bits(8, 2, alpha='auto_po2')", "alpha"),
    ("quantized_bits(8, 2, alpha=0.5)", "alpha"),
    ("quantized_bits(8, 2, use_stochastic_rounding=True)", "use_stochastic_rounding"),
    ("quantized_bits(8, 2, qnoise_factor=0.5)", "qnoise_factor"),
    ("quantized_bits(4, 4)", "bits == integer"),
    ("quantized_bits(1, 0)", "no magnitude bits"),
    ("quantized_relu(8, 3, use_sigmoid=1)", "use_sigmoid"),
    ("quantized_relu(8, 3, negative_slope=0.25)", "negative_slope"),
    ("quantized_po2(4, 2)", "power-of-two"),
    ("quantized_relu_po2(4, 2)", "power-of-two"),
    ("quantized_tanh(8)", "not supported"),
]


@pytest.mark.parametrize("quantizer, reason", REFUSED)
def test_options_without_an_exact_type_are_refused_by_name(quantizer, reason):
    import tensorflow as tf
    from qkeras import QActivation

    from l1ml.errors import ConversionError
    from l1ml.firmware.preflight import preflight

    inp = tf.keras.Input((8,))
    out = QActivation(quantizer, name="odd_act")(inp)
    with pytest.raises(ConversionError, match=f"odd_act.*{reason}"):
        preflight(tf.keras.Model(inp, out))


@pytest.mark.parametrize(
    "quantizer, reason",
    [
        ("quantized_bits(8, 3, keep_negative=False, alpha=1)", "unsigned"),
        ("quantized_relu(8, 3)", "unsigned"),
        ("quantized_po2(4, 1)", "power-of-two"),
        ("quantized_bits(8, 2, alpha='auto_po2')", "alpha"),
    ],
)
def test_weight_quantizers_without_an_exact_type_are_refused(quantizer, reason):
    import tensorflow as tf
    from qkeras import QDense

    from l1ml.errors import ConversionError
    from l1ml.firmware.preflight import preflight

    inp = tf.keras.Input((8,))
    out = QDense(2, kernel_quantizer=quantizer, bias_quantizer="quantized_bits(8, 3)", name="odd_w")(inp)
    with pytest.raises(ConversionError, match=f"odd_w.*kernel_quantizer.*{reason}"):
        preflight(tf.keras.Model(inp, out))


def test_symmetric_weights_convert_and_the_inline_activation_gets_the_exact_type(tmp_path, small_data):
    import tensorflow as tf
    from _projects import project_on_data
    from qkeras import QDense

    from l1ml.firmware.hls_project import make_config
    from l1ml.firmware.preflight import preflight
    from l1ml.project import load_project

    proj = load_project(project_on_data(tmp_path, "dense_ae", small_data))
    inp = tf.keras.Input((8,), name="inputs")
    out = QDense(
        2,
        kernel_quantizer="quantized_bits(8, 3, 1, alpha=1)",
        bias_quantizer="quantized_bits(8, 3, 1, alpha=1)",
        activation="quantized_bits(10, 4, 1)",
        name="d",
    )(inp)
    model = tf.keras.Model(inp, out)
    preflight(model)
    cfg = make_config(model, proj, "ap_fixed<16,8>")
    assert cfg["LayerName"]["d_quantized_bits"]["Precision"]["result"] == "fixed<10,5,RND_CONV,SAT_SYM>"


@pytest.mark.parametrize(
    "layer, match",
    [
        ("dense_softmax", "activation 'softmax' is computed from a lookup table"),
        ("act_sigmoid", "activation 'sigmoid' is computed from a lookup table"),
    ],
)
def test_lookup_table_activations_are_refused_at_convert(layer, match):
    import tensorflow as tf

    from l1ml.errors import ConversionError
    from l1ml.firmware.preflight import preflight

    inp = tf.keras.Input((8,))
    if layer == "dense_softmax":
        out = tf.keras.layers.Dense(4, activation="softmax", name=layer)(inp)
    else:
        out = tf.keras.layers.Activation("sigmoid", name=layer)(inp)
    with pytest.raises(ConversionError, match=f"{layer}.*{match}.*supports linear, relu"):
        preflight(tf.keras.Model(inp, out))
