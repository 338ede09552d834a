"""QKeras quantizers -> the firmware types that compute exactly what QKeras computes, or a refusal.

hls4ml 1.3.0 derives an activation's result type from its QKeras quantizer, but two options are lost on
the way (measured, docs/conversion.md "Quantizer options"):
- `quantized_bits(..., symmetric=1)` clips at -(2**(bits-1) - 1) LSB; hls4ml writes AP_SAT, which clips
  one LSB lower (quantized_bits(16, 6, 1): -63.998046875 in QKeras, -64 in firmware; 84% of a model's
  outputs identical when its inputs reach the bound). The exact type is AP_SAT_SYM.
- `quantized_bits(..., keep_negative=False)` has LSB 2**(integer - bits) on [0, 2**integer); hls4ml
  writes ap_fixed<bits, integer + 1>, whose LSB is twice that. The exact type is ap_ufixed<bits, integer>.

For activations l1ml writes the exact type into the hls4ml config itself. For weights hls4ml takes the
type from its own quantizer wrapper and ignores the config, so options that change the weight grid are
refused there (the weights would not be representable). Every refusal names the layer, the option and why.
"""

from __future__ import annotations

from l1ml.errors import ConversionError

WEIGHT_KEYS = ("kernel_quantizer", "bias_quantizer", "depthwise_quantizer", "pointwise_quantizer")
EXACT = ("quantized_bits", "quantized_relu")
# Power-of-two quantizers are implemented by hls4ml as shifts with exponent types, which the batch emulator
# and the bit-exact validation do not model.
PO2 = ("quantized_po2", "quantized_relu_po2")


class QuantizerError(ConversionError):
    """A QKeras quantizer option has no exact firmware type in the l1ml flow."""


def describe(q) -> tuple[str, dict]:
    """(class name, config) of a quantizer given as an object, a string or a serialised dict."""
    from qkeras import get_quantizer

    if isinstance(q, dict) and "class_name" in q:
        q = get_quantizer(q)
    obj = get_quantizer(q) if isinstance(q, str) else q
    if hasattr(obj, "get_config"):
        return type(obj).__name__, dict(obj.get_config())
    return getattr(obj, "__name__", str(obj)), {}


def firmware_type(layer: str, key: str, q) -> str:
    """The hls4ml precision string that holds exactly what quantizer `q` outputs (rounding RND_CONV, as
    QKeras' tf.round; overflow as its clip), or QuantizerError naming the layer, key and option."""
    name, c = describe(q)
    where = f"layer '{layer}': {key} {name}"
    if name in PO2:
        raise QuantizerError(
            f"{where} is a power-of-two quantizer; hls4ml implements it with exponent types that the "
            f"bit-exact emulator and validation do not cover. Use one of {', '.join(EXACT)}"
        )
    if name not in EXACT:
        raise QuantizerError(
            f"{where} is not supported for bit-exact firmware; use one of {', '.join(EXACT)}"
        )
    for opt, ok in (("use_stochastic_rounding", (False, 0, None)), ("qnoise_factor", (1, 1.0, None))):
        if c.get(opt, ok[0]) not in ok:
            raise QuantizerError(
                f"{where} has {opt}={c[opt]!r}; the firmware rounds to nearest-even on every value, "
                f"which l1ml has verified only for {opt}={ok[0]!r}; set it before exporting the model"
            )
    bits, integer = int(c["bits"]), int(c.get("integer", 0))
    if name == "quantized_relu":
        if c.get("use_sigmoid"):
            raise QuantizerError(f"{where} has use_sigmoid=1, a sigmoid the firmware does not compute")
        if c.get("negative_slope"):
            raise QuantizerError(
                f"{where} has negative_slope={c['negative_slope']}: hls4ml makes it a leaky ReLU that "
                "the bit-exact emulator does not cover; use negative_slope=0"
            )
        # relu_upper_bound clips the forward value only with is_quantized_clip=False, which QKeras does
        # not save: a model read from a file always has True, where the bound only shapes the gradient.
        top = 2.0**integer - 2.0 ** (integer - bits)
        ub = c.get("relu_upper_bound")
        if ub is not None and ub < top and getattr(q, "is_quantized_clip", True) is False:
            raise QuantizerError(
                f"{where} has relu_upper_bound={ub} with is_quantized_clip=False, below the type's top "
                f"value {top}; the firmware saturates at the type's top only"
            )
        if bits < 1:
            raise QuantizerError(f"{where} has bits={bits}; at least 1 is needed")
        return f"ufixed<{bits},{integer},RND_CONV,SAT>"
    alpha = c.get("alpha")
    if alpha not in (None, 1, 1.0):
        raise QuantizerError(
            f"{where} has alpha={alpha!r}; only alpha=1 (or None) maps to a plain fixed-point type. "
            "Retrain with alpha=1."
        )
    keep_negative = bool(c.get("keep_negative", True))
    if bits - keep_negative < 1:
        raise QuantizerError(
            f"{where}({bits}, {integer}) has no magnitude bits (QKeras makes it a binary sign quantizer); "
            "use bits >= 2"
        )
    if not keep_negative:
        # clip(round(x * 2**(bits - integer)), 0, 2**bits - 1) * 2**(integer - bits): symmetric is moot
        return f"ufixed<{bits},{integer},RND_CONV,SAT>"
    if bits == integer:
        # hls4ml maps quantized_bits(k, k) to ap_int<k>, but QKeras' grid there has LSB 2 and range
        # [-2**k, 2**k - 2]: the types disagree.
        raise QuantizerError(
            f"{where}({bits}, {integer}) has bits == integer, which hls4ml maps to the wrong integer "
            "type; use integer <= bits - 1"
        )
    overflow = "SAT_SYM" if c.get("symmetric") else "SAT"
    return f"fixed<{bits},{integer + 1},RND_CONV,{overflow}>"


def check_weight_quantizer(layer: str, key: str, q) -> None:
    """A weight or bias quantizer l1ml can make exact. hls4ml types weights from its own wrapper
    (ap_fixed<bits, integer + 1>), so a grid that type does not hold is refused here."""
    t = firmware_type(layer, key, q)
    name, c = describe(q)
    if name == "quantized_relu" or t.startswith("ufixed"):
        raise QuantizerError(
            f"layer '{layer}': {key} {name} with unsigned output (keep_negative=False or relu) has LSB "
            f"2**{int(c.get('integer', 0)) - int(c['bits'])}, but hls4ml types weights as "
            f"ap_fixed<{c['bits']},{int(c.get('integer', 0)) + 1}>, whose LSB is twice that; "
            "use a signed quantized_bits for weights"
        )
    # symmetric weights: QKeras never produces the one code AP_SAT_SYM excludes, so the signed type holds
    # them all and check_weights() confirms it on the written values.


def is_quantizer(act) -> bool:
    if isinstance(act, dict):
        return "quantiz" in str(act.get("class_name", "")) or act.get("module", "").startswith("qkeras")
    return isinstance(act, str) and "(" in act


def exact_activation_types(model) -> dict[str, str]:
    """hls4ml layer name -> the exact result type of each quantized activation (see the module docstring)."""
    out = {}
    for layer in model.layers:
        cfg = layer.get_config()
        act = cfg.get("activation")
        if type(layer).__name__ == "QActivation":
            out[layer.name] = firmware_type(layer.name, "activation", act)
        elif is_quantizer(act):
            name, _ = describe(act)
            out[f"{layer.name}_{name}"] = firmware_type(layer.name, "activation", act)
    return out
