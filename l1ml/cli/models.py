"""`l1ml models ...`: list a project's model versions; import models trained elsewhere."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import PROJECT_OPT, console, load, progress_bars

app = typer.Typer(help="Model versions of a project: list, import, promote, gate, compare, track.", no_args_is_help=True)


@app.command("list")
def list_models(
    project: Path = PROJECT_OPT,
    as_json: bool = typer.Option(False, "--json", help="Every version's summary as JSON."),
) -> None:
    """Every model version: metrics, validation state, rate, firmware and synthesis results, stage."""
    import json

    from rich.table import Table

    from l1ml.lifecycle.summary import firmware_figures, numbers, validation_state, version_summary
    from l1ml.models.importer import list_models as rows

    proj = load(project)
    out = []
    for r in rows(proj):
        s = version_summary(proj, r["version"])
        out.append({**r, "stage": s["stage"], "validation": validation_state(s), "numbers": numbers(s),
                    "firmware": firmware_figures(s), "rtl": s["rtl"], "deploy": s["deploy"],
                    "rate": s["rate"], "metrics": s["metrics"]})  # fmt: skip
    if as_json:
        print(json.dumps(out, indent=1, default=str))
        return
    t = Table(title=f"{proj.name}: models ({proj.models_dir})")
    for col in ("version", "stage", "kind", "source", "created", "mean TPR@rate", "rate kHz", "validation",
                "latency", "LUT", "RTL LUT", "deployed", "origin"):  # fmt: skip
        t.add_column(col)
    for r in out:
        n = r["numbers"]
        tprs = [v for k, v in n.items() if k.startswith("tpr_at_target_rate/")]
        t.add_row(
            r["version"], r["stage"], str(r["kind"]), str(r["source"]), str(r["created"]),
            f"{sum(tprs) / len(tprs):.4f}" if tprs else "",
            f"{n['emulated_rate_khz']:.3g}" if "emulated_rate_khz" in n else "",
            r["validation"] if r["converted"] else "no firmware",
            f"{n['latency_cycles']:g} cyc" if "latency_cycles" in n else "",
            f"{n['LUT']:g}" if "LUT" in n else "",
            f"{n['rtl_lut']:g}" if "rtl_lut" in n else "",
            ", ".join(f"{t['rate_khz']:g} kHz" for t in (r["deploy"] or {}).get("thresholds", [])),
            r["origin"] or "",
        )  # fmt: skip
    console().print(t)


@app.command("promote")
def promote(
    version: str = typer.Argument(..., help="The version to promote (vN)."),
    project: Path = PROJECT_OPT,
    stage: str = typer.Option("production", "--stage", help="production or staging."),
    force: bool = typer.Option(False, "--force", help="Promote even if the gate fails (recorded as forced)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Promote a version after the regression gate against the production version."""
    import json

    from l1ml.lifecycle.promote import promote as run

    proj = load(project)
    entry, gate = run(proj, version, stage, force)
    if as_json:
        print(json.dumps(entry, indent=1, default=str))
        return
    show_gate(gate)
    forced = " [bold red](forced past a failed gate)[/]" if entry["forced"] else ""
    console().print(f"[green]{version} is now {stage}[/]{forced} (was {entry['previous'] or 'none'})")


@app.command("gate")
def gate(
    version: str = typer.Argument(None, help="Candidate version; default: the newest."),
    project: Path = PROJECT_OPT,
    against: str = typer.Option(None, "--against", help="Reference version; default: production."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The regression gate alone (for CI): exit 1 when it fails."""
    import json

    from l1ml.lifecycle.promote import check, failure_line
    from l1ml.project import latest_model_version

    proj = load(project)
    g = check(proj, version or latest_model_version(proj), against)
    if as_json:
        print(json.dumps(g.to_dict(), indent=1))
    else:
        show_gate(g)
    if not g.passed:
        console(stderr=True).print(f"[bold red]{failure_line(g)}[/]", soft_wrap=True)
        raise typer.Exit(1)


def show_gate(g) -> None:
    from rich.table import Table

    t = Table(title=f"gate: {g.candidate} against {g.reference or 'no production version'}")
    for col in ("check", "result", "detail"):
        t.add_column(col)
    for c in g.checks:
        t.add_row(c.name, "[green]pass[/]" if c.ok else "[bold red]FAIL[/]", c.detail)
    c = console()
    c.print(t)
    if g.trigger:
        from l1ml.models.threshold import short, tpr_line

        c.print(f"{g.candidate} as deployed: {short(g.trigger)}; TPR {tpr_line(g.trigger)}", soft_wrap=True)
    for line in g.toolchain_changes:
        c.print(f"[yellow]toolchain changed since {g.reference}:[/] {line}")
    for line in g.notes:
        c.print(f"[dim]{line}[/]")


@app.command("track")
def track(
    version: str = typer.Argument(None, help="Version to log; default: the newest."),
    project: Path = PROJECT_OPT,
) -> None:
    """Log a version to MLflow ([tracking] uri or MLFLOW_TRACKING_URI): params, metrics, the model, the
    firmware manifest, the report; registers it as a model version. `l1ml run` does this as its last step."""
    from l1ml.errors import ConfigError
    from l1ml.lifecycle.tracking import tracking_uri
    from l1ml.lifecycle.tracking.mlflow_adapter import log_version
    from l1ml.project import latest_model_version

    proj = load(project)
    if not tracking_uri(proj):
        raise ConfigError(f"{proj.file}: no [tracking] uri and no MLFLOW_TRACKING_URI; nothing to log to")
    v = version or latest_model_version(proj)
    proj.model_dir(v)
    info = log_version(proj, v)
    console().print(
        f"[green]logged[/] {v} to {tracking_uri(proj)}: run {info['run_id']}, "
        f"{info['registered_model']} version {info['model_version']}"
    )


@app.command("compare")
def compare(
    args: list[str] = typer.Argument(..., help="[PROJECT] vN vM"),
    project: Path = typer.Option(None, "--project", "-p", help="Project directory (or give it first)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Metrics, rate, thresholds and resources of two versions side by side, with the differences."""
    import json

    from rich.table import Table

    from l1ml.errors import ConfigError
    from l1ml.lifecycle.side_by_side import compare_versions

    if len(args) == 3 and project is None:
        project, args = Path(args[0]), args[1:]
    if len(args) != 2 or project is None:
        raise ConfigError("usage: l1ml models compare [--project] PROJECT vN vM")
    proj = load(project)
    r = compare_versions(proj, *args)
    if as_json:
        print(json.dumps(r, indent=1))
        return
    a, b = r["a"], r["b"]
    t = Table(title=f"{proj.name}: {a} against {b}")
    for col in ("figure", a, b, "delta"):
        t.add_column(col)
    t.add_row("validation", r["validation"][a], r["validation"][b], "")
    t.add_row("stage", r["stages"][a], r["stages"][b], "")
    for row in r["rows"]:
        t.add_row(row["name"], _figure(row["a"]), _figure(row["b"]), _figure(row["delta"], "+.4g"))
    console().print(t)


def _figure(v, spec: str = ".6g") -> str:
    """A number for people: integers (threshold_int, counts) whole, not as 8.41766e+08."""
    if v is None:
        return ""
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 2**53):
        return f"{int(v):{'+' if spec.startswith('+') else ''}d}"
    return f"{v:{spec}}"


@app.command("import")
def import_model(
    file: Path = typer.Argument(..., help="QKeras .h5, or xgboost .json/.ubj"),
    project: Path = PROJECT_OPT,
    preprocessing: Path = typer.Option(
        None, "--preprocessing", help="preprocessing.json; default: identity."
    ),
    no_fold: bool = typer.Option(
        False,
        "--no-fold",
        help="Keep BatchNormalization as it is (no folding, no fine-tuning); convert then refuses the model.",
    ),
) -> None:
    """Register a model trained elsewhere as the project's next model version; says what was done to it
    (BatchNormalization folded, epochs fine-tuned) and what that costs against your model."""
    from l1ml.models.importer import import_model as run
    from l1ml.models.importer import summary
    from l1ml.project import read_json

    proj = load(project)
    with progress_bars() as rep:
        d = run(proj, file, preprocessing, progress=rep, fold=not no_fold)
    c = console()
    c.print(f"[green]imported[/] {file} as {d.name} ({d})")
    for line in summary(read_json(d / "manifest.json")):
        c.print(f"  {line}")
