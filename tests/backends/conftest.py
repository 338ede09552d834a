"""Fixtures for tests/backends: helpers imported by name (backends_helpers.py here, fake_tools.py from
tests/vendor, synth_helpers.py from tests/synth), and the synthesis queue's isolated home and workers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for d in (HERE, HERE.parent / "vendor", HERE.parent / "synth"):
    sys.path.insert(0, str(d))

from synth_helpers import queue_home, stopped_procs  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    return queue_home(tmp_path, monkeypatch)


@pytest.fixture
def procs(home):
    yield from stopped_procs(home)
