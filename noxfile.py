"""nox sessions. They run in the environment that ./dev.sh prepares (python=False), because a fresh
TensorFlow venv per session would cost minutes and gigabytes each time.

tests (default): the test suite. demo: `l1ml demo`. lint: ruff. posargs pass through.
"""

import sys

import nox

nox.options.sessions = ["tests"]


@nox.session(python=False)
def tests(session):
    session.run(sys.executable, "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session(python=False, default=False)
def demo(session):
    session.run(sys.executable, "-m", "l1ml.cli.main", "demo", *session.posargs)


@nox.session(python=False, default=False)
def lint(session):
    session.run(sys.executable, "-m", "ruff", "check", "l1ml", "tests", "benchmarks", *session.posargs)
