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
    file: Path = typer.Argument(..., help="An HDF5 event file, or a ROOT L1 ntuple."),
    key: str = typer.Option("Particles", help="Dataset name (HDF5)."),
    project: Path = typer.Option(
        None, "--project", "-p", help="ROOT: read with this project's [data.inputs]; default: the L1Upgrade tree."
    ),
    events: int = typer.Option(0, "--events", "-n", min=0, help="ROOT: read only the first events (0: all)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Event count, object multiplicities and feature ranges of an event file."""
    import numpy as np
    from rich.table import Table

    from l1ml.data.io import load_particles
    from l1ml.data.stream import sniff

    if sniff(file) == "l1ntuple":
        _inspect_root(file, project, events, as_json)
        return

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


def _inspect_root(file: Path, project: Path | None, events: int, json_out: bool) -> None:
    """A ROOT L1 ntuple, streamed in chunks: the mapping used and the objects it gives, in the layout."""
    import json

    from rich.table import Table

    from l1ml.data.l1ntuple import NtupleMap
    from l1ml.data.stream import Source, object_stats

    if project is not None:
        from l1ml.cli._common import load

        proj = load(project)
        mapping = NtupleMap.from_inputs(proj.data.inputs, f"{proj.file} [data.inputs]")
    else:
        mapping = NtupleMap.from_inputs(None)
    src = Source([file], "l1ntuple", mapping=mapping)
    total = src.counts()[0]
    def limited(chunks):
        left = events
        for hw in chunks:
            yield hw[:left]
            left -= len(hw)
            if left <= 0:
                return

    all_chunks = src.iter_hardware(65536)
    stats = object_stats(limited(all_chunks) if events else all_chunks)
    info = {
        "file": str(file),
        "tree": mapping.tree,
        "units": mapping.units,
        "events_in_file": total,
        "branches": mapping.branches,
        "met_type": mapping.met_type,
        **stats,
    }
    if json_out:
        print(json.dumps(info, indent=1))
        return
    c = console()
    c.print(
        f"[bold]{file}[/]: ROOT, tree '{mapping.tree}', {total:,} events ({stats['events']:,} read), "
        f"{mapping.units} units; MET = sumType {mapping.met_type}",
        soft_wrap=True,
    )
    used = ", ".join(f"{k}={v}" for k, v in mapping.branches.items() if v)
    c.print(f"branches: {used}", soft_wrap=True)
    t = Table(title="objects per event (bunch crossing 0, in the ADC2021 layout)")
    for col in ("type", "rows", "mean count", "max count", "pT range [GeV]", "eta range", "phi range"):
        t.add_column(col, justify="right" if col != "type" else "left")
    for name, d in stats["types"].items():
        def rng(v):
            return f"{v[0]:.2f} .. {v[1]:.2f}" if v else "-"
        t.add_row(name, d["rows"], f"{d['mean_count']:.2f}", str(d["max_count"]), rng(d["pt"]), rng(d["eta"]),
                  rng(d["phi"]))
    c.print(t)
