"""`l1ml firmware ...`: the firmware variants of a project (l1ml/firmware/variants.py): list, use, label."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import JSON_OPT, MODEL_OPT, PROJECT_OPT, console, load, print_json

app = typer.Typer(help="Firmware variants: list them, choose the active one, label them.", no_args_is_help=True)


def _res_text(res: dict) -> str:
    parts = []
    for src, r in res.items():
        figs = ", ".join(f"{k.upper()} {r[k]}" for k in ("lut", "ff", "dsp", "bram") if r.get(k) is not None)
        if figs:
            parts.append(f"{figs} [dim]({r.get('label', src)})[/]")
    return "\n".join(parts)


@app.command("list")
def list_cmd(project: Path = PROJECT_OPT, as_json: bool = JSON_OPT) -> None:
    """Every variant of every model version: settings, validation state, resources where known."""
    from rich.markup import escape
    from rich.table import Table

    from l1ml.firmware.listing import list_variants

    proj = load(project)
    rows = list_variants(proj)
    if as_json:
        print_json(rows)
        return
    t = Table(title=f"{proj.name}: firmware variants ({proj.build_dir / 'firmware'})")
    for col in ("version", "variant", "label", "active", "settings", "validation", "resources"):
        t.add_column(col)
    for r in rows:
        s = r["settings"]
        text = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("hls_config",))
        if s.get("hls_config"):
            text += f"\noverrides {escape(str(s['hls_config']))}"
        t.add_row(
            r["version"], r["variant"], r["label"] or "", "*" if r["active"] else "", escape(text),
            r["validation"]["state"], _res_text(r["resources"]) or "[dim]unknown[/]",
        )
    console().print(t)
    if not rows:
        console().print("[dim]no firmware yet: run `l1ml convert`[/]")


@app.command("use")
def use(
    variant: str = typer.Argument(..., help="Variant id (or a unique prefix) or label."),
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
) -> None:
    """Make a variant the active one: what validate, emulate, synth and deploy use for the version."""
    from l1ml import layout
    from l1ml.firmware import variants as var

    proj = load(project)
    v = proj.model_dir(model).name
    root = layout.version_root(proj, v)
    rec = layout.find(root, variant)
    var.set_active(root, rec["id"], "use")
    console().print(f"[green]active[/] {v} -> {rec['id']}" + (f" ({rec['label']})" if rec.get("label") else ""))


@app.command("label")
def label(
    variant: str = typer.Argument(..., help="Variant id (or a unique prefix)."),
    name: str = typer.Argument(..., help="The label."),
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
) -> None:
    """Give a variant a label, usable wherever a variant is named."""
    from l1ml import layout
    from l1ml.firmware import variants as var

    proj = load(project)
    root = layout.version_root(proj, proj.model_dir(model).name)
    rec = layout.find(root, variant)
    var.set_label(root, rec["id"], name)
    console().print(f"[green]labelled[/] {rec['id']} '{name}'")
