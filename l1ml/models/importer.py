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
from l1ml.errors import ConfigError
from l1ml.progress import or_silent

NETWORK_SUFFIXES = (".h5", ".hdf5")
BDT_SUFFIXES = (".json", ".ubj")
INPUT_SHAPES = {
    "dense_ae": (units.N_INPUTS,),
    "vae": (units.N_INPUTS,),
    "cnn_ae": (units.N_OBJECTS, units.N_FEATURES, 1),
}


def import_model(project, file: str | Path, preprocessing: str | Path | None = None, progress=None) -> Path:
    """Register `file` as the project's next model version; returns its directory."""
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
            files, extra, score = _import_network(project, src, stage, pre, kind)
        rep.advance("import")
        threshold = _metrics(project, pre, score, stage, extra)
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
    booster.save_model(str(stage / "model.json"))  # the contract's format, whatever the source format
    from l1ml.models.train import bdt_scorer

    return {"model_file": "model.json"}, {}, bdt_scorer(booster, pre)


def _import_network(project, src: Path, stage: Path, pre: Preprocessing, kind: str) -> tuple[dict, dict]:
    from l1ml.models.deploy import build_deploy_model, deploy_without_finetune, has_batchnorm
    from l1ml.models.io import load_model, save_model

    model = load_model(src)
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    if shape != INPUT_SHAPES[kind]:
        raise ConfigError(
            f"{src.name}: input shape {shape} does not fit a '{kind}' project, "
            f"which takes {INPUT_SHAPES[kind]}"
        )
    shutil.copyfile(src, stage / "model.h5")
    if has_batchnorm(model):
        x_tr, x_va, m_tr, m_va = _background(project, pre, kind)
        deploy = build_deploy_model(model, kind, x_tr, x_va, m_tr, m_va, project)
        finetuned = True
    else:
        deploy, _ = deploy_without_finetune(model, kind)
        finetuned = False
    save_model(deploy, stage / "deploy.h5")
    from l1ml.models.train import network_scorer

    files = {"model_file": "model.h5", "deploy_file": "deploy.h5"}
    return files, {"finetuned": finetuned}, network_scorer(deploy, kind, pre)


def _metrics(project, pre: Preprocessing, score, stage: Path, extra: dict):
    """Trigger metrics and the rate threshold on the project's data, as for a trained model, so that
    validation can count flipped decisions. Without data the import still stands, without them."""
    from l1ml.errors import DataError
    from l1ml.models.train import evaluate, prepare

    try:
        d = prepare(project)
    except DataError as exc:
        extra["metrics"] = f"not computed: {exc}"
        return None
    d["pre"] = pre  # the imported model's own preprocessing, not one fitted here
    return evaluate(project, d, score, stage)["threshold"]


def _background(project, pre: Preprocessing, kind: str):
    """The project's background train/validation split, preprocessed the imported model's way."""
    from l1ml.data.io import load_project_samples, split_background
    from l1ml.models.ae import shape_inputs

    bkg = units.to_hardware(load_project_samples(project)["background"])
    b_tr, b_va, _ = split_background(bkg, project.data.split, project.data.seed)
    return (
        shape_inputs(kind, pre.apply(b_tr)),
        shape_inputs(kind, pre.apply(b_va)),
        units.padding_mask(b_tr),
        units.padding_mask(b_va),
    )


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
