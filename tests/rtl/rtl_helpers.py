"""Helpers for the RTL tests (a uniquely named module; the fixtures are in tests/rtl/conftest.py)."""

from __future__ import annotations

from _projects import project_on_data

# Tiny trained projects: one epoch on a few thousand events; >= 2,000 events through Verilator.
TINY = {
    "training.epochs": 1,
    "training.finetune_epochs": 1,
    "data.max_events": 3000,
    "validation.events": 700,
    "validation.csim_events": 2100,
}
# A small network for the CI-run checks, so Verilator and Yosys take seconds, not minutes.
SMALL = {"model.hidden": [8], "model.latent": 4}
# The queue test of the issue: 57-64-32-16, big enough that Yosys takes real memory and time.
BIG = {"model.hidden": [64, 32], "model.latent": 16}


def trained(tmp, example: str, data, **overrides):
    """(project, firmware manifest) of an example trained tiny and converted with hls4ml."""
    from l1ml.firmware import convert
    from l1ml.models.train import train_project
    from l1ml.project import load_project

    proj = load_project(project_on_data(tmp, example, data, **{**TINY, **overrides}))
    train_project(proj)
    return proj, convert(proj)
