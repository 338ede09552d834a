"""The chain's bookkeeping without training: data-check records, skips, re-runs on changed data, and the
errors a user can make, each one line."""

from __future__ import annotations

import json

import h5py
import numpy as np
from run_helpers import l1ml, run_json, statuses


def _project(tmp, **over):
    from _projects import make_project

    return make_project(tmp, "dense_ae", **{"data.generate_events": 3000, **over})


def test_data_step_generates_records_and_skips(tmp_path):
    proj = _project(tmp_path)
    r, doc = run_json(proj, tmp_path, "--until", "data")
    assert r.returncode == 0, r.stderr
    assert statuses(doc) == {"data": "ran"}
    files = doc["steps"][0]["result"]["files"]
    assert files["background"]["events"] == 3000 and len(files) == 5
    r, again = run_json(proj, tmp_path, "--until", "data")
    assert statuses(again) == {"data": "skipped"} and again["steps"][0]["key"] == doc["steps"][0]["key"]
    # New events in one file: a new key, and the data step runs again.
    bkg = proj / "build/data/background.h5"
    with h5py.File(bkg, "r+") as f:
        f["Particles"][0, 0, 0] = np.float32(f["Particles"][0, 0, 0] + 1)
    r, third = run_json(proj, tmp_path, "--until", "data")
    assert statuses(third) == {"data": "ran"} and third["steps"][0]["key"] != doc["steps"][0]["key"]
    rec = json.loads((proj / "build/run/records/data.json").read_text())
    assert rec["key"] == third["steps"][0]["key"]


def test_bad_input_is_one_line(tmp_path):
    proj = _project(tmp_path, **{"data.synthetic": False, "data.background": "nowhere.h5"})
    r = l1ml(["run", "--project", proj], tmp_path)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "━" not in ln]
    assert r.returncode == 2 and len(lines) == 1, r.stderr  # bad input: 2, as through `l1ml data` (issue 30)
    assert "step data failed" in lines[0] and "nowhere.h5" in lines[0]
    r = l1ml(["run", "--project", proj, "--until", "bake"], tmp_path)
    assert r.returncode == 2 and "'bake' is not a step" in r.stderr and "Traceback" not in r.stderr
    r = l1ml(["run", "--project", proj, "--from", "convert"], tmp_path)
    assert r.returncode == 1 and "step data has no result yet" in r.stderr
    bad = _project(tmp_path / "b", **{"synth.steps": ["bake"]})
    r = l1ml(["run", "--project", bad], tmp_path)
    assert r.returncode == 2 and "[synth]: steps ['bake'] unknown" in r.stderr


def test_csim_check_catches_a_mismatch(tmp_path):
    """The synth step's testbench-against-emulator check: bit for bit for both testbenches (the queued
    hls4ml csim prints exact values, issue 30); one changed value or a missing one is a mismatch."""
    from l1ml.project import load_project
    from l1ml.run.queue import csim_check

    proj = load_project(_project(tmp_path))
    want = np.array([[0.125], [3.5], [-2.0625]])
    for sub in ("conifer_hls", "hls4ml"):
        tb = proj.firmware_dir("v1") / sub / "tb_data"
        tb.mkdir(parents=True)
        np.savetxt(tb / "tb_output_predictions.dat", want)
        files = tmp_path / f"job-{sub}" / "files"
        (files / sub / "tb_data").mkdir(parents=True)
        log = files / sub / "tb_data" / "csim_results.log"
        log.write_text("0.125\n3.5\n-2.0625\n")
        assert csim_check(proj, "v1", files)["same"] is True
        log.write_text("0.125\n3.5\n-2.0626\n" if sub == "conifer_hls" else "0.125\n3.5\n-2.07\n")
        assert csim_check(proj, "v1", files)["same"] is False
        log.write_text("0.125\n3.5\n-2.0625001\n")  # equal to 6 digits is no longer enough
        assert csim_check(proj, "v1", files) == {"same": False, "how": "identical", "values": 3}
        log.write_text("0.125\n3.5\n")
        r = csim_check(proj, "v1", files)
        assert r["same"] is False and "2 values printed, 3 expected" in r["how"]
        (proj.firmware_dir("v1") / sub).rename(tmp_path / f"away-{sub}")


def test_editing_the_board_file_reruns_convert(tmp_path, monkeypatch):
    """The convert step's key holds the hash of the board file the conversion reads: a shipped board
    (l1ml/boards/) or a user's (L1ML_BOARDS_DIR). Editing it gives a new key, so `l1ml run` converts again
    (a step is skipped only when its key matches its record)."""
    import shutil

    from l1ml.firmware.boards import board_file, boards_dir
    from l1ml.lifecycle.fingerprint import toolchain
    from l1ml.project import load_project
    from l1ml.run.keys import FileHashes, digest
    from l1ml.run.steps import STEPS, Context

    convert = next(s for s in STEPS if s.name == "convert")
    tc = toolchain()

    def key(project) -> str:
        ctx = Context(project, FileHashes(tmp_path / "hashes.json"), tc)
        ctx.results["train"] = {"version": "v1"}
        return digest(convert.inputs(ctx))

    shipped = load_project(_project(tmp_path / "a"))
    assert board_file(shipped).parent == boards_dir() and board_file(shipped).is_file()

    mine = tmp_path / "boards"
    mine.mkdir()
    monkeypatch.setenv("L1ML_BOARDS_DIR", str(mine))
    src = boards_dir() / "vu13p.toml"
    shutil.copy(src, mine / "myboard.toml")
    shutil.copy(src, mine / "other.toml")
    proj = load_project(_project(tmp_path / "b", **{"firmware.board": "myboard"}))
    assert board_file(proj) == mine / "myboard.toml"
    before = key(proj)
    (mine / "other.toml").write_text(src.read_text() + "\n# edited\n")
    assert key(proj) == before  # another board: nothing to redo
    text = (mine / "myboard.toml").read_text()
    assert "clock_period_ns" in text
    (mine / "myboard.toml").write_text(text + "\n# edited\n")
    assert key(proj) != before


def test_layout_names_the_run_steps_in_order():
    """The report reads the run records by l1ml/layout.py's step names, without importing the runner."""
    from l1ml.layout import RUN_STEPS
    from l1ml.run.steps import STEPS

    assert tuple(s.name for s in STEPS) == RUN_STEPS


def test_queued_csim_prints_exact_values():
    """The queued csim of an hls4ml project compiles a copy of its testbench whose results stream prints
    at 80 digits (ap_fixed prints its exact decimal cut to the stream's precision)."""
    from l1ml.firmware.hls_steps import EXACT_TB, exact_testbench

    tb = '    std::string RESULTS_LOG = "tb_data/csim_results.log";\n    std::ofstream fout(RESULTS_LOG);\n'
    out = exact_testbench(tb)
    assert "std::ofstream fout(RESULTS_LOG); fout.precision(80);" in out
    assert exact_testbench("int main() {}") is None
    assert not EXACT_TB.endswith("_test.cpp")  # csim_dir finds testbenches by that name
