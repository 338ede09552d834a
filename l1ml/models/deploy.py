"""The firmware-ready model: BatchNormalization folded into the quantized weights, and the trigger score
computed in the graph.

Why fold: hls4ml implements a Keras BatchNormalization after a QDense as its own scale-and-shift layer
in a default precision, so the firmware no longer computes what QKeras computes (measured: 54% of the
outputs bit-identical, max difference 0.22). Folding the normalisation into the QDense/QConv2D kernel
and bias, under the layer's own quantizers, gives one layer whose quantized weights *are* what the
firmware multiplies by; fine-tuning afterwards recovers what the re-quantization of the folded weights
cost.

Why the score head is in the graph: the firmware computes the trigger score on chip, so the deployed
software model must compute it the same way, with every step expressible exactly in hls4ml:

    m    = quantized_relu(1, 0)(2**k * pT)       # 0.5 for a present object, 0 for padding
    d    = quantized_bits(D, Di)(x - y)           # the reconstruction error, on a fixed grid
    dm   = d * m                                   # masked, halved
    sq   = dm * dm                                 # = mask * d**2 / 4
    score = Dense(1)(sq) with weights q(4/57)      # the division by 57 is a constant multiply

`quantized_relu(1, 0)` saturates at 0.5 in both QKeras and hls4ml (ap_ufixed<1,0,RND_CONV,SAT>); the
2**k scale lifts the smallest non-zero preprocessed pT (2**-shift) to at least 1 so it saturates too.
The VAE encoder's score is sum(z_mean**2) with the same square-then-Dense pattern.
"""

from __future__ import annotations

import numpy as np

from l1ml.errors import ConfigError

N_INPUTS = 57
N_FEATURES = 3

# The mask scale 2**MASK_SHIFT must reach 1 from the smallest non-zero pT input, 2**-shift. pT in
# hardware units is at most 12 bits, so a fitted shift never exceeds 12; `mask_covers` checks the
# actual preprocessing at conversion time.
MASK_SHIFT = 12
DIFF_BITS, DIFF_INTEGER = 18, 8  # reconstruction error grid: |d| < 256, LSB 2**-9
# 4/57 on a grid with LSB 2**-10, i.e. 72/1024 (QKeras cannot take integer < 0, so the top bits idle).
SCORE_W_BITS, SCORE_W_INTEGER = 11, 0

SCORE = "score"
MASK_SCALE = "score_pt_scale"
MASK = "score_mask"

FOLDABLE = ("QDense", "QConv2D", "QConv1D")


def build_deploy_model(
    model,
    kind: str,
    x_train: np.ndarray,
    x_val: np.ndarray,
    mask_train,
    mask_val,
    project,
    *,
    finetune: bool = True,
):
    """The firmware-ready functional QKeras model: outputs [reconstruction, score] for the AEs and
    [z_mean, score] for the VAE (its encoder only), score shape (N, 1). Deterministic given the
    project's training seed."""
    import tensorflow as tf

    if kind not in ("dense_ae", "cnn_ae", "vae"):
        raise ConfigError(f"no deploy model for kind '{kind}'; networks are dense_ae, cnn_ae and vae")
    tf.keras.utils.set_random_seed(project.training.seed)
    trained = trunk(model, kind)
    folded, n_folded = fold_batchnorm(trained)
    if finetune and n_folded and project.training.finetune_epochs > 0:
        if kind == "vae":
            # Only the encoder is deployed: teach the folded encoder the trained encoder's z_mean.
            target_train, target_val = trained.predict(x_train, verbose=0), trained.predict(x_val, verbose=0)
            _fit(folded, x_train, target_train, x_val, target_val, "mse", project)
        else:
            y_train = np.concatenate([_flat(x_train), np.asarray(mask_train, np.float32)], axis=1)
            y_val = np.concatenate([_flat(x_val), np.asarray(mask_val, np.float32)], axis=1)
            _fit(folded, x_train, y_train, x_val, y_val, masked_mse, project)
    return add_score_head(folded, kind)


def deploy_without_finetune(model, kind: str):
    """The deploy model with BN folded but not fine-tuned (exact for a model without BN): for imported
    models, which come without training data."""
    folded, n_folded = fold_batchnorm(trunk(model, kind))
    return add_score_head(folded, kind), n_folded


def has_batchnorm(model) -> bool:
    return any(
        type(layer).__name__ in ("BatchNormalization", "QBatchNormalization") for layer in model.layers
    )


def masked_mse(y_true, y_pred):
    """Reconstruction loss over present objects; y_true is [x, mask] concatenated on the last axis."""
    import tensorflow as tf

    x, mask = y_true[:, :N_INPUTS], y_true[:, N_INPUTS:]
    y = tf.reshape(y_pred, (-1, N_INPUTS))
    return tf.reduce_sum(mask * tf.square(x - y), axis=1) / N_INPUTS


def _fit(model, x_train, y_train, x_val, y_val, loss, project) -> None:
    import tensorflow as tf

    model.compile(optimizer=tf.keras.optimizers.Adam(project.training.learning_rate), loss=loss)
    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=project.training.finetune_epochs,
        batch_size=project.training.batch_size,
        shuffle=True,
        verbose=0,
    )


def _flat(x) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x.reshape(len(x), -1)


def trunk(model, kind: str):
    """The part of the trained model that is deployed, as a functional model: the whole AE (its first
    output), or the VAE's encoder up to z_mean."""
    import tensorflow as tf

    if kind != "vae":
        outs = model.outputs if isinstance(model.outputs, list) else [model.outputs]
        return tf.keras.Model(model.inputs, outs[0], name=f"{model.name}_trunk")
    for holder in (model, getattr(model, "encoder", None), _maybe_layer(model, "encoder")):
        if holder is None:
            continue
        z = _maybe_layer(holder, "z_mean")
        if z is not None:
            return tf.keras.Model(holder.inputs, z.output, name="encoder")
    raise ConfigError("the VAE has no layer named 'z_mean' (in the model or its 'encoder'); cannot deploy it")


def _maybe_layer(model, name: str):
    try:
        return model.get_layer(name)
    except (ValueError, AttributeError):
        return None


def fold_batchnorm(model):
    """A copy of a functional model with each BatchNormalization that directly follows a QDense/QConv
    folded into that layer's kernel and bias (keeping its quantizers). Returns (model, number folded).

    The copy is rebuilt layer by layer from each layer's own get_config(): Keras 2.14's model-level
    (de)serialisation cannot round-trip QActivation."""
    from l1ml.models.io import clone_functional

    folds = batchnorm_folds(model)
    if not folds:
        return model, 0
    bypass = {bn: prod for prod, bn in folds.items()}

    def hook(name: str, conf: dict) -> dict:
        if name in folds:
            conf["use_bias"] = True
            if conf.get("bias_quantizer") is None:
                # A bias appears where the BN shift was; quantize it like the kernel so that hls4ml
                # derives its precision from a quantizer, not from a default.
                conf["bias_quantizer"] = conf.get("kernel_quantizer")
        return conf

    new, layers = clone_functional(model, hook=hook, skip=bypass)
    for name, bn in folds.items():
        layers[name].set_weights(_folded_weights(model.get_layer(name), model.get_layer(bn)))
    return new, len(folds)


def batchnorm_layers(model) -> list[str]:
    return [
        layer.name
        for layer in model.layers
        if type(layer).__name__ in ("BatchNormalization", "QBatchNormalization")
    ]


def batchnorm_folds(model) -> dict[str, str]:
    """{QDense/QConv layer: the BatchNormalization folded into it}: each BN that directly follows a
    foldable layer read by nothing else."""
    cfg = model.get_config()
    entries = cfg["layers"]
    consumers: dict[str, int] = {}
    for lc in entries:
        for src in _inbound_names(lc):
            consumers[src] = consumers.get(src, 0) + 1
    classes = {lc["name"]: lc["class_name"] for lc in entries}
    folds: dict[str, str] = {}  # producing layer -> its BN
    for lc in entries:
        srcs = _inbound_names(lc)
        if (
            lc["class_name"] in ("BatchNormalization", "QBatchNormalization")
            and len(srcs) == 1
            and classes[srcs[0]] in FOLDABLE
            and consumers.get(srcs[0], 0) == 1
        ):
            folds[srcs[0]] = lc["name"]
    return folds


def _inbound_names(layer_cfg) -> list[str]:
    return [inbound[0] for node in layer_cfg.get("inbound_nodes", []) for inbound in node]


def _folded_weights(layer, bn) -> list[np.ndarray]:
    w = layer.get_weights()
    kernel = w[0].astype(np.float64)
    bias = w[1].astype(np.float64) if len(w) > 1 else np.zeros(kernel.shape[-1])
    cfg = bn.get_config()
    bw = dict(zip([v.name.split("/")[-1].split(":")[0] for v in bn.weights], bn.get_weights(), strict=True))
    gamma = bw.get("gamma", np.ones_like(bias)) if cfg.get("scale", True) else np.ones_like(bias)
    beta = bw.get("beta", np.zeros_like(bias)) if cfg.get("center", True) else np.zeros_like(bias)
    scale = gamma / np.sqrt(bw["moving_variance"] + cfg["epsilon"])
    new_bias = (bias - bw["moving_mean"]) * scale + beta
    return [(kernel * scale).astype(np.float32), new_bias.astype(np.float32)]


def add_score_head(body, kind: str):
    """body (a one-output functional model) -> Model(inputs, [body output, score])."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    L = tf.keras.layers
    inp = body.inputs[0]
    out = body.outputs[0]
    if kind == "vae":
        sq = L.Multiply(name="score_sq")([out, out])
        w = np.ones((out.shape[-1], 1), np.float32)
        score = QDense(1, use_bias=False, kernel_quantizer=quantized_bits(4, 2, alpha=1), name=SCORE)
        s = score(sq)
        score.set_weights([w])
        score.trainable = False
        return tf.keras.Model(inp, [out, s], name="deploy")
    x = L.Flatten(name="score_x")(inp) if len(inp.shape) > 2 else inp
    y = L.Flatten(name="score_y")(out) if len(out.shape) > 2 else out
    if x.shape[-1] != N_INPUTS or y.shape[-1] != N_INPUTS:
        raise ConfigError(
            f"the autoencoder's input and output must hold {N_INPUTS} values each, "
            f"got {x.shape[-1]} and {y.shape[-1]}"
        )
    # The mask reads each object's pT with a (1, 3) convolution over the object's three features: 171
    # products instead of the 3249 a 57x57 dense would take, most of them by zero (hls4ml's C++ multiplies
    # every weight, zero or not, so in the emulator library that dense cost a third of the time).
    # Three filters, each 2**MASK_SHIFT on pT and 0 on eta and phi, give pT * 2**MASK_SHIFT once per
    # feature of the object; flattened channels-last that is object-major, the order of x and y.
    # Not (1, 1): hls4ml turns a 1x1 convolution into PointwiseConv2D, another layer class.
    objects = L.Reshape((N_INPUTS // N_FEATURES, N_FEATURES, 1), name="score_objects")(x)
    scale = QConv2D(
        N_FEATURES,
        (1, N_FEATURES),
        use_bias=False,
        kernel_quantizer=quantized_bits(MASK_SHIFT + 2, MASK_SHIFT + 1, alpha=1),
        name=MASK_SCALE,
    )
    pt = L.Flatten(name="score_pt")(scale(objects))
    m = QActivation(quantized_relu(1, 0), name=MASK)(pt)
    d = L.Subtract(name="score_diff")([x, y])
    dq = QActivation(quantized_bits(DIFF_BITS, DIFF_INTEGER, alpha=1), name="score_diff_q")(d)
    dm = L.Multiply(name="score_masked")([dq, m])
    sq = L.Multiply(name="score_sq")([dm, dm])
    head = QDense(
        1, use_bias=False, kernel_quantizer=quantized_bits(SCORE_W_BITS, SCORE_W_INTEGER, alpha=1), name=SCORE
    )
    s = head(sq)
    scale.set_weights([_pt_broadcast()])
    head.set_weights([np.full((N_INPUTS, 1), 4.0 / N_INPUTS, np.float32)])
    scale.trainable = head.trainable = False
    return tf.keras.Model(inp, [out, s], name="deploy")


def _pt_broadcast() -> np.ndarray:
    """The (1, 3, 1, 3) mask kernel: each of the three filters takes an object's pT times 2**MASK_SHIFT
    (its eta and phi times 0)."""
    w = np.zeros((1, N_FEATURES, 1, N_FEATURES), np.float32)
    w[0, 0, 0, :] = 2.0**MASK_SHIFT
    return w


def mask_covers(preprocessing) -> None:
    """Refuse a preprocessing whose smallest non-zero pT the on-chip mask would read as padding."""
    pt_shifts = list(preprocessing.shifts)[0::N_FEATURES]
    worst = max(pt_shifts, default=0)
    if worst > MASK_SHIFT:
        raise ConfigError(
            f"preprocessing shifts pT by up to {worst} bits; the on-chip padding mask covers at most "
            f"{MASK_SHIFT}. Use a preprocessing with pT shifts <= {MASK_SHIFT}."
        )


def score_numpy(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The AE score in float, for reference: sum(mask * (x - y)**2) / 57, shape (N, 1).
    The deployed model's score differs from it only by the quantization of d and of 1/57."""
    x, y = _flat(x), _flat(y)
    if mask is None:
        pt = x.reshape(len(x), -1, N_FEATURES)[..., 0]
        mask = np.repeat(pt > 0, N_FEATURES, axis=1).astype(np.float32)
    return (np.sum(mask * (x - y) ** 2, axis=1) / N_INPUTS)[:, None]


def vae_score_numpy(z_mean: np.ndarray) -> np.ndarray:
    return np.sum(np.asarray(z_mean, np.float64) ** 2, axis=1, keepdims=True)
