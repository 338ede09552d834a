"""The verdict types of every validation kind (network, BDT, RTL, hardware): what each comparison
measures, a layer where software and firmware part, one pass/fail case, and the Validation they make up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from l1ml.compare import OutputComparison

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
    # Decisions allowed to flip per sample: reported beside a BDT's flips; networks none (absent = 0).
    flips_allowed: dict[str, int] = field(default_factory=dict)
    # A BDT's quantization cost per sample at the deployed threshold (validate/model.py
    # quantization_cost): the TPR or rate change with its error, judged by [gate]'s limits. It, not the
    # raw number of flipped decisions, is the verdict's second part.
    cost: dict = field(default_factory=dict)

    # Lines a person must read with the verdict (inputs out of range, an emulator's refusal...): the CLI
    # prints them, report.json keeps them.
    notes: list[str] = field(default_factory=list)
    # A float network's quantization cost (l1ml/validate/ptq.py physics_cost); empty for every other model.
    ptq: dict = field(default_factory=dict)
    # The firmware variant validated (l1ml/firmware/variants.py); None for a flat, pre-variant conversion.
    variant: str | None = None
    # The firmware's labelled resource and latency estimate (l1ml/firmware/estimate.py), {} without one.
    estimate: dict = field(default_factory=dict)

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
        for sample, c in self.cost.items():
            msg = (
                f"{sample}: {c['detail']}; {self.flips.get(sample, 0)} of {c['events']} decisions differ "
                f"({c['gained']} gained, {c['lost']} lost) at threshold {self.threshold}"
            )
            out.append(Case(f"quantization cost {sample}", bool(c["ok"]), msg, msg))
        for sample, n in self.flips.items():
            if sample in self.cost:
                continue  # judged in physics terms above
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
            msg = f"{sig}: {c['detail']}; AUC {c['auc_float']:.4f} -> {c['auc_firmware']:.4f}"
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
            "quantization_cost": self.cost or None,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "quantization": [c.to_dict() for c in self.quantization],
            "first_divergence": self.divergence.to_dict() if self.divergence else None,
            "cached_library": self.cached_library,
            "details": self.details,
            "notes": self.notes,
            "software_model": "float" if self.ptq or self.kind == "bdt" else "fixed",
            "ptq": self.ptq or None,
            "estimate": self.estimate or None,
        }
