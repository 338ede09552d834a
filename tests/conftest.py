"""Shared fixtures. Everything a test needs is generated here; nothing is downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Keep TensorFlow quiet and single-threaded enough to share 2 cores with the compilers.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def make_project(tmp: Path, example: str, **overrides) -> Path:
    """A copy of an example project with smaller settings: overrides are 'section.key' = TOML value text."""
    import tomllib

    src = REPO / "projects" / example / "project.toml"
    doc = tomllib.loads(src.read_text())
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        doc.setdefault(section, {})[key] = value
    d = tmp / example
    d.mkdir(parents=True, exist_ok=True)
    (d / "project.toml").write_text(_dump_toml(doc))
    return d


def _dump_toml(doc: dict) -> str:
    import json

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(v)

    lines = [f"{k} = {val(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {val(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """One set of generated event files shared by the session (background 20k, signals 5k each)."""
    from l1ml.data.generate import write_samples

    d = tmp_path_factory.mktemp("data")
    write_samples(d, 20_000, seed=3)
    return d


def project_on_data(tmp: Path, example: str, data: Path, **overrides) -> Path:
    """An example project pointed at already generated files."""
    from l1ml.data.generate import SIGNALS

    overrides.setdefault("data.synthetic", False)
    overrides["data.background"] = str(data / "background.h5")
    overrides["data.signals"] = {s: str(data / f"{s}.h5") for s in SIGNALS}
    return make_project(tmp, example, **overrides)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("L1ML_CACHE_DIR", str(tmp_path / "cache"))
    yield
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
