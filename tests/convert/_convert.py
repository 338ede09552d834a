"""Helpers for the conversion tests (importable by name, unlike conftest.py files)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TINY = {
    "training.epochs": 1,
    "training.finetune_epochs": 1,
    "data.max_events": 3000,
    "validation.events": 200,
}


def _root_conftest():
    f = Path(__file__).resolve().parent.parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("l1ml_tests_root_conftest", f)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def project_on_data(tmp, example, data, **overrides):
    return _root_conftest().project_on_data(tmp, example, data, **overrides)


def tiny_project(tmp, example, data, **overrides):
    from l1ml.project import load_project

    return load_project(project_on_data(tmp, example, data, **{**TINY, **overrides}))
