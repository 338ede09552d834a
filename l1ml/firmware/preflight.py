"""What the bit-exact network flow handles, checked before any slow step: layer types, activations and
QKeras quantizers, each refusal naming the layer, what is wrong and what is supported."""

from __future__ import annotations

from l1ml.errors import ConversionError

# Quantizers whose hls4ml mapping l1ml has verified bit-exact (tests/convert, tests/fidelity).
SUPPORTED_QUANTIZERS = ("quantized_bits", "quantized_relu")


# Keras layer classes the whole flow (hls4ml, the bit-exact emulator, float64 validation) handles.
FLOW_LAYERS = (
    "InputLayer",
    "Dense",
    "QDense",
    "Conv2D",
    "QConv2D",
    "Activation",
    "QActivation",
    "ReLU",
    "Flatten",
    "Reshape",
    "AveragePooling2D",
    "MaxPooling2D",
    "Add",
    "Subtract",
    "Multiply",
    "Concatenate",
    "Dropout",
)
# Float activations the firmware computes exactly; the others (softmax, sigmoid, tanh...) come from lookup
# tables in firmware and cannot equal the software model bit for bit.
EXACT_ACTIVATIONS = ("linear", "relu")


def preflight(model, ptq: bool = False) -> None:
    """Refuse, before any slow step, layers and quantizers the bit-exact flow cannot handle, naming the
    layer, what is wrong and what is supported. With `ptq` (a float model, firmware/ptq.py) the firmware
    is checked against the emulator, not the float software: activations the emulator reproduces from
    hls4ml's own tables (sigmoid, tanh) are then allowed."""
    from l1ml.firmware.ptq import EMULATED_ACTIVATIONS
    from l1ml.firmware.quantizers import check_weight_quantizer, firmware_type, is_quantizer

    exact = EMULATED_ACTIVATIONS if ptq else EXACT_ACTIVATIONS
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "BatchNormalization" and ptq:
            continue  # a float model's BN is quantized with it: fused into its Dense by hls4ml, or emulated
        if cls in ("BatchNormalization", "QBatchNormalization"):
            # hls4ml computes a kept BN as its own layer in a default precision: not what the model computes
            raise ConversionError(
                f"layer '{layer.name}': {cls} is kept in the deployed model; the firmware would scale by "
                "weights that are not the model's. It must directly follow a QDense/QConv2D read by "
                "nothing else, so that import or training folds it (see docs/conversion.md)"
            )
        if cls not in FLOW_LAYERS:
            raise ConversionError(
                f"layer '{layer.name}': layer type {cls} is not supported for this flow (hls4ml firmware, "
                f"bit-exact emulation and validation); supported: {', '.join(FLOW_LAYERS)}"
            )
        cfg = layer.get_config()
        for key in ("kernel_quantizer", "bias_quantizer"):
            if cfg.get(key) is not None:
                check_weight_quantizer(layer.name, key, cfg[key])
        act = cfg.get("activation")
        if cls == "QActivation" or is_quantizer(act):
            firmware_type(layer.name, "activation", act)
        elif cls == "ReLU" and (cfg.get("max_value") is not None or cfg.get("negative_slope")):
            raise ConversionError(
                f"layer '{layer.name}': ReLU with max_value/negative_slope is not exact in this flow; "
                "use a plain ReLU or QActivation(quantized_relu)"
            )
        elif act is not None and describe_activation(act) not in exact and ptq:
            raise ConversionError(
                f"layer '{layer.name}': activation '{describe_activation(act)}' is not reproduced bit for "
                f"bit by the emulator, which a post-training-quantized firmware is checked against; "
                f"supported: {', '.join(exact)}"
            )
        elif act is not None and describe_activation(act) not in exact:
            raise ConversionError(
                f"layer '{layer.name}': activation '{describe_activation(act)}' is computed from a lookup "
                f"table in firmware and cannot equal the software model bit for bit; the bit-exact flow "
                f"supports {', '.join(EXACT_ACTIVATIONS)} and QActivation(quantized_bits/quantized_relu)"
            )


def describe_activation(act) -> str:
    if isinstance(act, dict):
        return str(act.get("config", {}).get("activation", act.get("class_name", act)))
    return str(getattr(act, "__name__", act))
