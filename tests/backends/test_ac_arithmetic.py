"""Catapult and Quartus firmware (ac_fixed) against l1ml's batch emulator, bit for bit: the dense AE model
version is converted by `l1ml convert`'s own code (l1ml.firmware.convert), its C++ compiled here with g++
and the ac_types headers hls4ml bundles (load_csim, as `l1ml validate` does), run on events, and compared
with the emulator rebuilt from the firmware directory (emulate_arrays, as validation does) at 0 LSB."""

from __future__ import annotations

import json

import numpy as np
import pytest
from backends_helpers import dense_ae, events, model_version, project

pytestmark = pytest.mark.slow


# Catapult in CI (~25 s to convert and compile); Quartus's compile of the same network takes ~50 s on a
# loaded 2-core machine, so it runs with the extended tests.
@pytest.fixture(scope="module", params=["Catapult", pytest.param("Quartus", marks=pytest.mark.extended)])
def firmware(request, tmp_path_factory):
    pytest.importorskip("hls4ml")
    from l1ml.firmware import convert
    from l1ml.firmware.csim import load_csim

    backend = request.param
    prj = project(tmp_path_factory.mktemp(backend) / "p", backend)
    fw = convert(prj, model_version(prj, dense_ae()))
    fw_dir = prj.firmware_dir("v1")
    csim, _cached = load_csim(fw_dir, fw)
    return backend, fw, fw_dir, csim


def test_cpp_matches_the_emulator_at_0_lsb(firmware):
    from l1ml.emulate.nn_fixed import emulate_arrays

    backend, fw, fw_dir, csim = firmware
    assert fw["backend"] == backend and fw["emulator_refused"] is None and fw["csim_refused"] is None
    # The project really is that backend's ac_fixed C++, compiled with its bundled headers.
    defines = (fw_dir / "hls4ml" / "firmware" / "defines.h").read_text()
    assert "ac_fixed<" in defines and "ap_fixed<" not in defines
    x = events()
    want = emulate_arrays(fw_dir / "hls4ml", x)
    got = csim.predict(x)
    for (name, w), g in zip(want.items(), got, strict=True):
        assert g.shape == w.shape == (len(x), g.shape[1])
        assert np.array_equal(g, w), (backend, name, int((g != w).sum()))
    score = got[-1]
    assert np.unique(score).size > len(x) // 2  # the events exercise the network: scores differ
    # The manifest says where hls4ml's ac_fixed type is not the precision asked for.
    saved = json.loads((fw_dir / "manifest.json").read_text())
    assert [w["layer"] for w in saved["ac_widened"]] == ["score_mask"]


def test_the_one_bit_mask_is_written_two_bits_wide_and_the_emulator_follows(firmware, monkeypatch):
    """hls4ml writes the score's 1-bit pT mask ufixed<1,0> as ac_fixed<2,0,false>: one more fractional bit
    and a saturation limit of 0.75 instead of 0.5. The emulator computes in the written type; without that
    rule (written_width as the precision says) the comparison above fails on every event with an object."""
    from l1ml import fixed
    from l1ml.emulate.nn_fixed import emulate_arrays

    backend, fw, fw_dir, csim = firmware
    assert fw["ac_widened"] == [
        {
            "layer": "score_mask",
            "type": "result_t",
            "precision": "ufixed<1,0>",
            "written": "ac_fixed<2,0,false,AC_RND_CONV,AC_SAT>",
        }
    ]
    monkeypatch.setattr(fixed, "written_width", lambda p: int(p.width))  # from_hls reads it there
    x = events(50)
    x[0] = 0
    x[0, :3] = (100, 12, -30)  # one object present: the score is its squared error times the mask squared
    want = list(emulate_arrays(fw_dir / "hls4ml", x).values())
    got = csim.predict(x)
    assert np.array_equal(got[0], want[0])  # the reconstruction has no 1-bit type: unaffected
    present = x[:, 0] != 0
    assert (got[1] != want[1])[present].all()
    # ...by the mask's square, 0.75**2 / 0.5**2, wherever one object is present: a real, named difference.
    assert got[1][0, 0] / want[1][0, 0] == pytest.approx(2.25, rel=1e-3)


@pytest.mark.extended  # compiles the testbench with the ac headers again (~20-50 s on a loaded machine)
def test_queue_csim_runs_the_testbench_on_the_events(firmware, tmp_path):
    """The queue's csim of these backends (g++ with their bundled headers, l1ml.firmware.backends.steps) runs
    hls4ml's own testbench on tb_data/ events; what it logs is the emulator's outputs, to the 6 digits it prints."""
    import shutil
    import subprocess

    from l1ml.emulate.nn_fixed import emulate_arrays
    from l1ml.plan import plan

    backend, fw, fw_dir, _ = firmware
    src = tmp_path / "src"
    shutil.copytree(fw_dir, src)
    x = events(40)
    tb = src / "hls4ml" / "tb_data"
    tb.mkdir(exist_ok=True)
    np.savetxt(tb / "tb_input_features.dat", x, fmt="%.17g")
    want = np.concatenate(list(emulate_arrays(fw_dir / "hls4ml", x).values()), axis=1)
    np.savetxt(tb / "tb_output_predictions.dat", want, fmt="%.17g")
    if backend == "Quartus":
        # hls4ml writes its Quartus testbench for one output only; the dense AE has two: refused by name.
        from l1ml.errors import L1mlError

        with pytest.raises(L1mlError, match=r"backend 'Quartus': hls4ml wrote no \w+_test\.cpp"):
            plan("csim", src)
        return
    p = plan("csim", src)
    assert p.commands[0]["argv"][0].endswith("g++") and "-Ifirmware/ac_types" in " ".join(
        p.commands[0]["argv"]
    )
    r = subprocess.run(["bash", "-c", p.script()], cwd=src, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    # hls4ml's testbench logs each output array on its own line, with the stream's default 6 significant
    # digits: the bit-exact check is the library comparison above; this one shows the events ran through.
    lines = [np.array(line.split(), float) for line in (tb / "csim_results.log").read_text().splitlines()]
    assert len(lines) == 2 * len(x)
    got = np.array([np.concatenate(lines[i : i + 2]) for i in range(0, len(lines), 2)])
    assert got.shape == want.shape and np.allclose(got, want, rtol=1e-5, atol=0), backend
