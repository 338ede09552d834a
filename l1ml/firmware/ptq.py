"""Post-training quantization (PTQ) of float Keras networks: precisions by hls4ml's own rules.

A float network (no QKeras layer in the part the user trained) has no quantizers to read exact types
from, so the firmware computes a quantized version of it by construction. `[firmware] ptq` picks how:

- "default": `hls4ml.utils.config_from_keras_model(granularity="name", default_precision=...)`, exactly as
  hls4ml's tutorial does: float weights and biases take `[firmware] ptq_precision`, accumulators the same
  (hls4ml's `model_default_t`), other results hls4ml's 'auto' inference.
- "profile": the same config, then each float layer's weight, bias and result types are sized from the
  ranges hls4ml's profiling reports (`hls4ml.model.profiling.weights_keras` for |w|, `get_ymodel_keras`
  for each layer's output, pre-activation and post-activation, on the project's background events): the
  width of `ptq_precision`, and the fewest integer bits that hold the largest |value| seen
  (ap_fixed<W,I> holds [-2**(I-1), 2**(I-1)); at least 1). The rounding and overflow modes of
  `ptq_precision` are kept, so `ap_fixed<16,6,AP_RND_CONV,AP_SAT>` saturates beyond the profiled range.

The l1ml score head (QKeras, exact types) and the input type are left as the exact flow sets them, and
hls_configs/*.yml overrides are applied after all of this. The firmware is then no longer equal to the
software model, so validation checks it bit for bit against the emulator instead, and reports what the
quantization costs in physics against the float model (l1ml/validate/ptq.py).
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np

from l1ml.errors import ConfigError
from l1ml.models.float_net import WEIGHTED
from l1ml.project import parse_precision

# hls4ml's profiling labels: weights_keras names a layer's arrays 'w', 'b' (BatchNormalization: 's', 'b').

# Float activations the batch emulator reproduces bit for bit (l1ml/emulate/nn_layers.py build_activation):
# for a PTQ model the firmware is checked against it, not against the float software.
EMULATED_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")


def float_layers(model) -> list[str]:
    """Names of the layers PTQ gives types to: everything outside the score head but the input."""
    return [
        layer.name
        for layer in model.layers
        if not layer.name.startswith("score") and type(layer).__name__ != "InputLayer"
    ]


def integer_bits(maxabs: float) -> int:
    """The fewest integer bits (sign included) of an ap_fixed that holds +/-maxabs: 2**(I-1) > maxabs."""
    if not np.isfinite(maxabs) or maxabs <= 0:
        return 1
    return max(1, math.floor(math.log2(maxabs)) + 2)


def profile(model, x: np.ndarray) -> dict[str, float]:
    """{name: largest |value|}, with hls4ml's own profiling helpers: 'layer/w' and 'layer/b' for weights,
    'layer' for a layer's output before its activation and 'layer_<activation>' after it (hls4ml's names
    for the split activation layers)."""
    import tensorflow as tf
    from hls4ml.model import profiling

    body = tf.keras.Model(model.inputs, model.outputs[0])
    out: dict[str, float] = {}
    # hls4ml's profiling prints progress lines; library code here prints nothing.
    with contextlib.redirect_stdout(io.StringIO()):
        for row in profiling.weights_keras(body, fmt="summary", plot="boxplot"):
            out[row["weight"]] = float(row["whishi"])
        ys = profiling.get_ymodel_keras(body, np.asarray(x, np.float32))
    for name, y in ys.items():
        y = np.abs(np.asarray(y, np.float64))
        out[name] = float(y.max()) if y.size else 0.0
    return out


def _splits_linear(layer) -> bool:
    """True for a layer whose activation hls4ml 1.3.0 splits off as '<name>_linear' (Dense/Conv with a
    linear activation: the Keras parser writes an identity Activation layer for it)."""
    act = getattr(layer, "activation", None)
    return act is not None and getattr(act, "__name__", "") == "linear"


def ptq_config(cfg: dict, model, project, x_profile: np.ndarray | None) -> dict:
    """Apply the project's PTQ mode to an hls4ml config made with config_from_keras_model (in place).
    Returns the record for the firmware manifest: mode, default precision, and per layer what was set
    and the profiled range it came from."""
    fw = project.firmware
    width, _, modes = parse_precision(fw.ptq_precision, f"{project.file} [firmware] ptq_precision")
    record: dict = {"mode": fw.ptq, "default_precision": fw.ptq_precision, "layers": {}}
    if fw.ptq != "profile":
        return record
    if x_profile is None or not len(x_profile):
        raise ConfigError(
            f"{project.file} [firmware] ptq = 'profile' needs the project's background events to profile "
            "the layers' ranges; none could be read"
        )
    ranges = profile(model, x_profile)
    record["profile_events"] = int(len(x_profile))
    layers = cfg["LayerName"]
    keras_names = {layer.name for layer in model.layers}

    def fixed(maxabs: float) -> str:
        i = min(integer_bits(maxabs), width)
        return f"ap_fixed<{width},{i}{modes}>"

    for name in float_layers(model):
        lc = layers.get(name)
        if lc is None:
            continue
        prec = lc.setdefault("Precision", {})
        got = {}
        for key, tag in (("weight", "w"), ("scale", "s"), ("bias", "b")):
            if key in prec and f"{name}/{tag}" in ranges:
                prec[key] = got[key] = fixed(ranges[f"{name}/{tag}"])
        if name in ranges and "result" in prec:
            prec["result"] = got["result"] = fixed(ranges[name])
            if type(model.get_layer(name)).__name__ in WEIGHTED:
                # hls4ml's rule gives the accumulator the model default; it must hold the sum too
                prec["accum"] = got["accum"] = got["result"]
        for act, value in ranges.items():  # hls4ml's split activation layer, e.g. enc_relu
            if act.startswith(f"{name}_") and act in layers and act not in keras_names:
                layers[act].setdefault("Precision", {})["result"] = fixed(value)
                record["layers"][act] = {"result": fixed(value), "max_abs": value}
        linear = f"{name}_linear"
        if "result" in got and linear not in keras_names and _splits_linear(model.get_layer(name)):
            # hls4ml inserts this identity layer after a Dense/Conv with no activation, *after* the config
            # is made, so it is not in LayerName and would keep the model default (ap_fixed<8,3> from an
            # ap_fixed<8,3> ptq_precision) right after the profiled result: wrapping the layer's output at
            # +-4 (issue 26). It carries its layer's output unchanged, so it takes the same type.
            layers.setdefault(linear, {}).setdefault("Precision", {})["result"] = got["result"]
            record["layers"][linear] = {"result": got["result"], "max_abs": ranges.get(name)}
        if got:
            ranges_used = {
                k: ranges.get(f"{name}/{t}") for k, t in (("weight", "w"), ("scale", "s"), ("bias", "b"))
            }
            record["layers"][name] = {
                **got,
                "max_abs": ranges.get(name),
                **{f"max_abs_{k}": v for k, v in ranges_used.items() if v is not None},
            }
    return record
