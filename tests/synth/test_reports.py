"""Report parsing on the real Vivado HLS 2020.1 reports in ../shared/fixtures/vendor-reports/."""

import shutil
from pathlib import Path

import pytest

from l1ml.firmware.vendor_reports import board_resources
from l1ml.plan import summarize

FIXTURES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "vendor-reports" / "vivado-2020.1"
)
pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"vendor-report fixtures not found at {FIXTURES}"
)


def _hls4ml_tree(root: Path, with_vsynth: bool = True) -> Path:
    """The fixture files where an hls4ml build leaves them."""
    rep = root / "hls4ml" / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    for f in ("myproject_csynth.xml", "myproject_csynth.rpt"):
        shutil.copy(FIXTURES / f, rep / f)
    shutil.copy(FIXTURES / "vivado_hls.app", root / "hls4ml" / "myproject_prj" / "vivado_hls.app")
    if with_vsynth:
        shutil.copy(FIXTURES / "vivado_synth.rpt", root / "hls4ml" / "vivado_synth.rpt")
    return root


def test_csynth_and_vsynth_values(tmp_path):
    board = {"LUT": 1182240, "FF": 2364480, "DSP": 6840, "BRAM_18K": 4320, "URAM": 960, "part": "xcvu9p"}
    s = summarize(_hls4ml_tree(tmp_path), "vsynth", board)
    assert s["latency"] == {"best_cycles": 10, "worst_cycles": 10, "best_ns": 50.0, "worst_ns": 50.0}
    assert s["interval"] == {"min": 8, "max": 8}
    assert s["clock"] == {"target_ns": 5.0, "estimated_ns": 4.049}
    c = s["csynth"]
    assert (c["BRAM_18K"]["used"], c["BRAM_18K"]["available"]) == (0, 280)
    assert (c["DSP"]["used"], c["DSP"]["available"]) == (73, 220)
    assert (c["FF"]["used"], c["FF"]["available"]) == (7969, 106400)
    assert (c["LUT"]["used"], c["LUT"]["available"]) == (2532, 53200)
    assert c["LUT"]["percent"] == pytest.approx(100 * 2532 / 53200, abs=0.01)
    assert c["DSP"]["board_percent"] == pytest.approx(100 * 73 / 6840, abs=0.01)
    v = s["vsynth"]
    assert (v["LUT"]["used"], v["FF"]["used"], v["DSP"]["used"], v["BRAM_18K"]["used"]) == (1526, 2428, 66, 0)
    assert v["LUT"]["board_percent"] == pytest.approx(100 * 1526 / 1182240, abs=0.01)


def test_conifer_hls_layout_and_no_board(tmp_path):
    # conifer's xilinxhls backend: <out>/<project>/solution1/syn/report/<project>_csynth.xml, no *_prj suffix.
    rep = tmp_path / "conifer_hls" / "my_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    xml = (FIXTURES / "myproject_csynth.xml").read_text()
    (rep / "my_prj_csynth.xml").write_text(xml)
    s = summarize(tmp_path, "csynth", None)
    assert s["latency"]["best_cycles"] == 10 and s["csynth"]["DSP"]["board_percent"] is None
    assert "vsynth" not in s


def test_vsynth_report_alone(tmp_path):
    shutil.copy(FIXTURES / "vivado_synth.rpt", tmp_path / "vivado_synth.rpt")
    s = summarize(tmp_path, "vsynth", None)
    assert s["vsynth"]["LUT"]["used"] == 1526 and "latency" not in s


def test_board_file(tmp_path):
    (tmp_path / "tiny.toml").write_text(
        'part = "xc7z020clg400-1"\nclock_period_ns = 5.0\nclock_uncertainty_pct = 12.5\n'
        "[resources]\nlut = 53200\nff = 106400\ndsp = 220\nbram_36k = 140\nuram = 0\n"
    )
    assert board_resources("tiny", tmp_path) == {
        "LUT": 53200,
        "FF": 106400,
        "DSP": 220,
        "BRAM_18K": 280,
        "URAM": 0,
        "part": "xc7z020clg400-1",
    }
    assert board_resources("nope", tmp_path) is None


def test_repository_boards_have_resources():
    vu9p = board_resources("vu9p")  # l1ml/boards/vu9p.toml ships with the package: never absent
    assert vu9p is not None
    assert vu9p["LUT"] > 1_000_000 and vu9p["BRAM_18K"] > 0 and vu9p["part"].startswith("xcvu9p")
