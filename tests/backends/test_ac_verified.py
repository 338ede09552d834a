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
    from l1ml.fixed import UnsupportedError
    from l1ml.emulate.nn_fixed import NNEmulator

    _, hls_model = _cnn("Catapult", tmp_path / "c")
    with pytest.raises(
        UnsupportedError, match=r"^layer 'enc_conv1' \(Conv2D\): hls4ml's Catapult \(ac_fixed\)"
    ):
        NNEmulator(hls_model)


@pytest.mark.extended  # compiles the Catapult CNN AE (~40 s on a loaded machine)
def test_the_refusal_is_measured_the_catapult_cnn_differs(tmp_path, monkeypatch):
    from l1ml.emulate import ac_verified
    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.firmware.csim import CSim, compile_cached
    from l1ml.firmware.names import top_name

    prj, hls_model = _cnn("Catapult", tmp_path / "c")
    lib, _ = compile_cached(tmp_path / "c" / "hls", top_name(prj))
    csim = CSim(lib, top_name(prj), 57, [int(v.size()) for v in hls_model.get_output_variables()])
    monkeypatch.setattr(
        ac_verified, "VERIFIED_CLASSES", (*ac_verified.VERIFIED_CLASSES, "Conv2D", "Pooling2D", "Reshape")
    )
    emu = NNEmulator(hls_model)
    x = events(100)
    want = emu(x)
    got = csim.predict(x)
    score = got[-1]
    assert not np.array_equal(score, want[emu.output_names[-1]])
