"""Manifests: what a model or firmware directory was made from, so every result traces back."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import l1ml


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def code_version() -> str:
    """The package version plus the git commit when running from a checkout (dirty marked)."""
    root = Path(l1ml.__file__).resolve().parent.parent
    try:
        r = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return l1ml.__version__
    return (
        f"{l1ml.__version__}+{r.stdout.strip()}"
        if r.returncode == 0 and r.stdout.strip()
        else l1ml.__version__
    )


def write_json(path: Path, data: dict) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a manifest."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
