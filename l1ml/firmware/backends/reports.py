"""Reports of a finished Catapult/Quartus/oneAPI/Libero step -> the summary fields the Vivado summary has
(l1ml/firmware/vendor_reports.py): clock, latency (cycles and ns), interval, and resources under their own vendor's
names, each {"used", "available", "percent", "board_available", "board_percent"}.

The parsing is hls4ml's own reader for each backend (hls4ml/report/); this module finds the files, presents
them in the layout the reader expects where hls4ml 1.3's reader cannot read its own project (its Catapult
reader looks for a `set design_top` line the 1.3 build_prj.tcl no longer has, and YAML-loads a config that
holds a !keras_model tag), and names the figures honestly:

- Catapult: Vivado's LUT/FF/DSP/BRAM_18K from the utilization report Catapult's Vivado flow writes;
  latency and throughput from the "Design Total" of Catapult's rtl.rpt (hls4ml's reader reads none).
- oneAPI (icpx): csynth holds the early image's *estimates* (ALUT, FF, RAM, DSP, MLAB, with what the
  device has); vsynth the Quartus fit (ALM, ALUT, REG, DSP, RAM, MLAB) and Fmax. Latency and II are the
  worst loop's, from the HLS report (hls4ml's reader gives no best case: best_cycles stays null).
- Libero (SmartHLS): latency and II from the co-simulation's per-call figures; resources under
  SmartHLS's own names (4LUT, DFF, uSRAM, LSRAM, Math) from RTL synthesis; the achieved period.
- Quartus (Intel HLS, i++): csynth holds i++'s *estimates* (ALUT, FF, RAM, DSP, MLAB); vsynth holds the
  Quartus fit (ALM, REG, DSP, RAM blocks, MLAB) and its Fmax. Latency and II are the testbench
  simulation's min/max cycles.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from pathlib import Path


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _int(v) -> int | None:
    f = _num(v)
    return None if f is None else int(f)


def _entry(used, percent=None, available=None, board_available=None) -> dict:
    u = _num(used)
    u = int(u) if u is not None and u == int(u) else u
    return {
        "used": u,
        "available": available,
        "percent": _num(percent),
        "board_available": board_available,
        "board_percent": round(100.0 * u / board_available, 2) if u is not None and board_available else None,
    }


def _config_value(d: Path, key: str) -> str | None:
    m = re.search(rf"^{key}:\s*(.+?)\s*$", (d / "hls4ml_config.yml").read_text(), re.MULTILINE)
    return m.group(1) if m else None


def _latency(best, worst, target: float | None) -> dict:
    def ns(c):
        return round(c * target, 3) if c is not None and target else None

    return {"best_cycles": best, "worst_cycles": worst, "best_ns": ns(best), "worst_ns": ns(worst)}


def summarize(src: Path, step: str, board: dict | None = None) -> dict:
    """The summary fields of the backend project in the job tree `src`; {} if there is none."""
    from l1ml.firmware.backends.projects import project_dir

    found = project_dir(src)
    if found is None:
        return {}
    d, backend = found
    if backend == "Catapult":
        return {"backend": backend, **catapult(d, board)}
    if backend == "Quartus":
        return {"backend": backend, **quartus(d)}
    if backend == "oneAPI":
        return {"backend": backend, **oneapi(d)}
    return {"backend": backend, **libero(d)}


def catapult(d: Path, board: dict | None = None) -> dict:
    from hls4ml.report.catapult_report import parse_catapult_report

    from l1ml.firmware.backends.projects import project_name

    name = project_name(d)
    prj = re.search(r"project new -name (\S+)", (d / "build_prj.tcl").read_text())
    prj_dir = d / (prj.group(1) if prj else f"{name}_prj")
    if not prj_dir.is_dir():
        return {}
    target = _num(_config_value(d, "ClockPeriod"))
    with tempfile.TemporaryDirectory(prefix="l1ml-catapult-report-") as tmp:
        stage = Path(tmp)
        (stage / "hls4ml_config.yml").write_text(f"ProjectName: {name}\nProjectDir: {prj_dir.name}\n")
        (stage / "build_prj.tcl").write_text(f"project new -name {prj_dir.name}\nset design_top {name}\n")
        (stage / prj_dir.name).symlink_to(prj_dir.resolve())
        if (d / "tb_data").is_dir():
            (stage / "tb_data").symlink_to((d / "tb_data").resolve())
        with contextlib.redirect_stdout(io.StringIO()):  # it prints; we return values
            try:
                rep = parse_catapult_report(str(stage)) or {}
            except (FileNotFoundError, StopIteration, IndexError, ValueError):
                rep = {}  # no solution yet, or a report cut short: the summary says what is there
    out: dict = {"clock": {"target_ns": target, "estimated_ns": None}}
    t = rep.get("TimingReport")
    if t and target:
        out["clock"]["estimated_ns"] = round(target - t["WNS"], 3)
        out["timing"] = t
    sols = sorted(prj_dir.glob(f"{name}.v*/rtl.rpt"))
    lat = thr = None
    if sols:
        m = re.search(r"Design Total:\s+(\d+)\s+(\d+)", sols[-1].read_text())
        if m:
            lat, thr = int(m.group(1)), int(m.group(2))
    out["latency"] = _latency(lat, lat, target)
    out["interval"] = {"min": thr, "max": thr}
    u = rep.get("UtilizationReport")
    if u:
        names = {"LUT": "LUT", "FF": "FF", "DSP": "DSP48E", "BRAM_18K": "BRAM_18K", "URAM": "URAM"}
        out["vsynth"] = {
            k: _entry(u[v], board_available=(board or {}).get(k)) for k, v in names.items() if v in u
        }
    if rep.get("PerLayerQOFR"):
        out["per_layer"] = rep["PerLayerQOFR"]
    return out


INTEL_HLS = {"ALUT": "ALUT", "FF": "FF", "RAM": "RAM", "DSP": "DSP", "MLAB": "MLAB"}


def quartus(d: Path) -> dict:
    from hls4ml.report.quartus_report import parse_quartus_report

    from l1ml.firmware.backends.projects import project_name

    if not (d / f"{project_name(d)}-fpga.prj" / "reports" / "lib" / "report_data.js").is_file():
        return {}
    with contextlib.redirect_stdout(io.StringIO()):
        rep = parse_quartus_report(str(d), write_to_file=False) or {}
    target = _num(_config_value(d, "ClockPeriod"))
    out: dict = {"clock": {"target_ns": target, "estimated_ns": None}}
    out["latency"] = _latency(_int(rep.get("Latency (MIN)")), _int(rep.get("Latency (MAX)")), target)
    if rep.get("Latency (AVG)") is not None:
        out["latency"]["average_cycles"] = _num(rep["Latency (AVG)"])
    out["interval"] = {"min": _int(rep.get("ii (MIN)")), "max": _int(rep.get("ii (MAX)"))}
    pct = {"ALUT": "ALUT (%)", "FF": "FF(%)", "RAM": "RAM (%)", "DSP": "DSP (%)", "MLAB": "MLAB (%)"}
    out["csynth"] = {
        k: _entry(rep[f"HLS Estimate {k}"], rep.get(f"HLS Estimate {pct[k]}"))
        for k in INTEL_HLS
        if f"HLS Estimate {k}" in rep
    }
    out["csynth_label"] = "Intel HLS (i++) estimates: ALUTs, FFs, RAM blocks, DSPs, MLABs"
    if "Clock" in rep:  # a Quartus compile ran (vsynth)
        fmax = _num(rep["Clock"])
        out["clock"]["fmax_mhz"] = fmax
        out["clock"]["estimated_ns"] = round(1e3 / fmax, 3) if fmax else None
        out["vsynth"] = {k: _entry(rep[f"Quartus {k}"]) for k in ("ALM", "REG", "DSP", "RAM", "MLAB")}
        out["vsynth_label"] = "Quartus fit: ALMs, registers, DSP blocks, RAM blocks, MLABs"
    return out


ONEAPI_HLS = {"ALUT": "alut", "FF": "reg", "RAM": "ram", "DSP": "dsp", "MLAB": "mlab"}


def oneapi(d: Path) -> dict:
    from hls4ml.report.oneapi_report import parse_oneapi_report

    if not any((d / "build").glob("*.prj")):
        return {}
    with contextlib.redirect_stdout(io.StringIO()):
        reps = parse_oneapi_report(str(d)) or {}  # it globs <dir>/*/*.prj: build/NAME.TARGET.prj
    rep = next((r for r in reps.values() if r), {})
    target = _num(_config_value(d, "ClockPeriod"))
    loop = rep.get("Loop", {})
    worst = _num(loop.get("worstLatency"))
    out: dict = {"clock": {"target_ns": target, "estimated_ns": None}}
    out["latency"] = _latency(None, int(worst) if worst is not None else None, target)
    ii = _int(loop.get("worstII"))
    out["interval"] = {"min": None, "max": ii}
    hls = rep.get("HLS", {})
    total, avail = hls.get("total", {}), hls.get("available", {})
    out["csynth"] = {
        k: _entry(total[v], available=_int(avail.get(v))) for k, v in ONEAPI_HLS.items() if v in total
    }
    for e in out["csynth"].values():
        if e["available"] and e["used"] is not None:
            e["percent"] = round(100.0 * e["used"] / e["available"], 2)
    out["csynth_label"] = "oneAPI (icpx) HLS estimates: ALUTs, FFs, RAM blocks, DSPs, MLABs"
    q = rep.get("Quartus")
    if q:
        fmax = _num(q.get("fmax"))
        out["clock"]["fmax_mhz"] = fmax
        out["clock"]["estimated_ns"] = round(1e3 / fmax, 3) if fmax else None
        names = {"ALM": "alm", "ALUT": "alut", "REG": "reg", "DSP": "dsp", "RAM": "ram", "MLAB": "mlab"}
        out["vsynth"] = {k: _entry(q[v]) for k, v in names.items() if v in q}
        out["vsynth_label"] = "Quartus fit: ALMs, ALUTs, registers, DSP blocks, RAM blocks, MLABs"
    return out


def _first_number(text) -> float | None:
    m = re.search(r"[-+]?\d+(?:\.\d+)?", str(text or ""))
    return float(m.group(0)) if m else None


def libero(d: Path) -> dict:
    from hls4ml.report.libero_report import parse_libero_report

    if not (d / "hls_output" / "reports" / "summary.results.rpt").is_file():
        return {}
    with contextlib.redirect_stdout(io.StringIO()):
        rep = parse_libero_report(str(d)) or {}
    target = _num(_config_value(d, "ClockPeriod"))
    out: dict = {"clock": {"target_ns": target, "estimated_ns": None}}
    sim = rep.get("Simulation Result", {})
    lat = [_first_number(v) for v in str(sim.get("Call Latency (min/max/avg)", "")).split("/")]
    ii = [_first_number(v) for v in str(sim.get("Call II (min/max/avg)", "")).split("/")]
    best, worst = (int(lat[0]), int(lat[1])) if len(lat) == 3 and None not in lat else (None, None)
    out["latency"] = _latency(best, worst, target)
    out["interval"] = {"min": int(ii[0]), "max": int(ii[1])} if len(ii) == 3 and None not in ii else {}
    if not out["interval"]:
        out["interval"] = {"min": None, "max": None}
    timing = rep.get("Timing Result", {})
    if "Period" in timing:
        out["clock"]["estimated_ns"] = _first_number(timing["Period"])
        out["clock"]["fmax_mhz"] = _first_number(timing.get("Fmax"))
    usage = rep.get("Resource Usage", {})
    if usage and "Error" not in usage:
        out["vsynth"] = {
            k.rstrip("*").strip(): _entry(v.get("Used"), v.get("Percentage"), available=_int(v.get("Total")))
            for k, v in usage.items()
        }
        out["vsynth_label"] = "SmartHLS RTL synthesis (PolarFire): 4LUTs, DFFs, uSRAM, LSRAM, Math blocks"
    return out
