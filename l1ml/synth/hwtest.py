"""The ``hwtest`` queue step: a test of the firmware on an attached board.

A worker that holds a board (l1ml.synth.boards) runs, in the job's ``hwtest/`` directory:

1. the Vivado hardware manager in batch mode (``vivado_lab``, Vivado Lab Edition, else ``vivado``) on
   ``program.tcl`` (templates/hwtest_program.tcl.j2): connect to the hw_server, program the bitstream the
   submission carries (from an earlier vsynth job, or a file), then write every event's input words
   through the design's JTAG-to-AXI master, start it and read its output words back into
   ``board_outputs.hex``;
2. ``python -m l1ml.synth.hwtest .``: the board's words against the emulator's outputs, bit for bit. The
   vectors are the testbench data `l1ml convert` writes (tb_data/: the project's first background events
   as the firmware receives them, and the bit-exact emulator's outputs for them). The result is a
   validation entry of kind ``hardware`` (hardware.json, l1ml.validate.core.Validation); any differing
   bit fails the job, whose reason names the first differing event and output (``explain``).

A missing hardware manager fails the step naming it, before anything runs; a job never passes without a
board's own outputs.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import tempfile
from pathlib import Path

from l1ml.errors import L1mlError

DIR = "hwtest"
BITSTREAM_DIR = f"{DIR}/bitstream"
HW_MANAGERS = ("vivado_lab", "vivado")  # Lab Edition is the hardware manager without the design tools
LOCAL_SERVER = "localhost:3121"  # connect_hw_server starts a local hw_server there itself
# The design's AXI map (an AXI-Lite HLS-style slave at Vivado's first default peripheral address).
AXI = {"ctrl": 0x44A00000, "in_base": 0x44A01000, "out_base": 0x44A02000}
DONE_POLLS = 1000
WORD_BITS = 32
ARTIFACTS = (f"{DIR}/hardware.json", f"{DIR}/junit.xml", f"{DIR}/board_outputs.hex", f"{DIR}/program.tcl")


class HwtestError(L1mlError):
    """The hwtest step cannot be planned or its board's outputs cannot be read; the message says why."""


# ---- the fixed-point words the board takes and gives -------------------------------------------------


def parse_type(text: str):
    """'ap_fixed<18,8,AP_RND>' / 'ap_ufixed<...>' / 'ap_int<W>' -> l1ml.fixed.FixedType."""
    from l1ml.fixed import FixedType
    from l1ml.errors import ConfigError

    try:
        t = FixedType.parse(text, integers=True)
    except ConfigError as exc:
        raise HwtestError(str(exc)) from None
    if not 1 <= t.width <= 64:
        raise HwtestError(f"precision {text!r}: width 1..64 only")
    return t


def lanes(t) -> int:
    """32-bit words one value of type t takes."""
    return math.ceil(t.width / WORD_BITS)


def to_words(code: int, t) -> list[str]:
    """A code as its lane's hex words, low word first (two's complement over the lane)."""
    n = lanes(t)
    lane = int(code) & ((1 << (WORD_BITS * n)) - 1)
    return [f"{(lane >> (WORD_BITS * i)) & 0xFFFFFFFF:08X}" for i in range(n)]


def from_words(words: list[str], t) -> int:
    """The code of type t in a lane's words (low word first): its low W bits, sign-extended if signed."""
    lane = sum(int(w, 16) << (WORD_BITS * i) for i, w in enumerate(words))
    code = lane & ((1 << t.width) - 1)
    if t.signed and code >> (t.width - 1):
        code -= 1 << t.width
    return code


def _codes(values, t, what: str) -> list[int]:
    """Codes of values the emulator wrote exactly (dyadic, %.17g): anything else is not its output."""
    out = []
    for v in values:
        scaled = float(v) * 2.0**t.frac
        if not scaled.is_integer():
            raise HwtestError(f"{what}: {v!r} is not a value of {t} (the emulator's outputs are exact)")
        out.append(int(scaled))
    return out


# ---- the vectors ---------------------------------------------------------------------------------------


def vectors(src: Path) -> dict:
    """Inputs and expected outputs from the firmware's tb_data, as lists of codes per event, with their
    types: {"inputs": [[int]], "expected": [[int]], "input_type": str, "outputs": [{name,size,precision}]}."""
    import numpy as np

    manifest_path = src / "manifest.json"
    if not manifest_path.is_file():
        raise HwtestError(
            "no manifest.json in the job's files; submit a firmware version `l1ml convert` wrote"
        )
    man = json.loads(manifest_path.read_text())
    tb = next(
        (src / d / "tb_data" for d in ("hls4ml", "conifer_hls") if (src / d / "tb_data").is_dir()), None
    )
    want = ("tb_input_features.dat", "tb_output_predictions.dat")
    if tb is None or not all((tb / f).is_file() for f in want):
        raise HwtestError(
            "no testbench vectors (hls4ml/ or conifer_hls/ tb_data/tb_input_features.dat and "
            "tb_output_predictions.dat) in the job's files; `l1ml convert` writes them from the project's "
            "background events when the emulator can reproduce the firmware"
        )
    x = np.atleast_2d(np.loadtxt(tb / want[0], dtype=np.float64))
    y = np.atleast_2d(np.loadtxt(tb / want[1], dtype=np.float64))
    if man.get("outputs"):  # an hls4ml network: one entry per output tensor, concatenated per event
        input_type = man["input_precision"]
        outputs = [
            {"name": o["name"], "size": int(o["size"]), "precision": o["precision"]} for o in man["outputs"]
        ]
    elif man.get("precision"):  # a conifer BDT: inputs and scores in the one precision
        input_type = man["precision"]
        outputs = [{"name": "score", "size": y.shape[1], "precision": man["precision"]}]
    else:
        raise HwtestError("manifest.json names no output types (outputs, or a BDT's precision)")
    if len(x) != len(y) or y.shape[1] != sum(o["size"] for o in outputs):
        raise HwtestError(
            f"tb_data holds {len(x)} input and {len(y)} output rows of {y.shape[1]} values; the manifest's "
            f"outputs have {sum(o['size'] for o in outputs)}"
        )
    from l1ml.fixed import from_real

    t_in = parse_type(input_type)
    inputs = from_real(x, t_in).astype(np.int64).tolist()  # ap_fixed's own conversion of the tb inputs
    expected = []
    for row in y:
        codes, at = [], 0
        for o in outputs:
            codes += _codes(row[at : at + o["size"]], parse_type(o["precision"]), o["name"])
            at += o["size"]
        expected.append(codes)
    return {"inputs": inputs, "expected": expected, "input_type": input_type, "outputs": outputs}


def _value_types(outputs: list[dict]) -> list:
    return [parse_type(o["precision"]) for o in outputs for _ in range(o["size"])]


def _value_names(outputs: list[dict]) -> list[str]:
    return [f"{o['name']}[{i}]" for o in outputs for i in range(o["size"])]


def hex_lines(rows: list[list[int]], types: list) -> str:
    return "".join(
        " ".join(w for c, t in zip(r, types, strict=True) for w in to_words(c, t)) + "\n" for r in rows
    )


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

    from l1ml.synth.steps import Plan, need_tool

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
    out_types = _value_types(vec["outputs"])
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
        {"argv": [sys.executable, "-m", "l1ml.synth.hwtest", "."], "cwd": DIR},
    ]
    return Plan("hwtest", commands, files)


# ---- the comparison (run inside the job) -------------------------------------------------------------


def compare_board(src: Path, hdir: Path) -> dict:
    """The board's outputs against the emulator's, code by code; writes hardware.json and junit.xml.
    Returns the validation's dict (with "first_mismatch": str | None)."""
    from l1ml.compare import compare, lsb_of
    from l1ml.validate.core import Validation
    from l1ml.validate.reports import junit_xml

    vec = vectors(src)
    meta = json.loads((hdir / "device.json").read_text())
    types = _value_types(vec["outputs"])
    names = _value_names(vec["outputs"])
    words = [lanes(t) for t in types]
    path = hdir / "board_outputs.hex"
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()] if path.is_file() else []
    n = len(vec["expected"])
    first = None
    if len(rows) != n:
        first = f"the board returned {len(rows)} events of {n} (board_outputs.hex)"
    got: list[list[int]] = []
    for e, row in enumerate(rows[:n]):
        if len(row) != sum(words):
            first = first or f"event {e}: the board returned {len(row)} words, want {sum(words)}"
            got.append([0] * len(types))
            continue
        codes, at = [], 0
        for t, k in zip(types, words, strict=True):
            codes.append(from_words(row[at : at + k], t))
            at += k
        got.append(codes)
        if first is None:
            for i, (g, w) in enumerate(zip(codes, vec["expected"][e], strict=True)):
                if g != w:
                    first = (
                        f"event {e}, output {names[i]}: board {g} ({g * 2.0 ** -types[i].frac:.17g}), "
                        f"emulator {w} ({w * 2.0 ** -types[i].frac:.17g}) in {types[i]}"
                    )
                    break
    comparisons, at = [], 0
    for o in vec["outputs"]:
        t = types[at]
        sw = [[v * 2.0**-t.frac for v in r[at : at + o["size"]]] for r in vec["expected"][: len(got)]]
        fw = [[v * 2.0**-t.frac for v in r[at : at + o["size"]]] for r in got]
        if got:
            comparisons.append(compare(f"{o['name']} (board vs emulator)", sw, fw, lsb_of(o["precision"]), 0))
        at += o["size"]
    v = Validation(
        project=meta.get("project") or "",
        version=meta.get("model") or "",
        kind="hardware",
        comparisons=comparisons,
        flips={},
        threshold=None,
        events={"parity": n, "board": len(rows)},
        passed=first is None,  # the codes decide: a float64 view of a wide type could hide a bit
        details={
            "board": meta.get("board"),
            "device": meta.get("device"),
            "job": meta.get("job"),
            "vectors": "tb_data (l1ml convert: background events, bit-exact emulator outputs)",
            "first_mismatch": first,
        },
    )
    out = {**v.to_dict(), "first_mismatch": first}
    (hdir / "hardware.json").write_text(json.dumps(out, indent=1) + "\n")
    (hdir / "junit.xml").write_text(junit_xml(v))
    return out


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


def main(argv: list[str] | None = None) -> int:
    """`python -m l1ml.synth.hwtest HWTEST_DIR`: compare, write hardware.json; exit 1 on any difference."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m l1ml.synth.hwtest HWTEST_DIR", file=sys.stderr)
        return 2
    hdir = Path(args[0]).resolve()
    try:
        result = compare_board(hdir.parent, hdir)
    except L1mlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result["first_mismatch"]:
        print(
            f"hwtest FAILED: the board differs from the emulator: {result['first_mismatch']}", file=sys.stderr
        )
        return 1
    print(
        f"hwtest passed: {result['events']['parity']} events bit-identical to the emulator on {result['details']['board']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
