"""`l1ml train ae` and `l1ml train bdt`."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import PROJECT_OPT, console, load, progress_bars

app = typer.Typer(
    help="Train a project's model (quantization-aware AE or BDT) and evaluate trigger metrics.",
    no_args_is_help=True,
)


def _train(project: Path, wanted: str) -> None:
    from l1ml.models.train import check_kind, train_project

    proj = load(project)
    check_kind(proj, wanted)
    with progress_bars() as rep:
        out = train_project(proj, progress=rep)
    show_metrics(out)


def show_metrics(model_dir: Path) -> None:
    import json

    from rich.table import Table

    m = json.loads((model_dir / "metrics.json").read_text())
    man = json.loads((model_dir / "manifest.json").read_text())
    t = Table(
        title=f"{man['kind']} {man['version']}: trigger metrics",
        caption=f"threshold {m['threshold']:.5g} for {m['target_rate_khz']:.3g} kHz, "
        f"{m['background_events']:,} background test events",
    )
    for col in (
        "signal",
        "AUC",
        f"TPR @ FPR {m['reference_fpr']:.0e}",
        f"TPR @ {m['target_rate_khz']:.3g} kHz",
    ):
        t.add_column(col, justify="right" if col != "signal" else "left")
    for name, s in m["signals"].items():
        t.add_row(
            name, f"{s['auc']:.4f}", f"{s['tpr_at_reference_fpr']:.4f}", f"{s['tpr_at_target_rate']:.4f}"
        )
    c = console()
    c.print(t)
    if m["background_above_reference"] == 0:
        c.print(
            f"[yellow]note:[/] FPR {m['reference_fpr']:.0e} is below 1/N for this test sample: "
            "that figure rests on the highest background score only"
        )
    c.print(f"[green]model[/] {model_dir}  (plots: roc.png, scores.png)")


@app.command()
def ae(project: Path = PROJECT_OPT) -> None:
    """Train the project's autoencoder (dense, CNN or VAE) quantization-aware, then deploy and evaluate it."""
    _train(project, "ae")


@app.command()
def bdt(project: Path = PROJECT_OPT) -> None:
    """Train the project's xgboost BDT (all signals against background) and evaluate it."""
    _train(project, "bdt")
