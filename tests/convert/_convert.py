"""Helpers for the conversion tests (importable by name, unlike conftest.py files)."""

from __future__ import annotations

from _projects import project_on_data

TINY = {
    "training.epochs": 1,
    "training.finetune_epochs": 1,
    "data.max_events": 3000,
    "validation.events": 200,
}


def tiny_project(tmp, example, data, **overrides):
    from l1ml.project import load_project

    return load_project(project_on_data(tmp, example, data, **{**TINY, **overrides}))
