"""Fixtures for the queue-hardening tests: an isolated queue home and real processes, always stopped
(the helpers are in hardening_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hardening_helpers import synth


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    return synth.queue_home(tmp_path, monkeypatch)


@pytest.fixture
def procs(home):
    yield from synth.stopped_procs(home)
