"""Network validation: the deployed QKeras model against the hls4ml firmware (C simulation, and the
batch emulator beyond [validation] csim_events), the quantization error, and the first diverging layer."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from l1ml.compare import OutputComparison, compare, flipped_decisions
from l1ml.fixed import lsb_of
from l1ml.validate.verdict import Divergence, Validation


def _output_label(kind: str, i: int) -> str:
    if i == 1:
        return "score"
    return "z_mean" if kind == "vae" else "reconstruction"


def validate_network(project, model_dir, fw_dir, man, fw_man, x, rep, x_physics=None) -> Validation:
    from l1ml.firmware.csim import load_csim
    from l1ml.models.ae import shape_inputs
    from l1ml.models.io import load_model, predict_exact

    if fw_man.get("software_model") == "float":  # post-training quantized: l1ml/validate/ptq.py
        from l1ml.validate.ptq import validate_ptq

        return validate_ptq(project, model_dir, fw_dir, man, fw_man, x, rep, _output_label, x_physics)
    kind = man["kind"]
    names = list(x)
    sizes = {k: len(v) for k, v in x.items()}
    X = shape_inputs(kind, np.concatenate([x[k] for k in names]))
    rep.task("compile", None)
    csim, cached = load_csim(fw_dir, fw_man)
    rep.advance("compile")
    fw, emu_checks, note = _firmware_outputs(project, csim, fw_dir, fw_man, X, rep)
    rep.task("software", None)
    deploy = load_model(model_dir / man["deploy_file"])
    sw = [o.reshape(len(X), -1) for o in predict_exact(deploy, X)]
    rep.advance("software")
    tol = project.validation.tolerance_lsb
    comps, diffs = [], {}
    for i, (s, f, info) in enumerate(zip(sw, fw, fw_man["outputs"], strict=True)):
        label = _output_label(kind, i)
        lsb = lsb_of(info["precision"])
        comps.append(compare(label, s, f, lsb, tol))
        diffs[label] = ((f - s) / lsb).ravel()
    from l1ml.models.threshold import deployed_value

    thr = deployed_value(project, model_dir.name, man)
    flips, bounds, start = {}, {}, 0
    for k in names:
        bounds[k] = slice(start, start + sizes[k])
        start += sizes[k]
    if thr is not None:
        flips = {k: flipped_decisions(sw[1][b], fw[1][b], thr) for k, b in bounds.items()}
    quant = _quantization(model_dir, man, kind, X, sw, fw, diffs)
    comps += emu_checks
    comps += _hardware_range(model_dir, man, kind, csim, deploy, fw_man, tol)
    from l1ml.validate.rtl import rtl_checks  # where `convert --backend rtl` built a design

    comps += rtl_checks(project, fw_dir, fw_man, X, fw, [_output_label(kind, i) for i in range(len(fw))], rep)
    passed = all(c.ok for c in comps) and not any(flips.values())
    v = Validation(
        project=project.name,
        version=model_dir.name,
        kind=kind,
        comparisons=comps,
        quantization=quant,
        flips=flips,
        threshold=thr,
        events=sizes,
        passed=passed,
        cached_library=cached,
        details={
            "output_precisions": {
                _output_label(kind, i): o["precision"] for i, o in enumerate(fw_man["outputs"])
            },
            "firmware_outputs": note,
        },
        diffs=diffs,
    )
    if "refused" in note:
        v.notes.append(f"firmware outputs: {note}")
    if not passed:
        rep.task("trace", None)
        bad = np.zeros(len(X), bool)
        for s, f in zip(sw, fw, strict=True):
            bad |= (s != f).any(axis=1)
        v.divergence = first_divergence(project, deploy, fw_man, X[bad][:200], fw_dir / "hls4ml")
        rep.advance("trace")
    return v


def _hardware_range(model_dir, man, kind, csim, deploy, fw_man, tol) -> list[OutputComparison]:
    """The deployed model against the C simulation on events at the corners of the hardware range and
    beyond the project's samples (l1ml/firmware/wrap.py): an anomaly trigger sees such events by design,
    and a type that wraps on them turns one into a small, normal-looking score. On the project's events
    alone that hazard passes unseen."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.wrap import hardware_extremes
    from l1ml.models.ae import shape_inputs
    from l1ml.models.io import predict_exact

    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    X = shape_inputs(kind, hardware_extremes(pre))
    sw = [o.reshape(len(X), -1) for o in predict_exact(deploy, X)]
    fw = [np.asarray(o).reshape(len(X), -1) for o in csim.predict(X)]
    return [
        compare(f"{_output_label(kind, i)} (hardware-range events)", s, f, lsb_of(info["precision"]), tol)
        for i, (s, f, info) in enumerate(zip(sw, fw, fw_man["outputs"], strict=True))
    ]


def _firmware_outputs(project, csim, fw_dir, fw_man, X, rep):
    """The firmware's outputs for every event.

    Up to [validation] csim_events events: hls4ml's C simulation. Beyond that, the bit-exact batch
    emulator, which is itself compared with the C simulation on those first events, at 0 LSB, so the
    emulator stays checked wherever it stands in for the firmware. A network the emulator refuses falls
    back to the C simulation on every event, and the report says so.
    """
    n_csim = min(len(X), project.validation.csim_events)
    rep.task("firmware", None)
    fw_csim = [np.asarray(o).reshape(n_csim, -1) for o in csim.predict(X[:n_csim])]
    rep.advance("firmware")
    if n_csim == len(X):
        return fw_csim, [], f"C simulation on all {len(X)} events"
    from l1ml.emulate.nn_fixed import emulate_arrays
    from l1ml.fixed import UnsupportedError

    rep.task("emulator", None)
    try:
        emu = [o.reshape(len(X), -1) for o in emulate_arrays(fw_dir / "hls4ml", X).values()]
    except UnsupportedError as exc:
        fw = [np.asarray(o).reshape(len(X), -1) for o in csim.predict(X)]
        return fw, [], f"C simulation on all {len(X)} events (the batch emulator refused: {exc})"
    rep.advance("emulator")
    checks = []
    for i, (e, c, info) in enumerate(zip(emu, fw_csim, fw_man["outputs"], strict=True)):
        label = f"{_output_label(fw_man.get('kind', ''), i)} (emulator vs C simulation)"
        checks.append(compare(label, c, e[:n_csim], lsb_of(info["precision"]), 0))
    note = f"batch emulator on all {len(X)} events, checked against the C simulation on the first {n_csim}"
    return emu, checks, note


def _quantization(model_dir, man, kind, X, sw, fw, diffs) -> list[OutputComparison]:
    """The informative comparisons, each labelled for what it measures (validate.verdict.ROLES):
    - the user's (or trained) model against the deployed model: what folding BN and fine-tuning changed;
    - the float score formula on the firmware's reconstruction against the firmware's score: what the
      fixed-point score head's quantization changed.
    The deployed model against the firmware (bit-exactness) is the verdict, compared elsewhere."""
    from l1ml.models.deploy import add_score_head, score_numpy, trunk, vae_score_numpy
    from l1ml.models.io import load_model, predict_exact
    from l1ml.validate.verdict import ROLES

    out = []
    flat = X.reshape(len(X), -1)
    float_score = vae_score_numpy(fw[0]) if kind == "vae" else score_numpy(flat, fw[0])
    scale = float(np.max(np.abs(float_score))) or 1.0
    out.append(
        compare(f"score ({ROLES['quantization']})", float_score, fw[1], lsb=scale * 2**-20, informative=True)
    )
    diffs["score float-vs-fixed quantization"] = ((fw[1] - float_score) / scale).ravel()
    f = model_dir / man.get("model_file", "")
    if not man.get("model_file") or not f.is_file() or man.get("model_file") == man.get("deploy_file"):
        return out
    user = add_score_head(trunk(load_model(f), kind), kind)
    ys = [o.reshape(len(X), -1) for o in predict_exact(user, X)]
    for i, (u, d) in enumerate(zip(ys, sw, strict=True)):
        label = _output_label(kind, i)
        scale = float(np.max(np.abs(u))) or 1.0
        out.append(compare(f"{label} ({ROLES['folding']})", u, d, lsb=scale * 2**-20, informative=True))
        diffs[f"{label} user-vs-deployed quantization"] = ((d - u) / scale).ravel()
    return out


def first_divergence(
    project, deploy, fw_man: dict, X: np.ndarray, generated: Path | None = None
) -> Divergence | None:
    """Run the failing events through a tracing build and the float64 software layer by layer; the first
    layer (in the firmware's order) whose outputs differ. `generated`: the hls4ml project validated, whose
    own sources the tracing build then traces (an edit made after conversion is traced too)."""
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.csim import traced_csim
    from l1ml.models.io import layer_outputs_exact

    if not len(X):
        return None
    from l1ml.firmware.variants import project_for

    with tempfile.TemporaryDirectory(prefix="l1ml-trace-") as tmp:
        board = project_board(project)
        # The variant's own settings and overrides, not the project file's (they may differ: explore)
        csim, order = traced_csim(
            deploy,
            project_for(project, fw_man),
            board,
            fw_man["input_precision"],
            Path(tmp) / "hls4ml",
            overrides=fw_man["hls_overrides"] if "hls_overrides" in fw_man else "project",
            generated=generated,
        )
        _, fw_layers = csim.trace(X)
    keras_names = [layer.name for layer in deploy.layers]
    common = [n for n in order if n in fw_layers and n in keras_names]
    sw_layers = layer_outputs_exact(deploy, X, common)
    for name in common:
        s = sw_layers[name].reshape(len(X), -1)
        f = fw_layers[name].reshape(len(X), -1)
        if s.shape != f.shape:
            continue
        diff = s != f
        if diff.any():
            return Divergence(
                layer=name,
                events_compared=len(X),
                mismatches=int(diff.any(axis=1).sum()),
                max_diff=float(np.abs(s - f).max()),
                types=fw_man.get("layer_types", {}).get(name, {}),
            )
    return None


# ---- reports ----
