"""Fixtures for the hwtest tests: the queue's isolated home and real worker processes, as in tests/synth
(whose helper module these tests share by path); the fake hardware manager is tests/vendor/fake_tools.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "synth"))
sys.path.insert(0, str(TESTS / "vendor"))

from synth_helpers import queue_home, stopped_procs  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    return queue_home(tmp_path, monkeypatch)


@pytest.fixture
def procs(home):
    yield from stopped_procs(home)
