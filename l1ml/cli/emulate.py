"""`l1ml emulate`: the firmware's exact fixed-point arithmetic over event files, fast."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import MODEL_OPT, PROJECT_OPT, console, load, pick_model, progress_bars


def emulate(
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
    input: list[str] = typer.Option(
        ...,
        "--input",
        "-i",
        help="Event files: HDF5 (ADC2021 layout) or ROOT (L1 ntuple, mapped by [data.inputs]); a glob "
        "such as 'zb/*.root', or the option repeated. The format is read from the files.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output HDF5: score (N,) and outputs/<name> (N, size)."
    ),
    key: str = typer.Option(
        None, "--key", help="Dataset in HDF5 inputs; default: the project's data.key (Particles)."
    ),
    scores_only: bool = typer.Option(
        False,
        "--scores-only",
        help="Write only the score, not the network's other outputs (the 57 "
        "reconstructed inputs of an AE): less to write, faster.",
    ),
    workers: int = typer.Option(
        0,
        "--workers",
        "-w",
        min=0,
        help="Processes that read and compute, each taking every w-th chunk of events; the output is the "
        "same for any number. 0: one per available core, except one in all when the compiled kernel "
        "runs faster than the events are read (its threads already use two cores).",
    ),
) -> None:
    """Firmware-exact scores for every event (bit-identical to the C simulation), streamed in chunks with
    reading, computing and writing overlapped; memory stays flat whatever the number of events."""
    from l1ml.emulate.nn_project import check_out, emulate_project

    proj = load(project)
    check_out(out)  # a wrong --out is named before "no model yet" or any other project state
    model = pick_model(proj, model)
    with progress_bars() as rep:
        r = emulate_project(
            proj,
            input if len(input) > 1 else input[0],
            out,
            version=model,
            key=key,
            progress=rep,
            scores_only=scores_only,
            workers=workers,
        )
    outs = ", ".join(f"{k} ({v})" for k, v in r.outputs.items()) or "none (--scores-only)"
    console().print(
        f"{proj.name} {r.version} ({r.kind}): {r.events:,} events in {r.seconds:.1f} s "
        f"({r.rate:,.0f} events/s) -> {r.out}\n  datasets: score, outputs/: {outs}"
    )
