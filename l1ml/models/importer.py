"""Bring your own model: register a QKeras .h5 or an xgboost .json/.ubj trained elsewhere as a model
version of a project, so that convert, validate and synthesis treat it like one trained here.

The version's manifest records the file it came from and its sha256 (`origin`). A network gets the same
deploy model a trained one gets: BatchNormalization folded, the on-chip score head added. Folding
changes what the network computes, so a network with BN is fine-tuned on the project's background
data; one without BN is deployed as it is, without touching its weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from l1ml import manifest
from l1ml.data import units
from l1ml.data.preprocess import Preprocessing
from l1ml.errors import ConfigError, ConversionError
from l1ml.progress import or_silent

NETWORK_SUFFIXES = (".h5", ".hdf5")
BDT_SUFFIXES = (".json", ".ubj")
INPUT_SHAPES = {
    "dense_ae": (units.N_INPUTS,),
    "vae": (units.N_INPUTS,),
    "cnn_ae": (units.N_OBJECTS, units.N_FEATURES, 1),
}


def import_model(
    project, file: str | Path, preprocessing: str | Path | None = None, progress=None, fold: bool = True
) -> Path:
    """Register `file` as the project's next model version; returns its directory. Its manifest's
    `origin.import` says what was done to the model (BN folded, epochs fine-tuned, or nothing) and what
    that costs against the user's own model; `fold=False` keeps the BN, which convert then refuses."""
    from l1ml.models.train import build_manifest, new_stage, publish

    rep = or_silent(progress)
    src = Path(file).expanduser().resolve()
    if not src.is_file():
        raise ConfigError(f"no model file {src}")
    kind = project.model.kind
    suffix = src.suffix.lower()
    if suffix in NETWORK_SUFFIXES and kind == "bdt" or suffix in BDT_SUFFIXES and kind != "bdt":
        raise ConfigError(
            f"{src.name} is a {'Keras network' if suffix in NETWORK_SUFFIXES else 'xgboost model'} but "
            f"{project.file} [model] kind is '{kind}'; import it into a project of the matching kind"
        )
    if suffix not in NETWORK_SUFFIXES + BDT_SUFFIXES:
        raise ConfigError(
            f"{src.name}: unknown model format '{suffix}'; import QKeras {', '.join(NETWORK_SUFFIXES)} "
            f"or xgboost {', '.join(BDT_SUFFIXES)} files"
        )
    pre = Preprocessing.load(Path(preprocessing).expanduser()) if preprocessing else Preprocessing.identity()
    if len(pre.offsets) != units.N_INPUTS:
        raise ConfigError(
            f"{preprocessing}: has {len(pre.offsets)} inputs; l1ml models take {units.N_INPUTS}"
        )
    stage = new_stage(project, "-import")
    try:
        pre.save(stage / "preprocessing.json")
        rep.task("import", None)
        if kind == "bdt":
            files, extra, score = _import_bdt(src, stage, pre)
        else:
            files, extra, score = _import_network(project, src, stage, pre, kind, fold)
        rep.advance("import")
        user_score = extra.pop("_user_score", None)
        threshold = _metrics(project, pre, score, stage, extra, user_score)
        origin = {
            "file": str(src),
            "sha256": manifest.sha256(src),
            "preprocessing_file": str(Path(preprocessing).resolve()) if preprocessing else None,
            **extra,
        }
        man = build_manifest(project, stage, files, pre, threshold, source="import", origin=origin)
        return publish(project, stage, man)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _import_bdt(src: Path, stage: Path, pre: Preprocessing) -> tuple[dict, dict]:
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(str(src))
    except xgb.core.XGBoostError as exc:
        raise ConfigError(f"{src}: not an xgboost model: {str(exc).splitlines()[0]}") from None
    n = booster.num_features()
    if n != units.N_INPUTS:
        raise ConfigError(
            f"{src}: the BDT takes {n} features; l1ml BDTs take the {units.N_INPUTS} preprocessed inputs"
        )
    from l1ml.models.bdt import refusal

    why = refusal(booster)  # refused here, before metrics on the project's data see a model they misread
    if why:
        raise ConversionError(f"{src}: cannot be made firmware: {why}")
    booster.save_model(str(stage / "model.json"))  # the contract's format, whatever the source format
    from l1ml.models.train import bdt_scorer

    return {"model_file": "model.json"}, {}, bdt_scorer(booster, pre)


def _import_network(project, src: Path, stage: Path, pre: Preprocessing, kind: str, fold: bool = True):
    from l1ml.models.deploy import (
        add_score_head,
        batchnorm_folds,
        batchnorm_layers,
        build_deploy_model,
        deploy_without_finetune,
        trunk,
    )
    from l1ml.models.io import load_model, save_model
    from l1ml.models.train import network_scorer

    model = load_model(src)
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    if shape != INPUT_SHAPES[kind]:
        raise ConfigError(
            f"{src.name}: input shape {shape} does not fit a '{kind}' project, "
            f"which takes {INPUT_SHAPES[kind]}"
        )
    shutil.copyfile(src, stage / "model.h5")
    body = trunk(model, kind)
    bns = batchnorm_layers(body)
    folds = batchnorm_folds(body) if fold else {}
    epochs = project.training.finetune_epochs if folds else 0
    if not fold:
        deploy = add_score_head(body, kind)  # the user's model as it is: convert refuses the BN
    elif folds and epochs > 0:
        x_tr, x_va, m_tr, m_va = _background(project, pre, kind)
        deploy = build_deploy_model(model, kind, x_tr, x_va, m_tr, m_va, project)
    else:
        deploy, _ = deploy_without_finetune(model, kind)
    save_model(deploy, stage / "deploy.h5")
    kept = [b for b in bns if b not in folds.values()]
    what = {
        "fold": fold,
        "folded": [{"layer": layer, "batchnorm": bn} for layer, bn in folds.items()],
        "batchnorm_kept": kept,
        "finetune_epochs": epochs,
        "weights_changed": bool(folds),
    }
    from l1ml.models.float_net import is_float_model

    if is_float_model(deploy):  # no QKeras layer: convert quantizes it post-training (firmware/ptq.py)
        what["float_model"] = True
    files = {"model_file": "model.h5", "deploy_file": "deploy.h5"}
    extra = {"finetuned": epochs > 0, "import": what}
    if folds:
        extra["_user_score"] = network_scorer(add_score_head(body, kind), kind, pre)
    return files, extra, network_scorer(deploy, kind, pre)


def _metrics(project, pre: Preprocessing, score, stage: Path, extra: dict, user_score=None):
    """Trigger metrics and the rate threshold on the project's data, as for a trained model, so that
    validation can count flipped decisions. Without data the import still stands, without them.
    With `user_score` (the user's own model, before folding), what the deployed model costs against it."""
    from l1ml.errors import DataError
    from l1ml.models.train import evaluate, prepare

    try:
        d = prepare(project)
    except DataError as exc:
        extra["metrics"] = f"not computed: {exc}"
        return None
    d["pre"] = pre  # the imported model's own preprocessing, not one fitted here
    metrics = evaluate(project, d, score, stage)
    if user_score is not None:
        extra["import"]["cost"] = _cost(project, d, score, user_score, metrics)
    return metrics["threshold"]


def _cost(project, d: dict, score, user_score, deployed: dict) -> dict:
    """The deployed model against the user's model on the background test split and the signals: the
    largest score difference, and each signal's TPR at the target rate and AUC, before and after."""
    import numpy as np

    from l1ml.models.metrics import trigger_metrics

    b_dep, b_user = np.asarray(score(d["b_test"]), float), np.asarray(user_score(d["b_test"]), float)
    sig_user = {k: user_score(hw) for k, hw in d["sig_test"].items()}
    user = trigger_metrics(
        b_user, sig_user, project.trigger_fpr, project.trigger.reference_fpr, project.colliding_rate_hz
    )
    signals = {}
    for k, s in deployed["signals"].items():
        u = user["signals"][k]
        signals[k] = {
            "tpr_user": u["tpr_at_target_rate"],
            "tpr_deployed": s["tpr_at_target_rate"],
            "tpr_change": s["tpr_at_target_rate"] - u["tpr_at_target_rate"],
            "auc_user": u["auc"],
            "auc_deployed": s["auc"],
            "auc_change": s["auc"] - u["auc"],
        }
    return {
        "events": int(len(b_dep)),
        "score_max_abs_diff": float(np.max(np.abs(b_dep - b_user))) if len(b_dep) else 0.0,
        "score_frac_identical": float(np.mean(b_dep == b_user)) if len(b_dep) else 1.0,
        "target_rate_khz": deployed["target_rate_khz"],
        "signals": signals,
    }


def _background(project, pre: Preprocessing, kind: str):
    """The project's background train/validation split, preprocessed the imported model's way."""
    from l1ml.data.samples import load_project_samples, split_background
    from l1ml.models.ae import shape_inputs

    bkg = units.to_hardware(load_project_samples(project)["background"])
    b_tr, b_va, _ = split_background(bkg, project.data.split, project.data.seed)
    return (
        shape_inputs(kind, pre.apply(b_tr)),
        shape_inputs(kind, pre.apply(b_va)),
        units.padding_mask(b_tr),
        units.padding_mask(b_va),
    )


def summary(man: dict) -> list[str]:
    """What an import did to the model and what it costs, in lines for a person (the CLI prints them)."""
    origin = man.get("origin") or {}
    what = origin.get("import")
    if what is None:
        return ["deployed as imported: nothing folded, no fine-tuning, weights untouched"]
    lines = []
    if what["folded"]:
        pairs = ", ".join(f"{f['batchnorm']} into {f['layer']}" for f in what["folded"])
        lines.append(f"folded BatchNormalization: {pairs}")
        lines.append(
            f"fine-tuned for {what['finetune_epochs']} epochs on the project's background"
            if what["finetune_epochs"]
            else "not fine-tuned ([training] finetune_epochs = 0)"
        )
    elif not what["batchnorm_kept"]:
        lines.append("deployed as imported: no BatchNormalization, nothing folded, weights untouched")
    if what["batchnorm_kept"] and what.get("float_model"):
        lines.append(
            f"kept BatchNormalization {', '.join(what['batchnorm_kept'])}: in a float model it is quantized "
            "post-training with the rest (hls4ml fuses it into the Dense before it where it can)"
        )
    elif what["batchnorm_kept"]:
        why = "--no-fold" if not what["fold"] else "it does not directly follow a QDense/QConv2D"
        lines.append(
            f"kept BatchNormalization {', '.join(what['batchnorm_kept'])} ({why}): `l1ml convert` will "
            "refuse this version"
        )
    if what.get("float_model"):
        lines.append(
            "float model (no QKeras layers): `l1ml convert` quantizes it post-training by hls4ml's rules "
            "([firmware] ptq), and `l1ml validate` reports what that costs against this float model"
        )
    cost = what.get("cost")
    if cost:
        lines.append(
            f"against your model ({cost['events']:,} background events): score max |diff| "
            f"{cost['score_max_abs_diff']:.4g}, {100 * cost['score_frac_identical']:.2f}% identical"
        )
        for k, c in cost["signals"].items():
            lines.append(
                f"  {k}: TPR at {cost['target_rate_khz']:.3g} kHz {c['tpr_user']:.4f} -> "
                f"{c['tpr_deployed']:.4f} ({c['tpr_change']:+.4f}), AUC {c['auc_user']:.4f} -> "
                f"{c['auc_deployed']:.4f} ({c['auc_change']:+.4f})"
            )
    elif what["folded"]:
        lines.append(f"cost against your model not measured: {origin.get('metrics', 'no project data')}")
    return lines


def list_models(project) -> list[dict]:
    """One row per model version: version, kind, source, created, threshold and whether it was converted."""
    from l1ml.project import model_versions, read_json

    rows = []
    for v in model_versions(project):
        f = project.models_dir / v / "manifest.json"
        try:
            m = read_json(f)
        except ConfigError:
            rows.append(
                {
                    "version": v,
                    "kind": "?",
                    "source": "?",
                    "created": "",
                    "threshold": None,
                    "converted": False,
                    "origin": "manifest unreadable",
                }
            )
            continue
        rows.append(
            {
                "version": v,
                "kind": m.get("kind"),
                "source": m.get("source"),
                "created": m.get("created"),
                "threshold": m.get("threshold"),
                "converted": (project.firmware_dir(v) / "manifest.json").is_file(),
                "origin": (m.get("origin") or {}).get("file", ""),
            }
        )
    return rows
