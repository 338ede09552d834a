"""hls4ml's lookup-table activations (sigmoid, tanh), with the tables the C simulation itself builds.

The firmware fills its table at start-up with float arithmetic (``std::exp``/``tanh`` on float, then a
cast to table_t), in nnet_activation.h's init_*_table. numpy's exp is not glibc's expf to the last bit, so
the tables are not recomputed here: a small program calls hls4ml's own init function with the layer's
table_t and table_size, compiled with g++ and the flags hls4ml's build_lib.sh uses, and prints the table.
A table is built once per (function, table_t, table_size) in a process.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from l1ml.fixed import Bounds, FixedType, UnsupportedError, cast, check_exact, from_hls

# function -> (init function, input range divisor, index offset as a fraction of the table): the index
# is trunc(x * table_size / divisor) + offset * table_size, clamped to the table (nnet_activation.h).
LUTS = {"sigmoid": ("init_sigmoid_table", 16, (8, 16)), "tanh": ("init_tanh_table", 8, (4, 8))}


def _templates() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado"


def _std_flag(cxx: str) -> str:
    """build_lib.sh's choice: C++23 when the compiler takes it, else C++11."""
    r = subprocess.run(
        [cxx, "-Werror", "-fsyntax-only", "-std=c++23", "-xc++", "-", "-o", "/dev/null"],
        input="",
        capture_output=True,
        text=True,
        check=False,
    )
    return "-std=c++23" if r.returncode == 0 else "-std=c++11"


@functools.lru_cache(maxsize=64)
def table_codes(function: str, table_t: FixedType, table_size: int) -> np.ndarray:
    """The table as codes of table_t, exactly as the C simulation fills it."""
    cxx = shutil.which("g++")
    if cxx is None:
        raise UnsupportedError(
            f"{function} lookup table: g++ is needed to build hls4ml's table exactly; not found"
        )
    init = LUTS[function][0]
    src = f"""
#include <cstdio>
#include "nnet_utils/nnet_activation.h"
struct cfg {{ typedef {table_t} table_t; static const unsigned table_size = {table_size}; }};
static cfg::table_t table[{table_size}];
int main() {{
    nnet::{init}<cfg, {table_size}>(table);
    for (unsigned i = 0; i < {table_size}; i++) std::printf("%.17g\\n", table[i].to_double());
    return 0;
}}
"""
    t = _templates()
    with tempfile.TemporaryDirectory(prefix="l1ml-lut-") as tmp:
        (Path(tmp) / "lut.cpp").write_text(src)
        cmd = [cxx, "-O3", "-fPIC", _std_flag(cxx), f"-I{t}", f"-I{t / 'nnet_utils'}", f"-I{t / 'ap_types'}"]
        r = subprocess.run(
            [*cmd, "lut.cpp", "-o", "lut"], cwd=tmp, capture_output=True, text=True, check=False
        )
        if r.returncode != 0:
            raise UnsupportedError(
                f"{function} lookup table: g++ failed (exit {r.returncode}): {r.stderr[-800:]}"
            )
        r = subprocess.run([str(Path(tmp) / "lut")], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise UnsupportedError(f"{function} lookup table: the table program failed (exit {r.returncode})")
    values = np.array([float(v) for v in r.stdout.split()], dtype=np.float64)
    if len(values) != table_size:
        raise UnsupportedError(f"{function} lookup table: expected {table_size} values, got {len(values)}")
    return values * 2.0**table_t.frac


def build_lut_activation(layer, x, function: str, res_t: FixedType):
    """(run, output bounds) for a sigmoid/tanh Activation layer reading codes described by Info `x` and
    writing its result_t `res_t`."""
    name = layer.name
    n = int(layer.get_attr("table_size"))
    table_t = from_hls(layer.get_attr("table_t").precision, f"layer '{name}' table_t")
    table = table_codes(function, table_t, n)
    _, divisor, (num, den) = LUTS[function]
    offset = num * n // den  # C unsigned arithmetic: 8 * table_size / 16
    check_exact(Bounds(-x.bounds.maxabs * n, 0), f"layer '{name}' ({function} index)")
    # data * table_size / divisor, truncated towards zero twice (the ap_fixed division, then the int
    # conversion), is trunc of the exact quotient; the divisor is a power of two, so this is exact.
    scale = float(n) * 2.0**-x.frac / divisor
    tb = Bounds(float(table.min()), float(table.max()))

    def run(xq: np.ndarray) -> np.ndarray:
        idx = np.trunc(xq * scale)
        idx += offset
        np.clip(idx, 0, n - 1, out=idx)
        return cast(table[idx.astype(np.intp)], table_t.frac, tb, res_t, inplace=True)[0]

    _, ob = cast(np.zeros(1), table_t.frac, tb, res_t)
    return run, ob
