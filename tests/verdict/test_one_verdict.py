"""`l1ml validate` gives one verdict: its exit code and its JUnit file agree, for a pass, a failure, and a
BDT whose float-vs-fixed-point decision flips cost little physics. A BDT's verdict has two parts:
bit-exactness of the firmware against its fixed-point reference, and the quantization's physics cost at
the deployed threshold (the TPR or rate change with its error) judged by [gate]'s limits, never a raw
count of flipped decisions (issue 24).

A real BDT (xgboost on generated events, converted by conifer) runs through the real CLI each time; the
threshold is put where the float model and the firmware decide differently on known events, so the flips
are there by construction rather than by luck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bdt(tmp_path_factory):
    xgb = pytest.importorskip("xgboost")
    from l1ml.data import units
    from l1ml.data.generate import write_samples
    from l1ml.data.preprocess import Preprocessing
    from l1ml.data.samples import load_project_samples
    from l1ml.emulate.bdt_fixed import decision_function_fixed
    from l1ml.project import load_project, read_json

    root = tmp_path_factory.mktemp("verdict")
    write_samples(root / "data", 200, seed=3)  # 400 events in all: GHDL runs each
    signals = ", ".join(
        f'{s} = "{root / "data" / (s + ".h5")}"' for s in ("Ato4l", "leptoquark", "hToTauTau", "hChToTauNu")
    )
    toml = (
        'name = "verdict"\n[data]\nsynthetic = false\n'
        f'background = "{root / "data" / "background.h5"}"\nsignals = {{ {signals} }}\n'
        '[model]\nkind = "bdt"\nn_estimators = 6\nmax_depth = 3\n'
        # The precision convert chooses to hold the inputs and thresholds: its rounded leaf sums still
        # differ from xgboost's float margin, which is all the flips below need.
        '[firmware]\nprecision = "auto"\n[validation]\nevents = 0\n'
    )
    prj_dir = root / "prj"
    prj_dir.mkdir()
    (prj_dir / "project.toml").write_text(toml)
    project = load_project(prj_dir)
    hw = {k: units.to_hardware(v) for k, v in load_project_samples(project).items()}
    x = np.concatenate(list(hw.values())).astype(np.float32)
    y = np.r_[np.zeros(len(hw["background"])), np.ones(len(x) - len(hw["background"]))]
    clf = xgb.XGBClassifier(n_estimators=6, max_depth=3, random_state=0, n_jobs=1).fit(x, y)
    model_dir = project.models_dir / "v1"
    model_dir.mkdir(parents=True)
    clf.get_booster().save_model(str(model_dir / "model.json"))
    Preprocessing.identity().save(model_dir / "preprocessing.json")
    manifest = {"version": "v1", "kind": "bdt", "model_file": "model.json", "threshold": None}
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    r = subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", "convert", "-p", str(prj_dir), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    converted = json.loads(r.stdout)  # --json: stdout holds the JSON alone
    assert converted["kind"] == "bdt" and converted["precision"].startswith("ap_fixed<")
    fw = Path(converted["firmware_dir"])
    margin = clf.get_booster().predict(xgb.DMatrix(x), output_margin=True).astype(np.float64)
    fixed = decision_function_fixed(read_json(fw / "conifer_model.json"), x).reshape(margin.shape)
    differ = np.flatnonzero(margin != fixed)
    assert differ.size, "the fixed-point leaf sums should move some scores"
    i = differ[np.argmax(np.abs(margin - fixed)[differ])]
    return {
        "dir": prj_dir,
        "model_dir": model_dir,
        "fw": fw,
        "flip_at": (margin[i] + fixed[i]) / 2,
        "top": max(margin.max(), fixed.max()) + 1,
    }


def _validate(bdt, tmp_path, threshold: float, strict: bool, *extra: str):
    """strict: a [gate] that allows no loss at all (no absolute, relative or statistical slack)."""
    from l1ml.manifest import sha256

    toml = bdt["dir"] / "project.toml"
    text = toml.read_text().split("[gate]")[0].rstrip("\n")
    gate = "tpr_drop = 0.0\ntpr_drop_relative = 0.0\nrate_growth = 0.0\nsignificance = 0.0" if strict else ""
    toml.write_text(text + f"\n[gate]\n{gate}\n")
    mfile = bdt["model_dir"] / "manifest.json"
    man = json.loads(mfile.read_text())
    man["threshold"] = float(threshold)
    mfile.write_text(json.dumps(man))
    # The threshold is no part of the firmware's sources; re-link as `l1ml convert` records it.
    fwman_file = bdt["fw"] / "manifest.json"
    fwman = json.loads(fwman_file.read_text())
    fwman["model_manifest"]["sha256"] = sha256(mfile)
    fwman_file.write_text(json.dumps(fwman))
    junit = tmp_path / f"junit-{threshold}-{strict}.xml"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "l1ml.cli.main",
            "validate",
            "-p",
            str(bdt["dir"]),
            "--junit",
            str(junit),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r.returncode, ET.parse(junit).getroot(), r.stdout


def _failures(suite: ET.Element) -> list[str]:
    return [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None]


def test_exit_code_and_junit_agree(bdt, tmp_path):
    # A pass: the threshold above every score, so no decision can flip.
    code, suite, out = _validate(bdt, tmp_path, bdt["top"], True)
    assert code == 0 and _failures(suite) == [] and suite.get("failures") == "0", out
    assert "PASS" in out

    # A failure: one event's decision flips by construction, and a gate allowing no loss refuses it.
    code, suite, out = _validate(bdt, tmp_path, bdt["flip_at"], True)
    failed = _failures(suite)
    assert code == 1 and failed and all(n.startswith("quantization cost") for n in failed), (failed, out)
    assert int(suite.get("failures")) == len(failed)
    assert "FAIL" in out

    # The default [gate]: the same flip is a change within its statistical error; reported, not failed.
    code, suite, out = _validate(bdt, tmp_path, bdt["flip_at"], False, "--json")
    assert code == 0 and _failures(suite) == [], out
    printed = json.loads(out)  # --json: the report itself
    assert printed["passed"] is True and printed["reports"]["junit"].endswith(".xml")
    costs = [tc for tc in suite.iter("testcase") if tc.get("name").startswith("quantization cost")]
    assert any("sigma" in tc.find("system-out").text and "1 lost" in tc.find("system-out").text
               or "1 gained" in tc.find("system-out").text for tc in costs)  # fmt: skip
    report = json.loads((bdt["dir"] / "build" / "validation" / "v1" / "report.json").read_text())
    assert (
        report["passed"] is True
        and report["flip_kind"] == "quantization"
        and sum(report["flips"].values()) >= 1
        and sum(c["gained"] + c["lost"] for c in report["quantization_cost"].values()) >= 1
    )
    # validate writes the firmware's labelled estimate, for the gate and the report (a BDT: BOPs)
    est = json.loads((bdt["fw"] / "estimate.json").read_text())
    assert est == report["estimate"] and est["source"] == "estimate (BOPs)" and est["splits"] > 0


def test_quantization_flips_setting_is_checked(tmp_path):
    from l1ml.errors import ConfigError
    from l1ml.project import load_project

    (tmp_path / "project.toml").write_text('name = "x"\n[validation]\nquantization_flips = 2.5\n')
    with pytest.raises(ConfigError, match="quantization_flips"):
        load_project(tmp_path)
    (tmp_path / "project.toml").write_text('name = "x"\n[validation]\nquantization_flips = 0.01\n')
    assert load_project(tmp_path).validation.quantization_flips == 0.01
