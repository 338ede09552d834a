"""The queue's csynth/cosim/vsynth for hls4ml's Catapult and Quartus projects against hls4ml's own build(),
with fake tools on PATH (tests/vendor/fake_tools.py, fake_backends.py): the job must issue exactly the
commands build() issues, in the same directories, and its fetched summary must hold the figures of the
hand-written reports (tests/backends/fixtures/) the fakes leave behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from backends_helpers import project
from fake_backends import BACKEND_TOOLSETS
from fake_tools import comparable, install, read_calls, sandbox_settings

from l1ml.firmware.backends.steps import LIBERO_COMMANDS, ONEAPI_TARGETS

pytestmark = pytest.mark.slow

STEPS = ("csynth", "cosim", "vsynth")


class _Firmware(dict):
    """hls4ml projects as `l1ml convert` writes them, converted on first use, for a tiny QKeras network
    with one input and one output (hls4ml's Quartus testbench takes no more)."""

    def __init__(self, base: Path):
        super().__init__()
        self.base = base

    def __missing__(self, backend: str):
        from qkeras import QActivation, QDense, quantized_bits, quantized_relu
        from tensorflow import keras

        from l1ml.firmware.boards import project_board
        from l1ml.firmware.hls_project import build

        q = quantized_bits(8, 3, alpha=1)
        inp = keras.Input((4,), name="in")
        h = QDense(3, kernel_quantizer=q, bias_quantizer=q, name="d1")(inp)
        h = QActivation(quantized_relu(8, 3), name="r1")(h)
        model = keras.Model(inp, QDense(1, kernel_quantizer=q, bias_quantizer=q, name="d2")(h))
        prj = project(self.base / backend, backend, name=f"net{backend.lower()}")
        fw = prj.firmware_dir("v1")
        # hls4ml's Libero backend reads the SmartHLS installation at conversion: the fake's, here.
        shls = install(self.base / "bin-convert", ["shls"], self.base / "convert.jsonl")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PATH", f"{shls}:{os.environ['PATH']}")
            build(model, prj, project_board(prj), fw / "hls4ml", "ap_fixed<16,6>")
        (fw / "manifest.json").write_text('{"kind": "dense_ae"}\n')
        self[backend] = prj
        return prj


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    pytest.importorskip("hls4ml")
    return _Firmware(tmp_path_factory.mktemp("backends"))


LIBRARY_BUILD = (
    "import json, sys, hls4ml\n"
    "m = hls4ml.converters.link_existing_project(sys.argv[1])\n"
    "m.config.config['OutputDir'] = sys.argv[1]  # the copy, not where it was converted\n"
    "try:\n"
    "    m.build(**json.loads(sys.argv[2]))\n"
    "except Exception as exc:  # its report reader, after the commands: not what is compared here\n"
    "    print('report:', type(exc).__name__, exc)\n"
)


def _library_calls(backend: str, fw: Path, step: str, tmp: Path) -> list[dict]:
    """hls4ml's own build() on a copy of the firmware, with only the fakes and the system on PATH."""
    from l1ml.firmware.backends.steps import build_kwargs

    copy = tmp / f"lib-{backend}-{step}"
    shutil.copytree(fw, copy)
    log = tmp / f"lib-{backend}-{step}.jsonl"
    bin_dir = install(tmp / f"bin-lib-{backend}-{step}", BACKEND_TOOLSETS[backend], log)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-c", LIBRARY_BUILD, str(copy / "hls4ml"), json.dumps(build_kwargs(backend, step))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return _norm(comparable(read_calls(log), copy), copy, bin_dir)


def _norm(calls: list[dict], root: Path, bin_dir: Path) -> list[dict]:
    """Arguments with the project's and the fakes' locations replaced (CMake writes absolute paths)."""
    subs = [(str(Path(root).resolve()), "<root>"), (str(root), "<root>"), (str(bin_dir), "<bin>")]

    def norm(a: str) -> str:
        for old, new in subs:
            a = a.replace(old, new)
        return a

    return [{**c, "args": [norm(a) for a in c["args"]]} for c in calls]


EXPECTED = {
    # tests/backends/fixtures/catapult: rtl.rpt's Design Total, the Vivado reports, at the 4.166667 ns clock
    "Catapult": {
        "latency": {"best_cycles": 9, "worst_cycles": 9, "best_ns": 37.5, "worst_ns": 37.5},
        "interval": {"min": 1, "max": 1},
        "vsynth": {"LUT": 3120, "FF": 1874, "BRAM_18K": 2, "DSP": 41},
        "estimated_ns": 3.35,  # 4.166667 - WNS 0.817
    },
    # tests/backends/fixtures/quartus: the testbench's latency 24..27 cycles, II 1; i++ estimates; the fit
    "Quartus": {
        "latency": {
            "best_cycles": 24,
            "worst_cycles": 27,
            "best_ns": 100.0,
            "worst_ns": 112.5,
            "average_cycles": 25.5,
        },
        "interval": {"min": 1, "max": 1},
        "csynth": {"ALUT": 6862, "FF": 5912, "RAM": 0, "DSP": 20, "MLAB": 0},
        "vsynth": {"ALM": 3981.5, "REG": 7120, "DSP": 20, "RAM": 0, "MLAB": 12},
        "estimated_ns": 3.48,  # Fmax 287.36 MHz
    },
    # tests/backends/fixtures/libero: the co-simulation's 22 cycles per call, II 1 (cosim only); the RTL
    # synthesis's resources and 3.555 ns period (vsynth only)
    "Libero": {
        "latency": {"best_cycles": 22, "worst_cycles": 22, "best_ns": 91.667, "worst_ns": 91.667},
        "interval": {"min": 1, "max": 1},
        "vsynth": {
            "Fabric + Interface 4LUT": 1822,
            "Fabric + Interface DFF": 1403,
            "I/O Register": 0,
            "User I/O": 0,
            "uSRAM": 0,
            "LSRAM": 0,
            "Math": 14,
        },
        "estimated_ns": 3.555,
    },
    # tests/backends/fixtures/oneapi: the worst loop's latency 31 and II 1; the estimates; the Quartus fit
    "oneAPI": {
        "latency": {"best_cycles": None, "worst_cycles": 31, "best_ns": None, "worst_ns": 129.167},
        "interval": {"min": None, "max": 1},
        "csynth": {"ALUT": 4821, "FF": 5176, "RAM": 0, "DSP": 12, "MLAB": 0},
        "vsynth": {"ALM": 2210.5, "ALUT": 3302, "REG": 4409, "DSP": 12, "RAM": 0, "MLAB": 7},
        "estimated_ns": 2.424,  # Fmax 412.5 MHz
    },
}


@pytest.mark.parametrize(
    # oneAPI configures with the real CMake twice per step (~30 s more): with the extended tests
    "backend",
    ["Catapult", "Quartus", pytest.param("oneAPI", marks=pytest.mark.extended)],
)
def test_queue_steps_run_what_hls4ml_build_runs(backend, firmware, home, tmp_path, procs, monkeypatch):
    from synth_helpers import settings, submit_local, wait_state

    from l1ml.synth.client import LocalClient

    (tmp_path / "calls").mkdir()
    log = tmp_path / "calls" / "queue.jsonl"
    bin_dir = install(tmp_path / "bin", BACKEND_TOOLSETS[backend], log)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin:{Path(sys.executable).parent}")
    (tmp_path / "synth.toml").write_text(sandbox_settings(bin_dir, tmp_path / "calls"))
    prj = firmware[backend]
    fw = prj.firmware_dir("v1")
    procs.worker("2G")
    client = LocalClient(settings())
    for step in STEPS:
        before = len(read_calls(log))
        jid = submit_local(prj.path, step=step, memory="1G", timeout="2m")["id"]
        j = wait_state(jid, timeout=60)
        assert j.state == "succeeded", (backend, step, j.reason)
        queue_calls = read_calls(log)[before:]
        src = Path(queue_calls[0]["cwd"]).resolve()
        for _ in Path(j.commands[0]["cwd"]).parts:
            src = src.parent
        got = _norm(comparable(queue_calls, src), src, bin_dir)
        want = _library_calls(backend, fw, step, tmp_path)
        assert got == want, (backend, step)
        tools = [c["tool"] for c in got]
        if backend == "Catapult":
            assert tools == ["catapult"]
            assert ("vsynth=True" in got[0]["args"][-1]) == (step == "vsynth")
        elif backend == "Libero":  # shls -s clean, hw, then cosim or rtl_synth
            assert [c["args"] for c in got] == [["-s", c] for c in LIBERO_COMMANDS[step]]
        elif backend == "oneAPI":  # cmake .. and make <target> in build/; make runs icpx
            assert tools[:2] == ["cmake", "make"] and got[1]["args"] == [ONEAPI_TARGETS[step]]
            links = [c for c in got if c["tool"] == "icpx" and "-c" not in c["args"]]
            assert links and any("-fsycl-link=early" in c["args"] for c in links) == (step == "csynth")
            assert (tools[-1] == "icpx executable") == (step == "cosim")
        else:  # make runs the Makefile's i++, then build() runs the testbench i++ made
            assert tools == ["make", "i++", "i++ testbench"]
            assert ("--quartus-compile" in got[1]["args"]) == (step == "vsynth")

        summary = json.loads((client.fetch(jid, tmp_path / "fetched") / "summary.json").read_text())
        _assert_summary(backend, summary, step)


def _assert_summary(backend: str, summary: dict, step: str) -> None:
    want = EXPECTED[backend]
    assert summary["step"] == step and summary["exit_code"] == 0 and summary["backend"] == backend
    if backend == "Libero" and step != "cosim":  # SmartHLS reports latency only from its co-simulation
        assert summary["latency"]["worst_cycles"] is None and summary["interval"]["max"] is None
    else:
        assert summary["latency"] == want["latency"] and summary["interval"] == want["interval"]
    if "csynth" in want:
        assert {k: v["used"] for k, v in summary["csynth"].items()} == want["csynth"]
    if step == "vsynth":
        assert {k: v["used"] for k, v in summary["vsynth"].items()} == want["vsynth"]
        assert summary["clock"]["estimated_ns"] == pytest.approx(want["estimated_ns"], abs=1e-3)
    else:
        assert "vsynth" not in summary


def test_the_comparison_catches_a_different_command(firmware, tmp_path, monkeypatch):
    """The check above can fail: a plan for other options differs from build()'s; the fakes refuse command
    lines the real tools refuse; a missing tool fails the plan naming it, never a faked success."""
    from l1ml.errors import L1mlError, ToolNotFound
    from l1ml.plan import plan

    fw = firmware["Catapult"].firmware_dir("v1")
    want = _library_calls("Catapult", fw, "csynth", tmp_path)
    src = tmp_path / "src"
    shutil.copytree(fw, src)
    log = tmp_path / "plan.jsonl"
    bin_dir = install(tmp_path / "bin-plan", BACKEND_TOOLSETS["Catapult"], log)
    p = plan("cosim", src, {t: str(bin_dir / t) for t in BACKEND_TOOLSETS["Catapult"]})
    subprocess.run(["bash", "-c", p.script()], cwd=src, check=True, capture_output=True)
    got = comparable(read_calls(log), src)
    assert got != want
    assert got[0]["args"][:-1] == want[0]["args"][:-1]  # same tool and script...
    assert "cosim=True" in got[0]["args"][-1] and "cosim=False" in want[0]["args"][-1]  # ...other options

    hls = src / "hls4ml"
    for argv in (
        [bin_dir / "catapult", "-product", "ultra", "-f", "build_prj.tcl"],  # no -shell: the GUI
        [bin_dir / "catapult", "-shell", "-f", "build_prj.tcl", "-file", "x"],  # an option it lacks
        [bin_dir / "catapult", "-shell", "-f", "missing.tcl"],
    ):
        r = subprocess.run([str(a) for a in argv], cwd=hls, capture_output=True)
        assert r.returncode == 2, argv
    ipp = install(tmp_path / "bin-ipp", ["i++"], tmp_path / "ipp.jsonl") / "i++"
    assert subprocess.run([str(ipp), "--bogus", "a.cpp"], cwd=hls, capture_output=True).returncode == 2
    assert (
        subprocess.run([str(ipp), "-march=Arria10", "none.cpp"], cwd=hls, capture_output=True).returncode == 1
    )

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(ToolNotFound, match="needs catapult"):
        plan("csynth", src, {})
    qsrc = tmp_path / "qsrc"
    shutil.copytree(firmware["Quartus"].firmware_dir("v1"), qsrc)
    tools = {t: str(install(tmp_path / "bin-q", ["i++"], tmp_path / "q.jsonl") / t) for t in ("i++",)}
    assert plan("csynth", qsrc, tools).commands[0]["argv"][1:] == [f"{_name(qsrc)}-fpga", "LOGGING_1=-v"]
    with pytest.raises(ToolNotFound, match="needs quartus_sh"):
        plan("vsynth", qsrc, tools)
    # hls4ml writes no Quartus testbench for a model with two outputs (the dense AE): refused by name.
    next((qsrc / "hls4ml").glob("*_test.cpp")).unlink()
    with pytest.raises(L1mlError, match="backend 'Quartus': hls4ml wrote no .*_test.cpp"):
        plan("csynth", qsrc, tools)


def _name(src: Path) -> str:
    from l1ml.firmware.backends.projects import project_name

    return project_name(src / "hls4ml")
