"""HGQ2 models (kind "hgq2_ae") through the chain, main-process side. The Keras 3 work runs in the
worker (keras3.py); here are the data it is handed, the version and firmware directories it fills, and
the checks made on what it hands back:

- train: l1ml's own splits and preprocessing (models/train.py) -> arrays in an .npz -> the worker trains
  and scores -> metrics, manifest and version published as for any model.
- convert (l1ml/firmware/hgq2.py): the worker writes the hls4ml project (hls4ml's bit-exact pass sets
  the types), saves the ModelGraph (hls4ml_graph.fml) and the Keras model's outputs on validation
  events; l1ml compiles the C simulation and refuses the conversion unless they agree at 0 LSB.
- validate (l1ml/validate/hgq2.py): the C simulation compiled again here, by l1ml's g++ (firmware/csim.py is the fixed-point
  reference), against the Keras 3 model's outputs computed by the worker on the same events.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from l1ml import manifest
from l1ml.frontends import keras3
from l1ml.progress import or_silent

KIND = "hgq2_ae"
SCORE = "score"


def _precision(pre) -> tuple[int, int]:
    from l1ml.project import parse_precision

    w, i, _ = parse_precision(pre.input_precision(), "preprocessing")
    return w, i


def train_project(project, progress=None) -> Path:
    """Train the project's HGQ2 model in the Keras 3 worker and publish it as the next version."""
    from l1ml.models.metrics import plot_metrics, trigger_metrics
    from l1ml.models.train import build_manifest, new_stage, prepare, publish, write_history

    rep = or_silent(progress)
    rep.task("data", None)
    d = prepare(project)
    pre = d["pre"]
    rep.advance("data")
    stage = new_stage(project)
    try:
        pre.save(stage / "preprocessing.json")
        work = project.build_dir / "keras3" / "train"  # request, answers and log outlive a failed stage
        work.mkdir(parents=True, exist_ok=True)
        data = work / "train.npz"
        scored = {"background": d["b_test"], **d["sig_test"]}
        np.savez(
            data,
            x_train=pre.apply(d["b_train"]),
            x_val=pre.apply(d["b_val"]),
            **{f"score_{k}": pre.apply(v) for k, v in scored.items()},
        )
        m, tr = project.model, project.training
        rep.task("train (Keras 3 worker)", None)
        res = keras3.run(
            "train",
            {
                "data": str(data),
                "scores": str(work / "scores.npz"),
                "out_dir": str(stage),
                "seed": tr.seed,
                "epochs": tr.epochs,
                "batch_size": tr.batch_size,
                "learning_rate": tr.learning_rate,
                "input_precision": list(_precision(pre)),
                "model": {"hidden": list(m.hidden), "latent": m.latent, "beta": m.ebops_beta},
            },
            work,
        )
        rep.advance("train (Keras 3 worker)")
        with np.load(work / "scores.npz") as f:
            scores = {k: f[f"score_{k}"] for k in scored}
        data.unlink()  # the events are the project's; only the worker's log and answers are kept
        sig = {k: v for k, v in scores.items() if k != "background"}
        metrics = trigger_metrics(
            scores["background"],
            sig,
            project.trigger_fpr,
            project.trigger.reference_fpr,
            project.colliding_rate_hz,
        )
        manifest.write_json(stage / "metrics.json", metrics)
        plot_metrics(scores["background"], sig, metrics, stage, f"{project.name} ({KIND})")
        write_history(res.get("history") or {}, stage, f"{project.name} ({KIND})")
        man = build_manifest(
            project, stage, {"deploy_file": res["deploy_file"]}, pre, metrics["threshold"], "train"
        )
        man["front_end"] = "hgq2"
        man["ebops"] = res["ebops"]
        man["training"] = {"epochs": tr.epochs, "beta": m.ebops_beta, "seconds": res["seconds"]}
        return publish(project, stage, man)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def validation_inputs(project, pre, n: int = 4096) -> np.ndarray:
    """The background validation split's first `n` events, preprocessed: convert's reference events."""
    from l1ml.data import units
    from l1ml.data.samples import load_project_samples, split_background

    bkg = units.to_hardware(load_project_samples(project)["background"])
    _, val, _ = split_background(bkg, project.data.split, project.data.seed)
    return pre.apply(val[:n])


def write_testbench(out_dir: Path, x: np.ndarray, expected: np.ndarray) -> dict:
    """hls4ml's tb_data from the reference events: the Keras 3 model's outputs are the expected ones
    (equal to the C simulation's, or convert refused). %.17g round-trips these dyadic values."""
    tb = out_dir / "hls4ml" / "tb_data"
    tb.mkdir(parents=True, exist_ok=True)
    files = []
    for name, rows in (("tb_input_features.dat", x), ("tb_output_predictions.dat", expected)):
        np.savetxt(tb / name, rows.reshape(len(rows), -1), fmt="%.17g", delimiter=" ")
        files.append(str((tb / name).relative_to(out_dir)))
    return {"events": len(x), "files": files}


def keras_outputs(model_file: Path, x: np.ndarray, workdir: Path) -> np.ndarray:
    """The Keras 3 model's outputs on x, (events, values), computed by the worker."""
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(workdir / "predict_inputs.npz", x=x)
    keras3.run(
        "predict",
        {
            "model": str(model_file),
            "data": str(workdir / "predict_inputs.npz"),
            "out": str(workdir / "predict.npz"),
        },
        workdir,
    )
    with np.load(workdir / "predict.npz") as f:
        return f["y"]
