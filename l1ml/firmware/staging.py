"""A conversion is written into a hidden staging directory and renamed into place only when complete;
these move it there and make the files that name their own directory name the final one."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

# Text files hls4ml and conifer write with their output directory in them (hls4ml_config.yml's OutputDir,
# conifer_model.json's output_dir): they must name the published directory, not the staging one.
_PATH_FILES = ("*.yml", "*.json", "*.tcl", "*.sh")


def repoint(stage: Path, final: Path, old: Path | None = None) -> None:
    """Rewrite `old` (default: `stage`) to `final` in the path-bearing files under `stage`."""
    old_s, new = str(old or stage), str(final)
    pat = re.compile(re.escape(old_s) + r"(?=$|[/\s'\",:\]}])", re.M)  # the whole path, not v1 inside v10
    for pattern in _PATH_FILES:
        for f in stage.rglob(pattern):
            text = f.read_text(errors="surrogateescape")
            if old_s in text:
                f.write_text(pat.sub(lambda m: new, text), errors="surrogateescape")


def publish(stage: Path, final: Path) -> None:
    """Put the complete staging directory at `final`; an older conversion there is removed only after."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
    os.rename(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
