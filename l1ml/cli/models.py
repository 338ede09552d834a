"""`l1ml models ...`: list a project's model versions; import models trained elsewhere."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import PROJECT_OPT, console, load, progress_bars

app = typer.Typer(help="Model versions of a project: list, import.", no_args_is_help=True)


@app.command("list")
def list_models(project: Path = PROJECT_OPT) -> None:
    """List the project's model versions, where they came from and whether they were converted."""
    from rich.table import Table

    from l1ml.models.importer import list_models as rows

    proj = load(project)
    t = Table(title=f"{proj.name}: models ({proj.models_dir})")
    for col in ("version", "kind", "source", "created", "threshold", "firmware", "origin"):
        t.add_column(col)
    for r in rows(proj):
        thr = "" if r["threshold"] is None else f"{r['threshold']:.5g}"
        t.add_row(
            r["version"],
            str(r["kind"]),
            str(r["source"]),
            str(r["created"]),
            thr,
            "yes" if r["converted"] else "",
            r["origin"] or "",
        )
    console().print(t)


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
