"""The `l1ml` command. Sub-apps live one per file; none imports TensorFlow, QKeras or xgboost at module
level, so `l1ml --help` stays fast. Heavy imports happen inside command bodies."""

from __future__ import annotations

import sys

import typer

from l1ml.cli import boards, convert, data, demo, emulate, models, synth, train, validate

app = typer.Typer(
    name="l1ml",
    help="From training to firmware for Level-1 trigger ML: data, training, conversion, emulation, synthesis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")
app.add_typer(models.app, name="models")
app.add_typer(boards.app, name="boards")
app.add_typer(synth.app, name="synth")
app.command("convert")(convert.convert)
app.command("validate")(validate.validate)
app.command("emulate")(emulate.emulate)
app.command("demo")(demo.demo)


def run() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback.

    Typer's standalone mode already turns usage errors into a usage message (exit 2); what escapes it is
    ours to render.
    """
    from l1ml.errors import L1mlError

    try:
        app()
    except L1mlError as exc:
        from rich.console import Console
        from rich.markup import escape

        # escape(): messages quote TOML sections like "[model]", which rich would read as markup.
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
