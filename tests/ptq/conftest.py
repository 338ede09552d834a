from __future__ import annotations

import pytest
from _cache import own_cache


@pytest.fixture(scope="module", autouse=True)
def csim_cache(tmp_path_factory):
    yield from own_cache(tmp_path_factory)
