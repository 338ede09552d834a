"""Fixtures for the synthesis-queue tests: an isolated queue home, and real worker/server processes that
are always stopped. The helpers are in synth_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_helpers import queue_home, stopped_procs


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    return queue_home(tmp_path, monkeypatch)


@pytest.fixture
def procs(home):
    yield from stopped_procs(home)
