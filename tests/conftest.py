"""Shared fixtures. Everything a test needs is generated here; nothing is downloaded."""

from __future__ import annotations

import collections
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Helpers live in a uniquely named module: "conftest" is a name every test directory has.
from _projects import make_project, project_on_data  # noqa: E402,F401

# Keep TensorFlow quiet and single-threaded enough to share 2 cores with the compilers.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """One set of generated event files shared by the session (background 20k, signals 5k each)."""
    from l1ml.data.generate import write_samples

    d = tmp_path_factory.mktemp("data")
    write_samples(d, 20_000, seed=3)
    return d


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("L1ML_CACHE_DIR", str(tmp_path / "cache"))
    yield
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)


# The synthesis queue's fixtures, for every directory whose tests run it (synth, synth_hardening, vendor,
# backends, hwtest, rtl, rootdata...). The bodies are in tests/synth/synth_helpers.py, imported when used.
def _synth_helpers():
    d = str(REPO / "tests" / "synth")
    if d not in sys.path:
        sys.path.insert(0, d)
    import synth_helpers

    return synth_helpers


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An isolated queue home and settings file, with none of the outside queue or tool variables."""
    return _synth_helpers().queue_home(tmp_path, monkeypatch)


@pytest.fixture
def procs(home):
    """The worker and server processes a test starts, always stopped (and job processes left killed)."""
    yield from _synth_helpers().stopped_procs(home)


# With pytest-xdist (`-n 2`, as CI runs), each worker gets whole groups: a directory whose conftest.py holds
# session-scoped fixtures (the Slurm cluster, trained and converted example projects, compiled caches) goes
# to one worker, so those fixtures are built once and the one Slurm cluster is never started twice; any
# other test file is a group of its own. The suite is bound by single-threaded g++ compiles, so two
# workers use both cores.
def _has_session_fixtures(directory: Path) -> bool:
    conf = directory / "conftest.py"
    return conf.is_file() and 'scope="session"' in conf.read_text()


_WHOLE_DIRS = {d.name for d in (REPO / "tests").iterdir() if d.is_dir() and _has_session_fixtures(d)}


def _xdist_group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in _WHOLE_DIRS:
        return "/".join(parts[:2])
    return path


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Groups with the most `slow` tests first, each group's own order kept (tests/slurm's time-limit test
    stays last of its group). The two workers take groups in this order: a long chain of compiles started
    last (tests/trigger's, ranked by test count) ran 6 min alone on one worker at the end of a CI run while
    the other sat idle; started early, the short groups fill in around it."""
    slow = collections.Counter(_xdist_group(i.nodeid) for i in items if i.get_closest_marker("slow"))
    first: dict[str, int] = {}
    for n, item in enumerate(items):
        first.setdefault(_xdist_group(item.nodeid), n)
    items.sort(key=lambda i: (-slow[_xdist_group(i.nodeid)], first[_xdist_group(i.nodeid)]))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return _xdist_group(nodeid)

    config.option.loadscopereorder = False  # the collection's order (above), not the groups' test counts
    return ByGroup(config, log)
