"""Walking a job's directory safely: whatever a job leaves (symlink loops, trees thousands of levels deep,
millions of files) must not crash or stall the worker, ``synth gc`` or the server.

Every walk here is iterative (an explicit stack, never recursion), never follows a symlink, is bounded by a
number of entries, and turns an error on one entry (ENAMETOOLONG at depth, a vanished file, ELOOP) into a
skipped entry rather than an exception. ``os.walk``, ``Path.rglob``, ``shutil.rmtree`` and ``Path.resolve``
each fail one of these on Python 3.11 (RecursionError, RuntimeError on a loop).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

MAX_ENTRIES = 2_000_000  # a job tree bigger than this is treated as its first MAX_ENTRIES entries


def entries(root: Path, limit: int = MAX_ENTRIES) -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) of every entry under root (not root itself), parents before children, no symlink
    followed, at most `limit` entries."""
    stack = [os.fspath(root)]
    n = 0
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                n += 1
                if n > limit:
                    return
                yield e.path, st
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)


def size(root: Path, limit: int = MAX_ENTRIES) -> int:
    """Bytes the files under root take (allocated blocks: a sparse file counts what it really uses)."""
    total = 0
    for _path, st in entries(root, limit):
        if not stat.S_ISDIR(st.st_mode):
            total += min(st.st_size, st.st_blocks * 512)
    return total


def remove(root: Path, limit: int = MAX_ENTRIES) -> bool:
    """Delete root and everything under it, however deep; True if it is gone. Each subdirectory is first
    renamed to the top level of root, so no path ever grows long and no fd is held per level."""
    root = os.fspath(root)
    try:
        if not stat.S_ISDIR(os.lstat(root).st_mode):
            os.unlink(root)
            return True
    except FileNotFoundError:
        return True
    todo = [root]
    n = 0
    while todo and n <= limit:
        d = todo.pop()
        n += 1  # each visit counts too: a directory that cannot be removed is not retried forever
        try:
            os.chmod(d, 0o700)  # a job may have left a directory unreadable or unwritable
            with os.scandir(d) as it:
                names = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        except OSError:
            continue
        for name, is_dir in names:
            n += 1
            path = os.path.join(d, name)
            try:
                if not is_dir:
                    os.unlink(path)
                elif d == root:
                    todo.append(path)
                else:
                    flat = os.path.join(root, f".rm{n}")
                    os.rename(path, flat)
                    todo.append(flat)
            except OSError:
                pass
        if d != root:
            try:
                os.rmdir(d)
            except OSError:
                todo.insert(0, d)  # emptied later, once what was moved out of it is gone
    try:
        os.rmdir(root)
    except OSError:
        pass
    return not os.path.lexists(root)


def inside(path: str, real_root: str) -> bool:
    """Whether path, every symlink followed (a loop resolves to where it stops), stays under real_root."""
    real = os.path.realpath(path)  # never raises, unlike Path.resolve() on a loop
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")
