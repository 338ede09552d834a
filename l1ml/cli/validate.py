"""`l1ml validate`: software against emulated firmware, with JSON, JUnit and PNG reports."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import JSON_OPT, MODEL_OPT, PROJECT_OPT, console, load, print_json, progress_bars


def validate(
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
    events: int = typer.Option(
        None,
        "--events",
        "-n",
        min=0,
        show_default=False,
        help="Events per sample; default: the project's [validation] events (2000 unless set). "
        "0 means every event in the files.",
    ),
    junit: Path = typer.Option(
        None, "--junit", help="Write the JUnit XML here (default: next to report.json)."
    ),
    out: Path = typer.Option(None, "--out", help="Report directory; default: build/validation/<version>/."),
    as_json: bool = JSON_OPT,
) -> None:
    """Compare the software model with the emulated firmware; exit 1 when they differ beyond tolerance."""
    from l1ml.validate import default_report_dir, write_reports
    from l1ml.validate import validate as run

    proj = load(project)
    if events == 0 or (events is None and proj.validation.events == 0):
        console(stderr=True).print("validating every event of every sample (--events 0)")
    with progress_bars() as rep:
        v = run(proj, model, events=events, progress=rep)
    paths = write_reports(v, out or default_report_dir(proj, v.version), junit)
    if as_json:
        print_json({**v.to_dict(), "reports": paths})
    else:
        show(v, paths)
    if not v.passed:
        raise typer.Exit(1)


def show(v, paths: dict) -> None:
    from rich.table import Table

    from l1ml.validate.verdict import role_of

    c = console()
    t = Table(
        title=f"{v.project} {v.version} ({v.kind}): software vs firmware, {sum(v.events.values()):,} events"
    )
    for col in ("output", "comparison", "values", "mismatches", "max diff [LSB]", "bit-identical", ""):
        t.add_column(col, justify="left" if col in ("output", "comparison", "") else "right")
    for cmp in v.comparisons:
        ok = "[green]ok[/]" if cmp.ok else "[bold red]FAIL[/]"
        if cmp.name.endswith("float_vs_xgboost"):
            # float32 against float64 sums: never bit-identical; what counts is the 1e-5 tolerance.
            diff, same = f"max |diff| {cmp.max_diff:.2g} (tol. {cmp.lsb * cmp.tolerance_lsb:g})", "n/a"
        else:
            diff, same = f"{cmp.max_diff_lsb:g}", f"{100 * cmp.frac_identical:.3f}%"
        t.add_row(cmp.name, role_of(cmp), f"{cmp.events:,}", f"{cmp.mismatches:,}", diff, same, ok)
    for cmp in v.quantization:
        role = role_of(cmp)
        t.add_row(
            f"[dim]{cmp.name.replace(f' ({role})', '')}[/]",
            f"[dim]{role}[/]",
            f"{cmp.events:,}",
            "",
            f"[dim]max |diff| {cmp.max_diff:.3g}[/]",
            f"[dim]{100 * cmp.frac_identical:.2f}%[/]",
            "[dim]informative[/]",
        )
    c.print(t)
    if v.ptq:
        show_ptq(v.ptq)
    elif v.cost:
        c.print(f"quantization cost at the deployed threshold {v.threshold:.6g} (float xgboost -> firmware):")
        for k, q in v.cost.items():
            line = f"  {k}: {q['detail']}"
            c.print(line if q["ok"] else f"[bold red]{line}[/]")
    elif v.threshold is not None:
        def flip(k, n):
            allowed = v.flips_allowed.get(k, 0)
            text = f"{k} {n}" + (f"/{allowed} allowed" if v.kind == "bdt" else "")
            return text if n <= allowed else f"[bold red]{text}[/]"

        what = (
            "quantization flips (float xgboost vs fixed-point firmware)"
            if v.kind == "bdt"
            else "trigger decisions flipped"
        )
        flips = ", ".join(flip(k, n) for k, n in v.flips.items())
        c.print(f"{what} at threshold {v.threshold:.6g}: {flips}")
    else:
        c.print("[yellow]no threshold in the model manifest: trigger decisions not compared[/]")
    if v.divergence:
        d = v.divergence
        c.print(
            f"[bold red]first diverging layer:[/] {d.layer} "
            f"({d.mismatches}/{d.events_compared} failing events "
            f"differ there, max {d.max_diff:.3g}); its types: {d.types}"
        )
    from rich.markup import escape

    for note in v.notes:
        c.print(f"[bold yellow]note:[/] {escape(note)}")  # notes name project keys: [firmware] ...
    if v.cached_library is not None:
        c.print(f"C simulation: {'cached library' if v.cached_library else 'compiled (now cached)'}")
    c.print(
        ("[green]PASS[/]" if v.passed else "[bold red]FAIL[/]")
        + f"  reports: {paths['json']}, {paths['junit']}, "
        f"{paths['png']}"
    )


def show_ptq(q: dict) -> None:
    """A float model's quantization cost: the firmware against the float model, in physics."""
    from rich.markup import escape
    from rich.table import Table

    c = console()
    t = Table(
        title=f"physics cost of post-training quantization (\\[firmware] ptq = '{q.get('mode')}', "
        f"{q.get('default_precision')}): firmware vs the float model, {q['background_events']:,} background "
        f"events, target rate {q['target_rate_khz']:.3g} kHz of {q['colliding_rate_hz'] / 1e6:.1f} MHz"
    )
    for col in ("signal", "TPR float", "TPR firmware", "change", "AUC float", "AUC firmware", "flips", ""):
        t.add_column(col, justify="left" if col in ("signal", "") else "right")
    for k, s in q["signals"].items():
        f = q["flips"][k]
        ok = "[green]ok[/]" if s["within_tolerance"] else "[bold red]FAIL[/]"
        t.add_row(
            k,
            f"{s['tpr_float']:.4f}",
            f"{s['tpr_firmware']:.4f}",
            f"{s['tpr_change']:+.4f}",
            f"{s['auc_float']:.4f}",
            f"{s['auc_firmware']:.4f}",
            f"{f['flips']:,} ({100 * f['fraction']:.2f}%)",
            ok,
        )
    c.print(t)
    bkg = next(iter(q["flips"]))
    c.print(
        f"the software model is float: a signal's TPR change is judged with its error by "
        f"{escape('[gate]')} (fails beyond tpr_drop {q['limits']['tpr_drop']:g} or tpr_drop_relative "
        f"{q['limits']['tpr_drop_relative']:.0%} at over {q['limits']['significance']:g} sigma). "
        f"Thresholds for the rate: float {q['threshold_float']:.6g}, firmware "
        f"{q['threshold_firmware']:.6g}; {bkg} decisions flipped: {q['flips'][bkg]['flips']:,}"
    )
