"""Fixtures for tests/backends: helpers imported by name (backends_helpers.py here, fake_tools.py from
tests/vendor, synth_helpers.py from tests/synth), and the synthesis queue's isolated home and workers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for d in (HERE, HERE.parent / "vendor", HERE.parent / "synth"):
    sys.path.insert(0, str(d))

from synth_helpers import Procs  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "queue"
    monkeypatch.setenv("L1ML_SYNTH_HOME", str(h))
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(tmp_path / "synth.toml"))  # absent: no [tools] overrides
    for var in ("L1ML_SYNTH_SERVER", "L1ML_SYNTH_WORK", "L1ML_SYNTH_TOKEN", "L1ML_CATAPULT", "L1ML_SHLS"):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture
def procs(home):
    ps = Procs()
    yield ps
    ps.stop()
