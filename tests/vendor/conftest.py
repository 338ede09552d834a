"""Fixtures for the vendor-flow tests: the synthesis queue's isolated home and its worker processes, as in
tests/synth (whose helper module, synth_helpers.py, these tests share by path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synth"))

from synth_helpers import Procs  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "queue"
    monkeypatch.setenv("L1ML_SYNTH_HOME", str(h))
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(tmp_path / "synth.toml"))  # absent: no [tools] overrides
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
