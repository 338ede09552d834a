"""`l1ml models ...` (placeholder until the conversion work lands)."""

import typer

app = typer.Typer(help="Model versions of a project: list, import.", no_args_is_help=True)


@app.command("list")
def list_models() -> None:
    """List model versions."""
    from l1ml.errors import L1mlError

    raise L1mlError("not built yet")
