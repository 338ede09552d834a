"""Yosys: open-source synthesis of the alkaid design, and the parsed figures (resources.json, the contract
docs/contracts.md describes).

Two flows: ``synth_xilinx -family F`` for the board's family (LUT6/CARRY/FDRE cells of that family), or
``generic`` (Yosys' own cells, mapped to 6-input LUTs by ABC). Either is an open-source synthesis of a
distributed-arithmetic design: not Vivado, and not the hls4ml Latency micro-architecture.

Each has a ``-stages`` form for the full-size networks: alkaid writes one module per pipeline stage
(logicN, combinational between the top's registers), and those modules keep their hierarchy
(``keep_hierarchy``), so Yosys optimises and maps each stage on its own instead of one flattened netlist
of every stage. The figures are then the per-stage netlists summed (``stat -top``) and the deepest stage's
logic depth, labelled so in the flow's name. No logic crosses a stage boundary except through the
registers, so the sum misses only optimisations across those registers (e.g. a register bit no later
stage reads).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from l1ml.errors import L1mlError, ToolNotFound

LABEL = "open-source synthesis of the alkaid distributed-arithmetic design; not Vivado figures"
SCRIPT, LOG = "synth.ys", "yosys.log"
FLOWS = ("xilinx", "generic", "xilinx-stages", "generic-stages")

# Xilinx part prefixes -> synth_xilinx -family: UltraScale+ (xcvu..p, xcku..p, xczu), UltraScale, 7-series.
FAMILIES = ((r"^xc(vu\d+p|ku\d+p|zu)", "xcup"), (r"^xc(vu|ku)\d", "xcu"), (r"^xc7", "xc7"))


def family(part: str) -> str | None:
    for pattern, fam in FAMILIES:
        if re.match(pattern, part.lower()):
            return fam
    return None


def yosys_path(tools: dict | None = None) -> str:
    from l1ml.plan import find_tool, tool_hint

    path = find_tool("yosys", tools)
    if not path:
        raise ToolNotFound(f"step 'ysynth' needs yosys, which is not installed here; {tool_hint('yosys')}")
    return path


def write_script(rtl: Path, flow: str = "xilinx") -> str:
    """Write rtl/synth.ys for `flow`; returns the flow's name as recorded ("synth_xilinx -family xcup")."""
    from l1ml.firmware.rtl.build import read_info, templates

    if flow not in FLOWS:
        raise L1mlError(f"unknown Yosys flow '{flow}'; flows: {', '.join(FLOWS)}")
    info = read_info(rtl)
    base, stages = flow.removesuffix("-stages"), flow.endswith("-stages")
    fam = family(info.get("part", "")) if base == "xilinx" else None
    if base == "xilinx" and fam is None:
        raise L1mlError(
            f"part {info.get('part')!r} has no synth_xilinx family (UltraScale+, UltraScale, 7-series); "
            "use the generic flow"
        )
    name = f"synth_xilinx -family {fam}" if fam else "synth; abc -lut 6 (generic cells)"
    if stages:
        name += ", per pipeline stage (alkaid's stage modules kept, figures summed)"
    text = (
        templates()
        .get_template("synth.ys.j2")
        .render(top=info["top"], sources=info["sources"], family=fam, flow=name, stages=stages)
    )
    (rtl / SCRIPT).write_text(text)
    return name


def argv(yosys: str) -> list[str]:
    return [yosys, "-q", "-l", LOG, "-s", SCRIPT]


_END = re.compile(r"End of script\..*?CPU: user ([\d.]+)s system ([\d.]+)s, MEM: ([\d.]+) MB peak")
_LTP = re.compile(r"Longest topological path in \S+ \(length=(\d+)\)")
_CELL = re.compile(r"^\s+(\S+)\s+(\d+)\s*$")


def _cells(stat: str) -> dict[str, int]:
    """Cell type -> count from `stat`'s table: the flattened top's, or with kept hierarchy the totals of
    `stat -top`'s design hierarchy section (every instance of every module counted)."""
    cells: dict[str, int] = {}
    if "=== design hierarchy ===" in stat:
        stat = stat.split("=== design hierarchy ===", 1)[1]
        # the section lists the instances per module first ("logic3  1"): the totals follow them
        stat = stat.split("Number of wires:", 1)[1] if "Number of wires:" in stat else stat
    for line in stat.splitlines():
        m = _CELL.match(line)
        if m and not line.strip().startswith("Number of"):
            cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    return cells


def parse(rtl: Path) -> dict:
    """The figures of a finished Yosys run in `rtl` (stat.txt, ltp.txt, yosys.log)."""
    log = rtl / LOG
    if not log.is_file():
        raise L1mlError(f"{log} not found: Yosys did not run")
    text = log.read_text(errors="replace")
    end = _END.search(text)
    if end is None:
        raise L1mlError(f"{log}: Yosys did not reach the end of its script")
    stat = (rtl / "stat.txt").read_text(errors="replace") if (rtl / "stat.txt").is_file() else ""
    cells = _cells(stat)
    lut = sum(n for c, n in cells.items() if re.fullmatch(r"LUT\d(_2)?|\$lut", c))
    ff = sum(n for c, n in cells.items() if re.fullmatch(r"FD[A-Z]*|\$_S?DFFE?_\w+|\$_DFF\w*|\$_SDFF\w*", c))
    dsp = sum(n for c, n in cells.items() if c.startswith("DSP48"))
    bram = sum(2 * n if c.startswith("RAMB36") else n for c, n in cells.items() if c.startswith("RAMB"))
    # one line per module; with kept stage modules the deepest stage is the design's logic depth
    depths = (
        [int(d) for d in _LTP.findall((rtl / "ltp.txt").read_text(errors="replace"))]
        if (rtl / "ltp.txt").is_file()
        else []
    )
    return {
        "lut": lut,
        "ff": ff,
        "dsp": dsp,
        "bram": bram,
        "carry": sum(n for c, n in cells.items() if c.startswith("CARRY")),
        "logic_depth": max(depths) if depths else None,
        "peak_memory_mb": float(end.group(3)),
        "cpu_seconds": float(end.group(1)) + float(end.group(2)),
        "cells": cells,
    }


def resources(rtl: Path, flow_name: str, seconds: float | None = None) -> dict:
    """resources.json's content (docs/contracts.md) from a finished run in `rtl`."""
    from l1ml.firmware.rtl.build import read_info

    info = read_info(rtl)
    p = parse(rtl)
    return {
        "tool": yosys_version(),
        "flow": flow_name,
        "label": LABEL,
        "lut": p["lut"],
        "ff": p["ff"],
        "dsp": p["dsp"],
        "bram": p["bram"],
        "logic_depth": p["logic_depth"],
        "latency_cycles": info["latency_cycles"] if info["pipelined"] else None,
        "clock_ns": info["clock_ns"],
        "peak_memory_mb": p["peak_memory_mb"],
        "seconds": seconds if seconds is not None else p["cpu_seconds"],
        "carry": p["carry"],
        "pipelined": info["pipelined"],
        "cpu_seconds": p["cpu_seconds"],  # Yosys' own CPU time: on a shared machine, its real cost
    }


def yosys_version(yosys: str | None = None) -> str:
    try:
        out = subprocess.run([yosys or yosys_path(), "-V"], capture_output=True, text=True, check=True).stdout
    except (ToolNotFound, OSError, subprocess.CalledProcessError):
        return "yosys (version unknown)"
    m = re.search(r"Yosys (\d+\.\d+)", out)
    return f"yosys {m.group(1)}" if m else out.strip()


def write_resources(rtl: Path, res: dict) -> Path:
    out = rtl / "resources.json"
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    os.replace(tmp, out)
    return out


def synthesize(rtl: Path, flow: str = "xilinx", tools: dict | None = None, timeout: float = 3600) -> dict:
    """Run Yosys here on the design in `rtl`; writes rtl/resources.json and returns its content."""
    yosys = yosys_path(tools)
    name = write_script(rtl, flow)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(argv(yosys), cwd=rtl, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise L1mlError(f"Yosys did not finish within {timeout:.0f} s on {rtl}") from None
    if r.returncode != 0:
        raise L1mlError(f"Yosys failed (exit {r.returncode}) on {rtl}: {(r.stderr or r.stdout)[-1500:]}")
    res = resources(rtl, name, time.perf_counter() - t0)
    write_resources(rtl, res)
    return res
