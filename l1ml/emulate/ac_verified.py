"""Which layers of an ac_fixed backend (hls4ml's Catapult, Quartus, oneAPI) the emulator has been checked
against bit for bit; any other is refused rather than emulated on trust. How hls4ml writes ac_fixed types
is in l1ml/firmware/backends/acfixed.py."""

from __future__ import annotations

from l1ml.errors import UnsupportedError
from l1ml.fixed import is_ac

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
