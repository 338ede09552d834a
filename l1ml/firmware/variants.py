"""Firmware variants: one model version with one set of firmware settings, side by side on disk.

    projects/NAME/build/firmware/vN/
        active.json             {"variant": "<id>", "at": ..., "by": "convert"|"use"|...}
        <id>/                   one variant: manifest.json, hls4ml/ or conifer_*/, rtl/ ...
            variant.json        {"id", "label", "version", "settings", "created"}

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

ACTIVE_FILE = "active.json"
VARIANT_FILE = "variant.json"
ID_LENGTH = 10  # hex digits of sha256: 40 bits, collisions are out of reach for a version's few variants
LEGACY = "legacy"  # where a flat (pre-variant) conversion moves when the version gets its first variant
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


# ---- where things are ----


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
    from l1ml.firmware import repoint
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


def read_active_raw(root: Path) -> str | None:
    f = root / ACTIVE_FILE
    try:
        return json.loads(f.read_text()).get("variant") if f.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def variant_of(fw_dir: Path) -> str | None:
    """The variant id a firmware directory belongs to; None for a flat conversion."""
    f = Path(fw_dir) / VARIANT_FILE
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text()).get("id")
    except json.JSONDecodeError:
        return None


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
