"""One batch operation per hls4ml layer, built from the ModelGraph's layer objects.

Each builder reads the layer's own precisions (result_t, accum_t, weight_t, bias_t, table_t) and weights
as hls4ml holds them after its optimizer passes, decides ahead of time (from bounds, not data) which
steps can be skipped or done by BLAS, and returns an `Op` whose `run` maps input code arrays to output
code arrays. Anything not reproduced exactly raises UnsupportedError naming the layer and the setting.

The arithmetic mirrored is the io_parallel C++ in hls4ml's templates/vivado/nnet_utils: nnet_dense_latency.h
(products cast to accum_t, accumulated in accum_t from a bias cast to accum_t, cast to res_T),
nnet_activation.h, nnet_merge.h, nnet_batchnorm.h and nnet_mult.h (weight_exponential for po2 scales).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from l1ml.emulate.gemm import ExactGemm
from l1ml.fixed import (
    Bounds,
    FixedType,
    UnsupportedError,
    cast,
    check_exact,
    from_hls,
    from_real,
)


@dataclass(frozen=True)
class Info:
    """What is known about a tensor before running: its code scale and bounds, and its size per event."""

    frac: int
    bounds: Bounds
    size: int


@dataclass
class Op:
    name: str
    inputs: list[str]
    info: Info
    run: Callable[..., np.ndarray]
    # run(x, inplace=True) may overwrite its one input; the emulator passes it when nothing else reads it.
    can_overwrite: bool = False
    # The fixed-point type of an input op's codes (what a fused reader needs to produce them itself).
    fixed: FixedType | None = None
    # The same arithmetic as data, for the compiled kernel (l1ml/emulate/native/); None: not described,
    # and a network with such an op runs on numpy alone.
    native: dict | None = None


def result_type(layer) -> FixedType:
    return from_hls(layer.get_output_variable().type.precision, f"layer '{layer.name}' result_t")


def weight_codes(layer, key: str) -> tuple[np.ndarray, FixedType]:
    """A weight's codes exactly as the C simulation loads them.

    The C simulation reads weights/*.txt, written with hls4ml's own number format for the weight's
    precision, parses each as a double and converts it to weight_t. Going through the same strings keeps
    any value hls4ml did not quantize itself rounded the same way.
    """
    var = layer.weights[key]
    t = from_hls(var.type.precision, f"layer '{layer.name}' {key}_t")
    text = np.array([float(s) for s in var], dtype=np.float64).reshape(np.shape(var.data))
    return from_real(text, t), t


def dense_weights(layer, n_in: int, n_out: int) -> tuple[np.ndarray, FixedType, np.ndarray, int]:
    """A Dense or Conv layer's multiply-accumulate constants, as the emulator and the RTL tracer both read
    them: the (n_in, n_out) weight codes and their type, the bias codes and their frac (zeros at frac 0
    when the layer has no bias)."""
    w, wt = weight_codes(layer, "weight")
    # The Resource strategy's optimizer pass stores the kernel transposed, (n_out, n_in).
    w = w.reshape(n_out, n_in).T if layer.get_attr("_weights_transposed", False) else w.reshape(n_in, n_out)
    if "bias" in layer.weights and layer.weights["bias"] is not None:
        b, bt = weight_codes(layer, "bias")
        return w, wt, b.ravel(), bt.frac
    return w, wt, np.zeros(n_out), 0


def var_size(layer) -> int:
    return int(np.prod(layer.get_output_variable().shape))


# ---------------------------------------------------------------------------------------------- input


def build_input(layer, ins: list[Info]) -> Op:
    t = result_type(layer)
    info = Info(t.frac, t.bounds, var_size(layer))
    return Op(layer.name, [], info, lambda x: from_real(x, t), fixed=t, native={"kind": "input"})


# ---------------------------------------------------------------------------------------------- dense


def build_dense(layer, ins: list[Info]) -> Op:
    (x,) = ins
    name = layer.name
    out_shape = layer.get_output_variable().shape
    if len(out_shape) != 1:
        raise UnsupportedError(f"layer '{name}': Dense on a {len(out_shape)}-d tensor is not emulated")
    n_in, n_out = int(layer.get_attr("n_in")), int(layer.get_attr("n_out"))
    core, out_b = _products_summed(layer, x.frac, x.bounds, n_in, n_out)
    return Op(name, list(layer.inputs), Info(result_type(layer).frac, out_b, n_out), core, native=core.native)


def _products_summed(layer, xfrac: int, xb: Bounds, n_in: int, n_out: int):
    """The multiply-accumulate shared by Dense and Conv (nnet_dense_latency.h, conv_2d_latency_cl):
    mult = (accum_t)(x * w); acc = (accum_t) bias; acc += mult for i = 0..n_in-1; res = (res_T) acc.

    Returns (fn mapping (rows, n_in) codes to (rows, n_out) codes, bounds of the result codes).
    """
    name = layer.name
    strategy = str(layer.get_attr("strategy", "latency")).lower()
    if strategy not in ("latency", "resource"):
        raise UnsupportedError(
            f"layer '{name}': strategy '{strategy}' is not emulated; use Latency or Resource"
        )
    w, wt, b, bfrac = dense_weights(layer, n_in, n_out)
    acc_t = from_hls(layer.get_attr("accum_t").precision, f"layer '{name}' accum_t")
    res_t = result_type(layer)
    pfrac = xfrac + wt.frac  # the product a*w is exact at this scale
    # Bias, cast to accum_t once (it is a constant): acc[j] = (accum_t) bias[j].
    b_acc, _ = cast(b.reshape(1, n_out), bfrac, Bounds(float(b.min()), float(b.max())), acc_t)

    # Bounds of each output column's exact sum of products, in product codes.
    col_lo = np.minimum(w * xb.lo, w * xb.hi).sum(axis=0)
    col_hi = np.maximum(w * xb.lo, w * xb.hi).sum(axis=0)
    col_abs = np.abs(w).sum(axis=0) * xb.maxabs
    check_exact(Bounds(-float(col_abs.max()), float(col_abs.max())), f"layer '{name}' (sum of products)")
    check_exact(Bounds(-xb.maxabs * float(np.abs(w).max()), 0), f"layer '{name}' (product)")

    shift = acc_t.frac - pfrac
    acc_b = acc_t.bounds
    if shift >= 0:
        scale = 2.0**shift
        sum_b = Bounds(
            float(col_lo.min()) * scale + float(b_acc.min()), float(col_hi.max()) * scale + float(b_acc.max())
        )
        # Under WRAP the accumulator is modular, so per-product and per-step wrapping equal one wrap of the
        # exact total. Under saturation that holds only if no partial sum can leave accum_t's range.
        partial = float(col_abs.max()) * scale + float(np.abs(b_acc).max())
        gemm_ok = acc_t.overflow == "WRAP" or Bounds(-partial, partial).within(acc_b)
        check_exact(Bounds(-partial, partial), f"layer '{name}' (accumulator)")
    else:
        gemm_ok = False
    if not gemm_ok and strategy != "latency":
        raise UnsupportedError(
            f"layer '{name}': accum_t {acc_t} rounds or saturates products, and strategy '{strategy}' adds "
            "them "
            "in an order the emulator does not reproduce; use Latency or a wider accum_t"
        )

    if not gemm_ok:
        prod_b = Bounds(-xb.maxabs * float(np.abs(w).max()), xb.maxabs * float(np.abs(w).max()))

        def sequential(xq: np.ndarray) -> np.ndarray:
            # The C++ order: acc[j] starts at the bias, then adds mult[i][j] for i = 0, 1, ...
            acc = np.repeat(b_acc, len(xq), axis=0)
            for i in range(n_in):
                m, mb = cast(xq[:, i : i + 1] * w[i], pfrac, prod_b, acc_t)
                acc, _ = cast(
                    acc + m, acc_t.frac, Bounds(acc_b.lo + mb.lo, acc_b.hi + mb.hi), acc_t, inplace=True
                )
            return cast(acc, acc_t.frac, acc_b, res_t, inplace=True)[0]

        sequential.native = None  # per-product casts: numpy only
        return sequential, res_t.bounds

    # The accumulator's extra fractional bits are a power-of-two scaling: fold it into the weights.
    # ExactGemm runs the product in float32 BLAS (twice as fast) wherever a bound proves every partial sum
    # below 2**24, from the types or from each batch's own largest code, and in float64 otherwise.
    ws = w * scale
    mm = ExactGemm(ws, xb.maxabs, f"layer '{name}'")
    acc_frac = acc_t.frac
    nnz = (w != 0).sum(axis=0)
    sparse = nnz.max() <= 1
    if sparse:
        # At most one non-zero weight per output (a broadcast or a selection, like the score's pT
        # scaling): a gather and a multiply give the same exact sums as the GEMM, without it.
        rows = np.argmax(w != 0, axis=0)
        wsel = ws[rows, np.arange(n_out)]
    wrap_acc = not sum_b.within(acc_b)
    has_bias = bool(np.any(b_acc))

    def gemm(xq: np.ndarray) -> np.ndarray:
        if sparse:
            acc = np.take(xq, rows, axis=1)
            acc *= wsel
        else:
            acc = mm(xq)
        if has_bias:
            acc += b_acc
        bb = sum_b
        if wrap_acc:
            acc, bb = cast(acc, acc_frac, sum_b, acc_t, inplace=True)
        return cast(acc, acc_frac, bb, res_t, inplace=True)[0]

    # acc = bias + sum x*ws (exact integers), wrapped to accum_t where it can leave it, then cast to res_t.
    gemm.native = {
        "kind": "dense",
        "w": ws,
        "b": b_acc.ravel(),
        "frac": acc_frac,
        "acc": acc_t if wrap_acc else None,
        "t": res_t,
        "n_in": n_in,
        "n_out": n_out,
    }
    return gemm, _cast_bounds(acc_b if wrap_acc else sum_b, acc_t.frac, res_t)


# ---------------------------------------------------------------------------------------------- conv


def build_conv2d(layer, ins: list[Info]) -> Op:
    """conv_2d_latency_cl (io_parallel, channels_last): per output pixel, an im2col row of
    (filt_height, filt_width, n_chan) inputs, zero where the window hangs over the padding, then the
    same multiply-accumulate as Dense."""
    (x,) = ins
    idx, window, F, pixels = conv2d_im2col(layer, UnsupportedError, "emulated")
    xb = Bounds(min(x.bounds.lo, 0.0), max(x.bounds.hi, 0.0))  # padding feeds zeros
    core, out_b = _products_summed(layer, x.frac, xb, window, F)

    # Windows that tile the input in order, with no padding and no overlap (the score head's (1, 3)
    # kernel at stride 3 over (19, 3) objects): im2col is then a reshape, with no gather and no copy.
    tiled = idx.size == x.size and np.array_equal(idx.ravel(), np.arange(x.size))

    def run(xq: np.ndarray) -> np.ndarray:
        if tiled:
            cols = xq.reshape(len(xq) * pixels, window)
        else:
            padded = np.concatenate([xq, np.zeros((len(xq), 1))], axis=1)  # the last column is the padding
            cols = padded[:, idx].reshape(len(xq) * pixels, window)
        return core(cols).reshape(len(xq), pixels * F)

    native = None
    if core.native:
        # Windows that do not tile in order read their inputs through the im2col table (padding: 0).
        gather = None if tiled else {"index": idx.ravel(), "pad": x.size, "pad_value": 0}
        native = {**core.native, "pixels": pixels, "gather": gather}
    return Op(
        layer.name, list(layer.inputs), Info(result_type(layer).frac, out_b, pixels * F), run, native=native
    )


def conv2d_im2col(layer, error: type[Exception], verb: str) -> tuple[np.ndarray, int, int, int]:
    """A Conv2D's geometry, as the emulator and the RTL tracer both read it: (im2col index, window size
    KH*KW*C, filters, output pixels). What neither reproduces is refused with `error` ("... is not <verb>")."""
    a = layer.get_attr
    if str(a("data_format", "channels_last")) != "channels_last":
        raise error(f"layer '{layer.name}': data_format {a('data_format')} is not {verb}")
    if int(a("dilation_height", 1) or 1) != 1 or int(a("dilation_width", 1) or 1) != 1:
        raise error(f"layer '{layer.name}': dilated convolution is not {verb}")
    H, W, C = int(a("in_height")), int(a("in_width")), int(a("n_chan"))
    KH, KW, F = int(a("filt_height")), int(a("filt_width")), int(a("n_filt"))
    OH, OW = int(a("out_height")), int(a("out_width"))
    idx = _im2col_index(
        H, W, C, KH, KW, int(a("stride_height")), int(a("stride_width")), int(a("pad_top")), int(a("pad_left")),
        OH, OW,
    )  # fmt: skip
    return idx, KH * KW * C, F, OH * OW


def _im2col_index(H, W, C, KH, KW, SH, SW, PT, PL, OH, OW) -> np.ndarray:
    """(OH*OW, KH*KW*C) indices into the flat (H, W, C) input; H*W*C marks a padded position."""
    oh, ow, kh, kw, c = np.meshgrid(
        np.arange(OH), np.arange(OW), np.arange(KH), np.arange(KW), np.arange(C), indexing="ij"
    )
    ih, iw = oh * SH + kh - PT, ow * SW + kw - PL
    inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
    flat = np.where(inside, (ih * W + iw) * C + c, H * W * C)
    return flat.reshape(OH * OW, KH * KW * C)


def pool2d_windows(layer, error: type[Exception], verb: str) -> tuple[np.ndarray, int]:
    """A Pooling2D's geometry, as the emulator and the RTL tracer both read it: per output (pixel,
    channel), in the C++ loop order over (kk, ll), its window's indices into the flat (H, W, C) input,
    shape (OH*OW*C, KH*KW); and the index that marks padding (H*W*C). What neither reproduces is refused
    with `error` ("... is not <verb>")."""
    a = layer.get_attr
    if str(a("data_format", "channels_last")) != "channels_last":
        raise error(f"layer '{layer.name}': data_format {a('data_format')} is not {verb}")
    H, W, C = int(a("in_height")), int(a("in_width")), int(a("n_filt"))
    KH, KW = int(a("pool_height")), int(a("pool_width"))
    OH, OW = int(a("out_height")), int(a("out_width"))
    idx = _im2col_index(
        H, W, C, KH, KW, int(a("stride_height")), int(a("stride_width")), int(a("pad_top", 0)),
        int(a("pad_left", 0)), OH, OW,
    )  # fmt: skip
    return idx.reshape(OH * OW, KH * KW, C).transpose(0, 2, 1).reshape(OH * OW * C, KH * KW), H * W * C


def build_pooling2d(layer, ins: list[Info]) -> Op:
    """pooling2d_cl (io_parallel, channels_last): max, or the sum in accum_t divided by the window's
    count (an ap_fixed division by an integer: truncation towards zero at accum_t's LSB)."""
    (x,) = ins
    a = layer.get_attr
    name = layer.name
    idx, pad = pool2d_windows(layer, UnsupportedError, "emulated")
    n_out, window = idx.shape  # outputs (pixel, channel) and cells per window
    op = str(a("pool_op", "")).lower()
    res_t = result_type(layer)
    acc_t = from_hls(a("accum_t").precision, f"layer '{name}' accum_t")
    valid = (idx < pad).sum(axis=1).reshape(1, -1)  # overlap_pixel per output
    # For the compiled kernel: per output (pixel, channel), its window's input indices (pad: padding).
    pool_native = {
        "index": idx.ravel(),
        "window": window,
        "pad": pad,
        "acc": acc_t,
        "t": res_t,
    }
    if op == "average":
        if bool(a("count_pad", False)):
            valid = np.full_like(valid, window)
        f = x.frac
        xb = Bounds(min(x.bounds.lo, 0.0), max(x.bounds.hi, 0.0))
        sb = Bounds(xb.lo * window, xb.hi * window)
        if f > acc_t.frac:
            raise UnsupportedError(
                f"layer '{name}': average pooling with accum_t {acc_t} narrower than its input"
            )
        sb = sb.scaled(acc_t.frac - f)
        check_exact(sb, f"layer '{name}' (average pooling)")
        if acc_t.overflow != "WRAP" and not sb.within(acc_t.bounds):
            raise UnsupportedError(
                f"layer '{name}': accum_t {acc_t} can saturate while summing the pooling window"
            )
        up = 2.0 ** (acc_t.frac - f)
        div = valid.astype(np.float64)

        def run(xq: np.ndarray) -> np.ndarray:
            padded = np.concatenate([xq, np.zeros((len(xq), 1))], axis=1)
            s = padded[:, idx].sum(axis=-1).reshape(len(xq), -1) * up  # exact: integer sums below 2**53
            s, _ = cast(s, acc_t.frac, sb, acc_t, inplace=True)
            q = s / div
            if acc_t.signed:
                np.trunc(q, out=q)  # C integer division: towards zero
            else:
                np.floor(q, out=q)
            return cast(
                q, acc_t.frac, acc_t.bounds if not sb.within(acc_t.bounds) else sb, res_t, inplace=True
            )[0]

        qb = acc_t.bounds if not sb.within(acc_t.bounds) else sb
        info = Info(res_t.frac, _cast_bounds(qb, acc_t.frac, res_t), n_out)
        native = {**pool_native, "kind": "avgpool", "up": int(up), "div": valid.ravel()}
        return Op(name, list(layer.inputs), info, run, native=native)
    if op == "max":
        # Padded cells hold pad_val: the input type with only its top bit set. That is the most negative
        # value of a signed type, but 2**(W-1) LSBs, a large positive value, of an unsigned one.
        if (valid == 0).any():
            raise UnsupportedError(f"layer '{name}': a max-pooling window lies entirely in the padding")
        in_t = from_hls(layer.get_input_variable().type.precision, f"layer '{name}' input type")
        lowest = -(2.0 ** (in_t.width - 1)) if in_t.signed else 2.0 ** (in_t.width - 1)
        xb_pad = Bounds(min(x.bounds.lo, lowest), max(x.bounds.hi, lowest))

        def run(xq: np.ndarray) -> np.ndarray:
            padded = np.concatenate([xq, np.full((len(xq), 1), lowest)], axis=1)
            m = padded[:, idx].max(axis=-1).reshape(len(xq), -1)
            m, mb = cast(m, x.frac, xb_pad, acc_t)
            return cast(m, acc_t.frac, mb, res_t, inplace=True)[0]

        mb = _cast_bounds(xb_pad, x.frac, acc_t)
        info = Info(res_t.frac, _cast_bounds(mb, acc_t.frac, res_t), n_out)
        native = {**pool_native, "kind": "maxpool", "pad_value": int(lowest), "frac": x.frac}
        return Op(name, list(layer.inputs), info, run, native=native)
    raise UnsupportedError(f"layer '{name}': pooling op '{op}' is not emulated")


def _cast_bounds(b: Bounds, frac: int, t: FixedType) -> Bounds:
    _, ob = cast(np.zeros(1), frac, b, t)
    return ob


# ---------------------------------------------------------------------------------------------- activations


def build_activation(layer, ins: list[Info]) -> Op:
    (x,) = ins
    act = str(layer.get_attr("activation")).lower()
    res_t = result_type(layer)
    if act == "linear":

        def run(xq, inplace=False):
            return cast(xq, x.frac, x.bounds, res_t, inplace=inplace)[0]

        return Op(
            layer.name,
            list(layer.inputs),
            Info(res_t.frac, _cast_bounds(x.bounds, x.frac, res_t), x.size),
            run,
            can_overwrite=True,
            native={"kind": "cast", "frac": x.frac, "t": res_t, "relu": False},
        )
    if act == "relu":
        # nnet::relu: res = data > 0 ? (res_T) data : 0, i.e. the cast of max(data, 0).
        rb = Bounds(max(0.0, x.bounds.lo), max(0.0, x.bounds.hi))

        def run(xq, inplace=False):
            return cast(xq, x.frac, x.bounds, res_t, inplace=inplace, lo_clip=0.0)[0]

        info = Info(res_t.frac, _cast_bounds(rb, x.frac, res_t), x.size)
        native = {"kind": "cast", "frac": x.frac, "t": res_t, "relu": True}
        return Op(layer.name, list(layer.inputs), info, run, can_overwrite=True, native=native)
    if act in ("sigmoid", "tanh"):
        from l1ml.emulate.nn_lut import build_lut_activation

        run, ob = build_lut_activation(layer, x, act, res_t)
        return Op(layer.name, list(layer.inputs), Info(res_t.frac, ob, x.size), run)
    raise UnsupportedError(
        f"layer '{layer.name}': activation '{act}' is not emulated (emulated: linear, relu, sigmoid, tanh)"
    )


# ---------------------------------------------------------------------------------------------- merge


def build_merge(layer, ins: list[Info]) -> Op:
    op = str(layer.get_attr("op")).lower()
    res_t = result_type(layer)
    if len(ins) != 2:
        raise UnsupportedError(f"layer '{layer.name}': Merge '{op}' with {len(ins)} inputs is not emulated")
    a, b = ins
    if a.size != b.size:
        raise UnsupportedError(
            f"layer '{layer.name}': Merge '{op}' of sizes {a.size} and {b.size} (broadcast)"
        )
    if op in ("add", "subtract", "average", "maximum", "minimum"):
        f = max(a.frac, b.frac)
        sa, sb = 2.0 ** (f - a.frac), 2.0 ** (f - b.frac)
        A, B = a.bounds.scaled(f - a.frac), b.bounds.scaled(f - b.frac)
        if op == "add":
            rb, fn = Bounds(A.lo + B.lo, A.hi + B.hi), np.add
        elif op == "subtract":
            rb, fn = Bounds(A.lo - B.hi, A.hi - B.lo), np.subtract
        elif op == "average":
            # (a + b) * ap_ufixed<1,0>(0.5): one more fractional bit, exact.
            rb, fn, f = Bounds(A.lo + B.lo, A.hi + B.hi), np.add, f + 1
        elif op == "maximum":
            rb, fn = Bounds(max(A.lo, B.lo), max(A.hi, B.hi)), np.maximum
        else:
            rb, fn = Bounds(min(A.lo, B.lo), min(A.hi, B.hi)), np.minimum
        check_exact(rb, f"layer '{layer.name}' (Merge {op})")

        native = {"kind": "merge", "op": op, "frac": f, "sa": f - a.frac, "sb": f - b.frac, "t": res_t}
        if op == "average":
            native["sa"], native["sb"] = (
                f - 1 - a.frac,
                f - 1 - b.frac,
            )  # the sum, at f - 1, then one bit more

        def run(qa, qb):
            a_ = qa * sa if sa != 1 else qa
            b_ = qb * sb if sb != 1 else qb
            out = a_ if a_ is not qa else (b_ if b_ is not qb else None)  # reuse a temporary if there is one
            return cast(fn(a_, b_, out=out), f, rb, res_t, inplace=True)[0]

    elif op == "multiply":
        f = a.frac + b.frac
        corners = [
            a.bounds.lo * b.bounds.lo,
            a.bounds.lo * b.bounds.hi,
            a.bounds.hi * b.bounds.lo,
            a.bounds.hi * b.bounds.hi,
        ]
        rb = Bounds(min(corners), max(corners))
        if layer.inputs[0] == layer.inputs[1]:  # a square is never negative
            rb = Bounds(
                0.0 if a.bounds.lo <= 0 <= a.bounds.hi else min(a.bounds.lo**2, a.bounds.hi**2), max(corners)
            )
        check_exact(rb, f"layer '{layer.name}' (Merge multiply)")

        native = {"kind": "merge", "op": op, "frac": f, "sa": 0, "sb": 0, "t": res_t}

        def run(qa, qb):
            return cast(qa * qb, f, rb, res_t, inplace=True)[0]

    else:
        raise UnsupportedError(f"layer '{layer.name}': Merge op '{op}' is not emulated")
    info = Info(res_t.frac, _cast_bounds(rb, f, res_t), a.size)
    return Op(layer.name, list(layer.inputs), info, run, native=native)


def build_concatenate(layer, ins: list[Info]) -> Op:
    res_t = result_type(layer)
    if len(layer.get_output_variable().shape) != 1:
        raise UnsupportedError(
            f"layer '{layer.name}': Concatenate of multi-dimensional tensors is not emulated"
        )

    def run(*qs):
        return np.concatenate(
            [cast(q, i.frac, i.bounds, res_t)[0] for q, i in zip(qs, ins, strict=True)], axis=1
        )

    ob = [_cast_bounds(i.bounds, i.frac, res_t) for i in ins]
    rb = Bounds(min(b.lo for b in ob), max(b.hi for b in ob))
    return Op(layer.name, list(layer.inputs), Info(res_t.frac, rb, sum(i.size for i in ins)), run)


# ---------------------------------------------------------------------------------------------- batchnorm


_EXP_RE = re.compile(r"\{\s*([-+0-9.eE]+)\s*,\s*([-+0-9]+)\s*\}")


def build_normalize(layer, ins: list[Info]) -> Op:
    """nnet::normalize: res = product(x, scale) + bias, at full precision, then cast to res_T.

    Used by BatchNormalization and by the ApplyAlpha layers hls4ml inserts for QKeras quantizer scales.
    """
    (x,) = ins
    name = layer.name
    res_t = result_type(layer)
    n_filt = int(layer.get_attr("n_filt", -1))
    size = x.size
    reps = 1 if n_filt in (-1, size) else size // n_filt
    svar = layer.weights["scale"]
    kind = {c.__name__ for c in type(svar.type.precision).__mro__}
    if "bias" in layer.weights and layer.weights["bias"] is not None:
        bq, bt = weight_codes(layer, "bias")
        bq, bfrac = np.tile(bq.ravel(), reps), bt.frac
    else:
        bq, bfrac = np.zeros(size), 0

    if "ExponentPrecisionType" in kind:
        # nnet::product::weight_exponential: r_T y = (r_T) a << exponent; sign ? y : -y, with
        # r_T = ap_fixed<2*(ew + xw), ew + xw>; ew is the exponent's width, xw the input's.
        ew = int(svar.type.precision.width)
        xw = _input_width(layer)
        r_t = FixedType(2 * (ew + xw), ew + xw, True, "TRN", "WRAP")
        signs, exps = [], []
        for s in svar:
            m = _EXP_RE.fullmatch(s.strip())
            if m is None:
                raise UnsupportedError(f"layer '{name}': cannot read exponent scale '{s}'")
            signs.append(float(m.group(1)))
            exps.append(int(m.group(2)))
        if any(s != 1.0 for s in signs):
            raise UnsupportedError(f"layer '{name}': negative power-of-two scale (sign bit) is not emulated")
        exps = np.tile(np.array(exps), reps)
        up = np.maximum(exps, 0)
        down = np.maximum(-exps, 0)
        # When r_T keeps every bit of x shifted either way (its LSB is below x's LSB shifted right, and its
        # range holds x shifted left), the product is exactly x * 2**e: evaluate it at the narrowest exact
        # scale instead of r_T's, whose codes can exceed what float64 holds.
        lossless = (
            x.frac <= r_t.frac
            and x.frac + int(down.max()) <= r_t.frac
            and Bounds(x.bounds.lo * 2.0 ** int(up.max()), x.bounds.hi * 2.0 ** int(up.max())).within(
                r_t.bounds.scaled(x.frac - r_t.frac)
            )
        )
        if lossless:
            f = max(x.frac + int(down.max()), bfrac)
            mul = 2.0 ** (f - x.frac + exps.astype(float))
            bb = bq * 2.0 ** (f - bfrac)
            lo = np.minimum(x.bounds.lo * mul, x.bounds.hi * mul) + bb
            hi = np.maximum(x.bounds.lo * mul, x.bounds.hi * mul) + bb
            sb = Bounds(float(lo.min()), float(hi.max()))
            check_exact(
                Bounds(-max(abs(sb.lo), abs(sb.hi), x.bounds.maxabs * mul.max()), 0),
                f"layer '{name}' (po2 scale)",
            )

            def run(xq):
                y = xq * mul
                y += bb
                return cast(y, f, sb, res_t, inplace=True)[0]

        else:
            # Cast into r_T, then shift within r_T: left shifts wrap, right shifts drop bits (floor).
            rb0 = _cast_bounds(x.bounds, x.frac, r_t)
            mul = 2.0**up
            div = 2.0 ** -down.astype(float)
            left_fits = Bounds(rb0.lo * mul.max(), rb0.hi * mul.max()).within(r_t.bounds)
            check_exact(
                Bounds(rb0.lo * mul.max(), rb0.hi * mul.max()), f"layer '{name}' (po2 scale, r_T {r_t})"
            )
            yb = (
                Bounds(min(rb0.lo * mul.max(), rb0.lo), max(rb0.hi * mul.max(), rb0.hi))
                if left_fits
                else r_t.bounds
            )
            f = max(r_t.frac, bfrac)
            bb = bq * 2.0 ** (f - bfrac)
            sb = Bounds(yb.lo * 2.0 ** (f - r_t.frac) + bb.min(), yb.hi * 2.0 ** (f - r_t.frac) + bb.max())
            check_exact(sb, f"layer '{name}' (po2 scale plus bias)")

            def run(xq):
                y, _ = cast(xq, x.frac, x.bounds, r_t)
                y = y * mul
                if not left_fits:
                    y, _ = cast(y, r_t.frac, r_t.bounds, r_t)  # wrap inside r_T
                y = np.floor(y * div)
                if f != r_t.frac:
                    y = y * 2.0 ** (f - r_t.frac)
                return cast(y + bb, f, sb, res_t)[0]

        return Op(name, list(layer.inputs), Info(res_t.frac, _cast_bounds(sb, f, res_t), size), run)

    sq, st = weight_codes(layer, "scale")
    sq = np.tile(sq.ravel(), reps)
    pf = x.frac + st.frac
    f = max(pf, bfrac)
    ps = 2.0 ** (f - pf)
    bb = bq * 2.0 ** (f - bfrac)
    lo = np.minimum(sq * x.bounds.lo, sq * x.bounds.hi) * ps + bb
    hi = np.maximum(sq * x.bounds.lo, sq * x.bounds.hi) * ps + bb
    sb = Bounds(float(lo.min()), float(hi.max()))
    check_exact(
        Bounds(-max(abs(sb.lo), abs(sb.hi), float(np.abs(sq).max()) * x.bounds.maxabs * ps), 0),
        f"layer '{name}' (BatchNormalization)",
    )

    def run(xq):
        y = xq * sq
        if ps != 1:
            y *= ps
        y += bb
        return cast(y, f, sb, res_t, inplace=True)[0]

    return Op(name, list(layer.inputs), Info(res_t.frac, _cast_bounds(sb, f, res_t), size), run)


def _input_width(layer) -> int:
    p = layer.get_input_variable().type.precision
    return int(p.width)


# ---------------------------------------------------------------------------------------------- reshape


def build_identity(layer, ins: list[Info]) -> Op:
    (x,) = ins
    return Op(layer.name, list(layer.inputs), x, lambda q: q, native={"kind": "copy"})


BUILDERS: dict[str, Callable[..., Op]] = {
    "Input": build_input,
    "InputLayer": build_input,
    "Dense": build_dense,
    "Activation": build_activation,
    "Merge": build_merge,
    "Concatenate": build_concatenate,
    "BatchNormalization": build_normalize,
    "ApplyAlpha": build_normalize,
    "Conv2D": build_conv2d,
    "Pooling2D": build_pooling2d,
    "Reshape": build_identity,
    "Flatten": build_identity,
}
