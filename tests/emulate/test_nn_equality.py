"""The emulator against hls4ml's C simulation: every output, np.array_equal, no tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from l1ml.emulate.nn_fixed import NNEmulator, emulate_arrays


def predict(hm, x: np.ndarray) -> list[np.ndarray]:
    out = hm.predict(np.ascontiguousarray(x, dtype=np.float64))
    out = out if isinstance(out, list) else [out]
    return [o.reshape(len(x), -1) for o in out]


def assert_all_equal(hm, x):
    ref = predict(hm, x)
    emu = emulate_arrays(hm, x)
    assert list(emu) == list(hm.outputs)
    for r, (name, e) in zip(ref, emu.items(), strict=True):
        assert r.shape == e.shape, name
        bad = np.argwhere(r != e)
        assert np.array_equal(r, e), (
            f"{name}: {len(bad)} mismatches, first at {bad[:3].tolist()}: "
            f"{r[tuple(bad[0])]} vs {e[tuple(bad[0])]}"
        )


def adversarial(n: int, in_frac: int, n_in: int, seed: int) -> np.ndarray:
    """Inputs that saturate and wrap the input type, sit exactly on its rounding ties, or are negative."""
    rng = np.random.default_rng(seed)
    lsb = 2.0**-in_frac
    blocks = [
        rng.normal(0, 1e4, (n, n_in)),  # far outside any input type: wraps
        -np.abs(rng.normal(0, 50, (n, n_in))),  # negative everywhere, including negative pT
        (rng.integers(-(2**12), 2**12, (n, n_in)) + 0.5) * lsb,  # exact ties of the input rounding
        rng.integers(-(2**12), 2**12, (n, n_in)) * lsb + lsb / 3,  # just off the ties
        np.full((n, n_in), 2.0**20),  # a power of two beyond the range
    ]
    return np.concatenate(blocks)


def test_dense_ae_events(dense_ae, events):
    _, hm, _ = dense_ae
    x, _ = events
    assert_all_equal(hm, x)


def test_dense_ae_adversarial(dense_ae, events):
    _, hm, _ = dense_ae
    _, pre = events
    in_frac = max(pre.shifts)
    assert_all_equal(hm, adversarial(200, in_frac, 57, seed=3))


def test_float32_inputs_same_as_float64(dense_ae, events):
    _, hm, _ = dense_ae
    x, _ = events
    a = emulate_arrays(hm, x[:500].astype(np.float32))
    b = emulate_arrays(hm, x[:500])
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_chunking_does_not_change_results(dense_ae, events):
    _, hm, _ = dense_ae
    x, _ = events
    emu = NNEmulator(hm)
    a, b = emu(x, chunk=7), emu(x, chunk=100000)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_rebuilt_from_written_project(dense_ae, events, tmp_path):
    """A firmware directory: the graph is rebuilt with its hls4ml_config.yml, checked against its
    defines.h and weights, and gives the same bits."""
    from l1ml.emulate.nn_fixed import build_emulator
    from l1ml.models.io import save_model

    keras_model, hm, out_dir = dense_ae
    x, _ = events
    h5 = save_model(keras_model, tmp_path / "deploy.h5")
    from_dir = build_emulator(out_dir.parent, keras_model=h5)(x[:1000])
    direct = emulate_arrays(hm, x[:1000])
    assert all(np.array_equal(from_dir[k], direct[k]) for k in direct)


def test_rebuilt_graph_differing_from_firmware_is_refused(dense_ae, tmp_path):
    import shutil

    from l1ml.emulate.nn_fixed import build_emulator
    from l1ml.fixed import UnsupportedError

    keras_model, _, out_dir = dense_ae
    copy = tmp_path / "hls4ml"
    shutil.copytree(out_dir, copy, ignore=shutil.ignore_patterns("*.so", "*.o"))
    defines = copy / "firmware" / "defines.h"
    text = defines.read_text()
    import re

    m = re.search(r"typedef ap_ufixed<8,3,AP_RND_CONV,AP_SAT(,0)?> (\w+);", text)
    assert m, text[:2000]
    defines.write_text(text.replace(m.group(0), m.group(0).replace("<8,3", "<9,4")))
    with pytest.raises(UnsupportedError, match=m.group(2)):
        build_emulator(copy, keras_model=keras_model)


def test_check_catches_a_perturbed_weight(dense_ae, events):
    """The equality check is not vacuous: one weight moved by one LSB in the emulator is caught."""
    _, hm, _ = dense_ae
    x, _ = events
    ref = predict(hm, x)
    emu = NNEmulator(hm)
    layer = next(lay for lay in hm.get_layers() if lay.class_name == "Dense")
    w = layer.weights["weight"]
    original = w.data.copy()
    try:
        w.data = original.copy()
        # a weight of the input that is most often non-zero (the largest weight may sit on an object slot
        # these events leave empty, where moving it changes nothing), on its largest output
        i = int(np.argmax((np.asarray(x) != 0).mean(axis=0)))
        w.data[i, int(np.argmax(np.abs(original[i])))] += 2.0**-w.type.precision.fractional
        bad = NNEmulator(hm)
    finally:
        w.data = original
    good_out, bad_out = emu(x), bad(x)
    assert all(np.array_equal(r, good_out[k]) for r, k in zip(ref, good_out, strict=True))
    assert not all(np.array_equal(r, bad_out[k]) for r, k in zip(ref, bad_out, strict=True))


def test_check_catches_a_wrong_rounding_mode(dense_ae, events):
    """Emulating the quantized_relu with TRN instead of its RND_CONV is caught."""
    _, hm, _ = dense_ae
    x, _ = events
    ref = predict(hm, x)
    relu = next(lay for lay in hm.get_layers() if lay.get_attr("activation") == "relu")
    prec = relu.get_output_variable().type.precision
    original = prec.rounding_mode
    try:
        prec.rounding_mode = "TRN"
        bad = NNEmulator(hm)
    finally:
        prec.rounding_mode = original
    out = bad(x)
    assert not all(np.array_equal(r, out[k]) for r, k in zip(ref, out, strict=True))


def test_refuses_unknown_activation(tmp_path):
    """A LUT activation the emulator does not implement is refused up front, naming the layer."""
    import tensorflow as tf
    from _models import hls_model

    from l1ml.fixed import UnsupportedError

    inp = tf.keras.Input((4,), name="x")
    out = tf.keras.layers.Dense(3, activation="softmax", name="clf")(inp)
    hm = hls_model(
        tf.keras.Model(inp, out), tmp_path / "p", "ap_fixed<16,6>", backend="Vivado", compile=False
    )
    with pytest.raises(UnsupportedError, match="clf"):
        NNEmulator(hm)


def test_non_finite_inputs_are_a_data_error(dense_ae, events):
    from l1ml.errors import DataError

    _, hm, _ = dense_ae
    x, _ = events
    bad = x[:10].copy()
    bad[3, 5] = np.nan
    with pytest.raises(DataError, match="NaN"):
        emulate_arrays(hm, bad)


def test_wrong_input_width_is_a_data_error(dense_ae):
    from l1ml.errors import DataError

    _, hm, _ = dense_ae
    with pytest.raises(DataError, match="57"):
        emulate_arrays(hm, np.zeros((4, 56)))
