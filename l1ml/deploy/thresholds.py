"""Trigger thresholds on the deployed score, as the integer the firmware compares against.

The score is an ap_fixed<W,I>: its value is `bits * 2**-(W-I)`. The emulator's scores are exact, so each
score is an integer number of LSBs and the threshold for a rate is too. A trigger fires when
score > threshold (l1ml/models/metrics.py): in bits, `score_bits > threshold_int`, the comparison the
firmware makes. Rates are the background fraction above threshold times the colliding-bunch rate
(`project.colliding_rate_hz`), with the Poisson uncertainty of the count: sqrt(k) / N of that rate.
"""

from __future__ import annotations

import math

import numpy as np

from l1ml.fixed import FixedType
from l1ml.errors import L1mlError


def target_rates(project) -> list[float]:
    """[trigger] rates_khz, or just rate_khz when the list is not given."""
    return list(project.trigger.rates_khz) or [project.trigger.rate_khz]


def thresholds(project, score_bits: np.ndarray, score_type: FixedType) -> dict:
    """The thresholds.json contract for every target rate, from the background scores' bits."""
    b = np.asarray(score_bits, np.int64).ravel()
    n = len(b)
    if n == 0:
        raise L1mlError("no background events to set thresholds on")
    hz = project.colliding_rate_hz
    desc = np.sort(b)[::-1]
    out = []
    for rate in target_rates(project):
        fpr = rate * 1e3 / hz
        # metrics.threshold_for_fpr's rule (at most floor(fpr * N) events strictly above), on the bits
        # themselves: integers, so no float rounding can move the cut.
        t_int = int(desc[min(int(math.floor(fpr * n)), n - 1)])
        above = int((b > t_int).sum())
        out.append(
            {
                "rate_khz": rate,
                "fpr": fpr,
                "threshold": t_int * 2.0**-score_type.frac,
                "threshold_int": t_int,
                "events_above": above,
                "rate_measured_khz": above / n * hz / 1e3,
                "rate_err_khz": math.sqrt(above) / n * hz / 1e3,
                "resolvable": fpr * n >= 1,
            }
        )
    return {
        "score_type": score_type.short,
        "colliding_rate_hz": hz,
        "background_events": n,
        "thresholds": out,
    }
