"""Hashes that key the steps of `l1ml run`: files (cached by size and mtime, so an unchanged 100 MB event
file is not read again), the source code, and canonical JSON of everything else."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from functools import cache
from pathlib import Path

from l1ml.manifest import sha256

PACKAGE = Path(__file__).resolve().parent.parent
# Code that cannot change a step's result up to the report: the CLI, the report and the lifecycle.
PRESENTATION = ("cli", "report", "lifecycle", "tracking", "run")


def digest(obj) -> str:
    """sha256 of canonical JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class FileHashes:
    """sha256 of files, remembered in a JSON cache by (path, size, mtime_ns)."""

    def __init__(self, cache: Path):
        self.cache = cache
        try:
            self._known = json.loads(cache.read_text())
        except (OSError, ValueError):
            self._known = {}
        self._dirty = False

    def __call__(self, path: Path) -> str:
        path = Path(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            return "missing"
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
        key = str(path.resolve())
        hit = self._known.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        h = sha256(path)
        self._known[key] = [stamp, h]
        self._dirty = True
        return h

    def save(self) -> None:
        if not self._dirty:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache.with_name(f".{self.cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._known))
        tmp.replace(self.cache)
        self._dirty = False


@cache  # the sources do not change while a run reads them
def code_hash(parts: str = "core") -> str:
    """Hash of l1ml's own source: 'core' is everything that computes results (data, models, firmware,
    emulation, validation, synthesis); 'presentation' the report, lifecycle and CLI code."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE.rglob("*")):
        if not p.is_file() or p.suffix not in (".py", ".j2", ".html", ".css") or "__pycache__" in p.parts:
            continue
        rel = p.relative_to(PACKAGE)
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        if (top in PRESENTATION) != (parts == "presentation"):
            continue
        h.update(rel.as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def section(obj) -> dict:
    """A project section (frozen dataclass) as plain data."""
    return asdict(obj)
