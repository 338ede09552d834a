"""The `l1ml` command. Sub-apps live one per file; none imports TensorFlow, QKeras or xgboost at module
level, so `l1ml --help` stays fast. Heavy imports happen inside command bodies."""

from __future__ import annotations

import typer

from l1ml.cli import boards, convert, data, demo, emulate, models, synth, train, validate
from l1ml.cli import report as report_cli
from l1ml.cli import run as run_cli

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
app.command("run")(run_cli.run)
app.command("report")(report_cli.report)


def run() -> None:
    """The `l1ml` entry point."""
    from l1ml.cli._common import run_app

    run_app(app)


if __name__ == "__main__":
    run()
