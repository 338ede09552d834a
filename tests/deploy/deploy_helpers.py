"""Helpers for tests/deploy (a unique module name: conftest.py names clash across test directories)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE.parent.parent / "l1ml" / "deploy" / "templates"

# Tiny and quick: a small dense AE compiles in a fraction of the example's time; the rates give
# thresholds with tens to hundreds of background events above them on a 20k-event sample.
TINY = {
    "training.epochs": 1,
    "training.finetune_epochs": 1,
    "data.max_events": 3000,
    "validation.events": 200,
    "trigger.rates_khz": [1.0, 100.0, 1000.0],
    # a 20k-event sample cannot hold 100 events above a 1 kHz threshold; deploy refuses that by default
    "trigger.min_events_above": 0,
}
DENSE = {"model.hidden": [8], "model.latent": 3}
BDT = {"model.n_estimators": 5, "model.max_depth": 3}


def passing_report(project, version: str = "v1") -> Path:
    """A minimal passing validation report (report.json as `l1ml validate` writes it), so the deploy gate
    opens without running the C simulation here; tests/convert and tests/bdt cover validate itself."""
    d = project.build_dir / "validation" / version
    d.mkdir(parents=True, exist_ok=True)
    f = d / "report.json"
    f.write_text(json.dumps({"project": project.name, "version": version, "kind": "test", "passed": True}))
    return f


def compile_host(out: Path) -> Path:
    exe = out / "host"
    subprocess.run(
        ["g++", "-std=c++17", "-O1", f"-I{TEMPLATES}", str(HERE / "host.cpp"), "-o", str(exe), "-ldl"],
        check=True,
        capture_output=True,
    )
    return exe


def write_events(path: Path, hw: np.ndarray) -> Path:
    np.ascontiguousarray(hw, dtype=np.int32).tofile(path)
    return path


def read_outputs(path: Path, per_event: int) -> np.ndarray:
    return np.fromfile(path, dtype=np.int64).reshape(-1, per_event)
