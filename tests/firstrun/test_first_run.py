"""What a new user hits first: one clear line instead of a traceback, `--json`, `--version`, shell
completion, training that leaves its history, quiet TensorFlow, boards outside the checkout, plots whose
markers are on the plot. Each through the real `l1ml` command where the user would meet it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "l1ml.cli.main"]


def l1ml(*args: str, env: dict | None = None, cwd: Path = REPO, timeout: int = 300):
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def one_line_error(r, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_demo_names_missing_packages_before_any_work(tmp_path):
    # A machine with g++ but neither ghdl nor nlohmann-json: the demo must stop at once, naming both.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gxx = shutil.which("g++")
    if gxx:
        (bin_dir / "g++").symlink_to(gxx)
    out = tmp_path / "demo"
    r = l1ml("demo", "--out", str(out), env={"PATH": str(bin_dir), "JSON_ROOT": str(tmp_path)})
    one_line_error(r, "nlohmann-json3-dev", "ghdl", "apt-get install")
    assert not out.exists()  # nothing generated or trained first


def test_data_generate_out_errors(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    one_line_error(l1ml("data", "generate", "--out", str(f), "-n", "100"), "is a file")
    one_line_error(l1ml("data", "generate", "--out", "/proc/l1ml/out", "-n", "100"), "cannot write")
    assert f.read_text() == "x"


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    from l1ml.data.generate import write_samples

    d = tmp_path_factory.mktemp("events")
    write_samples(d, 2000, seed=11)
    return d


def test_emulate_to_an_existing_directory_fails_before_the_run(tmp_path, events):
    prj = tmp_path / "p"
    prj.mkdir()
    (prj / "project.toml").write_text('name = "p"\n')  # no model, no firmware: the run could not start
    out = tmp_path / "existing"
    out.mkdir()
    r = l1ml("emulate", "-p", str(prj), "-i", str(events / "background.h5"), "-o", str(out))
    one_line_error(r, "is a directory")


def test_data_inspect_json(events):
    r = l1ml("data", "inspect", str(events / "background.h5"), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["events"] == 2000 and d["shape"] == [2000, 19, 4]
    assert set(d["objects"]) == {"MET", "electrons", "muons", "jets"}
    assert d["objects"]["MET"]["max_count"] == 1 and d["class_ids"]


def _tiny_queue_project(tmp_path: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests" / "synth"))
    from synth_helpers import make_project

    return make_project(tmp_path / "projects")


def test_synth_submit_memory_and_failed_validation(tmp_path):
    env = {"L1ML_SYNTH_HOME": str(tmp_path / "queue"), "L1ML_SYNTH_CONFIG": str(tmp_path / "none.toml")}
    prj = _tiny_queue_project(tmp_path)
    base = ("synth", "submit", "-p", str(prj), "-m", "v1")
    one_line_error(l1ml(*base, "--step", "csim", "--memory", "99999999T", env=env), "99999999T", "at most")

    report = prj / "build" / "validation" / "v1" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"passed": False}))
    os.utime(report, (os.path.getmtime(report) + 5,) * 2)  # written after the firmware
    no_tools = {**env, "PATH": "/usr/bin:/bin"}
    one_line_error(l1ml(*base, "--step", "csynth", env=no_tools), "last validation", "--force")
    # --force goes past the refusal, to the next check: this machine has no HLS tool.
    one_line_error(l1ml(*base, "--step", "csynth", "--force", env=no_tools), "vitis-run")
    # csim is no vendor step: submitted despite the failed validation.
    r = l1ml(*base, "--step", "csim", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "queued", r.stderr
    # A passing validation does not stop a vendor step.
    report.write_text(json.dumps({"passed": True}))
    os.utime(report, (os.path.getmtime(report) + 5,) * 2)
    one_line_error(l1ml(*base, "--step", "csynth", env=no_tools), "vitis-run")


def test_version_completion_and_validate_help():
    import l1ml as pkg

    r = l1ml("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"l1ml {pkg.__version__}"
    h = l1ml("--help").stdout
    assert "--install-completion" in h and "--verbose" in h
    v = l1ml("validate", "--help").stdout
    assert "2000 unless set" in v and "0 means every event" in v and "default:  events" not in v
    assert "--json" in v


def test_boards_shipped_user_directory_and_unknown(tmp_path):
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "boards/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["l1ml"]
    assert (REPO / "l1ml" / "boards" / "vu9p.toml").is_file()
    user = tmp_path / "myboards"
    user.mkdir()
    (user / "myfpga.toml").write_text(
        'part = "xcvu9p-flga2104-2L-e"\nclock_period_ns = 2.5\n[resources]\nlut = 10\nff = 20\n'
    )
    env = {"L1ML_BOARDS_DIR": str(user)}
    r = l1ml("boards", "list", "--json", env=env)
    assert r.returncode == 0, r.stderr
    boards = {b["name"]: b for b in json.loads(r.stdout)}
    assert {"vu9p", "ku15p", "myfpga"} <= set(boards)
    assert boards["myfpga"]["file"] == str(user / "myfpga.toml")
    assert boards["vu9p"]["file"].endswith("l1ml/boards/vu9p.toml")
    prj = tmp_path / "p"
    prj.mkdir()
    (prj / "project.toml").write_text('name = "p"\n[firmware]\nboard = "nosuch"\n')
    from l1ml.firmware.boards import project_board
    from l1ml.project import load_project

    os.environ["L1ML_BOARDS_DIR"] = str(user)
    try:
        with pytest.raises(Exception, match=f"looked in {user}.*l1ml/boards") as exc:
            project_board(load_project(prj))
    finally:
        del os.environ["L1ML_BOARDS_DIR"]
    assert "unknown board 'nosuch'" in str(exc.value) and "myfpga" in str(exc.value)


def test_roc_reaches_below_the_markers_and_scores_on_a_log_axis(tmp_path):
    from l1ml.models.metrics import plot_metrics, roc_xlim, score_bins, trigger_metrics

    rng = np.random.default_rng(0)
    bkg = rng.exponential(1.0, 10_000)  # 1e4 events: 1/N = 1e-4, above the 1e-5 marker
    sig = {"s": rng.exponential(3.0, 2000)}
    m = trigger_metrics(bkg, sig, 1e3 / 28.6e6, 1e-5, 28.6e6)
    low, high = roc_xlim(len(bkg), m)
    assert low < 1e-5 and low < m["target_fpr"] and high == 1.0
    bins, scale = score_bins(np.concatenate([bkg, sig["s"]]), m["threshold"])
    assert scale == "log" and bins[0] > 0 and bins[-1] >= m["threshold"]
    assert np.allclose(np.diff(np.log(bins)), np.log(bins[1] / bins[0]))  # log-spaced
    _, signed = score_bins(np.array([-2.0, 0.5, 3.0]), 1.0)
    assert signed == "linear"  # a BDT's margin is signed
    paths = plot_metrics(bkg, sig, m, tmp_path, "t")
    assert [p.name for p in paths] == ["roc.png", "scores.png"] and all(p.stat().st_size > 0 for p in paths)


def _project(root: Path, events: Path, body: str) -> Path:
    from l1ml.data.generate import SIGNALS

    root.mkdir(parents=True)
    signals = ", ".join(f'{s} = "{events / (s + ".h5")}"' for s in SIGNALS)
    (root / "project.toml").write_text(
        f'name = "{root.name}"\n[data]\nsynthetic = false\nbackground = "{events / "background.h5"}"\n'
        f"signals = {{ {signals} }}\n" + body
    )
    return root


def test_train_bdt_overrides_history_and_json(tmp_path, events):
    prj = _project(
        tmp_path / "bdt",
        events,
        '[model]\nkind = "bdt"\nn_estimators = 30\nmax_depth = 2\n'
        "[training]\nearly_stopping_patience = 3\nbest_checkpoint = true\n",
    )
    r = l1ml("train", "bdt", "-p", str(prj), "--events", "1500", "--seed", "5", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    man = out["manifest"]
    assert man["overrides"] == {"events": 1500, "seed": 5} and man["seeds"]["training"] == 5
    assert man["training"]["events"] == 1500 and "auc" in next(iter(out["metrics"]["signals"].values()))
    d = Path(out["model_dir"])
    hist = json.loads((d / "history.json").read_text())
    best = hist["best_round"]
    assert best == int(np.argmin(hist["val_loss"]))
    assert (d / "loss.png").stat().st_size > 0
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(d / "model.json"))
    assert booster.num_boosted_rounds() == best + 1  # the best round kept, later trees dropped
    one_line_error(l1ml("train", "bdt", "-p", str(prj), "--epochs", "3"), "n_estimators")


def test_train_ae_overrides_early_stopping_and_quiet_tensorflow(tmp_path, events):
    prj = _project(
        tmp_path / "ae",
        events,
        '[model]\nkind = "dense_ae"\nhidden = [8]\nlatent = 4\n'
        "[training]\nepochs = 50\nfinetune_epochs = 1\nbatch_size = 256\n"
        "early_stopping_patience = 1\nbest_checkpoint = true\n",
    )
    r = l1ml("train", "ae", "-p", str(prj), "--epochs", "4", "--events", "1200", "--json")
    assert r.returncode == 0, r.stderr
    # TensorFlow's C++ registration noise and Keras' warnings are gone without --verbose.
    for noise in ("Unable to register cuDNN", "cuda_dnn", "UserWarning", "DeprecationWarning"):
        assert noise not in r.stderr, noise
    out = json.loads(r.stdout)
    man = out["manifest"]
    assert man["overrides"] == {"epochs": 4, "events": 1200} and man["training"]["epochs"] == 4
    d = Path(out["model_dir"])
    hist = json.loads((d / "history.json").read_text())
    assert 1 <= len(hist["loss"]) <= 4 and len(hist["val_loss"]) == len(hist["loss"])
    assert hist["best_epoch"] == int(np.argmin(hist["val_loss"]))
    assert man["training"]["epochs_run"] == len(hist["val_loss"])
    assert (d / "loss.png").stat().st_size > 0


def test_wrong_tree_lists_what_the_file_holds(tmp_path):
    """uproot writes an RNTuple by default: the message named no tree for a file holding 'Events' (issue
    30). It lists every object there, TTree or not, and a non-TTree named as the tree is said to be one."""
    import uproot

    rn, tt = tmp_path / "rntuple.root", tmp_path / "ttree.root"
    with uproot.recreate(rn) as f:
        f["Events"] = {"x": np.arange(3)}
    with uproot.recreate(tt) as f:
        f.mktree("Events", {"x": np.int32})
        f["Events"].extend({"x": np.arange(3, dtype=np.int32)})
    r = l1ml("data", "inspect", str(rn))
    one_line_error(r, "no tree 'l1UpgradeTree/L1UpgradeTree'", "Events (ROOT::RNTuple)")
    r = l1ml("data", "inspect", str(tt))
    one_line_error(r, "no tree 'l1UpgradeTree/L1UpgradeTree'", "the file holds Events)")
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "project.toml").write_text(
        f'[data]\nformat = "l1ntuple"\nbackground = "{rn}"\n[data.inputs]\ntree = "Events"\n'
    )
    r = l1ml("data", "inspect", str(rn), "--project", str(proj))
    one_line_error(r, "'Events' is a ROOT::RNTuple, not a TTree")


def test_dead_tracking_server_fails_in_seconds(tmp_path):
    """`models track` against a dead MLflow server took 249 s (issue 30): seconds, the URI named, and how
    to skip tracking."""
    import socket
    import time

    sys.path.insert(0, str(REPO / "tests"))
    from _projects import make_project

    proj = make_project(tmp_path, "dense_ae")
    v1 = proj / "build/models/v1"
    v1.mkdir(parents=True)
    (v1 / "manifest.json").write_text("{}")
    with socket.socket() as s:  # a port nothing listens on: bound, then closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    r = l1ml("models", "track", "--project", str(proj), env={"MLFLOW_TRACKING_URI": uri}, timeout=120)
    took = time.monotonic() - t0
    one_line_error(r, uri, "no server answers", "unset MLFLOW_TRACKING_URI")
    assert took < 30, took


def test_models_compare_prints_integers_whole(tmp_path):
    """threshold_int was printed as 8.41766e+08 (issue 30): integers are printed as integers."""
    sys.path.insert(0, str(REPO / "tests"))
    from _projects import make_project

    proj = make_project(tmp_path, "dense_ae")
    for v, t_int, above in (("v1", 841766123, 12), ("v2", 841700000, 10)):
        (proj / "build/models" / v).mkdir(parents=True)
        (proj / "build/models" / v / "manifest.json").write_text('{"kind": "ae"}')
        fw = proj / "build/firmware" / v
        fw.mkdir(parents=True)
        entry = {"rate_khz": 1.0, "threshold": t_int / 2**20, "threshold_int": t_int, "rate_measured_khz": 0.9,
                 "events_above": above, "signals": {}}  # fmt: skip
        (fw / "trigger.json").write_text(json.dumps({"target_rate_khz": 1.0, "thresholds": [entry]}))
    r = l1ml("models", "compare", str(proj), "v1", "v2")
    assert r.returncode == 0, r.stderr
    row = next(ln for ln in r.stdout.splitlines() if "threshold_int" in ln)
    assert "841766123" in row and "841700000" in row and "+66123" in row and "e+" not in row, row
    row = next(ln for ln in r.stdout.splitlines() if "events_above_threshold" in ln)
    assert " 12 " in row and " +2 " in row, row
