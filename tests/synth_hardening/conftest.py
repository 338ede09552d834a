"""Fixtures for the queue-hardening tests: an isolated queue home and real processes, always stopped
(the helpers are in hardening_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hardening_helpers import synth


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "queue"
    monkeypatch.setenv("L1ML_SYNTH_HOME", str(h))
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(tmp_path / "synth.toml"))
    for var in ("L1ML_SYNTH_SERVER", "L1ML_SYNTH_WORK", "L1ML_SYNTH_TOKEN", "L1ML_SYNTH_SANDBOX"):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture
def procs(home):
    ps = synth.Procs()
    yield ps
    ps.stop()
    synth.kill_under(home)
