"""Everything known about one model version, read from the project directory: the model manifest and
metrics, validation, the firmware-exact rate, queue results (parsed synthesis reports), the open RTL
resources (issue 12's contract) and deployment thresholds (issue 11's contract), the toolchain, its stage.

`numbers()` flattens a summary into {name: value}: what compare, the gate, the report's --against view and
MLflow's metrics all use, so they agree on the names."""

from __future__ import annotations

import json
from pathlib import Path

from l1ml import layout

RESOURCE_KEYS = ("LUT", "FF", "DSP", "BRAM_18K", "URAM")


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"error": f"{path}: unreadable: {exc}"}


def synth_summaries(project, version: str) -> dict[str, dict]:
    """{queue step: summary.json of its fetched result} for the version."""
    d = layout.synth_dir(project, version)
    out = {}
    if d.is_dir():
        for s in sorted(d.glob("*/summary.json")):
            data = _json(s)
            if data is not None:
                out[s.parent.name] = data
    return out


def version_summary(project, version: str) -> dict:
    from l1ml.lifecycle.stages import stage_of

    mdir = project.models_dir / version
    man = _json(mdir / "manifest.json") or {}
    return {
        "version": version,
        "kind": man.get("kind"),
        "source": man.get("source"),
        "created": man.get("created"),
        "threshold": man.get("threshold"),
        "manifest": man,
        "metrics": _json(mdir / "metrics.json"),
        "firmware": _json(project.firmware_dir(version) / "manifest.json"),
        "validation": _json(layout.validation_report(project, version)),
        "rate": _json(layout.rate_file(project, version)),
        "trigger": _json(layout.trigger_file(project, version)),
        "synth": synth_summaries(project, version),
        "rtl": _json(layout.rtl_resources(project, version)),
        "estimate": _json(layout.estimate_file(project, version)),
        "deploy": _json(layout.deploy_thresholds(project, version)),
        "toolchain": _json(layout.toolchain_file(project, version)),
        "stage": stage_of(project, version),
    }


def trigger_target(s: dict) -> dict | None:
    """The trigger record's entry for its target rate (l1ml/models/threshold.py), None without one."""
    rec = s.get("trigger") or {}
    for e in rec.get("thresholds") or []:
        if abs(e.get("rate_khz", -1) - rec.get("target_rate_khz", -2)) <= 1e-9 * max(1.0, e["rate_khz"]):
            return e
    return None


def validation_state(s: dict) -> str:
    v = s.get("validation")
    if v is None:
        return "not validated"
    if "error" in v:
        return "unreadable"
    return "bit-exact" if v.get("passed") else "MISMATCH"


def firmware_figures(s: dict) -> dict:
    """Latency and resources from the parsed vendor reports (post-synthesis figures win over HLS
    estimates), each with where it came from."""
    out: dict = {}
    for step in ("csynth", "vsynth", "cosim"):
        r = s.get("synth", {}).get(step) or {}
        lat = r.get("latency") or {}
        if lat.get("worst_cycles") is not None:
            out["latency_cycles"] = lat["worst_cycles"]
            out["latency_ns"] = lat.get("worst_ns")
            out["interval"] = (r.get("interval") or {}).get("max")
            out["latency_source"] = step
        for block in ("csynth", "vsynth"):
            res = r.get(block)
            if res:
                out["resources"] = res
                # Intel/Microchip summaries name their own figures (l1ml/firmware/backends/reports.py)
                what = r.get(f"{block}_label") or (
                    "Vivado synthesis" if block == "vsynth" else "HLS estimate"
                )
                out["resources_source"] = f"{step} ({what})"
    return out


ESTIMATE_KEYS = {"lut": "est_lut", "ff": "est_ff", "dsp": "est_dsp", "latency_cycles": "est_latency_cycles"}


def cost_figures(s: dict) -> list[dict]:
    """The version's resource and latency figures by where they come from, best first: vendor reports,
    open-RTL synthesis, the labelled estimate (l1ml/firmware/estimate.py). Each entry is {"tier",
    "source", "figures": {numbers() name: value}}; two entries compare only with the same tier and source."""
    out = []
    fw = firmware_figures(s)
    res = {k: ((fw.get("resources") or {}).get(k) or {}).get("used") for k in RESOURCE_KEYS}
    res = {k: v for k, v in res.items() if isinstance(v, (int, float))}
    if res:
        out.append({"tier": "vendor", "source": fw["resources_source"], "figures": res})
    if fw.get("latency_cycles") is not None:
        out.append(
            {
                "tier": "vendor",
                "source": fw["latency_source"],
                "figures": {"latency_cycles": fw["latency_cycles"]},
            }
        )
    rtl = s.get("rtl") or {}
    figs = {f"rtl_{k}": rtl[k] for k in ("lut", "ff", "dsp", "bram", "latency_cycles") if _num(rtl.get(k))}
    if figs:
        out.append(
            {
                "tier": "open RTL",
                "source": f"{rtl.get('tool', 'yosys')} {rtl.get('flow', '')}".strip(),
                "figures": figs,
            }
        )
    est = s.get("estimate") or {}
    figs = {name: est[k] for k, name in ESTIMATE_KEYS.items() if _num(est.get(k))}
    if figs and est.get("source"):
        out.append({"tier": "estimate", "source": est["source"], "figures": figs})
    return out


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def numbers(s: dict) -> dict[str, float]:
    """The version's figures as {name: number}; absent figures are left out, never zero-filled."""
    out: dict[str, float] = {}
    m = s.get("metrics") or {}
    for sig, d in (m.get("signals") or {}).items():
        out[f"auc/{sig}"] = d.get("auc")
        out[f"tpr_at_target_rate/{sig}"] = d.get("tpr_at_target_rate")
        out[f"tpr_at_fpr_1e-5/{sig}"] = d.get("tpr_at_reference_fpr")
    if s.get("threshold") is not None:
        out["threshold"] = s["threshold"]
    r = s.get("rate") or {}
    if "rate_khz" in r:
        out["emulated_rate_khz"] = r["rate_khz"]
    t = trigger_target(s)
    if t is not None:  # the one threshold (set on the rate sample) overrides train's own figures
        out["threshold"] = t["threshold"]
        out["threshold_int"] = t["threshold_int"]
        out["emulated_rate_khz"] = t["rate_measured_khz"]
        out["events_above_threshold"] = t["events_above"]
        for sig, e in t["signals"].items():
            out[f"tpr_at_target_rate/{sig}"] = e["tpr"]
    v = s.get("validation") or {}
    if "passed" in v:
        out["validation_passed"] = 1.0 if v["passed"] else 0.0
        out["flips"] = float(sum((v.get("flips") or {}).values()))
        out["max_diff_lsb"] = max(
            [float(c.get("max_diff_lsb", 0) or 0) for c in v.get("comparisons") or []] or [0.0]
        )
    fw = firmware_figures(s)
    for k in ("latency_cycles", "latency_ns", "interval"):
        if fw.get(k) is not None:
            out[k] = fw[k]
    for k in RESOURCE_KEYS:
        used = ((fw.get("resources") or {}).get(k) or {}).get("used")
        if used is not None:
            out[f"{k}"] = used
    rtl = s.get("rtl") or {}
    for k in ("lut", "ff", "dsp", "bram", "logic_depth", "latency_cycles"):
        if isinstance(rtl.get(k), (int, float)):
            out[f"rtl_{k}"] = rtl[k]
    est = s.get("estimate") or {}
    for k, name in ESTIMATE_KEYS.items():
        if _num(est.get(k)):
            out[name] = est[k]
    for t in (s.get("deploy") or {}).get("thresholds", []):
        out[f"deploy_threshold_int/{t.get('rate_khz'):g}kHz"] = t.get("threshold_int")
        out[f"deploy_rate_measured_khz/{t.get('rate_khz'):g}kHz"] = t.get("rate_measured_khz")
    return {k: float(v) for k, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
