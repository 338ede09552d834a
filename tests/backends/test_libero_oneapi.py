"""Microchip Libero (SmartHLS): hls4ml 1.3.0 cannot write its project (its package lacks the Libero
build_lib.sh template), so conversion is refused by name. The queue's commands are still checked against
hls4ml's own LiberoBackend.build() with a fake shls, on a project directory holding what the queue reads,
and the summary against the hand-written SmartHLS report fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_tools import comparable, install, read_calls

from l1ml.firmware.backends.steps import LIBERO_COMMANDS, build_kwargs

STEPS = ("csim", "csynth", "cosim", "vsynth")

BUILD = (
    "import json, sys\n"
    "from types import SimpleNamespace\n"
    "from hls4ml.backends import get_backend\n"
    "cfg = SimpleNamespace(get_output_dir=lambda: sys.argv[1])\n"
    "get_backend('Libero').build(SimpleNamespace(config=cfg), **json.loads(sys.argv[2]))\n"
)


def _project(d: Path) -> Path:
    """What hls4ml's Libero writer leaves that the queue reads: the config and SmartHLS's Makefile."""
    hls = d / "hls4ml"
    hls.mkdir(parents=True)
    (hls / "hls4ml_config.yml").write_text("Backend: Libero\nProjectName: l1ml_net\nClockPeriod: 4.166667\n")
    (hls / "Makefile").write_text("NAME = l1ml_net\nSRCS = firmware/l1ml_net.cpp l1ml_net_test.cpp\n")
    return d


@pytest.mark.parametrize("step", STEPS)
def test_queue_commands_are_hls4ml_build_s_and_the_summary_holds_the_report(step, tmp_path):
    pytest.importorskip("hls4ml")
    from l1ml.firmware.backends.reports import summarize
    from l1ml.plan import plan

    lib = _project(tmp_path / "lib")
    log = tmp_path / "lib.jsonl"
    bin_lib = install(tmp_path / "bin-lib", ["shls"], log)
    env = {**os.environ, "PATH": f"{bin_lib}:/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-c", BUILD, str(lib / "hls4ml"), json.dumps(build_kwargs("Libero", step))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    want = comparable(read_calls(log), lib)

    src = _project(tmp_path / "src")
    qlog = tmp_path / "queue.jsonl"
    bin_q = install(tmp_path / "bin-q", ["shls"], qlog)
    p = plan(step, src, {"shls": str(bin_q / "shls")})
    subprocess.run(["bash", "-c", p.script()], cwd=src, check=True, capture_output=True)
    got = comparable(read_calls(qlog), src)
    assert got == want and [c["args"] for c in got] == [["-s", c] for c in LIBERO_COMMANDS[step]]

    s = summarize(src, step)
    assert s["backend"] == "Libero"
    if step == "cosim":
        assert s["latency"]["worst_cycles"] == 22 and s["interval"] == {"min": 1, "max": 1}
    if step == "vsynth":
        assert {k: v["used"] for k, v in s["vsynth"].items()}["Math"] == 14
        assert s["clock"]["estimated_ns"] == 3.555 and s["clock"]["fmax_mhz"] == 281.294
    else:
        assert "vsynth" not in s


def test_libero_conversion_is_refused_by_name(tmp_path):
    pytest.importorskip("hls4ml")
    from backends_helpers import project
    from qkeras import QDense, quantized_bits
    from tensorflow import keras

    from l1ml.errors import L1mlError
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls_project import build

    q = quantized_bits(8, 3, alpha=1)
    inp = keras.Input((4,), name="in")
    model = keras.Model(inp, QDense(1, kernel_quantizer=q, bias_quantizer=q, name="d")(inp))
    prj = project(tmp_path / "p", "Libero")
    with pytest.raises(L1mlError, match=r"backend 'Libero': hls4ml .* needs .*libero/build_lib\.sh"):
        build(model, prj, project_board(prj), tmp_path / "out", "ap_fixed<16,6>")
    # ...and a board of the wrong vendor is refused first, naming both.
    xil = project(tmp_path / "x", "Quartus")
    (xil.path / "project.toml").write_text('name = "x"\n[firmware]\nbackend = "Quartus"\nboard = "vu9p"\n')
    from l1ml.project import load_project

    xil = load_project(xil.path)
    with pytest.raises(L1mlError, match=r"backend 'Quartus' targets intel FPGAs, but board 'vu9p'"):
        build(model, xil, project_board(xil), tmp_path / "out2", "ap_fixed<16,6>")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_oneapi_converts_but_its_csim_is_refused_naming_icpx(tmp_path):
    """oneAPI's project is written (hls4ml allows the model), but its SYCL C++ needs Intel's icpx: the C
    simulation is refused in one line, and the emulator's agreement is claimed for Catapult/Quartus only."""
    pytest.importorskip("hls4ml")
    from backends_helpers import project
    from qkeras import QDense, quantized_bits
    from tensorflow import keras

    from l1ml.firmware.boards import project_board
    from l1ml.firmware.csim import compile_cached
    from l1ml.firmware.hls_project import build
    from l1ml.firmware.names import top_name
    from l1ml.fixed import UnsupportedError

    q = quantized_bits(8, 3, alpha=1)
    inp = keras.Input((4,), name="in")
    model = keras.Model(inp, QDense(1, kernel_quantizer=q, bias_quantizer=q, name="d")(inp))
    prj = project(tmp_path / "p", "oneAPI")
    out = tmp_path / "out"
    build(model, prj, project_board(prj), out, "ap_fixed<16,6>")
    assert (out / "CMakeLists.txt").is_file() and "ac_fixed<" in (out / "src/firmware/defines.h").read_text()
    with pytest.raises(UnsupportedError, match=r"^backend 'oneAPI': .*icpx.*not installed here$"):
        compile_cached(out, top_name(prj))
