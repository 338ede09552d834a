"""Saving and loading QKeras models.

QKeras layers and quantizers are not known to plain Keras: loading an .h5 without them fails deep in
Keras with a message about an unknown layer. Every load in l1ml goes through here so that the custom
objects are always registered and the error names the file.
"""

from __future__ import annotations

from pathlib import Path

from l1ml.errors import ConfigError


def custom_objects() -> dict:
    """QKeras layers and quantizers, plus l1ml's own training layers, as Keras needs them to
    deserialise a model."""
    from l1ml.models import ae

    return ae.custom_objects()


def load_model(path: str | Path):
    """A Keras/QKeras model from an .h5 (or SavedModel/.keras) file, without its training state."""
    import tensorflow as tf

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"model file {p} not found")
    try:
        return tf.keras.models.load_model(p, custom_objects=custom_objects(), compile=False)
    except (ValueError, OSError, TypeError, KeyError) as exc:
        raise ConfigError(f"{p}: cannot load as a Keras/QKeras model: {exc}") from None


def save_model(model, path: str | Path) -> Path:
    """Write the model (architecture and weights) as HDF5; the optimizer state is not kept."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    model.save(p, include_optimizer=False, save_format="h5")
    return p


def clone_functional(model, dtype: str | None = None, hook=None, skip: dict[str, str] | None = None):
    """Rebuild a functional model layer by layer from each layer's own get_config().

    Keras 2.14's model-level from_config cannot round-trip QActivation (it leaves the quantizer a dict),
    so copies are made per layer. `hook(name, config) -> config` may edit a layer's config; `skip` maps a
    layer to drop onto the layer whose output replaces it. Weights of kept layers are copied; the caller
    sets any it changed. Returns (new model, {name: new layer}).
    """
    import tensorflow as tf

    skip = skip or {}
    cfg = model.get_config()
    tensors: dict[tuple, object] = {}
    new_layers: dict = {}

    def source(ref) -> tuple:
        name, node, t = ref[0], ref[1], ref[2]
        return (skip[name], 0, 0) if name in skip else (name, node, t)

    for lc in cfg["layers"]:
        name = lc["name"]
        old = model.get_layer(name)
        if lc["class_name"] == "InputLayer":
            shape = old.get_config()["batch_input_shape"]
            tensors[(name, 0, 0)] = tf.keras.Input(batch_shape=shape, name=name, dtype=dtype or old.dtype)
            continue
        for node_index, node in enumerate(lc["inbound_nodes"]):
            args = [tensors[source(ref)] for ref in node]
            if name in skip:
                continue
            if name not in new_layers:
                conf = old.get_config()
                if dtype:
                    conf["dtype"] = dtype
                if hook:
                    conf = hook(name, conf)
                new_layers[name] = type(old).from_config(conf)
            out = new_layers[name](args[0] if len(args) == 1 else args)
            for t_index, t in enumerate(out if isinstance(out, list) else [out]):
                tensors[(name, node_index, t_index)] = t
    inputs = [tensors[(n, i, t)] for n, i, t in cfg["input_layers"]]
    outputs = [tensors[source(ref)] for ref in cfg["output_layers"]]
    new = tf.keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
    for name, layer in new_layers.items():
        weights = model.get_layer(name).get_weights()
        if weights and [w.shape for w in weights] == [w.shape for w in layer.get_weights()]:
            layer.set_weights([w.astype(dtype) if dtype else w for w in weights])
    return new, new_layers


def predict_exact(model, x, batch_size: int = 4096) -> list:
    """The model's outputs computed in float64, as a list of arrays.

    Software validation runs the deployed model this way: the on-chip sums of products (the score's
    sum of squares reaches ~46 significant bits) are exact in float64 and would be rounded by float32's
    24-bit mantissa. QKeras quantizers follow Keras' floatx, so it is switched for the duration only.
    """
    import numpy as np
    import tensorflow as tf

    old = tf.keras.backend.floatx()
    tf.keras.backend.set_floatx("float64")
    try:
        clone, _ = clone_functional(model, dtype="float64")
        out = clone.predict(np.asarray(x, np.float64), batch_size=batch_size, verbose=0)
    finally:
        tf.keras.backend.set_floatx(old)
    return [np.asarray(o, np.float64) for o in (out if isinstance(out, list) else [out])]


def layer_outputs_exact(model, x, names: list[str]) -> dict:
    """The outputs of the named layers, computed in float64 like predict_exact."""
    import numpy as np
    import tensorflow as tf

    old = tf.keras.backend.floatx()
    tf.keras.backend.set_floatx("float64")
    try:
        clone, _ = clone_functional(model, dtype="float64")
        outs = [clone.get_layer(n).output for n in names]
        probe = tf.keras.Model(clone.inputs, outs)
        res = probe.predict(np.asarray(x, np.float64), verbose=0)
    finally:
        tf.keras.backend.set_floatx(old)
    res = res if isinstance(res, list) else [res]
    return {n: np.asarray(r, np.float64) for n, r in zip(names, res, strict=True)}
