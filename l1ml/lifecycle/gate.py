"""The regression gate: a candidate version against the production version. It fails when the candidate
is not bit-exact; when its threshold rests on fewer than [trigger] min_events_above background events;
when a signal's TPR at the deployed threshold (the trigger record's, l1ml/models/threshold.py) drops by
more than [gate] tpr_drop (absolute) or tpr_drop_relative (of the reference's TPR) and the drop is
significant (over `significance` standard errors); when the rate at the target threshold grows by more
than rate_growth; or when the latency or a resource grows by more than latency_growth / resource_growth
(relative), compared like with like (cost_checks: vendor, else open-RTL, else the labelled estimate, each
side from the same source). It names every tool whose version changed since the production version."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from l1ml.lifecycle.fingerprint import changed
from l1ml.lifecycle.summary import cost_figures, numbers, trigger_target, validation_state

LATENCY = ("latency_cycles", "rtl_latency_cycles", "est_latency_cycles")


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
    # The candidate's deployed threshold, rate and TPRs: its trigger record's entry for the target rate.
    trigger: dict | None = None

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
            "trigger": self.trigger,
        }


def judge_drop(g, before: float, after: float, err: float) -> tuple[bool, str]:
    """A TPR going from `before` to `after` (error `err` on the change) against [gate]'s limits: it fails
    when the drop exceeds the absolute or the relative limit and is significant. validate's quantization
    cost is judged by this same rule."""
    drop = before - after
    rel = drop / before if before > 0 else 0.0
    limit = min(g.tpr_drop, g.tpr_drop_relative * before) if before > 0 else g.tpr_drop
    sig = drop / err if err > 0 else (math.inf if drop > 0 else 0.0)
    ok = not (drop > limit and sig > g.significance)
    detail = (
        f"{after:.4f} vs {before:.4f} ({-drop:+.4f} +- {err:.4f}, {-rel:+.1%}, {sig:.1f} sigma; fails beyond "
        f"{g.tpr_drop:g} absolute or {g.tpr_drop_relative:.0%} relative at over {g.significance:g} sigma)"
    )
    return ok, detail


def judge_rise(g, before: float, after: float, err: float) -> tuple[bool, str]:
    """A background fraction (a rate) going from `before` to `after`: it fails when it grows by more than
    [gate] rate_growth (relative) and the growth is significant."""
    rise = after - before
    rel = rise / before if before > 0 else (math.inf if rise > 0 else 0.0)
    sig = rise / err if err > 0 else (math.inf if rise > 0 else 0.0)
    ok = not (rel > g.rate_growth and sig > g.significance)
    detail = (
        f"{after:.4g} vs {before:.4g} ({rise:+.4g} +- {err:.2g}, {rel:+.1%}, {sig:.1f} sigma; fails beyond "
        f"{g.rate_growth:.0%} relative growth at over {g.significance:g} sigma)"
    )
    return ok, detail


def _half(e: dict) -> float:
    """One standard error of a TPR from its 68% interval."""
    return (e["tpr_high"] - e["tpr_low"]) / 2


def trigger_checks(project, cand: dict, ref: dict | None) -> list[Check]:
    """The threshold's statistics, and per signal the TPR at the deployed threshold against the
    reference's, from the two trigger records."""
    g, minimum = project.gate, project.trigger.min_events_above
    a = trigger_target(cand)
    if a is None:
        return [
            Check("threshold", False, f"{cand['version']} has no trigger record; run `l1ml run --from rate`")
        ]
    stats = [
        Check(
            "threshold statistics",
            a["events_above"] >= minimum,
            f"threshold {a['threshold_int']} ({a['threshold']:.6g}) of {cand['version']} rests on "
            f"{a['events_above']} rate-sample events above it (need {minimum}, [trigger] min_events_above)",
        )
    ]
    checks: list[Check] = []
    b = trigger_target(ref) if ref else None
    if b is None:
        return stats
    for sig in sorted(b["signals"]):
        eb = b["signals"][sig]
        ea = a["signals"].get(sig)
        if ea is None:
            checks.append(
                Check(f"tpr_at_target_rate/{sig}", False, f"{cand['version']} has no TPR for {sig}")
            )
            continue
        err = math.hypot(_half(ea), _half(eb))
        ok, detail = judge_drop(g, eb["tpr"], ea["tpr"], err)
        checks.append(Check(f"tpr_at_target_rate/{sig}", ok, f"TPR at the deployed threshold {detail}"))
    ra, rb = a["rate_measured_khz"], b["rate_measured_khz"]
    grow = (ra - rb) / rb if rb else 0.0
    checks.append(
        Check(
            "rate",
            grow <= g.rate_growth,
            f"{ra:.3g} kHz [{a['rate_low_khz']:.3g}, {a['rate_high_khz']:.3g}] vs {rb:.3g} kHz ({grow:+.1%}; "
            f"allowed rate_growth {g.rate_growth:g})",
        )
    )
    return checks + stats


def cost_checks(g, cand: dict, ref: dict, notes: list[str]) -> list[Check]:
    """Latency and resources, like with like: vendor figures against vendor figures of the same step,
    open-RTL against open-RTL of the same flow, and, only where neither is on both sides, the labelled
    estimate against an estimate of the same source. Every check says which source it read."""
    checks: list[Check] = []
    a_all, b_all = cost_figures(cand), cost_figures(ref)
    for tier in ("vendor", "open RTL", "estimate"):
        if tier == "estimate" and checks:
            break  # measured figures exist on both sides; the estimate adds nothing
        for ea in (e for e in a_all if e["tier"] == tier):
            for eb in (e for e in b_all if e["tier"] == tier and e["figures"].keys() & ea["figures"].keys()):
                if ea["source"] != eb["source"]:
                    notes.append(
                        f"{', '.join(sorted(ea['figures']))}: {cand['version']}'s from {ea['source']}, "
                        f"{ref['version']}'s from {eb['source']}; not compared (different sources)"
                    )
                    continue
                for name in sorted(ea["figures"].keys() & eb["figures"].keys()):
                    checks.append(
                        _growth(g, name, ea["figures"][name], eb["figures"][name], f"{tier}: {ea['source']}")
                    )
    if not checks:
        notes.append(
            f"latency and resources not compared: no source on both sides ({cand['version']}: {_sources(a_all)}; "
            f"{ref['version']}: {_sources(b_all)}); `l1ml validate` writes the labelled estimate"
        )
    return checks


def _sources(entries: list[dict]) -> str:
    return ", ".join(f"{e['tier']} ({e['source']})" for e in entries) or "none"


def _growth(g, name: str, a: float, b: float, source: str) -> Check:
    tol, what = (
        (g.latency_growth, "latency_growth") if name in LATENCY else (g.resource_growth, "resource_growth")
    )
    growth = (a - b) / b if b else (0.0 if a == 0 else float("inf"))
    return Check(
        name,
        a <= b * (1 + tol),
        f"{a:g} vs {b:g} ({growth:+.1%}; allowed {what} {tol:g}; both from {source})",
    )


def run_gate(project, cand: dict, ref: dict | None) -> GateResult:
    """cand/ref: version summaries (l1ml.lifecycle.summary.version_summary)."""
    g = project.gate
    state = validation_state(cand)
    checks = [Check("bit-exact", state == "bit-exact", f"validation of {cand['version']}: {state}")]
    res = GateResult(cand["version"], ref["version"] if ref else None, checks, trigger=trigger_target(cand))
    checks.extend(trigger_checks(project, cand, ref))
    if ref is None:
        res.notes.append(
            "no production version yet: bit-exactness and the threshold's statistics are checked"
        )
        return res
    a, b = numbers(cand), numbers(ref)
    if trigger_target(ref) is None:  # an older reference without a trigger record: train's figures
        for name in sorted(k for k in b if k.startswith("tpr_at_target_rate/")):
            if name not in a:
                checks.append(
                    Check(name, False, f"{cand['version']} has no {name}; {ref['version']} has {b[name]:.4f}")
                )
                continue
            ok, detail = judge_drop(g, b[name], a[name], 0.0)
            checks.append(Check(name, ok, detail))
    checks.extend(cost_checks(g, cand, ref, res.notes))
    res.toolchain_changes = changed(ref.get("toolchain"), cand.get("toolchain"))
    if not ref.get("toolchain") or not cand.get("toolchain"):
        res.notes.append("toolchain fingerprint missing for one version (made outside `l1ml run`)")
    return res
