"""C++ names the firmware is written under: the top function and the namespace, from the project."""

from __future__ import annotations

import re


def c_name(text: str) -> str:
    """A C/C++ identifier from a project name."""
    s = re.sub(r"\W", "_", text)
    return s if s and not s[0].isdigit() else f"m_{s}"


def namespace(project) -> str:
    return c_name(project.firmware.namespace or project.name)


def top_name(project) -> str:
    return c_name(f"l1ml_{project.name}")
