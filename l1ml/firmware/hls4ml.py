"""Deployed network -> firmware through hls4ml: the converter `convert` calls for network kinds. The
hls4ml project is written by l1ml/firmware/hls_project.py (its docstring gives the precision policy);
this module checks the result can be emulated and gathers the manifest's fields."""

from __future__ import annotations

from pathlib import Path

from l1ml.errors import ConfigError, ConversionError
from l1ml.firmware.csim import source_hash
from l1ml.firmware.hls_project import build, layer_types, output_info
from l1ml.firmware.names import namespace, top_name


def convert_network(project, model_dir: Path, out_dir: Path, progress=None, overrides="project") -> dict:
    """The deployed network of a model version -> out_dir/hls4ml; returns the manifest fields."""
    import hls4ml

    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.boards import project_board
    from l1ml.manifest import sha256
    from l1ml.models.deploy import mask_covers
    from l1ml.models.io import load_model
    from l1ml.progress import or_silent
    from l1ml.project import read_json

    rep = or_silent(progress)
    board = project_board(project)  # an unknown board fails before any slow step
    man = read_json(model_dir / "manifest.json")
    if not man.get("deploy_file"):
        raise ConfigError(
            f"{model_dir / 'manifest.json'}: no 'deploy_file'; this model version has no deployed network"
        )
    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    what = (man.get("origin") or {}).get("import") or {}
    if what.get("fold") is False and what.get("batchnorm_kept") and not what.get("float_model"):
        raise ConversionError(
            f"model {model_dir.name} was imported with --no-fold and keeps BatchNormalization "
            f"{', '.join(what['batchnorm_kept'])}: hls4ml would compute it in a default precision, so the "
            "firmware cannot compute what the model computes. Import it again without --no-fold (the BN is "
            "folded and the model fine-tuned, and import reports what that costs)"
        )
    if man["kind"] != "vae":
        mask_covers(pre)
    input_precision = pre.input_precision()
    rep.task("hls4ml", None)
    deploy = load_model(model_dir / man["deploy_file"])
    hls_dir = out_dir / "hls4ml"
    ptq = ptq_request(project, pre, man["kind"], deploy)
    hls_model, cfg, notes = build(deploy, project, board, hls_dir, input_precision, ptq=ptq, overrides=overrides)
    rep.advance("hls4ml")
    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.firmware.backends import manifest_fields as backend_fields
    from l1ml.fixed import UnsupportedError

    try:
        NNEmulator(hls_model)  # decided from the graph alone, before any event: say so now, not at validate
        emulator = None
    except UnsupportedError as exc:
        if ptq is not None:
            # a float model's firmware is validated against the emulator: without it nothing is checked
            raise ConversionError(
                f"post-training quantization: the bit-exact emulator cannot reproduce this firmware ({exc}), "
                "and a float model's firmware is validated against it; change that layer or setting"
            ) from None
        emulator = (
            f"the bit-exact batch emulator cannot reproduce this firmware ({exc}); validation falls back to "
            "the C simulation on every event and the testbench gets no expected outputs"
        )
    score_layer = deploy.outputs[-1].name.split("/")[0]
    hazard = _wrap_hazard(project, pre, hls_model, score_layer) if emulator is None else None
    return {
        "wrap_hazard": hazard,
        "software_model": "float" if ptq is not None else "fixed",
        "ptq": notes.get("ptq"),
        "tool": "hls4ml",
        "hls4ml_version": hls4ml.__version__,
        "backend": project.firmware.backend,
        "io_type": project.firmware.io_type,
        "strategy": project.firmware.strategy,
        "reuse_factor": project.firmware.reuse_factor,
        "namespace": namespace(project),
        "project_name": top_name(project),
        "input_precision": input_precision,
        "input_shape": [int(s) for s in deploy.inputs[0].shape[1:]],
        "outputs": output_info(hls_model),
        "output_names": [t.name.split("/")[0] for t in deploy.outputs],
        "layer_types": layer_types(hls_model),
        "widened_pooling": notes["widened_pooling"],
        "emulator_refused": emulator,
        "hls_config_file": notes["overrides_file"],
        **backend_fields(hls_model, project),  # Catapult/Quartus/oneAPI/Libero (l1ml/firmware/backends/)
        "files": {"hls4ml": "hls4ml"},
        "hashes": {"deploy": sha256(model_dir / man["deploy_file"]), "sources": source_hash(hls_dir)},
    }


def _wrap_hazard(project, pre, hls_model, score_layer: str) -> dict:
    """Where the input or score type wraps: what wrapped on the project's background events and on the
    hardware range's corners (l1ml/firmware/wrap.py)."""
    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.errors import DataError
    from l1ml.firmware.wrap import BACKGROUND_EVENTS, hardware_extremes, wrap_hazard

    samples = {}
    try:
        events = load_particles(project.resolve(project.data.background), project.data.key, BACKGROUND_EVENTS)
        samples["background"] = pre.apply(units.to_hardware(events))
    except DataError:
        pass  # a project without event files yet: the hardware range is still checked
    samples["hardware-range"] = hardware_extremes(pre)
    return {**wrap_hazard(hls_model, samples, score_layer), "events": {k: len(v) for k, v in samples.items()}}


def ptq_request(project, pre, kind: str, deploy) -> dict | None:
    """build()'s `ptq` for a float network (post-training quantization; with profiling events in
    "profile" mode), None for a quantized one. convert and explore both ask here."""
    from l1ml.models.float_net import is_float_model

    if not is_float_model(deploy):
        return None
    return {"x": _profile_events(project, pre, kind) if project.firmware.ptq == "profile" else None}


def _profile_events(project, pre, kind: str):
    """The project's background training split, preprocessed as the firmware sees it, for profiling
    ([firmware] ptq = "profile"); at most [firmware] ptq_profile_events events."""
    from l1ml.data import units
    from l1ml.data.samples import load_project_samples, split_background
    from l1ml.models.ae import shape_inputs

    bkg = units.to_hardware(load_project_samples(project)["background"])
    train, _, _ = split_background(bkg, project.data.split, project.data.seed)
    return shape_inputs(kind, pre.apply(train[: project.firmware.ptq_profile_events]))
