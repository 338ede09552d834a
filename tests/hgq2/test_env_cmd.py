"""`l1ml env keras3` (issue 28): the Keras 3 environment's state, read from the real .venv-keras3; a missing
one in one line naming the command; and the build path for real with pip (offline: `--no-index`), where a
requirement that cannot resolve leaves nothing behind. This command never builds the shared .venv-keras3
(the session's fixture builds it with ./dev.sh when missing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _projects import REPO

from l1ml.frontends import keras3_env

K3 = REPO / ".venv-keras3"


def l1ml(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "L1ML_KERAS3_PYTHON"}
    full.update(COLUMNS="200", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", "env", "keras3", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )


def test_status_of_the_real_environment(keras3_python):
    # The session's fixture builds .venv-keras3 with ./dev.sh when missing (as in a fresh CI clone, where
    # this test comes before the training test that also needs it).
    if keras3_python != K3 / "bin" / "python":
        pytest.skip(f"L1ML_KERAS3_PYTHON points at {keras3_python}, not at {K3}")
    r = l1ml("--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["ready"] and st["problem"] is None and st["stamp"] == "current"
    assert st["python"] == str(K3 / "bin" / "python") and st["source"] == ".venv-keras3"
    assert st["python_version"].startswith("3.11.")
    # Every pin of the requirements file, as installed: the file is the one dev.sh builds from.
    pins = keras3_env.pins()
    assert set(pins) >= {"keras", "hgq2", "hls4ml", "tensorflow-cpu", "numpy"}
    assert st["packages"] == pins and st["differs"] == []
    text = l1ml()
    assert text.returncode == 0 and "Keras 3 environment: ready" in text.stdout
    assert f"hgq2             {pins['hgq2']}" in text.stdout


def test_missing_environment_is_one_line(tmp_path):
    gone = tmp_path / "nowhere" / "bin" / "python"
    for args in ((), ("--json",)):
        r = l1ml(*args, env={"L1ML_KERAS3_PYTHON": str(gone)})
        assert r.returncode == 1 and "Traceback" not in r.stderr
    st = json.loads(r.stdout)
    assert not st["ready"] and st["source"] == "L1ML_KERAS3_PYTHON" and st["packages"] == {}
    r = l1ml(env={"L1ML_KERAS3_PYTHON": str(gone)})
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(gone) in lines[0] and "`l1ml env keras3 --build`" in lines[0]


def test_build_for_real_and_a_failing_pip_leaves_nothing(tmp_path):
    """A real build (venv, pip install, pip check, stamp) from pins pip can meet offline; then a pin no index
    holds: pip's own error in one line, and the half-built venv removed."""
    ok, bad = tmp_path / "ok.txt", tmp_path / "bad.txt"
    ok.write_text("--no-index\npip\n")
    bad.write_text("--no-index\nnosuch-l1ml-test-package==0.0.1\n")
    venv = tmp_path / "venv"
    r = l1ml("--build", "--json", "--venv", str(venv), "--requirements", str(ok))
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["ready"] and st["built"] is True and st["stamp"] == "current" and st["packages"]["pip"]
    assert (venv / keras3_env.stamp_name(ok)).is_file()
    again = json.loads(l1ml("--build", "--json", "--venv", str(venv), "--requirements", str(ok)).stdout)
    assert again["built"] is False and again["ready"]
    # Another pin set over an existing venv: refused in one line, and the venv left alone.
    r = l1ml("--build", "--venv", str(venv), "--requirements", str(bad))
    assert r.returncode == 2 and "without the stamp" in r.stderr and (venv / "bin" / "python").is_file()

    fresh = tmp_path / "fresh"
    r = l1ml("--build", "--venv", str(fresh), "--requirements", str(bad))
    err = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(err) == 1 and "pip install" in err[0] and "nosuch-l1ml-test-package" in err[0]
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "ok.txt", "venv"]


def test_a_base_python_that_does_not_run_creates_nothing(tmp_path):
    req = tmp_path / "req.txt"
    req.write_text("--no-index\npip\n")
    with pytest.raises(keras3_env.ToolNotFound, match="does not run"):
        keras3_env.build(tmp_path / "venv", req, base_python=str(tmp_path / "no-python"))
    assert not (tmp_path / "venv").exists()
    with pytest.raises(keras3_env.ConfigError, match="cannot read the Keras 3 requirements"):
        keras3_env.build(tmp_path / "venv", tmp_path / "missing.txt")
    assert not (tmp_path / "venv").exists()
