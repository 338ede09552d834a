"""The queue's Vitis/Vivado steps of hls4ml's and conifer's projects (csim, csynth, cosim, vsynth) and of
conifer's VHDL (rtlsim with GHDL, vsynth with Vivado): their command lines, planned before anything runs so
they can be recorded and shown (l1ml/plan.py; the provider of last resort for those steps).

A plan is a list of ``{"argv": [...], "cwd": "relative/dir"}`` for the job's source tree, plus files the
step writes first (e.g. hls4ml's build_opt.tcl). Tools are resolved to absolute paths here; a missing tool
raises ToolNotFound naming it and the way to point at it, so a job never hangs on, or fakes, a missing tool.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from l1ml.errors import L1mlError
from l1ml.plan import Plan, Step, need_tool

HLS_DIRS = ("hls4ml", "conifer_hls", ".")
VHDL_DIRS = ("conifer_vhdl", ".")

STEPS = ("csim", "csynth", "cosim", "vsynth", "rtlsim")
# Files a step leaves behind that fetch returns, besides the log, the summary and l1ml.plan.REPORTS.
ARTIFACTS = {
    "rtlsim": ("**/SimulationOutput.txt",),  # conifer's VHDL testbench writes its scores there
    "csynth": ("**/syn/verilog/*", "**/syn/vhdl/*"),
    "cosim": ("**/syn/verilog/*", "**/syn/vhdl/*", "**/sim/report/*"),
    "vsynth": ("**/impl/ip/*.zip", "**/*.dcp"),
}


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
    files = {}
    exact = exact_testbench((d / test).read_text(errors="replace"))
    if exact is not None:
        test = EXACT_TB
        files[f"{rel}/{EXACT_TB}" if rel != "." else EXACT_TB] = exact
    build = [cxx, "-O2", "-std=c++17", *includes, *defines, test, *sources, "-o", "csim.exe"]
    return Plan("csim", [{"argv": build, "cwd": rel}, {"argv": ["./csim.exe"], "cwd": rel}], files)


EXACT_TB = "l1ml_exact_tb.cpp"  # not *_test.cpp: never taken for the project's own testbench
# hls4ml's testbench prints its outputs at the stream's default 6 significant digits, so the queue could
# compare them with the emulator only "to print precision". ap_fixed's operator<< prints the exact decimal
# of its value cut to the stream's precision: 80 digits hold any ap_fixed of up to 64 bits whole.
_TB_STREAM = re.compile(r"(std::ofstream\s+fout\s*\(\s*RESULTS_LOG\s*\)\s*;)")


def exact_testbench(text: str) -> str | None:
    """The testbench with its results stream printing exact values, or None when it opens none we know
    (conifer's prints its scores exactly already)."""
    if not _TB_STREAM.search(text):
        return None
    return _TB_STREAM.sub(r"\1 fout.precision(80);  // l1ml: exact values, compared bit for bit", text, count=1)


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


def applies(step: str, src: Path) -> bool:
    """These steps of any tree: the table asks this provider last."""
    return step in STEPS


def plan(step: str, src: Path, tools: dict | None = None) -> Plan:
    if step == "csim":
        return plan_csim(src, tools)
    if step == "rtlsim":
        return plan_rtlsim(src, tools)
    hls_tcl = ("build_prj.tcl", "build_hls.tcl")
    if step == "vsynth" and not any((src / c / t).is_file() for c in HLS_DIRS for t in hls_tcl):
        return plan_vhdl_vsynth(src, tools)
    return plan_vendor(step, src, tools)


def summarize(src: Path, step: str, board: dict | None = None) -> dict:
    """The Vivado/Vitis reports' figures and how many outputs a csim printed."""
    from l1ml.firmware.vendor_reports import summarize_reports

    out = summarize_reports(src, board)
    csim = sorted(src.glob("**/tb_data/csim_results.log"))
    if csim:
        out["csim_outputs"] = sum(1 for line in csim[0].read_text().splitlines() if line.strip())
    return out


def ap_types_headers(step: str, fw: Path) -> dict[str, Path]:
    """csim of a conifer project needs the ap_types headers, which conifer does not write: send the ones
    bundled with hls4ml (those l1ml's own emulation uses) with the job, so it builds on any host."""
    if step != "csim":
        return {}
    d = csim_dir(fw)
    if not needs_ap_types(d):
        return {}
    import importlib.util

    spec = importlib.util.find_spec("hls4ml")  # its path only: importing hls4ml costs seconds
    root = Path(next(iter(spec.submodule_search_locations))) if spec else None
    headers = root / "templates" / "vivado" / "ap_types" if root else None
    if headers is None or not (headers / "ap_fixed.h").is_file():
        raise L1mlError(
            f"{d} has no ap_types headers (ap_fixed.h) and hls4ml's bundled ones were not found; "
            "install hls4ml (pip install hls4ml==1.3.0) or copy the ap_types into "
            f"{d / 'firmware' / 'ap_types'}"
        )
    return {(d / "firmware" / "ap_types").relative_to(fw).as_posix(): headers}


STEP = Step("hls", applies, plan, summarize, ARTIFACTS, pack=ap_types_headers)
