"""`l1ml run` end to end on the dense AE with small data: data to report; a second run skips every step
without importing TensorFlow; a failing step stops the chain with one line and keeps what came before;
a changed hls_config value re-runs convert onwards and nothing before it. The report of that run loads in
headless Chromium with every figure."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
from run_helpers import run_in_process, run_json, statuses

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))
from report_browser import load_page  # noqa: E402

ALL = ("data", "train", "convert", "validate", "rate", "synth", "deploy", "report", "track")


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    from _projects import SMALL, project_on_data

    from l1ml.data.generate import write_samples

    tmp = tmp_path_factory.mktemp("run_dense")
    write_samples(tmp / "data", 5000, seed=11)
    yml = tmp / "overrides.yml"
    yml.write_text("LayerName:\n  enc_1_dense:\n    ReuseFactor: 1\n")
    proj = project_on_data(
        tmp, "dense_ae", tmp / "data",
        # the smaller network (tests/_projects.py SMALL): the run's behaviour is what is tested, and each of
        # its four g++ compiles of the firmware (two C simulations, two deploy builds) takes half the time
        **{**SMALL["dense_ae"], "training.epochs": 1, "training.finetune_epochs": 1, "validation.events": 100,
           "validation.csim_events": 200, "synth.steps": [], "firmware.hls_config": str(yml),
           # 3.5% of the 5000 background events, 175 above the threshold: enough for deploy to ship it
           # ([trigger] min_events_above, 100), which it refuses on fewer.
           "trigger.rate_khz": 1000.0},
    )  # fmt: skip
    return tmp, proj, yml


@pytest.mark.slow
def test_run_data_to_report_then_skip_then_hls_config_change(dense):
    tmp, proj, yml = dense
    r, doc = run_json(proj, tmp)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert statuses(doc) == dict.fromkeys(ALL, "ran")
    assert doc["version"] == "v1"
    print("first run:", {s["step"]: round(s["seconds"], 1) for s in doc["steps"]})
    build = proj / "build"
    from l1ml.project import load_project

    loaded = load_project(proj)
    fw_rel = loaded.firmware_dir("v1").relative_to(loaded.build_dir)  # the active variant (issue 13)
    for f in ("models/v1/manifest.json", f"{fw_rel}/manifest.json", "validation/v1/report.json",
              "emulation/v1/rate.json", "emulation/v1/scores.npz", "report/v1/report.html",
              "run/v1/toolchain.json", "deploy/v1/thresholds.json", "deploy/v1/run/deploy.json"):  # fmt: skip
        assert (build / f).is_file(), f
    # One command from events to the library CMSSW loads, its thresholds and the bundle (issue 30).
    dep = {s["step"]: s for s in doc["steps"]}["deploy"]["result"]
    assert Path(dep["library"]).is_file() and Path(dep["bundle"]).is_file() and "parity OK" in dep["parity"]
    print("deploy seconds:", {k: round(v, 1) for k, v in dep["seconds"].items()})
    rate = {s["step"]: s for s in doc["steps"]}["rate"]["result"]
    assert rate["background_events"] == 5000
    # The rate is the colliding-bunch rate times the fraction above the threshold, never 40 MHz.
    assert rate["rate_khz"] == pytest.approx(rate["fired"] / 5000 * 2544 * 11.245)
    keys = {s["step"]: s["key"] for s in doc["steps"]}

    # Second run: every step skipped, same keys, and no TensorFlow (or hls4ml, xgboost) imported.
    t0 = time.monotonic()
    again, heavy, _ = run_in_process(proj, tmp)
    print(f"second run: {time.monotonic() - t0:.1f} s")
    assert statuses(again) == dict.fromkeys(ALL, "skipped")
    assert {s["step"]: s["key"] for s in again["steps"]} == keys
    assert heavy == []

    # A step that fails stops the chain with one line and a non-zero exit; what came before is kept.
    yml.rename(yml.with_suffix(".away"))
    bad, doc = run_json(proj, tmp)
    yml.with_suffix(".away").rename(yml)
    assert bad.returncode == 2  # a missing hls_config file is bad input (issue 30)
    # stderr holds the step lines (--json keeps stdout for the JSON) and TensorFlow's chatter; the error
    # itself is one line.
    err = [ln for ln in bad.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "step convert failed" in err[0] and "hls_config" in err[0], bad.stderr
    assert "Traceback" not in bad.stderr
    st = statuses(doc)
    assert st["data"] == st["train"] == "skipped" and st["convert"] == "failed"
    assert all(st[s] == "not run" for s in ALL[3:])
    assert (build / "models/v1/manifest.json").is_file() and (build / "run/records/train.json").is_file()

    # One hls_config value changed: convert onwards re-run, data and train do not.
    yml.write_text("LayerName:\n  enc_1_dense:\n    ReuseFactor: 2\n")
    r, doc = run_json(proj, tmp)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    st = statuses(doc)
    print("hls_config changed:", {s["step"]: round(s["seconds"], 1) for s in doc["steps"]})
    assert st == {**dict.fromkeys(ALL[:2], "skipped"), **dict.fromkeys(ALL[2:], "ran")}, st
    assert doc["version"] == "v1" and not (build / "models/v2").exists()
    fw_new = load_project(proj).firmware_dir("v1")
    assert fw_new.relative_to(loaded.build_dir) != fw_rel and (build / fw_rel / "manifest.json").is_file()  # both kept
    params = (fw_new / "hls4ml/firmware/parameters.h").read_text()
    assert "reuse_factor = 2" in params

    # The report of this run, in a real headless Chromium.
    shot = tmp / "dense_ae-report.png"
    page = load_page(build / "report/v1/report.html", shot)
    assert page["errors"] == []
    for fig in ("fig-roc", "fig-scores", "fig-rate", "fig-turnon"):
        assert page["figures"][fig]["complete"] and page["figures"][fig]["width"] > 300, fig
    assert "leading jet pT" in page["tables"]["cuts-table"] and "model − cut" in page["tables"]["gain-table"]
    assert "PASS" in page["tables"]["validation-table"] and "FAIL" not in page["tables"]["validation-table"]
    assert "sha256 model_file" in page["tables"]["provenance-table"]
    assert "tool hls4ml" in page["tables"]["provenance-table"]
    assert shot.stat().st_size > 20_000
    print(f"screenshot kept: {shot}")


@pytest.mark.slow
def test_queued_csim_of_the_ae_is_compared_bit_for_bit(dense):
    """The AE's C simulation through the queue was compared with the emulator only to the testbench's 6
    printed digits (issue 30): the queued testbench prints exact values, compared bit for bit."""
    tmp, proj, _ = dense
    toml = proj / "project.toml"
    toml.write_text(toml.read_text().replace("steps = []", 'steps = ["csim"]', 1))
    r, doc = run_json(proj, tmp, "--until", "synth")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (job,) = {s["step"]: s for s in doc["steps"]}["synth"]["result"]["jobs"]
    assert job["state"] == "succeeded" and job["csim_check"]["how"] == "identical", job
    assert job["csim_check"]["same"] is True and job["csim_check"]["values"] > 0
    # The printed values carry every digit: some need more than 6 significant ones.
    printed = (Path(job["results"]) / "files/hls4ml/tb_data/csim_results.log").read_text().split()
    assert max(len(v.lstrip("-").replace(".", "").lstrip("0")) for v in printed) > 6, printed[:10]


@pytest.mark.slow
def test_ctrl_c_mid_train_leaves_nothing_half_written(dense, tmp_path):
    """SIGINT while the network trains: exit 130, one line, no model version, no staging directory, no
    train record; the data check before it stays recorded."""
    import signal
    import subprocess

    from run_helpers import env_for

    src_tmp, src, _ = dense
    proj = tmp_path / "dense_ae"
    proj.mkdir()
    text = (src / "project.toml").read_text().replace("epochs = 1\n", "epochs = 200\n", 1)
    (proj / "project.toml").write_text(text)
    # SIGINT back to its default in the child: a shell's background job (and so pytest started as one)
    # ignores it, and Python installs its Ctrl-C handler only when SIGINT is not ignored.
    p = subprocess.Popen([sys.executable, "-m", "l1ml.cli.main", "run", "--project", str(proj)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    models = proj / "build" / "models"
    deadline = time.monotonic() + 240
    try:
        while not (models.is_dir() and any(models.glob(".staging*"))):
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        time.sleep(2)  # well inside the 200 epochs
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    # 130, or death by SIGINT itself (-2, which a shell also shows as 130): in one CI run under load the
    # run printed its line, left nothing behind and then died by the signal; the cause is not found yet
    assert p.returncode in (130, -signal.SIGINT), out + err
    assert "interrupted" in err and "Traceback" not in err
    assert list(models.iterdir()) == []
    assert not (proj / "build/run/records/train.json").exists()
    assert (proj / "build/run/records/data.json").is_file()
    shutil.rmtree(proj)
