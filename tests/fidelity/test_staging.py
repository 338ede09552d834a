"""A refused conversion leaves nothing behind; a successful one is published whole, naming its own
directory (not the staging one) in the files hls4ml and conifer write."""

from __future__ import annotations

import pytest
from _fidelity import dense_ae, save_h5, tiny_project

from l1ml.firmware import convert
from l1ml.models.importer import import_model


def _leftovers(proj) -> list[str]:
    root = proj.build_dir / "firmware"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.mark.slow
def test_refused_conversions_leave_no_firmware(tmp_path, small_data):
    import tensorflow as tf

    from l1ml.errors import ConversionError

    proj = tiny_project(tmp_path, "dense_ae", small_data)
    # Refused after hls4ml has written its project: a float Dense whose weights its default type rounds.
    import_model(proj, save_h5(dense_ae(float_layer=True), tmp_path / "float.h5"))
    with pytest.raises(ConversionError, match="float_dense"):
        convert(proj, "v1")
    assert _leftovers(proj) == []
    # Refused before anything is written: a layer type outside the flow.
    inp = tf.keras.Input((57,), name="inputs")
    h = tf.keras.layers.Reshape((19, 3))(inp)
    h = tf.keras.layers.LSTM(4, name="my_lstm")(h)
    out = tf.keras.layers.Dense(57, name="out")(h)
    import_model(proj, save_h5(tf.keras.Model(inp, out), tmp_path / "lstm.h5"))
    with pytest.raises(ConversionError, match="my_lstm.*LSTM is not supported for this flow.*QDense"):
        convert(proj, "v2")
    assert _leftovers(proj) == []


@pytest.mark.slow
def test_published_firmware_names_its_own_directory(tmp_path, small_data):
    # io_stream: a firmware the batch emulator cannot reproduce, which convert must say at once
    proj = tiny_project(tmp_path, "dense_ae", small_data, **{"firmware.io_type": "io_stream"})
    import_model(proj, save_h5(dense_ae(), tmp_path / "ok.h5"))
    fw = convert(proj)
    assert _leftovers(proj) == ["v1"] and fw["testbench"]["events"] > 0
    assert "IOType 'io_stream' is not emulated" in fw["emulator_refused"]
    out = proj.firmware_dir("v1")
    for f in out.rglob("*"):
        if f.is_file() and f.suffix in (".yml", ".json", ".tcl", ".sh", ".h", ".cpp"):
            assert ".staging" not in f.read_text(errors="replace"), f
    assert str(out) in (out / "hls4ml" / "hls4ml_config.yml").read_text()
    # converting again replaces it whole
    convert(proj)
    assert _leftovers(proj) == ["v1"]
