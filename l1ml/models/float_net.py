"""Float networks: a Keras model whose own layers carry unquantized weights (no QKeras layer). Import
records it in the model manifest; conversion gives such a network post-training-quantization precisions
(l1ml/firmware/ptq.py)."""

from __future__ import annotations

# Layers whose weights a float network carries unquantized (hls4ml quantizes them to the config's types).
WEIGHTED = ("Dense", "Conv1D", "Conv2D")


def is_float_model(model) -> bool:
    """True when the network outside l1ml's score head has weighted layers and no QKeras layer.

    A QKeras model with one float layer in it is not a float model: its quantized layers say what the
    firmware computes, and the float one is refused by name at conversion (l1ml/firmware/)."""
    own = [layer for layer in model.layers if not layer.name.startswith("score")]
    if any(type(layer).__module__.startswith("qkeras") for layer in own):
        return False
    return any(type(layer).__name__ in WEIGHTED for layer in own)
