"""Fake vendor tools for tests, the way edalize tests its tool flows: executables named like the real ones
(vitis_hls, vitis-run, vivado_hls, vivado, vivado_lab) that record their argv, cwd and the Tcl they were
given, then write the real Vivado 2020.1 reports from ../shared/fixtures/vendor-reports/ where the real tool
would.

A hardware-manager script (one that calls open_hw_manager, as l1ml's hwtest program.tcl does) makes vivado
or vivado_lab act as a board: it checks the script connects, programs an existing bitstream and streams
every event of its inputs file, and answers each event with the line of expected.hex beside the script
(the outputs a correct board gives). `board_file` in install()'s config names a JSON file read at each call:
{"corrupt": [event, word]} flips the lowest bit of that output word, {"delay": seconds} holds the board.

They read the Tcl as data, only as far as the build scripts of hls4ml and conifer need: the `array set opt`
defaults, the option files the script sources (build_opt.tcl, project.tcl, hls_parameters.tcl), `::argv`
options for the classic tools, `open_project`, `set_top`, `exec vivado ...`, `add_files` and
`report_utilization -file`. A command line the real tool would reject (a flag it lacks, a missing script)
fails with exit code 2, so a wrong plan cannot pass.

Reusable for other vendors: add a tool to TOOLS with a function that takes (argv, cwd, config) and returns
an exit code. hls4ml's other backends' tools (catapult, i++, icpx, shls, and recording make/cmake shims)
live in fake_backends.py and are registered below. Nothing here is imported by l1ml itself.

    bin_dir = install(tmp / "bin", ["vitis-run", "vivado"], log=tmp / "calls.jsonl")
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    ... run the flow ...
    calls = read_calls(tmp / "calls.jsonl")
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# ../shared next to the repository root, as tests/synth/test_reports.py finds it; L1ML_VENDOR_REPORTS
# points elsewhere (a git worktree has no ../shared beside it).
FIXTURES = (
    Path(os.environ.get("L1ML_VENDOR_REPORTS") or REPO.parent / "shared" / "fixtures" / "vendor-reports")
    / "vivado-2020.1"
)

# What hls4ml's parser reads from the fixture (its README): the figures every summary must reproduce.
EXPECTED_CSYNTH = {
    "latency": {"best_cycles": 10, "worst_cycles": 10, "best_ns": 50.0, "worst_ns": 50.0},
    "interval": {"min": 8, "max": 8},
    "clock": {"target_ns": 5.0, "estimated_ns": 4.049},
    "resources": {"BRAM_18K": (0, 280), "DSP": (73, 220), "FF": (7969, 106400), "LUT": (2532, 53200)},
}
EXPECTED_VSYNTH = {"LUT": 1526, "FF": 2428, "DSP": 66, "BRAM_18K": 0}

# Tool sets of real installations: which executables a build host has on PATH.
TOOLSETS = {
    "vivado-2020.1": ("vivado_hls", "vivado"),
    "vitis-2024.2": ("vitis_hls", "vitis-run", "vivado"),
    "vitis-2025.1": ("vitis-run", "vivado"),  # vitis_hls is gone from 2025.1 on
}

SCRIPT = """#!{python}
import sys
sys.path.insert(0, {here!r})
from fake_tools import main
sys.exit(main({tool!r}, {config!r}))
"""


def sandbox_settings(bin_dir: Path, writable: Path) -> str:
    """synth.toml lines that let sandboxed jobs run the fakes: their scripts (bin_dir), the tests directory
    (this module, which the scripts import, and fake_backends.py's fixtures beside it) and the vendor-report
    fixtures are shown read-only, and `writable` (the calls log's directory) writable. The sandbox hides
    /tmp, where a CI clone and pytest's directories may be."""
    readable = [str(bin_dir), str(HERE.parent)] + ([str(FIXTURES)] if FIXTURES.is_dir() else [])
    return f"sandbox_readable = {json.dumps(readable)}\nsandbox_writable = {json.dumps([str(writable)])}\n"


def install(
    bin_dir: Path, tools, log: Path, fixtures: Path = FIXTURES, board_file: Path | None = None
) -> Path:
    """Write executables for `tools` into bin_dir; each appends one JSON line per call to `log`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    config = {"log": str(log), "fixtures": str(fixtures), "board_file": str(board_file or "")}
    for tool in tools:
        if tool not in TOOLS:
            raise ValueError(f"no fake for {tool!r}; known: {', '.join(TOOLS)}")
        exe = bin_dir / tool
        exe.write_text(SCRIPT.format(python=sys.executable, here=str(HERE), tool=tool, config=config))
        exe.chmod(0o755)
    return bin_dir


def read_calls(log: Path) -> list[dict]:
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def comparable(calls: list[dict], root: Path | str) -> list[dict]:
    """Calls with what differs between two runs of the same flow removed: the tool's directory (the
    queue resolves tools to absolute paths, a library finds them on PATH) and the project's location."""
    root = Path(root).resolve()
    return [
        {
            "tool": c["tool"],
            "args": c["argv"][1:],
            "cwd": Path(c["cwd"]).resolve().relative_to(root).as_posix(),
            "script": c["script"],
            "tcl": c["tcl"],
        }
        for c in calls
    ]


# ---- what runs inside the fake executables ----


class Reject(Exception):
    """A command line the real tool would refuse."""


def _record(config: dict, tool: str, argv: list[str], cwd: Path, script: str | None) -> None:
    tcl = {}
    if script:
        sdir = (cwd / script).parent
        tcl[script] = (cwd / script).read_text()
        for name in _sourced(tcl[script]):
            if (sdir / name).is_file():
                tcl[name] = (sdir / name).read_text()
    line = json.dumps({"tool": tool, "argv": [tool, *argv], "cwd": str(cwd), "script": script, "tcl": tcl})
    with open(config["log"], "a") as f:
        f.write(line + "\n")


def _sourced(text: str) -> list[str]:
    """Files a script sources next to itself: `source [file join $tcldir NAME]`."""
    return re.findall(r"source\s+\[file join \$tcldir\s+([\w.]+)\]", text)


def _flag(argv: list[str], flag: str, what: str = "<file>") -> str:
    if flag not in argv or argv.index(flag) + 1 >= len(argv):
        raise Reject(f"missing {flag} {what}")
    return argv[argv.index(flag) + 1]


def _variables(texts: list[str]) -> dict[str, str]:
    out = {}
    for text in texts:
        for name, value in re.findall(r"^\s*set\s+(\w+)\s+(.+?)\s*$", text, re.MULTILINE):
            out[name] = value.strip().strip('"').strip("{}")
    return out


def _subst(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), text)


def _options(script: str, sdir: Path, argv: list[str]) -> dict[str, int]:
    """The `opt` array as the script would see it: its defaults, then the files it sources, then argv."""
    opts: dict[str, int] = {}

    def apply(text: str) -> None:
        for block in re.findall(r"array set opt\s*\{(.*?)\}", text, re.DOTALL):
            for key, value in re.findall(r"(\w+)\s+(\w+)", block):
                opts[key] = _bool(value)

    apply(script)
    for name in _sourced(script):
        if (sdir / name).is_file():
            apply((sdir / name).read_text())
    if "$::argv" in script:  # the classic tools pass "k=v" words through to the script
        for arg in argv:
            for key in list(opts):
                m = re.search(rf"{key}=+(\w+)", arg)
                if m:
                    opts[key] = _bool(m.group(1))
    return opts


def _bool(word: str) -> int:
    w = word.lower()
    if w in ("1", "true", "yes", "on"):
        return 1
    if w in ("0", "false", "no", "off"):
        return 0
    raise Reject(f"'{word}' is not a Tcl boolean")


def _hls(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    if tool == "vitis-run":
        if _flag(argv, "--mode", "hls") != "hls":
            raise Reject("vitis-run runs HLS Tcl only with --mode hls")
        script = _flag(argv, "--tcl")
    else:
        if any(a.startswith("--") for a in argv):
            raise Reject(f"{tool} has no option {[a for a in argv if a.startswith('--')][0]}")
        script = _flag(argv, "-f")
    path = cwd / script
    if not path.is_file():
        raise Reject(f"can't open file {script}")
    _record(config, tool, argv, cwd, script)
    text = path.read_text()
    sdir = path.parent
    texts = [text] + [(sdir / n).read_text() for n in _sourced(text) if (sdir / n).is_file()]
    variables = _variables(texts)
    opts = _options(text, sdir, argv if tool != "vitis-run" else [])
    prj_m = re.search(r"open_project\s+(?:-reset\s+)?(\S+)", text)
    top_m = re.search(r"set_top\s+(\S+)", text)
    if not prj_m or not top_m:
        raise Reject(f"{script} opens no project or sets no top function")
    prj = cwd / _subst(prj_m.group(1), variables)
    top = _subst(top_m.group(1), variables)
    fixtures = Path(config["fixtures"])
    sol = prj / "solution1"
    sol.mkdir(parents=True, exist_ok=True)
    app = "vivado_hls.app" if tool == "vivado_hls" else "hls.app"
    shutil.copy(fixtures / "vivado_hls.app", prj / app)
    if opts.get("synth"):
        rep = sol / "syn" / "report"
        rep.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixtures / "myproject_csynth.xml", rep / f"{top}_csynth.xml")
        shutil.copy(fixtures / "myproject_csynth.rpt", rep / f"{top}_csynth.rpt")
        for hdl, ext in (("verilog", "v"), ("vhdl", "vhd")):
            (sol / "syn" / hdl).mkdir(parents=True, exist_ok=True)
            (sol / "syn" / hdl / f"{top}.{ext}").write_text(f"-- written by the fake {tool} (a test)\n")
    if opts.get("vsynth"):
        m = re.search(r"exec\s+(vivado\s[^>\n]*)", text)
        if m:  # hls4ml's build_prj.tcl runs Vivado itself
            vivado = shutil.which("vivado")
            if vivado is None:
                print('couldn\'t execute "vivado": no such file or directory', file=sys.stderr)
                return 1
            return subprocess.run([vivado, *m.group(1).split()[1:]], cwd=cwd).returncode
    return 0


def _vivado(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
    if _flag(argv, "-mode", "batch") != "batch":
        raise Reject("only -mode batch is faked")
    script = _flag(argv, "-source")
    path = cwd / script
    if not path.is_file():
        raise Reject(f"can't open file {script}")
    _record(config, tool, argv, cwd, script)
    text = path.read_text()
    if "open_hw_manager" in text:
        return _board(tool, text, cwd, config)
    if tool == "vivado_lab":
        raise Reject("Vivado Lab Edition has the hardware manager only; it cannot synthesise")
    sdir = path.parent
    texts = [text] + [(sdir / n).read_text() for n in _sourced(text) if (sdir / n).is_file()]
    variables = _variables(texts)
    for out in re.findall(r"write_bitstream\s+(?:-force\s+)?(\S+)", text):
        (cwd / _subst(out, variables)).write_bytes(b"\x00\x09\x0f\xf0 bitstream written by the fake vivado\n")
    for src in re.findall(r"add_files\s+(\S+)", text):
        if not (cwd / _subst(src, variables)).exists():
            print(f"ERROR: [Vivado 12-172] File or Directory '{src}' does not exist", file=sys.stderr)
            return 1
    for out in re.findall(r"report_utilization\s+-file\s+(\S+)", text):
        shutil.copy(Path(config["fixtures"]) / "vivado_synth.rpt", cwd / _subst(out, variables))
    return 0


def _board(tool: str, text: str, cwd: Path, config: dict) -> int:
    """The hardware manager with a board that answers what a correct design answers (see the docstring)."""
    import time

    for command in ("connect_hw_server", "open_hw_target", "program_hw_devices", "PROGRAM.FILE"):
        if command not in text:
            raise Reject(f"a hardware-manager script without {command} programs no board")
    v = _variables([text])
    bit = cwd / v.get("bitstream", "")
    if not v.get("bitstream") or not bit.is_file() or bit.stat().st_size == 0:
        print(f"ERROR: [Labtools 27-3165] End of startup status: LOW; no bitstream {bit}", file=sys.stderr)
        return 1
    board = json.loads(Path(config["board_file"]).read_text()) if config.get("board_file") else {}
    time.sleep(board.get("delay", 0))
    inputs = [ln.split() for ln in (cwd / v["inputs_file"]).read_text().splitlines() if ln.strip()]
    expected = [ln.split() for ln in (cwd / "expected.hex").read_text().splitlines() if ln.strip()]
    if len(inputs) != len(expected):
        print(f"ERROR: fake board: {len(inputs)} input events, {len(expected)} expected", file=sys.stderr)
        return 1
    corrupt = board.get("corrupt")
    with open(cwd / v["outputs_file"], "w") as out:
        for event, (words_in, words_out) in enumerate(zip(inputs, expected, strict=True)):
            if len(words_in) != int(v["words_in"]) or len(words_out) != int(v["words_out"]):
                print(f"ERROR: hwtest: event {event} has {len(words_in)} input words", file=sys.stderr)
                return 1
            if corrupt and corrupt[0] == event:
                words_out[corrupt[1]] = f"{int(words_out[corrupt[1]], 16) ^ 1:08X}"
            out.write(" ".join(words_out) + "\n")
    print(f"hwtest: streamed {len(inputs)} events through the fake board")
    return 0


TOOLS = {"vitis_hls": _hls, "vivado_hls": _hls, "vitis-run": _hls, "vivado": _vivado, "vivado_lab": _vivado}


def _backend(name: str):
    """A tool of hls4ml's other backends, defined in fake_backends.py (imported late: it imports this)."""

    def run(tool: str, argv: list[str], cwd: Path, config: dict) -> int:
        from fake_backends import BACKEND_TOOLS

        return BACKEND_TOOLS[name](tool, argv, cwd, config)

    return run


TOOLS.update(
    {t: _backend(t) for t in ("catapult", "i++", "i++ testbench", "quartus_sh", "make", "cmake", "shls", "icpx", "icpx executable")}
)


def main(tool: str, config: dict) -> int:
    argv = sys.argv[1:]
    try:
        return TOOLS[tool](tool, argv, Path.cwd(), config)
    except Reject as exc:
        print(f"ERROR: {tool}: {exc}", file=sys.stderr)
        return 2
