"""The ``hwtest`` queue step: a test of the firmware on an attached board.

A worker that holds a board (l1ml.synth.boards) runs, in the job's ``hwtest/`` directory:

1. the Vivado hardware manager in batch mode (``vivado_lab``, Vivado Lab Edition, else ``vivado``) on
   ``program.tcl`` (templates/hwtest_program.tcl.j2): connect to the hw_server, program the bitstream the
   submission carries (from an earlier vsynth job, or a file), then write every event's input words
   through the design's JTAG-to-AXI master, start it and read its output words back into
   ``board_outputs.hex``;
2. ``python -m l1ml.validate.hardware .``: the board's words against the emulator's outputs, bit for bit
   (l1ml/validate/hardware.py, a validation of kind ``hardware``); any differing bit fails the job, whose
   reason names the first differing event and output (``explain``).

A missing hardware manager fails the step naming it, before anything runs; a job never passes without a
board's own outputs.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from l1ml.errors import L1mlError
from l1ml.plan import Plan, Step, need_tool
from l1ml.validate.hardware import HwtestError, hex_lines, lanes, parse_type, value_types, vectors

DIR = "hwtest"
BITSTREAM_DIR = f"{DIR}/bitstream"
HW_MANAGERS = ("vivado_lab", "vivado")  # Lab Edition is the hardware manager without the design tools
LOCAL_SERVER = "localhost:3121"  # connect_hw_server starts a local hw_server there itself
# The design's AXI map (an AXI-Lite HLS-style slave at Vivado's first default peripheral address).
AXI = {"ctrl": 0x44A00000, "in_base": 0x44A01000, "out_base": 0x44A02000}
DONE_POLLS = 1000
ARTIFACTS = (f"{DIR}/hardware.json", f"{DIR}/junit.xml", f"{DIR}/board_outputs.hex", f"{DIR}/program.tcl")


# ---- planning --------------------------------------------------------------------------------------------


def attach(src: Path, job) -> None:
    """Tell a board step's run which board it holds (written by the worker after unpacking, over
    anything the submission carried under that name)."""
    from l1ml.synth.boards import needs_board

    if not needs_board(job):
        return
    d = src / DIR
    d.mkdir(exist_ok=True)
    info = {
        "board": job.board,
        "device": job.device,
        "project": job.project,
        "model": job.model,
        "job": job.id,
    }
    (d / "device.json").unlink(missing_ok=True)  # a link the submission made is replaced, not followed
    (d / "device.json").write_text(json.dumps(info, indent=1) + "\n")


def _server_target(device: str) -> tuple[str, str]:
    """The hw_server URL and the get_hw_targets pattern of a device id (see l1ml.synth.boards)."""
    m = re.match(r"([\w.-]+:\d+)/(.+)", device)
    if m:
        return m.group(1), f"*/{m.group(2)}"
    return LOCAL_SERVER, f"*{device}"


def _part_glob(board: str) -> str:
    try:
        from l1ml.firmware.boards import load_board

        part = load_board(board).part
    except (L1mlError, AttributeError):  # a board without a toml here: take the target's first device
        return "*"
    return part.split("-")[0] + "*"  # xcvu9p-flga2104-2L-e -> the hardware manager's xcvu9p_0


def plan_hwtest(src: Path, tools: dict | None = None):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    info_path = src / DIR / "device.json"
    if not info_path.is_file():
        raise HwtestError(
            "hwtest runs on a worker that holds a board (`l1ml synth worker --board NAME=DEVICE`)"
        )
    info = json.loads(info_path.read_text())
    if not info.get("device"):
        raise HwtestError(f"this run holds no {info.get('board')} board; hwtest runs only on one")
    tool = need_tool("hwtest", HW_MANAGERS, tools)
    bits = sorted((src / BITSTREAM_DIR).glob("*.bit")) if (src / BITSTREAM_DIR).is_dir() else []
    if len(bits) != 1:
        raise HwtestError(
            f"the job carries {len(bits)} bitstreams (*.bit) in {BITSTREAM_DIR}/, want one; submit with "
            "--bitstream FILE or --from-job VSYNTH_JOB"
        )
    probes = sorted((src / BITSTREAM_DIR).glob("*.ltx"))
    vec = vectors(src)
    t_in = parse_type(vec["input_type"])
    in_types = [t_in] * (len(vec["inputs"][0]) if vec["inputs"] else 0)
    out_types = value_types(vec["outputs"])
    server, target = _server_target(info["device"])
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    tcl = env.get_template("hwtest_program.tcl.j2").render(
        board=info["board"],
        device=info["device"],
        tool=Path(tool).name,
        server=server,
        target=target,
        part_glob=_part_glob(info["board"]),
        bitstream=f"bitstream/{bits[0].name}",
        probes=f"bitstream/{probes[0].name}" if probes else "",
        words_in=sum(lanes(t) for t in in_types),
        words_out=sum(lanes(t) for t in out_types),
        ctrl=f"0x{AXI['ctrl']:08X}",
        in_base=f"0x{AXI['in_base']:08X}",
        out_base=f"0x{AXI['out_base']:08X}",
        done_polls=DONE_POLLS,
    )
    meta = {k: vec[k] for k in ("input_type", "outputs")}
    meta.update(
        events=len(vec["inputs"]),
        board=info["board"],
        device=info["device"],
        tool=Path(tool).name,
        bitstream=bits[0].name,
    )
    files = {
        f"{DIR}/program.tcl": tcl,
        f"{DIR}/inputs.hex": hex_lines(vec["inputs"], in_types),
        f"{DIR}/expected.hex": hex_lines(vec["expected"], out_types),  # what a correct board answers
        f"{DIR}/vectors.json": json.dumps(meta, indent=1) + "\n",
    }
    commands = [
        {"argv": [tool, "-mode", "batch", "-nojournal", "-nolog", "-source", "program.tcl"], "cwd": DIR},
        {"argv": [sys.executable, "-m", "l1ml.validate.hardware", "."], "cwd": DIR},
    ]
    return Plan("hwtest", commands, files)


def explain(src: Path, job, out):
    """A failed hwtest run's reason names the first differing event and output (from hardware.json)."""
    from l1ml.synth.boards import needs_board

    path = src / DIR / "hardware.json"
    if not needs_board(job) or out.state != "failed" or not path.is_file() or path.is_symlink():
        return out
    try:
        first = json.loads(path.read_text()).get("first_mismatch")
    except (OSError, ValueError):
        return out
    if not first:
        return out
    from dataclasses import replace

    return replace(out, reason=f"the board differs from the emulator: {str(first)[:400]}")


# ---- submission: the bitstream the job programs ------------------------------------------------------


def stage_bitstream(path: Path) -> Path:
    """A temporary directory holding the bitstream (and its .ltx probes, if beside it) to pack under
    hwtest/bitstream/. The caller deletes it."""
    path = Path(path)
    if path.is_dir():
        bits = sorted(path.rglob("*.bit"))
        if len(bits) != 1:
            raise HwtestError(f"{path} holds {len(bits)} bitstreams (*.bit); hwtest programs exactly one")
        path = bits[0]
    if path.suffix != ".bit" or not path.is_file():
        raise HwtestError(f"{path} is not a bitstream file (*.bit)")
    d = Path(tempfile.mkdtemp(prefix="l1ml-hwtest-"))
    shutil.copy2(path, d / path.name)
    for ltx in path.parent.glob(f"{path.stem}*.ltx"):
        shutil.copy2(ltx, d / ltx.name)
    return d


def bitstream_from_job(client, job_id: int, out: Path) -> Path:
    """Fetch a finished vsynth job's results into `out` and return its bitstream."""
    job = client.get(job_id)
    if job.get("step") != "vsynth" or job.get("state") != "succeeded":
        raise HwtestError(
            f"job {job_id} is a {job.get('state')} {job.get('step')} job; --from-job takes a succeeded vsynth"
        )
    dest = client.fetch(job_id, out)
    bits = sorted(dest.rglob("*.bit"))
    if len(bits) != 1:
        raise HwtestError(
            f"vsynth job {job_id} left {len(bits)} bitstreams (*.bit). hls4ml's vsynth exports the IP "
            "(impl/ip/*.zip) and synthesises it out of context: a board needs a bitstream of a full design "
            "(the IP in the board's shell, with a JTAG-to-AXI master); build that and pass --bitstream FILE"
        )
    return bits[0]


def _plan(step: str, src: Path, tools: dict | None = None) -> Plan:
    return plan_hwtest(src, tools)


def _check(step: str, fw: Path) -> None:
    """At submission: the step is planned on the worker that holds the board; the vectors are checked here."""
    vectors(fw)


# vsynth's bitstream and probes, which a later hwtest programs
ARTIFACTS_OF = {"hwtest": ARTIFACTS, "vsynth": ("**/*.bit", "**/*.ltx")}
STEP = Step(
    "hwtest",
    lambda step, src: step == "hwtest",
    _plan,
    artifacts=ARTIFACTS_OF,
    prepare=attach,
    explain=explain,
    check=_check,
)
