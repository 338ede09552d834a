"""`l1ml demo`: the whole chain on embedded defaults, from generated events to validated firmware."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import console, progress_bars

# The demo's own projects: small enough for a laptop-sized run of a few minutes, large enough that the
# metrics mean something. They are written into the output directory, so the demo never touches projects/.
DEMO_PROJECTS = {
    "dense_ae": """\
name = "demo_dense_ae"
[data]
background = "../data/background.h5"
signals = {{ Ato4l = "../data/Ato4l.h5", leptoquark = "../data/leptoquark.h5", hToTauTau = "../data/hToTauTau.h5", hChToTauNu = "../data/hChToTauNu.h5" }}
synthetic = false
[model]
kind = "dense_ae"
hidden = [32, 16]
latent = 8
[training]
epochs = {epochs}
batch_size = 1024
learning_rate = 0.003
finetune_epochs = 3
[trigger]
rate_khz = 1.0
[firmware]
board = "vu9p"
[validation]
events = {validate_events}
""",
    "bdt": """\
name = "demo_bdt"
[data]
background = "../data/background.h5"
signals = {{ Ato4l = "../data/Ato4l.h5", leptoquark = "../data/leptoquark.h5", hToTauTau = "../data/hToTauTau.h5", hChToTauNu = "../data/hChToTauNu.h5" }}
synthetic = false
[model]
kind = "bdt"
n_estimators = 20
max_depth = 4
[trigger]
rate_khz = 1.0
[firmware]
board = "vu9p"
precision = "ap_fixed<18,8,AP_RND>"
[validation]
events = {validate_events}
""",
}


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Working directory for the demo."),
    events: int = typer.Option(300_000, "--events", "-n", min=2000, help="Background events to generate."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Training epochs of the autoencoder."),
    seed: int = typer.Option(7, "--seed"),
) -> None:
    """Generate events, train a dense AE and a BDT, and evaluate them as L1 triggers."""
    from l1ml.cli.train import show_metrics
    from l1ml.data.generate import SIGNALS, write_samples
    from l1ml.models.train import train_project
    from l1ml.project import load_project

    c = console()
    out.mkdir(parents=True, exist_ok=True)
    c.rule("[bold]1. events")
    with progress_bars() as rep:
        rep.task("generate", 1 + len(SIGNALS))
        write_samples(out / "data", events, seed, progress=lambda _: rep.advance("generate"))
    for name, text in DEMO_PROJECTS.items():
        d = out / name
        d.mkdir(exist_ok=True)
        (d / "project.toml").write_text(text.format(epochs=epochs, validate_events=1000))
    for name in DEMO_PROJECTS:
        c.rule(f"[bold]2. train {name}")
        proj = load_project(out / name)
        with progress_bars() as rep:
            model_dir = train_project(proj, progress=rep)
        show_metrics(model_dir)
    c.rule("[bold green]demo finished")
    c.print(f"everything is under {out.resolve()}")
