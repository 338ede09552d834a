"""`l1ml report`: the HTML page of a model version, optionally side by side with another."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import MODEL_OPT, PROJECT_OPT, console, load, pick_model


def report(
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
    against: str = typer.Option(
        None,
        "--against",
        help="Another version (vM) or 'production', side by side (dashed); deltas are this version minus it, the gate's sign.",
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Where to write the page (default: build/report/vN/)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the page's path as JSON."),
) -> None:
    """Write one self-contained HTML page: TPRs at the deployed threshold, ROC, score, turn-on and rate curves,
    the cut-based baseline at the same rate, validation, firmware, provenance."""
    import json

    from l1ml.report import build_report

    proj = load(project)
    model = pick_model(proj, model)
    path = build_report(proj, model, against, out)
    if as_json:
        print(json.dumps({"report": str(path)}))
    else:
        console().print(f"[green]report[/] {path}")
