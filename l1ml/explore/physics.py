"""What a firmware variant costs in physics: its scores against the software model's, on the same events.

Every figure is computed at the project's target rate, as a fraction of the colliding-bunch rate
(`project.colliding_rate_hz`, never 40 MHz), with the threshold set on each model's own background
scores: the variant's trigger is re-tuned to the same rate, as it would be when deployed. The rate and
every TPR carry the trigger record's 68.27% Clopper-Pearson interval (models/threshold.py).
"""

from __future__ import annotations

import numpy as np

from l1ml.models.metrics import roc_auc_sorted, threshold_for_fpr
from l1ml.models.threshold import binomial_interval


def physics(project, sw: dict[str, np.ndarray], fw: dict[str, np.ndarray], score_lsb: float) -> dict:
    """`sw`, `fw`: {sample: scores (N,)}, background first. Returns the explore row's physics fields."""
    fpr = project.trigger_fpr
    ref = project.trigger.reference_fpr
    hz = project.colliding_rate_hz
    bs, bf = sw["background"], fw["background"]
    n = len(bf)
    t_sw, t_fw = threshold_for_fpr(bs, fpr), threshold_for_fpr(bf, fpr)
    r_sw, r_fw = threshold_for_fpr(bs, ref), threshold_for_fpr(bf, ref)
    above = int((bf > t_fw).sum())
    lo, hi = binomial_interval(above, n)
    out = {
        "target_rate_khz": project.trigger.rate_khz,
        "target_fpr": fpr,
        "reference_fpr": ref,
        "colliding_rate_hz": hz,
        "background_events": n,
        "events": {k: int(len(v)) for k, v in fw.items()},
        "threshold": t_fw,
        "threshold_lsb": t_fw / score_lsb if score_lsb else None,
        "threshold_software": t_sw,
        "background_above": above,
        "rate_khz": above / n * hz / 1e3,
        "rate_err_khz": float(np.sqrt(max(above, 1))) / n * hz / 1e3,
        "rate_low_khz": lo * hz / 1e3,
        "rate_high_khz": hi * hz / 1e3,
        "signals": {},
        "flips": {},
    }
    bs_sorted, bf_sorted = np.sort(bs.astype(np.float64)), np.sort(bf.astype(np.float64))  # once for every signal's AUC
    flipped = total = 0
    for name in sw:
        d_sw = sw[name] > t_sw
        d_fw = fw[name] > t_fw
        k = int((d_sw != d_fw).sum())
        out["flips"][name] = {"events": int(len(d_sw)), "flipped": k, "fraction": k / max(len(d_sw), 1)}
        flipped += k
        total += len(d_sw)
        if name == "background":
            continue
        s_sw, s_fw = sw[name], fw[name]
        passed = int((s_fw > t_fw).sum())
        t_lo, t_hi = binomial_interval(passed, len(s_fw))
        row = {
            "events": int(len(s_fw)),
            "tpr": passed / max(len(s_fw), 1),
            "tpr_low": t_lo,
            "tpr_high": t_hi,
            "tpr_software": float((s_sw > t_sw).mean()),
            "auc": roc_auc_sorted(bf_sorted, s_fw),
            "auc_software": roc_auc_sorted(bs_sorted, s_sw),
            "tpr_ref": float((s_fw > r_fw).mean()),
            "tpr_ref_software": float((s_sw > r_sw).mean()),
        }
        for key in ("tpr", "auc", "tpr_ref"):
            row[f"{key}_change"] = row[key] - row[f"{key}_software"]
        out["signals"][name] = row
    out["flipped_fraction"] = flipped / max(total, 1)
    sig = list(out["signals"].values())
    out["mean_tpr"] = float(np.mean([r["tpr"] for r in sig])) if sig else None
    out["mean_tpr_change"] = float(np.mean([r["tpr_change"] for r in sig])) if sig else None
    return out
