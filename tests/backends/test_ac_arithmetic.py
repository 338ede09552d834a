"""Catapult and Quartus firmware (ac_fixed) against l1ml's batch emulator, bit for bit: the dense AE is
converted by l1ml's own build(), its C++ compiled here with g++ and the ac_types headers hls4ml bundles
(l1ml.firmware.hls4ml.compile_cached, as validation does), run on events, and compared at 0 LSB."""

from __future__ import annotations

import numpy as np
import pytest
from backends_helpers import INPUT_PRECISION, dense_ae, events, project

pytestmark = pytest.mark.slow


def _firmware(tmp_path_factory, backend):
    pytest.importorskip("hls4ml")
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls4ml import CSim, build, compile_cached, top_name

    prj = project(tmp_path_factory.mktemp(backend) / "p", backend)
    out = prj.path / "hls4ml"
    hls_model, _, _ = build(dense_ae(), prj, project_board(prj), out, INPUT_PRECISION)
    name = top_name(prj)
    lib, _ = compile_cached(out, name)
    sizes = [int(v.size()) for v in hls_model.get_output_variables()]
    return hls_model, CSim(lib, name, 57, sizes), out


# Catapult in CI (~25 s to convert and compile); Quartus's compile of the same network takes ~50 s on a
# loaded 2-core machine, so it runs with the extended tests.
@pytest.fixture(scope="module", params=["Catapult", pytest.param("Quartus", marks=pytest.mark.extended)])
def firmware(request, tmp_path_factory):
    return request.param, *_firmware(tmp_path_factory, request.param)


def _compare(hls_model, csim, x):
    from l1ml.emulate.nn_fixed import NNEmulator

    emu = NNEmulator(hls_model)
    want = emu(x)
    got = csim.predict(x)
    return {name: (g, want[name]) for name, g in zip(emu.output_names, got, strict=True)}


def test_cpp_matches_the_emulator_at_0_lsb(firmware):
    backend, hls_model, csim, out = firmware
    # The project really is ac_fixed C++ for that backend, compiled with its bundled headers.
    defines = (out / "firmware" / "defines.h").read_text()
    assert "ac_fixed<" in defines and "ap_fixed<" not in defines
    x = events()
    res = _compare(hls_model, csim, x)
    for name, (got, want) in res.items():
        assert got.shape == want.shape == (len(x), got.shape[1])
        assert np.array_equal(got, want), (backend, name, int((got != want).sum()))
    score = res[hls_model.outputs[-1]][0]
    assert np.unique(score).size > len(x) // 2  # the events exercise the network: scores differ


def test_the_one_bit_mask_is_written_two_bits_wide_and_the_emulator_follows(firmware, monkeypatch):
    """hls4ml writes the score's 1-bit pT mask ufixed<1,0> as ac_fixed<2,0,false>: one more fractional bit
    and a saturation limit of 0.75 instead of 0.5. The emulator computes in the written type; without that
    rule (written_width as the precision says) the comparison above fails on every event's score."""
    from l1ml.backends import acfixed

    backend, hls_model, csim, _ = firmware
    widened = acfixed.widened_layers(hls_model)
    assert {(w["layer"], w["precision"], w["written"]) for w in widened} == {
        ("score_mask", "ufixed<1,0>", "ac_fixed<2,0,false,AC_RND_CONV,AC_SAT>")
    }
    monkeypatch.setattr(acfixed, "written_width", lambda p: int(p.width))
    x = events(50)
    res = _compare(hls_model, csim, x)
    recon, score = (res[n] for n in hls_model.outputs)
    assert np.array_equal(*recon)  # the reconstruction has no 1-bit type: unaffected
    got, want = score
    present = x[:, 0] != 0
    assert (got != want)[present].all()
    # ...by the mask's square, 0.75**2 / 0.5**2, wherever one object is present: a real, named difference.
    one = (x[:, ::3] != 0).sum(axis=1) == 1
    if one.any():
        assert np.allclose(got[one] / want[one], 2.25, rtol=1e-3)
