"""Fixtures of the RTL tests: tiny trained networks, converted once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synth"))  # synth_helpers: Procs, waits
from rtl_helpers import SMALL, trained  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def rtl_csim_cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("csim-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("L1ML_CACHE_DIR", str(d))
        yield d


@pytest.fixture(scope="session")
def small_vae(tmp_path_factory, small_data):
    """A small VAE encoder (57-8-4 + score), trained tiny, converted by hls4ml."""
    return trained(tmp_path_factory.mktemp("small_vae"), "vae_encoder", small_data, **SMALL)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An isolated queue home (as tests/synth/conftest.py's) for the queue tests of the RTL steps."""
    h = tmp_path / "queue"
    monkeypatch.setenv("L1ML_SYNTH_HOME", str(h))
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(tmp_path / "synth.toml"))
    for var in ("L1ML_SYNTH_SERVER", "L1ML_SYNTH_WORK", "L1ML_SYNTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture
def procs(home):
    """Worker processes started by a test, always stopped; and any job process left under the home."""
    from synth_helpers import Procs, kill_under

    ps = Procs()
    yield ps
    ps.stop()
    kill_under(home)
