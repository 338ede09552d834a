"""`l1ml demo`: `l1ml run` on generated events for two embedded projects, with a demo-local queue."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import console, progress_bars

# The demo's own projects: small enough for a laptop-sized run of a few minutes, large enough that the
# metrics mean something. They are written into the output directory, so the demo never touches projects/.
# Both projects read the one generated sample in ../data.
DEMO_DATA = """[data]
background = "../data/background.h5"
rate_sample = "../data/rate_sample.h5"
synthetic = false
[data.signals]
""" + "".join(f'{s} = "../data/{s}.h5"\n' for s in ("Ato4l", "leptoquark", "hToTauTau", "hChToTauNu"))

DEMO_PROJECTS = {
    "dense_ae": """\
name = "demo_dense_ae"
{data}[model]
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
[synth]
steps = ["csim"]
""",
    "bdt": """\
name = "demo_bdt"
{data}[model]
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
[synth]
steps = ["csim"]
""",
}


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Working directory for the demo."),
    events: int = typer.Option(300_000, "--events", "-n", min=2000, help="Background events to generate."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Training epochs of the autoencoder."),
    validate_events: int = typer.Option(
        1000, "--validate-events", min=10, help="Events per sample compared with the C simulation."
    ),
    seed: int = typer.Option(7, "--seed"),
) -> None:
    """`l1ml run` on generated events for a dense AE and a BDT, with a demo-local synthesis queue: train,
    convert, prove the firmware bit-exact, measure the firmware-exact rate on the whole background sample,
    run each firmware's own testbench through the queue against the emulator, and write the reports."""
    from l1ml.cli.run import show_outcome
    from l1ml.data.generate import SIGNALS, rate_sample_events, write_samples
    from l1ml.emulate.conifer_sim import require_tools
    from l1ml.project import load_project
    from l1ml.run import run_chain
    from l1ml.synth.settings import load_settings

    require_tools("the demo (its BDT is validated with g++, conifer's C++ backend and GHDL)")
    c = console()
    out.mkdir(parents=True, exist_ok=True)
    for name, text in DEMO_PROJECTS.items():
        d = out / name
        d.mkdir(exist_ok=True)
        (d / "project.toml").write_text(
            text.format(data=DEMO_DATA, epochs=epochs, validate_events=validate_events)
        )
    c.rule("[bold]events")
    # The rate sample: background apart from the training sample, enough for [trigger] min_events_above
    # (default 100) events above the 1 kHz threshold both projects set.
    proj0 = load_project(out / "dense_ae")
    rate_events = rate_sample_events(proj0.trigger_fpr, proj0.trigger.min_events_above)
    c.print(f"{events} background events for training, {rate_events} for the rate sample")
    with progress_bars() as rep:
        rep.task("generate", 2 + len(SIGNALS))
        write_samples(
            out / "data", events, seed, progress=lambda _: rep.advance("generate"), rate_events=rate_events
        )
    # The demo's own queue: a worker in this process runs the csim jobs; nothing outside `out` is touched.
    settings = load_settings(home=out / "queue", work=None, server="")
    failed, reports = [], []
    for name in DEMO_PROJECTS:
        proj = load_project(out / name)
        c.rule(f"[bold]l1ml run --project {proj.path}")
        with progress_bars() as rep:
            res = run_chain(proj, settings=settings, progress=rep, on_step=lambda o: show_outcome(c, o))
        if res.failed:
            failed.append(f"{name} ({res.failed.error})")
        else:
            reports.append(res.steps[-2].result["report"])
    if failed:
        c.print(f"[bold red]failed: {'; '.join(failed)}[/]")
        raise typer.Exit(1)
    c.rule("[bold green]demo finished")
    c.print(f"everything is under {out.resolve()}; the reports: {', '.join(reports)}")
