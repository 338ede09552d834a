"""Where l1ml keeps what it compiles once per machine: $L1ML_CACHE_DIR, else the user's cache directory
(~/.cache/l1ml on Linux). Each user of it takes a subdirectory: hls4ml/ (C simulations), emu/ (conifer's
C++ emulation), native/ (emulation kernels)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("L1ML_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("l1ml"))
