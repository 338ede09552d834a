"""The worker's two actions. Both read arrays from .npz files l1ml wrote and write files l1ml reads."""

import os
import time

import numpy as np


class Refused(Exception):
    """Bad input, or a model the chain must not take: one line for the user."""


def _load(path: str):
    import hgq  # noqa: F401  registers HGQ2's layers and quantizers with Keras, which loading needs
    import keras

    try:
        return keras.models.load_model(path)
    except Exception as exc:  # keras raises many kinds for a bad file
        raise Refused(f"cannot load the HGQ2 model {path}: {exc}") from None


def _arrays(path: str, *names: str) -> list:
    try:
        with np.load(path) as f:
            return [np.asarray(f[n], dtype=np.float32) for n in names]
    except (OSError, KeyError, ValueError) as exc:
        raise Refused(f"cannot read {names} from {path}: {exc}") from None


def train(req: dict) -> dict:
    """Train the HGQ2 autoencoder quantization-aware, with beta x EBOPs in the loss (HGQ2 adds each
    layer's EBOPs term itself); save the deployed model as out_dir/deploy.keras."""
    import keras
    from hgq.utils import trace_minmax

    from l1ml_keras3.model import build

    x_tr, x_va = _arrays(req["data"], "x_train", "x_val")
    keras.utils.set_random_seed(int(req["seed"]))
    width, integer = req["input_precision"]
    m = req["model"]
    ae, deploy = build(x_tr.shape[1], (width, integer), list(m["hidden"]), int(m["latent"]), float(m["beta"]))
    latent_weight = float(m.get("latent_weight", 0.1))
    ae.compile(
        optimizer=keras.optimizers.Adam(float(req["learning_rate"])),
        loss=["mse", "mse"],
        loss_weights=[1.0, latent_weight],
    )
    z_tr, z_va = (
        np.zeros((len(x_tr), int(m["latent"])), np.float32),
        np.zeros((len(x_va), int(m["latent"])), np.float32),
    )
    t0 = time.perf_counter()
    fit = ae.fit(
        x_tr,
        [x_tr, z_tr],
        validation_data=(x_va, [x_va, z_va]),
        epochs=int(req["epochs"]),
        batch_size=int(req["batch_size"]),
        shuffle=True,
        verbose=0,
    )
    # EBOPs on the calibrated ranges: the resource figure HGQ2 trains against (about LUTs + 55 x DSPs).
    ebops = int(trace_minmax(deploy, x_tr, batch_size=4096))
    os.makedirs(req["out_dir"], exist_ok=True)
    path = os.path.join(req["out_dir"], "deploy.keras")
    deploy.save(path)
    _scores(deploy, req["data"], req["scores"])
    return {
        "deploy_file": "deploy.keras",
        "ebops": ebops,
        "seconds": time.perf_counter() - t0,
        "history": {k: [float(v) for v in vals] for k, vals in fit.history.items()},
        "layers": [layer.name for layer in deploy.layers],
    }


def wrap_hazards(model) -> list[str]:
    """The input and score quantizers that WRAP (or are missing): an anomaly trigger must saturate there,
    since an outlier is the signal and hls4ml reproduces a wrap bit for bit, where parity cannot see it."""
    from l1ml_keras3.model import INPUT_LAYER, SCORE_NAME

    bad = []
    for name, attr in ((INPUT_LAYER, "iq"), (SCORE_NAME, None)):
        try:
            layer = model.get_layer(name)
        except ValueError:
            bad.append(f"{name} (missing)")
            continue
        q = getattr(layer, attr) if attr else layer
        mode = str(getattr(q.quantizer, "overflow_mode", "WRAP") if hasattr(q, "quantizer") else "WRAP")
        if not mode.startswith("SAT"):
            bad.append(f"{name} ({mode})")
    return bad


def convert(req: dict) -> dict:
    """deploy.keras -> an hls4ml project (hls4ml's bit-exact pass sets every type), written; the Keras
    model's outputs on the reference events and the serialized ModelGraph, for l1ml to check and carry
    on with. With "csim": true, also hls4ml's own compile() and its C simulation's outputs (l1ml compiles
    the written sources itself either way: one compile is minutes on a loaded machine)."""
    import hls4ml

    model = _load(req["model"])
    bad = wrap_hazards(model)
    if bad:
        raise Refused(
            f"{req['model']}: the input and score quantizers must saturate, and these wrap: {', '.join(bad)}"
        )
    (x_ref,) = _arrays(req["data"], "x_ref")
    fw = req["firmware"]
    strategy = fw.get("strategy", "Latency")
    cfg = {
        "Model": {
            "Precision": "ap_fixed<32,16>",
            "ReuseFactor": int(fw.get("reuse_factor", 1)),
            "Strategy": strategy,
        }
    }
    t0 = time.perf_counter()
    hm = hls4ml.converters.convert_from_keras_model(
        model,
        output_dir=req["out_dir"],
        project_name=req["project_name"],
        namespace=req.get("namespace") or None,
        # hls4ml's CMSSW emulator wrapper (write_emulation_constants) is left off: its std::get<0>(inputs)
        # does not compile with l1ml's -std=c++17 C simulation build
        write_emulation_constants=bool(req.get("emulation_constants", False)),
        # weights compiled in, as l1ml's QKeras firmware has them: read from .txt files at run time, the C
        # simulation would depend on a directory path (and the deployed library on files beside it)
        write_weights_txt=False,
        backend=fw.get("backend", "Vitis"),
        io_type=fw.get("io_type", "io_parallel"),
        part=fw.get("part") or None,
        clock_period=fw.get("clock_period") or 5,
        hls_config=cfg,
    )
    hm.write()
    from l1ml_keras3.hls_fixes import Unpatchable, fix_project

    try:
        fixes = fix_project(req["out_dir"], req.get("namespace") or None)
    except Unpatchable as exc:
        raise Refused(str(exc)) from None
    keras_out = np.asarray(model.predict(x_ref, batch_size=4096, verbose=0), np.float64).reshape(
        len(x_ref), -1
    )
    ref = {"keras": keras_out}
    if req.get("csim"):
        hm._compile()  # not compile(): that writes the project again, without the fixes above
        x64 = np.ascontiguousarray(x_ref, np.float64)
        ref["csim"] = np.asarray(hm.predict(x64), np.float64).reshape(len(x_ref), -1)
    np.savez_compressed(req["reference"], **ref)
    from hls4ml.utils.serialization import serialize_model

    try:
        serialize_model(hm, req["graph"])
        graph = None
    except TypeError as exc:  # hls4ml 1.3 cannot write some HGQ2 layer attributes (arrays) as JSON
        graph = f"hls4ml could not serialize the ModelGraph: {exc}"
        if os.path.exists(req["graph"]):
            os.remove(req["graph"])
    inp = hm.get_input_variables()[0]
    outs = hm.get_output_variables()
    return {
        "seconds": time.perf_counter() - t0,
        "hls4ml_version": hls4ml.__version__,
        "input_precision": inp.type.precision.definition_cpp(),
        "outputs": [
            {"name": o.name, "size": int(o.size()), "precision": o.type.precision.definition_cpp()}
            for o in outs
        ],
        "layers": [
            {
                "name": lay.name,
                "class": lay.class_name,
                "result": lay.get_output_variable().type.precision.definition_cpp(),
                # da4ml's LUT estimate of a distributed-arithmetic layer (set by hls4ml's DA pass), else None
                "da_kernel_cost": _number(lay.get_attr("da_kernel_cost", None)),
            }
            for lay in hm.get_layers()
        ],
        "graph_refused": graph,
        "hls4ml_fixes": fixes,
        "csim_exact": int(np.sum(keras_out == ref["csim"])) if "csim" in ref else None,
        "compared": int(keras_out.size),
    }


def _number(value):
    """A float for JSON (numpy scalars included), None kept."""
    return None if value is None else float(value)


def _scores(model, data: str, out: str) -> None:
    """The deployed model's score on every array of `data` named score_*: the trigger metrics' input."""
    with np.load(data) as f:
        names = [n for n in f.files if n.startswith("score_")]
        got = {
            n: np.asarray(
                model.predict(f[n].astype(np.float32), batch_size=8192, verbose=0), np.float64
            ).ravel()
            for n in names
        }
    np.savez_compressed(out, **got)


def predict(req: dict) -> dict:
    """The Keras 3 model's outputs on x (validation's software side), float64, as (events, values)."""
    model = _load(req["model"])
    (x,) = _arrays(req["data"], "x")
    y = np.asarray(model.predict(x, batch_size=8192, verbose=0), np.float64).reshape(len(x), -1)
    np.savez_compressed(req["out"], y=y)
    return {"events": int(len(x)), "values": int(y.shape[1])}
