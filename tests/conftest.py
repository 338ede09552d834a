"""Shared fixtures. Everything a test needs is generated here; nothing is downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Helpers live in a uniquely named module: "conftest" is a name every test directory has.
from _projects import make_project, project_on_data  # noqa: E402,F401

# Keep TensorFlow quiet and single-threaded enough to share 2 cores with the compilers.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """One set of generated event files shared by the session (background 20k, signals 5k each)."""
    from l1ml.data.generate import write_samples

    d = tmp_path_factory.mktemp("data")
    write_samples(d, 20_000, seed=3)
    return d


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("L1ML_CACHE_DIR", str(tmp_path / "cache"))
    yield
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
