"""The numbers a trigger review reads beside the threshold record: a cut-based baseline at the same rate,
what the model adds over it per signal, and turn-on curves. Plain numpy over events in hardware units
((n, 57) int32, l1ml.data.units) and the firmware-exact scores; the rate step calls it and writes the
result to layout.review_file, which the report reads.

Observables, in GeV, from the ADC2021 rows (0 MET, 1-4 e/gamma, 5-8 muons, 9-18 jets):
  HT: scalar sum of the jets above HT_JET_MIN_GEV within |eta| < HT_ETA_MAX (the L1 HTT sum's convention);
  MET: row 0's pT;  leading e/gamma, muon, jet pT: the largest pT of the rows of that kind;
  leading object pT (turn-ons only): the largest pT of any e/gamma, muon or jet.

The baseline: for each single-object cut (HT, MET, leading e/gamma, muon or jet pT) the threshold on the
rate sample's exact counts by the trigger record's rule (at most floor(fpr x N) events strictly above),
so every cut fires at no more than the model's target rate; "the baseline" is the cut with the highest
mean TPR over the signals. The model's gain per signal is its TPR minus the baseline's on the same events,
with the paired (McNemar) error: both decisions are made on each signal event, so only events where they
disagree carry the difference's uncertainty.
"""

from __future__ import annotations

import math

import numpy as np

from l1ml.data import units
from l1ml.errors import L1mlError
from l1ml.models.threshold import binomial_interval

HT_JET_MIN_GEV = 30.0
HT_ETA_MAX = 2.4
CUTS = ("HT", "MET", "leading e/gamma pT", "leading muon pT", "leading jet pT")
TURN_ON = ("leading object pT", "HT", "MET")
TURN_ON_BINS = 14  # per signal and observable, at its own quantiles: populated bins whatever the spectrum

_ROWS = {"e/gamma": slice(1, 5), "muon": slice(5, 9), "jet": slice(9, 19)}


def observables(hw: np.ndarray) -> dict[str, np.ndarray]:
    """(n, 57) hardware units -> {observable: (n,) int64 in pT LSBs (0.5 GeV)}: exact integers, so the
    rate sample's counts are exact."""
    h = np.asarray(hw).reshape(len(hw), units.N_OBJECTS, units.N_FEATURES)
    pt = h[..., 0].astype(np.int64)
    eta = h[..., 1]
    jets = pt[:, _ROWS["jet"]]
    in_ht = (jets * units.PT_LSB > HT_JET_MIN_GEV) & (
        np.abs(eta[:, _ROWS["jet"]]) * units.ETA_LSB < HT_ETA_MAX
    )
    out = {
        "HT": np.where(in_ht, jets, 0).sum(axis=1),
        "MET": pt[:, 0],
        "leading e/gamma pT": pt[:, _ROWS["e/gamma"]].max(axis=1),
        "leading muon pT": pt[:, _ROWS["muon"]].max(axis=1),
        "leading jet pT": jets.max(axis=1),
    }
    out["leading object pT"] = pt[:, 1:].max(axis=1)
    return out


def stream_observables(chunks) -> dict[str, np.ndarray]:
    """observables() over a stream of (n, 57) chunks, concatenated: 48 bytes an event, not the events."""
    parts = [observables(hw) for hw in chunks]
    if not parts:
        return {k: np.zeros(0, dtype=np.int64) for k in (*CUTS, "leading object pT")}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class CutCounts:
    """Exact histograms of the cut observables over a stream of background chunks (flat memory)."""

    def __init__(self):
        self.events = 0
        self.hist = {k: np.zeros(1, dtype=np.int64) for k in CUTS}

    def add(self, hw: np.ndarray) -> None:
        obs = observables(hw)
        self.events += len(hw)
        for k in CUTS:
            b = np.bincount(obs[k])
            if len(b) > len(self.hist[k]):
                b[: len(self.hist[k])] += self.hist[k]
                self.hist[k] = b
            else:
                self.hist[k][: len(b)] += b

    def threshold(self, name: str, fpr: float) -> tuple[int, int]:
        """(t, events strictly above t) with t the lowest value leaving at most floor(fpr x N) above."""
        h = self.hist[name]
        above = self.events - np.cumsum(h)  # above[t]: events with a value > t
        allowed = math.floor(fpr * self.events)
        t = int(np.argmax(above <= allowed))  # above is non-increasing and ends at 0
        return t, int(above[t])


def _rate(k: int, n: int, khz: float) -> dict:
    lo, hi = binomial_interval(k, n)
    return {"events_above": k, "rate_khz": k / n * khz, "rate_low_khz": lo * khz, "rate_high_khz": hi * khz}


def _eff(k: int, n: int) -> dict:
    lo, hi = binomial_interval(k, n)
    return {"events": n, "passed": k, "tpr": k / n if n else 0.0, "tpr_low": lo, "tpr_high": hi}


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of a minus mean of b over the same events (boolean decisions), with its standard error from
    the discordant events (the variance of the per-event difference)."""
    n = len(a)
    if n == 0:
        return 0.0, 0.0
    d = a.astype(np.int8) - b.astype(np.int8)
    mean = float(d.mean())
    return mean, float(math.sqrt(max(float((d.astype(np.float64) ** 2).mean()) - mean**2, 0.0) / n))


def turn_on(x: np.ndarray, passed: np.ndarray, bins: int = TURN_ON_BINS) -> list[dict]:
    """Efficiency against an observable (pT LSBs in, GeV out), in bins at the observable's quantiles
    (rounded to whole GeV, the top bin open to the highest event), each with its events' median (where a
    plot puts the point: the open top bin's middle can lie far beyond its events) and its Clopper-Pearson
    interval."""
    x = np.asarray(x) * units.PT_LSB
    if len(x) == 0:
        return []
    edges = np.unique(np.floor(np.quantile(x, np.linspace(0, 1, bins + 1))))
    edges[-1] = max(edges[-1], float(x.max())) + units.PT_LSB
    if len(edges) < 2:
        edges = np.array([float(x.min()), float(x.max()) + units.PT_LSB])
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    n = np.bincount(idx, minlength=len(edges) - 1)
    k = np.bincount(idx, weights=passed.astype(np.float64), minlength=len(edges) - 1).astype(np.int64)
    med = [float(np.median(x[idx == i])) if n[i] else 0.0 for i in range(len(n))]
    return [
        {
            "low_gev": float(edges[i]),
            "high_gev": float(edges[i + 1]),
            "median_gev": med[i],
            **_eff(int(k[i]), int(n[i])),
        }
        for i in range(len(n))
        if n[i] > 0
    ]


def build(counts: CutCounts, signals: dict, fpr: float, colliding_rate_hz: float, model: dict) -> dict:
    """The review record. signals: {name: (observables (stream_observables) or hw (n, 57), scores (n,))},
    the same events in the same order; model: the trigger record's target entry (its `threshold` decides
    which events the model keeps)."""
    if counts.events == 0:
        raise L1mlError("the rate sample holds no events: no cut baseline can be set")
    khz = colliding_rate_hz / 1e3
    obs, keep = {}, {}
    for name, (ev, sc) in signals.items():
        sc = np.asarray(sc, dtype=np.float64).ravel()
        obs[name] = ev if isinstance(ev, dict) else observables(ev)
        n = len(obs[name]["MET"])
        if n != len(sc):
            raise L1mlError(f"signal {name}: {n} events but {len(sc)} scores; run the rate step again")
        keep[name] = sc > model["threshold"]
    cuts = {}
    for c in CUTS:
        t, k = counts.threshold(c, fpr)
        fired = {s: obs[s][c] > t for s in signals}
        cuts[c] = {
            "threshold_gev": t * units.PT_LSB,
            **_rate(k, counts.events, khz),
            "signals": {s: _eff(int(f.sum()), len(f)) for s, f in fired.items()},
        }
    mean = {c: float(np.mean([e["tpr"] for e in cuts[c]["signals"].values()] or [0.0])) for c in CUTS}
    best = max(CUTS, key=lambda c: mean[c])
    tb, _ = counts.threshold(best, fpr)
    gain = {}
    for s in signals:
        d, err = paired_difference(keep[s], obs[s][best] > tb)
        gain[s] = {"model_tpr": float(keep[s].mean()) if len(keep[s]) else 0.0,
                   "baseline_tpr": cuts[best]["signals"][s]["tpr"], "difference": d, "error": err}  # fmt: skip
    return {
        "fpr": fpr,
        "rate_sample_events": counts.events,
        "model_threshold": model["threshold"],
        "ht": {"jet_min_gev": HT_JET_MIN_GEV, "eta_max": HT_ETA_MAX},
        "cuts": cuts,
        "baseline": best,
        "gain": gain,
        "turn_on": {s: {o: turn_on(obs[s][o], keep[s]) for o in TURN_ON} for s in signals},
        # the baseline cut's own turn-ons, in the same bins (the same events and quantiles)
        "baseline_turn_on": {s: {o: turn_on(obs[s][o], obs[s][best] > tb) for o in TURN_ON} for s in signals},
    }
