"""Promotion: run the gate against the current production version, refuse on failure unless forced,
record the promotion (forced ones as forced), and mirror it to MLflow when tracking is set up."""

from __future__ import annotations

from l1ml.errors import L1mlError
from l1ml.lifecycle.gate import GateResult, run_gate
from l1ml.lifecycle.stages import current, record_promotion
from l1ml.lifecycle.summary import version_summary


class GateFailed(L1mlError):
    """The regression gate refused a version; the message names the failed checks."""


def check(project, version: str, reference: str | None = None) -> GateResult:
    """The gate of `version` against `reference` (default: the production version)."""
    project.model_dir(version)  # an unknown version is an error naming the known ones
    ref = reference or current(project)
    # Against itself (re-promoting production) every comparison is a no-op pass.
    return run_gate(project, version_summary(project, version), version_summary(project, ref) if ref else None)


def failure_line(g: GateResult) -> str:
    parts = [f"{c.name} ({c.detail})" for c in g.failures]
    tools = f"; toolchain changed since {g.reference}: {', '.join(g.toolchain_changes)}" if g.toolchain_changes else ""
    return f"gate failed for {g.candidate} against {g.reference or 'nothing'}: {'; '.join(parts)}{tools}"


def promote(project, version: str, stage: str = "production", force: bool = False) -> tuple[dict, GateResult]:
    g = check(project, version)
    if not g.passed and not force:
        raise GateFailed(failure_line(g) + "; use --force to promote anyway (recorded as forced)")
    entry = record_promotion(project, version, stage, forced=bool(force and not g.passed), gate=g.to_dict())
    from l1ml.lifecycle.tracking import tracking_uri

    if tracking_uri(project):
        from l1ml.lifecycle.tracking.mlflow_adapter import set_stage_alias

        entry["mlflow"] = set_stage_alias(project, version, stage)
    return entry, g
