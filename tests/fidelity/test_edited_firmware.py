""" "First diverging layer" traces the firmware that exists (issue 26): one weight of the generated
project moved by 1 LSB after conversion fails `l1ml validate`, and report.json names that layer. Before,
the tracing build re-converted the deployed model, found no difference and left first_divergence null."""

from __future__ import annotations

import json
import re

import pytest
from _fidelity import dense_ae, save_h5, tiny_project

pytestmark = pytest.mark.slow


def _nudge_one_weight(fw_dir, layer: str, types: dict) -> None:
    """Move the first weight of `layer`'s kernel (the wN its call in the top function passes) by one LSB
    of its type, in place: the firmware now differs from the model in one multiplier."""
    from l1ml.fixed import lsb_of

    firmware = fw_dir / "hls4ml" / "firmware"
    top = next(p for p in firmware.glob("*.cpp"))
    call = next(line for line in top.read_text().splitlines() if line.rstrip().endswith(f"// {layer}"))
    kernel = re.search(r"\b(w\d+)\b", call).group(1)
    header = firmware / "weights" / f"{kernel}.h"
    text = header.read_text()
    m = re.search(r"= \{(-?[\d.]+)", text)
    v = float(m.group(1))
    lsb = lsb_of(types[layer]["weight_t"])
    header.write_text(text[: m.start(1)] + repr(v - lsb if v > 0 else v + lsb) + text[m.end(1) :])


def test_a_weight_moved_by_one_lsb_in_the_generated_firmware_is_traced_to_its_layer(tmp_path, small_data):
    from typer.testing import CliRunner

    from l1ml.cli.main import app

    proj = tiny_project(tmp_path, "dense_ae", small_data, **{"validation.events": 100})
    r = CliRunner().invoke(
        app, ["models", "import", "--project", str(proj.path), str(save_h5(dense_ae(), tmp_path / "m.h5"))]
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["convert", "--project", str(proj.path)])
    assert r.exit_code == 0, r.output
    fw_dir = proj.firmware_dir("v1")
    fw = json.loads((fw_dir / "manifest.json").read_text())
    # the decoder's kernel: the last weights hls4ml writes before the score head
    _nudge_one_weight(fw_dir, "dec_dense", fw["layer_types"])
    r = CliRunner().invoke(app, ["validate", "--project", str(proj.path)])
    assert r.exit_code == 1, r.output
    rep = json.loads((proj.build_dir / "validation" / "v1" / "report.json").read_text())
    assert rep["passed"] is False
    assert rep["first_divergence"] is not None and rep["first_divergence"]["layer"] == "dec_dense"
    assert rep["first_divergence"]["mismatches"] > 0


def test_trace_calls_are_merged_into_an_edited_top_function():
    """The tracing build's trace calls land after the same layer calls of the generated top function, and
    an edited line (here a ReLU made linear) is the generated one, followed by its layer's trace call."""
    from l1ml.firmware.csim import with_trace_calls

    def trace(layer):
        return f'#ifndef __SYNTHESIS__\n    nnet::save_layer_output<t>(o, "{layer}", 8);\n#endif\n'

    calls = ["    nnet::dense<a>(x, o1, w2, b2); // enc\n", "    nnet::relu<b>(o1, o2); // enc_relu\n"]
    traced = "void top() {\n" + calls[0] + trace("enc") + "\n" + calls[1] + trace("enc_relu") + "\n}\n"
    edited = "void top() {\n" + calls[0] + "\n" + calls[1].replace("relu<", "linear<") + "\n}\n"
    merged = with_trace_calls(traced, edited)
    assert merged == traced.replace("relu<b>", "linear<b>")
    plain = "void top() {\n" + calls[0] + "\n" + calls[1] + "\n}\n"
    assert with_trace_calls(traced, plain) == traced
