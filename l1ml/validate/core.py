"""Software against firmware, on the project's background and signal events: the entry point.

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

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1ml.compare import OutputComparison
from l1ml.errors import ConfigError
from l1ml.layout import validation_dir
from l1ml.progress import or_silent

# What each comparison measures; informative comparisons carry their role in their name.
ROLES = {
    "folding": "user model vs deployed: folding and fine-tuning",
    "exact": "deployed vs firmware: bit-exactness",
    "quantization": "float vs fixed: quantization",
    "conversion": "xgboost vs conifer float: conversion",
    "ptq": "float model vs firmware: post-training quantization",
    "emulator": "emulator vs firmware: bit-exactness",
}


def role_of(c: OutputComparison) -> str:
    """The ROLES entry a comparison belongs to, from its name."""
    for key in ("folding", "quantization", "ptq"):
        if ROLES[key] in c.name:
            return ROLES[key]
    if c.name.endswith("float_vs_xgboost"):
        return ROLES["conversion"]
    if "(emulator vs C simulation)" in c.name and not c.informative:
        return ROLES["emulator"]
    if c.informative:  # a BDT's "<sample>/quantization": conifer float against the fixed-point reference
        return ROLES["quantization"]
    return ROLES["exact"]


@dataclass
class Divergence:
    layer: str
    events_compared: int
    mismatches: int
    max_diff: float
    types: dict[str, str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Case:
    """One pass/fail check: a JUnit testcase, and one term of the exit code's verdict."""

    name: str
    ok: bool
    message: str
    out: str = ""


@dataclass
class Validation:
    project: str
    version: str
    kind: str
    comparisons: list[OutputComparison]
    flips: dict[str, int]
    threshold: float | None
    events: dict[str, int]
    passed: bool
    quantization: list[OutputComparison] = field(default_factory=list)
    divergence: Divergence | None = None
    cached_library: bool | None = None
    details: dict = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    diffs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # for the plot only
    # Decisions allowed to flip per sample: BDTs' quantization tolerance; networks none (absent = 0).
    flips_allowed: dict[str, int] = field(default_factory=dict)

    # Lines a person must read with the verdict (inputs out of range, an emulator's refusal...): the CLI
    # prints them, report.json keeps them.
    notes: list[str] = field(default_factory=list)
    # A float network's quantization cost (l1ml/validate/ptq.py physics_cost); empty for every other model.
    ptq: dict = field(default_factory=dict)
    # The firmware variant validated (l1ml/firmware/variants.py); None for a flat, pre-variant conversion.
    variant: str | None = None

    def __post_init__(self):
        # One verdict: the exit code and the JUnit file are both read off the same checks.
        self.passed = bool(self.passed) and all(c.ok for c in self.cases())

    @property
    def failures(self) -> list[str]:
        return [c.name for c in self.cases() if not c.ok]

    @property
    def flip_kind(self) -> str:
        """BDT flips are quantization (float xgboost vs fixed-point firmware); network flips are not."""
        return "quantization" if self.kind == "bdt" or self.ptq else "bit-exact"

    def cases(self) -> list[Case]:
        """Every check the verdict is made of, in report order."""
        out = []
        for c in self.comparisons:
            msg = (
                f"{c.name}: {c.mismatches}/{c.events} values differ, max {c.max_diff_lsb:g} LSB "
                f"(tolerance {c.tolerance_lsb:g}), {100 * c.frac_identical:.3f}% bit-identical"
            )
            if not c.ok and self.divergence is not None:
                msg += f"; first diverging layer: {self.divergence.layer}"
            out.append(Case(f"bit-exact {c.name}", c.ok, msg, msg))
        for sample, n in self.flips.items():
            allowed = self.flips_allowed.get(sample, 0)
            msg = f"{sample}: {n} trigger decisions flipped at threshold {self.threshold}"
            if self.kind == "bdt":
                msg += (
                    f" between float xgboost and the fixed-point firmware (quantization; allowed {allowed}"
                    f" of {self.events.get(sample, 0)} events, [validation] quantization_flips)"
                )
            out.append(Case(f"{self.flip_kind} decisions {sample}", n <= allowed, msg, msg))
        q = self.ptq
        for sig, c in q.get("signals", {}).items():
            msg = (
                f"{sig}: TPR at {q['target_rate_khz']:.3g} kHz {c['tpr_float']:.4f} (float model) -> "
                f"{c['tpr_firmware']:.4f} (firmware), change {c['tpr_change']:+.4f}; allowed drop "
                f"{q['tolerance_tpr_drop']:g} ([validation] ptq_tpr_drop); AUC {c['auc_float']:.4f} -> "
                f"{c['auc_firmware']:.4f}"
            )
            out.append(Case(f"quantization cost {sig}", bool(c["within_tolerance"]), msg, msg))
        return out

    def to_dict(self) -> dict:
        return {
            "project": self.project,
            "version": self.version,
            "variant": self.variant,
            "kind": self.kind,
            "passed": self.passed,
            "events": self.events,
            "threshold": self.threshold,
            "flips": self.flips,
            "flip_kind": self.flip_kind,
            "flips_allowed": {k: self.flips_allowed.get(k, 0) for k in self.flips},
            "comparisons": [c.to_dict() for c in self.comparisons],
            "quantization": [c.to_dict() for c in self.quantization],
            "first_divergence": self.divergence.to_dict() if self.divergence else None,
            "cached_library": self.cached_library,
            "details": self.details,
            "notes": self.notes,
            "software_model": "float" if self.ptq or self.kind == "bdt" else "fixed",
            "ptq": self.ptq or None,
        }


def samples_hw(project, events: int) -> dict[str, np.ndarray]:
    """{sample: (N, 57) hardware units}, background first."""
    from l1ml.data import units
    from l1ml.data.io import load_project_samples

    return {name: units.to_hardware(p) for name, p in load_project_samples(project, events).items()}


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
    rep.advance("data")
    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    x = {k: pre.apply(v) for k, v in hw.items()}
    if man["kind"] == "bdt":
        result = _validate_bdt(project, model_dir, fw_dir, man, x, rep)
    else:
        x_physics = None
        if fw_man.get("software_model") == "float" and samples is None:
            from l1ml.validate.ptq import physics_samples  # a float network's physics cost wants more events

            x_physics = physics_samples(project, pre, n, rep)
        result = _validate_network(project, model_dir, fw_dir, man, fw_man, x, rep, x_physics)
    from l1ml.layout import variant_of

    result.variant = variant_of(fw_dir)
    return result


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
    from l1ml.validate.bdt import validate_bdt

    rep.task("bdt", None)
    r = validate_bdt(project, model_dir, fw_dir, x, man.get("threshold"))
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
        details={"bdt": {k: v for k, v in r.to_dict().items() if k not in ("comparisons",)}},
        notes=bdt_notes(r),
    )


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
