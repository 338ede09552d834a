"""Clear errors: unknown boards list the boards; unsupported layers and quantizers are named."""

from __future__ import annotations

import pytest
from _convert import tiny_project

from l1ml.errors import ConfigError
from l1ml.firmware.boards import list_boards, load_board


def test_boards_ship_with_real_parts():
    boards = {b.name: b for b in list_boards()}
    parts = {b.part for b in boards.values()}
    assert {
        "xcvu9p-flga2104-2L-e",
        "xcvu13p-flga2577-2-e",
        "xcku15p-ffva1760-2-e",
        "xc7vx690tffg1927-2",
        "xc7z020clg400-1",
    } <= parts
    assert boards["vu9p"].resources["dsp"] == 6840 and boards["vu13p"].resources["lut"] == 1728000
    assert boards["z7020"].resources["uram"] == 0 and boards["vu9p"].clock_period_ns > 0


def test_unknown_board_lists_the_boards(tmp_path, small_data):
    with pytest.raises(ConfigError) as e:
        load_board("vu19p")
    assert "vu9p" in str(e.value) and "z7020" in str(e.value)
    from l1ml.firmware import convert

    proj = tiny_project(tmp_path, "dense_ae", small_data, **{"firmware.board": "nope"})
    proj.model_dir  # noqa: B018
    (proj.models_dir / "v1").mkdir(parents=True)
    (proj.models_dir / "v1" / "manifest.json").write_text('{"kind": "dense_ae", "version": "v1"}')
    with pytest.raises(ConfigError, match="unknown board 'nope'.*vu13p"):
        convert(proj)


def test_unsupported_layer_is_named():
    import tensorflow as tf

    from l1ml.errors import ConversionError
    from l1ml.firmware.preflight import preflight

    inp = tf.keras.Input((57,))
    out = tf.keras.layers.Lambda(lambda t: t * 2, name="my_lambda")(inp)
    with pytest.raises(ConversionError, match="my_lambda"):
        preflight(tf.keras.Model(inp, out))


@pytest.mark.parametrize(
    "quantizer, match",
    [("quantized_tanh(8)", "quantized_tanh"), ("quantized_bits(8, 2, alpha='auto')", "alpha")],
)
def test_unsupported_quantizer_is_named(quantizer, match):
    import tensorflow as tf
    from qkeras import QActivation

    from l1ml.errors import ConversionError
    from l1ml.firmware.preflight import preflight

    inp = tf.keras.Input((8,))
    out = QActivation(quantizer, name="odd_act")(inp)
    with pytest.raises(ConversionError, match=f"odd_act.*{match}"):
        preflight(tf.keras.Model(inp, out))


def test_cli_boards_list_and_help_stay_light():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", "boards", "list"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    assert "xcvu13p-flga2577-2-e" in r.stdout and "12,288" in r.stdout
    r = subprocess.run(
        [sys.executable, "-c", "import sys, l1ml.cli.main; print('tensorflow' in sys.modules)"],
        capture_output=True,
        text=True,
    )
    assert r.stdout.strip() == "False"
