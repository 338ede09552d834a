"""hls4ml's other backends: Siemens Catapult, Intel (Quartus HLS, oneAPI) and Microchip Libero.

One registry, declared as data: what each backend takes at conversion, the FPGA vendor its parts come
from, the include path its C++ compiles with here (g++ and the ac_types headers hls4ml bundles), or why it
cannot be compiled here. The Xilinx backends (Vitis, Vivado) stay in l1ml/firmware/hls4ml.py as before.

    spec("Quartus").convert_kwargs(board, namespace)   # what hls4ml's create_initial_config accepts
    spec("Catapult").includes                         # g++ -I flags, as its build_lib.sh has them
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from l1ml.errors import ConfigError, ToolNotFound

XILINX_BACKENDS = ("Vitis", "Vivado")


@dataclass(frozen=True)
class Backend:
    name: str
    vendor: str  # whose FPGA parts the backend targets: the board's part must be one of them
    # g++ -I flags for the C simulation (relative to the hls4ml project), as the backend's build_lib.sh has
    # them; empty when its C++ cannot be compiled here, then `no_csim` says why in one line.
    includes: tuple[str, ...] = ()
    no_csim: str = ""
    tool: str = ""  # the vendor executable the synthesis steps run
    # hls4ml 1.3.0 writes a C++ namespace only for the backends whose create_initial_config takes one
    # (Libero here); Catapult's, Quartus's and oneAPI's C++ declare none, which the manifest must say.
    namespace: bool = False

    def convert_kwargs(self, board, namespace: str) -> dict:
        """hls4ml's create_initial_config keywords for this backend (Catapult's accepts no others)."""
        check_board(self, board)
        kw = {"part": board.part, "clock_period": board.clock_period_ns}
        if self.name == "Libero":
            libero_writer_works()
            kw["smarthls_path"] = smarthls_path()
            kw["namespace"] = namespace
            kw["write_weights_txt"] = False
        return kw


BACKENDS = {
    b.name: b
    for b in (
        Backend(
            "Catapult",
            "xilinx",
            includes=(
                "-Ifirmware/ac_types/include",
                "-Ifirmware/ac_math/include",
                "-Ifirmware/ac_simutils/include",
                "-Ifirmware/nnet_utils",
                "-Ifirmware",
            ),
            tool="catapult",
        ),
        Backend(
            "Quartus",
            "intel",
            includes=("-Ifirmware/ac_types/", "-Ifirmware/ap_types/", "-Ifirmware"),
            tool="i++",
        ),
        Backend(
            "oneAPI",
            "intel",
            no_csim="oneAPI's C++ is SYCL and compiles only with Intel's icpx, which is not installed here",
            tool="icpx",
        ),
        Backend(
            "Libero",
            "microchip",
            no_csim="Libero's C++ includes SmartHLS's own hls/ap_fixpt.hpp, which hls4ml does not bundle; it "
            "compiles only with SmartHLS (shls)",
            tool="shls",
            namespace=True,
        ),
    )
}
INTEL_FAMILIES = ("Arria10", "Stratix10", "Agilex5", "Agilex7", "Cyclone10", "CycloneV")


def is_other(backend: str) -> bool:
    return backend in BACKENDS


def spec(backend: str) -> Backend:
    if backend not in BACKENDS:
        raise ConfigError(
            f"backend '{backend}' is not one of hls4ml's other backends ({', '.join(BACKENDS)}); "
            f"the Xilinx ones are {', '.join(XILINX_BACKENDS)}"
        )
    return BACKENDS[backend]


def part_vendor(part: str) -> str:
    p = part.lower()
    if p.startswith("xc"):
        return "xilinx"
    if p.startswith("mpf") or p.startswith("m2s") or p.startswith("mpfs"):
        return "microchip"
    if any(p.startswith(f.lower()) for f in INTEL_FAMILIES) or p[:2] in ("10", "1s", "ag"):
        return "intel"
    return "unknown"


def check_board(b: Backend, board) -> None:
    got = part_vendor(board.part)
    if got != b.vendor:
        raise ConfigError(
            f"backend '{b.name}' targets {b.vendor} FPGAs, but board '{board.name}' is part {board.part} "
            f"({got}); set [firmware] board to a {b.vendor} board"
            + {"intel": " (e.g. agilex7 or arria10)", "microchip": " (e.g. mpf300)"}.get(b.vendor, "")
        )


def libero_writer_works() -> None:
    """hls4ml 1.3.0's Libero writer copies templates/libero/build_lib.sh, which its wheel does not ship:
    every Libero conversion fails at the end of writing. Refuse before any slow step, naming the file."""
    from pathlib import Path

    import hls4ml

    missing = Path(hls4ml.__file__).parent / "templates" / "libero" / "build_lib.sh"
    if not missing.is_file():
        from l1ml.fixed import UnsupportedError

        raise UnsupportedError(
            f"backend 'Libero': hls4ml {hls4ml.__version__}'s Libero writer needs {missing}, which its "
            "package does not ship, so it cannot write a Libero project; use another backend or an hls4ml "
            "that ships it"
        )


def smarthls_path() -> str:
    """The SmartHLS installation hls4ml's Libero backend writes into its Makefile at conversion."""
    given = os.environ.get("L1ML_SHLS")
    shls = given if given and os.access(given, os.X_OK) else shutil.which("shls")
    if not shls:
        raise ToolNotFound(
            "backend 'Libero': hls4ml 1.3 reads the SmartHLS installation (shls) at conversion, and shls is not "
            "installed here; put it on PATH or point L1ML_SHLS at it"
        )
    from pathlib import Path

    return str(Path(shls).resolve().parent.parent)


def project_backend(prj) -> str:
    """The hls4ml backend an hls4ml project directory was written for: the top-level `Backend:` line of
    its hls4ml_config.yml (read as text: the file holds Python-tagged objects safe_load refuses)."""
    import re
    from pathlib import Path

    f = Path(prj) / "hls4ml_config.yml"
    if not f.is_file():
        return ""
    m = re.search(r"^Backend:\s*(\S+)\s*$", f.read_text(errors="replace"), re.MULTILINE)
    return m.group(1) if m else ""


def csim_includes(prj) -> list[str] | None:
    """g++ -I flags for an hls4ml project of one of these backends, None for the Xilinx ones; a backend
    whose C++ cannot compile here raises UnsupportedError with its one-line reason."""
    name = project_backend(prj)
    if name not in BACKENDS:
        return None
    b = BACKENDS[name]
    if b.no_csim:
        from l1ml.fixed import UnsupportedError

        raise UnsupportedError(f"backend '{name}': {b.no_csim}")
    return list(b.includes)


def manifest_fields(hls_model, project) -> dict:
    """What the firmware manifest records for these backends: the types hls4ml writes wider than asked
    (see acfixed.py), whether the C simulation can run here, and no namespace where the C++ declares none."""
    name = project.firmware.backend
    if name not in BACKENDS:
        return {}
    from l1ml.firmware.backends.acfixed import widened_layers

    fields = {"ac_widened": widened_layers(hls_model), "csim_refused": BACKENDS[name].no_csim or None}
    if not BACKENDS[name].namespace:
        fields["namespace"] = None  # the generated C++ declares none (see Backend.namespace)
    return fields
