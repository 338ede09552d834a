"""Helpers for the Slurm tests, importable by name (``conftest`` is ambiguous beside tests/synth's)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _load_synth_helpers():
    # The queue's own test helpers (tiny C++ firmware project, CLI runner, service processes), reused so
    # these tests drive the queue exactly as tests/synth does.
    spec = importlib.util.spec_from_file_location(
        "synth_test_helpers", REPO / "tests" / "synth" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synth = _load_synth_helpers()


def scontrol_job(slurm_id: str) -> dict[str, str]:
    from l1ml.synth.dispatch.slurm import parse_scontrol

    r = subprocess.run(
        ["scontrol", "--oneliner", "show", "job", slurm_id], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    return parse_scontrol(r.stdout)
