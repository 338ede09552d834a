"""The queue's vendor steps (csynth, cosim, vsynth) against hls4ml's and conifer's own build(), with fake
vendor tools on PATH (fake_tools.py): for every tool set (Vivado HLS 2020.1, Vitis 2024.2 with vitis_hls,
Vitis >= 2025.1 with vitis-run only), both libraries' build() and the queue's job must issue the same
commands, in the same project directories, with the same Tcl options; and the summary fetched from the job
must hold the figures of the real Vivado reports the fakes leave behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_tools import (
    EXPECTED_CSYNTH,
    EXPECTED_VSYNTH,
    FIXTURES,
    TOOLSETS,
    comparable,
    install,
    read_calls,
    sandbox_settings,
)

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"vendor-report fixtures not at {FIXTURES}")

STEPS = ("csynth", "cosim", "vsynth")
# The options each step means, stated here independently of l1ml.firmware.hls_steps: C synthesis after a fresh
# reset, csim never (it is its own step), cosim and the export/logic synthesis only for their steps.
HLS4ML_OPTS = {
    step: {
        "reset": True,
        "csim": False,
        "synth": True,
        "cosim": step == "cosim",
        "validation": False,
        "export": step == "vsynth",
        "vsynth": step == "vsynth",
        "fifo_opt": False,
    }
    for step in STEPS
}
CONIFER_OPTS = {
    step: {"reset": True, "csim": False, "synth": True, "cosim": step == "cosim", "vsynth": step == "vsynth"}
    for step in STEPS
}


def _write_project(root: Path, name: str, body: str):
    from l1ml.project import load_project

    root.mkdir(parents=True)
    (root / "project.toml").write_text(f'name = "{name}"\n' + body)
    return load_project(root)


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    """Firmware as `l1ml convert` writes it: hls4ml projects for the Vivado and Vitis backends (a tiny
    QKeras network), and a conifer xilinxhls project (a tiny xgboost BDT)."""
    pytest.importorskip("hls4ml")
    pytest.importorskip("conifer")
    xgb = pytest.importorskip("xgboost")
    import numpy as np
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    from l1ml.firmware import convert
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls_project import build

    base = tmp_path_factory.mktemp("vendor")
    out = {}
    q = quantized_bits(8, 3, alpha=1)
    inp = keras.Input((4,), name="in")
    h = QDense(3, kernel_quantizer=q, bias_quantizer=q, name="d1")(inp)
    h = QActivation(quantized_relu(8, 3), name="r1")(h)
    model = keras.Model(inp, QDense(1, kernel_quantizer=q, bias_quantizer=q, name="d2")(h))
    for backend in ("Vivado", "Vitis"):
        prj = _write_project(base / backend, f"net{backend.lower()}", f'[firmware]\nbackend = "{backend}"\n')
        fw = prj.firmware_dir("v1")
        build(model, prj, project_board(prj), fw / "hls4ml", "ap_fixed<16,6>")
        (fw / "manifest.json").write_text('{"kind": "dense_ae"}\n')
        out[backend] = prj

    prj = _write_project(
        base / "bdt",
        "bdtv",
        '[model]\nkind = "bdt"\n[firmware]\nprecision = "auto"\n',
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2, random_state=0, n_jobs=1)
    clf.fit(x, (x[:, 0] + x[:, 1] > 0).astype(int))
    model_dir = prj.models_dir / "v1"
    model_dir.mkdir(parents=True)
    clf.get_booster().save_model(str(model_dir / "model.json"))
    (model_dir / "manifest.json").write_text(
        json.dumps({"version": "v1", "kind": "bdt", "model_file": "model.json"})
    )
    convert(prj, "v1")
    out["bdt"] = prj
    return out


LIBRARY_BUILD = {
    "hls4ml": (
        "import json, sys, hls4ml\n"
        "m = hls4ml.converters.link_existing_project(sys.argv[1])\n"
        "m.config.config['OutputDir'] = sys.argv[1]  # the copy, not where it was converted\n"
        "m.build(**json.loads(sys.argv[2]))\n"
    ),
    "conifer": (
        "import json, sys, conifer\n"
        "m = conifer.model.load_model(sys.argv[1] + '/../conifer_model.json')\n"
        "m.config.output_dir = sys.argv[1]\n"
        "sys.exit(0 if m.build(**json.loads(sys.argv[2])) else 1)\n"
    ),
}


def _library_calls(kind: str, fw: Path, step: str, bin_dir: Path, tmp: Path) -> list[dict]:
    """Run the library's own build() on a copy of the firmware, with only the fakes and the system on PATH."""
    copy = tmp / f"lib-{kind}-{step}"
    shutil.copytree(fw, copy)
    log = tmp / f"lib-{kind}-{step}.jsonl"
    install(bin_dir.parent / f"bin-lib-{kind}-{step}", _tools_in(bin_dir), log)
    sub = "hls4ml" if kind == "hls4ml" else "conifer_hls"
    opts = HLS4ML_OPTS[step] if kind == "hls4ml" else CONIFER_OPTS[step]
    env = {**os.environ, "PATH": f"{bin_dir.parent / f'bin-lib-{kind}-{step}'}:/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-c", LIBRARY_BUILD[kind], str(copy / sub), json.dumps(opts)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return comparable(read_calls(log), copy)


def _tools_in(bin_dir: Path) -> list[str]:
    return sorted(p.name for p in bin_dir.iterdir())


@pytest.mark.parametrize("toolset", list(TOOLSETS))
def test_queue_steps_run_what_the_libraries_run(toolset, firmware, home, tmp_path, procs, monkeypatch):
    from synth_helpers import settings, submit_local, wait_state

    from l1ml.synth.client import LocalClient

    (tmp_path / "calls").mkdir()
    log = tmp_path / "calls" / "queue.jsonl"
    bin_dir = install(tmp_path / "bin", TOOLSETS[toolset], log)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin:{Path(sys.executable).parent}")
    # Jobs run sandboxed with a private /tmp: show them the fakes, and let the fakes write their record.
    (tmp_path / "synth.toml").write_text(sandbox_settings(bin_dir, tmp_path / "calls"))
    networks = ["Vivado"] if toolset.startswith("vivado") else ["Vitis"]
    cases = [(firmware[b], "hls4ml") for b in networks] + [(firmware["bdt"], "conifer")]
    procs.worker("2G")
    client = LocalClient(settings())
    seen_tools = set()
    for prj, kind in cases:
        fw = prj.firmware_dir("v1")
        for step in STEPS:
            before = len(read_calls(log))
            jid = submit_local(prj.path, step=step, memory="1G", timeout="2m")["id"]
            j = wait_state(jid, timeout=60)
            assert j.state == "succeeded", (toolset, kind, step, j.reason)
            queue_calls = read_calls(log)[before:]
            # The job ran in its own copy of the firmware: the directory its first command's cwd is in.
            src = Path(queue_calls[0]["cwd"]).resolve()
            for _ in Path(j.commands[0]["cwd"]).parts:
                src = src.parent
            got = comparable(queue_calls, src)
            want = _library_calls(kind, fw, step, bin_dir, tmp_path)
            assert got == want, (toolset, kind, step)
            seen_tools |= {c["tool"] for c in got}
            # Logic synthesis ran Vivado after the HLS tool; the other steps never do.
            assert [c["tool"] == "vivado" for c in got] == ([False, True] if step == "vsynth" else [False])

            d = client.fetch(jid, tmp_path / "fetched")
            summary = json.loads((d / "summary.json").read_text())
            _assert_summary(summary, step)
    # Each tool set ran its own HLS tool: Vitis 2025.1 has only vitis-run, and conifer prefers vivado_hls,
    # then vitis_hls, as conifer's get_hls() does.
    want_tools = {
        "vivado-2020.1": {"vivado_hls", "vivado"},
        "vitis-2024.2": {"vitis-run", "vitis_hls", "vivado"},
        "vitis-2025.1": {"vitis-run", "vivado"},
    }[toolset]
    assert seen_tools == want_tools


def _assert_summary(summary: dict, step: str) -> None:
    assert summary["step"] == step and summary["exit_code"] == 0
    for key in ("latency", "interval", "clock"):
        assert summary[key] == EXPECTED_CSYNTH[key], key
    got = {r: (v["used"], v["available"]) for r, v in summary["csynth"].items()}
    assert {r: got.get(r) for r in EXPECTED_CSYNTH["resources"]} == EXPECTED_CSYNTH["resources"], got
    if step == "vsynth":
        # hls4ml's parser files Vivado's 36 Kb tiles under BRAM_18K; the summary counts 18 Kb blocks.
        assert {r: v["used"] for r, v in summary["vsynth"].items()} == EXPECTED_VSYNTH
    else:
        assert "vsynth" not in summary


def test_the_comparison_catches_a_different_command(firmware, tmp_path):
    """The check above can fail: a plan for the wrong options, or a command line the tool lacks."""
    from l1ml.plan import plan

    bin_dir = install(tmp_path / "bin", TOOLSETS["vitis-2025.1"], tmp_path / "unused.jsonl")
    fw = firmware["bdt"].firmware_dir("v1")
    want = _library_calls("conifer", fw, "csynth", bin_dir, tmp_path)
    # The queue's cosim plan, run the way the worker runs it, is not conifer's csynth.
    src = tmp_path / "src"
    shutil.copytree(fw, src)
    log = tmp_path / "plan.jsonl"
    install(tmp_path / "bin-plan", TOOLSETS["vitis-2025.1"], log)
    p = plan("cosim", src, {t: str(tmp_path / "bin-plan" / t) for t in TOOLSETS["vitis-2025.1"]})
    for rel, text in p.files.items():
        (src / rel).write_text(text)
    subprocess.run(["bash", "-c", p.script()], cwd=src, check=True, capture_output=True)
    got = comparable(read_calls(log), src)
    assert got != want
    assert [c["args"] for c in got] == [c["args"] for c in want]  # same command line...
    assert "cosim 1" in got[0]["tcl"]["build_opt.tcl"] and "cosim 0" in want[0]["tcl"]["build_opt.tcl"]
    # ...and a command line the real tool would refuse fails, as it would on a build host.
    r = subprocess.run(
        [str(bin_dir / "vitis-run"), "-f", "build_hls.tcl"], cwd=src / "conifer_hls", capture_output=True
    )
    assert r.returncode == 2 and b"--mode hls" in r.stderr
