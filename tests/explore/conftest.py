from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_data):
    """One trained tiny dense AE for the directory."""
    from explore_helpers import trained_project

    return trained_project(tmp_path_factory.mktemp("explore"), small_data)
