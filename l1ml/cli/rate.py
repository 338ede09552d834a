"""`l1ml rate`: the L1 rate of a model's firmware measured on ZeroBias events."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from l1ml.cli._common import MODEL_OPT, PROJECT_OPT, console, load, pick_model, progress_bars


def rate(
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
    sample: list[str] = typer.Option(
        None, "--sample", "-s", help="ZeroBias files (glob or repeated); default: [data] rate_sample."
    ),
    jobs: str = typer.Option(
        "",
        "--jobs",
        help="Split into queue jobs: 'file' (one per file) or a number of events per job; they run on the "
        "queue's worker (local or Slurm) and their counts merge into exactly the single run's.",
    ),
    memory: str = typer.Option("2G", "--memory", help="Memory per queue job (with --jobs)."),
    wait: float = typer.Option(3600.0, "--wait", help="Seconds to wait for the queue jobs (with --jobs)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Stream every ZeroBias event through the firmware emulation; the rate at the deployed threshold and
    the threshold for the project's trigger rate_khz, normalised by the colliding-bunch rate, with statistical errors."""
    import time

    from l1ml.rates import zerobias

    proj = load(project)
    model = pick_model(proj, model)
    spec = (sample if len(sample) > 1 else sample[0]) if sample else None
    if not jobs:
        with progress_bars() as rep:
            r, counts = zerobias.measure(proj, model, spec, progress=rep)
    else:
        from l1ml.data.stream import auto_source, project_source
        from l1ml.rates import split
        from l1ml.synth.client import make_client
        from l1ml.synth.job import TERMINAL
        from l1ml.synth.settings import load_settings

        source = project_source(proj, which="rate_sample") if spec is None else auto_source(spec, proj)
        client = make_client(load_settings())
        t0 = time.perf_counter()
        submitted = split.submit(client, proj, model, source, jobs if jobs == "file" else int(jobs), memory)
        ids = [j["id"] for j in submitted]
        if not json_out:
            console(stderr=True).print(f"submitted {len(ids)} emulate jobs: {', '.join(map(str, ids))}")
        deadline = time.time() + wait
        with progress_bars() as rep:
            rep.task("jobs", len(ids))
            done: set[int] = set()
            while len(done) < len(ids):
                for i in ids:
                    if i not in done and client.get(i).get("state") in TERMINAL:
                        done.add(i)
                        rep.advance("jobs")
                if len(done) < len(ids):
                    if time.time() > deadline:
                        from l1ml.errors import L1mlError

                        left = ", ".join(map(str, sorted(set(ids) - done)))
                        raise L1mlError(f"queue jobs {left} still running after {wait:.0f} s")
                    time.sleep(0.5)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="l1ml-rate-jobs-") as tmp:  # job ids repeat across queues
            counts = split.collect(client, ids, Path(tmp))
        version = proj.model_dir(model).name
        r = zerobias.report(
            proj, version, counts, source.files, zerobias.deployed(proj, version), time.perf_counter() - t0
        )
    zerobias.save(r, counts, proj.build_dir / "rates" / r.model_version)
    if json_out:
        print(json.dumps(r.to_dict(), indent=1))
        return
    from rich.table import Table

    c = console()
    c.print(
        f"{proj.name} {r.model_version}: {r.events:,} ZeroBias events from {len(r.files)} file(s) in "
        f"{r.seconds:.1f} s; rate = fraction above x {r.colliding_rate_hz / 1e6:.2f} MHz (colliding bunches)",
        soft_wrap=True,
    )
    t = Table()
    for col in ("", "threshold", "events above", "rate [kHz]", "68% interval [kHz]"):
        t.add_column(col, justify="left" if not col else "right")
    for row in r.rows:
        rate_txt = f"{row.rate_khz:.4g} ± {row.rate_err_khz:.2g} (stat.)"
        if row.rate_upper_khz is not None:
            rate_txt = f"< {row.rate_upper_khz:.3g} (68% CL)"
        thr = f"{row.threshold:.6g}" + (f" ({row.threshold_int} bits)" if row.threshold_int is not None else "")
        above = f"{row.events_above:,}" + ("" if row.enough else " [bold yellow](too few)[/]")
        t.add_row(row.label, thr, above, rate_txt, f"[{row.rate_low_khz:.3g}, {row.rate_high_khz:.3g}]")
    c.print(t)
    if not all(row.enough for row in r.rows):
        c.print(
            f"[yellow]a rate resting on fewer than {proj.trigger.min_events_above} events above its threshold "
            "([trigger] min_events_above) is not measured well enough to set or deploy a trigger[/]"
        )
    c.print(f"written: {proj.build_dir / 'rates' / r.model_version}/rates.json, counts.json")
