"""`l1ml deploy`: a validated model -> CMSSW emulator library, thresholds in hardware units, board bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import MODEL_OPT, console, load, pick_model, progress_bars


def deploy(
    project: Path = typer.Option(None, "--project", "-p", help="Project directory (holding project.toml)."),
    model: str = MODEL_OPT,
    out: Path = typer.Option(None, "--out", "-o", help="Directory to write the deployment into."),
    force: bool = typer.Option(False, "--force", help="Deploy a version that has not passed validation."),
    name: str = typer.Option(None, "--name", help="Library name stem (default: the project name)."),
    synth: Path = typer.Option(
        None, "--synth", help="A fetched synthesis result (`l1ml synth fetch`): its summary and exported IP."
    ),
    verify: Path = typer.Option(None, "--verify", help="Check a bundle tar.gz against its manifest, and stop."),
    arithmetic: str = typer.Option(
        "firmware",
        "--arithmetic",
        help="What the library runs: 'firmware' (hls4ml's firmware code, the default) or 'kernel' (l1ml's "
        "compiled kernel of the same network, checked by the same parity vectors, but not hls4ml's code). "
        "benchmarks/deploy.py measures both: for the dense AE's portable -O3 builds the kernel took 20-30x "
        "less CPU per event (3.1 us against 62-67 us on an idle machine; 6.9 us against 200 us at load 6 on "
        "2 cores); 0.6-2.4 us with -march=native.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build the emulator library (symbol-audited, parity-checked), the thresholds and the board bundle."""
    import json

    from l1ml.errors import ConfigError

    if verify is not None:
        from l1ml.deploy.bundle import verify as check_bundle

        r = check_bundle(verify)
        if as_json:
            console().print_json(json.dumps(r))
        else:
            console().print(
                f"[green]OK[/] {verify}: {r['files']} files match the manifest "
                f"({r['project']} {r['model_version']}{', FORCED without validation' if r['forced'] else ''})"
            )
        return
    if project is None or out is None:
        raise ConfigError("deploy needs --project and --out (or --verify FILE)")
    from l1ml.deploy.core import deploy as run

    proj = load(project)
    model = pick_model(proj, model)
    with progress_bars() as rep:
        d = run(
            proj, out, version=model, force=force, name=name, synth_dir=synth, progress=rep, arithmetic=arithmetic
        )
    if as_json:
        console().print_json(json.dumps(d.to_dict()))
        return
    from rich.table import Table

    c = console()
    if d.forced:
        c.print("[bold yellow]FORCED:[/] this version has not passed validation; the manifest says so")
    c.print(f"{proj.name} {d.version} ({d.kind}) -> {d.out}")
    c.print(f"  library {d.library.name}: exports {', '.join(d.audit['exported'])} only; {d.parity}")
    t = Table(title=f"thresholds on {d.thresholds['score_type']} ({d.thresholds['background_events']:,} background events)")
    for col in ("rate kHz", "threshold", "threshold_int", "events above", "measured kHz"):
        t.add_column(col, justify="right")
    for r in d.thresholds["thresholds"]:
        t.add_row(f"{r['rate_khz']:g}", f"{r['threshold']:.6g}", str(r["threshold_int"]), str(r["events_above"]),
                  f"{r['rate_measured_khz']:.3g} ± {r['rate_err_khz']:.2g}")
    c.print(t)
    c.print(f"  bundle {d.bundle.name}  (check it with `l1ml deploy --verify {d.bundle}`)")
