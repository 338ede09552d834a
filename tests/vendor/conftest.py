"""Fixtures for the vendor-flow tests: the synthesis queue's isolated home and its worker processes, as in
tests/synth (whose helper module, synth_helpers.py, these tests share by path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synth"))

from synth_helpers import queue_home, stopped_procs  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    return queue_home(tmp_path, monkeypatch)


@pytest.fixture
def procs(home):
    yield from stopped_procs(home)
