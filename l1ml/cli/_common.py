"""Small helpers shared by the CLI files."""

from __future__ import annotations

from pathlib import Path

import typer

PROJECT_OPT = typer.Option(..., "--project", "-p", help="Project directory (holding project.toml).")
MODEL_OPT = typer.Option(None, "--model", "-m", help="Model version (v1, v2, ...); default: the newest.")


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def load(project: Path):
    from l1ml.project import load_project

    return load_project(project)
