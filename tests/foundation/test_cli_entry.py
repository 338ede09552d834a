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
