"""The Keras 3 / HGQ2 worker (envs/keras3/l1ml_keras3), run in .venv-keras3 as a subprocess.

A request is a JSON file; the worker answers with a result JSON (exit 0) or one line on stderr (exit 2).
Anything else is a crash: its last line is raised here and its whole output kept in a log file beside
the request, so the user gets one line and the traceback is still on disk."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from l1ml.errors import L1mlError, ToolNotFound

ENV_DIR = Path(__file__).resolve().parents[2] / "envs" / "keras3"
VENV = Path(__file__).resolve().parents[2] / ".venv-keras3"


class WorkerFailed(L1mlError):
    """The Keras 3 worker refused its input or crashed; the message says which and why."""


def interpreter() -> tuple[Path, str]:
    """(the Keras 3 environment's interpreter, where that came from): $L1ML_KERAS3_PYTHON, else the
    repository's .venv-keras3; present or not."""
    given = os.environ.get("L1ML_KERAS3_PYTHON")
    if given:
        return Path(given), "L1ML_KERAS3_PYTHON"
    return VENV / "bin" / "python", ".venv-keras3"


def python() -> Path:
    """The Keras 3 environment's interpreter (see interpreter()), which must exist."""
    py, _ = interpreter()
    if not py.is_file():
        raise ToolNotFound(
            f"the HGQ2 front-end needs its Keras 3 environment and {py} is missing; build it with "
            "`l1ml env keras3 --build` or `./dev.sh env-keras3` (about 2 minutes, 1.8 GB), or set L1ML_KERAS3_PYTHON"
        )
    return py


def run(action: str, request: dict, workdir: Path, timeout: float | None = None) -> dict:
    """Run one worker action; returns its result dict. `workdir` holds the request, result and log."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    req_file, result = workdir / f"{action}.request.json", workdir / f"{action}.result.json"
    log = workdir / f"{action}.log"
    result.unlink(missing_ok=True)
    req_file.write_text(json.dumps({**request, "action": action, "result": str(result)}, indent=1))
    env = {
        **os.environ,
        "PYTHONPATH": str(ENV_DIR),
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    try:
        r = subprocess.run(
            [str(python()), "-m", "l1ml_keras3", str(req_file)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise WorkerFailed(f"the Keras 3 worker's {action} did not finish in {timeout:g} s") from None
    log.write_text(f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
    lines = [ln for ln in (r.stderr or "").strip().splitlines() if ln.strip()]
    if r.returncode == 2:
        last = next((ln for ln in reversed(lines) if ln.startswith("error: ")), lines[-1] if lines else "")
        raise WorkerFailed(f"HGQ2 {action}: {last.removeprefix('error: ')}")
    if r.returncode != 0:
        raise WorkerFailed(
            f"the Keras 3 worker crashed in {action} (exit {r.returncode}): {lines[-1] if lines else 'no output'}"
            f" (log: {log})"
        )
    if not result.is_file():
        raise WorkerFailed(f"the Keras 3 worker's {action} exited 0 without writing {result} (log: {log})")
    return json.loads(result.read_text())
