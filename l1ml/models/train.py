"""Training a project: data -> preprocessing -> model -> deployed model -> metrics -> model version.

A version is built in a hidden staging directory and renamed into place at the end, so a training that
dies leaves no half-written version behind and never overwrites an earlier one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from l1ml import manifest
from l1ml.data import units
from l1ml.data.preprocess import Preprocessing
from l1ml.data.samples import ensure_project_data, load_project_samples, split_background
from l1ml.errors import ConfigError
from l1ml.progress import or_silent
from l1ml.project import Project, model_versions


def set_seeds(seed: int) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def prepare(project: Project, progress=None) -> dict:
    """Hardware units, splits and fitted preprocessing: everything training and metrics share."""
    ensure_project_data(project, progress=None)
    samples = load_project_samples(project)
    hw = {name: units.to_hardware(ev) for name, ev in samples.items()}
    b_train, b_val, b_test = split_background(hw.pop("background"), project.data.split, project.data.seed)
    pre = Preprocessing.fit(b_train, project.preprocessing.kind)
    sig_train, sig_test = {}, {}
    for name, s in hw.items():
        # Signals: a seeded half for supervised training (BDT), the other half for every metric.
        train_idx, test_idx = signal_halves(len(s), project.data.seed)
        sig_train[name], sig_test[name] = s[train_idx], s[test_idx]
    return {
        "signal_events": {name: len(s) for name, s in hw.items()},
        "pre": pre,
        "b_train": b_train,
        "b_val": b_val,
        "b_test": b_test,
        "sig_train": sig_train,
        "sig_test": sig_test,
    }


def signal_halves(n: int, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first n events of a signal file: (the half a BDT trains on, the held-out half). The
    trigger record (l1ml/models/threshold.py held_out) removes the training half by this same rule."""
    idx = np.random.default_rng(data_seed + 1).permutation(n)
    return idx[: n // 2], idx[n // 2 :]


def _fit_keras(project: Project, d: dict, rep) -> tuple:
    from tensorflow import keras

    from l1ml.models import ae

    cfg = project.model
    pre = d["pre"]
    x_tr, x_va = pre.apply(d["b_train"]), pre.apply(d["b_val"])
    m_tr, m_va = units.padding_mask(d["b_train"]), units.padding_mask(d["b_val"])
    model = ae.BUILDERS[cfg.kind](cfg)
    model.compile(optimizer=keras.optimizers.Adam(project.training.learning_rate), loss=ae.masked_mse)

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rep.advance("train")

    class Best(keras.callbacks.Callback):
        """The weights of the epoch with the lowest validation loss, restored at the end."""

        best, weights, epoch = np.inf, None, None

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss", np.inf)
            if loss < self.best:
                self.best, self.weights, self.epoch = loss, self.model.get_weights(), epoch

        def on_train_end(self, logs=None):
            if self.weights is not None:
                self.model.set_weights(self.weights)

    tr = project.training
    callbacks = [Report()]
    if tr.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=tr.early_stopping_patience)
        )
    best = Best() if tr.best_checkpoint else None
    if best is not None:
        callbacks.append(best)
    rep.task("train", project.training.epochs)
    fit = model.fit(
        ae.shape_inputs(cfg.kind, x_tr),
        np.concatenate([x_tr, m_tr], 1),
        validation_data=(ae.shape_inputs(cfg.kind, x_va), np.concatenate([x_va, m_va], 1)),
        epochs=project.training.epochs,
        batch_size=project.training.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    d["history"] = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    if best is not None and best.epoch is not None:
        d["history"]["best_epoch"] = int(best.epoch)
    return model, x_tr, x_va, m_tr, m_va


def _train_network(project: Project, d: dict, stage: Path, rep) -> tuple[dict, dict]:
    from l1ml.models import ae
    from l1ml.models.deploy import build_deploy_model
    from l1ml.models.io import save_model as save_keras

    kind = project.model.kind
    set_seeds(project.training.seed)
    model, x_tr, x_va, m_tr, m_va = _fit_keras(project, d, rep)
    save_keras(model, stage / "model.h5")
    rep.task("deploy", None)
    deploy = build_deploy_model(
        model, kind, ae.shape_inputs(kind, x_tr), ae.shape_inputs(kind, x_va), m_tr, m_va, project
    )
    save_keras(deploy, stage / "deploy.h5")
    rep.advance("deploy")
    return {"model_file": "model.h5", "deploy_file": "deploy.h5"}, network_scorer(deploy, kind, d["pre"])


def network_scorer(deploy, kind: str, pre: Preprocessing):
    """hardware units -> the deployed network's on-chip score (its last output)."""
    from l1ml.models import ae

    def score(hw):
        out = deploy.predict(ae.shape_inputs(kind, pre.apply(hw)), batch_size=8192, verbose=0)
        return np.asarray(out[-1]).ravel()

    return score


def bdt_scorer(booster, pre: Preprocessing):
    """hardware units -> the BDT's margin, which is what conifer's firmware sums."""
    from l1ml.models import bdt

    return lambda hw: bdt.margin(booster, pre.apply(hw))


def _train_bdt(project: Project, d: dict, stage: Path, rep) -> tuple[dict, dict]:
    from l1ml.models import bdt

    pre = d["pre"]
    sig_tr = np.concatenate(list(d["sig_train"].values()))
    # Hold a slice of the signal training half out for xgboost's evaluation log.
    n_val = max(1, len(sig_tr) // 5)
    rep.task("train", project.model.n_estimators)
    booster = bdt.train_bdt(
        pre.apply(d["b_train"]),
        pre.apply(sig_tr[n_val:]),
        pre.apply(d["b_val"]),
        pre.apply(sig_tr[:n_val]),
        project.model,
        project.training.seed,
        progress=rep,
        training=project.training,
        history=d.setdefault("history", {}),
    )
    bdt.save(booster, stage / "model.json")
    return {"model_file": "model.json"}, bdt_scorer(booster, pre)


FIRST_LOOK = (
    "a first look at train time on the training data's test split (software scores): threshold, rate and "
    "TPRs here are not the trigger's; the deployed threshold, its rate and the TPRs are set once per "
    "firmware variant on the rate sample by the rate step (build/firmware/vN/trigger.json), which rate, "
    "report, deploy, explore and the gate read"
)


def evaluate(project: Project, d: dict, score, stage: Path) -> dict:
    """Trigger metrics of a scorer on the background test split and the signals' test halves: train's
    first look (FIRST_LOOK), not the trigger record; writes metrics.json, roc.png and scores.png."""
    from l1ml.models.metrics import plot_metrics, trigger_metrics

    bkg = score(d["b_test"])
    sig = {name: score(hw) for name, hw in d["sig_test"].items()}
    metrics = trigger_metrics(
        bkg, sig, project.trigger_fpr, project.trigger.reference_fpr, project.colliding_rate_hz
    )
    # Said in the file itself, so no reader takes these for the trigger's numbers (one source each).
    metrics["first_look"] = FIRST_LOOK
    manifest.write_json(stage / "metrics.json", metrics)
    plot_metrics(bkg, sig, metrics, stage, f"{project.name} ({project.model.kind})")
    return metrics


def new_stage(project: Project, tag: str = "") -> Path:
    """A hidden directory beside the versions, published (renamed) only when complete."""
    project.models_dir.mkdir(parents=True, exist_ok=True)
    name = f".staging{tag}-{manifest.now().replace(':', '')}-{np.random.randint(1 << 30)}"
    stage = project.models_dir / name
    stage.mkdir()
    return stage


def with_overrides(
    project: Project, epochs: int | None = None, events: int | None = None, seed: int | None = None
) -> tuple[Project, dict]:
    """The project with `train`'s command-line overrides applied, and the overrides (for the manifest)."""
    import dataclasses

    given = {k: v for k, v in {"epochs": epochs, "events": events, "seed": seed}.items() if v is not None}
    for k, v in given.items():
        if v < (0 if k == "seed" else 1):
            raise ConfigError(f"--{k} must be {'0 or more' if k == 'seed' else 'at least 1'}, got {v}")
    tr, data = project.training, project.data
    if "epochs" in given:
        tr = dataclasses.replace(tr, epochs=given["epochs"])
    if "seed" in given:
        tr = dataclasses.replace(tr, seed=given["seed"])
    if "events" in given:
        data = dataclasses.replace(data, max_events=given["events"])
    return dataclasses.replace(project, training=tr, data=data), given


def write_history(history: dict, stage: Path, title: str) -> None:
    """history.json and loss.png: the training and validation loss per epoch (BDT: per boosting round)."""
    if not history:
        return
    manifest.write_json(stage / "history.json", history)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("loss", "val_loss"):
        if history.get(key):
            ax.plot(range(1, len(history[key]) + 1), history[key], label=key.replace("_", " "))
    best = history.get("best_epoch", history.get("best_round"))
    if best is not None:
        ax.axvline(best + 1, color="grey", linestyle=":", label="best (kept)")
    ax.set_xlabel("epoch" if "loss" in history else "boosting round")
    ax.set_ylabel("loss" if "loss" in history else "validation log-loss")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(stage / "loss.png", dpi=100)
    plt.close(fig)


def train_project(project: Project, progress=None, overrides: dict | None = None) -> Path:
    """Train the project's model and publish it as the next version; returns its directory.
    `overrides` (from with_overrides) are recorded in the manifest."""
    rep = or_silent(progress)
    rep.task("data", None)
    d = prepare(project)
    rep.advance("data")
    stage = new_stage(project)
    try:
        d["pre"].save(stage / "preprocessing.json")
        train = _train_bdt if project.model.kind == "bdt" else _train_network
        files, score = train(project, d, stage, rep)
        write_history(d.get("history") or {}, stage, f"{project.name} ({project.model.kind})")
        metrics = evaluate(project, d, score, stage)
        man = build_manifest(project, stage, files, d["pre"], metrics["threshold"], source="train")
        man["overrides"] = dict(overrides or {})
        man["training"] = {
            "epochs": project.training.epochs,
            "events": project.data.max_events,
            "early_stopping_patience": project.training.early_stopping_patience,
            "best_checkpoint": project.training.best_checkpoint,
            "epochs_run": len((d.get("history") or {}).get("val_loss", [])),
        }
        if project.model.kind == "bdt":  # trained on signal: which events, so TPRs can leave them out
            man["signal_training"] = {
                "events_read": d["signal_events"],
                "data_seed": project.data.seed,
                "format": getattr(project.data, "format", "hdf5"),
                "rule": "the first events_read events of each file; signal_halves(n, data_seed)[0] trained",
            }
        return publish(project, stage, man)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def build_manifest(
    project: Project,
    stage: Path,
    files: dict,
    pre: Preprocessing,
    threshold,
    source: str,
    origin: dict | None = None,
) -> dict:
    hashes = {name: manifest.sha256(stage / f) for name, f in files.items()}
    hashes["preprocessing_file"] = manifest.sha256(stage / "preprocessing.json")
    hashes["project_file"] = manifest.sha256(project.file)
    data = {}
    if source == "train":
        paths = {"background": project.data.background, **project.data.signals}
        data = {
            k: {"path": str(project.resolve(p)), "sha256": manifest.sha256(project.resolve(p))}
            for k, p in paths.items()
            if getattr(project.data, "format", "hdf5") != "l1ntuple"
        }
        if not data:  # L1 ntuples: globs over many large files; their list, sizes and times, not hashes
            from l1ml.data.stream import describe_files

            data = {k: describe_files(project, p) for k, p in paths.items()}
    return {
        "version": None,  # set by publish()
        "kind": project.model.kind,
        "source": source,
        "origin": origin or {},
        "created": manifest.now(),
        **files,
        "preprocessing_file": "preprocessing.json",
        "input_precision": pre.input_precision(),
        "threshold": threshold,
        "hashes": hashes,
        "data": data,
        "project": str(project.file),
        "code_version": manifest.code_version(),
        "seeds": {"data": project.data.seed, "training": project.training.seed},
    }


def publish(project: Project, stage: Path, man: dict) -> Path:
    """Rename the staging directory to the next free vN. rename() fails on an existing non-empty
    directory, so two trainings finishing at once get different versions."""
    import os

    while True:
        vs = model_versions(project)
        version = f"v{int(vs[-1][1:]) + 1 if vs else 1}"
        man["version"] = version
        manifest.write_json(stage / "manifest.json", man)
        target = project.models_dir / version
        try:
            os.rename(stage, target)
            return target
        except OSError:
            if not target.exists():
                raise
            continue


def check_kind(project: Project, wanted: str) -> None:
    """`l1ml train ae` on a BDT project (or the reverse) is a user error."""
    kind = project.model.kind
    if (wanted == "bdt") != (kind == "bdt"):
        raise ConfigError(
            f"{project.file}: [model] kind is '{kind}'; use `l1ml train {'bdt' if kind == 'bdt' else 'ae'}`"
        )
