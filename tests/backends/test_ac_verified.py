"""The emulator claims only what was compared with the ac_fixed C++: on Catapult/Quartus/oneAPI a layer
outside the verified set (the dense AE's) is refused by name, and the refusal is not caution only: the
Catapult CNN AE's compiled C++ does differ from the emulator (extended test)."""

from __future__ import annotations

import numpy as np
import pytest
from backends_helpers import events, project

pytestmark = pytest.mark.slow


def _cnn(backend: str, root):
    pytest.importorskip("hls4ml")
    from _models import Cfg, deploy_model

    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls_project import build

    prj = project(root, backend)
    model = deploy_model("cnn_ae", 0, Cfg(hidden=(8,), latent=4, filters=(2, 2)))
    hls_model, _, _ = build(model, prj, project_board(prj), root / "hls", "ap_fixed<12,12>")
    return prj, hls_model


def test_unverified_layers_are_refused_by_name(tmp_path):
    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.fixed import UnsupportedError

    _, hls_model = _cnn("Catapult", tmp_path / "c")
    with pytest.raises(
        UnsupportedError, match=r"^layer 'enc_conv1' \(Conv2D\): hls4ml's Catapult \(ac_fixed\)"
    ):
        NNEmulator(hls_model)


@pytest.mark.extended  # compiles the Catapult CNN AE (~40 s on a loaded machine)
def test_the_refusal_is_measured_the_catapult_cnn_differs(tmp_path, monkeypatch):
    """With the conv and pooling layers let through, the Catapult C++ differs from the emulator in the
    reconstruction itself, which no widened type feeds: on almost every value, by more than its LSB, so
    on every event's score. The refusal guards against a real difference, not the 1-bit widening."""
    from l1ml.emulate import ac_verified
    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.firmware.backends.acfixed import widened_layers
    from l1ml.firmware.csim import CSim, compile_cached
    from l1ml.firmware.names import top_name
    from l1ml.fixed import from_hls

    prj, hls_model = _cnn("Catapult", tmp_path / "c")
    lib, _ = compile_cached(tmp_path / "c" / "hls", top_name(prj))
    csim = CSim(lib, top_name(prj), 57, [int(v.size()) for v in hls_model.get_output_variables()])
    monkeypatch.setattr(
        ac_verified, "VERIFIED_CLASSES", (*ac_verified.VERIFIED_CLASSES, "Conv2D", "Pooling2D", "Reshape")
    )
    emu = NNEmulator(hls_model)
    x = events(100)
    want = emu(x)
    got = dict(zip(emu.output_names, csim.predict(x), strict=True))
    recon, score = emu.output_names

    # The only type hls4ml writes wider than declared (the score head's 1-bit mask) lies downstream of
    # the reconstruction: its differences come from the conv and pooling layers.
    producer = {layer.outputs[0]: layer for layer in hls_model.get_layers()}
    upstream, todo = set(), [recon]
    while todo:
        layer = producer.get(todo.pop())  # None: the graph's own input
        if layer is not None and layer.name not in upstream:
            upstream.add(layer.name)
            todo += list(layer.inputs)
    assert {"enc_conv1", "enc_pool", "enc_conv2"} <= upstream
    widened = {w["layer"] for w in widened_layers(hls_model)}
    assert widened and not widened & upstream

    rec_t = from_hls(producer[recon].get_output_variable().type.precision, recon)
    lsbs = np.abs(got[recon] - want[recon]) * 2.0**rec_t.frac
    assert (lsbs == 0).mean() < 0.01  # "under 1% of outputs equal", as ac_verified's note says
    assert np.median(lsbs[lsbs > 0]) > 1  # not a rounding of the last bit
    assert (got[score] != want[score]).all()
