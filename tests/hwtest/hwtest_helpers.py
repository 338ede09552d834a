"""Helpers for the hwtest tests: a firmware version laid out as `l1ml convert` writes it (manifest.json and
tb_data with the emulator's exact outputs), a bitstream, the fake hardware manager on PATH, and the queue's
sandbox told where the fakes are. A uniquely named module, as tests/synth/synth_helpers.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

# 40-bit outputs take two 32-bit words each on the AXI bus: the lane packing is exercised, signs too.
INPUT_TYPE = "ap_fixed<16,6>"
OUTPUTS = [{"name": "layer3_out", "size": 2, "shape": [2], "precision": "ap_fixed<40,20>"}]
EVENTS = 6


def make_firmware(root: Path, name: str = "hw", board: str = "vu9p", events: int = EVENTS) -> Path:
    """projects/<name>/ with firmware v1: manifest.json and hls4ml/tb_data as convert writes them."""
    prj = root / name
    fw = prj / "build" / "firmware" / "v1"
    tb = fw / "hls4ml" / "tb_data"
    tb.mkdir(parents=True)
    (prj / "project.toml").write_text(f'name = "{name}"\n[firmware]\nboard = "{board}"\n')
    rng = np.random.default_rng(7)
    x = rng.normal(0, 3, size=(events, 4))
    # Outputs as the emulator writes them: exact values of ap_fixed<40,20>, of both signs, some needing
    # the high word.
    codes = rng.integers(-(2**39), 2**39, size=(events, 2))
    np.savetxt(tb / "tb_input_features.dat", x, fmt="%.17g")
    np.savetxt(tb / "tb_output_predictions.dat", codes * 2.0**-20, fmt="%.17g")
    manifest = {"kind": "dense_ae", "version": "v1", "input_precision": INPUT_TYPE, "outputs": OUTPUTS}
    (fw / "manifest.json").write_text(json.dumps(manifest))
    return prj


def make_bitstream(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    bit = d / "design.bit"
    bit.write_bytes(b"\x00\x09\x0f\xf0 a bitstream for the tests\n")
    return bit


def fake_board(tmp_path: Path, monkeypatch, tools=("vivado_lab",), board: dict | None = None) -> Path:
    """The fake hardware manager on PATH; returns the calls log. The jobs' sandbox is told to show the
    fakes and let them write their record (synth.toml, read by workers started after this)."""
    from fake_tools import install, sandbox_settings

    calls = tmp_path / "calls"
    calls.mkdir(exist_ok=True)
    board_file = calls / "board.json"
    board_file.write_text(json.dumps(board or {}))
    bin_dir = install(tmp_path / "bin", tools, calls / "calls.jsonl", board_file=board_file)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin:{Path(sys.executable).parent}")
    (tmp_path / "synth.toml").write_text(sandbox_settings(bin_dir, calls))
    return calls / "calls.jsonl"


def submit_hwtest(project: Path, bitstream: Path, board: str | None = None, memory: str = "300M") -> dict:
    """Submit in-process through the packaging and client the CLI uses."""
    import os
    import shutil

    from synth_helpers import settings

    from l1ml.project import load_project
    from l1ml.synth import hwtest
    from l1ml.synth.client import LocalClient, package

    staged = hwtest.stage_bitstream(bitstream)
    try:
        arc, params = package(
            load_project(project), "v1", "hwtest", memory, "60s", True, {"hwtest/bitstream": staged}, board
        )
    finally:
        shutil.rmtree(staged)
    try:
        return LocalClient(settings()).submit(arc, params)
    finally:
        os.unlink(arc)
