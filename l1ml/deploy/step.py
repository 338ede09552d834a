"""Deploy as a step of `l1ml run` (which lives on this layer and so cannot import it: the CLI hands this
module to the chain). Its refusal is asked before any work, in deploy's own words: the validation check
and the threshold's statistics ([trigger] min_events_above), exactly as `l1ml deploy` would refuse."""

from __future__ import annotations

from pathlib import Path

from l1ml.errors import L1mlError


def refusal(project, version: str) -> str | None:
    """Why `l1ml deploy` (without --force) refuses this version, or None."""
    from l1ml.deploy.core import check_validated
    from l1ml.deploy.thresholds import thresholds
    from l1ml.models import threshold
    from l1ml.project import read_json

    try:
        check_validated(project, version, force=False)
        record = threshold.read(project, version)
        if record is not None:  # without one, deploy makes it and refuses there
            kind = read_json(project.models_dir / version / "manifest.json").get("kind")
            fw_man = read_json(project.firmware_dir(version) / "manifest.json")
            thresholds(project, record, threshold.score_type(kind, fw_man), force=False)
    except L1mlError as exc:
        return str(exc)
    return None


def deploy_into(project, version: str, out: Path, progress=None) -> dict:
    """`l1ml deploy --out out`; the step's JSON-able result."""
    from l1ml import layout
    from l1ml.deploy.core import deploy

    d = deploy(project, out, version=version, progress=progress)
    return {
        "out": str(d.out),
        "library": str(d.library),
        "bundle": str(d.bundle),
        "thresholds": str(layout.deploy_thresholds(project, version)),
        "parity": d.parity,
        "seconds": d.seconds,
    }
