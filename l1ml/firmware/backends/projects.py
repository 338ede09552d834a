"""Which of hls4ml's Catapult, Quartus, oneAPI or Libero projects a job's tree holds, and its name: what
the queue's steps (steps.py) and the report parsers (reports.py) both look up."""

from __future__ import annotations

import re
from pathlib import Path

from l1ml.errors import L1mlError

HLS_DIRS = ("hls4ml", ".")


def project_dir(src: Path) -> tuple[Path, str] | None:
    from l1ml.firmware.backends import BACKENDS, project_backend

    for c in HLS_DIRS:
        d = src / c
        name = project_backend(d)
        if name in BACKENDS:
            return d, name
    return None


def project_name(d: Path) -> str:
    m = re.search(r"^ProjectName:\s*(\S+)\s*$", (d / "hls4ml_config.yml").read_text(), re.MULTILINE)
    if not m:
        raise L1mlError(f"{d / 'hls4ml_config.yml'}: no ProjectName")
    return m.group(1)
