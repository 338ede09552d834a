"""`l1ml demo`: the whole chain on embedded defaults, from generated events to validated firmware."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import console, progress_bars

# The demo's own projects: small enough for a laptop-sized run of a few minutes, large enough that the
# metrics mean something. They are written into the output directory, so the demo never touches projects/.
# Both projects read the one generated sample in ../data.
DEMO_DATA = """[data]
background = "../data/background.h5"
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
    """Generate events, train a dense AE and a BDT, convert them to firmware, prove the firmware
    bit-exact, and measure the firmware-exact trigger rate on the whole background sample."""
    from l1ml.cli import convert as convert_cli
    from l1ml.cli import validate as validate_cli
    from l1ml.cli.train import show_metrics
    from l1ml.data.generate import SIGNALS, write_samples
    from l1ml.emulate.conifer_sim import require_tools
    from l1ml.firmware import convert
    from l1ml.models.train import train_project
    from l1ml.project import load_project
    from l1ml.validate import default_report_dir, validate, write_reports

    require_tools("the demo (its BDT is validated with g++, conifer's C++ backend and GHDL)")
    c = console()
    out.mkdir(parents=True, exist_ok=True)
    c.rule("[bold]1. events")
    with progress_bars() as rep:
        rep.task("generate", 1 + len(SIGNALS))
        write_samples(out / "data", events, seed, progress=lambda _: rep.advance("generate"))
    for name, text in DEMO_PROJECTS.items():
        d = out / name
        d.mkdir(exist_ok=True)
        (d / "project.toml").write_text(
            text.format(data=DEMO_DATA, epochs=epochs, validate_events=validate_events)
        )
    failed, built = [], []
    for name in DEMO_PROJECTS:
        proj = load_project(out / name)
        c.rule(f"[bold]2. train {name}")
        with progress_bars() as rep:
            model_dir = train_project(proj, progress=rep)
        show_metrics(model_dir)
        c.rule(f"[bold]3. convert {name}")
        with progress_bars() as rep:
            fw = convert(proj, model_dir.name, progress=rep)
        convert_cli.show(proj, fw)
        c.rule(f"[bold]4. validate {name}: software against emulated firmware")
        with progress_bars() as rep:
            v = validate(proj, model_dir.name, progress=rep)
        validate_cli.show(v, write_reports(v, default_report_dir(proj, v.version)))
        if not v.passed:
            failed.append(f"validation of {name}")
        c.rule(f"[bold]5. firmware-exact rate of {name}")
        firmware_rate(proj, model_dir, out / "data" / "background.h5")
        built.append((proj, model_dir.name))
    c.rule("[bold]6. the firmware's own testbenches through the synthesis queue")
    failed += queue_csim(out / "queue", built)
    if failed:
        c.print(f"[bold red]failed: {', '.join(failed)} (see the tables above)[/]")
        raise typer.Exit(1)
    c.rule("[bold green]demo finished")
    c.print(f"everything is under {out.resolve()}")


def firmware_rate(proj, model_dir: Path, background: Path) -> None:
    """Run the fast bit-exact emulator over the whole background file and count triggers at the
    threshold chosen in software: this is the rate the firmware would fire at."""
    import json

    import h5py

    from l1ml.emulate.nn_project import emulate_project

    man = json.loads((model_dir / "manifest.json").read_text())
    dest = proj.build_dir / "emulation" / model_dir.name / "background.h5"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with progress_bars() as rep:
        r = emulate_project(proj, background, dest, version=model_dir.name, progress=rep)
    with h5py.File(dest, "r") as f:
        score = f["score"][:]
    fired = int((score > man["threshold"]).sum())
    rate_khz = fired / len(score) * proj.colliding_rate_hz / 1e3
    console().print(
        f"{r.events:,} background events emulated in {r.seconds:.1f} s ({r.rate:,.0f} events/s); "
        f"{fired} fire at threshold {man['threshold']:.6g}: [bold]{rate_khz:.3g} kHz[/] "
        f"(target {proj.trigger.rate_khz:g} kHz, set on the test split; this counts every event)"
    )


def queue_csim(home: Path, built: list) -> list[str]:
    """Queue a csim job (g++ build and run of the generated project's own testbench, on the events
    `convert` wrote) per project on a demo-local queue, run a worker until the queue is drained, and
    compare each testbench's output with the emulator's expected outputs. Returns the failed projects."""
    import os

    import numpy as np
    from rich.table import Table

    from l1ml.synth.client import LocalClient, package
    from l1ml.synth.job import format_memory, parse_memory
    from l1ml.synth.settings import load_settings
    from l1ml.synth.worker import Worker

    settings = load_settings(home=home, work=None, server="")
    client = LocalClient(settings)
    jobs = {}
    for proj, version in built:
        archive, fields = package(proj, version, "csim", None, "30m", check_tools=True)
        try:
            jobs[proj.name] = (proj, version, client.submit(archive, **fields)["id"])
        finally:
            os.unlink(archive)
    worker = Worker(settings, parse_memory("8G"), 0, 0.1)
    with progress_bars() as rep:
        rep.task("csim jobs", None)
        worker.run(until=worker.drained)
        rep.advance("csim jobs")
    t = Table(title=f"csim jobs on the queue in {home}")
    for col in ("job", "project", "state", "time", "peak memory", "testbench output vs emulator"):
        t.add_column(col)
    failed = []
    for name, (proj, version, job_id) in jobs.items():
        j = client.get(job_id)
        verdict = "-"
        if j["state"] == "succeeded":
            d = client.fetch(job_id, home / "results") / "files"
            sub = "hls4ml" if (d / "hls4ml").is_dir() else "conifer_hls"
            got = np.array((d / sub / "tb_data" / "csim_results.log").read_text().split(), float)
            want = np.loadtxt(
                proj.firmware_dir(version) / sub / "tb_data" / "tb_output_predictions.dat"
            ).ravel()
            # hls4ml's testbench prints 6 significant digits; conifer's prints scores exactly.
            same = (
                np.array_equal(got, want)
                if sub == "conifer_hls"
                else np.allclose(got, want, rtol=1e-5, atol=1e-5)
            )
            verdict = f"{'identical' if sub == 'conifer_hls' else 'equal to print precision'}: {same}"
            if not same:
                failed.append(f"csim output of {name}")
        else:
            failed.append(f"csim job of {name}")
        t.add_row(
            str(job_id),
            name,
            j["state"],
            f"{(j['ended_at'] or 0) - (j['started_at'] or 0):.1f} s",
            format_memory(j["peak_memory"]) if j["peak_memory"] else "-",
            verdict,
        )
    console().print(t)
    return failed
