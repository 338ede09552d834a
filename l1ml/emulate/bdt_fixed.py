"""Vectorised, bit-exact numpy model of conifer's fixed-point BDT (xilinxhls backend, unrolled trees).

This is the "software model at the firmware's precision" that validation compares every emulator with,
and the fast emulator for large samples: loops run over trees and depth, never over events.

What it reproduces from conifer's generated HLS (BDT_unrolled.h, bridge.cpp, parameters.h):
- inputs, thresholds, leaf values and init_predict are cast from double to their ap_fixed types with the
  type's own quantization and overflow modes (AP_TRN / AP_WRAP unless the precision string says otherwise);
- a split compares the quantized input with the quantized threshold exactly (`<` or `<=`, the model's
  splitting convention); the input is first multiplied by a one-hot weight of weight_t, which is exact only
  when weight_t holds 1, so that is checked;
- tree scores are summed in score_t as `init + reduce(scores)`, where reduce is conifer's balanced binary
  add tree; each partial sum is cast back to score_t, so with AP_SAT the order matters and is kept;
- the sum is multiplied by `norm` cast to score_t.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1ml.errors import ConfigError, DataError
from l1ml.fixed import FixedType

_CHUNK = 1 << 16  # events per block: bounds memory at ~30 MB for 57 inputs
MAX_WIDTH = 52  # int64 codes; products of two and sums of many stay exact below 2**62 (to_int's limit)


def parse_type(text: str) -> FixedType:
    """A conifer precision as a FixedType, refused beyond the widths this emulator reproduces exactly."""
    t = FixedType.parse(text)
    if not 1 <= t.width <= MAX_WIDTH:
        raise ConfigError(f"precision '{text}': width must be 1..{MAX_WIDTH} bits for exact emulation")
    return t


@dataclass(frozen=True)
class Precisions:
    input: FixedType
    threshold: FixedType
    weight: FixedType
    score: FixedType

    @classmethod
    def from_config(cls, config: dict | None, precision: str | None = None) -> Precisions:
        """conifer's fallback chain: input <- precision, threshold <- input, weight <- threshold,
        score <- precision."""
        cfg = dict(config or {})
        p = precision or cfg.get("precision") or cfg.get("Precision")
        inp = (None if precision else cfg.get("input_precision")) or p
        thr = (None if precision else cfg.get("threshold_precision")) or inp
        wgt = (None if precision else cfg.get("weight_precision")) or thr
        sco = (None if precision else cfg.get("score_precision")) or p
        if not all((inp, thr, wgt, sco)):
            raise ConfigError("no fixed-point precision given and none found in the conifer model's config")
        return cls(*(parse_type(t) for t in (inp, thr, wgt, sco)))


def _model_dict(model) -> dict:
    """A conifer model object, its saved JSON dict, or a path to that JSON -> the dict."""
    if isinstance(model, (str, Path)):
        try:
            return json.loads(Path(model).read_text())
        except FileNotFoundError:
            raise ConfigError(f"missing conifer model file {model}") from None
    if isinstance(model, dict):
        return model
    fields = [
        "n_classes",
        "n_features",
        "n_trees",
        "max_depth",
        "init_predict",
        "norm",
        "splitting_convention",
    ]
    d = {k: getattr(model, k) for k in fields}
    tree_fields = ["feature", "threshold", "value", "children_left", "children_right"]
    d["trees"] = [[{k: getattr(t, k) for k in tree_fields} for t in ts] for ts in model.trees]
    d["config"] = model.config._to_dict() if getattr(model, "config", None) is not None else {}
    return d


@dataclass(frozen=True)
class _Tree:
    """A tree padded to a complete binary tree in breadth-first order: node i has children 2i+1 and 2i+2.

    A leaf above the full depth becomes a node that always goes left (threshold +inf) over copies of
    itself, so traversal is `depth` steps of pure arithmetic with no leaf tests.
    """

    feature: np.ndarray  # (2**depth - 1,) intp
    threshold: np.ndarray  # (2**depth - 1,) quantized (fixed mode) or float thresholds
    value: np.ndarray  # (2**depth,) int64 mantissas (fixed mode) or float64
    depth: int


def _depth(left, right, node: int = 0) -> int:
    if left[node] == -1:
        return 0
    return 1 + max(_depth(left, right, left[node]), _depth(left, right, right[node]))


def _pad(t: dict, thr: np.ndarray, val: np.ndarray) -> _Tree:
    left, right, feat = t["children_left"], t["children_right"], t["feature"]
    depth = _depth(left, right)
    n_int = (1 << depth) - 1
    feature = np.zeros(n_int, dtype=np.intp)
    # +inf: `x < inf` and `x <= inf` both hold, so padding nodes always go left
    threshold = np.full(n_int, np.inf)
    value = np.zeros(1 << depth, dtype=val.dtype)
    stack = [(0, 0, 0)]  # (conifer node, padded position, level)
    while stack:
        node, pos, level = stack.pop()
        if level == depth:
            value[pos - n_int] = val[node]
        elif left[node] == -1:
            stack += [(node, 2 * pos + 1, level + 1), (node, 2 * pos + 2, level + 1)]
        else:
            feature[pos], threshold[pos] = feat[node], thr[node]
            stack += [(left[node], 2 * pos + 1, level + 1), (right[node], 2 * pos + 2, level + 1)]
    return _Tree(feature, threshold, value, depth)


def _prepare(d: dict, prec: Precisions | None) -> tuple[list[list[_Tree]], np.ndarray]:
    trees = []
    for per_tree in d["trees"]:
        row = []
        for t in per_tree:
            if "weight" in t and any(sum(w) not in (0, 1) for w in t["weight"]):
                raise ConfigError("oblique trees are not supported by the fixed-point reference")
            thr = np.asarray(t["threshold"], dtype=np.float64)
            val = np.asarray(t["value"], dtype=np.float64)
            if prec is not None:
                thr = prec.threshold.quantize(thr)
                val = prec.score.to_int(val)
            row.append(_pad(t, thr, val))
        trees.append(row)
    init = np.asarray(d["init_predict"], dtype=np.float64)
    return trees, init


def _leaf_values(tree: _Tree, Xt: np.ndarray, lt: bool) -> np.ndarray:
    """Xt: inputs transposed, (n_features, n_events), so the first split reads one contiguous row."""
    n = Xt.shape[1]
    if tree.depth == 0:
        return np.full(n, tree.value[0])
    flat = Xt.ravel()
    cols = np.arange(n, dtype=np.intp)
    x = Xt[tree.feature[0]]
    right = ~(x < tree.threshold[0]) if lt else ~(x <= tree.threshold[0])
    idx = 1 + right.astype(np.intp)
    for _ in range(1, tree.depth):
        x = flat[tree.feature[idx] * n + cols]
        t = tree.threshold[idx]
        right = ~(x < t) if lt else ~(x <= t)
        idx = 2 * idx + 1 + right
    return tree.value[idx - ((1 << tree.depth) - 1)]


def _reduce(parts: list[np.ndarray], score: FixedType) -> np.ndarray:
    """conifer's BDT::reduce: left block = largest power of two below N, each add cast back to score_t."""
    if score.overflow == "WRAP":  # wrapping is addition modulo 2**W: the order cannot matter
        return score.into_range(np.sum(parts, axis=0))
    n = len(parts)
    if n == 1:
        return parts[0]
    if n == 2:
        return score.into_range(parts[0] + parts[1])
    left = 1 << ((n - 1).bit_length() - 1)
    return score.into_range(_reduce(parts[:left], score) + _reduce(parts[left:], score))


def _check_one(t: FixedType, what: str) -> None:
    if t.to_int(1.0)[()] != 1 << t.frac:
        raise ConfigError(
            f"{what} type {t} cannot hold 1.0, which conifer's HLS multiplies by;"
            " give it at least 2 integer bits"
        )


def decision_function_fixed(model, X, precision: str | None = None, return_int: bool = False) -> np.ndarray:
    """Scores of conifer's fixed-point HLS for events X (n_events, n_features); shape (n,) for binary models.

    model: a conifer model, its JSON dict or the path to conifer_model.json. precision: one ap_fixed string
    for inputs, thresholds, weights and scores; None reads them from the model's config. return_int gives
    the integer mantissas instead of values (value = mantissa * 2**-frac of the score type).
    """
    d = _model_dict(model)
    prec = Precisions.from_config(d.get("config"), precision)
    _check_one(prec.weight, "weight")
    if float(d.get("norm", 1)) != 1.0:
        _check_one(prec.score, "score")
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != int(d["n_features"]):
        raise DataError(f"the BDT takes (events, {d['n_features']}) inputs, got shape {X.shape}")
    trees, init = _prepare(d, prec)
    lt = d.get("splitting_convention", "<=") == "<"
    init_v = prec.score.to_int(init)
    norm_v = int(prec.score.to_int(float(d.get("norm", 1)))[()])
    n_learners = len(trees[0])
    out = np.empty((X.shape[0], n_learners), dtype=np.int64)
    # Only the features some split reads are quantized; the rest stay zero.
    used = np.unique(np.concatenate([t.feature for ts in trees for t in ts]))
    for start in range(0, X.shape[0], _CHUNK):
        xq = np.zeros((X.shape[1], min(_CHUNK, X.shape[0] - start)))
        xq[used] = prec.input.quantize(X[start : start + _CHUNK].T[used])
        for c in range(n_learners):
            parts = [_leaf_values(ts[c], xq, lt) for ts in trees]
            y = prec.score.into_range(init_v[c] + _reduce(parts, prec.score))
            if norm_v != 1 << prec.score.frac:
                # score *= norm: full-precision product, cast back to score_t with its own modes
                y = prec.score.to_int(np.ldexp((y * norm_v).astype(np.float64), -2 * prec.score.frac))
            out[start : start + _CHUNK, c] = y
    out = out[:, 0] if n_learners == 1 else out
    return out if return_int else np.ldexp(out.astype(np.float64), -prec.score.frac)


def decision_function_float(model, X) -> np.ndarray:
    """The float model, vectorised: float64 thresholds and leaf sums, as conifer's python backend computes."""
    d = _model_dict(model)
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float64).T)
    trees, init = _prepare(d, None)
    lt = d.get("splitting_convention", "<=") == "<"
    n_learners = len(trees[0])
    y = np.zeros((X.shape[1], n_learners))
    for c in range(n_learners):
        y[:, c] = np.sum([_leaf_values(ts[c], X, lt) for ts in trees], axis=0)
    y = (y + init) * float(d.get("norm", 1))
    return y[:, 0] if n_learners == 1 else y
