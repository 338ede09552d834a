import subprocess
import sys

import pytest

GROUPS = ["data", "train", "models", "boards", "synth", "convert", "validate", "emulate", "demo"]

PROBE = """
import sys
from typer.testing import CliRunner
from l1ml.cli.main import app
r = CliRunner().invoke(app, {args!r})
heavy = sorted(m for m in ("tensorflow", "qkeras", "xgboost", "hls4ml", "conifer", "keras") if m in sys.modules)
print("EXIT", r.exit_code)
print("HEAVY", ",".join(heavy))
print(r.output)
"""


@pytest.mark.parametrize("args", [["--help"], *[[g, "--help"] for g in GROUPS]])
def test_help_does_not_import_the_ml_stack(args):
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "EXIT 0" in lines
    assert "HEAVY " in lines, (
        f"`l1ml {' '.join(args)}` imported: {[x for x in lines if x.startswith('HEAVY')]}"
    )
    assert "Usage" in r.stdout


def test_user_error_has_no_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", "train", "ae", "--project", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "no project file" in r.stderr
    assert "Traceback" not in r.stderr


def test_training_the_wrong_kind_is_explained(tmp_path):
    (tmp_path / "project.toml").write_text("[model]\nkind = 'bdt'\n")
    r = subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", "train", "ae", "--project", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "use `l1ml train bdt`" in r.stderr


def _commands(cmd, path=()):
    """Every command of the tree with its path: (path, click command)."""
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def test_every_section_named_in_help_is_shown():
    """Rich markup read "[data] max_events" as a tag and dropped it ("mapped by )", issue 30): every
    [section] that a command's docstring or an option's help mentions is in its rendered --help."""
    import re

    import typer
    from typer.testing import CliRunner

    from l1ml.cli.main import app

    root = typer.main.get_command(app)
    runner = CliRunner()
    checked = 0
    for path, cmd in _commands(root):
        texts = [cmd.help or "", *[getattr(p, "help", None) or "" for p in cmd.params]]
        wanted = {m.group(1) for t in texts for m in re.finditer(r"\\?(\[[a-z][a-z_.]*\])", t)}
        if not wanted:
            continue
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"}, terminal_width=400)
        assert r.exit_code == 0, r.output
        shown = " ".join(r.output.split())
        assert "\\[" not in shown, r.output  # escaped once, never shown escaped
        for section in wanted:
            assert section in shown, (" ".join(path), section, r.output)
            checked += 1
    assert checked >= 5  # explore's [data], models track's [tracking], convert's [firmware], ...


@pytest.mark.parametrize(
    "args",
    [["run", "--bogus"], ["run"], ["explore", "--project", ".", "--events", "abc"], ["--bogus"],
     ["models", "track", "--bogus"], ["nosuchcommand"]],
)  # fmt: skip
def test_usage_errors_are_one_line(args):
    r = subprocess.run([sys.executable, "-m", "l1ml.cli.main", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stdout + r.stderr
    assert "--help`" in lines[0] and "╭" not in lines[0]
