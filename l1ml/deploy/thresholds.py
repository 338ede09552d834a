"""Trigger thresholds on the deployed score, as the integer the firmware compares against.

They are the project's one trigger record's (l1ml/models/threshold.py: set on the rate sample by the rate
step, per firmware variant), never recomputed here. The score is an ap_fixed<W,I>: its value is
`bits * 2**-(W-I)`; a trigger fires when `score_bits > threshold_int`, the comparison the firmware and the
library make. Rates are the rate sample's fraction above threshold times the colliding-bunch rate
(`project.colliding_rate_hz`), with the Clopper-Pearson interval beside the sqrt(k) / N error.
"""

from __future__ import annotations

import math

from l1ml.errors import L1mlError
from l1ml.fixed import FixedType


def target_rates(project) -> list[float]:
    """[trigger] rates_khz, or just rate_khz when the list is not given."""
    return list(project.trigger.rates_khz) or [project.trigger.rate_khz]


def thresholds(project, record: dict, score_type: FixedType, force: bool = False) -> dict:
    """The thresholds.json contract for every target rate, from the trigger record. A threshold resting on
    fewer than [trigger] min_events_above rate-sample events is refused unless forced."""
    if record["score_frac"] != score_type.frac:
        raise L1mlError(
            f"the trigger record's score type {record['score_type']} is not the firmware's {score_type.short}; "
            "run `l1ml run --from rate` (or `l1ml rate`) again"
        )
    n = record["rate_sample"]["events"]
    hz = record["colliding_rate_hz"]
    by_rate = {round(e["rate_khz"], 9): e for e in record["thresholds"]}
    out = []
    for rate in target_rates(project):
        e = by_rate.get(round(rate, 9))
        if e is None:
            raise L1mlError(f"no threshold for {rate:g} kHz in the trigger record; run `l1ml run --from rate`")
        if not e["enough"] and not force:
            raise L1mlError(
                f"the {rate:g} kHz threshold rests on {e['events_above']} rate-sample events above it, fewer "
                f"than [trigger] min_events_above = {record['min_events_above']}: give a larger [data] "
                "rate_sample (or deploy with --force)"
            )
        out.append(
            {
                "rate_khz": rate,
                "fpr": e["fpr"],
                "threshold": e["threshold"],
                "threshold_int": e["threshold_int"],
                "events_above": e["events_above"],
                "rate_measured_khz": e["rate_measured_khz"],
                "rate_err_khz": math.sqrt(e["events_above"]) / n * hz / 1e3,
                "rate_low_khz": e["rate_low_khz"],
                "rate_high_khz": e["rate_high_khz"],
                "enough": e["enough"],
                "resolvable": e["fpr"] * n >= 1,
                "signals": {k: {"tpr": s["tpr"], "tpr_low": s["tpr_low"], "tpr_high": s["tpr_high"]}
                            for k, s in e["signals"].items()},  # fmt: skip
            }
        )
    return {
        "score_type": score_type.short,
        "colliding_rate_hz": hz,
        "background_events": n,
        "rate_sample": record["rate_sample"],
        "min_events_above": record["min_events_above"],
        "thresholds": out,
    }


def trigger_record(project, version: str, kind: str | None, fw_man: dict, fw_dir, score, files) -> dict:
    """The version's trigger record; when the rate step has not run, it is made here by the same code
    (l1ml/models/threshold.py) from these firmware-exact scores of the rate sample, and stored, so every
    later reader sees the same numbers."""
    from l1ml.emulate.stream import ScoreCounts
    from l1ml.layout import variant_of
    from l1ml.models import threshold

    rec = threshold.read(project, version)
    if rec is not None and rec.get("variant") == variant_of(fw_dir):
        return rec
    counts = ScoreCounts()
    counts.add(score)
    rec = threshold.build(project, version, variant_of(fw_dir), kind, fw_man, counts, {}, files)
    threshold.write(project, version, rec)
    return rec
