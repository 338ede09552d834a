from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def csim_cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("csim-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("L1ML_CACHE_DIR", str(d))
        yield d
