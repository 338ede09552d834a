"""`l1ml boards ...` (placeholder until the conversion work lands)."""

import typer

app = typer.Typer(help="FPGA boards known to l1ml.", no_args_is_help=True)


@app.command("list")
def list_boards() -> None:
    """List the boards in boards/*.toml."""
    from l1ml.errors import L1mlError

    raise L1mlError("boards are not built yet")
