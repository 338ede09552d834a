"""Helpers for the `l1ml run` tests: the CLI in a subprocess, with an isolated queue and compile cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def env_for(tmp: Path) -> dict:
    env = {**os.environ, "COLUMNS": "200", "L1ML_CACHE_DIR": str(tmp / "cache"),
           "L1ML_SYNTH_HOME": str(tmp / "queue"), "L1ML_SYNTH_CONFIG": str(tmp / "synth.toml"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip
    for var in ("L1ML_SYNTH_SERVER", "L1ML_SYNTH_WORK", "L1ML_SYNTH_TOKEN", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    return env


def l1ml(args: list[str], tmp: Path, timeout: float = 1200, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env={**env_for(tmp), **kw.pop("env", {})}, **kw,
    )  # fmt: skip


def run_json(project: Path, tmp: Path, *extra) -> tuple[subprocess.CompletedProcess, dict | None]:
    r = l1ml(["run", "--project", project, "--json", *extra], tmp)
    try:
        return r, json.loads(r.stdout)
    except ValueError:
        return r, None


def statuses(doc: dict) -> dict[str, str]:
    return {s["step"]: s["status"] for s in doc["steps"]}


# Runs `l1ml run` inside one interpreter and reports which heavy modules it imported.
IN_PROCESS = """
import json, sys
from l1ml.cli.main import app
try:
    app(["run", "--project", sys.argv[1], "--json"], standalone_mode=False)
finally:
    heavy = sorted(m for m in ("tensorflow", "qkeras", "hls4ml", "conifer", "xgboost") if m in sys.modules)
    sys.stderr.write("HEAVY=" + json.dumps(heavy) + "\\n")
"""


def run_in_process(project: Path, tmp: Path) -> tuple[dict, list[str], str]:
    r = subprocess.run([sys.executable, "-c", IN_PROCESS, str(project)], capture_output=True, text=True,
                       timeout=300, env=env_for(tmp))  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    heavy = json.loads(next(ln for ln in r.stderr.splitlines() if ln.startswith("HEAVY="))[6:])
    return json.loads(r.stdout), heavy, r.stderr
