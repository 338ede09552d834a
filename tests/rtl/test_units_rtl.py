"""Fast checks of the RTL path's pieces that need no training: the port packing, Yosys flows and figures
on a small alkaid design, and Vivado's figures found beside them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from rtl_helpers import tiny_design

from l1ml.firmware.rtl.build import pack_hex, unpack_hex
from l1ml.firmware.rtl.yosys import family

VIVADO = (
    Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "vendor-reports" / "vivado-2020.1"
)
for _root in (Path("/work/shared"),):  # worktrees sit one level deeper than the main checkout
    if not VIVADO.is_dir():
        VIVADO = _root / "fixtures" / "vendor-reports" / "vivado-2020.1"


def test_port_packing_round_trips_negative_and_wide_codes():
    codes = np.array([[-1, 5, -(2**40), 2**40 - 1], [0, -7, 3, -(2**41)]])
    lines = pack_hex(codes, 43)
    mask = (1 << 43) - 1
    assert int(lines[0], 16) & mask == mask  # element 0 (-1) at the least significant end
    assert (int(lines[0], 16) >> 43) & mask == 5
    assert np.array_equal(unpack_hex(lines, 43, 4, True), codes)


def test_board_parts_map_to_synth_xilinx_families():
    assert family("xcvu9p-flga2104-2L-e") == "xcup"
    assert family("xcku115-flvb2104-2-e") == "xcu"
    assert family("xc7vx690tffg1927-2") == "xc7"
    assert family("xc7z020clg400-1") == "xc7"
    assert family("5agxfb3h4f35c5") is None


@pytest.mark.extended  # CI proves the xilinx flow once, on the small VAE (test_network_rtl.py)
def test_yosys_xilinx_flow_counts_cells_of_a_pipelined_design(tmp_path):
    from l1ml.firmware.rtl.yosys import synthesize

    rtl = tiny_design(tmp_path, flow="xilinx")
    info = json.loads((rtl / "rtl.json").read_text())
    res = synthesize(rtl, "xilinx")
    assert json.loads((rtl / "resources.json").read_text()) == res
    assert res["flow"] == "synth_xilinx -family xcup" and res["tool"] == "yosys 0.23"
    assert info["pipelined"] and res["latency_cycles"] == info["latency_cycles"] > 0
    assert res["lut"] > 0 and res["ff"] > 0 and res["carry"] > 0 and res["logic_depth"] > 0
    assert res["peak_memory_mb"] > 0 and res["seconds"] > 0
    stat = (rtl / "stat.txt").read_text()
    assert "FDRE" in stat and "LUT" in stat  # the figures come from these cells
    # logic depth is register to register: ltp -noff alone walks through the FDRE cells it does not know
    # (measured: 29 cells against 10 on a 6-stage tiny design); the per-stage flow measures each stage alone
    staged = synthesize(tiny_design(tmp_path / "staged", flow="xilinx"), "xilinx-stages")
    assert res["logic_depth"] <= staged["logic_depth"] + 2


@pytest.mark.skipif(not VIVADO.is_dir(), reason=f"vendor-report fixtures not found at {VIVADO}")
def test_vivado_report_found_beside_the_rtl(tmp_path):
    from l1ml.firmware.rtl import vivado_figures

    assert vivado_figures(tmp_path) is None
    (tmp_path / "results").mkdir()
    shutil.copy(VIVADO / "vivado_synth.rpt", tmp_path / "results" / "vivado_synth.rpt")
    fig = vivado_figures(tmp_path)
    assert (fig["lut"], fig["ff"], fig["dsp"], fig["bram"]) == (1526, 2428, 66, 0)


def test_a_ghdl_without_synthesis_is_named_in_the_plan(tmp_path):
    """ysynth of conifer VHDL refuses, naming the missing piece, when GHDL has no --synth; Debian's has."""
    from l1ml.errors import L1mlError
    from l1ml.firmware.rtl.steps import ghdl_can_synthesise

    old = tmp_path / "ghdl"
    old.write_text(
        "#!/bin/sh\n[ \"$1\" = --version ] && echo 'GHDL 0.37 (old edition)'\necho 'analyze elaborate run'\n"
    )
    old.chmod(0o755)
    with pytest.raises(L1mlError, match=r"needs GHDL's synthesis.*GHDL 0\.37.*ghdl-yosys-plugin"):
        ghdl_can_synthesise(str(old))
    real = shutil.which("ghdl")
    if real:
        ghdl_can_synthesise(real)  # Debian's GHDL 2.0 has synthesis: no error


@pytest.mark.slow
def test_per_stage_flow_sums_the_stage_netlists(tmp_path):
    """generic-stages keeps alkaid's stage modules: the figures are stat -top's totals over every stage,
    the depth the deepest stage's. Against the flat flow on the same design it can only keep more (a
    register bit or constant no later stage needs is not removed across a kept boundary), a few percent."""
    from l1ml.firmware.rtl.yosys import synthesize

    kw = {"n_in": 6, "n_out": 3, "cutoff_ns": 2.0}
    flat_dir, staged_dir = tiny_design(tmp_path / "flat", **kw), tiny_design(tmp_path / "staged", **kw)
    flat = synthesize(flat_dir, "generic")
    staged = synthesize(staged_dir, "generic-stages")
    assert staged["flow"].endswith("per pipeline stage (alkaid's stage modules kept, figures summed)")
    stat = (staged_dir / "stat.txt").read_text()
    assert len(set(re.findall(r"=== (logic\d+) ===", stat))) >= 2 and "=== design hierarchy ===" in stat
    assert flat["ff"] <= staged["ff"] <= 1.1 * flat["ff"] and flat["ff"] > 0
    assert flat["lut"] <= staged["lut"] <= 1.15 * flat["lut"] and flat["lut"] > 0
    ltp = (staged_dir / "ltp.txt").read_text()
    per_stage = [int(n) for n in re.findall(r"Longest topological path in logic\d+ \(length=(\d+)\)", ltp)]
    assert len(per_stage) >= 2 and staged["logic_depth"] == max(per_stage) <= flat["logic_depth"]
