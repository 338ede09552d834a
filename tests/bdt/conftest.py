"""Session fixtures: one small BDT, converted once; its compiled emulators are shared by every BDT test."""

from __future__ import annotations

import pytest
from _bdt import Bdt, make_bdt
from _cache import own_cache


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    yield from own_cache(tmp_path_factory, "emu-cache")


@pytest.fixture(scope="session")
def bdt(tmp_path_factory, cache_dir) -> Bdt:
    return make_bdt(tmp_path_factory.mktemp("bdt"))


@pytest.fixture(scope="session")
def validation(bdt):
    """The full validation (HLS csim, C++ backend, GHDL) of the session's BDT; compiles once."""
    from l1ml.validate.bdt import validate_bdt

    return validate_bdt(bdt.project, bdt.model_dir, bdt.fw_dir, bdt.samples, threshold=0.0)
