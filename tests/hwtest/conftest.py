"""Fixtures for the hwtest tests: the queue's isolated home and real worker processes, as in tests/synth
(whose helper module these tests share by path); the fake hardware manager is tests/vendor/fake_tools.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "synth"))
sys.path.insert(0, str(TESTS / "vendor"))

from synth_helpers import Procs, kill_under  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "queue"
    monkeypatch.setenv("L1ML_SYNTH_HOME", str(h))
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(tmp_path / "synth.toml"))
    for var in ("L1ML_SYNTH_SERVER", "L1ML_SYNTH_WORK", "L1ML_SYNTH_TOKEN", "L1ML_VIVADO", "L1ML_VIVADO_LAB"):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture
def procs(home):
    ps = Procs()
    yield ps
    ps.stop()
    kill_under(home)
