"""Validation of a post-training-quantized (float) network (l1ml/firmware/ptq.py).

The software model is float, so the firmware cannot equal it, and nothing is learnt by counting LSBs
against it. Two questions are asked instead:

1. Is the emulator the firmware? The hls4ml C simulation against the bit-exact batch emulator on the
   first [validation] csim_events events, at 0 LSB, always (the emulator is what the physics below, the
   rate and deploy's thresholds are computed with). This must hold.
2. What does quantization cost in physics? The firmware (the emulator, on every validation event) against
   the float model: per signal the TPR at the project's target rate, each model at its own threshold for
   that rate (the rate is a fraction of the colliding-bunch rate, project.colliding_rate_hz), the AUC, and
   the fraction of trigger decisions that flip. A signal's TPR change is judged with its statistical error
   by the same rule and [gate] limits as the regression gate and a BDT's quantization cost
   (l1ml/lifecycle/gate.py judge_drop: absolute tpr_drop, tpr_drop_relative, significance), never by a raw
   drop. [validation] ptq_tpr_drop, the former raw limit, is accepted and ignored with a note.
"""

from __future__ import annotations

import numpy as np

from l1ml.compare import compare
from l1ml.fixed import count_overflows, lsb_of
from l1ml.validate.verdict import ROLES, Validation


def physics_samples(project, pre, n: int, rep) -> dict | None:
    """{sample: preprocessed inputs} for the physics cost: [validation] ptq_events per sample from the
    project's files (0: every event), or None when that is no more than the validation's own `n`."""
    from l1ml.validate.samples import samples_hw

    m = project.validation.ptq_events
    if n == 0 or (m != 0 and m <= n):
        return None
    rep.task("physics events", None)
    hw = samples_hw(project, m)
    rep.advance("physics events")
    return {k: pre.apply(v) for k, v in hw.items()}


def validate_ptq(project, model_dir, fw_dir, man, fw_man, x, rep, labeller, x_physics=None) -> Validation:
    """`x`: {sample: inputs} for the bit-exact check (and the physics when `x_physics` is None)."""
    from l1ml.emulate.nn_fixed import build_emulator, emulate_arrays
    from l1ml.firmware.csim import load_csim
    from l1ml.models.ae import shape_inputs
    from l1ml.models.io import load_model, predict_exact

    kind = man["kind"]
    names = list(x)
    sizes = {k: len(v) for k, v in x.items()}
    X = shape_inputs(kind, np.concatenate([x[k] for k in names]))
    n_csim = min(len(X), project.validation.csim_events)
    rep.task("compile", None)
    csim, cached = load_csim(fw_dir, fw_man)
    rep.advance("compile")
    rep.task("firmware", None)
    fw_csim = [np.asarray(o).reshape(n_csim, -1) for o in csim.predict(X[:n_csim])]
    rep.advance("firmware")
    rep.task("emulator", None)
    emulator = build_emulator(fw_dir / "hls4ml")
    # Values an overflow mode brought back into range, per layer: a profiled type too narrow for these
    # events (or a layer left at the default type) shows here, not only as a physics cost.
    with count_overflows() as overflows:
        emu = [o.reshape(len(X), -1) for o in emulate_arrays(emulator, X).values()]
    rep.advance("emulator")
    rep.task("float model", None)
    deploy = load_model(model_dir / man["deploy_file"])
    sw = [o.reshape(len(X), -1) for o in predict_exact(deploy, X)]
    rep.advance("float model")

    comps, quant, diffs = [], [], {}
    for i, (c, e, info) in enumerate(zip(fw_csim, emu, fw_man["outputs"], strict=True)):
        label = labeller(kind, i)
        lsb = lsb_of(info["precision"])
        comps.append(compare(f"{label} (emulator vs C simulation)", c, e[:n_csim], lsb, 0))
        diffs[f"{label} emulator vs C simulation"] = ((e[:n_csim] - c) / lsb).ravel()
        s = sw[i]
        scale = float(np.max(np.abs(s))) or 1.0
        quant.append(compare(f"{label} ({ROLES['ptq']})", s, e, lsb=scale * 2**-20, informative=True))
        diffs[f"{label} float-vs-firmware quantization"] = ((e - s) / scale).ravel()
    from l1ml.validate.rtl import rtl_checks  # where `convert --backend rtl` built a design

    comps += rtl_checks(project, fw_dir, fw_man, X, emu, [labeller(kind, i) for i in range(len(emu))], rep)

    if x_physics is None:
        bounds, start = {}, 0
        for k in names:
            bounds[k] = slice(start, start + sizes[k])
            start += sizes[k]
        float_scores = {k: sw[1][b].ravel() for k, b in bounds.items()}
        fw_scores = {k: emu[1][b].ravel() for k, b in bounds.items()}
    else:
        rep.task("physics", None)
        float_scores, fw_scores = {}, {}
        for k, xs in x_physics.items():  # sample by sample: the scores alone are kept
            xs = shape_inputs(kind, xs)
            fw_scores[k] = list(emulate_arrays(emulator, xs).values())[1].ravel()
            float_scores[k] = predict_exact(deploy, xs)[1].ravel()
        rep.advance("physics")
    cost = physics_cost(project, float_scores, fw_scores)
    cost["mode"] = (fw_man.get("ptq") or {}).get("mode")
    cost["default_precision"] = (fw_man.get("ptq") or {}).get("default_precision")
    cost["overflows"] = {layer: dict(c) for layer, c in overflows.items() if any(c.values())}
    v = Validation(
        project=project.name,
        version=model_dir.name,
        kind=kind,
        comparisons=comps,
        quantization=quant,
        flips={},
        threshold=None,
        events=sizes,
        passed=all(c.ok for c in comps),
        cached_library=cached,
        details={
            "output_precisions": {labeller(kind, i): o["precision"] for i, o in enumerate(fw_man["outputs"])},
            "firmware_outputs": (
                f"batch emulator on all {len(X)} events, checked against the C simulation on the first {n_csim}"
            ),
        },
        diffs=diffs,
        ptq=cost,
    )
    v.notes.append(
        f"the software model is float (post-training quantization, [firmware] ptq = '{cost['mode']}'): the "
        "firmware is checked bit for bit against the emulator; against the float model its differences are "
        "the quantization's, reported as physics"
    )
    if cost["overflows"]:
        v.notes.append(overflow_note(cost["overflows"], len(X)))
    if deprecated_ptq_tpr_drop(project):
        v.notes.append(
            "[validation] ptq_tpr_drop is deprecated and no longer used: the quantization cost is judged by "
            "[gate] tpr_drop, tpr_drop_relative and significance, as the gate and BDTs are; remove it"
        )
    if not cost["resolvable"]:
        v.notes.append(
            f"the target rate ({cost['target_rate_khz']:.3g} kHz, FPR {cost['target_fpr']:.2g}) is below "
            f"1/N for the {cost['background_events']:,} background events validated: the TPRs rest on the "
            "highest background score; validate more events (--events) for a physics figure"
        )
    return v


def overflow_note(overflows: dict, events: int) -> str:
    """One line for the verdict: which layers' values left their type on the validated events, and how."""
    parts = [
        f"{layer}: " + ", ".join(f"{n:,} {how}" for how, n in sorted(c.items()) if n)
        for layer, c in sorted(overflows.items(), key=lambda kv: -sum(kv[1].values()))
    ]
    wrapped = sum(c.get("wrapped", 0) for c in overflows.values())
    return (
        f"overflows on the {events:,} validated events (values the firmware brought back into its type): "
        + "; ".join(parts)
        + (f". {wrapped:,} wrapped around: such a value becomes a wrong, normal-looking one" if wrapped else "")
    )


def physics_cost(project, float_scores: dict, fw_scores: dict) -> dict:
    """The float model against the firmware on the same events ({sample: score}, background first): each
    signal's TPR at the target rate (each model at its own threshold for it) and AUC, and per sample the
    trigger decisions that differ between the two. A signal's TPR change has the error of a paired
    comparison, sqrt(events deciding differently) / N, and is judged by [gate]'s limits (judge_drop)."""
    import math

    from l1ml.lifecycle.gate import judge_drop
    from l1ml.models.metrics import trigger_metrics

    names = list(float_scores)
    bkg = names[0]
    signals = names[1:]
    fpr, ref = project.trigger_fpr, project.trigger.reference_fpr
    rate_hz = project.colliding_rate_hz
    m_float = trigger_metrics(float_scores[bkg], {k: float_scores[k] for k in signals}, fpr, ref, rate_hz)
    m_fw = trigger_metrics(fw_scores[bkg], {k: fw_scores[k] for k in signals}, fpr, ref, rate_hz)
    t_float, t_fw = m_float["threshold"], m_fw["threshold"]
    g = project.gate
    flips = {}
    for k in names:
        d_float = np.asarray(float_scores[k]) > t_float
        d_fw = np.asarray(fw_scores[k]) > t_fw
        flips[k] = {"flips": int((d_float != d_fw).sum()), "fraction": float((d_float != d_fw).mean())}
    out_signals = {}
    for k in signals:
        f, w = m_float["signals"][k], m_fw["signals"][k]
        err = math.sqrt(flips[k]["flips"]) / max(len(fw_scores[k]), 1)
        ok, detail = judge_drop(g, f["tpr_at_target_rate"], w["tpr_at_target_rate"], err)
        out_signals[k] = {
            "tpr_float": f["tpr_at_target_rate"],
            "tpr_firmware": w["tpr_at_target_rate"],
            "tpr_change": w["tpr_at_target_rate"] - f["tpr_at_target_rate"],
            "auc_float": f["auc"],
            "auc_firmware": w["auc"],
            "auc_change": w["auc"] - f["auc"],
            "tpr_float_reference_fpr": f["tpr_at_reference_fpr"],
            "tpr_firmware_reference_fpr": w["tpr_at_reference_fpr"],
            "tpr_change_error": err,
            "within_tolerance": ok,
            "detail": f"TPR at {m_float['target_rate_khz']:.3g} kHz, firmware vs float model: {detail}",
        }
    n_b = len(float_scores[bkg])
    return {
        "software_model": "float",
        "limits": {
            "tpr_drop": g.tpr_drop,
            "tpr_drop_relative": g.tpr_drop_relative,
            "significance": g.significance,
        },
        "target_rate_khz": m_float["target_rate_khz"],
        "target_fpr": fpr,
        "colliding_rate_hz": rate_hz,
        "background_events": n_b,
        "resolvable": fpr * n_b >= 1,
        "threshold_float": t_float,
        "threshold_firmware": t_fw,
        "signals": out_signals,
        "flips": flips,
    }


def deprecated_ptq_tpr_drop(project) -> bool:
    """Whether the project file still sets [validation] ptq_tpr_drop (its default cannot tell)."""
    import tomllib

    try:
        doc = tomllib.loads(project.file.read_text())
    except (OSError, ValueError):
        return False
    return "ptq_tpr_drop" in (doc.get("validation") or {})
