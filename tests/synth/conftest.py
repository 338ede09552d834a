"""Fixtures for the synthesis-queue tests: an isolated queue home, and real worker/server processes that
are always stopped. The helpers are in synth_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_helpers import Procs, kill_under


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "queue"
    monkeypatch.setenv("L1ML_SYNTH_HOME", str(h))
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(tmp_path / "synth.toml"))  # absent unless a test writes it
    for var in (
        "L1ML_SYNTH_SERVER",
        "L1ML_SYNTH_WORK",
        "L1ML_SYNTH_TOKEN",
        "L1ML_VITIS_RUN",
        "L1ML_VITIS_HLS",
        "L1ML_VIVADO_HLS",
        "L1ML_VIVADO",
    ):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture
def procs(home):
    ps = Procs()
    yield ps
    ps.stop()
    kill_under(home)
