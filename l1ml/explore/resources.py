"""Resources of a firmware variant: Yosys figures where its open-source RTL was synthesised, else an
estimate from the hls4ml graph, labelled as such.

The estimate counts bit operations, after the BOPs of Baskin et al. (ACM TOCS 2021), the measure
Coelho et al. (Nature Machine Intelligence 3, 675 (2021)) used to compare QKeras/hls4ml models:
    Dense/Conv: for each non-zero weight, b_in * b_w (its multiplier) + b_acc (its adder), where b_in,
    b_w and b_acc are the widths of the layer's input, weight and accumulator types in the variant, plus
    the result width per output (its cast and register);
    element-wise Multiply: b_a * b_b per element; element-wise Add/Subtract: the result width.
It is divided by the layer's reuse factor (a reused multiplier serves several products). Using the
accumulator's width where BOPs has log2(n) makes accumulator precision count. The figure ranks variants
by logic; it is not a LUT, FF or DSP count, and no vendor tool's numbers enter it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ESTIMATE_LABEL = (
    "estimate: bit operations (BOPs after Baskin et al. 2021; per non-zero weight b_in*b_w + b_acc, "
    "per output b_result, per element-wise product b_a*b_b), divided by the reuse factor, from the variant's hls4ml graph; "
    "a relative measure of logic, not LUT/FF/DSP counts"
)


def _width(var_or_type) -> int:
    t = getattr(var_or_type, "type", var_or_type)
    p = getattr(t, "precision", t)
    return int(getattr(p, "width", 0) or 0)


def estimate(hls_model) -> dict:
    """{"bops": total, "bops_per_reuse": what is built in parallel, "layers": {name: bops}}."""
    layers, total, parallel = {}, 0.0, 0.0
    for layer in hls_model.get_layers():
        cls = layer.class_name
        reuse = max(1, int(layer.get_attr("reuse_factor", 1) or 1))
        bops = 0.0
        if cls in ("Dense", "Conv1D", "Conv2D") and "weight" in layer.weights:
            w = np.asarray(layer.weights["weight"].data)
            nz = int(np.count_nonzero(w))
            b_in = _width(layer.get_input_variable())
            b_w = _width(layer.weights["weight"])
            acc = layer.get_attr("accum_t")
            b_acc = _width(acc) if acc is not None else b_in + b_w
            pixels = 1
            if cls == "Conv2D":
                pixels = int(layer.get_attr("out_height", 1)) * int(layer.get_attr("out_width", 1))
            elif cls == "Conv1D":
                pixels = int(layer.get_attr("out_width", 1))
            n_out = int(np.prod(layer.get_output_variable().shape))
            bops = pixels * nz * (b_in * b_w + b_acc) + n_out * _width(layer.get_output_variable())
        elif cls == "Merge":
            op = str(layer.get_attr("op", "")).lower()
            ins = [hls_model.graph[i].get_output_variable() if i in hls_model.graph else None for i in layer.inputs]
            size = int(np.prod(layer.get_output_variable().shape))
            if op == "multiply" and all(ins):
                bops = size * _width(ins[0]) * _width(ins[1])
            else:
                bops = size * _width(layer.get_output_variable())
        if bops:
            layers[layer.name] = bops
            total += bops
            parallel += bops / reuse
    return {"bops": total, "bops_per_reuse": parallel, "layers": layers, "label": ESTIMATE_LABEL}


def yosys_figures(fw_dir: Path) -> dict | None:
    """The variant's open-source synthesis figures (rtl/resources.json, issue 12's contract), if any."""
    f = Path(fw_dir) / "rtl" / "resources.json"
    if not f.is_file():
        return None
    try:
        r = json.loads(f.read_text())
    except json.JSONDecodeError:
        return None
    return {k: r.get(k) for k in ("tool", "flow", "label", "lut", "ff", "dsp", "bram", "latency_cycles")}
