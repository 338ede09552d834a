"""hwtest through the real queue: worker subprocesses, the SQLite store, the bwrap sandbox, and the fake
hardware manager (tests/vendor/fake_tools.py) as the board.

- Scheduling by board: a worker without the board never takes the job, which waits saying so; the
  workers with it (two, declaring the same device) take it; two jobs for one board run one after the
  other.
- Programming and streaming: the vsynth job's bitstream (--from-job, through the CLI) is programmed and
  the board's outputs pass; a board that corrupts one value fails the job, its reason naming the event
  and output.
"""

from __future__ import annotations

import json

from fake_tools import read_calls
from hwtest_helpers import fake_board, make_bitstream, make_firmware, submit_hwtest
from synth_helpers import cli, job, settings, wait_for, wait_state

from l1ml.synth.store import Store

DEVICE = "xilinx_tcf/Digilent/TEST0001"


def _pid(job_worker: str) -> int:
    return int(job_worker.split(":")[1])


def test_a_board_job_waits_for_a_worker_with_the_board_and_holds_it_alone(tmp_path, home, procs, monkeypatch):
    calls = fake_board(tmp_path, monkeypatch, board={"delay": 1.0})
    prj = make_firmware(tmp_path / "projects")
    bit = make_bitstream(tmp_path / "bits")
    plain = procs.worker("4G", log=tmp_path / "plain.log")
    store = Store(settings().db)
    wait_for(lambda: store.workers(), 60, 0.1, "the plain worker's first heartbeat")
    first = submit_hwtest(prj, bit)
    second = submit_hwtest(prj, bit)
    # The plain worker polls every 0.05 s; a second of its rounds must leave both jobs alone.
    wait_for(
        lambda: len(store.workers()) == 1 and store.workers()[0]["seen_at"] > first["submitted_at"] + 1, 30
    )
    for j in (first, second):
        now = store.describe([job(j["id"])])[0]
        assert now["state"] == "queued"
        assert now["reason"].startswith("waits for a worker with a vu9p attached")
    # Two workers that both declare the one board (two workers on its host): they race for it.
    boarded = {
        procs.worker("4G", "--board", f"vu9p={DEVICE}", log=tmp_path / f"board{i}.log").pid for i in (1, 2)
    }
    running = wait_state(first["id"], ("running",), 60)
    assert _pid(running.worker) in boarded and running.device == DEVICE
    waiting = store.describe([job(second["id"])])[0]
    assert waiting["state"] == "queued", "a second job took the board while the first held it"
    assert f"waits for a free vu9p: all 1 attached are held (by job {first['id']})" in waiting["reason"]
    done = [wait_state(j["id"], timeout=90) for j in (first, second)]
    assert [d.state for d in done] == ["succeeded", "succeeded"], [d.reason for d in done]
    assert all(_pid(d.worker) in boarded for d in done)
    assert done[0].ended_at <= done[1].started_at  # one after the other, whichever worker ran each
    (c1, c2) = read_calls(calls)
    assert c1["tool"] == c2["tool"] == "vivado_lab"
    assert f'set target       "*{DEVICE}"' in c1["tcl"]["program.tcl"]
    assert plain.poll() is None  # alive throughout, and never took a board job


def _submit(prj, step: str, *extra: str, check: bool = True):
    """`l1ml synth submit` through the CLI; the job's record, or the CLI's result when check is off."""
    args = ("submit", "--project", str(prj), "--model", "v1", "--step", step, "--memory", "300M", *extra)
    r = cli(*args, "--timeout", "60s", "--json", check=check)
    return wait_state(json.loads(r.stdout)["id"], timeout=90) if check else r


def test_bitstream_from_a_vsynth_job_passes_and_a_corrupted_value_fails(tmp_path, home, procs, monkeypatch):
    calls = fake_board(tmp_path, monkeypatch, tools=("vivado", "vivado_lab"))
    prj = make_firmware(tmp_path / "projects")
    # A full design's flow (the IP in the board's shell): Vivado writes the bitstream hwtest programs.
    (prj / "build/firmware/v1/synth.tcl").write_text(
        "# the board design\nwrite_bitstream -force design.bit\n"
    )
    procs.worker("4G", "--board", f"vu9p={DEVICE}", log=tmp_path / "worker.log")
    vsynth = _submit(prj, "vsynth")
    assert vsynth.state == "succeeded", vsynth.reason
    ok = _submit(prj, "hwtest", "--from-job", str(vsynth.id))
    assert ok.state == "succeeded", ok.reason
    out = tmp_path / "results"
    cli("fetch", str(ok.id), "--out", str(out))
    report = json.loads((out / f"job-{ok.id}/files/hwtest/hardware.json").read_text())
    assert report["kind"] == "hardware" and report["passed"] and report["events"]["board"] == 6
    (calls.parent / "board.json").write_text(json.dumps({"corrupt": [4, 1]}))  # event 4, high word of [0]
    bad = _submit(prj, "hwtest", "--from-job", str(vsynth.id))
    assert bad.state == "failed"
    want = "the board differs from the emulator: event 4, output layer3_out[0]: board "
    assert bad.reason.startswith(want), bad.reason
    assert [c["tool"] for c in read_calls(calls)] == ["vivado", "vivado_lab", "vivado_lab"]
    r = _submit(prj, "hwtest", "--from-job", str(ok.id), check=False)
    assert r.returncode == 2 and "takes a succeeded vsynth" in r.stderr + r.stdout
