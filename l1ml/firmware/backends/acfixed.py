"""How hls4ml writes a precision as ac_fixed (its Catapult, Quartus and oneAPI backends), where that differs
from the ap_fixed it writes for Vitis/Vivado, so that the emulator computes in the type the C++ declares.

ac_fixed's own arithmetic needs no special case in the emulator: its quantization modes (AC_TRN, AC_RND,
AC_RND_CONV, ...) and overflow modes (AC_WRAP, AC_SAT, AC_SAT_ZERO, AC_SAT_SYM) are defined like ap_fixed's
(ac_types/include/ac_fixed.h, quantization_adjust and overflow_adjust), and the tests in tests/backends
compare the compiled C++ with the emulator at 0 LSB. What differs is the *type*:

- Width 1 becomes width 2 with the same integer bits (hls4ml ACFixedPrecisionDefinition.definition_cpp:
  "oneAPI ac_fixed requires at least two bits"), which adds one *fractional* bit and moves the saturation
  limit: ufixed<1,0,RND_CONV,SAT> holds {0, 0.5}; the written ac_fixed<2,0,false,AC_RND_CONV,AC_SAT> holds
  {0, 0.25, 0.5, 0.75}. The firmware then differs from the software model wherever such a layer sees a
  value above 0.5; `widened_layers` lists them at conversion so that it is said, not discovered.
- Saturation bits are dropped with a warning; the emulator refuses them (fixed.from_hls) as it does for
  ap_fixed.
"""

from __future__ import annotations

from l1ml.errors import UnsupportedError
from l1ml.fixed import is_ac, written_width


def widened_layers(hls_model) -> list[dict]:
    """Every layer variable whose ac_fixed type hls4ml writes wider than its precision says."""
    out = []
    for layer in hls_model.get_layers():
        for key, t in layer.types.items():
            p = t.precision
            if is_ac(p) and written_width(p) != int(getattr(p, "width", 0) or 0):
                kind = "fixed" if p.signed else "ufixed"
                out.append(
                    {
                        "layer": layer.name,
                        "type": key,
                        "precision": f"{kind}<{p.width},{p.integer}>",
                        "written": p.definition_cpp(),
                    }
                )
    return out


# hls4ml layer classes whose Catapult/Quartus C++ tests/backends has compared with the emulator at 0 LSB
# (the dense AE: its dense layers, quantized ReLUs, the score's subtract/multiply). The Catapult CNN AE was
# measured to differ (Conv2D/pooling: under 1% of outputs equal), so any other class is refused on these
# backends rather than emulated on trust.
VERIFIED_CLASSES = ("Input", "InputLayer", "Dense", "Activation", "Merge", "Reshape")


def check_verified(layer) -> None:
    """Refuse a layer of an ac_fixed backend whose firmware the emulator has not been checked against."""
    types = [t.precision for t in layer.types.values()]
    if not any(is_ac(p) for p in types):
        return
    backend = type(layer.model.config.backend).__name__.removesuffix("Backend")
    if layer.class_name == "Dense":
        # Verified: Catapult's latency dense and Quartus's resource dense (hls4ml's only io_parallel one),
        # both at reuse factor 1. Other implementations schedule their accumulation differently.
        strategy = str(layer.get_attr("strategy", "latency")).lower()
        reuse = int(layer.get_attr("reuse_factor", 1) or 1)
        if reuse != 1 or strategy == "compressed" or (backend == "Catapult" and strategy != "latency"):
            raise UnsupportedError(
                f"layer '{layer.name}' (Dense): {backend}'s {strategy} dense at reuse factor {reuse} is not "
                "verified against the emulator; only the Latency strategy at reuse factor 1 is"
            )
        return
    if layer.class_name == "Conv2D" and int(layer.get_attr("filt_height", 0) or 0) == 1:
        # The score head's pT mask is a (1, 3) convolution over each object's (pT, eta, phi): its C++ was
        # measured equal to the emulator at 0 LSB for Catapult on the dense AE. Taller kernels (the CNN AE's
        # 3x3) were measured to differ, so they stay refused.
        return
    if layer.class_name in VERIFIED_CLASSES:
        return
    raise UnsupportedError(
        f"layer '{layer.name}' ({layer.class_name}): hls4ml's {backend} (ac_fixed) implementation of this layer "
        "differs from the emulator (measured on the CNN AE); only Dense, activations, merges, reshapes and "
        "one-row convolutions are verified bit-exact for these backends"
    )
