"""Vitis/Vivado reports of a finished queue step -> one JSON summary: latency (cycles and ns), interval, clock, and
LUT/FF/DSP/BRAM/URAM with their percentages of the part and of the project's board.

The parsing itself is hls4ml's ``parse_vivado_report`` (for hls4ml and conifer HLS projects alike: we
present the files in the layout it expects) and conifer's ``read_vsynth_report`` for conifer's VHDL
``util.rpt``. This module only locates the files and normalises the result.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from l1ml.errors import L1mlError

RESOURCES = ("LUT", "FF", "DSP", "BRAM_18K", "URAM")


def board_resources(name: str, boards_dir: Path | None = None) -> dict | None:
    """The board's resources keyed like RESOURCES (BRAM in 18 Kb blocks), or None if the board is unknown.

    Reads the board through l1ml.firmware.boards; both its layout (a [resources] table with bram_36k)
    and a flat one (lut, ff, dsp, bram_18k, uram) are understood."""
    if not name:
        return None
    from l1ml.firmware.boards import load_board

    try:
        data = load_board(name, boards_dir).to_dict()
    except L1mlError:  # an unknown board: the summary simply has no board percentages
        data = None
    if data is None:
        return None
    res = {**data, **data.get("resources", {})}
    bram18 = res.get("bram_18k")
    if bram18 is None and res.get("bram_36k") is not None:
        bram18 = 2 * res["bram_36k"]
    return {
        "LUT": res.get("lut"),
        "FF": res.get("ff"),
        "DSP": res.get("dsp"),
        "BRAM_18K": bram18,
        "URAM": res.get("uram"),
        "part": data.get("part"),
    }


def _int(v) -> int | None:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def _float(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _pct(used, avail) -> float | None:
    return round(100.0 * used / avail, 2) if used is not None and avail else None


def _resources(used: dict, available: dict, board: dict | None) -> dict:
    out = {}
    for r in RESOURCES:
        u = _int(used.get(r))
        if u is None:
            continue
        a = _int(available.get(r))
        out[r] = {
            "used": u,
            "available": a,
            "percent": _pct(u, a),
            "board_available": board.get(r) if board else None,
            "board_percent": _pct(u, board.get(r)) if board else None,
        }
    return out


def parse_hls_project(
    csynth_xml: Path, vivado_synth: Path | None = None, tb_data: Path | None = None
) -> dict:
    """Run hls4ml's parse_vivado_report over one solution's report,
    …/<solution>/syn/report/<top>_csynth.xml."""
    from hls4ml.report.vivado_report import parse_vivado_report

    top = csynth_xml.name.removesuffix("_csynth.xml")
    solution = csynth_xml.parent.parent.parent
    with tempfile.TemporaryDirectory(prefix="l1ml-report-") as tmp:
        stage = Path(tmp)
        (stage / "project.tcl").write_text(f'set project_name "{top}"\nset backend "vivado"\n')
        prj = stage / f"{top}_prj"
        prj.mkdir()
        (prj / "vivado_hls.app").write_text(
            f'<project><solutions><solution name="{solution.name}"/></solutions></project>\n'
        )
        (prj / solution.name).symlink_to(solution.resolve())
        if vivado_synth is not None:
            (stage / "vivado_synth.rpt").symlink_to(vivado_synth.resolve())
        if tb_data is not None:
            (stage / "tb_data").symlink_to(tb_data.resolve())
        with contextlib.redirect_stdout(io.StringIO()):  # it prints progress; we return values
            return parse_vivado_report(str(stage)) or {}


def summarize_hls(report: dict, board: dict | None) -> dict:
    out: dict = {}
    c = report.get("CSynthesisReport")
    if c:
        target = _float(c.get("TargetClockPeriod"))
        best, worst = _int(c.get("BestLatency")), _int(c.get("WorstLatency"))
        out["clock"] = {"target_ns": target, "estimated_ns": _float(c.get("EstimatedClockPeriod"))}
        out["latency"] = {
            "best_cycles": best,
            "worst_cycles": worst,
            "best_ns": round(best * target, 3) if best is not None and target else None,
            "worst_ns": round(worst * target, 3) if worst is not None and target else None,
        }
        out["interval"] = {"min": _int(c.get("IntervalMin")), "max": _int(c.get("IntervalMax"))}
        avail = {r: c.get("Available" + r) for r in RESOURCES}
        out["csynth"] = _resources(c, avail, board)
    v = report.get("VivadoSynthReport")
    if v:
        # hls4ml files Vivado's "Block RAM Tile" (36 Kb tiles) under BRAM_18K; one tile is two 18 Kb blocks.
        used = {
            "LUT": v.get("LUT"),
            "FF": v.get("FF"),
            "DSP": v.get("DSP48E"),
            "URAM": v.get("URAM"),
            "BRAM_18K": None if _int(v.get("BRAM_18K")) is None else 2 * _int(v.get("BRAM_18K")),
        }
        out["vsynth"] = _resources(used, {}, board)
    cos = report.get("CosimReport")
    if cos:
        out["cosim"] = cos
    return out


def summarize_reports(src: Path, board: dict | None = None) -> dict:
    """Everything the Vivado/Vitis reports say, found anywhere under the job's source tree."""
    summary: dict = {}
    xmls = sorted(src.glob("**/syn/report/*_csynth.xml"))
    if xmls:
        xml = xmls[0]
        hls_dir = xml.parents[4] if len(xml.parents) > 4 else src  # <hls>/<top>_prj/<sol>/syn/report/x.xml
        vs = next(iter(sorted(src.glob("**/vivado_synth.rpt"))), None)
        tb = hls_dir / "tb_data"
        summary.update(summarize_hls(parse_hls_project(xml, vs, tb if tb.is_dir() else None), board))
        summary["reports"] = [p.relative_to(src).as_posix() for p in [xml, vs] if p is not None]
    else:
        vs = next(iter(sorted(src.glob("**/vivado_synth.rpt"))), None)
        util = next(iter(sorted(src.glob("**/util.rpt"))), None)
        if vs is not None:
            summary.update(summarize_hls(vsynth_only(vs), board))
        elif util is not None:
            from conifer.backends.common import read_vsynth_report

            r = read_vsynth_report(str(util)) or {}
            used = {"LUT": r.get("lut"), "FF": r.get("ff"), "DSP": r.get("dsp"), "BRAM_18K": r.get("bram18")}
            summary["vsynth"] = _resources(used, {}, board)
    return summary


def vsynth_only(rpt: Path) -> dict:
    """hls4ml's parser reads vivado_synth.rpt only beside a csynth report; give it an empty solution."""
    with tempfile.TemporaryDirectory(prefix="l1ml-report-") as tmp:
        sol = Path(tmp) / "solution1" / "syn" / "report"
        sol.mkdir(parents=True)
        rep = parse_hls_project(sol / "myproject_csynth.xml", rpt)
    return {"VivadoSynthReport": rep.get("VivadoSynthReport", {})}
