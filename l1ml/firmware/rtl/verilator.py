"""Verilator: compile the alkaid design with its testbench, run events through it, read its outputs.

The same command lines serve the queue's `rtlsim` step (planned in steps.py, run by a worker) and the local
check of `l1ml validate` (run here, in a temporary directory, on other events).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1ml.errors import L1mlError, ToolNotFound

FUTURE_LINT = ("UNUSEDSIGNAL", "UNUSEDSIGNAL,", "WIDTHTRUNC", "WIDTHEXPAND", "UNUSEDPARAM", "ALWNEVER")
RESULT_RE = re.compile(r"RTLSIM events=(\d+) latency_cycles=(\d+)")


def verilator_path(tools: dict | None = None) -> str:
    from l1ml.plan import find_tool, tool_hint

    path = find_tool("verilator", tools)
    if not path:
        raise ToolNotFound(
            f"the RTL simulation needs verilator, which is not installed here; {tool_hint('verilator')}"
        )
    return path


def compile_argv(verilator: str, sources: list[str], tb: str = "tb.v") -> list[str]:
    """Paths relative to the testbench directory; the executable is obj_dir/Vtb."""
    return [
        verilator,
        "--binary",
        "--top-module",
        "tb",
        "-j",
        "1",
        # The C++ of a flat DA netlist is one huge function: g++ -O0 builds it several times faster than
        # the default -Os, and a few thousand events run in well under a second either way.
        "-MAKEFLAGS",
        "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
        # alkaid's generated adders leave unused carry bits and width-extended operands: style, not errors
        "-Wno-fatal",
        "-Wno-lint",
        "-Wno-style",
        "-Wno-MULTITOP",
        # alkaid writes lint pragmas newer than Debian's Verilator 5.006 knows: -Wfuture accepts them
        *[f"-Wfuture-{code}" for code in FUTURE_LINT],
        "--Mdir",
        "obj_dir",
        "-o",
        "Vtb",
        tb,
        *sources,
    ]


@dataclass
class SimResult:
    events: int
    latency_cycles: int
    outputs: list[str]  # hex lines, one per event
    log: str
    seconds: float


def parse_log(text: str) -> tuple[int, int] | None:
    m = RESULT_RE.search(text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def simulate(rtl: Path, inputs_hex: list[str], tools: dict | None = None) -> SimResult:
    """Compile the design in `rtl` with a testbench for these events, run it, return what it printed."""
    import time

    from l1ml.firmware.rtl.build import read_info, templates

    info = read_info(rtl)
    verilator = verilator_path(tools)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="l1ml-rtlsim-") as tmp:
        work = Path(tmp)
        (work / "inputs.hex").write_text("\n".join(inputs_hex) + "\n")
        ib, ob = info["input"], info["output"]
        (work / "tb.v").write_text(
            templates()
            .get_template("tb.v.j2")
            .render(
                top=info["top"],
                n=len(inputs_hex),
                in_width=ib["element_bits"] * ib["size"],
                out_width=ob["element_bits"] * ob["size"],
                latency=info["latency_cycles"],
                pipelined=info["pipelined"],
                inputs="inputs.hex",
                outputs="rtl_outputs.hex",
            )
        )
        sources = [str((rtl / s).resolve()) for s in info["sources"]]
        r = subprocess.run(
            compile_argv(verilator, sources), cwd=work, capture_output=True, text=True, check=False
        )
        if r.returncode != 0:
            raise L1mlError(
                f"verilator failed (exit {r.returncode}) on {rtl}: {(r.stderr or r.stdout)[-1500:]}"
            )
        r = subprocess.run(
            [str(work / "obj_dir" / "Vtb")], cwd=work, capture_output=True, text=True, check=False
        )
        parsed = parse_log(r.stdout)
        if parsed is None:
            raise L1mlError(
                f"the RTL testbench did not finish (exit {r.returncode}): {(r.stdout + r.stderr)[-1500:]}"
            )
        outputs = (work / "rtl_outputs.hex").read_text().split()
    events, latency = parsed
    return SimResult(events, latency, outputs, r.stdout, time.perf_counter() - t0)


def decode(rtl: Path, lines: list[str]) -> dict[str, np.ndarray]:
    """RTL output vectors -> {output name: (events, size) float64 values}, exact."""
    from l1ml.firmware.rtl.build import read_info, unpack_hex

    info = read_info(rtl)
    ob = info["output"]
    codes = unpack_hex(lines, ob["element_bits"], ob["size"], ob["signed"])
    vals = codes.astype(np.float64) * 2.0 ** -ob["frac"]  # exact: codes below 2**53 (emulator bounds)
    return {o["name"]: vals[:, o["start"] : o["start"] + o["size"]] for o in info["outputs"]}


def have_verilator() -> bool:
    return shutil.which("verilator") is not None
