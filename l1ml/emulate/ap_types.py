"""Where the ap_types headers are that the emulator's compiled code (conifer's C++ emulation) and conifer's
own tools build with."""

from __future__ import annotations

from pathlib import Path

from l1ml.errors import ToolNotFound


def ap_include_dir() -> Path:
    """hls4ml's bundled ap_types headers: conifer 1.11 ships none, so conifer needs XILINX_AP_INCLUDE."""
    import hls4ml

    d = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_fixed.h").is_file():
        raise ToolNotFound(
            f"no ap_fixed.h in {d}; reinstall hls4ml==1.3.0, whose templates bundle the ap_types"
        )
    return d
