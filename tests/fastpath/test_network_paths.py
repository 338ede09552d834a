"""In a whole network (the project's dense AE deploy graph through hls4ml), the BLAS fast paths give the
codes of exact int64 products, and the streaming entry points (input codes computed on the reader's
thread, only the score, float32 output) give the values of the plain call."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "emulate"))

import _models  # noqa: E402

from l1ml.emulate import gemm  # noqa: E402

pytest.importorskip("hls4ml")


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    from l1ml.emulate.nn_fixed import NNEmulator

    bkg = _models.events(6000, seed=21)
    x, pre = _models.network_inputs(bkg)
    km = _models.deploy_model("dense_ae", seed=3, cfg=_models.Cfg(hidden=(16,), latent=4))
    hm = _models.hls_model(
        km, tmp_path_factory.mktemp("fast") / "hls4ml", pre.input_precision(), compile=False
    )
    return NNEmulator(hm), x


def test_fast_paths_equal_int64_products(net, monkeypatch):
    emu, x = net
    used = []
    real_call = gemm.ExactGemm.__call__

    def spy(self, xq):
        used.append((self.always32, self.path(xq)))
        return real_call(self, xq)

    monkeypatch.setattr(gemm.ExactGemm, "__call__", spy)
    fast = emu(x, chunk=1000)
    # Some product ran in float32 although the layer's types alone demand float64: the per-batch bound.
    assert any(not always and path == "float32" for always, path in used)

    monkeypatch.setattr(
        gemm.ExactGemm, "__call__", lambda self, xq: gemm.reference_int64(xq, self.w64).astype(np.float64)
    )
    exact = emu(x, chunk=1000)
    for name in emu.output_names:
        assert np.array_equal(fast[name], exact[name]), name


def test_streaming_entry_points_equal_plain_call(net):
    emu, x = net
    plain = emu(x)
    score, recon = emu.output_names[-1], emu.output_names[0]
    q = emu.input_codes(x)
    assert np.array_equal(emu(q, coded=True)[score], plain[score])
    only = emu(q, coded=True, outputs=[score], threads=2)
    assert list(only) == [score] and np.array_equal(only[score], plain[score])
    if emu.infos[recon].bounds.maxabs < 2.0**24:
        f4 = emu(x, outputs=[recon], dtypes={recon: "f4"})[recon]
        assert f4.dtype == np.float32 and np.array_equal(f4.astype(np.float64), plain[recon])
    from l1ml.errors import DataError

    if emu.infos[score].bounds.maxabs >= 2.0**24:  # a score too wide for float32 is refused, not rounded
        with pytest.raises(DataError, match="not provably exact"):
            emu(x[:10], outputs=[score], dtypes={score: "f4"})
    with pytest.raises(DataError, match="no output"):
        emu(x[:10], outputs=["nope"])


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)  # tells -0.0 from 0.0 too


def test_hardware_codes_equal_two_step_path(net):
    from l1ml.data import units
    from l1ml.data.preprocess import Preprocessing
    from l1ml.emulate.stream import fast_preprocess, hardware_codes

    emu, _ = net
    hw = units.to_hardware(_models.events(4000, seed=22))
    t = emu.ops[0].fixed
    pre = Preprocessing.fit(hw)
    assert max(pre.shifts) <= t.frac  # the direct path is taken
    two_step = emu.input_codes(fast_preprocess(pre, hw))
    assert np.array_equal(_bits(hardware_codes(pre, emu, hw)), _bits(two_step))
    # Offsets that push codes out of the input type: the same wrap/saturation as the input layer's.
    wild = Preprocessing(offsets=tuple(0 if j % 3 == 0 else -(2**14) for j in range(57)), shifts=(0,) * 57)
    ref = emu.input_codes(fast_preprocess(wild, hw))
    assert (np.abs(wild.apply(hw) * 2.0**t.frac) > t.bounds.hi).any()
    assert np.array_equal(_bits(hardware_codes(wild, emu, hw)), _bits(ref))
    # Shifts beyond the type's fractional bits: rounding matters, the two-step path is used.
    coarse = Preprocessing(offsets=pre.offsets, shifts=tuple(s + t.frac + 2 for s in pre.shifts))
    assert np.array_equal(
        _bits(hardware_codes(coarse, emu, hw)), _bits(emu.input_codes(fast_preprocess(coarse, hw)))
    )
    # The comparison does catch a difference: one offset step changes codes.
    off1 = Preprocessing(
        offsets=tuple(o + (j % 3 == 1) for j, o in enumerate(pre.offsets)), shifts=pre.shifts
    )
    assert not np.array_equal(hardware_codes(off1, emu, hw), two_step)


def test_fast_hardware_equals_to_hardware():
    from l1ml.data import units
    from l1ml.data.stream import fast_hardware

    p = _models.events(3000, seed=23).astype(np.float32)
    rng = np.random.default_rng(3)
    # Ties at half an LSB, values beyond the ranges, negative and sub-LSB pT.
    p[:500, :, 0] = rng.integers(-4, 5000, (500, 19)) * (units.PT_LSB / 2)
    p[500:1000, :, 1] = rng.integers(-400, 400, (500, 19)) * (units.ETA_LSB / 2)
    p[1000:1500, :, 2] = rng.uniform(-10, 10, (500, 19))
    assert np.array_equal(fast_hardware(p), units.to_hardware(p))
    assert fast_hardware(p).dtype == units.to_hardware(p).dtype
