"""The queue's vendor steps (csynth, cosim, vsynth) for hls4ml's Catapult, Quartus, oneAPI and Libero
projects: the commands each backend's own ``build()`` runs (hls4ml 1.3), in the directory it runs them in,
with the options that mean the step. tests/backends proves it against hls4ml's build() with fake tools.

| backend  | csynth                                  | cosim                      | vsynth                           |
| -------- | --------------------------------------- | -------------------------- | -------------------------------- |
| Catapult | catapult -product ultra -shell -f build_prj.tcl -eval 'set ::argv "..."': synth=True | + cosim=True | + vsynth=True (Catapult's Vivado flow) |
| Quartus  | make NAME-fpga LOGGING_1=-v; ./NAME-fpga (i++ HLS, then its testbench simulation) | the same (i++'s testbench *is* the cosimulation) | + QUARTUS_COMPILE=--quartus-compile (needs quartus_sh) |
| oneAPI   | cmake ..; make report (in build/)       | cmake ..; make fpga_sim; ./NAME.fpga_sim | cmake ..; make fpga |
| Libero   | shls -s clean; shls -s hw               | + shls -s cosim            | + shls -s rtl_synth              |

A tool that is missing fails the plan with ToolNotFound naming it, as for the Xilinx steps.
"""

from __future__ import annotations

import re
from pathlib import Path

from l1ml.errors import L1mlError
from l1ml.firmware.backends.projects import project_dir, project_name
from l1ml.firmware.backends.reports import summarize
from l1ml.plan import Plan, Step, need_tool

STEPS = ("csim", "csynth", "cosim", "vsynth")


def applies(step: str, src: Path) -> bool:
    """Whether `step` of the job tree `src` is one of these backends' (else the Xilinx planners run)."""
    return step in STEPS and project_dir(src) is not None


def catapult_options(step: str) -> dict:
    """build()'s keywords for a step, in its order; csim runs as its own step (g++ here), never again."""
    return {
        "reset": True,
        "csim": False,
        "synth": True,
        "cosim": step == "cosim",
        "validation": False,
        "export": False,
        "vsynth": step == "vsynth",
        "fifo_opt": False,
        "bitfile": False,
        "ran_frame": 5,
        "sw_opt": False,
        "power": False,
        "da": False,
        "vhdl": False,
        "verilog": True,
        "bup": False,
    }


def catapult_eval(opts: dict) -> str:
    """The -eval argument exactly as hls4ml's CatapultBackend.build() writes it (Python reprs; Tcl's
    `string is true` reads True/False)."""
    return 'set ::argv "' + " ".join(f"{k}={v}" for k, v in opts.items()) + '"'


def plan(step: str, src: Path, tools: dict | None = None):
    found = project_dir(src)
    if found is None:
        raise L1mlError("no hls4ml Catapult/Quartus/oneAPI/Libero project in the job's files")
    d, backend = found
    if step == "csim" and backend in ("Catapult", "Quartus"):
        return _gxx_csim(backend, src, d, tools)
    return PLANNERS[backend](step, src, d, tools)


def _gxx_csim(backend: str, src: Path, d: Path, tools: dict | None):
    """csim of Catapult and Quartus: their testbench and firmware compiled with g++ and the ac_types
    headers hls4ml bundles (the include path of their build_lib.sh), then run on tb_data/, as the Xilinx
    csim step does; it writes tb_data/csim_results.log."""
    from l1ml.firmware.backends import BACKENDS

    cxx = need_tool("csim", ("g++",), tools)
    name = project_name(d)
    test = d / f"{name}_test.cpp"
    if not test.is_file():
        raise L1mlError(
            f"backend '{backend}': hls4ml wrote no {test.name} for this model (its {backend} testbench handles "
            "only one input and one output array), so there is no C simulation to run"
        )
    sources = [p.relative_to(d).as_posix() for p in sorted((d / "firmware").glob("*.cpp"))]
    defines = ['-DWEIGHTS_DIR="firmware/weights"'] if (d / "firmware" / "weights").is_dir() else []
    argv = [cxx, "-O2", "-std=c++17", "-I.", *BACKENDS[backend].includes, *defines, test.name, *sources]
    rel = d.relative_to(src).as_posix()
    # Catapult's testbench takes its weights directory and tb_data files as arguments (it generates random
    # inputs without them); Quartus's reads tb_data/ itself.
    run = ["./csim.exe"]
    if backend == "Catapult":
        run += ["firmware/weights", "tb_data/tb_input_features.dat", "tb_data/tb_output_predictions.dat"]
    return Plan("csim", [{"argv": [*argv, "-o", "csim.exe"], "cwd": rel}, {"argv": run, "cwd": rel}])


def _catapult(step: str, src: Path, d: Path, tools: dict | None):
    exe = need_tool(step, ("catapult",), tools)
    if step == "vsynth":
        need_tool(step, ("vivado",), tools)  # Catapult's /Vivado/synthesize flow runs Vivado
    argv = [
        exe,
        "-product",
        "ultra",
        "-shell",
        "-f",
        "build_prj.tcl",
        "-eval",
        catapult_eval(catapult_options(step)),
    ]
    return Plan(step, [{"argv": argv, "cwd": d.relative_to(src).as_posix()}])


def _quartus(step: str, src: Path, d: Path, tools: dict | None):
    name = project_name(d)
    sources = re.search(r"^SOURCE_FILES\s*:=\s*(.*)$", (d / "Makefile").read_text(), re.MULTILINE)
    missing = [s for s in (sources.group(1).split() if sources else []) if not (d / s).is_file()]
    if missing:
        # hls4ml 1.3 writes its Quartus testbench only for one input and one output array (it says so at
        # conversion), but its Makefile compiles it all the same: i++ would stop at the missing file.
        raise L1mlError(
            f"backend 'Quartus': hls4ml wrote no {', '.join(missing)} for this model (its Quartus testbench "
            "handles only one input and one output array) and its Makefile compiles it; i++ cannot build it"
        )
    make = need_tool(step, ("make",), tools)
    need_tool(step, ("i++",), tools)  # the Makefile's compiler
    argv = [make, f"{name}-fpga", "LOGGING_1=-v"]
    if step == "vsynth":
        need_tool(step, ("quartus_sh",), tools)  # i++ --quartus-compile runs Quartus
        argv.append("QUARTUS_COMPILE=--quartus-compile")
    rel = d.relative_to(src).as_posix()
    # The i++ executable is the testbench, simulating the component: it measures latency and II.
    return Plan(step, [{"argv": argv, "cwd": rel}, {"argv": [f"./{name}-fpga"], "cwd": rel}])


# csim: build(build_type='fpga_emu', run=True), Intel's C++ emulation of the kernel (needs icpx too).
ONEAPI_TARGETS = {"csim": "fpga_emu", "csynth": "report", "cosim": "fpga_sim", "vsynth": "fpga"}


def _oneapi(step: str, src: Path, d: Path, tools: dict | None):
    need_tool(step, ("icpx",), tools)  # CMakeLists.txt sets icpx as the compiler
    cmake = need_tool(step, ("cmake",), tools)
    make = need_tool(step, ("make",), tools)
    rel = (d / "build").relative_to(src).as_posix()
    target = ONEAPI_TARGETS[step]
    cmds = [{"argv": [cmake, ".."], "cwd": rel}, {"argv": [make, target], "cwd": rel}]
    if step in ("csim", "cosim"):  # build(..., run=True) runs the emulated or simulated design
        cmds.append({"argv": [f"./{project_name(d)}.{target}"], "cwd": rel})
    files = {f"{rel}/.keep": ""}  # build() makes build/ first
    return Plan(step, cmds, files)


LIBERO_COMMANDS = {
    "csim": ("sw_compile",),  # build(reset=False, sw_compile=True, hw=False): SmartHLS's software run
    "csynth": ("clean", "hw"),
    "cosim": ("clean", "hw", "cosim"),
    "vsynth": ("clean", "hw", "rtl_synth"),
}


def _libero(step: str, src: Path, d: Path, tools: dict | None):
    shls = need_tool(step, ("shls",), tools)
    rel = d.relative_to(src).as_posix()
    # build(reset=True, skip_preqs=True, sw_compile=False, hw=True, ...): `shls -s` skips outdated
    # prerequisites, as build()'s default does.
    return Plan(step, [{"argv": [shls, "-s", c], "cwd": rel} for c in LIBERO_COMMANDS[step]])


PLANNERS = {"Catapult": _catapult, "Quartus": _quartus, "oneAPI": _oneapi, "Libero": _libero}


def build_kwargs(backend: str, step: str) -> dict:
    """The keywords of hls4ml's own build() that mean `step`: what tests/backends calls it with."""
    if backend == "Catapult":
        return catapult_options(step)
    if backend == "Quartus":
        return {"synth": True, "fpgasynth": step == "vsynth", "log_level": 1}
    if backend == "oneAPI":
        return {"build_type": ONEAPI_TARGETS[step], "run": step in ("csim", "cosim")}
    if backend == "Libero":
        c = LIBERO_COMMANDS[step]
        return {
            "reset": "clean" in c,
            "sw_compile": "sw_compile" in c,
            "hw": "hw" in c,
            "cosim": "cosim" in c,
            "rtl_synth": "rtl_synth" in c,
        }
    raise L1mlError(f"no build() keywords for backend '{backend}'")


STEP = Step("backends", applies, plan, summarize)
