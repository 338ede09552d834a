"""The queue's open-source steps: their command lines, planned before they run (l1ml/plan.py).

- ``rtlsim`` of a network (an rtl/ design from `l1ml convert --backend rtl`): Verilator compiles the
  design and its testbench, the testbench runs the events of rtl/tb/, and ``python -m l1ml.firmware.rtl.rtlsim_check``
  fails the job unless every output is bit-identical to the emulator's. A BDT's rtlsim stays GHDL's.
- ``ysynth``: Yosys on the network's design (synth_xilinx for the board's family, or generic cells). For a
  conifer VHDL project, GHDL 2.0's own synthesis (``ghdl --synth --out=verilog``) writes a Verilog netlist
  that Yosys reads: Debian has no ghdl-yosys-plugin, so Yosys cannot read the VHDL itself.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from l1ml.errors import L1mlError
from l1ml.plan import Plan, Step, need_tool

RTL = "rtl"
VHDL_FLOW = "ghdl --synth --out=verilog; synth -lut 6 (generic cells)"
SIM_ONLY = ("Testbench", "Simulation", "TestUtil")  # conifer's simulation-only VHDL files
STEPS = ("rtlsim", "ysynth")


def applies(step: str, src: Path) -> bool:
    """Whether this module plans `step` for the job tree `src` (else the vendor/GHDL planners do)."""
    if step == "ysynth":
        return True
    return step == "rtlsim" and (src / RTL / "rtl.json").is_file() and not (src / "conifer_vhdl").is_dir()


def plan(step: str, src: Path, tools: dict | None = None) -> Plan:
    if step == "rtlsim":
        return plan_rtlsim(src, tools)
    if (src / RTL / "rtl.json").is_file():
        return plan_ysynth(src, tools)
    if (src / "conifer_vhdl" / "ghdl_compile.sh").is_file():
        return plan_vhdl_ysynth(src, tools)
    raise L1mlError(
        "ysynth needs an RTL design (`l1ml convert --backend rtl` writes rtl/) or a conifer VHDL project; "
        "neither is in the job's files"
    )


def plan_rtlsim(src: Path, tools: dict | None):
    from l1ml.firmware.rtl.build import read_info
    from l1ml.firmware.rtl.verilator import compile_argv, verilator_path

    info = read_info(src / RTL)
    verilator = verilator_path(tools)
    sources = [f"../{s}" for s in info["sources"]]
    return Plan(
        "rtlsim",
        [
            {"argv": compile_argv(verilator, sources), "cwd": f"{RTL}/tb"},
            {"argv": ["./obj_dir/Vtb"], "cwd": f"{RTL}/tb"},
            {"argv": [sys.executable, "-m", "l1ml.firmware.rtl.rtlsim_check", "."], "cwd": RTL},
        ],
    )


def plan_ysynth(src: Path, tools: dict | None):
    from l1ml.firmware.rtl.build import read_info
    from l1ml.firmware.rtl.yosys import SCRIPT, argv, write_script, yosys_path

    info = read_info(src / RTL)
    yosys = yosys_path(tools)
    name = write_script(src / RTL, info.get("yosys_flow", "xilinx"))
    script = (src / RTL / SCRIPT).read_text()
    return Plan(
        "ysynth",
        [
            {"argv": argv(yosys), "cwd": RTL},
            {"argv": [sys.executable, "-m", "l1ml.firmware.rtl.ysummary", ".", name], "cwd": RTL},
        ],
        {f"{RTL}/{SCRIPT}": script},
    )


def plan_vhdl_ysynth(src: Path, tools: dict | None):
    """conifer's VHDL: analyse its sources with GHDL (the lines of ghdl_compile.sh, without the
    testbench), synthesise the top entity with GHDL to Verilog, then Yosys."""
    d = src / "conifer_vhdl"
    ghdl = need_tool("ysynth", ("ghdl",), tools)
    yosys = need_tool("ysynth", ("yosys",), tools)
    ghdl_can_synthesise(ghdl)
    cmds, lib = [], "work"
    for n, line in enumerate((d / "ghdl_compile.sh").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        a = shlex.split(line)
        if a[0] != "ghdl" or a[1] not in ("-a", "-e"):
            raise L1mlError(f"ghdl_compile.sh line {n} is not a plain 'ghdl -a/-e' command: {line!r}")
        if a[1] == "-a" and not any(k in x for x in a[2:] for k in SIM_ONLY):
            cmds.append({"argv": [ghdl, *a[1:]], "cwd": "conifer_vhdl"})
            lib = next((x.split("=", 1)[1] for x in a if x.startswith("--work=")), lib)
    std = next(
        (x for x in shlex.split((d / "ghdl_compile.sh").read_text()) if x.startswith("--std=")), "--std=08"
    )
    synth = [
        sys.executable,
        "-m",
        "l1ml.firmware.rtl.ghdl_synth",
        ghdl,
        std,
        f"--work={lib}",
        "BDTTop",
        "ghdl_synth.v",
    ]
    script = "read_verilog ghdl_synth.v\nsynth -top BDTTop -flatten -lut 6\ntee -o stat.txt stat\ntee -o ltp.txt ltp -noff\n"
    cmds += [
        {"argv": synth, "cwd": "conifer_vhdl"},
        {"argv": [yosys, "-q", "-l", "yosys.log", "-s", "synth.ys"], "cwd": "conifer_vhdl"},
        {"argv": [sys.executable, "-m", "l1ml.firmware.rtl.ysummary", ".", VHDL_FLOW], "cwd": "conifer_vhdl"},
    ]
    return Plan("ysynth", cmds, {"conifer_vhdl/synth.ys": script})


def ghdl_can_synthesise(ghdl: str) -> None:
    """Refuse the plan, naming the missing piece, when this GHDL has no synthesis command: Yosys 0.23
    reads no VHDL itself, and Debian packages no ghdl-yosys-plugin, so `ghdl --synth` is the only way in."""
    import subprocess

    try:
        r = subprocess.run([ghdl, "help"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise L1mlError(f"ysynth: could not run {ghdl} help: {exc}") from None
    if "--synth" not in r.stdout + r.stderr:
        version = subprocess.run(
            [ghdl, "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout.splitlines()
        raise L1mlError(
            f"ysynth of conifer's VHDL needs GHDL's synthesis (`ghdl --synth`, GHDL >= 1.0 built with it), "
            f"and {ghdl} ({version[0] if version else 'version unknown'}) has none; Yosys cannot read VHDL "
            "without it or the ghdl-yosys-plugin, which Debian does not package"
        )


def summarize(src: Path, step: str, board: dict | None = None) -> dict:
    """What a finished open-source step left in the job's tree, for its summary.json."""
    import json

    out: dict = {}
    if step == "ysynth":
        res = next(iter(sorted(src.glob("**/resources.json"))), None)
        if res is not None:
            out["ysynth"] = json.loads(res.read_text())
    elif step == "rtlsim" and (src / RTL / "tb" / "rtlsim.json").is_file():
        out["rtlsim"] = json.loads((src / RTL / "tb" / "rtlsim.json").read_text())
    return out


ARTIFACTS = {
    "rtlsim": ("rtl/tb/rtl_outputs.hex", "rtl/tb/rtlsim.json"),  # a network's Verilator run
    "ysynth": ("**/resources.json", "**/stat.txt", "**/ltp.txt", "**/synth.ys", "**/ghdl_synth.v"),
}
STEP = Step("rtl", applies, plan, summarize, ARTIFACTS)
