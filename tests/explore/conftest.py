from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_data):
    """One trained tiny dense AE per module."""
    from explore_helpers import trained_project

    return trained_project(tmp_path_factory.mktemp("explore"), small_data)
