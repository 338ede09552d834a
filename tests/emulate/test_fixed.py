"""ap_fixed casts against the real ap_types headers (the ones hls4ml ships), compiled with g++.

Every rounding mode x overflow mode, signed and unsigned targets, on values chosen to sit on rounding
ties, just off them, at the range limits and far outside them.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from l1ml.fixed import OVERFLOW, ROUNDING, Bounds, FixedType, cast, from_real

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

SRC = FixedType(16, 6, True)  # source of the fixed-to-fixed casts: ap_fixed<16,6>, 10 fractional bits
TARGETS = [
    FixedType(w, i, s, r, o)
    for (w, i, s), r, o in itertools.product([(8, 3, True), (6, 4, False), (5, 1, True)], ROUNDING, OVERFLOW)
]


def ap_types_dir() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


def cpp_type(t: FixedType) -> str:
    base = "ap_fixed" if t.signed else "ap_ufixed"
    return f"{base}<{t.width},{t.integer},AP_{t.rounding},AP_{t.overflow}>"


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    lsb = 2.0**-SRC.frac
    grid = np.arange(-40, 41) * 2.0**-6  # multiples of target LSBs, and the ties between them
    v = np.concatenate(
        [grid, grid + lsb, grid - lsb, [31.99, -32.0, 17.5, -17.5, 8.0, -8.0, 4.03125, -4.03125]]
    )
    return np.unique(np.round(v / lsb) * lsb)  # representable in the source type


@pytest.fixture(scope="module")
def reference(tmp_path_factory, values) -> dict:
    """{(target index, 'fixed'|'double'): values from C++} for casts from ap_fixed<16,6> and from double."""
    d = tmp_path_factory.mktemp("apfixed")
    lines = ["#include <cstdio>", '#include "ap_fixed.h"', "int main() {", f"  const int n = {len(values)};"]
    lines.append("  double v[] = {" + ", ".join(repr(float(x)) for x in values) + "};")
    lines.append("  for (int k = 0; k < n; k++) {")
    lines.append(f"    {cpp_type(SRC)} s = v[k];")
    for j, t in enumerate(TARGETS):
        lines.append(
            f"    {{ {cpp_type(t)} a = s; {cpp_type(t)} b = v[k] * 3.0; "
            f'printf("%d %.17g %.17g\\n", {j}, a.to_double(), b.to_double()); }}'
        )
    lines += ["  }", "  return 0;", "}"]
    (d / "cast.cpp").write_text("\n".join(lines))
    exe = d / "cast"
    r = subprocess.run(
        ["g++", "-O1", "-std=c++14", f"-I{ap_types_dir()}", "cast.cpp", "-o", str(exe)],
        cwd=d,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = np.loadtxt(r.stdout.splitlines())
    return {j: (out[out[:, 0] == j, 1], out[out[:, 0] == j, 2]) for j in range(len(TARGETS))}


@pytest.mark.parametrize("j", range(len(TARGETS)), ids=[cpp_type(t) for t in TARGETS])
def test_cast_matches_ap_fixed(j, values, reference):
    t = TARGETS[j]
    q_src = from_real(values, SRC)
    q, _ = cast(q_src.copy(), SRC.frac, SRC.bounds, t)
    np.testing.assert_array_equal(q * 2.0**-t.frac, reference[j][0])


@pytest.mark.parametrize("j", range(len(TARGETS)), ids=[cpp_type(t) for t in TARGETS])
def test_from_double_matches_ap_fixed(j, values, reference):
    t = TARGETS[j]
    np.testing.assert_array_equal(from_real(values * 3.0, t) * 2.0**-t.frac, reference[j][1])


@pytest.mark.parametrize("j", range(len(TARGETS)), ids=[cpp_type(t) for t in TARGETS])
def test_relu_folded_cast_matches(j, values, reference):
    """cast(max(x, 0)) via the folded clamp equals the plain cast of the clamped codes."""
    t = TARGETS[j]
    q_src = from_real(values, SRC)
    folded, _ = cast(q_src.copy(), SRC.frac, SRC.bounds, t, lo_clip=0.0)
    plain, _ = cast(np.maximum(q_src, 0.0), SRC.frac, Bounds(0.0, SRC.bounds.hi), t)
    np.testing.assert_array_equal(folded, plain)
