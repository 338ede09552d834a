"""One threshold, one place (issue 24): for the dense AE and the BDT, the threshold, rate and TPRs are the
trigger record's numbers in the report, `l1ml rate`, deploy's thresholds.json, explore's baseline row
(networks: explore scans hls4ml firmware only) and `l1ml models gate`; the deployed library's integer
comparison and `l1ml rate` count the same events on the same sample.

The projects run on a rate sample apart from the training sample, sized for the test's 100 kHz target to
hold over [trigger] min_events_above (100) events above its threshold."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "deploy"))
from deploy_helpers import compile_host, read_outputs, write_events  # noqa: E402

RATE_KHZ = 100.0  # FPR 3.5e-3: 60k rate-sample events hold about 210 above the threshold
GRID = "Score:\n  Precision:\n    result:\n      - ap_fixed<56,26>\n"


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "220"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "l1ml.cli.main", *map(str, args)], capture_output=True, text=True, cwd=cwd,
        env=env, timeout=1500,
    )  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from l1ml.data.generate import write_samples

    d = tmp_path_factory.mktemp("one_threshold")
    write_samples(d / "data", 5000, seed=11, rate_events=60_000)
    return d


@pytest.fixture(scope="module")
def runs(data):
    from _projects import project_on_data

    from l1ml.project import load_project

    out = {}
    for example, extra in (
        ("dense_ae", {"model.hidden": [8], "model.latent": 3, "training.epochs": 1, "training.finetune_epochs": 1}),
        # 20 trees of depth 4 (the example's): on the generated events 5 trees of depth 3 give 90 distinct
        # scores, and the tie at the 100 kHz threshold leaves 76 events above it, under min_events_above
        ("bdt", {"model.n_estimators": 20, "model.max_depth": 4}),
    ):
        proj = project_on_data(
            data, example, data / "data",
            **{"data.rate_sample": str(data / "data" / "rate_sample.h5"), "trigger.rate_khz": RATE_KHZ,
               "validation.events": 100, "validation.csim_events": 100, "synth.steps": [], **extra},
        )  # fmt: skip
        r = cli("run", "--project", proj, "--json", cwd=data)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        out[example] = load_project(proj)
    return out


def _record(proj) -> dict:
    from l1ml.models.threshold import read, target

    rec = read(proj, "v1")
    assert rec is not None and rec["rate_sample"]["separate"] and rec["rate_sample"]["events"] == 60_000
    t = target(rec)
    assert t["enough"] and t["events_above"] >= 100, t
    assert t["threshold"] == t["threshold_int"] * 2.0 ** -rec["score_frac"]
    assert t["rate_low_khz"] < t["rate_measured_khz"] < t["rate_high_khz"]
    return t


@pytest.mark.slow
@pytest.mark.parametrize("example", ["dense_ae", "bdt"])
def test_every_reader_shows_the_record(runs, data, tmp_path, example):
    proj = runs[example]
    t = _record(proj)

    # `l1ml rate`: the deployed row is the record's threshold, counted on the same rate sample.
    r = cli("rate", "--project", proj.path, "--json", cwd=data)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["rows"][0]
    assert row["threshold_int"] == t["threshold_int"] and row["threshold"] == t["threshold"]
    assert row["events_above"] == t["events_above"]
    assert row["rate_khz"] == pytest.approx(t["rate_measured_khz"], rel=1e-12)
    assert "model v1 (newest; no production version)" in r.stderr

    # The report: the record's integer, real, events above and every TPR.
    html = proj.build_dir / "report" / "v1" / "report.html"
    page = html.read_text()
    assert f'id="threshold-int">{t["threshold_int"]}<' in page
    assert f'id="threshold-events">{t["events_above"]:,}<' in page
    for sig, e in t["signals"].items():
        assert re.search(rf'<td class="l">{sig}</td>.*?<span class="tpr-record">{e["tpr"]:.4g}</span>', page, re.S)

    # deploy's thresholds.json: the same threshold, count, rate and TPRs.
    force = ("--force",) if example == "bdt" else ()
    r = cli("deploy", "--project", proj.path, "--out", tmp_path / "deployed", *force, cwd=data)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    thr = json.loads((proj.build_dir / "deploy" / "v1" / "thresholds.json").read_text())
    (d,) = thr["thresholds"]
    assert (d["threshold_int"], d["threshold"], d["events_above"]) == (
        t["threshold_int"], t["threshold"], t["events_above"],
    )  # fmt: skip
    assert d["rate_measured_khz"] == t["rate_measured_khz"] and thr["background_events"] == 60_000
    assert {k: v["tpr"] for k, v in d["signals"].items()} == {k: v["tpr"] for k, v in t["signals"].items()}

    # The gate, against itself once promoted: a no-op pass showing the same numbers.
    r = cli("models", "promote", "v1", "--project", proj.path, cwd=data)
    assert r.returncode == 0, r.stderr
    r = cli("models", "gate", "v1", "--project", proj.path, "--json", cwd=data)
    assert r.returncode == 0, r.stdout + r.stderr
    g = json.loads(r.stdout)
    assert g["passed"] and g["reference"] == "v1" and g["trigger"] == t

    if example == "dense_ae":  # explore's baseline is the deployed firmware
        grid = tmp_path / "grid.yml"
        grid.write_text(GRID)
        r = cli("explore", "--project", proj.path, "--grid", grid, "--events", 2000, "--json", cwd=data)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert json.loads(r.stdout)["baseline"]["deployed"] == t
        assert "model v1 (production)" in r.stderr

    # The library's integer comparison and `l1ml rate` count the same events of the same sample.
    from l1ml.data import units
    from l1ml.data.io import load_particles

    hw = units.to_hardware(load_particles(data / "data" / "rate_sample.h5", proj.data.key))
    host = compile_host(tmp_path)
    events = write_events(tmp_path / "rate.bin", hw)
    lib = next((tmp_path / "deployed").glob("*.so"))
    r = subprocess.run([str(host), "run", str(events), str(tmp_path / "out"), str(lib)], capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    md = json.loads((tmp_path / "deployed" / "metadata.json").read_text())
    width = sum(o["size"] for o in md["output"]["outputs"]) + 1
    fired = read_outputs(tmp_path / "out.0.bin", width)[:, -1]
    assert len(fired) == 60_000 and int(np.sum(fired)) == t["events_above"] == row["events_above"]
