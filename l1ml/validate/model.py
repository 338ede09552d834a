"""Validating a model version's firmware: software against firmware, on the project's background and
signal events. The entry point (`validate`); the verdict types are in l1ml.validate.verdict.

Networks (l1ml.validate.network): the deployed QKeras model (evaluated in float64, where its sums are
exact) against the hls4ml C simulation, output by output, plus the trigger decision at the model's
threshold. BDTs: l1ml.validate.bdt. Either way the result is a Validation, written as JSON, JUnit XML and
a PNG of the differences (l1ml.validate.reports).

Differences are in LSBs of the firmware output type; a validation fails when one exceeds
project.validation.tolerance_lsb. The quantization error (the trained float model against the
firmware) is reported alongside and never fails. When a network mismatches, a tracing build of the
same firmware locates the first layer where software and firmware part.
"""

from __future__ import annotations

from pathlib import Path

from l1ml.errors import ConfigError
from l1ml.layout import validation_dir
from l1ml.progress import or_silent
from l1ml.validate.samples import samples_hw
from l1ml.validate.verdict import Validation


def validate(
    project, version: str | None = None, events: int | None = None, progress=None, samples=None
) -> Validation:
    """Validate the firmware of a model version (default: the newest). `samples` ({name: (N, 57) hardware
    units}) replaces the project's event files, e.g. in tests."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.project import read_json

    rep = or_silent(progress)
    model_dir = project.model_dir(version)
    version = model_dir.name
    fw_dir = project.firmware_dir(version)
    if not (fw_dir / "manifest.json").is_file():
        raise ConfigError(
            f"no firmware for model {version} in {fw_dir}; run `l1ml convert --model {version}` first"
        )
    man = read_json(model_dir / "manifest.json")
    fw_man = read_json(fw_dir / "manifest.json")
    _check_link(model_dir, fw_dir, fw_man)
    n = project.validation.events if events is None else events
    rep.task("data", None)
    hw = samples if samples is not None else samples_hw(project, n)
    hw = {k: v[:n] if n else v for k, v in hw.items()}
    if samples is None and man["kind"] == "bdt":
        hw = _without_training_signal(project, version, hw)
    rep.advance("data")
    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    x = {k: pre.apply(v) for k, v in hw.items()}
    if man["kind"] == "bdt":
        result = _validate_bdt(project, model_dir, fw_dir, man, x, rep)
    elif man["kind"] == "hgq2_ae":  # Keras 3: its outputs come from the worker (l1ml/frontends/hgq2.py)
        from l1ml.validate.hgq2 import validate_network

        result = validate_network(project, model_dir, fw_dir, man, fw_man, x, rep)
    else:
        x_physics = None
        if fw_man.get("software_model") == "float" and samples is None:
            from l1ml.validate.ptq import physics_samples  # a float network's physics cost wants more events

            x_physics = physics_samples(project, pre, n, rep)
        result = _validate_network(project, model_dir, fw_dir, man, fw_man, x, rep, x_physics)
    from l1ml.layout import variant_of

    result.variant = variant_of(fw_dir)
    result.estimate = _estimate(project, version, result.notes)
    return result


def _without_training_signal(project, version: str, hw: dict) -> dict:
    """A BDT's signal samples less the events it trained on (l1ml/models/threshold.py held_out): the
    quantization cost's TPRs are on held-out events, as the trigger record's."""
    from l1ml.models.threshold import held_out

    sig, _ = held_out(
        project, version, "bdt", {k: v for k, v in hw.items() if k != "background"}, prefix=True
    )
    return {"background": hw["background"], **sig}


def _estimate(project, version: str, notes: list[str]) -> dict:
    """The firmware's labelled resource and latency estimate (l1ml/firmware/estimate.py), written beside
    it, so that the gate and the report have figures where no synthesis ran. Its failure is a note, never
    the verdict's."""
    from l1ml.errors import L1mlError
    from l1ml.firmware.estimate import write_estimate

    try:
        return write_estimate(project, version)
    except (L1mlError, OSError, ValueError) as exc:  # an auxiliary figure: said, never fatal
        notes.append(f"no resource and latency estimate: {exc}")
        return {}


def _check_link(model_dir: Path, fw_dir: Path, fw_man: dict) -> None:
    """The firmware must have been made from this very model version."""
    from l1ml.manifest import sha256

    link = fw_man.get("model_manifest") or {}
    now = sha256(model_dir / "manifest.json")
    if link.get("sha256") and link["sha256"] != now:
        raise ConfigError(
            f"{fw_dir} was converted from a different {model_dir.name} (manifest hash changed); "
            "run `l1ml convert` again"
        )


def _validate_bdt(project, model_dir, fw_dir, man, x, rep) -> Validation:
    from l1ml.models.threshold import deployed_value
    from l1ml.validate.bdt import validate_bdt

    rep.task("bdt", None)
    r = validate_bdt(project, model_dir, fw_dir, x, deployed_value(project, model_dir.name, man))
    rep.advance("bdt")
    fails = [c for c in r.comparisons if not c.informative]
    return Validation(
        project=project.name,
        version=model_dir.name,
        kind="bdt",
        comparisons=fails,
        quantization=[c for c in r.comparisons if c.informative],
        flips=dict(r.flips),
        threshold=r.threshold,
        events=dict(r.events),
        passed=bool(r.passed),
        flips_allowed={k: allowed_flips(project, n) for k, n in r.events.items()},
        cost=quantization_cost(project, r.decisions),
        details={"bdt": {k: v for k, v in r.to_dict().items() if k not in ("comparisons",)}},
        notes=bdt_notes(r),
    )


def quantization_cost(project, decisions: dict) -> dict:
    """The physics cost of quantization per sample at the deployed threshold: the change of the fraction
    passing (a signal's TPR; the background's, the rate) from the software model to the firmware, with
    its statistical error (the events only one side passes, sqrt(gained + lost) / N), judged by [gate]'s
    limits (l1ml/lifecycle/gate.py): a signal by its drop, the background by its rate's growth."""
    import math

    from l1ml.lifecycle.gate import judge_drop, judge_rise

    out = {}
    for name, d in decisions.items():
        n = max(d["events"], 1)
        before, after = d["float"] / n, d["firmware"] / n
        err = math.sqrt(d["gained"] + d["lost"]) / n
        judge = judge_rise if name == "background" else judge_drop
        ok, detail = judge(project.gate, before, after, err)
        what = "rate fraction" if name == "background" else "TPR"
        out[name] = {**d, "before": before, "after": after, "error": err, "ok": ok,
                     "detail": f"{what} at the deployed threshold, firmware vs software: {detail}"}  # fmt: skip
    return out


def allowed_flips(project, events: int) -> int:
    """[validation] quantization_flips for a sample of `events`: a count, or a fraction of the events."""
    q = project.validation.quantization_flips
    return int(q) if q >= 1 else int(q * events)


def bdt_notes(r) -> list[str]:
    """One line per sample whose inputs or score leave the firmware's type: decisions there are not the
    model's, whatever the comparisons say."""
    notes = []
    for name, q in r.quantization.items():
        n = r.events.get(name, 0)
        if q.get("events_with_inputs_out_of_range"):
            notes.append(
                f"{name}: {q['events_with_inputs_out_of_range']:,} of {n:,} events have inputs outside "
                f"{r.precision} (they overflow in firmware)"
            )
        if q.get("events_with_score_out_of_range"):
            notes.append(
                f"{name}: {q['events_with_score_out_of_range']:,} of {n:,} events have a score outside "
                f"{r.precision} (the firmware's sum overflows)"
            )
    return notes


def _validate_network(project, model_dir, fw_dir, man, fw_man, x, rep, x_physics=None) -> Validation:
    from l1ml.validate.network import validate_network

    return validate_network(project, model_dir, fw_dir, man, fw_man, x, rep, x_physics)


def default_report_dir(project, version: str) -> Path:
    return validation_dir(project, version)
