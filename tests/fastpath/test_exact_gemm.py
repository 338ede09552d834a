"""ExactGemm's float32/float64 BLAS products equal exact int64 arithmetic, and the bounds that choose
the type are what keeps them exact: without them float32 rounds, and past 2**53 the layer is refused."""

import numpy as np
import pytest

from l1ml.emulate.gemm import F32_LIMIT, ExactGemm, reference_int64
from l1ml.fixed import UnsupportedError


def _ints(rng, lo, hi, shape):
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(np.float64)


def test_float32_by_type_bounds_equals_int64():
    rng = np.random.default_rng(1)
    w = _ints(rng, -128, 127, (57, 32))
    x_max = float(2**10)  # 57 * 128 * 1024 < 2**24: float32 for every batch
    mm = ExactGemm(w, x_max)
    assert mm.always32
    x = _ints(rng, -x_max, x_max - 1, (3000, 57))
    x[0] = x_max * np.sign(w[:, 0])  # the extreme row of the bound: sums of exactly colsum * |x|
    x[0][x[0] == 0] = x_max
    assert mm.path(x) == "float32"
    assert np.array_equal(mm(x), reference_int64(x, w))


def test_per_batch_float32_and_float64_fallback_equal_int64():
    rng = np.random.default_rng(2)
    w = _ints(rng, -128, 127, (57, 32))
    x_max = float(2**18)  # the type allows sums up to ~2**30: float32 only where a batch is small
    mm = ExactGemm(w, x_max)
    assert not mm.always32
    small = _ints(rng, -500, 500, (2000, 57))
    big = _ints(rng, -x_max, x_max - 1, (2000, 57))
    assert mm.path(small) == "float32" and mm.path(big) == "float64"
    for x in (small, big, np.concatenate([small, big[:1]])):
        assert np.array_equal(mm(x), reference_int64(x, w))
    assert mm(np.zeros((0, 57))).shape == (0, 32)


def test_float32_would_round_where_the_bound_says_float64():
    # One output whose exact sum is 2**24 + 1: float32 cannot hold it. A plain float32 product gets it
    # wrong; ExactGemm sees |x| * colsum >= 2**24 and takes float64, which is right.
    w = np.array([[1.0], [1.0]])
    x = np.array([[F32_LIMIT, 1.0]])
    exact = reference_int64(x, w)
    assert exact[0, 0] == 2**24 + 1
    naive = x.astype(np.float32) @ w.astype(np.float32)
    assert naive[0, 0] != exact[0, 0]  # the mismatch the bound guards against is real
    mm = ExactGemm(w, x_max := float(2**30))
    assert mm.path(x) == "float64"
    assert np.array_equal(mm(x), exact)
    assert x_max * 2 < 2.0**53


def test_beyond_float64_is_refused():
    w = np.full((64, 4), 127.0)
    with pytest.raises(UnsupportedError, match="2\\*\\*53"):
        ExactGemm(w, 2.0**47)  # 64 * 127 * 2**47 > 2**53
    ExactGemm(w, 2.0**39)  # below: accepted


def test_reference_refuses_int64_overflow():
    with pytest.raises(OverflowError):
        reference_int64(np.array([[2.0**62]]), np.array([[4.0]]))
