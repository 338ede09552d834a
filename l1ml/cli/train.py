"""`l1ml train ae` and `l1ml train bdt`."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import JSON_OPT, PROJECT_OPT, console, load, print_json, progress_bars

app = typer.Typer(
    help="Train a project's model (quantization-aware AE or BDT) and evaluate trigger metrics.",
    no_args_is_help=True,
)


EPOCHS_OPT = typer.Option(None, "--epochs", help="Override [training] epochs (recorded in the manifest).")
EVENTS_OPT = typer.Option(
    None, "--events", help="Read at most this many events per sample (overrides [data] max_events)."
)
SEED_OPT = typer.Option(None, "--seed", help="Override [training] seed (recorded in the manifest).")


def _train(project: Path, wanted: str, epochs, events, seed, as_json: bool) -> None:
    import json

    from l1ml.models.train import check_kind, train_project, with_overrides

    proj = load(project)
    check_kind(proj, wanted)
    if wanted == "bdt" and epochs is not None:
        from l1ml.errors import ConfigError

        raise ConfigError("--epochs is for networks; a BDT's boosting rounds are [model] n_estimators")
    proj, overrides = with_overrides(proj, epochs, events, seed)
    with progress_bars() as rep:
        out = train_project(proj, progress=rep, overrides=overrides)
    if as_json:
        print_json(
            {
                "model_dir": str(out),
                "manifest": json.loads((out / "manifest.json").read_text()),
                "metrics": json.loads((out / "metrics.json").read_text()),
            }
        )
        return
    show_metrics(out)


def show_metrics(model_dir: Path) -> None:
    import json

    from rich.table import Table

    m = json.loads((model_dir / "metrics.json").read_text())
    man = json.loads((model_dir / "manifest.json").read_text())
    t = Table(
        title=f"{man['kind']} {man['version']}: first look on the test split (not the trigger's numbers)",
        caption=f"first-look threshold {m['threshold']:.5g} for {m['target_rate_khz']:.3g} kHz "
        f"({m['background_above_threshold']:,} of {m['background_events']:,} background test events above); "
        "the deployed threshold, rate and TPRs are set on the rate sample by `l1ml run` (its rate step)",
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
    plots = ", ".join(p for p in ("roc.png", "scores.png", "loss.png") if (model_dir / p).is_file())
    c.print(f"[green]model[/] {model_dir}  (plots: {plots})")


@app.command()
def ae(
    project: Path = PROJECT_OPT,
    epochs: int = EPOCHS_OPT,
    events: int = EVENTS_OPT,
    seed: int = SEED_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Train the project's autoencoder (dense, CNN or VAE) quantization-aware, then deploy and evaluate it."""
    _train(project, "ae", epochs, events, seed, as_json)


@app.command()
def bdt(
    project: Path = PROJECT_OPT,
    epochs: int = EPOCHS_OPT,
    events: int = EVENTS_OPT,
    seed: int = SEED_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Train the project's xgboost BDT (all signals against background) and evaluate it.
    (--epochs does not apply: a BDT's rounds are [model] n_estimators.)"""
    _train(project, "bdt", epochs, events, seed, as_json)
