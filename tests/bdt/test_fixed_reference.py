"""The numpy fixed-point reference against the real ap_types headers and a real HLS C simulation."""

from __future__ import annotations

import copy
import subprocess

import numpy as np
import pytest

from l1ml.emulate.bdt_fixed import decision_function_fixed, parse_type
from l1ml.errors import ConfigError
from l1ml.fixed import FixedType

TYPES = [
    "ap_fixed<18,8>",
    "ap_fixed<10,3,AP_RND,AP_SAT>",
    "ap_fixed<10,3,AP_RND_CONV,AP_WRAP>",
    "ap_fixed<10,3,AP_RND_ZERO,AP_SAT_SYM>",
    "ap_fixed<10,3,AP_RND_INF,AP_SAT_ZERO>",
    "ap_fixed<10,3,AP_RND_MIN_INF,AP_SAT>",
    "ap_fixed<10,3,AP_TRN_ZERO,AP_WRAP>",
    "ap_ufixed<8,4,AP_RND,AP_SAT>",
    "ap_fixed<6,6>",
]


def test_quantization_matches_ap_fixed(tmp_path):
    """Every mode on values at, between and beyond the grid, against `(T) double` compiled with g++."""
    from l1ml.emulate.ap_types import ap_include_dir

    rng = np.random.default_rng(0)
    grid = np.arange(-80, 80) / 8  # halves and quarters of the coarse LSBs: every tie case
    values = np.concatenate([grid, grid + 1 / 64, rng.normal(0, 6, 200), [0.0, -0.0, 1e6, -1e6, 7.998, -8.0]])
    body = "\n".join(
        f'  {{ typedef {t} T; for (double v : xs) std::printf("%lld ", (long long)((T)v).V.to_int64()); '
        'std::printf("\\n"); }'
        for t in TYPES
    )
    src = (
        '#include <cstdio>\n#include "ap_fixed.h"\n#include "ap_int.h"\n'
        f"static const double xs[] = {{{', '.join(repr(float(v)) for v in values)}}};\n"
        f"int main() {{\n{body}\n  return 0;\n}}\n"
    )
    (tmp_path / "q.cpp").write_text(src)
    subprocess.run(
        ["g++", "-O1", "-std=c++14", f"-I{ap_include_dir()}", "q.cpp", "-o", "q"], cwd=tmp_path, check=True
    )
    out = subprocess.run(
        ["./q"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for t, line in zip(TYPES, out, strict=True):
        expected = np.array(line.split(), dtype=np.int64)
        got = FixedType.parse(t).to_int(values)
        bad = np.flatnonzero(got != expected)
        assert bad.size == 0, f"{t}: {values[bad][:5]} -> {got[bad][:5]}, ap_fixed says {expected[bad][:5]}"


def test_parse_rejects_what_it_cannot_emulate():
    for bad in (
        "float",
        "ap_fixed<18>",
        "ap_fixed<18,8,AP_TRN,AP_WRAP_SM>",
        "ap_fixed<18,8,AP_TRN,AP_WRAP,2>",
        "ap_int<8>",
    ):
        with pytest.raises(ConfigError):
            FixedType.parse(bad)
    with pytest.raises(ConfigError, match="1..52 bits"):
        parse_type("ap_fixed<60,8>")  # beyond the BDT emulator's exact int64 sums
    assert FixedType.parse("ap_fixed<60,8>").width == 60  # a type the network and deploy code can hold
    assert FixedType.parse("ap_uint<8>", integers=True) == FixedType(8, 8, False)
    assert FixedType.parse("ap_fixed< 18 , 8 >") == FixedType(18, 8)
    t = FixedType.parse("ap_fixed<18,8,AP_RND_CONV,AP_SAT,0>")
    assert (t.rounding, t.overflow) == ("RND_CONV", "SAT") and str(t) == "ap_fixed<18,8,AP_RND_CONV,AP_SAT>"
    assert str(FixedType.parse("ap_ufixed<18,8,AP_TRN,AP_WRAP>")) == "ap_ufixed<18,8>"


@pytest.mark.slow
def test_saturating_sums_follow_the_hls_reduce_order(tmp_path, cache_dir):
    """With AP_SAT the order of the tree sum matters; the reference must follow conifer's add tree."""
    import conifer
    import xgboost as xgb

    from l1ml.emulate.conifer_sim import HlsCsim
    from l1ml.firmware.conifer import conifer_config, ensemble_from_booster

    rng = np.random.default_rng(4)
    x = (rng.integers(-300, 300, size=(3000, 4)) / 32).astype(np.float32)
    y = np.where(x[:, 0] > 0, 60.0, -60.0) + 10 * x[:, 1]  # sums far beyond ap_fixed<12,5>'s +-16
    reg = xgb.XGBRegressor(n_estimators=7, max_depth=2, learning_rate=0.7, random_state=0, n_jobs=2)
    ens, _ = ensemble_from_booster(reg.fit(x, y).get_booster())
    precision = "ap_fixed<12,5,AP_RND_CONV,AP_SAT>"
    cfg = conifer_config("xilinxhls", precision, tmp_path / "hls", "sat_test", "xcvu9p-flgb2104-2L-e", 5.0)
    conifer.model.make_model(copy.deepcopy(ens), cfg).write()
    hls = HlsCsim(tmp_path / "hls").decision_function(x[:1000])
    ref = decision_function_fixed(ens, x[:1000], precision)
    assert np.array_equal(hls, ref)
    t = FixedType.parse(precision)
    assert np.isin([t.v_min * t.lsb, t.v_max * t.lsb], ref).any()  # saturation was exercised
    wrapped = decision_function_fixed(ens, x[:1000], "ap_fixed<12,5,AP_RND_CONV,AP_WRAP>")
    assert (wrapped != ref).any()
