"""A compiled-library cache of the tests' own: `L1ML_CACHE_DIR` pointed at a fresh directory for a
fixture's scope, so each C simulation or emulator is compiled once there and never taken from (or left in)
the user's cache. Fixtures use it as `yield from own_cache(tmp_path_factory)`."""

from __future__ import annotations

import pytest


def own_cache(tmp_path_factory, name: str = "csim-cache"):
    d = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("L1ML_CACHE_DIR", str(d))
        yield d
