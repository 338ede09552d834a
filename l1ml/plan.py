"""The queue's step interface: a step's plan (its command lines, recorded before they run), the tool lookup,
the step names, and the ordered table of the modules that provide steps.

A provider is a module in the room that owns its tool (firmware/ for Vitis/Vivado, firmware/rtl/ for
Verilator and Yosys, firmware/backends/ for the other vendors, synth/hwtest.py for a board, rates/split.py
for split emulation). Each exposes one ``STEP``, a :class:`Step`. The queue knows them only through
``PROVIDERS`` below, a table of module paths imported when a step is planned: nothing registers itself at
import time, and the queue never imports a provider's module by name. docs/steps.md says how to add one.
"""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from l1ml.errors import L1mlError, ToolNotFound

# The queue's steps, in the order `l1ml synth submit --step` lists them.
STEPS = ("csim", "csynth", "cosim", "vsynth", "rtlsim", "ysynth", "emulate", "hwtest")

# The providers, in the order they are asked whether a step of a job's tree is theirs: the first that
# applies plans it. The Vitis/Vivado steps come last, as the fallback for csim/csynth/cosim/vsynth/rtlsim.
PROVIDERS = (
    "l1ml.synth.hwtest",  # hwtest: a test on an attached board
    "l1ml.rates.split",  # emulate: one file (or chunk) of a split emulation
    "l1ml.firmware.rtl.steps",  # rtlsim of an rtl/ network (Verilator), ysynth (Yosys)
    "l1ml.firmware.backends.steps",  # Catapult, Quartus, oneAPI, Libero projects
    "l1ml.firmware.hls_steps",  # hls4ml's and conifer's Vitis/Vivado projects, conifer's VHDL (GHDL)
)

# Files any step leaves behind that fetch returns, besides the log and the summary.
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


def _nothing(*_args) -> dict:
    return {}


@dataclass(frozen=True)
class Step:
    """What a provider exposes as its module's ``STEP``.

    applies(step, src) -> bool: whether this provider plans `step` for the job tree `src`.
    plan(step, src, tools) -> Plan: the commands (ToolNotFound for a missing tool, before anything runs).
    summarize(src, step, board) -> dict: what its reports say, merged into the job's summary.json.
    artifacts: step -> glob patterns of the files fetch returns besides REPORTS.
    Optional hooks: prepare(src, job) on the worker after unpacking (e.g. which board it holds);
    explain(src, job, outcome) -> outcome after the run (a better reason); check(step, fw) at submission,
    instead of planning, for a step planned only on its worker; pack(step, fw) -> {archive dir: local dir}
    more directories a submission carries.
    """

    name: str
    applies: Callable[[str, Path], bool]
    plan: Callable[[str, Path, dict | None], Plan]
    summarize: Callable[[Path, str, dict | None], dict] = _nothing
    artifacts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    prepare: Callable | None = None
    explain: Callable | None = None
    check: Callable[[str, Path], None] | None = None
    pack: Callable[[str, Path], dict] | None = None


def check_step(step: str) -> str:
    if step not in STEPS:
        raise L1mlError(f"unknown step '{step}'; valid steps: {', '.join(STEPS)}")
    return step


def steps_help() -> str:
    """The step names as `--step` help reads them: 'csim, csynth, ... or hwtest.'"""
    return ", ".join(STEPS[:-1]) + f" or {STEPS[-1]}."


def providers() -> list[Step]:
    """The providers' step objects, in table order (their modules are imported here, when needed)."""
    return [importlib.import_module(path).STEP for path in PROVIDERS]


def provider(step: str, src: Path) -> Step:
    """The provider that plans `step` for the job tree `src`."""
    check_step(step)
    for p in providers():
        if p.applies(step, src):
            return p
    raise L1mlError(f"no provider plans step '{step}' for these files")


def plan(step: str, src: Path, tools: dict | None = None) -> Plan:
    return provider(step, src).plan(step, src, tools)


def artifacts(step: str) -> tuple[str, ...]:
    """The files a finished `step` returns besides the log and the summary: REPORTS and every provider's."""
    out = REPORTS
    for p in providers():
        out += tuple(p.artifacts.get(step, ()))
    return out


def summarize(src: Path, step: str, board: dict | None = None) -> dict:
    """Everything a finished step's reports say, found anywhere under the job's tree, from every provider
    (a provider whose reports are not there adds nothing)."""
    summary: dict = {"step": step, "board": board.get("part") if board else None}
    for p in providers():
        summary.update(p.summarize(src, step, board))
    return summary


def config_file() -> Path:
    """The queue's settings file, which also names tools not on PATH ([tools])."""
    env = os.environ.get("L1ML_SYNTH_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("l1ml")) / "synth.toml"


def tool_var(name: str) -> str:
    return "L1ML_" + name.upper().replace("-", "_")


def tool_hint(name: str) -> str:
    return (
        f"install it on the build host and put it on PATH (e.g. source the Xilinx settings64.sh), "
        f'or point at it with {tool_var(name)}=/path/to/{name} or [tools] {name} = "..." in {config_file()}'
    )


def find_tool(name: str, tools: dict | None = None) -> str | None:
    """The tool's path: [tools] or L1ML_<NAME> when given (None if that is not executable), else PATH."""
    given = (tools or {}).get(name) or os.environ.get(tool_var(name))
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
