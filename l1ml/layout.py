"""Where each stage's files live under projects/NAME/build/: the one module that spells the build tree.

    build/
        models/vN/                      trained or imported model versions
        firmware/vN/                    one model version's firmware
            active.json                 {"variant": "<id>", "at": ..., "by": "convert"|"use"|...}
            <id>/                       one variant: manifest.json, hls4ml/ or conifer_*/, rtl/ ...
                variant.json            {"id", "label", "version", "settings", "created"}
        validation/vN/report.json       `l1ml validate`'s verdict
            trigger.json                the variant's thresholds, set on the rate sample
        emulation/vN/rate.json, scores.npz
        synth/vN/<step>/summary.json    fetched queue results
        report/vN/report.html
        deploy/vN/thresholds.json
        run/records/<step>.json         `l1ml run`'s records (one per step of RUN_STEPS)

Firmware variants are written by l1ml/firmware/variants.py; this module holds their read side, so that
every layer can find a version's active firmware without importing firmware generation. A version
converted before variants existed keeps its flat layout (firmware files directly in vN/) and is read as
it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from l1ml.errors import ConfigError

# The steps of `l1ml run`, in order (l1ml/run/steps.py defines them; a test ties the two). They live here
# so that readers of the run records (the report) need not import the runner.
RUN_STEPS = ("data", "train", "convert", "validate", "rate", "synth", "deploy", "report", "track")

ACTIVE_FILE = "active.json"
VARIANT_FILE = "variant.json"
LEGACY = "legacy"  # where a flat (pre-variant) conversion moves when the version gets its first variant


# ---- `l1ml run`'s records and each step's results ----


def run_dir(project) -> Path:
    return project.build_dir / "run"


def record_file(project, step: str) -> Path:
    return run_dir(project) / "records" / f"{step}.json"


def read_record(project, step: str) -> dict | None:
    """A step's run record ({"step", "key", "result", "finished", "seconds"}), None when it has none."""
    try:
        return json.loads(record_file(project, step).read_text())
    except (OSError, ValueError):
        return None


def log_file(project, step: str) -> Path:
    return run_dir(project) / "logs" / f"{step}.log"


def toolchain_file(project, version: str) -> Path:
    """The toolchain fingerprint of the firmware of a model version (written by the convert step)."""
    return run_dir(project) / version / "toolchain.json"


def rate_file(project, version: str) -> Path:
    return project.build_dir / "emulation" / version / "rate.json"


def scores_file(project, version: str) -> Path:
    """Firmware-exact scores of the whole background and of every signal (npz), from the rate step."""
    return project.build_dir / "emulation" / version / "scores.npz"


def trigger_file(project, version: str) -> Path:
    """The one threshold record of the version's active firmware variant (l1ml/models/threshold.py):
    thresholds per target rate, set on the rate sample, with rates and TPRs and their intervals."""
    return project.firmware_dir(version) / "trigger.json"


def review_file(project, version: str) -> Path:
    """The trigger review's numbers beside the record (l1ml/models/review.py): the cut baseline at the
    same rate, the model's gain over it, turn-on curves; written by the rate step, read by the report."""
    return project.firmware_dir(version) / "review.json"


def synth_dir(project, version: str) -> Path:
    """Fetched queue results: <step>/summary.json and the job's files."""
    return project.build_dir / "synth" / version


def report_file(project, version: str) -> Path:
    return project.build_dir / "report" / version / "report.html"


def validation_dir(project, version: str) -> Path:
    """`l1ml validate`'s results of a version: report.json, junit.xml, figures."""
    return project.build_dir / "validation" / version


def validation_report(project, version: str) -> Path:
    return validation_dir(project, version) / "report.json"


def rtl_resources(project, version: str) -> Path:
    """Issue 12's contract: open-source synthesis figures of the RTL path."""
    return project.firmware_dir(version) / "rtl" / "resources.json"


def estimate_file(project, version: str) -> Path:
    """The labelled resource and latency estimate of the active variant (l1ml/firmware/estimate.py)."""
    return project.firmware_dir(version) / "estimate.json"


def deploy_dir(project, version: str) -> Path:
    return project.build_dir / "deploy" / version


def deploy_thresholds(project, version: str) -> Path:
    """Issue 11's contract: the thresholds `l1ml deploy` wrote."""
    return deploy_dir(project, version) / "thresholds.json"


def run_deployment(project, version: str) -> Path:
    """Where `l1ml run`'s deploy step puts the library, its thresholds and the board bundle."""
    return deploy_dir(project, version) / "run"


# ---- firmware variants: the read side ----


def version_root(project, version: str) -> Path:
    return project.build_dir / "firmware" / version


def is_flat(root: Path) -> bool:
    """A conversion made before variants: its manifest lies directly in vN/."""
    return (root / "manifest.json").is_file()


def read_active(root: Path) -> str | None:
    f = root / ACTIVE_FILE
    if not f.is_file():
        return None
    try:
        v = json.loads(f.read_text()).get("variant")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ConfigError(f"{f}: not a valid active-variant record ({exc}); remove it or run `l1ml firmware use`") from None
    if not isinstance(v, str) or not (root / v).is_dir():
        raise ConfigError(f"{f} names variant {v!r}, which is not in {root}; run `l1ml firmware use` to pick one")
    return v


def read_active_raw(root: Path) -> str | None:
    f = root / ACTIVE_FILE
    try:
        return json.loads(f.read_text()).get("variant") if f.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def resolve_dir(root: Path, variant: str | None = None) -> Path:
    """The firmware directory of a version root: the named variant (id, id prefix or label), else the
    active one, else the root itself (a flat conversion, or nothing converted yet)."""
    if variant:
        return root / find(root, variant)["id"]
    active = read_active(root)
    return root / active if active else root


def variants(root: Path) -> list[dict]:
    """The variant records of a version root, oldest first; a flat conversion is listed as 'flat'."""
    out = []
    if not root.is_dir():
        return out
    for d in root.iterdir():
        f = d / VARIANT_FILE
        if d.is_dir() and f.is_file():
            try:
                rec = json.loads(f.read_text())
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{f}: not valid JSON: {exc}") from None
            rec["dir"] = str(d)
            out.append(rec)
    out.sort(key=lambda r: (r.get("created", ""), r["id"]))
    if is_flat(root):
        out.insert(0, {"id": "", "label": "flat layout (converted before variants)", "dir": str(root),
                       "settings": None, "created": None})
    return out


def find(root: Path, name: str) -> dict:
    """A variant by id, unique id prefix or label."""
    have = [r for r in variants(root) if r["id"]]
    hits = [r for r in have if name in (r["id"], r.get("label"))]
    if not hits and len(name) >= 4:
        hits = [r for r in have if r["id"].startswith(name)]
    if len(hits) == 1:
        return hits[0]
    names = ", ".join(r["id"] + (f" ({r['label']})" if r.get("label") else "") for r in have) or "none"
    what = "is ambiguous" if hits else "not found"
    raise ConfigError(f"firmware variant '{name}' {what} in {root}; variants: {names}")


def variant_of(fw_dir: Path) -> str | None:
    """The variant id a firmware directory belongs to; None for a flat conversion."""
    f = Path(fw_dir) / VARIANT_FILE
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text()).get("id")
    except json.JSONDecodeError:
        return None
