"""The rule between validation and synthesis: a vendor step (hours of a build host) is refused for firmware
whose last validation failed. `l1ml synth submit` (unless --force) and `l1ml run`'s synth step both ask it.
"""

from __future__ import annotations

import json

from l1ml.errors import L1mlError

VENDOR_STEPS = ("csynth", "cosim", "vsynth")


def refuse_failed_validation(project, model: str | None, step: str) -> None:
    """Raise when `step` is a vendor step and the firmware's last validation failed. A report older than
    the firmware belongs to an earlier conversion, and one of another firmware variant, do not count."""
    from l1ml.layout import validation_report, variant_of

    if step not in VENDOR_STEPS:
        return
    fw = project.firmware_dir(model)
    version = model or project.model_dir().name
    report = validation_report(project, version)
    if not report.is_file() or not (fw / "manifest.json").is_file():
        return
    if report.stat().st_mtime < (fw / "manifest.json").stat().st_mtime:
        return
    try:
        rec = json.loads(report.read_text())
    except (OSError, ValueError):
        return
    if rec.get("variant", variant_of(fw)) != variant_of(fw):
        return  # the report is of another firmware variant of this version
    if rec.get("passed") is False:
        raise L1mlError(
            f"the last validation of {project.name} {version} failed ({report}); fix the firmware and run "
            "`l1ml validate` again, or pass --force to synthesise it anyway"
        )
