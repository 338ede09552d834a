"""`l1ml emulate`: the firmware's exact fixed-point arithmetic over an event file, fast."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import MODEL_OPT, PROJECT_OPT, console, load, progress_bars


def emulate(
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
    input: Path = typer.Option(..., "--input", "-i", help="Event file in the ADC2021 layout (HDF5)."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output HDF5: score (N,) and outputs/<name> (N, size)."
    ),
    key: str = typer.Option(
        None, "--key", help="Dataset in the input file; default: the project's data.key (Particles)."
    ),
) -> None:
    """Firmware-exact scores for every event (bit-identical to the C simulation), streamed in chunks."""
    from l1ml.emulate.nn_project import emulate_project

    proj = load(project)
    with progress_bars() as rep:
        r = emulate_project(proj, input, out, version=model, key=key, progress=rep)
    outs = ", ".join(f"{k} ({v})" for k, v in r.outputs.items())
    console().print(
        f"{proj.name} {r.version} ({r.kind}): {r.events:,} events in {r.seconds:.1f} s "
        f"({r.rate:,.0f} events/s) -> {r.out}\n  datasets: score, outputs/: {outs}"
    )
