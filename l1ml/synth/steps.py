"""The command lines of each step, planned before anything runs so they can be recorded and shown.

A plan is a list of ``{"argv": [...], "cwd": "relative/dir"}`` for the job's source tree, plus files the
step writes first (e.g. hls4ml's build_opt.tcl). Tools are resolved to absolute paths here; a missing tool
raises ToolNotFound naming it and the way to point at it, so a job never hangs on, or fakes, a missing tool.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from l1ml.errors import L1mlError, ToolNotFound
from l1ml.synth.hwtest import ARTIFACTS as HWTEST_ARTIFACTS
from l1ml.synth.hwtest import plan_hwtest
from l1ml.synth.job import check_step

HLS_DIRS = ("hls4ml", "conifer_hls", ".")
VHDL_DIRS = ("conifer_vhdl", ".")

# Files a step leaves behind that fetch returns, besides the log and the summary.
REPORTS = (
    "**/*_csynth.rpt",
    "**/*_csynth.xml",
    "**/*_cosim.rpt",
    "**/vivado_synth.rpt",
    "**/util.rpt",
    "**/tb_data/csim_results.log",
    "**/tb_data/rtl_cosim_results.log",
    "**/ghdl.log",
    "**/*.log",
)
ARTIFACTS = {
    "csim": (),
    "rtlsim": ("**/SimulationOutput.txt",),  # conifer's VHDL testbench writes its scores there
    "csynth": ("**/syn/verilog/*", "**/syn/vhdl/*"),
    "cosim": ("**/syn/verilog/*", "**/syn/vhdl/*", "**/sim/report/*"),
    "vsynth": ("**/impl/ip/*.zip", "**/*.dcp"),
    "emulate": ("**/counts.json",),  # l1ml/rates/split.py
    "ysynth": ("**/resources.json", "**/stat.txt", "**/ltp.txt", "**/synth.ys", "**/ghdl_synth.v"),
}
ARTIFACTS["rtlsim"] += ("rtl/tb/rtl_outputs.hex", "rtl/tb/rtlsim.json")  # a network's Verilator run
ARTIFACTS.update(hwtest=HWTEST_ARTIFACTS, vsynth=ARTIFACTS["vsynth"] + ("**/*.bit", "**/*.ltx"))  # hwtest.py


@dataclass
class Plan:
    step: str
    commands: list[dict]
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content, written before running

    def script(self) -> str:
        """The plan as a bash script: stops at the first failing command and reports its exit code."""
        lines = ["set -euo pipefail"]
        for c in self.commands:
            argv = " ".join(shlex.quote(a) for a in c["argv"])
            lines.append(f"echo {shlex.quote('+ (cd ' + c['cwd'] + ') ' + argv)}")
            lines.append(f"(cd {shlex.quote(c['cwd'])} && exec {argv})")
        return "\n".join(lines) + "\n"


def tool_hint(name: str) -> str:
    from l1ml.synth.settings import config_file

    var = "L1ML_" + name.upper().replace("-", "_")
    return (
        f"install it on the build host and put it on PATH (e.g. source the Xilinx settings64.sh), "
        f'or point at it with {var}=/path/to/{name} or [tools] {name} = "..." in {config_file()}'
    )


def find_tool(name: str, tools: dict | None = None) -> str | None:
    var = "L1ML_" + name.upper().replace("-", "_")
    given = (tools or {}).get(name) or os.environ.get(var)
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which(name)


def need_tool(step: str, names: tuple[str, ...], tools: dict | None = None) -> str:
    """The first of names that is installed, or ToolNotFound naming them all."""
    for name in names:
        path = find_tool(name, tools)
        if path:
            return path
    wanted = " or ".join(names)
    raise ToolNotFound(f"step '{step}' needs {wanted}, which is not installed here; {tool_hint(names[0])}")


def _subdir(src: Path, candidates: tuple[str, ...], test, what: str) -> Path:
    for c in candidates:
        d = src / c
        if d.is_dir() and test(d):
            return d
    raise L1mlError(f"no {what} in the job's files (looked in {', '.join(candidates)})")


def _has_testbench(d: Path) -> bool:
    return any(d.glob("*_test.cpp"))


def _hls_backend(d: Path) -> str:
    tcl = d / "project.tcl"
    if tcl.is_file():
        for line in tcl.read_text(errors="replace").splitlines():
            if "set backend" in line and "vivado" in line.lower() and "vitis" not in line.lower():
                return "vivado"
    return "vitis"


def csim_dir(src: Path) -> Path:
    """The HLS project csim builds: hls4ml/ or conifer_hls/ (or the root)."""
    return _subdir(src, HLS_DIRS, _has_testbench, "HLS project with a *_test.cpp testbench")


def needs_ap_types(d: Path) -> bool:
    """Sources include ap_fixed.h/ap_int.h but the project has none: conifer writes no ap_types headers
    (hls4ml copies them into firmware/ap_types)."""
    if any(d.rglob("ap_fixed.h")):
        return False
    sources = [p for p in d.rglob("*") if p.suffix in (".h", ".cpp") and p.is_file()]
    return any(
        re.search(r'#\s*include\s*[<"]ap_(fixed|int)\.h', p.read_text(errors="replace")) for p in sources
    )


def plan_csim(src: Path, tools: dict | None) -> Plan:
    d = csim_dir(src)
    cxx = need_tool("csim", ("g++",), tools)
    rel = d.relative_to(src).as_posix()
    test = sorted(d.glob("*_test.cpp"))[0].name
    sources = [p.relative_to(d).as_posix() for p in sorted((d / "firmware").glob("*.cpp"))]
    includes = ["-I.", "-Ifirmware"] + [
        f"-I{p.relative_to(d).as_posix()}"
        for p in (d / "firmware/ap_types", d / "firmware/nnet_utils")
        if p.is_dir()
    ]
    # hls4ml's firmware loads its weights from text files outside synthesis; build_lib.sh points at them so.
    defines = ['-DWEIGHTS_DIR="firmware/weights"'] if (d / "firmware" / "weights").is_dir() else []
    build = [cxx, "-O2", "-std=c++17", *includes, *defines, test, *sources, "-o", "csim.exe"]
    return Plan("csim", [{"argv": build, "cwd": rel}, {"argv": ["./csim.exe"], "cwd": rel}])


def vendor_options(step: str, kind: str) -> dict[str, bool]:
    """The options hls4ml's (kind 'hls4ml') or conifer's (kind 'conifer') build() is called with for a step.
    csim runs as its own step (g++ here), so no vendor step repeats it."""
    if kind == "conifer":
        # conifer's build_hls.tcl has no vsynth of its own: build() runs vivado_synth.tcl afterwards, on
        # the HLS output, which needs C synthesis but no IP export.
        return {"reset": True, "csim": False, "synth": True, "cosim": step == "cosim", "export": False}
    return {
        "reset": True,
        "csim": False,
        "synth": True,
        "cosim": step == "cosim",
        "validation": False,
        "export": step == "vsynth",
        "vsynth": step == "vsynth",
        "fifo_opt": False,
    }


def build_opt_tcl(opts: dict[str, bool], width: int) -> str:
    """build_opt.tcl as hls4ml's Vitis backend (width 10) and conifer (width 0) write it: vitis-run cannot
    pass arguments to the script, so both read their options from this file."""
    return "array set opt {\n" + "".join(f"    {k:<{width}} {int(v)}\n" for k, v in opts.items()) + "}\n"


def plan_vendor(step: str, src: Path, tools: dict | None) -> Plan:
    """The commands hls4ml's or conifer's own build() runs for a step, in the project directory it runs
    them in (tests/vendor/ proves it with both libraries' build() and fake tools on PATH)."""
    d = _subdir(
        src,
        HLS_DIRS,
        lambda p: (p / "build_prj.tcl").is_file() or (p / "build_hls.tcl").is_file(),
        "HLS project (hls4ml's build_prj.tcl or conifer's build_hls.tcl)",
    )
    if (d / "build_prj.tcl").is_file():
        return _plan_hls4ml(step, src, d, tools)
    return _plan_conifer(step, src, d, tools)


def _plan_hls4ml(step: str, src: Path, d: Path, tools: dict | None) -> Plan:
    rel = d.relative_to(src).as_posix()
    opts = vendor_options(step, "hls4ml")
    if _hls_backend(d) == "vivado":
        # hls4ml's Vivado backend passes the options as one argument of Python booleans, which Tcl reads.
        hls = need_tool(step, ("vivado_hls",), tools)
        argv = [hls, "-f", "build_prj.tcl", " ".join(f"{k}={v}" for k, v in opts.items())]
        files = {}
    else:
        # hls4ml 1.3's Vitis backend runs vitis-run (Vitis >= 2024.2; the only HLS tool from 2025.1 on);
        # an older Vitis's vitis_hls runs the same build_prj.tcl, which reads build_opt.tcl either way.
        hls = need_tool(step, ("vitis-run", "vitis_hls"), tools)
        files = {f"{rel}/build_opt.tcl": build_opt_tcl(opts, 10)}
        argv = (
            [hls, "--tcl", "build_prj.tcl", "--mode", "hls"]
            if hls.endswith("vitis-run")
            else [hls, "-f", "build_prj.tcl"]
        )
    if step == "vsynth":
        need_tool(step, ("vivado",), tools)  # build_prj.tcl runs vivado for the logic synthesis
    return Plan(step, [{"argv": argv, "cwd": rel}], files)


def _plan_conifer(step: str, src: Path, d: Path, tools: dict | None) -> Plan:
    rel = d.relative_to(src).as_posix()
    # conifer's own preference when several are installed (conifer.backends.common._TOOLS).
    hls = need_tool(step, ("vivado_hls", "vitis_hls", "vitis-run"), tools)
    argv = (
        [hls, "--mode", "hls", "--tcl", "build_hls.tcl"]
        if hls.endswith("vitis-run")
        else [hls, "-f", "build_hls.tcl"]
    )
    commands = [{"argv": argv, "cwd": rel}]
    if step == "vsynth":
        if not (d / "vivado_synth.tcl").is_file():
            raise L1mlError(f"no vivado_synth.tcl in {d.name}/ (conifer writes it with build_hls.tcl)")
        vivado = need_tool(step, ("vivado",), tools)
        commands.append({"argv": [vivado, "-mode", "batch", "-source", "vivado_synth.tcl"], "cwd": rel})
    files = {f"{rel}/build_opt.tcl": build_opt_tcl(vendor_options(step, "conifer"), 0)}
    return Plan(step, commands, files)


def plan_vhdl_vsynth(src: Path, tools: dict | None) -> Plan:
    d = _subdir(src, VHDL_DIRS, lambda p: (p / "synth.tcl").is_file(), "conifer VHDL project with synth.tcl")
    vivado = need_tool("vsynth", ("vivado",), tools)
    return Plan(
        "vsynth",
        [{"argv": [vivado, "-mode", "batch", "-source", "synth.tcl"], "cwd": d.relative_to(src).as_posix()}],
    )


def plan_rtlsim(src: Path, tools: dict | None) -> Plan:
    """conifer's ghdl_compile.sh, read as data: only its ghdl lines run, then conifer's run command."""
    d = _subdir(
        src,
        VHDL_DIRS,
        lambda p: (p / "ghdl_compile.sh").is_file(),
        "conifer VHDL project with ghdl_compile.sh",
    )
    ghdl = need_tool("rtlsim", ("ghdl",), tools)
    rel = d.relative_to(src).as_posix()
    cmds = []
    for n, line in enumerate((d / "ghdl_compile.sh").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        argv = shlex.split(line)
        if argv[0] != "ghdl" or argv[1] not in ("-a", "-e") or any(a in (";", "&&", "|", ">") for a in argv):
            raise L1mlError(f"ghdl_compile.sh line {n} is not a plain 'ghdl -a/-e' command: {line!r}")
        cmds.append({"argv": [ghdl, *argv[1:]], "cwd": rel})
    if not any(c["argv"][1] == "-e" for c in cmds):
        raise L1mlError("ghdl_compile.sh elaborates no testbench ('ghdl -e ... testbench')")
    top = [c for c in cmds if c["argv"][1] == "-e"][-1]["argv"]
    cmds.append({"argv": [ghdl, "-r", *top[2:]], "cwd": rel})
    return Plan("rtlsim", cmds)


def plan(step: str, src: Path, tools: dict | None = None) -> Plan:
    check_step(step)
    if step == "hwtest":  # a test on an attached board: l1ml/synth/hwtest.py
        return plan_hwtest(src, tools)
    if step == "emulate":
        from l1ml.rates.split import plan_emulate  # its own module: the queue only routes to it

        return plan_emulate(src, tools)
    from l1ml.firmware.rtl import queue as rtl_queue  # the open-source steps: Verilator rtlsim, Yosys ysynth

    if rtl_queue.applies(step, src):
        return rtl_queue.plan(step, src, tools)
    from l1ml.firmware.backends.queue import plan_if_applies  # Catapult/Quartus/oneAPI/Libero (l1ml/firmware/backends/)

    if (other := plan_if_applies(step, src, tools)) is not None:
        return other
    if step == "csim":
        return plan_csim(src, tools)
    if step == "rtlsim":
        return plan_rtlsim(src, tools)
    hls_tcl = ("build_prj.tcl", "build_hls.tcl")
    if step == "vsynth" and not any((src / c / t).is_file() for c in HLS_DIRS for t in hls_tcl):
        return plan_vhdl_vsynth(src, tools)
    return plan_vendor(step, src, tools)
