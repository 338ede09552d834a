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
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "step data failed" in lines[0] and "nowhere.h5" in lines[0]
    r = l1ml(["run", "--project", proj, "--until", "bake"], tmp_path)
    assert r.returncode == 2 and "'bake' is not a step" in r.stderr and "Traceback" not in r.stderr
    r = l1ml(["run", "--project", proj, "--from", "convert"], tmp_path)
    assert r.returncode == 1 and "step data has no result yet" in r.stderr
    bad = _project(tmp_path / "b", **{"synth.steps": ["bake"]})
    r = l1ml(["run", "--project", bad], tmp_path)
    assert r.returncode == 2 and "[synth]: steps ['bake'] unknown" in r.stderr
