"""`l1ml data generate` and `l1ml data inspect`."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import console, progress_bars

app = typer.Typer(
    help="Event data in the ADC2021 layout: generate synthetic samples, inspect files.", no_args_is_help=True
)


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", "-o", help="Directory for background.h5 and the signal files."),
    events: int = typer.Option(
        100_000, "--events", "-n", min=1, help="Background events (signals get a quarter)."
    ),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed; the same seed gives the same files."),
) -> None:
    """Write synthetic L1 events: a Standard-Model background and four ADC2021-named signals."""
    from l1ml.data.generate import SIGNALS, write_samples

    with progress_bars() as rep:
        rep.task("generate", 1 + len(SIGNALS))
        paths = write_samples(out, events, seed, progress=lambda _: rep.advance("generate"))
    for name, p in paths.items():
        console().print(f"[green]wrote[/] {p}  ({name})")


@app.command()
def inspect(
    file: Path = typer.Argument(..., help="An HDF5 event file."),
    key: str = typer.Option("Particles", help="Dataset name."),
) -> None:
    """Event count, object multiplicities and feature ranges of an event file."""
    import numpy as np
    from rich.table import Table

    from l1ml.data.io import load_particles

    ev = load_particles(file, key)
    c = console()
    c.print(f"[bold]{file}[/]: {len(ev):,} events, dataset '{key}' {ev.shape}", soft_wrap=True)
    t = Table(title="objects per event")
    for col in ("type", "rows", "mean count", "max count", "pT range [GeV]", "eta range", "phi range"):
        t.add_column(col, justify="right" if col != "type" else "left")
    for name, rows in (
        ("MET", slice(0, 1)),
        ("electrons", slice(1, 5)),
        ("muons", slice(5, 9)),
        ("jets", slice(9, 19)),
    ):
        block = ev[:, rows]
        present = block[..., 0] > 0
        cnt = present.sum(1)
        vals = block[present]
        def rng(a):
            return f"{a.min():.2f} .. {a.max():.2f}" if a.size else "-"
        t.add_row(
            name,
            f"{rows.start}-{rows.stop - 1}",
            f"{cnt.mean():.2f}",
            str(int(cnt.max(initial=0))),
            rng(vals[:, 0]),
            rng(vals[:, 1]),
            rng(vals[:, 2]),
        )
    c.print(t)
    classes = np.unique(ev[..., 3])
    c.print(f"class ids present: {', '.join(str(int(v)) for v in classes)}")
