"""hls4ml ModelGraph -> alkaid combinational logic computing the same integer arithmetic as l1ml's emulator.

Each layer is traced from the same precisions, weight codes and geometry the emulator reads (nn_layers.py:
weight_codes, dense_weights, result_type, accum_t, conv2d_im2col, pool2d_windows), with the same casts:
exact products and sums, a wrap into accum_t when the sum can leave it, then the cast to result_t with its
rounding and overflow modes. alkaid sizes every wire from value intervals, so a cast whose effect is nil
for every reachable code costs nothing, as in the emulator. A layer or setting alkaid cannot reproduce exactly is refused by name (RTLUnsupported),
never approximated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np

from l1ml.emulate.nn_layers import conv2d_im2col, dense_weights, pool2d_windows, result_type, weight_codes
from l1ml.fixed import Bounds, FixedType, UnsupportedError, cast, from_hls

ALKAID_ROUNDING = ("TRN", "RND", "RND_CONV")
ALKAID_OVERFLOW = ("WRAP", "SAT", "SAT_SYM")


class RTLUnsupported(UnsupportedError):
    """A layer whose arithmetic the RTL path cannot make identical to the firmware's."""


@dataclass(frozen=True)
class OutputSlot:
    """Where one model output sits in the design's flat output vector."""

    name: str
    start: int
    size: int
    frac: int


def kif(t: FixedType) -> tuple[int, int, int]:
    """alkaid's (keep-sign, integer bits without the sign, fractional bits) of an ap_fixed type."""
    return int(t.signed), t.integer - int(t.signed), t.frac


def quantize(x, t: FixedType, where: str, rounding: str | None = None):
    """ap_fixed's conversion to `t` (quantize with its rounding, then its overflow), on traced values."""
    rnd = rounding or t.rounding
    if rnd == "TRN_ZERO" and _min(x) >= 0:
        rnd = "TRN"  # the emulator's rule too: on non-negative values truncation towards zero is floor
    if rnd not in ALKAID_ROUNDING:
        raise RTLUnsupported(
            f"{where}: rounding AP_{rnd} of {t} is not traced (alkaid has {ALKAID_ROUNDING})"
        )
    if t.overflow not in ALKAID_OVERFLOW:
        raise RTLUnsupported(
            f"{where}: overflow AP_{t.overflow} of {t} is not traced (alkaid has {ALKAID_OVERFLOW})"
        )
    if rnd == "RND_CONV" and t.overflow != "WRAP" and _frac(x) > t.frac:
        # alkaid rounds ties to even only under WRAP; saturating first is exact because both steps are
        # monotone and the limits lie on t's grid (the emulator's cast relies on the same argument).
        k, i, f = kif(t)
        lo, hi = t.bounds.lo * 2.0**-f, t.bounds.hi * 2.0**-f
        clipped = np.array([v.max_of(lo).min_of(hi) for v in np.asarray(x).ravel()], dtype=object)
        x = type(x)(clipped.reshape(np.shape(x)), x.solver_options, hwconf=x.hwconf)
        return x.quantize(k, i, f, "WRAP", "RND_CONV")
    k, i, f = kif(t)
    return x.quantize(k, i, f, t.overflow, rnd)


def _min(x) -> float:
    return min(v.low for v in np.asarray(x).ravel())


def _frac(x) -> int:
    return max(int(v.kif[2]) for v in np.asarray(x).ravel())


def _fixed(layer, key: str) -> FixedType:
    return from_hls(layer.get_attr(key).precision, f"layer '{layer.name}' {key}")


# ---------------------------------------------------------------------------------------------- layers


def t_dense(layer, x):
    name = layer.name
    if len(layer.get_output_variable().shape) != 1:
        raise RTLUnsupported(f"layer '{name}': Dense on a multi-dimensional tensor is not traced")
    n_in, n_out = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
    return _products_summed(layer, x.reshape(1, n_in), n_in, n_out).reshape(n_out)


def _products_summed(layer, rows, n_in: int, n_out: int):
    """nnet_dense_latency.h: acc = (accum_t) bias + sum_i (accum_t)(x_i * w_ij); res = (res_T) acc.

    When accum_t holds every partial sum (or wraps, which is modular), that is one exact sum, one wrap
    and one cast, as in the emulator's GEMM path; otherwise the layer is refused.
    """
    name = layer.name
    strategy = str(layer.get_attr("strategy", "latency")).lower()
    if strategy not in ("latency", "resource"):
        raise RTLUnsupported(f"layer '{name}': strategy '{strategy}' is not traced")
    w, wt, b, bfrac = dense_weights(layer, n_in, n_out)
    acc_t = _fixed(layer, "accum_t")
    res_t = result_type(layer)
    b_acc, _ = cast(b.reshape(1, n_out), bfrac, Bounds(float(b.min()), float(b.max())), acc_t)
    wr = w * 2.0**-wt.frac
    if not np.array_equal(wr.astype(np.float32).astype(np.float64), wr):
        # alkaid's CMVM solver takes the constant matrix as float32
        raise RTLUnsupported(f"layer '{name}': weights {wt} are wider than float32's 24-bit mantissa")
    # Whether accum_t can round or saturate a partial sum: the emulator's gemm_ok, from the same bounds.
    xb = _bounds(rows)
    pfrac = wt.frac + _frac(rows)
    shift = acc_t.frac - pfrac
    col_abs = np.abs(w).sum(axis=0) * xb.maxabs * 2.0 ** _frac(rows)
    if shift < 0:
        raise RTLUnsupported(
            f"layer '{name}': accum_t {acc_t} rounds the products; the sequential accumulation is not traced"
        )
    partial = float(col_abs.max()) * 2.0**shift + float(np.abs(b_acc).max())
    if acc_t.overflow != "WRAP" and not Bounds(-partial, partial).within(acc_t.bounds):
        raise RTLUnsupported(
            f"layer '{name}': accum_t {acc_t} can saturate a partial sum; the order-dependent "
            "accumulation is not traced"
        )
    acc = rows @ wr
    if np.any(b_acc):
        acc = acc + (b_acc * 2.0**-acc_t.frac)
    acc = quantize(acc, acc_t, f"layer '{name}' accum_t")
    return quantize(acc, res_t, f"layer '{name}' result_t")


def _bounds(x) -> Bounds:
    """Bounds of traced values, in units of their own finest step (codes)."""
    vals = np.asarray(x).ravel()
    return Bounds(min(v.low for v in vals), max(v.high for v in vals))


def _zero_padded(x):
    """The flat input with one constant-zero element appended: index len(x) is the padding."""
    from alkaid.trace import FVArray

    flat = np.asarray(x).ravel()
    zero = FVArray(np.zeros(1), x.solver_options, hwconf=x.hwconf)
    return np.concatenate([flat, np.asarray(zero)]), x.solver_options, x.hwconf


def t_conv2d(layer, x):
    from alkaid.trace import FVArray

    idx, window, F, pixels = conv2d_im2col(layer, RTLUnsupported, "traced")
    padded, so, hw = _zero_padded(x)
    cols = FVArray(padded[idx], so, hwconf=hw)  # (OH*OW, KH*KW*C)
    return _products_summed(layer, cols, window, F).reshape(pixels * F)


def t_pooling2d(layer, x):
    from alkaid.trace import FVArray

    a = layer.get_attr
    name = layer.name
    op = str(a("pool_op", "")).lower()
    res_t, acc_t = result_type(layer), _fixed(layer, "accum_t")
    idx, pad = pool2d_windows(layer, RTLUnsupported, "traced")
    cells = idx.shape[1]
    valid = (idx < pad).sum(axis=1)
    padded, so, hw = _zero_padded(x)
    outs = []
    if op == "average":
        if bool(a("count_pad", False)):
            valid = np.full_like(valid, cells)
        for j in range(len(idx)):
            window = FVArray(padded[idx[j]], so, hwconf=hw)
            total = FVArray(np.array([np.sum(window)], dtype=object), so, hwconf=hw)
            s = quantize(total, acc_t, f"layer '{name}' accum_t")
            n = int(valid[j])
            if n & (n - 1):
                raise RTLUnsupported(
                    f"layer '{name}': average over {n} cells is a division that is not traced"
                )
            q = s * (1.0 / n)
            if _min(q) < 0 and acc_t.signed:
                raise RTLUnsupported(
                    f"layer '{name}': average pooling of signed values truncates towards zero, not traced"
                )
            k, i, f = kif(acc_t)
            q = q.quantize(k, i, f, "WRAP", "TRN")  # the integer division's floor at accum_t's LSB
            outs.append(quantize(q, res_t, f"layer '{name}' result_t"))
    elif op == "max":
        if (valid < cells).any():
            raise RTLUnsupported(f"layer '{name}': max pooling over padding is not traced")
        for j in range(len(idx)):
            m = reduce(lambda p, q: p.max_of(q), [padded[i] for i in idx[j]])
            m = quantize(
                FVArray(np.array([m], dtype=object), so, hwconf=hw), acc_t, f"layer '{name}' accum_t"
            )
            outs.append(quantize(m, res_t, f"layer '{name}' result_t")[0])
    else:
        raise RTLUnsupported(f"layer '{name}': pooling op '{op}' is not traced")
    return FVArray(np.array([np.asarray(o).ravel()[0] for o in outs], dtype=object), so, hwconf=hw)


def t_activation(layer, x):
    act = str(layer.get_attr("activation")).lower()
    res_t = result_type(layer)
    where = f"layer '{layer.name}' result_t"
    if act == "linear":
        return quantize(x, res_t, where)
    if act == "relu":
        return quantize(x.relu(), res_t, where)  # nnet::relu: the cast of max(x, 0)
    raise RTLUnsupported(
        f"layer '{layer.name}': activation '{act}' is not traced (traced: linear, relu); the lookup tables "
        "of sigmoid/tanh are filled by float code at start-up and are not carried into the RTL"
    )


def t_merge(layer, a, b):
    op = str(layer.get_attr("op")).lower()
    res_t = result_type(layer)
    if a.size != b.size:
        raise RTLUnsupported(f"layer '{layer.name}': Merge '{op}' of different sizes is not traced")
    if op == "add":
        y = a + b
    elif op == "subtract":
        y = a - b
    elif op == "average":
        y = (a + b) * 0.5
    elif op == "multiply":
        y = a * b
    elif op in ("maximum", "minimum"):
        from alkaid.trace import FVArray

        pick = (lambda p, q: p.max_of(q)) if op == "maximum" else (lambda p, q: p.min_of(q))
        vals = [pick(p, q) for p, q in zip(np.asarray(a).ravel(), np.asarray(b).ravel(), strict=True)]
        y = FVArray(np.array(vals, dtype=object), a.solver_options, hwconf=a.hwconf)
    else:
        raise RTLUnsupported(f"layer '{layer.name}': Merge op '{op}' is not traced")
    return quantize(y, res_t, f"layer '{layer.name}' result_t")


def t_concatenate(layer, *xs):
    res_t = result_type(layer)
    if len(layer.get_output_variable().shape) != 1:
        raise RTLUnsupported(f"layer '{layer.name}': Concatenate of multi-dimensional tensors is not traced")
    return np.concatenate([quantize(x, res_t, f"layer '{layer.name}' result_t") for x in xs])


def t_normalize(layer, x):
    """nnet::normalize: res = (res_T)(x * scale + bias), at full precision."""
    name = layer.name
    kind = {c.__name__ for c in type(layer.weights["scale"].type.precision).__mro__}
    if "ExponentPrecisionType" in kind:
        raise RTLUnsupported(f"layer '{name}': power-of-two (exponent) scales are not traced")
    size = x.size
    n_filt = int(layer.get_attr("n_filt", -1))
    reps = 1 if n_filt in (-1, size) else size // n_filt
    sq, st = weight_codes(layer, "scale")
    s = np.tile(sq.ravel(), reps) * 2.0**-st.frac
    y = x * s
    if "bias" in layer.weights and layer.weights["bias"] is not None:
        bq, bt = weight_codes(layer, "bias")
        y = y + np.tile(bq.ravel(), reps) * 2.0**-bt.frac
    return quantize(y, result_type(layer), f"layer '{name}' result_t")


def t_identity(layer, x):
    return x


TRACERS = {
    "Dense": t_dense,
    "Activation": t_activation,
    "Merge": t_merge,
    "Concatenate": t_concatenate,
    "BatchNormalization": t_normalize,
    "ApplyAlpha": t_normalize,
    "Conv2D": t_conv2d,
    "Pooling2D": t_pooling2d,
    "Reshape": t_identity,
    "Flatten": t_identity,
}


def trace_model(hls_model, solver_options: dict | None = None):
    """(CombLogic, input type, [OutputSlot]) for an io_parallel hls4ml network with one input."""
    from alkaid.trace import FVArrayInput, trace

    io_type = str(hls_model.config.get_config_value("IOType", "io_parallel"))
    if io_type != "io_parallel":
        raise RTLUnsupported(f"IOType '{io_type}' is not traced; only io_parallel")
    vals: dict = {}
    inp = in_t = None
    for layer in hls_model.get_layers():
        cls = layer.class_name
        if cls in ("Input", "InputLayer"):
            if inp is not None:
                raise RTLUnsupported(
                    f"layer '{layer.name}': a second input; only one-input networks are traced"
                )
            in_t = result_type(layer)
            n = int(np.prod(layer.get_output_variable().shape))
            inp = FVArrayInput(n, solver_options=solver_options)
            vals[layer.outputs[0]] = inp.quantize(*kif(in_t))
            continue
        fn = TRACERS.get(cls)
        if fn is None:
            raise RTLUnsupported(
                f"layer '{layer.name}' ({cls}) is not traced; traced layers: {', '.join(sorted(TRACERS))}"
            )
        try:
            vals[layer.outputs[0]] = fn(layer, *[vals[i] for i in layer.inputs])
        except (AssertionError, NotImplementedError, ValueError) as exc:  # alkaid's own refusals
            raise RTLUnsupported(f"layer '{layer.name}' ({cls}): alkaid cannot trace it: {exc}") from None
    slots, outs, start = [], [], 0
    for name in hls_model.outputs:
        y = np.asarray(vals[name]).ravel()
        t = next(result_type(la) for la in hls_model.get_layers() if la.outputs[0] == name)
        slots.append(OutputSlot(name, start, len(y), t.frac))
        outs.append(y)
        start += len(y)
    return trace(inp, np.concatenate(outs)), in_t, slots
