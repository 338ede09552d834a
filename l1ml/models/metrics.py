"""Trigger metrics: ROC AUC, TPR at a fixed background efficiency, and the threshold for an L1 rate.

A trigger fires when score > threshold. The threshold for a false-positive rate f is chosen on the
background sample so that at most floor(f * N) background events lie strictly above it; the rate is
f times the colliding-bunch rate, n_bunches x 11.245 kHz (1 kHz out of 28.6 MHz for 2544 bunches is
f = 3.5e-5). With N background events the smallest
resolvable FPR is 1/N: `background_above` says how many events a figure rests on.
"""

from __future__ import annotations

import numpy as np


def roc_auc(background: np.ndarray, signal: np.ndarray) -> float:
    """Probability that a signal event scores above a background event (ties count half)."""
    return roc_auc_sorted(np.sort(np.asarray(background, dtype=np.float64).ravel()), signal)


def roc_auc_sorted(background_sorted: np.ndarray, signal: np.ndarray) -> float:
    """roc_auc on a background already sorted ascending (float64): callers that score several signals, or
    the same background again, sort it once (explore sorted a million events 8 times a grid point).
    Mann-Whitney U counted per signal event by binary search: the background below it, half the ties; U is a
    sum of half-integers, exact in float64, so the value equals the rank-sum formula's to the last bit."""
    b = background_sorted
    s = np.asarray(signal, dtype=np.float64).ravel()
    below = np.searchsorted(b, s, side="left")
    tied = np.searchsorted(b, s, side="right") - below
    u = (2 * int(below.sum()) + int(tied.sum())) / 2.0
    return float(np.float64(u) / np.float64(len(s) * len(b)))


def threshold_for_fpr(background: np.ndarray, fpr: float) -> float:
    """The smallest threshold with at most floor(fpr * N) background events strictly above it."""
    b = np.sort(np.asarray(background, dtype=np.float64).ravel())[::-1]
    k = int(np.floor(fpr * len(b)))
    return float(b[min(k, len(b) - 1)])


def roc_curve(background, signal, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) on a log-spaced FPR grid down to 1/N, for plotting."""
    b = np.asarray(background, dtype=np.float64).ravel()
    s = np.asarray(signal, dtype=np.float64).ravel()
    fprs = np.unique(np.concatenate([np.logspace(np.log10(1.0 / len(b)), 0, points), [1.0]]))
    bs = np.sort(b)
    ss = np.sort(s)
    out_f, out_t = [], []
    for f in fprs:
        t = threshold_for_fpr(b, f)
        out_f.append((len(bs) - np.searchsorted(bs, t, "right")) / len(bs))
        out_t.append((len(ss) - np.searchsorted(ss, t, "right")) / len(ss))
    return np.array(out_f), np.array(out_t)


def trigger_metrics(
    background, signals: dict, target_fpr: float, reference_fpr: float, collision_rate_hz: float
) -> dict:
    # No default for the rate normalisation: it is the project's colliding-bunch rate, always passed.
    """Everything metrics.json holds. Scores are the deployed model's (what the firmware computes)."""
    b = np.asarray(background, dtype=np.float64).ravel()
    t_ref = threshold_for_fpr(b, reference_fpr)
    t_rate = threshold_for_fpr(b, target_fpr)
    out = {
        "background_events": int(len(b)),
        "reference_fpr": reference_fpr,
        "target_fpr": target_fpr,
        "target_rate_khz": target_fpr * collision_rate_hz / 1e3,
        "threshold_reference": t_ref,
        "threshold": t_rate,
        "background_above_reference": int((b > t_ref).sum()),
        "background_above_threshold": int((b > t_rate).sum()),
        "achieved_rate_khz": float((b > t_rate).mean() * collision_rate_hz / 1e3),
        "signals": {},
    }
    for name, s in signals.items():
        s = np.asarray(s, dtype=np.float64).ravel()
        out["signals"][name] = {
            "events": int(len(s)),
            "auc": roc_auc(b, s),
            "tpr_at_reference_fpr": float((s > t_ref).mean()),
            "tpr_at_target_rate": float((s > t_rate).mean()),
        }
    return out


def roc_xlim(n_background: int, metrics: dict) -> tuple[float, float]:
    """The ROC's FPR range: down to below 1/N and below both markers (FPR 1e-5, the target rate), so
    neither falls off the plot when the test sample is small."""
    low = min(1.0 / max(n_background, 1), metrics["reference_fpr"], metrics["target_fpr"])
    return low / 2, 1.0


def score_bins(values: np.ndarray, threshold: float) -> tuple[np.ndarray, str]:
    """Histogram bins and x scale for scores: log-spaced on a log axis when every score is positive (AE
    scores span decades), else linear (a BDT's margin is signed). The range reaches the threshold."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    hi = max(float(v.max()), float(threshold)) if v.size else 1.0
    pos = v[v > 0]
    if v.size and pos.size == v.size:
        lo = min(float(pos.min()), float(threshold) if threshold > 0 else float(pos.min()))
        return np.geomspace(lo, hi * 1.001, 80), "log"
    lo = min(float(v.min()), float(threshold)) if v.size else 0.0
    return np.linspace(lo, hi, 80), "linear"


def plot_metrics(background, signals: dict, metrics: dict, out_dir, title: str) -> list:
    """roc.png and scores.png; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for name, s in signals.items():
        f, t = roc_curve(background, s)
        auc = metrics["signals"][name]["auc"]
        ax.plot(f, t, label=f"{name} (AUC {auc:.3f})")
    ax.axvline(metrics["reference_fpr"], color="grey", ls=":", label=f"FPR {metrics['reference_fpr']:.0e}")
    ax.axvline(metrics["target_fpr"], color="k", ls="--", label=f"{metrics['target_rate_khz']:.3g} kHz")
    ax.set(xscale="log", xlabel="background efficiency (FPR)", ylabel="signal efficiency (TPR)", title=title)
    ax.set_xlim(*roc_xlim(len(np.ravel(background)), metrics))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    paths.append(out_dir / "roc.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    allv = np.concatenate([np.ravel(background), *[np.ravel(s) for s in signals.values()]])
    bins, xscale = score_bins(allv, metrics["threshold"])
    ax.hist(
        np.ravel(background), bins=bins, histtype="stepfilled", alpha=0.35, density=True, label="background"
    )
    for name, s in signals.items():
        ax.hist(np.ravel(s), bins=bins, histtype="step", density=True, label=name)
    ax.axvline(
        metrics["threshold"],
        color="k",
        ls="--",
        label=f"first look @ {metrics['target_rate_khz']:.3g} kHz (test split; not the deployed threshold)",
    )
    ax.set(yscale="log", xscale=xscale, xlabel="score (deployed model)", ylabel="density", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "scores.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
