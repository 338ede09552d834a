"""The `l1ml` command. Sub-apps live one per file; none imports TensorFlow, QKeras or xgboost at module
level, so `l1ml --help` stays fast. Heavy imports happen inside command bodies."""

from __future__ import annotations

import typer

from l1ml.cli import boards, convert, data, demo, deploy, emulate, env, models, rate, synth, train, validate
from l1ml.cli import explore as explore_cli
from l1ml.cli import firmware as firmware_cli
from l1ml.cli import report as report_cli
from l1ml.cli import run as run_cli
from l1ml.cli.group import L1mlGroup

app = typer.Typer(
    name="l1ml",
    cls=L1mlGroup,
    help="From training to firmware for Level-1 trigger ML: data, training, conversion, emulation, synthesis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        import l1ml

        try:
            v = version("l1ml")
        except PackageNotFoundError:  # a source checkout on PYTHONPATH, not installed
            v = l1ml.__version__
        print(f"l1ml {v}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show TensorFlow's and Keras' own log lines and warnings."
    ),
) -> None:
    """From training to firmware for Level-1 trigger ML."""
    from l1ml.cli._common import quiet_libraries

    if not verbose:
        quiet_libraries()
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")
app.add_typer(models.app, name="models")
app.add_typer(boards.app, name="boards")
app.add_typer(synth.app, name="synth")
app.command("convert")(convert.convert)
app.command("validate")(validate.validate)
app.command("emulate")(emulate.emulate)
app.command("demo")(demo.demo)
app.command("rate")(rate.rate)
app.command("deploy")(deploy.deploy)
app.command("run")(run_cli.run)
app.command("report")(report_cli.report)
app.add_typer(firmware_cli.app, name="firmware")
app.command("explore")(explore_cli.explore)
app.add_typer(env.app, name="env")


def run() -> None:
    """The `l1ml` entry point."""
    from l1ml.cli._common import run_app

    run_app(app)


if __name__ == "__main__":
    run()
