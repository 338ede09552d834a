"""Fake tools of hls4ml's other backends, in the manner of fake_tools.py (which registers them in TOOLS):
Siemens Catapult (catapult), Intel HLS (i++, and the testbench executable it builds; quartus_sh), Intel
oneAPI (icpx), Microchip SmartHLS (shls), plus recording shims for make and cmake that then run the real
ones (the Makefile and CMakeLists.txt hls4ml writes are real and must really work).

Each records its argv and cwd, refuses a command line the real tool would refuse (an option it lacks, a
missing script or source: exit code 2, or 1 where the real tool fails), and leaves the hand-written reports
of tests/backends/fixtures/ where the real tool writes its own.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from fake_tools import HERE, SCRIPT, Reject, _record

BACKEND_FIXTURES = HERE.parent / "backends" / "fixtures"


def _tcl_bool(value: str) -> int | bool:
    """How hls4ml's Catapult build_prj.tcl reads an option: an integer, else `string is true -strict`."""
    if re.fullmatch(r"[-+]?\d+", value):
        return int(value)
    return value.lower() in ("1", "true", "yes", "on")


def _catapult(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    args = list(argv)
    script, evals = None, []
    known = {"-product": 1, "-shell": 0, "-f": 1, "-eval": 1}
    while args:
        a = args.pop(0)
        if a not in known:
            raise Reject(f"unknown option {a!r}")
        if known[a] and not args:
            raise Reject(f"{a} needs a value")
        v = args.pop(0) if known[a] else None
        if a == "-product" and v not in ("ultra", "library"):
            raise Reject(f"unknown product {v!r}")
        if a == "-f":
            script = v
        if a == "-eval":
            evals.append(v)
    if "-shell" not in argv:
        raise Reject("only -shell (batch) runs are faked")
    if script is None or not (cwd / script).is_file():
        raise Reject(f"couldn't read file {script!r}")
    _record(config, tool, argv, cwd, script)
    text = (cwd / script).read_text()
    opts: dict = {}
    for block in re.findall(r"array set opt\s*\{(.*?)\}", text, re.DOTALL):
        for key, value in re.findall(r"(\w+)\s+(\S+)", block):
            opts[key] = _tcl_bool(value)
    for e in evals:
        m = re.fullmatch(r'set ::argv "(.*)"', e)
        if not m:
            raise Reject(f'-eval {e!r} is not `set ::argv "..."`')
        for word in m.group(1).split():
            k, _, v = word.partition("=")
            if k in opts:  # build_prj.tcl ignores names it does not know
                opts[k] = _tcl_bool(v)
    prj = re.search(r"project new -name (\S+)", text)
    top = re.search(r"solution file add \$sfd/firmware/(\w+)\.cpp", text)
    if not prj or not top:
        raise Reject(f"{script} creates no project or adds no firmware source")
    fx = BACKEND_FIXTURES / "catapult"
    sol = cwd / prj.group(1) / f"{top.group(1)}.v1"
    if opts.get("reset") and sol.parent.exists():
        shutil.rmtree(sol.parent)
    if opts.get("synth"):
        sol.mkdir(parents=True, exist_ok=True)
        shutil.copy(fx / "rtl.rpt", sol / "rtl.rpt")
        shutil.copy(fx / "nnet_layer_results.txt", sol / "nnet_layer_results.txt")
    if opts.get("cosim"):
        (sol / "scverify").mkdir(parents=True, exist_ok=True)
        (sol / "scverify" / "fake_cosim.log").write_text("written by the fake catapult (a test)\n")
    if opts.get("vsynth"):
        if shutil.which("vivado") is None:  # Catapult's /Vivado/synthesize flow runs Vivado
            print("Error: Vivado executable not found (flow Vivado)", file=sys.stderr)
            return 1
        (sol / "vivado_concat_v").mkdir(parents=True, exist_ok=True)
        for f in ("utilization_synth.rpt", "timing_summary_synth.rpt"):
            shutil.copy(fx / f, sol / "vivado_concat_v" / f)
    return 0


def _ipp(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    """i++: compiles the testbench and component; with -march=<family> it also runs HLS and writes reports."""
    args, sources, out, march, quartus = list(argv), [], "a.out", None, False
    while args:
        a = args.pop(0)
        if a == "-v" or a == "--dont-error-if-large-area-est":
            continue
        if a.startswith("-march="):
            march = a.split("=", 1)[1]
        elif a in ("--time", "-o"):
            if not args:
                raise Reject(f"{a} needs a value")
            v = args.pop(0)
            out = v if a == "-o" else out
        elif a == "--quartus-compile":
            quartus = True
        elif a.startswith("-"):
            raise Reject(f"unknown option {a!r}")
        else:
            sources.append(a)
    _record(config, tool, argv, cwd, None)
    for s in sources:
        if not (cwd / s).is_file():
            print(f"i++: error: no such file or directory: '{s}'", file=sys.stderr)
            return 1
    if not sources:
        raise Reject("no input files")
    if quartus and shutil.which("quartus_sh") is None:
        print("Error: Quartus Prime is not on PATH (quartus_sh); --quartus-compile needs it", file=sys.stderr)
        return 1
    exe = cwd / out
    exe.write_text(SCRIPT.format(python=sys.executable, here=str(HERE), tool="i++ testbench", config=config))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    if march:
        lib = cwd / f"{out}.prj" / "reports" / "lib"
        lib.mkdir(parents=True, exist_ok=True)
        fx = BACKEND_FIXTURES / "quartus"
        shutil.copy(fx / "report_data.js", lib / "report_data.js")
        shutil.copy(fx / ("quartus_data.js" if quartus else "quartus_data_tbd.js"), lib / "quartus_data.js")
    return 0


def _testbench(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    """The executable i++ built: runs the testbench, simulating the component, and writes its latency."""
    exe = Path(sys.argv[0])
    _record(config, tool, [f"./{exe.name}", *argv], cwd, None)
    lib = exe.parent / f"{exe.name}.prj" / "reports" / "lib"
    if lib.is_dir():
        shutil.copy(BACKEND_FIXTURES / "quartus" / "verification_data.js", lib / "verification_data.js")
    return 0


def _absent(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    """A tool that only needs to be installed (quartus_sh, called by i++ itself): running it is not faked."""
    _record(config, tool, argv, cwd, None)
    raise Reject("not faked: only its presence on PATH is")


def _real(name: str) -> str:
    """The real executable of `name` on PATH, past the fakes' own directory."""
    me = Path(sys.argv[0]).resolve().parent
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = Path(d) / name
        if d and p.resolve().parent != me and os.access(p, os.X_OK):
            return str(p)
    raise Reject(f"no real {name} on PATH")


def _shim(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    """make and cmake: record the call, then run the real tool on hls4ml's real Makefile/CMakeLists.txt."""
    _record(config, tool, argv, cwd, None)
    return subprocess.run([_real(tool), *argv], cwd=cwd).returncode


def _icpx(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    """Intel's oneAPI compiler. Without -fsycl it is CMake probing the compiler: that is handed to g++ and
    not recorded. SYCL compiles check their source and write an object; SYCL links write what icpx would:
    an early image's reports (-fsycl-link=early), a simulation or hardware executable (the hardware one
    only with Quartus on PATH, which icpx runs)."""
    if "-fsycl" not in argv:
        return subprocess.run(["g++", *argv], cwd=cwd).returncode
    out, depfile, sources, objects, target = None, None, [], [], None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("-o", "-MT", "-MF"):
            if not args:
                raise Reject(f"{a} needs a value")
            v = args.pop(0)
            if a == "-o":
                out = v
            elif a == "-MF":
                depfile = v
        elif a.startswith("-Xstarget="):
            target = a.split("=", 1)[1]
        elif a.startswith("--") or a in ("-fsycl-unknown",):
            raise Reject(f"unknown option {a!r}")
        elif a.startswith("-"):
            continue  # -fsycl, -fintelfpga, -Xs..., -qactypes, -W..., -D..., -I..., -MD, -O...
        elif a.endswith((".cpp", ".cc", ".cxx")):
            sources.append(a)
        else:
            objects.append(a)
    _record(config, tool, argv, cwd, None)
    if out is None:
        raise Reject("no -o output")
    if "-c" in argv:
        for src in sources:
            if not (cwd / src).is_file():
                print(f"icpx: error: no such file or directory: '{src}'", file=sys.stderr)
                return 1
        (cwd / out).parent.mkdir(parents=True, exist_ok=True)
        (cwd / out).write_text("fake object (a test)\n")
        if "-MF" in argv:
            (cwd / depfile).write_text(f"{out}: {' '.join(sources)}\n")
        return 0
    for o in objects:
        if not (cwd / o).is_file():
            print(f"icpx: error: no such file or directory: '{o}'", file=sys.stderr)
            return 1
    hardware, simulation = "-Xshardware" in argv, "-Xssimulation" in argv
    if (hardware or simulation) and not target:
        raise Reject("-Xshardware/-Xssimulation need -Xstarget=<device>")
    early = "-fsycl-link=early" in argv
    if hardware and not early and shutil.which("quartus_sh") is None:
        print("Error: Quartus Prime compile needs quartus_sh on PATH", file=sys.stderr)
        return 1
    fx = BACKEND_FIXTURES / "oneapi"
    if hardware or simulation:
        rep = cwd / f"{out}.prj" / "reports" / "resources" / "json"
        rep.mkdir(parents=True, exist_ok=True)
        for f in ("summary.ndjson", "loop_attr.ndjson"):
            shutil.copy(fx / f, rep / f)
        quartus = "quartus.ndjson" if hardware and not early else "quartus_tbd.ndjson"
        shutil.copy(fx / quartus, rep / "quartus.ndjson")
    exe = cwd / out
    exe.write_text(
        SCRIPT.format(python=sys.executable, here=str(HERE), tool="icpx executable", config=config)
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return 0


def _icpx_executable(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    _record(config, tool, [f"./{Path(sys.argv[0]).name}", *argv], cwd, None)
    return 0


SHLS_COMMANDS = ("clean", "sw_compile", "hw", "cosim", "rtl_synth", "fpga", "soc_sw_compile")


def _shls(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    if len(argv) != 2 or argv[0] not in ("-s", "-a") or argv[1] not in SHLS_COMMANDS:
        raise Reject(f"usage: shls [-s|-a] <{'|'.join(SHLS_COMMANDS)}>, got {argv}")
    if not (cwd / "Makefile").is_file():
        raise Reject("no SmartHLS Makefile in the working directory")
    _record(config, tool, argv, cwd, None)
    rep = cwd / "hls_output" / "reports"
    if argv[1] == "clean":
        shutil.rmtree(cwd / "hls_output", ignore_errors=True)
    fixture = BACKEND_FIXTURES / "libero" / f"summary.{argv[1]}.rpt"
    if fixture.is_file():  # SmartHLS rewrites its summary after each of these commands
        rep.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixture, rep / "summary.results.rpt")
    return 0


BACKEND_TOOLS = {
    "catapult": _catapult,
    "i++": _ipp,
    "i++ testbench": _testbench,
    "quartus_sh": _absent,
    "make": _shim,
    "cmake": _shim,
    "shls": _shls,
    "icpx": _icpx,
    "icpx executable": _icpx_executable,
}
# Tool sets of installations: what a build host has on PATH for each backend.
BACKEND_TOOLSETS = {
    "Catapult": ("catapult", "vivado"),
    "Quartus": ("i++", "quartus_sh", "make"),
    "Libero": ("shls",),
    "oneAPI": ("icpx", "cmake", "make", "quartus_sh"),
}
