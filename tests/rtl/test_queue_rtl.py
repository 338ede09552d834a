"""The open-source steps on the synthesis queue, run by a real worker process: Yosys jobs admitted against
a memory budget, a network's rtlsim (Verilator, bit for bit) passing and failing, and conifer VHDL through
ghdl --synth and Yosys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rtl_helpers import tiny_design
from synth_helpers import job, settings, submit_local, wait_for, wait_state


def _project(root: Path, name: str = "tiny", **kw) -> Path:
    prj = root / name
    fw = prj / "build" / "firmware" / "v1"
    fw.mkdir(parents=True)
    (prj / "project.toml").write_text(f'name = "{name}"\n[firmware]\nboard = "vu9p"\n')
    (fw / "manifest.json").write_text('{"kind": "dense_ae"}\n')
    tiny_design(fw, **kw)
    return prj


def _summary(job_id: int) -> dict:
    return json.loads((settings().work / str(job_id) / "summary.json").read_text())


def _log(job_id: int) -> str:
    return (settings().work / str(job_id) / "job.log").read_text()


@pytest.mark.slow
def test_ysynth_jobs_wait_for_memory(home, procs, tmp_path):
    """Budget 1300M, three 600M Yosys jobs: two run at once, the third waits until one has finished.
    (Yosys and its ABC children peak at 290-340M here, summed RSS; 300M was declared once and CI's run
    went over it.)"""
    prj = _project(tmp_path, n_in=16, n_out=8)
    ids = [submit_local(prj, "ysynth", memory="600M", timeout="20m")["id"] for _ in range(3)]
    procs.worker("1300M", log=tmp_path / "worker.log")
    wait_for(lambda: all(job(i).state == "running" for i in ids[:2]), 60, what="two Yosys jobs running")
    assert job(ids[2]).state == "queued"  # the third does not fit beside them
    done = [wait_state(i, timeout=900) for i in ids]
    assert [j.state for j in done] == ["succeeded"] * 3, [(j.state, j.reason) for j in done]
    first_end = min(done[0].ended_at, done[1].ended_at)
    assert done[2].started_at >= first_end
    assert max(done[0].started_at, done[1].started_at) < first_end  # the first two overlapped
    s = _summary(ids[0])["ysynth"]
    assert s["tool"] == "yosys 0.23" and s["flow"].startswith("synth;") and "not Vivado" in s["label"]
    assert s["lut"] > 0 and s["dsp"] == 0 and s["peak_memory_mb"] > 0 and s["logic_depth"] > 0
    assert all(j.peak_memory and j.peak_memory > 0 for j in done)  # measured by the dispatcher too


@pytest.mark.slow
def test_rtlsim_job_compares_bit_for_bit(home, procs, tmp_path):
    """A network's rtlsim job: Verilator runs the design; one flipped bit in the expected outputs fails it."""
    prj = _project(tmp_path)
    ok = submit_local(prj, "rtlsim", memory="500M", timeout="20m")["id"]
    procs.worker("1G", log=tmp_path / "worker.log")
    j = wait_state(ok, timeout=900)
    assert j.state == "succeeded", (j.reason, _log(ok))
    assert _summary(ok)["rtlsim"]["identical_events"] == 2000
    assert "2000 of 2000 events bit-identical" in _log(ok)
    exp = prj / "build" / "firmware" / "v1" / "rtl" / "tb" / "expected.hex"
    lines = exp.read_text().split()
    lines[7] = f"{int(lines[7], 16) ^ 1:0{len(lines[7])}x}"  # one LSB of event 7's first output
    exp.write_text("\n".join(lines) + "\n")
    bad = submit_local(prj, "rtlsim", memory="500M", timeout="20m")["id"]
    j = wait_state(bad, timeout=900)
    assert j.state == "failed"
    assert "1999 of 2000 events bit-identical" in _log(bad) and "event 7, out[0]" in _log(bad)


@pytest.mark.slow
def test_ysynth_of_conifer_vhdl_uses_ghdl_synth(home, procs, tmp_path):
    """A real conifer 1.11 VHDL project (a 5-tree xgboost BDT, written by conifer's own VHDL writer):
    Debian's GHDL 2.0 synthesises it to a Verilog netlist (--synth --out=verilog), Yosys maps that, as
    there is no ghdl-yosys-plugin. The testbench files stay out of synthesis."""
    from rtl_helpers import conifer_vhdl

    prj = tmp_path / "bdt"
    fw = prj / "build" / "firmware" / "v1"
    fw.mkdir(parents=True)
    (prj / "project.toml").write_text('name = "bdt"\n[firmware]\nboard = "vu9p"\n')
    (fw / "manifest.json").write_text('{"kind": "bdt"}\n')
    conifer_vhdl(fw / "conifer_vhdl")
    assert (fw / "conifer_vhdl" / "firmware" / "Tree.vhd").is_file()  # conifer's own sources
    jid = submit_local(prj, "ysynth", memory="500M", timeout="10m")["id"]
    procs.worker("1G", log=tmp_path / "worker.log")
    j = wait_state(jid, timeout=600)
    assert j.state == "succeeded", (j.reason, _log(jid))
    s = _summary(jid)["ysynth"]
    assert (
        "ghdl --synth" in s["label"] and "not Vivado" in s["label"] and s["flow"].startswith("ghdl --synth")
    )
    # conifer's trees are pipelined: registers and LUTs both, and a finite register-to-register depth
    assert s["lut"] > 50 and s["ff"] > 50 and s["dsp"] == 0 and 0 < s["logic_depth"] < 100
    netlist = next((settings().work / str(jid)).glob("*/src/conifer_vhdl/ghdl_synth.v")).read_text()
    assert "module bdttop" in netlist.lower() and "testbench" not in netlist.lower()


@pytest.mark.extended
def test_ysynth_of_a_57_64_32_16_network_waits_for_memory(home, procs, tmp_path, small_data):
    """The issue's case: a trained 57-64-32-16 encoder's design, synthesised by Yosys (synth_xilinx per
    pipeline stage) in three 2.5G jobs on a 5.5G budget: two run at once, the third waits; each peak is
    measured."""
    from rtl_helpers import BIG, trained

    from l1ml.firmware.rtl.build import build_rtl

    proj, _ = trained(
        tmp_path, "vae_encoder", small_data, **BIG, **{"firmware.rtl_yosys_flow": "xilinx-stages"}
    )
    build_rtl(proj)
    ids = [submit_local(proj.path, "ysynth", memory="2.5G", timeout="3h")["id"] for _ in range(3)]
    procs.worker("5.5G", log=tmp_path / "worker.log")
    wait_for(lambda: all(job(i).state == "running" for i in ids[:2]), 120, what="two Yosys jobs running")
    assert job(ids[2]).state == "queued"
    done = [wait_state(i, timeout=3 * 3600) for i in ids]
    assert [j.state for j in done] == ["succeeded"] * 3, [(j.state, j.reason) for j in done]
    assert done[2].started_at >= min(done[0].ended_at, done[1].ended_at)
    for i, j in zip(ids, done, strict=True):
        s = _summary(i)["ysynth"]
        print(
            f"job {i}: started {j.started_at:.0f}, ended {j.ended_at:.0f}; Yosys {s['cpu_seconds']:.0f} s CPU, "
            f"peak {s['peak_memory_mb']:.0f} MB (job peak {j.peak_memory / 2**20:.0f} MiB); LUT {s['lut']}, "
            f"FF {s['ff']}, DSP {s['dsp']}, depth {s['logic_depth']}, {s['latency_cycles']} cycles; {s['flow']}"
        )
        assert s["lut"] > 0 and s["peak_memory_mb"] > 100
