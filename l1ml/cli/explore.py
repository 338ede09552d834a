"""`l1ml explore`: a grid of firmware settings, each point's physics cost and resources, side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import (
    JSON_OPT,
    MODEL_OPT,
    PROJECT_OPT,
    console,
    load,
    pick_model,
    print_json,
    progress_bars,
)

GRID_OPT = typer.Option(..., "--grid", "-g", help="Grid YAML in hls4ml's config vocabulary (see hls_configs/scan.yml).")
KEEP_OPT = typer.Option(
    None, "--keep", help="Convert these points into firmware variants: a point number, a variant id, 'pareto' or 'all'."
)
EVENTS_OPT = typer.Option(0, "--events", help="Events per sample (0: all; the project's [data] max_events applies).")
JOBS_OPT = typer.Option(
    0, "--jobs", "-j", help="Grid points computed at once, as threads sharing the events (0: one per core)."
)


def explore(
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
    grid: Path = GRID_OPT,
    keep: list[str] = KEEP_OPT,
    events: int = EVENTS_OPT,
    jobs: int = JOBS_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Emulate every point of a grid of firmware settings over every event; report its physics cost
    against the software model at the target rate, its overflows and its resources."""
    from l1ml.errors import ConfigError
    from l1ml.explore.sweep import explore as run

    if events < 0 or jobs < 0:
        raise ConfigError("--events and --jobs must be 0 or more")
    proj = load(project)
    model = pick_model(proj, model)
    with progress_bars() as rep:
        result = run(proj, grid, model, events=events, jobs=jobs, keep=tuple(keep or ()), progress=rep)
    from l1ml.models import threshold

    # The baseline is the deployed firmware: its threshold, rate and TPRs are the trigger record's.
    rec = threshold.read(proj, result["version"])
    result["baseline"]["deployed"] = threshold.target(rec) if rec else None
    if as_json:
        print_json(result)
        return
    show(result)


# how each kind of resource estimate is tagged in the table (the footer gives each one's label)
EST_TAGS = {"estimate": "est.", "hgq2_ebops": "EBOPs", "da4ml": "da4ml"}


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:+.2f}"


def show(result: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    c = console()
    first = next((r for r in [result["baseline"], *result["points"]] if "physics" in r), None)
    # the points' event counts, else the baseline's (every point failed), else none ran
    ev = result["events"] or (first["physics"]["events"] if first else {})
    n_bkg = f"{ev['background']:,}" if "background" in ev else "no"
    ref_fpr = first["physics"]["reference_fpr"] if first else 1e-5
    t = Table(
        title=f"{result['project']} {result['version']}: {Path(result['grid']).name}, "
        f"{n_bkg} background events, target {result['target_rate_khz']:g} kHz "
        f"of {result['colliding_rate_hz'] / 1e6:.1f} MHz colliding"
    )
    # Signals by short tags with a legend below, and every column folding rather than cutting: a narrow
    # terminal cut the signal names to "…" (issue 30).
    tags = {k: f"S{i + 1}" for i, k in enumerate(first["physics"]["signals"])} if first else {}
    for col, kw in (("#", {"justify": "right"}), ("point", {"max_width": 30}), ("variant", {}),
                    ("threshold", {"justify": "right"}), ("TPR at rate, Δ%", {"justify": "right"}),
                    (f"ΔAUC% / ΔTPR%@{ref_fpr:g}", {"justify": "right"}), ("flipped", {"justify": "right"}),
                    ("new overflows", {"max_width": 30}), ("valid.", {}),
                    (result["resource_axis"], {"justify": "right", "max_width": 14}), ("P", {"justify": "center"})):
        t.add_column(col, overflow="fold", **kw)  # fmt: skip
    rows = [result["baseline"], *result["points"]]
    for r in rows:
        idx = str(r["index"]) if r["index"] else "base"
        if "error" in r:
            t.add_row(idx, escape(r["name"]), r["variant"], "", f"[red]{escape(r['error'][:200])}[/]", *[""] * 6)
            continue
        ph = r["physics"]
        s = ph["signals"]
        over = "\n".join(f"{k}: {n:,} {w}" for k, v in r["new_overflows"].items() for w, n in v.items())
        if r.get("overflows", {}) is None:  # HGQ2 points: the C simulation does not count them
            over = "not counted"
        res = r["resources"]
        figure = res.get("lut") if res["source"] == "yosys" else res.get("figure", res.get("bops_per_reuse"))
        tag = " [dim]on disk[/]" if r.get("on_disk") else ""
        t.add_row(
            idx,
            escape(r["name"]),
            r["variant"] + tag + (" [dim]cached[/]" if r.get("cached") else ""),
            f"{ph['threshold']:.6g}",
            "\n".join(f"{tags.get(k, k)} {v['tpr']:.3f} {_pct(v['tpr_change'])}" for k, v in s.items()),
            "\n".join(f"{_pct(v['auc_change'])} / {_pct(v['tpr_ref_change'])}" for v in s.values()),
            f"{100 * ph['flipped_fraction']:.3f}%",
            escape(over) or "none",
            "pass" if r["validation"]["passed"] else "[red]FAIL[/]",
            (f"{figure:,.0f}" + (f" [dim]{EST_TAGS[res['source']]}[/]" if res["source"] in EST_TAGS else ""))
            if figure is not None else "-",
            "*" if r.get("pareto") else "",
        )
    c.print(t)
    if tags:
        c.print("signals: " + ", ".join(f"{tag} {escape(k)}" for k, tag in tags.items()), soft_wrap=True)
    b = result["baseline"]
    from l1ml.models.threshold import short, tpr_line

    if b.get("deployed"):
        d = b["deployed"]
        c.print(f"baseline as deployed (trigger record, rate sample): {short(d)}; TPR {tpr_line(d)}", soft_wrap=True)
    else:
        c.print("[yellow]baseline: no trigger record yet (run `l1ml run` through its rate step)[/]")
    if "error" not in b:
        c.print(
            f"[dim]software model: {escape(result['software'])}. TPR at the target rate with each variant's own "
            f"threshold for that rate; 'new overflows': values saturated/wrapped beyond the baseline's (the project's "
            f"own settings, whose quantized activations saturate by design). Validation {escape(b['validation']['how'])}.[/]"
        )
    labels = {r["resources"]["source"]: r["resources"].get("label") for r in rows if "error" not in r}
    for source, label in labels.items():
        if source != "yosys" and label:
            c.print(f"[dim]resources ({EST_TAGS.get(source, source)}): {escape(label)}[/]")
    for k in result.get("kept", []):
        c.print(f"[green]kept[/] point {k['index']} as variant {k['variant']}: {k['dir']}")
    c.print(f"[green]plot[/] {result['plot']}  [green]json[/] {result['json']}")
