"""The toolchain fingerprint: the versions of every tool a result depends on, read without importing the
tools (package metadata, `--version` of executables), so computing it is quick and loads no TensorFlow."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from importlib import metadata

PACKAGES = ("hls4ml", "conifer", "xgboost", "tensorflow", "qkeras", "numpy", "alkaid")
# Executables: (name, version arguments). Vendor tools are recorded where they are installed.
EXECUTABLES = {
    "g++": ["--version"],
    "ghdl": ["--version"],
    "yosys": ["-V"],
    "verilator": ["--version"],
    "vitis_hls": ["-version"],
    "vivado": ["-version"],
}


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@cache
def _executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        return "not installed"
    try:
        r = subprocess.run([path, *EXECUTABLES[name]], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{path} (version unreadable: {exc})"
    first = next((ln.strip() for ln in (r.stdout + r.stderr).splitlines() if ln.strip()), "")
    return first or f"{path} (no version printed)"


def toolchain() -> dict[str, str]:
    """{tool: version} for the Python packages and the executables l1ml drives."""
    out = {name: _package(name) for name in PACKAGES}
    out.update({name: _executable(name) for name in EXECUTABLES})
    return out


def changed(old: dict | None, new: dict | None) -> list[str]:
    """Human-readable lines naming each tool whose version differs, e.g. 'hls4ml: 1.2.0 -> 1.3.0'."""
    if not old or not new:
        return []
    return [
        f"{name}: {old.get(name, 'unknown')} -> {new.get(name, 'unknown')}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]
