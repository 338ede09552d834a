"""The counting kernel (explore's): every ap_fixed cast mode's overflow count equals the numpy
emulator's (fixed.count_overflows), per layer and word, beside the values themselves."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_native_kernel import CastChain  # noqa: E402

from l1ml.emulate.native.kernel import compile_kernel  # noqa: E402
from l1ml.fixed import OVERFLOW, FixedType, cast, count_overflows, in_layer  # noqa: E402

pytest.importorskip("hls4ml")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("L1ML_CACHE_DIR", str(tmp_path / "cache"))


class CountedChain(CastChain):
    """CastChain whose casts are tallied under their own names, as NNEmulator.codes names each op's."""

    def __call__(self, q, coded=True):
        out = {}
        for name, (t, relu) in self.cases.items():
            with in_layer(name):
                codes, _ = cast(q.copy(), self.t_in.frac, self.t_in.bounds, t, lo_clip=0.0 if relu else None)
            out[name] = codes * 2.0**-t.frac
        return out


def test_every_cast_mode_counts_as_numpy():
    t_in = FixedType(16, 6)
    cases = [
        (FixedType(w, w - frac, signed, r, o), relu)
        # counting follows the rounding: three roundings that differ on ties and negatives, every overflow
        for r, o, signed, frac, relu in itertools.product(
            ("TRN", "RND_CONV", "TRN_ZERO"), OVERFLOW, (True, False), (11, 5), (False, True)
        )
        for w in [9 if signed else 8]
    ]
    chain = CountedChain(t_in, cases)
    k = compile_kernel(chain, "casts", count=True)  # check_kernel compares the counts too
    q = np.resize(np.arange(-(2**15), 2**15, 37, dtype=np.float64), (4096 // 16, 16))
    got_c, want_c = {}, {}
    got = k(q, counter=got_c)
    with count_overflows(want_c):
        want = chain(q)
    assert all(np.array_equal(got[m], want[m]) for m in k.names)
    assert got_c == want_c
    # every case overflows on this range, under its own overflow mode's word
    assert set(got_c) == set(chain.cases)
    assert {w for c in got_c.values() for w in c} == {"wrapped", "saturated", "zeroed"}
    # counts add across calls, as count_overflows does across batches
    k(q, counter=got_c)
    assert got_c == {m: {w: 2 * n for w, n in c.items()} for m, c in want_c.items()}
