"""`l1ml env ...`: the second ML front-end's own environment (docs/hgq2.md), looked at or built on demand."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import JSON_OPT

app = typer.Typer(help="The HGQ2 / Keras 3 front-end's own environment.", no_args_is_help=True)


@app.command("keras3")
def keras3(
    build: bool = typer.Option(
        False,
        "--build",
        help="Build it when missing (venv, pip install -r, pip check; about 2 minutes, 1.8 GB).",
    ),
    venv: Path = typer.Option(
        None, "--venv", help="The venv to look at or build; default: $L1ML_KERAS3_PYTHON, else .venv-keras3."
    ),
    requirements: Path = typer.Option(
        None, "--requirements", help="The pins to build from; default: envs/keras3/requirements.txt."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Whether the Keras 3 environment is there: its python and the versions of its pinned packages.
    Exit 0 when it runs, 1 when it is missing or broken (with one line saying how to build it)."""
    from l1ml.cli._common import console, print_json
    from l1ml.frontends import keras3_env

    req = requirements or keras3_env.REQUIREMENTS
    if build:
        if not as_json:
            where = venv or keras3_env.VENV
            console(stderr=True).print(f"building the Keras 3 environment in {where} (when missing) ...")
        st = keras3_env.build(venv, req)
    else:
        st = keras3_env.status(venv, req)
    if as_json:
        print_json(st)
    else:
        _render(st)
    if not st["ready"]:
        raise typer.Exit(1)


def _render(st: dict) -> None:
    from rich.markup import escape

    from l1ml.cli._common import console

    if not st["ready"]:
        console(stderr=True).print(f"[bold red]error:[/] {escape(st['problem'])}", soft_wrap=True)
        return
    out = console()
    built = {True: " (built now)", False: " (already built)"}.get(st.get("built"), "")
    out.print(f"Keras 3 environment: ready{built}")
    out.print(
        f"  python     {st['python']} (Python {st['python_version']}; from {st['source']})", soft_wrap=True
    )
    stamp = {
        "current": "yes",
        "other": "no: unfinished or other pins",
        None: "not known (not a venv l1ml built)",
    }
    out.print(f"  built from {st['requirements']}: {stamp[st['stamp']]}", soft_wrap=True)
    for name, v in st["packages"].items():
        mark = "  [yellow](differs from the pin)[/]" if name in st["differs"] else ""
        out.print(f"  {name:<16} {v or 'not installed'}{mark}")
