"""In-process tests of the hwtest pieces: the AXI words, the plan, the bit-for-bit comparison (and that it
catches a one-bit difference), the board claim in the SQLite store, and the parameters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from hwtest_helpers import make_bitstream, make_firmware

from l1ml.errors import ToolNotFound
from l1ml.synth import hwtest
from l1ml.synth.boards import BadBoard, parse_boards
from l1ml.synth.params import SubmitParams
from l1ml.validate import hardware


def test_words_round_trip_every_sign_and_width():
    t40 = hardware.parse_type("ap_fixed<40,20>")
    assert hardware.to_words(-1, t40) == ["FFFFFFFF", "FFFFFFFF"]
    assert hardware.to_words(2**32 + 5, t40) == ["00000005", "00000001"]  # low word first
    for code in (-(2**39), -1, 0, 1, 2**39 - 1, -12345678901):
        assert hardware.from_words(hardware.to_words(code, t40), t40) == code
    t8 = hardware.parse_type("ap_ufixed<8,0>")
    assert not t8.signed and hardware.from_words(hardware.to_words(255, t8), t8) == 255
    # A board that drives the bits above W differently is read at its type's W bits only.
    assert hardware.from_words(["FFFFFF7F"], hardware.parse_type("ap_fixed<8,3>")) == 127
    assert hardware.parse_type("ap_int<6>").frac == 0
    with pytest.raises(hardware.HwtestError, match="ac_fixed"):
        hardware.parse_type("ac_fixed<8,3,true>")


def _job_tree(tmp_path: Path, device: str = "xilinx_tcf/Digilent/TEST0001") -> Path:
    """A job's src/ as the worker unpacks it: the firmware, the bitstream, the board it holds."""
    prj = make_firmware(tmp_path / "p")
    src = tmp_path / "src"
    shutil.copytree(prj / "build" / "firmware" / "v1", src)
    make_bitstream(src / hwtest.BITSTREAM_DIR)
    job = SimpleNamespace(step="hwtest", board="vu9p", device=device, project="hw", model="v1", id=7)
    hwtest.attach(src, job)
    return src


def _fake(tmp_path: Path, board: dict | None = None) -> Path:
    from fake_tools import install

    (tmp_path / "board.json").write_text(json.dumps(board or {}))
    return install(
        tmp_path / "bin", ["vivado_lab"], tmp_path / "calls.jsonl", board_file=tmp_path / "board.json"
    )


def _run(plan, src: Path) -> list[int]:
    for rel, text in plan.files.items():
        (src / rel).write_text(text)
    return [
        subprocess.run(c["argv"], cwd=src / c["cwd"], capture_output=True).returncode for c in plan.commands
    ]


def test_plan_programs_streams_and_compares_bit_for_bit(tmp_path):
    src = _job_tree(tmp_path, "remote:3121/xilinx_tcf/Digilent/TEST0001")
    bin_dir = _fake(tmp_path)
    plan = hwtest.plan_hwtest(src, {"vivado_lab": str(bin_dir / "vivado_lab")})
    argv = plan.commands[0]["argv"]
    assert argv[1:] == ["-mode", "batch", "-nojournal", "-nolog", "-source", "program.tcl"]
    tcl = plan.files["hwtest/program.tcl"]
    assert (
        'set server       "remote:3121"' in tcl and 'set target       "*/xilinx_tcf/Digilent/TEST0001"' in tcl
    )
    assert 'set part_glob    "xcvu9p*"' in tcl and 'set bitstream    "bitstream/design.bit"' in tcl
    # 4 inputs of 16 bits take one word each; 2 outputs of 40 bits take two each.
    assert "set words_in     4\n" in tcl and "set words_out    4\n" in tcl
    assert _run(plan, src) == [0, 0]
    report = json.loads((src / "hwtest/hardware.json").read_text())
    assert report["kind"] == "hardware" and report["passed"] and report["first_mismatch"] is None
    assert report["events"] == {"parity": 6, "board": 6}
    assert report["comparisons"][0]["mismatches"] == 0 and report["details"]["device"].endswith("TEST0001")


def test_one_flipped_bit_fails_and_names_event_and_output(tmp_path):
    src = _job_tree(tmp_path)
    bin_dir = _fake(tmp_path, {"corrupt": [3, 2]})  # event 3, word 2: the low word of layer3_out[1]
    plan = hwtest.plan_hwtest(src, {"vivado_lab": str(bin_dir / "vivado_lab")})
    assert _run(plan, src) == [0, 1]
    report = json.loads((src / "hwtest/hardware.json").read_text())
    assert not report["passed"]
    assert report["first_mismatch"].startswith("event 3, output layer3_out[1]: board ")
    got, want = (
        int(w)
        for w in __import__("re").findall(r"board (-?\d+) .* emulator (-?\d+)", report["first_mismatch"])[0]
    )
    assert got ^ want == 1  # exactly the flipped bit
    assert report["comparisons"][0]["mismatches"] == 1
    from l1ml.synth.dispatch import Outcome

    out = hwtest.explain(
        src, SimpleNamespace(step="hwtest"), Outcome("failed", 1, "a command exited with code 1")
    )
    assert out.reason.startswith("the board differs from the emulator: event 3, output layer3_out[1]")


def test_a_short_answer_fails(tmp_path):
    src = _job_tree(tmp_path)
    plan = hwtest.plan_hwtest(src, {"vivado_lab": str(_fake(tmp_path) / "vivado_lab")})
    _run(plan, src)
    out = src / "hwtest/board_outputs.hex"
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:-1]))
    assert hardware.main([str(src / "hwtest")]) == 1
    assert (
        "returned 5 events of 6" in json.loads((src / "hwtest/hardware.json").read_text())["first_mismatch"]
    )


def test_missing_hardware_manager_names_it(tmp_path, monkeypatch):
    src = _job_tree(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("L1ML_VIVADO", raising=False)
    monkeypatch.delenv("L1ML_VIVADO_LAB", raising=False)
    with pytest.raises(ToolNotFound, match="step 'hwtest' needs vivado_lab or vivado"):
        hwtest.plan_hwtest(src, {})
    os.unlink(src / "hwtest/device.json")
    with pytest.raises(hardware.HwtestError, match="worker that holds a board"):
        hwtest.plan_hwtest(src, {})


def test_claim_gives_a_board_to_one_job_at_a_time(tmp_path):
    from l1ml.synth import scheduler
    from l1ml.synth.store import Store

    store = Store(tmp_path / "q.db")
    G = 1024**3
    a = store.submit("u", SubmitParams(step="hwtest", memory=G, timeout=60, board="vu9p"))
    b = store.submit("u", SubmitParams(step="hwtest", memory=G, timeout=60, board="vu9p"))
    c = store.submit("u", SubmitParams(step="hwtest", memory=G, timeout=60, board="ku15p"))
    one = (("vu9p", "dev-1"),)
    assert store.claim("w0", 8 * G, scheduler.pick) is None  # no board: no board job
    store.heartbeat("w1", "h", 1, 8 * G, one)
    reasons = {j["id"]: j["reason"] for j in store.describe([a, b, c])}
    assert "with a ku15p attached" in reasons[c.id] and reasons[a.id] == ""
    got = store.claim("w1", 8 * G, scheduler.pick, one)
    assert (got.id, got.device) == (a.id, "dev-1")
    # The same device declared by a second worker (one host, two workers): still held.
    assert store.claim("w2", 8 * G, scheduler.pick, one) is None
    assert store.claim("w1", 8 * G, scheduler.pick, one) is None
    assert (
        "waits for a free vu9p: all 1 attached are held (by job 1)"
        in store.describe([store.get(b.id)])[0]["reason"]
    )
    other = store.claim("w2", 8 * G, scheduler.pick, (("vu9p", "dev-2"),))
    assert (other.id, other.device) == (b.id, "dev-2")
    store.finish(a.id, "w1", 1, "succeeded")
    assert store.claim("w1", 8 * G, scheduler.pick, one) is None  # c wants a ku15p
    # A plain job still goes to a worker with no board.
    d = store.submit("u", SubmitParams(step="csim", memory=G, timeout=60))
    assert store.claim("w0", 8 * G, scheduler.pick).id == d.id


def test_parameters():
    from l1ml.synth.params import BadParameter, SubmitParams

    assert parse_boards(["vu9p=xilinx_tcf/Digilent/1", "ku15p=host:3121/xilinx_tcf/Xilinx/2"]) == (
        ("vu9p", "xilinx_tcf/Digilent/1"),
        ("ku15p", "host:3121/xilinx_tcf/Xilinx/2"),
    )
    for bad in (["vu9p"], ["=x"], ["vu9p=a b"], ["a=1", "b=1"]):
        with pytest.raises(BadBoard):
            parse_boards(bad)
    with pytest.raises(BadParameter, match="step hwtest runs on an attached board"):
        SubmitParams("hwtest", 1, 1.0)
    assert SubmitParams("hwtest", 1, 1.0, board="vu9p").board == "vu9p"


def test_the_submission_carries_exactly_one_bitstream(tmp_path):
    import shutil as sh

    from l1ml.cli.synth import _hwtest_bitstream
    from l1ml.errors import L1mlError

    bit = make_bitstream(tmp_path / "impl")
    (tmp_path / "impl" / "design.ltx").write_text("probes")
    staged = _hwtest_bitstream(None, "hwtest", bit, None)
    assert sorted(p.name for p in staged.iterdir()) == ["design.bit", "design.ltx"]
    sh.rmtree(staged)
    (tmp_path / "impl" / "other.bit").write_bytes(b"x")
    with pytest.raises(hardware.HwtestError, match="holds 2 bitstreams"):
        hwtest.stage_bitstream(tmp_path / "impl")
    with pytest.raises(L1mlError, match="give --bitstream FILE or --from-job"):
        _hwtest_bitstream(None, "hwtest", None, None)
    with pytest.raises(L1mlError, match="are for --step hwtest"):
        _hwtest_bitstream(None, "csim", bit, None)
