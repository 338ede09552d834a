"""Stages of model versions: build/lifecycle/stages.json holds the current version of each stage and an
append-only history of promotions (who, when, forced or not, what the gate said). Promoting never
touches a version's files."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from l1ml import manifest
from l1ml.errors import ConfigError

STAGES = ("production", "staging")


def stages_file(project) -> Path:
    return project.build_dir / "lifecycle" / "stages.json"


def load_stages(project) -> dict:
    f = stages_file(project)
    try:
        doc = json.loads(f.read_text())
    except FileNotFoundError:
        return {"current": {}, "history": []}
    except ValueError as exc:
        raise ConfigError(f"{f}: not valid JSON: {exc}") from None
    doc.setdefault("current", {})
    doc.setdefault("history", [])
    return doc


def current(project, stage: str = "production") -> str | None:
    return load_stages(project)["current"].get(stage)


def stage_of(project, version: str) -> str:
    """'production', 'staging', 'archived' (was in a stage before), or ''."""
    doc = load_stages(project)
    for stage, v in doc["current"].items():
        if v == version:
            return stage
    if any(h["version"] == version for h in doc["history"]):
        return "archived"
    return ""


def record_promotion(project, version: str, stage: str, forced: bool, gate: dict | None) -> dict:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}'; stages: {', '.join(STAGES)}")
    doc = load_stages(project)
    entry = {
        "version": version,
        "stage": stage,
        "previous": doc["current"].get(stage),
        "at": manifest.now(),
        "by": getpass.getuser(),
        "forced": forced,
        "gate": gate,
    }
    doc["history"].append(entry)
    doc["current"][stage] = version
    f = stages_file(project)
    f.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_json(f, doc)
    return entry
