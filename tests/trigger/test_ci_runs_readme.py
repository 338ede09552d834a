"""CI runs the README's quick-start commands as written (issue 24): `./dev.sh demo` with no arguments,
the command the README documents, not a smaller demo."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _commands(text: str) -> list[str]:
    return [ln.split("#")[0].strip() for ln in text.splitlines() if ln.strip().startswith("./dev.sh")]


def test_ci_runs_the_readme_demo_as_written():
    ci = _commands((REPO / ".ci" / "run").read_text())
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    assert "./dev.sh demo" in _commands(quick)
    assert ci[-1] == "./dev.sh demo", ci
    assert "./dev.sh demo --" not in readme.split("## The chain")[0]
