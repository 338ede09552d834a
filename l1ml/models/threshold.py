"""The project's one threshold per target rate, per firmware variant: set on the rate sample, stored once.

The rate sample is background that no training, early stopping or model selection has seen ([data]
rate_sample: ZeroBias files, or the synthetic rate_sample.h5). Its firmware-exact scores (the emulator's,
streamed into exact counts) set, for each target rate, the threshold in the firmware's integer units
(score_bits > threshold_int fires, the comparison the firmware and the deployed library make) and the
same number as a real (threshold_int * 2**-frac, exact in float64, so a float comparison on exact scores
counts the same events). With it: the events above, the rate and its Clopper-Pearson interval, and every
signal's TPR at that threshold with its interval. A threshold resting on fewer than [trigger]
min_events_above background events is marked not `enough`: deploy and promotion refuse it, the rest show
the count.

train's metrics, `l1ml rate`, the report, `deploy`, `explore`'s baseline row and the gate read this record
(layout.trigger_file); none computes its own threshold.
"""

from __future__ import annotations

import math

import numpy as np

from l1ml.errors import L1mlError
from l1ml.fixed import FixedType

CONFIDENCE = 0.6827  # the intervals are central 68.27% (one sigma) Clopper-Pearson intervals


def binomial_interval(k: int, n: int, cl: float = CONFIDENCE) -> tuple[float, float]:
    """Clopper-Pearson central interval on a fraction with k of n events passing (exact, never empty)."""
    from scipy.stats import beta

    if n <= 0:
        return 0.0, 1.0
    a = (1 - cl) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def score_type(kind: str | None, fw_man: dict) -> FixedType:
    """The firmware's score type: conifer's one precision for a BDT, the last hls4ml output otherwise."""
    if kind == "bdt":
        return FixedType.parse(fw_man["precision"])
    outs = fw_man.get("outputs") or []
    if not outs:
        raise L1mlError("the firmware manifest names no outputs; run `l1ml convert` again")
    return FixedType.parse(outs[-1]["precision"], integers=True)


def to_int(value: float, frac: int) -> int:
    """An exact emulator score as the firmware's integer (an error if it is not on the LSB grid)."""
    x = value * 2.0**frac
    i = int(round(x))
    if abs(x - i) > 1e-6:
        raise L1mlError(f"score {value!r} is not a multiple of 2**-{frac}: not a firmware-exact score")
    return i


def signal_efficiencies(signals: dict, threshold: float) -> dict:
    out = {}
    for name, s in signals.items():
        s = np.asarray(s, dtype=np.float64).ravel()
        k, n = int((s > threshold).sum()), len(s)
        lo, hi = binomial_interval(k, n)
        out[name] = {"events": n, "passed": k, "tpr": k / n if n else 0.0, "tpr_low": lo, "tpr_high": hi}
    return out


def entry(counts, fpr: float, frac: int, hz: float, signals: dict, min_above: int) -> dict:
    """One threshold: the rule of metrics.threshold_for_fpr (at most floor(fpr * N) events strictly above)
    on the rate sample's exact counts, in integer and real form, with its rate and TPRs."""
    n = counts.events
    t_int = to_int(counts.threshold_for(fpr), frac)
    t = t_int * 2.0**-frac
    k = counts.above(t)
    lo, hi = binomial_interval(k, n)
    khz = hz / 1e3
    return {
        "fpr": fpr,
        "rate_khz": fpr * khz,
        "threshold_int": t_int,
        "threshold": t,
        "events_above": k,
        "fraction": k / n,
        "rate_measured_khz": k / n * khz,
        "rate_low_khz": lo * khz,
        "rate_high_khz": hi * khz,
        "enough": k >= min_above,
        "signals": signal_efficiencies(signals, t),
    }


def held_out(project, version: str, kind, signals: dict, prefix: bool = False) -> tuple[dict, str]:
    """The signal events no training saw, from each signal file's scores (in file order), and a line
    saying which. Networks (autoencoders) never train on signal. A BDT trained on a seeded half of the
    first events of each file (l1ml/models/train.py signal_halves, recorded in its manifest as
    signal_training): that half is removed, so its TPRs are not inflated by its own training events.
    `prefix`: the arrays hold only the first events of each file (validate's samples), not all of it."""
    if kind != "bdt" or not signals:
        return signals, "all signal events (the model never trained on signal)"
    from l1ml.models.train import signal_halves
    from l1ml.project import read_json

    man = read_json(project.models_dir / version / "manifest.json")
    split = man.get("signal_training")
    if split is None:
        if man.get("source") != "train":
            return signals, "all signal events (an imported BDT: its training events are unknown)"
        # trained before the split was recorded: the project's settings of then are assumed unchanged
        n_max = project.data.max_events
        split = {"events_read": {k: min(len(v), n_max) if n_max else len(v) for k, v in signals.items()},
                 "data_seed": project.data.seed, "format": getattr(project.data, "format", "hdf5")}  # fmt: skip
    if split.get("format", "hdf5") == "l1ntuple":
        return signals, "all signal events, training ones included (L1-ntuple samples are drawn at random)"
    out = {}
    for name, s in signals.items():
        s = np.asarray(s)  # scores (N,) or events (N, ...): one row per event, in file order
        n = split["events_read"].get(name)
        if n is None:
            out[name] = s  # a signal added after training: none of it was trained on
            continue
        if n > len(s) and not prefix:
            raise L1mlError(
                f"signal {name}: {len(s)} scored events, but {version} trained on the first {n} of its file; "
                "the file changed since training: retrain, or name the file it was trained on"
            )
        keep = np.ones(len(s), bool)
        trained = signal_halves(n, split["data_seed"])[0]
        keep[trained[trained < len(s)]] = False
        out[name] = s[keep]
    return out, "held-out signal events (the BDT's training half removed)"


def build(project, version: str, variant, kind, fw_man: dict, counts, signals: dict, files) -> dict:
    """The trigger record of a firmware variant: every [trigger] rate (rates_khz, else rate_khz), and the
    reference FPR (the ROC's 1e-5 point) when the sample resolves it. Signal TPRs use held_out events."""
    signals, which = held_out(project, version, kind, signals)
    st = score_type(kind, fw_man)
    hz = project.colliding_rate_hz
    t = project.trigger
    rates = list(t.rates_khz) or [t.rate_khz]
    if t.rate_khz not in rates:
        rates.append(t.rate_khz)
    out = [entry(counts, r * 1e3 / hz, st.frac, hz, signals, t.min_events_above) for r in rates]
    for e, r in zip(out, rates, strict=True):
        e["rate_khz"] = r  # the asked figure, not its float round trip
    ref = None
    if t.reference_fpr * counts.events >= 1:
        ref = entry(counts, t.reference_fpr, st.frac, hz, signals, t.min_events_above)
    return {
        "version": version,
        "variant": variant,
        "score_type": st.short,
        "score_frac": st.frac,
        "colliding_rate_hz": hz,
        "min_events_above": t.min_events_above,
        "confidence": CONFIDENCE,
        "rate_sample": {"files": [str(f) for f in files], "events": counts.events},
        "signal_events": which,
        "target_rate_khz": t.rate_khz,
        "thresholds": out,
        "reference": ref,
    }


def target(record: dict, rate_khz: float | None = None) -> dict:
    """The record's entry for `rate_khz` (default: the project's target rate when it was set)."""
    want = record["target_rate_khz"] if rate_khz is None else rate_khz
    for e in record["thresholds"]:
        if math.isclose(e["rate_khz"], want, rel_tol=1e-9):
            return e
    raise L1mlError(f"no threshold for {want:g} kHz in the trigger record; run `l1ml run --from rate`")


def read(project, version: str) -> dict | None:
    """The trigger record of the version's active firmware variant, None when the rate step has not run."""
    import json

    from l1ml.layout import trigger_file

    try:
        return json.loads(trigger_file(project, version).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise L1mlError(f"{trigger_file(project, version)}: unreadable trigger record ({exc})") from None


def write(project, version: str, record: dict) -> None:
    from l1ml import manifest
    from l1ml.layout import trigger_file

    manifest.write_json(trigger_file(project, version), record)


def short(e: dict) -> str:
    """One line of a threshold: its integer and real form, rate with interval, events above."""
    flag = "" if e["enough"] else " (too few events)"
    return (
        f"threshold {e['threshold_int']} ({e['threshold']:.6g}): {e['rate_measured_khz']:.3g} kHz "
        f"[{e['rate_low_khz']:.3g}, {e['rate_high_khz']:.3g}] from {e['events_above']} events above{flag}"
    )


def tpr_line(e: dict) -> str:
    """Every signal's TPR at a threshold with its interval, on one line."""
    return ", ".join(
        f"{k} {s['tpr']:.4f} [{s['tpr_low']:.4f}, {s['tpr_high']:.4f}]" for k, s in e["signals"].items()
    )


def deployed_value(project, version: str, man: dict) -> float | None:
    """The threshold the firmware is deployed with: the record's for the target rate once the rate step
    has run, else the one training chose (the model manifest's)."""
    rec = read(project, version)
    if rec is None:
        return man.get("threshold")
    try:
        return target(rec, project.trigger.rate_khz)["threshold"]
    except L1mlError:
        return man.get("threshold")
