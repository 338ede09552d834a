"""Fixtures of the RTL tests: tiny trained networks, converted once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _cache import own_cache

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synth"))  # synth_helpers: Procs, waits
from rtl_helpers import SMALL, trained  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def rtl_csim_cache(tmp_path_factory):
    yield from own_cache(tmp_path_factory)


@pytest.fixture(scope="session")
def small_vae(tmp_path_factory, small_data):
    """A small VAE encoder (57-8-4 + score), trained tiny, converted by hls4ml."""
    return trained(tmp_path_factory.mktemp("small_vae"), "vae_encoder", small_data, **SMALL)
