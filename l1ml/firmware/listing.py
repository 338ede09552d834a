"""`l1ml firmware list`'s rows: every firmware variant of every model version, with its settings, its
validation state and its resources where known (each figure labelled with where it comes from)."""

from __future__ import annotations

import json
from pathlib import Path

from l1ml import layout


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _settings_summary(rec: dict, man: dict) -> dict:
    s = rec.get("settings") or {}
    board = s.get("board") or man.get("board") or {}
    out = {
        "board": board.get("name"),
        "clock_ns": board.get("clock_period_ns"),
        "strategy": s.get("strategy", man.get("strategy")),
        "reuse_factor": s.get("reuse_factor", man.get("reuse_factor")),
        "io_type": s.get("io_type", man.get("io_type")),
        "precision": s.get("precision", man.get("precision")),
        "hls_config": s.get("hls_config") if "hls_config" in s else man.get("hls_config_file"),
    }
    return {k: v for k, v in out.items() if v is not None}


def _validation(project, version: str, vid: str) -> dict:
    """The version's validation report, if it is of this variant; else explore's prediction, if any."""
    rep = _json(layout.validation_report(project, version))
    if rep is not None and (rep.get("variant") or "") == vid:
        return {"state": "bit-exact" if rep.get("passed") else "MISMATCH", "source": "l1ml validate"}
    for f in sorted((project.build_dir / "explore" / version / "points").glob(f"{vid}-*.json")) if vid else []:
        p = _json(f)
        if p and "validation" in p:
            ok = p["validation"]["passed"]
            return {"state": "predicted pass" if ok else "predicted MISMATCH", "source": "l1ml explore"}
    return {"state": "not validated", "source": None}


def _resources(project, version: str, vid: str, d: Path) -> dict:
    from l1ml.firmware.rtl import vivado_figures

    out = {}
    rtl = _json(d / "rtl" / "resources.json")
    if rtl:
        out["yosys"] = {k: rtl.get(k) for k in ("lut", "ff", "dsp", "bram", "latency_cycles")}
        out["yosys"]["label"] = rtl.get("label") or f"{rtl.get('tool')} {rtl.get('flow')}"
    viv = vivado_figures(d) if d.is_dir() else None
    if viv:
        out["vivado"] = {**viv, "label": "Vivado synthesis report"}
    sd = layout.synth_dir(project, version)
    for s in sorted(sd.glob("*/summary.json")) if sd.is_dir() else []:
        tag = _json(s.parent / "variant.json") or {}
        if (tag.get("variant") or "") != vid:
            continue
        summ = _json(s) or {}
        for block, label in (("vsynth", "Vivado synthesis"), ("csynth", "HLS estimate")):
            if summ.get(block):
                out.setdefault(f"{s.parent.name}", {**summ[block], "label": f"{label} (queue step {s.parent.name})"})
    return out


def list_variants(project) -> list[dict]:
    from l1ml.project import model_versions

    rows = []
    for version in model_versions(project):
        root = layout.version_root(project, version)
        active = layout.read_active_raw(root)
        for rec in layout.variants(root):
            d = Path(rec["dir"])
            vid = rec["id"]
            man = _json(d / "manifest.json") or {}
            rows.append(
                {
                    "version": version,
                    "variant": vid or "(flat)",
                    "label": rec.get("label"),
                    "active": (vid == active) if active else (vid == ""),
                    "created": rec.get("created") or man.get("created"),
                    "kind": man.get("kind"),
                    "settings": _settings_summary(rec, man),
                    "validation": _validation(project, version, vid),
                    "resources": _resources(project, version, vid, d),
                    "dir": str(d),
                }
            )
    return rows
