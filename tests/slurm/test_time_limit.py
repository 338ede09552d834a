"""Last of the session (tests/slurm/conftest.py moves it there): the scenario's timeout job, submitted first,
reaches Slurm's time limit (a minute, checked every 30 s) while every other test runs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def ending(scenario):
    yield scenario
    scenario.close()  # nothing of the queue on Slurm needs to outlive this module


def test_slurm_time_limit_is_a_timeout(ending):
    j = ending.wait("timeout", 150)
    assert j.state == "timeout", j
    assert "time limit" in j.reason
    assert ending.slurm_state("timeout") == "TIMEOUT"
