"""The regression gate: a candidate version against the production version. It fails when the candidate
is not bit-exact, when a signal's TPR at the target rate drops by more than [gate] tpr_drop, or when the
latency or a resource grows by more than [gate] latency_growth / resource_growth (relative). It names
every tool whose version changed since the production version."""

from __future__ import annotations

from dataclasses import dataclass, field

from l1ml.lifecycle.fingerprint import changed
from l1ml.lifecycle.summary import numbers, validation_state

GROWTH = ("LUT", "FF", "DSP", "BRAM_18K", "URAM", "rtl_lut", "rtl_ff", "rtl_dsp", "rtl_bram")
LATENCY = ("latency_cycles", "rtl_latency_cycles")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class GateResult:
    candidate: str
    reference: str | None
    checks: list[Check]
    toolchain_changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict:
        return {
            "candidate": self.candidate,
            "reference": self.reference,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "failed": [c.name for c in self.failures],
            "toolchain_changes": self.toolchain_changes,
            "notes": self.notes,
        }


def run_gate(project, cand: dict, ref: dict | None) -> GateResult:
    """cand/ref: version summaries (l1ml.lifecycle.summary.version_summary)."""
    g = project.gate
    state = validation_state(cand)
    checks = [Check("bit-exact", state == "bit-exact", f"validation of {cand['version']}: {state}")]
    res = GateResult(cand["version"], ref["version"] if ref else None, checks)
    if ref is None:
        res.notes.append("no production version yet: only bit-exactness is checked")
        return res
    a, b = numbers(cand), numbers(ref)
    for name in sorted(k for k in b if k.startswith("tpr_at_target_rate/")):
        if name not in a:
            checks.append(Check(name, False, f"{cand['version']} has no {name}; {ref['version']} has {b[name]:.4f}"))
            continue
        drop = b[name] - a[name]
        checks.append(
            Check(
                name,
                drop <= g.tpr_drop,
                f"{a[name]:.4f} vs {b[name]:.4f} ({-drop:+.4f}; allowed drop {g.tpr_drop:g})",
            )
        )
    for names, tol, what in ((LATENCY, g.latency_growth, "latency_growth"), (GROWTH, g.resource_growth, "resource_growth")):
        for name in names:
            if name not in b:
                continue
            if name not in a:
                res.notes.append(f"{name}: measured for {ref['version']}, not for {cand['version']}; not compared")
                continue
            limit = b[name] * (1 + tol)
            growth = (a[name] - b[name]) / b[name] if b[name] else (0.0 if a[name] == 0 else float("inf"))
            checks.append(
                Check(name, a[name] <= limit, f"{a[name]:g} vs {b[name]:g} ({growth:+.1%}; allowed {what} {tol:g})")
            )
    res.toolchain_changes = changed(ref.get("toolchain"), cand.get("toolchain"))
    if not ref.get("toolchain") or not cand.get("toolchain"):
        res.notes.append("toolchain fingerprint missing for one version (made outside `l1ml run`)")
    return res
