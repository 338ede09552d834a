"""Review records (l1ml/models/review.py) for report tests, built by l1ml's own code from made-up events in
hardware units: pTs scale with the signal's score, so the turn-ons rise and the cuts select something."""

from __future__ import annotations

import numpy as np


def events(rng, n: int, scale) -> np.ndarray:
    """(n, 57) hardware units: exponential pTs (in 0.5 GeV LSBs) of mean `scale` (a number or one per
    event), etas within the barrel and endcaps, a third of the slots empty."""
    hw = np.zeros((n, 19, 3), dtype=np.int32)
    sc = np.broadcast_to(np.asarray(scale, dtype=np.float64).reshape(-1, 1), (n, 19))
    pt = np.minimum(rng.exponential(sc), 4095).astype(np.int32)
    pt[rng.random((n, 19)) < 1 / 3] = 0
    hw[..., 0] = pt
    hw[..., 1] = np.where(pt > 0, rng.integers(-80, 80, (n, 19)), 0)
    return hw.reshape(n, 57)


def write_review(proj, version: str, seed: int, n_rate: int = 100_000) -> dict:
    from l1ml import layout, manifest
    from l1ml.models.review import CutCounts, build
    from l1ml.models.threshold import read, target

    rng = np.random.default_rng(seed)
    counts = CutCounts()
    counts.add(events(rng, n_rate, 40.0))
    entry = target(read(proj, version))
    with np.load(layout.scores_file(proj, version)) as z:
        sigs = {k: z[k] for k in z.files if k != "background"}
    signals = {k: (events(rng, len(s), 30.0 + 8.0 * s), s) for k, s in sigs.items()}
    rec = build(counts, signals, entry["fpr"] * 30, proj.colliding_rate_hz, entry)
    manifest.write_json(layout.review_file(proj, version), rec)
    return rec
