"""BDT emulation benchmark: the numpy fixed-point emulator against conifer's HLS C simulation.

One run, one model (the bdt example's 20 trees of depth 4 on 57 dyadic inputs), the same events for both:
prints both throughputs, their ratio, and whether the two agree bit for bit. Then the numpy emulator alone
on 10^6 events. The HLS library is compiled once and cached ($L1ML_CACHE_DIR or ~/.cache/l1ml).

Run: .venv/bin/python benchmarks/emulation_bdt.py [--events 20000] [--large 1000000]
"""

from __future__ import annotations

import os
import sys

# benchmarks/queue.py, next to this file, would shadow the standard library's queue module.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != _here]

import argparse  # noqa: E402
import copy  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def dyadic(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(-(2**17), 2**17, size=(n, 57)) / 2**10).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000, help="events for the head-to-head")
    ap.add_argument("--large", type=int, default=1_000_000, help="events for the numpy emulator alone")
    ap.add_argument("--trees", type=int, default=20)
    ap.add_argument("--depth", type=int, default=4)
    args = ap.parse_args()

    import conifer
    import xgboost as xgb

    from l1ml.emulate.bdt_fixed import decision_function_fixed
    from l1ml.emulate.conifer_sim import HlsCsim
    from l1ml.firmware.conifer import conifer_config, ensemble_from_booster

    x_train = dyadic(5000, 1)
    y_train = (x_train[:, 0] + x_train[:, 3] * x_train[:, 5] / 50 > 0.3).astype(int)
    clf = xgb.XGBClassifier(n_estimators=args.trees, max_depth=args.depth, tree_method="hist", random_state=0)
    ens, _ = ensemble_from_booster(clf.fit(x_train, y_train).get_booster())
    precision = "ap_fixed<18,8>"
    x = dyadic(args.events, 2)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = conifer_config("xilinxhls", precision, Path(tmp) / "hls", "bench", "xcvu9p-flgb2104-2L-e", 5.0)
        model = conifer.model.make_model(copy.deepcopy(ens), cfg)
        model._stamp = 0  # fixed module name: identical sources hit the compile cache on every run
        model.write()
        t = time.perf_counter()
        csim = HlsCsim(Path(tmp) / "hls")
        build = time.perf_counter() - t
        t = time.perf_counter()
        y_csim = csim.decision_function(x)
        t_csim = time.perf_counter() - t

    decision_function_fixed(ens, x[:100], precision)  # warm-up: first-call imports
    t = time.perf_counter()
    y_np = decision_function_fixed(ens, x, precision)
    t_np = time.perf_counter() - t

    big = dyadic(args.large, 3)
    t = time.perf_counter()
    decision_function_fixed(ens, big, precision)
    t_big = time.perf_counter() - t

    r_csim, r_np, r_big = args.events / t_csim, args.events / t_np, args.large / t_big
    print(f"model: {args.trees} trees, depth {args.depth}, 57 inputs, {precision}")
    print(f"HLS C simulation build (or cache hit): {build:.1f} s")
    print(f"HLS C simulation : {r_csim:12,.0f} events/s on {args.events:,} events")
    print(f"numpy emulator   : {r_np:12,.0f} events/s on the same events")
    print(f"ratio            : {r_np / r_csim:12.1f} x")
    print(
        f"bit-identical    : {np.array_equal(y_np, y_csim)} ({int((y_np != y_csim).sum())} differing events)"
    )
    print(f"numpy emulator   : {r_big:12,.0f} events/s on {args.large:,} events ({t_big:.2f} s)")
    print(f"ratio (large)    : {r_big / r_csim:12.1f} x")


if __name__ == "__main__":
    main()
