"""The fixed-point type of a converted BDT, chosen from what it must hold, or a refusal with the numbers.

conifer's VHDL backend requires one type for inputs, thresholds and scores, so one type must:
- hold every preprocessed input of the hardware range (the preprocessing's offsets and shifts applied to
  units.HW_MIN..HW_MAX), on its own grid (fractional bits >= the largest shift);
- hold every threshold, and round each so that no input on the input grid changes side (for xgboost's
  `x < t`: the number of grid values below the rounded threshold equals the number below t);
- hold the score: |init| + the sum over trees of the largest |leaf|, so no partial sum can overflow.
An ap_fixed<18,8> reaches only +/-128, while an identity-preprocessed pT reaches 4095: an imported BDT
with thresholds above 128 then compared wrapped inputs with wrapped thresholds (measured: up to 1,322 of
2,000 events out of range, 231 decisions flipped), and validation still passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from l1ml.emulate.bdt_fixed import MAX_WIDTH, parse_type
from l1ml.errors import L1mlError
from l1ml.fixed import FixedType

BASE_INTEGER, BASE_FRAC = 8, 10  # conifer's default ap_fixed<18,8>: the least l1ml chooses


class PrecisionError(L1mlError):
    """No fixed-point type holds this BDT's inputs, thresholds and score exactly enough."""


@dataclass(frozen=True)
class Needs:
    input_lo: float | None  # None: no preprocessing known, inputs not checked
    input_hi: float | None
    input_frac: int | None
    threshold_lo: float
    threshold_hi: float
    n_thresholds: int
    score_bound: float
    convention: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def needs(ensemble: dict, pre=None) -> Needs:
    """What the type must hold, from conifer's ensemble dict (exact thresholds) and the preprocessing."""
    thr, score = [], abs(float(np.max(np.abs(ensemble.get("init_predict", [0.0])))))
    per_class = np.zeros(len(ensemble["trees"][0]) if ensemble["trees"] else 1)  # [tree][class]
    for per_tree in ensemble["trees"]:
        for j, tree in enumerate(per_tree):
            feat = np.asarray(tree["feature"])
            thr.extend(np.asarray(tree["threshold"], np.float64)[feat >= 0])
            leaves = np.asarray(tree["value"], np.float64)[feat < 0]
            per_class[j] += float(np.max(np.abs(leaves))) if leaves.size else 0.0
    thr_arr = np.asarray(thr, np.float64)
    lo = hi = frac = None
    if pre is not None:
        from l1ml.data import units

        off = np.asarray(pre.offsets, np.float64)
        sh = np.asarray(pre.shifts, np.float64)
        n = len(off)
        hw_lo = units.HW_MIN[:n] if n == units.N_INPUTS else np.full(n, -units.PT_MAX_HW)
        hw_hi = units.HW_MAX[:n] if n == units.N_INPUTS else np.full(n, units.PT_MAX_HW)
        ends = np.stack([(hw_lo - off) * 2.0**-sh, (hw_hi - off) * 2.0**-sh, np.zeros(n)])
        lo, hi, frac = float(ends.min()), float(ends.max()), int(sh.max())
    return Needs(
        input_lo=lo,
        input_hi=hi,
        input_frac=frac,
        threshold_lo=float(thr_arr.min()) if thr_arr.size else 0.0,
        threshold_hi=float(thr_arr.max()) if thr_arr.size else 0.0,
        n_thresholds=int(thr_arr.size),
        score_bound=score + float(per_class.max()),
        convention=ensemble.get("splitting_convention", "<"),
    )


def _integer_bits(lo: float, hi: float, frac: int) -> int:
    """Smallest I with -2**(I-1) <= lo and hi <= 2**(I-1) - 2**-frac."""
    need = 1
    for v in (lo, hi + 2.0**-frac):
        if v < 0:
            need = max(need, 1 + math.ceil(math.log2(-v)))
        elif v > 0:
            need = max(need, 1 + math.ceil(math.log2(v)))
    return need


def moved_thresholds(thresholds: np.ndarray, t: FixedType, input_frac: int, convention: str) -> np.ndarray:
    """Mask of thresholds whose rounding to `t` sends some input on the 2**-input_frac grid the other way."""
    q = t.to_int(thresholds).astype(np.float64) * t.lsb
    scale = 2.0**input_frac
    if convention == "<":
        return np.ceil(thresholds * scale) != np.ceil(q * scale)
    return np.floor(thresholds * scale) != np.floor(q * scale)


def out_of_range(values: np.ndarray, t: FixedType) -> np.ndarray:
    return (values < t.v_min * t.lsb) | (values > t.v_max * t.lsb)


def _thresholds(ensemble: dict) -> np.ndarray:
    out = []
    for per_tree in ensemble["trees"]:
        for tree in per_tree:
            feat = np.asarray(tree["feature"])
            out.extend(np.asarray(tree["threshold"], np.float64)[feat >= 0])
    return np.asarray(out, np.float64)


def check(t: FixedType, n: Needs, ensemble: dict) -> list[str]:
    """What `t` gets wrong for this BDT, one line each with the numbers; empty when it holds it all."""
    problems = []
    lo, hi = t.v_min * t.lsb, t.v_max * t.lsb
    if n.input_lo is not None and (n.input_lo < lo or n.input_hi > hi):
        problems.append(
            f"the preprocessed inputs reach [{n.input_lo:g}, {n.input_hi:g}] over the hardware range, "
            f"{t} holds [{lo:g}, {hi:g}]"
        )
    if n.input_frac is not None and n.input_frac > t.frac:
        problems.append(
            f"the inputs have {n.input_frac} fractional bits (largest preprocessing shift), {t} has {t.frac}"
        )
    thr = _thresholds(ensemble)
    bad = out_of_range(thr, t)
    if bad.any():
        problems.append(
            f"{int(bad.sum())} of {thr.size} thresholds are outside [{lo:g}, {hi:g}] "
            f"(thresholds span [{n.threshold_lo:g}, {n.threshold_hi:g}])"
        )
    frac = n.input_frac if n.input_frac is not None else t.frac
    moved = moved_thresholds(thr[~bad], t, frac, n.convention)
    if moved.any():
        problems.append(
            f"{int(moved.sum())} of {thr.size} thresholds round to a value that sends inputs on the "
            f"2**-{frac} grid the other way"
        )
    if n.score_bound > hi:
        problems.append(f"the score can reach +/-{n.score_bound:g}, {t} holds [{lo:g}, {hi:g}]")
    return problems


AUTO = ("", "auto")


def choose(ensemble: dict, pre=None, requested: str | None = None, default: str | None = None) -> tuple[str, Needs]:
    """The precision for conifer and what it must hold.

    `requested` "auto" (or empty): the narrowest ap_fixed from ap_fixed<18,8> up that holds everything.
    `requested` == `default` (the project's unchanged default): kept when it holds everything, otherwise
    widened as for "auto", with the default's rounding and overflow modes. Any other `requested`: kept
    when it holds everything, otherwise PrecisionError with the numbers and the type that would.
    """
    n = needs(ensemble, pre)
    req = (requested or "").strip()
    modes = []
    if req.lower() not in AUTO:
        t = parse_type(req)
        modes = list(t.cpp_modes)
        problems = check(t, n, ensemble)
        if not problems:
            return req, n
        if req != default:
            auto = _auto(ensemble, n, modes)
            hint = f"; {auto} would hold it all (or set precision = \"auto\")" if auto else ""
            raise PrecisionError(f"BDT precision {req}: " + "; ".join(problems) + hint)
    auto = _auto(ensemble, n, modes)
    if auto is None:
        raise PrecisionError(
            f"no ap_fixed up to {MAX_WIDTH} bits holds this BDT: "
            + "; ".join(check(parse_type(f"ap_fixed<{MAX_WIDTH},{BASE_INTEGER}>"), n, ensemble))
        )
    return auto, n


def _auto(ensemble: dict, n: Needs, modes: list[str] | None = None) -> str | None:
    suffix = "".join(f",{m}" for m in (modes or []))
    frac0 = max(BASE_FRAC, n.input_frac or 0)
    lo = min(n.threshold_lo, n.input_lo if n.input_lo is not None else 0.0, -n.score_bound)
    hi = max(n.threshold_hi, n.input_hi if n.input_hi is not None else 0.0, n.score_bound)
    for frac in range(frac0, MAX_WIDTH):
        integer = max(BASE_INTEGER, _integer_bits(lo, hi, frac))
        if integer + frac > MAX_WIDTH:
            return None
        text = f"ap_fixed<{integer + frac},{integer}{suffix}>"
        if not check(parse_type(text), n, ensemble):
            return text
    return None
