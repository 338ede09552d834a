"""The open-source RTL path: alkaid Verilog traced from the firmware's arithmetic (build.py, trace.py),
Verilator simulation against the emulator (verilator.py, compare.py), Yosys synthesis (yosys.py), and the
queue's `rtlsim`/`ysynth` step (steps.py)."""

from __future__ import annotations

from pathlib import Path


def convert_rtl(project, version: str | None = None, synth: bool = True, progress=None) -> dict:
    """Build rtl/ for a converted network and (with `synth`) run Yosys here; returns what convert shows:
    rtl.json's fields, "resources" (resources.json) and "vivado" (Vivado figures found beside it)."""
    from l1ml.firmware.rtl.build import build_rtl, rtl_dir
    from l1ml.firmware.rtl.yosys import synthesize
    from l1ml.progress import or_silent

    info = build_rtl(project, version, progress)
    d = rtl_dir(project, info["version"])
    out = {**info, "dir": str(d)}
    if synth:
        rep = or_silent(progress)
        rep.task("yosys", None)
        out["resources"] = synthesize(d, info.get("yosys_flow", "xilinx"))
        rep.advance("yosys")
    out["vivado"] = vivado_figures(project.firmware_dir(info["version"]))
    return out


def vivado_figures(fw_dir: Path) -> dict | None:
    """LUT/FF/DSP/BRAM of a Vivado synthesis report under the firmware directory (e.g. a fetched vsynth
    job's vivado_synth.rpt), or None: shown beside the Yosys figures, never mixed with them."""
    from l1ml.firmware.vendor_reports import vsynth_only

    rpt = next(iter(sorted(fw_dir.glob("**/vivado_synth.rpt"))), None)
    if rpt is None:
        return None
    rep = vsynth_only(rpt).get("VivadoSynthReport", {})
    keys = {"lut": "LUT", "ff": "FF", "dsp": "DSP48E", "bram": "BRAM_18K"}
    fig = {k: int(rep[v]) if str(rep.get(v, "")).isdigit() else None for k, v in keys.items()}
    return {**fig, "report": str(rpt)} if any(v is not None for v in fig.values()) else None
