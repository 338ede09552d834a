"""The report's figures, drawn with matplotlib from the firmware-exact scores of the rate step; each is
returned as PNG bytes, which the page embeds."""

from __future__ import annotations

import io

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    _plt().close(fig)
    return buf.getvalue()


def roc(scores: dict, target_fpr: float, ref_fpr: float, label: str, other: dict | None = None, other_label: str = "",
        marks: dict | None = None, other_marks: dict | None = None) -> bytes:  # fmt: skip
    """One panel per signal: TPR against FPR, log x, with markers at FPR `ref_fpr` and at the target rate's
    FPR. `marks` ({signal: [(fpr, tpr, tpr_low, tpr_high, label)]}, from the trigger record): the
    markers at the deployed thresholds, with their intervals; without them, the threshold the background
    sample gives, drawn only where the sample resolves that FPR (fpr x N >= 1). `other`: the --against
    version."""
    from l1ml.models.metrics import roc_curve, threshold_for_fpr

    plt = _plt()
    sigs = [k for k in scores if k != "background"]
    cols = 2
    rows = max(1, (len(sigs) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 3.6 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), sigs, strict=False):
        for sc, lab, ls, mk in ((scores, label, "-", marks), (other, other_label, "--", other_marks)):
            if not sc or name not in sc:
                continue
            b, s = sc["background"], sc[name]
            f, t = roc_curve(b, s, points=200)
            ax.plot(f, t, ls=ls, label=lab)
            if mk is not None:
                for fpr, tpr, lo, hi, what in mk.get(name, []):
                    ax.errorbar([fpr], [tpr], yerr=[[tpr - lo], [hi - tpr]], fmt="s", ms=7, capsize=3,
                                mfc="none" if ls == "--" else None,
                                label=f"{what}: TPR {tpr:.3f} [{lo:.3f}, {hi:.3f}]")  # fmt: skip
                continue
            for fpr, marker, what in ((ref_fpr, "o", f"FPR {ref_fpr:.0e}"), (target_fpr, "s", "target rate")):
                if fpr * len(b) < 1:
                    continue  # the sample cannot resolve this FPR: no marker rather than a wrong one
                thr = threshold_for_fpr(b, fpr)
                tpr = float((s > thr).mean())
                ax.plot([fpr], [tpr], marker, ms=7, mfc="none" if ls == "--" else None,
                        label=f"{what}: TPR {tpr:.3f}")  # fmt: skip
        ax.set(
            xscale="log", title=name, xlabel="background efficiency (FPR)", ylabel="signal efficiency (TPR)"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.ravel()[len(sigs) :]:
        ax.axis("off")
    return _png(fig)


def score_range(scores: dict, threshold: float | None) -> tuple[np.ndarray, bool]:
    """Bin edges over the pooled scores' 0.01%..99.99% quantiles (the threshold always inside), and
    whether the x axis is logarithmic: when the positive scores span more than two decades, as an
    autoencoder's reconstruction error does, a linear axis puts every weak signal in the first bin."""
    allv = np.concatenate([np.ravel(v) for v in scores.values()]).astype(np.float64)
    lo, hi = np.quantile(allv, [1e-4, 1 - 1e-4])
    if threshold is not None:
        lo, hi = min(lo, threshold), max(hi, threshold)
    vals = np.unique(allv)
    if len(vals) <= 90:  # a small BDT's few discrete scores: one bin each, none empty between them
        mid = (vals[1:] + vals[:-1]) / 2
        step = (vals[-1] - vals[0]) / max(len(vals) - 1, 1) or 1.0
        return np.concatenate([[vals[0] - step / 2], mid, [vals[-1] + step / 2]]), False
    pos = allv[allv > 0]
    log = len(pos) > 0 and lo >= 0 and np.quantile(pos, 1 - 1e-4) > 100 * np.quantile(pos, 1e-4)
    if log:
        lo = np.quantile(pos, 1e-4)
        if threshold is not None and threshold > 0:
            lo = min(lo, threshold)
        return np.geomspace(lo, max(hi, lo * 10), 90), True
    if hi <= lo:
        hi = lo + 1
    return np.linspace(lo, hi, 90), False


def score_distributions(scores: dict, threshold: float | None, title: str, other: dict | None = None,
                        other_threshold: float | None = None, other_title: str = "") -> bytes:  # fmt: skip
    """Background filled, each signal a line, each normalised to its own events (a fraction per bin, so
    a signal of 1,000 events shows beside a background of millions), log y; the deployed threshold as a
    vertical line. Events outside the range are counted in the edge bins, so nothing is dropped.
    `other` (the --against version): its own panel below (its scores have their own scale), dashed."""
    plt = _plt()
    n = 2 if other else 1
    fig, axes = plt.subplots(n, 1, figsize=(9, 4.6 * n), squeeze=False)
    _score_panel(axes[0][0], scores, threshold, title, "-")
    if other:
        _score_panel(axes[1][0], other, other_threshold, other_title, "--")
    return _png(fig)


def _score_panel(ax, scores: dict, threshold: float | None, title: str, ls: str) -> None:
    bins, logx = score_range(scores, threshold)
    floor = np.inf
    for name, s in scores.items():
        s = np.clip(np.ravel(s), bins[0], bins[-1])
        w = np.full(len(s), 1.0 / max(len(s), 1))
        floor = min(floor, w[0] if len(w) else np.inf)
        if name == "background":
            ax.hist(
                s,
                bins=bins,
                weights=w,
                histtype="stepfilled",
                alpha=0.35,
                color="grey",
                label=f"background ({len(s):,})",
            )
        else:
            ax.hist(s, bins=bins, weights=w, histtype="step", lw=1.6, ls=ls, label=f"{name} ({len(s):,})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", label=f"deployed threshold {threshold:.5g}")
    ax.set(yscale="log", xscale="log" if logx else "linear", xlabel="firmware score" + (" (log)" if logx else ""),
           ylabel="fraction of events per bin", title=title)  # fmt: skip
    if np.isfinite(floor):
        ax.set_ylim(bottom=floor / 2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")


def turn_ons(curves: dict, label: str, other: dict | None = None, other_label: str = "",
             baseline: dict | None = None, baseline_label: str = "") -> bytes:  # fmt: skip
    """One row per signal, one column per observable: efficiency at the deployed threshold against it,
    with Clopper-Pearson error bars; `other` (the --against version) dashed with open markers, `baseline`
    (the cut at the same rate) grey and dotted.
    curves: {signal: {observable: [{low_gev, high_gev, tpr, tpr_low, tpr_high}]}} (review.json)."""
    plt = _plt()
    sigs = list(curves)
    obs = list(next(iter(curves.values()))) if sigs else []
    fig, axes = plt.subplots(
        max(1, len(sigs)), max(1, len(obs)), figsize=(11, 2.9 * max(1, len(sigs))), squeeze=False
    )
    for r, sig in enumerate(sigs):
        for c, o in enumerate(obs):
            ax = axes[r][c]
            right = 0.0
            for cur, lab, ls, mfc in ((curves, label, "-", None), (other, other_label, "--", "none"),
                                      (baseline, baseline_label, ":", "none")):  # fmt: skip
                pts = ((cur or {}).get(sig) or {}).get(o) or []
                if not pts:
                    continue
                x = np.array([p.get("median_gev", (p["low_gev"] + p["high_gev"]) / 2) for p in pts])
                xerr = [x - np.array([p["low_gev"] for p in pts]), np.array([p["high_gev"] for p in pts]) - x]
                # the open top bin reaches the highest event: show up to a little past its median
                right = max(right, x[-1] * 1.25, pts[-2]["high_gev"] if len(pts) > 1 else 0.0)
                y = np.array([p["tpr"] for p in pts])
                yerr = [y - np.array([p["tpr_low"] for p in pts]), np.array([p["tpr_high"] for p in pts]) - y]
                grey = {"color": "grey"} if cur is baseline else {}
                ax.errorbar(
                    x,
                    y,
                    xerr=xerr,
                    yerr=yerr,
                    fmt="o",
                    ls=ls,
                    ms=3.5,
                    mfc=mfc,
                    capsize=2,
                    lw=1,
                    label=lab,
                    **grey,
                )
            if right > 0:
                ax.set_xlim(0, right)
            ax.set(
                ylim=(-0.02, 1.05),
                xlabel=f"{o} (GeV)",
                title=f"{sig}",
                ylabel="efficiency" if c == 0 else None,
            )
            ax.grid(alpha=0.3)
            if r == 0 and c == 0:
                ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


def rate_curve(background, colliding_rate_hz: float, threshold, target_khz: float, deploy: list | None,
               other=None, other_label: str = "", label: str = "") -> bytes:  # fmt: skip
    """L1 rate (kHz) against threshold: the fraction of background events above it times the
    colliding-bunch rate, with the target and any deployed thresholds marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for b, lab, ls in ((background, label, "-"), (other, other_label, "--")):
        if b is None:
            continue
        s = np.sort(np.asarray(b, dtype=np.float64))
        n = len(s)
        above = n - np.arange(1, n + 1)  # events strictly above each sorted value (ties aside)
        keep = above > 0
        ax.step(s[keep], above[keep] / n * colliding_rate_hz / 1e3, where="post", ls=ls, label=lab)
    ax.axhline(target_khz, color="grey", ls=":", label=f"target {target_khz:g} kHz")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", label=f"threshold {threshold:.5g}")
    for t in deploy or []:
        ax.plot(
            [t["threshold"]], [t["rate_measured_khz"]], "v", ms=8, label=f"deployed @ {t['rate_khz']:g} kHz"
        )
    ax.set(yscale="log", xlabel="threshold (firmware score)", ylabel="L1 rate (kHz)",
           title=f"rate vs threshold ({colliding_rate_hz / 1e6:.1f} MHz colliding-bunch rate)")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
