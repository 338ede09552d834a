"""Building the emulator package with its own Makefile, and running its `make check`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from l1ml.errors import L1mlError, ToolNotFound


class BuildError(L1mlError):
    """The emulator library did not build, or its parity check failed."""


def _tools() -> None:
    for tool in ("make", "g++"):
        if shutil.which(tool) is None:
            raise ToolNotFound(f"{tool} is needed to build the emulator library; install it (apt-get install {tool})")


def make(pkg: Path, target: str | None = None, jobs: int = 2, args: list[str] | None = None) -> str:
    """Run make in the package; returns its output, raises BuildError with the tail on failure."""
    _tools()
    cmd = ["make", f"-j{jobs}", *(args or []), *([target] if target else [])]
    env = {**os.environ, "LC_ALL": "C"}
    r = subprocess.run(cmd, cwd=pkg, capture_output=True, text=True, env=env)
    out = (r.stdout or "") + (r.stderr or "")
    if r.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise BuildError(f"`{' '.join(cmd)}` in {pkg} failed (exit {r.returncode}):\n{tail}")
    return out


def build(pkg: Path, so: str, opt: str | None = None) -> Path:
    """`make` the library; `opt` overrides the optimisation flags (the default is -O3)."""
    make(pkg, args=[f"OPT={opt}"] if opt else None)
    lib = pkg / so
    if not lib.is_file():
        raise BuildError(f"make succeeded but {lib} was not written")
    return lib


def check(pkg: Path) -> str:
    """`make check`: the parity vectors through the built library. Returns its summary line."""
    out = make(pkg, "check")
    lines = [ln for ln in out.splitlines() if ln.startswith("parity ")]
    return lines[-1] if lines else out.strip().splitlines()[-1]
