"""`l1ml synth ...`: the synthesis queue (owned by the synthesis-queue work; placeholder until it lands)."""

import typer

app = typer.Typer(help="Queue synthesis and simulation jobs on a build host.", no_args_is_help=True)


@app.command("list")
def list_jobs() -> None:
    """List jobs."""
    from l1ml.errors import L1mlError

    raise L1mlError("the synthesis queue is not built yet")
