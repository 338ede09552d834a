"""Collect a version's results (l1ml.lifecycle.summary), draw the figures, render the page, and write it
atomically."""

from __future__ import annotations

import base64
from pathlib import Path

from l1ml import layout, manifest
from l1ml.errors import ConfigError
from l1ml.lifecycle.side_by_side import order
from l1ml.lifecycle.summary import (
    firmware_figures,
    numbers,
    trigger_target,
    validation_state,
    version_summary,
)


def _scores(project, version: str) -> dict | None:
    """The rate step's firmware-exact scores, cut to the test events the metrics use: the background test
    split and each signal's test half (the same seeded permutations as l1ml.models.train.prepare)."""
    import numpy as np

    f = layout.scores_file(project, version)
    if not f.is_file():
        return None
    with np.load(f) as z:
        raw = {k: z[k] for k in z.files}
    limit = project.data.max_events
    out = {}
    b = raw["background"][: limit or None]
    idx = np.random.default_rng(project.data.seed).permutation(len(b))
    n_train, n_val = int(len(b) * project.data.split[0]), int(len(b) * project.data.split[1])
    out["background"] = b[idx[n_train + n_val :]]
    for k, s in raw.items():
        if k == "background":
            continue
        s = s[: limit or None]
        j = np.random.default_rng(project.data.seed + 1).permutation(len(s))
        out[k] = s[j[len(s) // 2 :]]
    out["_all_background"] = raw["background"]
    return out


def marks(s: dict) -> dict | None:
    """ROC markers from the trigger record: per signal, (FPR, TPR, interval, label) at the deployed
    threshold and at the reference FPR when the rate sample resolves it; None without a record."""
    rec = s.get("trigger")
    t = trigger_target(s)
    if not rec or t is None:
        return None
    out: dict = {}
    ref = rec.get("reference")
    entries = [(t, f"{t['rate_khz']:g} kHz")] + ([(ref, f"FPR {ref['fpr']:.0e}")] if ref else [])
    for e, what in entries:
        for sig, d in e["signals"].items():
            out.setdefault(sig, []).append((max(e["fraction"], 1e-12), d["tpr"], d["tpr_low"], d["tpr_high"], what))
    return out


def review(project, version: str) -> dict | None:
    """The rate step's review numbers (l1ml/models/review.py): cut baseline, gain, turn-ons."""
    import json

    f = layout.review_file(project, version)
    try:
        return json.loads(f.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{f}: unreadable review record ({exc}); run `l1ml run --from rate`") from None


def previous_production(project, version: str) -> str | None:
    """The production version this one is judged against: the current one when that is another version,
    else (this version is production) the one it replaced; None when there is none."""
    from l1ml.lifecycle.stages import load_stages

    doc = load_stages(project)
    cur = doc["current"].get("production")
    if cur and cur != version:
        return cur
    if cur == version:
        for h in reversed(doc["history"]):
            if h.get("version") == version and h.get("stage") == "production":
                return h.get("previous")
    return None


def _half(e: dict) -> float:
    """One standard error from a 68% interval, as the gate takes it (l1ml/lifecycle/gate.py)."""
    return (e["tpr_high"] - e["tpr_low"]) / 2


def tpr_rows(trig: dict | None, ptrig: dict | None) -> list[dict]:
    """Per signal at the deployed threshold: this version's TPR and interval, the previous production
    version's, and the change (this minus previous, the gate's sign) with the gate's error."""
    import math

    if not trig:
        return []
    rows = []
    for sig, a in trig["signals"].items():
        b = (ptrig or {}).get("signals", {}).get(sig)
        d = None if b is None else {"value": a["tpr"] - b["tpr"], "error": math.hypot(_half(a), _half(b))}
        rows.append({"signal": sig, "a": a, "b": b, "delta": d})
    return rows


def _b64(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def resolve_against(project, against: str | None, version: str) -> str | None:
    if against is None:
        return None
    if against == "production":
        from l1ml.lifecycle.stages import current

        v = current(project)
        if v is None:
            raise ConfigError(f"project '{project.name}' has no production version; promote one with `l1ml models promote`")
        return v
    project.model_dir(against)
    return against


def firmware_rows(project) -> list[dict]:
    """The firmware table: one row per version with parsed synthesis reports, one per open-RTL result,
    and for a version with neither, its labelled estimate (l1ml/firmware/estimate.py) when one was written; an HGQ2
    model's EBOPs (its manifest's `ebops`) get a row of their own."""
    from l1ml.project import model_versions

    rows = []
    for v in model_versions(project):
        rows += version_firmware_rows(v, version_summary(project, v))
    return rows


def version_firmware_rows(v: str, s: dict) -> list[dict]:
    """One version's firmware-table rows from its summary (l1ml.lifecycle.summary.version_summary)."""
    rows = []
    fw = firmware_figures(s)
    if fw:
        res = fw.get("resources") or {}
        rows.append({
            "version": v, "source": fw.get("resources_source") or fw.get("latency_source"),
            "latency_cycles": fw.get("latency_cycles"), "latency_ns": fw.get("latency_ns"),
            "interval": fw.get("interval"),
            "res": {k: res.get(k) or {} for k in ("LUT", "FF", "DSP", "BRAM_18K")},
        })  # fmt: skip
    rtl = s.get("rtl")
    has_rtl = bool(rtl) and "error" not in rtl
    est = None if fw or has_rtl else s.get("estimate")
    if est and "error" not in est:  # neither vendor nor open-RTL figures: the labelled estimate, so the table is never empty
        rows.append(_figures_row(v, f"{est.get('source', 'estimate')}: {est.get('method', '')}; not synthesis", est))
    if has_rtl:
        rows.append(_figures_row(v, f"{rtl.get('tool')}: {rtl.get('label', '')}", rtl))
    ebops = (s.get("manifest") or {}).get("ebops")
    if ebops is not None:  # HGQ2 models: the training's own resource estimate, beside the figures above
        rows.append(_ebops_row(v, ebops))
    return rows


EBOPS_SOURCE = "HGQ2 EBOPs: HGQ2's own resource estimate (roughly LUT + 55 × DSP) on the calibrated ranges; not synthesis"


def _ebops_row(version: str, ebops) -> dict:
    """The firmware-table row of an HGQ2 model's EBOPs (its manifest's `ebops`): one figure, not split into
    LUT/FF/DSP/BRAM, so the template spans those columns with it."""
    return {
        "version": version, "source": EBOPS_SOURCE, "latency_cycles": None, "latency_ns": None,
        "interval": None, "res": {k: {} for k in ("LUT", "FF", "DSP", "BRAM_18K")}, "ebops": ebops,
    }  # fmt: skip


def _figures_row(version, source: str, d: dict) -> dict:
    """A firmware-table row from open-RTL or estimate figures (the same keys: lut, ff, dsp, bram, latency_cycles,
    clock_ns)."""
    cycles = d.get("latency_cycles")
    return {
        "version": version, "source": source, "latency_cycles": cycles,
        "latency_ns": None if cycles is None or not d.get("clock_ns") else round(cycles * d["clock_ns"], 3),
        "interval": None,
        "res": {"LUT": {"used": d.get("lut")}, "FF": {"used": d.get("ff")},
                "DSP": {"used": d.get("dsp")}, "BRAM_18K": {"used": d.get("bram")}},
    }  # fmt: skip


def _records(project) -> list[dict]:
    out = []
    for step in layout.RUN_STEPS:
        r = layout.read_record(project, step)
        if r is None:
            continue
        out.append({"step": step, "key": r.get("key", ""), "finished": r.get("finished"), "seconds": r.get("seconds")})
    return out


def queue_jobs(project, version: str) -> list[dict]:
    """The queue jobs of the run's synth step for this version (job id, step, state, csim check)."""
    rec = layout.read_record(project, "synth")
    if rec is None:
        return []
    jobs = rec.get("result", {}).get("jobs", [])
    return [j for j in jobs if Path(j.get("results", "")).parent.name == version or not j.get("results")]


def build_report(project, version: str | None = None, against: str | None = None, out: Path | None = None) -> Path:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    from l1ml.report import plots

    version = project.model_dir(version).name
    other = resolve_against(project, against, version)
    s = version_summary(project, version)
    o = version_summary(project, other) if other else None
    if s["metrics"] is None:
        raise ConfigError(f"{project.models_dir / version}: no metrics.json; the report needs a trained version")
    sc = _scores(project, version)
    osc = _scores(project, other) if other else None
    rv = review(project, version)
    orv = review(project, other) if other else None
    prev = previous_production(project, version)
    p = version_summary(project, prev) if prev else None
    trig = trigger_target(s)
    fig = {}
    label, olabel = f"{version} (firmware)", f"{other} (firmware)" if other else ""
    if sc:
        fig["roc"] = _b64(plots.roc({k: v for k, v in sc.items() if not k.startswith("_")}, project.trigger_fpr,
                                    project.trigger.reference_fpr, label,
                                    {k: v for k, v in osc.items() if not k.startswith("_")} if osc else None, olabel,
                                    marks(s), marks(o) if o else None))  # fmt: skip
        thr = trig["threshold"] if trig else s["threshold"]
        otrig = trigger_target(o) if o else None
        fig["scores"] = _b64(plots.score_distributions(
            {k: v for k, v in sc.items() if not k.startswith("_")}, thr, f"{project.name} {version}: test events",
            {k: v for k, v in osc.items() if not k.startswith("_")} if osc else None,
            otrig["threshold"] if otrig else (o or {}).get("threshold"), f"{other}: test events (dashed)"))  # fmt: skip
    if rv and rv.get("turn_on"):
        fig["turnon"] = _b64(plots.turn_ons(rv["turn_on"], label, (orv or {}).get("turn_on"), olabel,
                                            rv.get("baseline_turn_on"), f"{rv['baseline']} cut, same rate"))  # fmt: skip
        fig["rate"] = _b64(plots.rate_curve(
            sc["_all_background"], project.colliding_rate_hz, s["threshold"], project.trigger.rate_khz,
            (s.get("deploy") or {}).get("thresholds"), osc["_all_background"] if osc else None, olabel, label))  # fmt: skip
    na, nb = numbers(s), numbers(o) if o else {}
    comparison = [
        {"name": k, "a": na.get(k), "b": nb.get(k),
         "delta": None if na.get(k) is None or nb.get(k) is None else na[k] - nb[k]}
        for k in sorted(set(na) | set(nb), key=order)
    ] if o else []  # fmt: skip
    env = Environment(
        loader=PackageLoader("l1ml.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )
    env.filters["num"] = _num
    html = env.get_template("report.html.j2").render(
        project=project, s=s, o=o, version=version, other=other, fig=fig, n=na, nb=nb,
        trig=trig, otrig=trigger_target(o) if o else None,
        prev=prev, tprs=tpr_rows(trig, trigger_target(p) if p else None),
        otprs=tpr_rows(trig, trigger_target(o)) if o else [], rv=rv, orv=orv,
        comparison=comparison, validation_state=validation_state(s),
        other_validation_state=validation_state(o) if o else None,
        firmware=firmware_rows(project), records=_records(project), jobs=queue_jobs(project, version),
        created=manifest.now(), code_version=manifest.code_version(),
    )  # fmt: skip
    dest = out or layout.report_file(project, version)
    if other and out is None:
        dest = dest.with_name(f"report-vs-{other}.html")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_text(html)
    tmp.replace(dest)
    return dest


def _num(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e12:
            return f"{int(v):,}"
        return f"{v:.{digits}g}"
    return str(v)
