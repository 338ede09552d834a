"""`l1ml data generate` and `l1ml data inspect`."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import JSON_OPT, console, print_json, progress_bars

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
    as_json: bool = JSON_OPT,
) -> None:
    """Event count, object multiplicities and feature ranges of an event file."""
    import numpy as np
    from rich.table import Table

    from l1ml.data.io import load_particles

    ev = load_particles(file, key)
    summary = {"file": str(file), "dataset": key, "events": len(ev), "shape": list(ev.shape), "objects": {}}
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
            return [float(a.min()), float(a.max())] if a.size else None

        summary["objects"][name] = {
            "rows": [rows.start, rows.stop - 1],
            "mean_count": float(cnt.mean()) if len(cnt) else 0.0,
            "max_count": int(cnt.max(initial=0)),
            "pt_range_gev": rng(vals[:, 0]),
            "eta_range": rng(vals[:, 1]),
            "phi_range": rng(vals[:, 2]),
        }
    summary["class_ids"] = [int(v) for v in np.unique(ev[..., 3])]
    if as_json:
        print_json(summary)
        return
    c = console()
    c.print(f"[bold]{file}[/]: {len(ev):,} events, dataset '{key}' {ev.shape}", soft_wrap=True)
    t = Table(title="objects per event")
    for col in ("type", "rows", "mean count", "max count", "pT range [GeV]", "eta range", "phi range"):
        t.add_column(col, justify="right" if col != "type" else "left")

    def fmt(r):
        return f"{r[0]:.2f} .. {r[1]:.2f}" if r else "-"

    for name, o in summary["objects"].items():
        t.add_row(
            name,
            f"{o['rows'][0]}-{o['rows'][1]}",
            f"{o['mean_count']:.2f}",
            str(o["max_count"]),
            fmt(o["pt_range_gev"]),
            fmt(o["eta_range"]),
            fmt(o["phi_range"]),
        )
    c.print(t)
    c.print(f"class ids present: {', '.join(str(v) for v in summary['class_ids'])}")
