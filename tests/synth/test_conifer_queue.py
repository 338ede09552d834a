"""A real conifer BDT project (trained here, converted with `l1ml.firmware.convert`) through the local queue:
rtlsim (GHDL on conifer_vhdl/) over the project's testbench data, with the scores it leaves in `fetch` equal
to l1ml's fixed-point emulator; and csim (g++ on conifer_hls/ and conifer's own testbench), which links only
because l1ml's conversion adds the three-argument top function conifer 1.11 declares but never defines."""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from synth_helpers import cli, job, submit_local, wait_state

REPO = Path(__file__).resolve().parents[2]
N_EVENTS = 64


def _bdt_helpers():
    # tests/bdt's helpers (dyadic inputs that sit on thresholds, the labels), loaded by path: that
    # directory is not on sys.path when only tests/synth runs.
    spec = importlib.util.spec_from_file_location("bdt_test_helpers", REPO / "tests" / "bdt" / "_bdt.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def conifer_project(tmp_path_factory):
    """One small BDT, converted once (conifer's VHDL writer compiles a helper: ~10 s), with tb data."""
    pytest.importorskip("conifer")
    xgb = pytest.importorskip("xgboost")
    if shutil.which("ghdl") is None:
        pytest.fail("ghdl is not installed; apt-get install ghdl (CI installs it)")
    from l1ml.firmware import convert
    from l1ml.project import load_project

    h = _bdt_helpers()
    root = tmp_path_factory.mktemp("conifer") / "bdt"
    root.mkdir()
    (root / "project.toml").write_text(
        'name = "bdtq"\n[model]\nkind = "bdt"\nn_estimators = 4\nmax_depth = 3\n'
        '[firmware]\nboard = "vu9p"\nprecision = "ap_fixed<18,8,AP_RND,AP_SAT>"\n'
    )
    project = load_project(root)
    x = h.dyadic_inputs(2000, seed=1)
    clf = xgb.XGBClassifier(n_estimators=4, max_depth=3, tree_method="hist", random_state=0, n_jobs=1)
    clf.fit(x, h.labels(x))
    model_dir = project.models_dir / "v1"
    model_dir.mkdir(parents=True)
    clf.get_booster().save_model(str(model_dir / "model.json"))
    (model_dir / "manifest.json").write_text(
        json.dumps({"version": "v1", "kind": "bdt", "model_file": "model.json"})
    )
    manifest = convert(project, "v1")
    fw = project.firmware_dir("v1")
    # The testbench data each step reads: floats for the C simulation, the inputs' integer mantissas for
    # conifer's VHDL testbench.
    from l1ml.fixed import FixedType

    events = h.dyadic_inputs(N_EVENTS, seed=5)
    (fw / "conifer_hls" / "tb_data").mkdir(exist_ok=True)  # conifer leaves it empty
    np.savetxt(fw / "conifer_hls" / "tb_data" / "tb_input_features.dat", events, fmt="%.10f")
    ints = FixedType.parse(manifest["precision"]).to_int(events.astype(np.float64))
    np.savetxt(fw / "conifer_vhdl" / "SimulationInput.txt", ints, fmt="%d", delimiter=" ")
    return root, fw, events, manifest


@pytest.mark.ghdl
def test_rtlsim_and_csim_of_a_converted_bdt_match_the_emulator(
    home, tmp_path, procs, conifer_project
):
    from l1ml.emulate.bdt_fixed import decision_function_fixed
    from l1ml.fixed import FixedType

    root, fw, events, manifest = conifer_project
    ids = {
        step: submit_local(root, step=step, memory="1G", timeout="5m")["id"] for step in ("rtlsim", "csim")
    }
    procs.worker("2G")
    ends = {step: wait_state(jid, timeout=180) for step, jid in ids.items()}
    assert ends["rtlsim"].state == "succeeded", cli("logs", str(ids["rtlsim"])).stdout[-3000:]
    cli("fetch", str(ids["rtlsim"]), "-o", str(tmp_path))
    want = decision_function_fixed(fw / "conifer_model.json", events)
    assert want.shape == (N_EVENTS,) and len(np.unique(want)) > 3  # the trees really split these events
    out = tmp_path / f"job-{ids['rtlsim']}" / "files" / "conifer_vhdl" / "SimulationOutput.txt"
    rtl = np.loadtxt(out, dtype=np.int64, ndmin=2)
    assert rtl.shape[0] == N_EVENTS  # one line per event of the tb data, not conifer's one default event
    frac = FixedType.parse(manifest["precision"]).frac
    np.testing.assert_array_equal(np.ldexp(rtl[:, 0].astype(np.float64), -frac), want)
    summary = json.loads((tmp_path / f"job-{ids['rtlsim']}" / "summary.json").read_text())
    assert summary["state"] == "succeeded" and summary["commands"][-1]["argv"][1] == "-r"

    # csim: the sources compile against the ap_types headers sent with the job, and conifer's own
    # testbench runs over the tb data; its scores are the emulator's, bit for bit.
    csim = ends["csim"]
    assert "-Ifirmware/ap_types" in job(ids["csim"]).commands[0]["argv"]
    assert csim.state == "succeeded", cli("logs", str(ids["csim"])).stdout[-3000:]
    assert manifest["top_function_completed"] is True
    cli("fetch", str(ids["csim"]), "-o", str(tmp_path))
    res = tmp_path / f"job-{ids['csim']}" / "files" / "conifer_hls" / "tb_data" / "csim_results.log"
    csim_scores = np.loadtxt(res, ndmin=2)
    assert csim_scores.shape[0] == N_EVENTS
    np.testing.assert_array_equal(csim_scores[:, 0], want)
