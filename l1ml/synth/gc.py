"""Retention: what the queue deletes, so its disk use stays bounded.

- the uploaded archive of a finished job (no run will need it again);
- the work directory and results of a job that finished more than ``keep_days`` ago, or, with
  ``delete_fetched``, whose results were fetched; the job's record stays (state, reason, peak);
- ``*.upload`` files that crashed submissions left in the archives directory: an upload in progress holds
  an exclusive lock on its file (``staging``), which its process's death releases, so an unlocked one is
  stale at any age (and any file older than ``upload_age`` is, whatever its lock);
- ``*.tmp`` files of half-written results in the directories of finished jobs.

Run by every worker at start and by ``l1ml synth gc``.
"""

from __future__ import annotations

import time
from pathlib import Path

from l1ml.synth import tree
from l1ml.synth.job import TERMINAL
from l1ml.synth.settings import Settings
from l1ml.synth.store import Store

UPLOAD_AGE = 3600.0


def collect(
    settings: Settings, store: Store, now: float | None = None, upload_age: float = UPLOAD_AGE
) -> dict:
    """Delete what retention allows; returns counts and bytes freed."""
    now = time.time() if now is None else now
    freed = {"purged_jobs": 0, "archives": 0, "uploads": 0, "temp_files": 0, "bytes": 0}

    def drop(path: Path, key: str) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        freed[key] += 1
        freed["bytes"] += size

    for job in store.purgeable(now - settings.keep_days * 86400, settings.delete_fetched):
        jdir = settings.work / str(job.id)
        if jdir.is_dir():  # bounded and iterative: a job's 1,100-level tree or symlink loop is no matter
            freed["bytes"] += tree.size(jdir)
            tree.remove(jdir)
        store.mark_purged(job.id)
        freed["purged_jobs"] += 1
    finished = {j.id for j in store.list(states=TERMINAL, limit=10**9)}
    if settings.archives.is_dir():
        for path in settings.archives.iterdir():
            if path.name.endswith(".upload"):
                if now - path.stat().st_mtime > upload_age or not _locked(path):
                    drop(path, "uploads")
            elif path.name.endswith(".tar.gz") and path.name[: -len(".tar.gz")].isdigit():
                if int(path.name[: -len(".tar.gz")]) in finished:
                    drop(path, "archives")
    if settings.work.is_dir():
        for job_id in finished:
            jdir = settings.work / str(job_id)
            if jdir.is_dir():
                for tmp in jdir.glob("*.tmp"):
                    drop(tmp, "temp_files")
    return freed


def staging(directory: Path) -> tuple[int, str, int]:
    """A new ``*.upload`` file in directory: (fd to write, path, lock fd). The lock is held on its own open
    file, so it stays while the caller closes the writer, checks and commits; close the lock fd at the end.
    A crash releases it, so gc tells an upload in progress from one a crash left behind."""
    import fcntl
    import os
    import tempfile

    fd, path = tempfile.mkstemp(dir=directory, suffix=".upload")
    lock = os.open(path, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    return fd, path, lock


def _locked(path: Path) -> bool:
    import fcntl
    import os

    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True  # gone already: nothing to drop
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def uploads(settings: Settings) -> int:
    """Delete only the stale uploads (a server does this at start); returns how many."""
    n = 0
    if settings.archives.is_dir():
        for path in settings.archives.glob("*.upload"):
            if not _locked(path):
                path.unlink(missing_ok=True)
                n += 1
    return n
