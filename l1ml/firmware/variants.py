"""Firmware variants: one model version with one set of firmware settings, side by side on disk
(the tree is drawn in l1ml/layout.py, which also reads it: the active variant, a variant by name).

A variant's id is a short content hash of its settings (precisions and overrides, reuse, strategy, board
and clock, io type, backend, RTL target, and the model it was made from): the same settings give the same
id, so converting them again reuses the variant, and different settings can never overwrite another's
files. `project.firmware_dir(version)` resolves to the version's active variant (the last converted or
chosen one); a version converted before variants existed keeps its flat layout (firmware files directly
in vN/) and is read as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from l1ml.errors import ConfigError
from l1ml.layout import ACTIVE_FILE, LEGACY, VARIANT_FILE, is_flat, read_active_raw, variants

ID_LENGTH = 10  # hex digits of sha256: 40 bits, collisions are out of reach for a version's few variants
_ID = re.compile(rf"^[0-9a-f]{{{ID_LENGTH}}}$")
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def variant_id(settings: dict) -> str:
    """The short content hash naming a variant: sha256 of the settings as canonical JSON."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def check_label(label: str) -> str:
    if not _LABEL.match(label) or _ID.match(label) or label == LEGACY:
        raise ConfigError(
            f"variant label '{label}' is not usable: a letter, then letters, digits, '_', '.', '-' (at most 64), "
            f"and not a variant id or '{LEGACY}'"
        )
    return label


def settings_for(project, model_dir: Path, kind: str, overrides: dict | None) -> dict:
    """Everything that decides what a conversion writes, as plain data (hashed into the variant id)."""
    from l1ml.firmware.boards import project_board
    from l1ml.manifest import sha256

    fw = project.firmware
    board = project_board(project)
    s = {
        "model": {"version": model_dir.name, "manifest_sha256": sha256(model_dir / "manifest.json")},
        "kind": kind,
        "board": {
            "name": board.name,
            "part": board.part,
            "clock_period_ns": board.clock_period_ns,
            "clock_uncertainty_pct": board.clock_uncertainty_pct,
        },
        "namespace": fw.namespace or project.name,
    }
    if kind == "bdt":
        s["precision"] = fw.precision
        return s
    s.update(
        {
            "backend": fw.backend,
            "io_type": fw.io_type,
            "strategy": fw.strategy,
            "reuse_factor": fw.reuse_factor,
            "hls_config": overrides or {},
            "rtl": {"latency_cutoff_ns": fw.rtl_latency_cutoff_ns, "yosys_flow": fw.rtl_yosys_flow},
        }
    )
    if _float_model(model_dir):  # post-training quantization: its settings choose the precisions
        s["ptq"] = {"mode": fw.ptq, "precision": fw.ptq_precision, "profile_events": fw.ptq_profile_events}
    return s


def _float_model(model_dir: Path) -> bool:
    """An imported float network (the model manifest says so; see l1ml/models/importer.py)."""
    import json

    try:
        man = json.loads((model_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(((man.get("origin") or {}).get("import") or {}).get("float_model"))


def set_active(root: Path, variant: str, by: str) -> None:
    from l1ml.manifest import now, write_json

    if not (root / variant / VARIANT_FILE).is_file():
        raise ConfigError(f"no variant {variant} in {root}")
    write_json(root / ACTIVE_FILE, {"variant": variant, "at": now(), "by": by})


def set_label(root: Path, variant: str, label: str) -> None:
    """Give a variant a label; a label names at most one variant of a version."""
    from l1ml.manifest import write_json

    check_label(label)
    for r in variants(root):
        if r["id"] and r["id"] != variant and r.get("label") == label:
            raise ConfigError(f"label '{label}' already names variant {r['id']} of {root.name}")
    f = root / variant / VARIANT_FILE
    rec = json.loads(f.read_text())
    rec["label"] = label
    write_json(f, rec)


def migrate_flat(root: Path) -> str | None:
    """Move a flat (pre-variant) conversion into root/legacy/, so that a new variant overwrites nothing.
    Files naming the old directory (hls4ml_config.yml...) are repointed. Returns the variant id or None."""
    from l1ml.firmware.staging import repoint
    from l1ml.manifest import now, write_json

    if not is_flat(root) or (root / LEGACY).exists():
        return None
    stage = root / f".{LEGACY}-moving"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    for p in list(root.iterdir()):
        if p.name.startswith(".") or p.name == ACTIVE_FILE or (p / VARIANT_FILE).is_file():
            continue
        os.rename(p, stage / p.name)
    repoint(stage, root / LEGACY, old=root)
    try:
        man = json.loads((stage / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        man = {}
    write_json(
        stage / VARIANT_FILE,
        {
            "id": LEGACY,
            "label": None,
            "version": root.name,
            "settings": {k: man.get(k) for k in ("backend", "io_type", "strategy", "reuse_factor", "precision",
                                                  "board", "hls_config_file") if k in man},
            "created": man.get("created") or now(),
            "note": "converted before firmware variants existed; moved here from the flat layout",
        },
    )
    os.rename(stage, root / LEGACY)
    if read_active_raw(root) is None:
        set_active(root, LEGACY, "migration")
    return LEGACY


def remove(root: Path, variant: str) -> None:
    """Delete a variant (explore's unkept points); the active one cannot be removed."""
    if read_active_raw(root) == variant:
        raise ConfigError(f"variant {variant} is the active one of {root.name}; choose another first")
    d = root / variant
    if (d / VARIANT_FILE).is_file():
        gone = root / f".removing-{variant}-{os.getpid()}"
        os.rename(d, gone)  # out of sight at once; a crash while deleting leaves only a hidden directory
        shutil.rmtree(gone, ignore_errors=True)


def project_for(project, fw_manifest: dict):
    """The project with [firmware] strategy, reuse, io type and backend of a variant's manifest, so that
    a rebuild (a tracing build for validation) makes the variant's firmware, not the project file's."""
    from dataclasses import replace

    keys = {"strategy": "strategy", "reuse_factor": "reuse_factor", "io_type": "io_type", "backend": "backend"}
    changes = {f: fw_manifest[k] for k, f in keys.items() if fw_manifest.get(k) is not None}
    return replace(project, firmware=replace(project.firmware, **changes)) if changes else project
