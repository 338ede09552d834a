"""The Keras 3 environment's state and its on-demand build (`l1ml env keras3`), beside `./dev.sh env-keras3`.

Both mark a finished build the same way: an empty `.installed-<first 16 hex of the requirements file's
sha256>` file in the venv, written only after `pip install` and `pip check` succeeded. So either tool
sees the other's build as current, and a venv without that stamp is unfinished or from other pins."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from l1ml.errors import ConfigError, L1mlError, ToolNotFound
from l1ml.frontends.keras3 import ENV_DIR, VENV, interpreter

REQUIREMENTS = ENV_DIR / "requirements.txt"


class EnvBuildFailed(L1mlError):
    """A step of building the Keras 3 environment failed; the message names the step and its error."""


BUILD_HINT = "`l1ml env keras3 --build` (or `./dev.sh env-keras3`; about 2 minutes, 1.8 GB)"

# One call to the environment's python: its version and each pinned distribution's installed version.
_PROBE = (
    "import json, sys\n"
    "from importlib.metadata import PackageNotFoundError, version\n"
    "def v(n):\n"
    "    try:\n"
    "        return version(n)\n"
    "    except PackageNotFoundError:\n"
    "        return None\n"
    "print(json.dumps({'python': sys.version.split()[0], 'packages': {n: v(n) for n in sys.argv[1:]}}))\n"
)


def pins(requirements: Path = REQUIREMENTS) -> dict[str, str | None]:
    """name -> pinned version (None when not pinned with ==) of a requirements file; option lines skipped."""
    try:
        text = Path(requirements).read_text()
    except OSError as exc:
        raise ConfigError(f"{requirements}: cannot read the Keras 3 requirements ({exc.strerror})") from None
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, _, pin = line.partition("==")
        name = name.split(";")[0].split("[")[0].strip()
        for op in ("<", ">", "~", "!", "="):
            name = name.split(op)[0].strip()
        out[name] = pin.split(";")[0].strip() or None
    return out


def stamp_name(requirements: Path = REQUIREMENTS) -> str:
    """dev.sh's stamp: `.installed-` and the first 16 hex digits of the requirements file's sha256."""
    return ".installed-" + hashlib.sha256(Path(requirements).read_bytes()).hexdigest()[:16]


def locate(venv: Path | None = None) -> tuple[Path, str]:
    """(interpreter, where it came from): `venv`'s python when given, else what l1ml.frontends.keras3 uses
    ($L1ML_KERAS3_PYTHON, else the checkout's .venv-keras3)."""
    if venv is not None:
        return Path(venv) / "bin" / "python", "--venv"
    return interpreter()


def status(venv: Path | None = None, requirements: Path = REQUIREMENTS, timeout: float = 60) -> dict:
    """Whether the Keras 3 environment is there and what it holds. `ready` is False with a one-line
    `problem` when its python is missing or does not run; `stamp` says whether a venv was built from the
    current requirements ("current", "other" for another file's stamp or none, None when the python is
    not in a venv l1ml knows: $L1ML_KERAS3_PYTHON)."""
    py, source = locate(venv)
    want = pins(requirements)
    out: dict = {
        "python": str(py), "source": source, "requirements": str(requirements), "ready": False,
        "python_version": None, "packages": {}, "differs": [], "stamp": None, "problem": None,
    }  # fmt: skip
    if not py.is_file():
        out["problem"] = (
            f"the Keras 3 environment is missing ({py} does not exist); build it with {BUILD_HINT}"
        )
        return out
    root = py.parent.parent
    if source != "L1ML_KERAS3_PYTHON":
        out["stamp"] = "current" if (root / stamp_name(requirements)).is_file() else "other"
    try:
        r = subprocess.run(
            [str(py), "-c", _PROBE, *want], capture_output=True, text=True, timeout=timeout, env=_clean_env()
        )
    except subprocess.TimeoutExpired:
        out["problem"] = f"{py} did not answer in {timeout:g} s"
        return out
    except OSError as exc:
        out["problem"] = f"{py} does not run ({exc.strerror}); rebuild it with {BUILD_HINT}"
        return out
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        out["problem"] = f"{py} failed (exit {r.returncode}): {last}"
        return out
    try:
        probe = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out["problem"] = f"{py} gave no readable answer: {r.stdout.strip()[:200]!r}"
        return out
    out["python_version"] = probe["python"]
    out["packages"] = probe["packages"]
    out["differs"] = sorted(
        n for n, pin in want.items() if pin is not None and probe["packages"].get(n) != pin
    )
    out["ready"] = True
    return out


def build(
    venv: Path | None = None, requirements: Path = REQUIREMENTS, base_python: str | None = None
) -> dict:
    """Build the environment as dev.sh does (venv, pip install -r, pip check, stamp) and return its status.

    Nothing half-written stays behind: a venv this call created is removed when any step fails or is
    interrupted. An existing venv with the current stamp is left as it is; one without it (unfinished, or
    built from other pins) is refused rather than deleted, since others may be using it."""
    target = Path(venv) if venv is not None else VENV
    requirements = Path(requirements)
    pins(requirements)  # one line for a missing or unreadable file, before anything is created
    stamp = stamp_name(requirements)
    if target.exists():
        if (target / stamp).is_file():
            return {**status(target, requirements), "built": False}
        raise ConfigError(
            f"{target} exists without the stamp of {requirements} ({stamp}): unfinished, or built from other "
            "pins; it is left as it is: remove it and build again"
        )
    base = base_python or sys.executable
    try:
        _step([base, "-m", "venv", str(target)], "python -m venv")
        py = str(target / "bin" / "python")
        _step([py, "-m", "pip", "install", "-q", "-r", str(requirements)], f"pip install -r {requirements}")
        _step([py, "-m", "pip", "check"], "pip check")
        (target / stamp).touch()
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return {**status(target, requirements), "built": True}


def _step(cmd: list[str], what: str) -> None:
    """Run one build step; a non-zero exit becomes one line with the tool's own last error line."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env())
    except OSError as exc:
        raise ToolNotFound(
            f"building the Keras 3 environment: {cmd[0]} does not run ({exc.strerror})"
        ) from None
    if r.returncode != 0:
        lines = [ln.strip() for ln in (r.stderr + "\n" + r.stdout).splitlines() if ln.strip()]
        errs = [ln for ln in lines if ln.startswith("ERROR:")]
        last = (errs or lines or ["no output"])[-1]
        raise EnvBuildFailed(f"building the Keras 3 environment: {what} failed (exit {r.returncode}): {last}")


def _clean_env() -> dict:
    """The environment for the second venv's processes: without the main venv's own markers, so its
    python and pip see only themselves."""
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
