"""C++ for a compiled emulation kernel, from the emulator's own ops (their `native` descriptions).

Every op the numpy emulator runs on a batch becomes a few loops over one event's int64 codes. The
description holds exactly what the numpy closure computes with (integer weights already scaled to the
accumulator's LSB, the bias cast to accum_t, the types), so the two share one derivation from hls4ml's
layers: nn_layers.py. A network with any op that has no description is refused (NotNative) and runs on
numpy alone.
"""

from __future__ import annotations

import numpy as np

from l1ml.errors import L1mlError
from l1ml.fixed import FixedType

MAX_WIDTH = 62  # int64 with room for the sign and for W-bit masks (1 << W) in the generated casts


class NotNative(L1mlError):
    """The network has an op the compiled kernel does not describe; numpy runs it."""


def _cast_plain(expr: str, frac: int, t: FixedType, slot: int | None = None) -> str:
    """One ap_fixed cast; with `slot`, the values its overflow mode brings into range are also added to
    cnt[slot] (explore's counting, as fixed.cast tallies them)."""
    if t.width > MAX_WIDTH:
        raise NotNative(f"type {t} is wider than the kernel's {MAX_WIDTH} bits")
    shift = frac - t.frac
    sg = "true" if t.signed else "false"
    if slot is None:
        return f"ovf<{t.width}, {sg}, {t.overflow}>(quant<{shift}, {t.rounding}>({expr}))"
    return f"ovfc<{t.width}, {sg}, {t.overflow}>(quant<{shift}, {t.rounding}>({expr}), cnt[{slot}])"


def _doubles(a) -> list[str]:
    return [repr(float(x)) for x in _ints(a)]


def _ints(a) -> list[str]:
    v = np.asarray(a, dtype=np.float64).ravel()
    if not np.array_equal(v, np.round(v)) or (np.abs(v) >= 2.0**62).any():
        raise NotNative("a constant is not an integer code below 2**62")
    return [str(int(x)) for x in v]


def program(emu, name: str, pre=None, count: bool = False) -> dict:
    """The template's context for NNEmulator `emu`: consts, per-event body lines, outputs; with
    Preprocessing `pre`, also the entry point that takes hardware integers. `count`: every cast also
    counts the values its overflow mode brings into range, per (layer, word) slot as fixed.count_overflows
    names them (the context's `counts`); the kernel then takes input codes only."""
    from l1ml.fixed import OVERFLOW_WORDS

    slots: list[tuple[str, str]] = []
    layer = [""]

    def _cast(expr: str, frac: int, t: FixedType) -> str:
        if not count:
            return _cast_plain(expr, frac, t)
        key = (layer[0], OVERFLOW_WORDS.get(t.overflow, t.overflow.lower()))
        if key not in slots:
            slots.append(key)
        return _cast_plain(expr, frac, t, slots.index(key))

    var: dict[str, str] = {}
    size: dict[str, int] = {}
    body: list[str] = []
    consts: list[dict] = []
    n_in = in_type = None
    for k, op in enumerate(emu.ops):
        d = op.native
        if d is None:
            raise NotNative(f"layer '{op.name}' has no compiled form")
        v = f"v{k}"
        n = op.info.size
        kind = d["kind"]
        layer[0] = op.name
        if kind == "input":
            if n_in is not None:
                raise NotNative("more than one input")
            n_in, v = n, "xin"  # the entry points fill it (codes, or hardware integers preprocessed)
            in_type = op.fixed
        elif kind == "copy":
            body.append(f"const int64_t *{v} = {var[op.inputs[0]]};")
        elif kind == "cast":
            x = var[op.inputs[0]]
            arg = f"({x}[i] > 0 ? {x}[i] : 0)" if d["relu"] else f"{x}[i]"
            body.append(f"int64_t {v}[{n}];")
            body.append(f"for (int i = 0; i < {n}; ++i) {v}[i] = {_cast(arg, d['frac'], d['t'])};")
        elif kind == "merge":
            a, b = var[op.inputs[0]], var[op.inputs[1]]
            sa = f"{a}[i] * {2 ** d['sa']}" if d["sa"] else f"{a}[i]"
            sb = f"{b}[i] * {2 ** d['sb']}" if d["sb"] else f"{b}[i]"
            expr = {
                "add": f"{sa} + {sb}",
                "average": f"{sa} + {sb}",
                "subtract": f"{sa} - {sb}",
                "multiply": f"{a}[i] * {b}[i]",
                "maximum": f"({sa} > {sb} ? {sa} : {sb})",
                "minimum": f"({sa} < {sb} ? {sa} : {sb})",
            }.get(d["op"])
            if expr is None:
                raise NotNative(f"layer '{op.name}': merge '{d['op']}'")
            body.append(f"int64_t {v}[{n}];")
            body.append(f"for (int i = 0; i < {n}; ++i) {v}[i] = {_cast(expr, d['frac'], d['t'])};")
        elif kind == "maxpool":
            x, win = var[op.inputs[0]], d["window"]
            consts.append({"name": f"G{k}", "type": "int32_t", "data": _ints(d["index"])})
            # a padded cell holds pad_value (the input type with only its top bit set), as nnet's pad_val
            cell = f"(g < {d['pad']} ? {x}[g] : int64_t({d['pad_value']}))"
            inner = _cast(_cast("m", d["frac"], d["acc"]), d["acc"].frac, d["t"])
            body += [
                f"int64_t {v}[{n}];",
                f"for (int o = 0; o < {n}; ++o) {{",
                f"    const int32_t *gw = G{k} + o * {win};",
                "    int64_t m = INT64_MIN;",
                f"    for (int l = 0; l < {win}; ++l) {{",
                "        const int32_t g = gw[l];",
                f"        const int64_t c = {cell};",
                "        m = c > m ? c : m;",
                "    }",
                f"    {v}[o] = {inner};",
                "}",
            ]
        elif kind == "avgpool":
            # nnet's average pooling: the window's sum in accum_t (padding adds 0), divided by the count
            # of cells in the input (C++ integer division: towards zero), then cast to the result type
            x, win, acc_t = var[op.inputs[0]], d["window"], d["acc"]
            consts.append({"name": f"G{k}", "type": "int32_t", "data": _ints(d["index"])})
            div = np.asarray(d["div"]).ravel()
            if (div == div[0]).all():
                # one count for every window (no padding, or count_pad): a constant divisor, which g++
                # turns into a multiply and shifts (C semantics kept) instead of a 64-bit idiv per output
                divisor = str(int(div[0]))
            else:
                consts.append({"name": f"D{k}", "type": "int64_t", "data": _ints(div)})
                divisor = f"D{k}[o]"
            summed = _cast(f"s * {d['up']}", acc_t.frac, acc_t)
            averaged = _cast(f"s / {divisor}", acc_t.frac, d["t"])
            body += [
                f"int64_t {v}[{n}];",
                f"for (int o = 0; o < {n}; ++o) {{",
                f"    const int32_t *gw = G{k} + o * {win};",
                "    int64_t s = 0;",
                f"    for (int l = 0; l < {win}; ++l) s += gw[l] < {d['pad']} ? {x}[gw[l]] : 0;",
                f"    s = {summed};",
                f"    {v}[o] = {averaged};",
                "}",
            ]
        elif kind == "dense" and d.get("pixels", 1) > 1 and _int32_bound(d, emu.infos[op.inputs[0]].bounds) < 2**31:
            body += _conv_int32(k, v, var[op.inputs[0]], d, consts, _cast)
        elif kind == "dense":
            x = var[op.inputs[0]]
            ni, no, pixels = d["n_in"], d["n_out"], d.get("pixels", 1)
            w, b = f"W{k}", f"B{k}"
            if d.get("gather") is not None:
                # im2col through a table: each pixel's window gathered into xw, padding reads 0
                g = d["gather"]
                consts.append({"name": f"G{k}", "type": "int32_t", "data": _ints(g["index"])})
                body += [
                    f"int64_t xw{k}[{pixels * ni}];",
                    f"for (int i = 0; i < {pixels * ni}; ++i) {{",
                    f"    const int32_t g = G{k}[i];",
                    f"    xw{k}[i] = g < {g['pad']} ? {x}[g] : int64_t({g['pad_value']});",
                    "}",
                ]
                x = f"xw{k}"
            acc = "acc" if d["acc"] is None else _cast("acc", d["frac"], d["acc"])
            # The multiply-accumulate in double, as the numpy emulator's BLAS does: every product and
            # partial sum is an integer below 2**53 (nn_layers checks the bound), so none rounds. The
            # outputs go in vector registers (GCC vector types, VLEN doubles), the weight rows padded with
            # zeros to multiples of 8: g++ left to itself kept the accumulators in scalar registers.
            if no >= 8:
                nb = -(-no // 8)
                wp = np.pad(np.asarray(d["w"], dtype=np.float64).reshape(ni, no), ((0, 0), (0, nb * 8 - no)))
                body += [
                    f"int64_t {v}[{n}];",
                    f"for (int p = 0; p < {pixels}; ++p) {{",
                    f"    const int64_t *x = {x} + p * {ni};",
                    f"    vd acc8[{nb * 8} / VLEN];",
                    f"    const vd *bv = reinterpret_cast<const vd *>({b});",
                    f"    for (int k = 0; k < {nb * 8} / VLEN; ++k) acc8[k] = bv[k];",
                    # No skipping of zero inputs: which inputs are padding varies by event, and the
                    # mispredicted branch cost more than the multiplies it saved (measured).
                    f"    for (int i = 0; i < {ni}; ++i) {{",
                    "        const double xi = double(x[i]);",
                    f"        const vd *w = reinterpret_cast<const vd *>({w} + i * {nb * 8});",
                    f"        for (int k = 0; k < {nb * 8} / VLEN; ++k) acc8[k] += xi * w[k];",
                    "    }",
                    "    const double *accd = reinterpret_cast<const double *>(acc8);",
                ]
            elif ni < 8:
                # A handful of inputs and outputs (the score head's pT-mask convolution, per object):
                # plain scalar sums, which g++ unrolls; vectors of 8 would be mostly padding.
                wp = np.pad(np.asarray(d["w"], dtype=np.float64).ravel(), (0, -(-ni * no // 8) * 8 - ni * no))
                body += [
                    f"int64_t {v}[{n}];",
                    f"for (int p = 0; p < {pixels}; ++p) {{",
                    f"    const int64_t *x = {x} + p * {ni};",
                    f"    const double *wd = {w};",
                    f"    const double *bd = {b};",
                    f"    double accd[{no}];",
                    f"    for (int j = 0; j < {no}; ++j) {{",
                    "        double s = bd[j];",
                    f"        for (int i = 0; i < {ni}; ++i) s += double(x[i]) * wd[i * {no} + j];",
                    "        accd[j] = s;",
                    "    }",
                ]
            else:
                # Few outputs (the score): one dot product per output over the
                # inputs in blocks of 8, the weights transposed. Any order of the sums is exact, as
                # every partial sum is an integer below the same 2**53 bound.
                nb = -(-ni // 8)
                wp = np.pad(
                    np.asarray(d["w"], dtype=np.float64).reshape(ni, no).T, ((0, 0), (0, nb * 8 - ni))
                )
                body += [
                    f"int64_t {v}[{n}];",
                    f"for (int p = 0; p < {pixels}; ++p) {{",
                    f"    const int64_t *x = {x} + p * {ni};",
                    f"    vd x8[{nb * 8} / VLEN] = {{}};",
                    "    double *xd = reinterpret_cast<double *>(x8);",
                    f"    for (int i = 0; i < {ni}; ++i) xd[i] = double(x[i]);",
                    f"    double accd[{no}];",
                    f"    for (int j = 0; j < {no}; ++j) {{",
                    "        vd s = {};",
                    f"        const vd *w = reinterpret_cast<const vd *>({w} + j * {nb * 8});",
                    f"        for (int k = 0; k < {nb * 8} / VLEN; ++k) s += x8[k] * w[k];",
                    "        double t = 0;",
                    "        for (int l = 0; l < VLEN; ++l) t += s[l];",
                    f"        accd[j] = {b}[j] + t;",
                    "    }",
                ]
            body += [
                f"    for (int j = 0; j < {no}; ++j) {{",
                "        const int64_t acc = int64_t(accd[j]);",
                f"        {v}[p * {no} + j] = {_cast(acc, d['frac'], d['t'])};",
                "    }",
                "}",
            ]
            bp = np.pad(np.asarray(d["b"], dtype=np.float64).ravel(), (0, -(-no // 8) * 8 - no))
            consts.append({"name": w, "type": "double", "data": _doubles(wp)})
            consts.append({"name": b, "type": "double", "data": _doubles(bp)})
        else:
            raise NotNative(f"layer '{op.name}': kind {kind!r}")
        var[op.name] = v
        size[op.name] = n
    if n_in is None:
        raise NotNative("no input")
    if count and not slots:
        slots.append(("", "none"))  # no cast at all: one idle counter keeps the entry point's signature
    outputs = [
        {"name": o, "var": var[o], "size": size[o], "scale": repr(2.0 ** -emu.infos[o].frac)}
        for o in emu.output_names
    ]
    return {
        "name": name,
        "consts": consts,
        "body": body,
        "outputs": outputs,
        "n_in": n_in,
        "hw": _hardware_entry(pre, in_type, n_in) if pre is not None and not count else None,
        "counts": [list(k) for k in slots] if count else None,
    }


def _int32_bound(d: dict, xb) -> float:
    """The largest |partial sum| (bias included) of a Dense/Conv2D description over inputs within `xb`
    (and its padding value): below 2**31, every product and partial sum fits int32 lanes exactly."""
    w = np.abs(np.asarray(d["w"], dtype=np.float64).reshape(d["n_in"], d["n_out"]))
    pad = abs(float((d.get("gather") or {}).get("pad_value", 0)))
    maxabs = max(abs(float(xb.lo)), abs(float(xb.hi)), pad)
    if maxabs >= 2**31:
        return float("inf")  # the inputs themselves do not fit the int32 copy
    return float((w.sum(axis=0) * maxabs + np.abs(np.asarray(d["b"], dtype=np.float64).ravel())).max())


def _conv_int32(k: int, v: str, x: str, d: dict, consts: list, cast) -> list[str]:
    """A convolution (a Dense per output pixel) whose sums fit int32: direct, with the pixels as the
    vector lanes. The window's inputs are gathered once into a (tap, pixel) table, then for every tap and
    filter one weight (a compile-time constant) multiplies a row of pixels into that filter's row of
    accumulators: 8 int32 lanes per AVX2 instruction, against 4 doubles, and no per-pixel im2col rows.
    Exact: _int32_bound proves every product and partial sum below 2**31; any order of exact integer
    sums gives the same total."""
    ni, no, pixels = d["n_in"], d["n_out"], d["pixels"]
    pp = -(-pixels // 8) * 8  # pixels padded to whole vectors; the padded lanes are computed, never read
    g = d.get("gather")
    idx = np.asarray(g["index"]).reshape(pixels, ni) if g is not None else np.arange(pixels * ni).reshape(pixels, ni)
    pad = int(g["pad"]) if g is not None else pixels * ni
    pad_value = int(g["pad_value"]) if g is not None else 0
    table = np.full((ni, pp), pad, dtype=np.int64)
    table[:, :pixels] = idx.T
    w = np.asarray(d["w"], dtype=np.float64).reshape(ni, no)
    consts.append({"name": f"T{k}", "type": "int32_t", "data": _ints(table)})
    consts.append({"name": f"WI{k}", "type": "int32_t", "data": _ints(w)})
    consts.append({"name": f"BI{k}", "type": "int32_t", "data": _ints(d["b"])})
    acc = "acc" if d["acc"] is None else cast("acc", d["frac"], d["acc"])
    # The source as int32 once, with one more cell holding the padding value: the gather below then
    # has no branch (the profile showed the per-cell padding test and int64 loads dominating).
    return [
        f"alignas(32) int32_t xs{k}[{pad + 1}];",
        f"for (int i = 0; i < {pad}; ++i) xs{k}[i] = int32_t({x}[i]);",
        f"xs{k}[{pad}] = int32_t({pad_value});",
        f"alignas(32) int32_t xt{k}[{ni * pp}];",
        f"for (int i = 0; i < {ni * pp}; ++i) xt{k}[i] = xs{k}[T{k}[i]];",
        # Filter by filter, its row of accumulators (pp int32 lanes) stays in vector registers over
        # every tap: loads of the gathered inputs only (accumulators in memory measured slower).
        f"int64_t {v}[{pixels * no}];",
        f"for (int f = 0; f < {no}; ++f) {{",
        f"    alignas(32) int32_t ar[{pp}];",
        f"    for (int p = 0; p < {pp}; ++p) ar[p] = BI{k}[f];",
        f"    for (int l = 0; l < {ni}; ++l) {{",
        f"        const int32_t w = WI{k}[l * {no} + f];",
        "        if (w == 0) continue;  // the same weights every event: a branch always predicted",
        f"        const int32_t *__restrict xr = xt{k} + l * {pp};",
        f"        for (int p = 0; p < {pp}; ++p) ar[p] += w * xr[p];",
        "    }",
        f"    for (int p = 0; p < {pixels}; ++p) {{",
        "        const int64_t acc = ar[p];",
        f"        {v}[p * {no} + f] = {cast(acc, d['frac'], d['t'])};",
        "    }",
        "}",
    ]


def hardware_entry_ok(pre, in_type: FixedType | None, n_in: int) -> bool:
    """Whether the kernel can preprocess hardware integers itself: the cases where hardware_codes computes
    the codes directly (a 57-input network, and no shift dropping bits the input type would round)."""
    return (
        pre is not None
        and in_type is not None
        and n_in == 57
        and len(pre.shifts) == 57
        and all(int(sh) <= in_type.frac for sh in pre.shifts)
        and in_type.width <= MAX_WIDTH
    )


def _hardware_entry(pre, in_type: FixedType, n_in: int) -> dict | None:
    if not hardware_entry_ok(pre, in_type, n_in):
        return None
    try:
        offsets = _ints(pre.offsets)
    except NotNative:
        return None  # offsets that are not whole hardware units: the numpy preprocessing handles them
    muls = [str(2 ** (in_type.frac - int(sh))) for sh in pre.shifts]
    # hardware_codes applies the input type's overflow to the scaled code; no rounding (whole codes).
    return {
        "offsets": offsets,
        "muls": muls,
        "cast": _cast_plain("(int64_t(h[i]) - OFF[i]) * MUL[i]", in_type.frac, in_type),
    }


def render_header(emu, name: str, pre, namespace: str) -> str:
    """network.h for a deployed library: the network and the hardware preprocessing in `namespace`."""
    ctx = program(emu, name, pre)
    if ctx["hw"] is None:
        raise NotNative("the preprocessing cannot be folded into the kernel (see hardware_entry_ok)")
    return _env().get_template("network.h.j2").render(**ctx, namespace=namespace)


def _env():
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(emu, name: str, pre=None, count: bool = False) -> str:
    """kernel.cpp: the ctypes entry points (input codes; hardware integers when `pre` folds in; with
    `count`, overflow counters per (layer, word): program()'s `counts`)."""
    return render_context(program(emu, name, pre, count))


def render_context(ctx: dict) -> str:
    """kernel.cpp from program()'s context."""
    return _env().get_template("kernel.cpp.j2").render(**ctx)
