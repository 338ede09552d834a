"""The root click group of `l1ml`: help text printed as written, and usage errors as one line.

Typer renders help with rich markup, which reads a TOML section written in square brackets ("[data]
max_events") as a tag and drops it; every help text is escaped once, when the command tree is built, so
no docstring has to remember to. A usage error (unknown option, bad value, missing argument) is one red
line and exit code 2, like every other error of bad input, instead of Typer's boxed panel."""

from __future__ import annotations

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # Typer 0.29 carries its own click
from typer.core import TyperGroup


def escape_help(cmd) -> None:
    """Escape the rich markup in the help of a command, its options and its sub-commands."""
    from rich.markup import escape

    for attr in ("help", "short_help", "epilog"):
        text = getattr(cmd, attr, None)
        if text:
            setattr(cmd, attr, escape(text))
    for p in cmd.params:
        if getattr(p, "help", None):
            p.help = escape(p.help)
    for sub in getattr(cmd, "commands", {}).values():
        escape_help(sub)


def usage_line(exc: UsageError) -> str:
    """One line: the message and where the options are listed."""
    where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
    return " ".join(exc.format_message().split()) + where


def _show(exc: UsageError) -> None:
    from rich.markup import escape

    from l1ml.cli._common import console

    console(stderr=True).print(f"[bold red]error:[/] {escape(usage_line(exc))}", soft_wrap=True)


class L1mlGroup(TyperGroup):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        escape_help(self)

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except NoArgsIsHelpError:
            raise
        except UsageError as exc:
            _show(exc)
            raise typer.Exit(2) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except UsageError as exc:
            _show(exc)
            raise typer.Exit(2) from None
