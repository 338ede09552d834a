"""`l1ml run`: data check, train, convert, validate, rate, synth, deploy, report (and MLflow tracking when
set up), each skipped when its inputs have not changed."""

from __future__ import annotations

from pathlib import Path

import typer

from l1ml.cli._common import PROJECT_OPT, console, load, progress_bars

STATUS_STYLE = {"ran": "green", "skipped": "cyan", "failed": "bold red", "not run": "dim"}


def run(
    project: Path = PROJECT_OPT,
    until: str = typer.Option(None, "--until", help="Stop after this step."),
    start: str = typer.Option(None, "--from", help="Re-run from this step on; earlier steps from their records."),
    server: str = typer.Option(None, "--server", help="Synthesis queue server URL (default: the local queue)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome of every step as JSON."),
) -> None:
    """Take a project from its event files to a deployed library and a report; unchanged steps are skipped."""
    import json
    import sys

    from rich.markup import escape

    from l1ml.deploy import step as deployer
    from l1ml.run import run_chain
    from l1ml.synth.settings import load_settings

    proj = load(project)
    settings = load_settings(server=server)
    c = console(stderr=as_json)

    def show(o) -> None:
        show_outcome(c, o)

    try:
        with progress_bars() as rep:
            res = run_chain(
                proj, until=until, start=start, settings=settings, progress=rep, on_step=show, deployer=deployer
            )
    except KeyboardInterrupt:
        console(stderr=True).print(
            "[bold red]interrupted[/]: the step in progress left no result; earlier steps are kept"
        )
        raise typer.Exit(130) from None
    if as_json:
        sys.stdout.write(json.dumps(res.to_dict(), indent=1, default=str) + "\n")
    bad = res.failed
    if bad:  # the step's own line names it; the message is this one line, on stderr
        console(stderr=True).print(f"[bold red]error:[/] {escape(bad.error)}", soft_wrap=True)
        raise typer.Exit(2 if bad.bad_input else 1)
    ran = [s.step for s in res.steps if s.status == "ran"]
    c.print(
        f"[bold green]{proj.name} {res.version}:[/] "
        + (f"ran {', '.join(ran)}" if ran else "nothing to do, every step is up to date")
    )


def show_outcome(c, o) -> None:
    """One line per step: status, name, seconds, what it produced (or why it failed)."""
    from rich.markup import escape

    detail = "" if o.status == "failed" else _detail(o)  # the error is printed once, as the run's last line
    c.print(f"[{STATUS_STYLE[o.status]}]{o.status:>7}[/] {o.step:<9} {o.seconds:6.1f} s  {escape(detail)}", soft_wrap=True)


def _detail(o) -> str:
    r = o.result or {}
    if o.step == "data":
        return ", ".join(f"{k} {v['events']:,}" for k, v in r.get("files", {}).items())
    if o.step in ("train", "convert"):
        return r.get("version", "")
    if o.step == "validate":
        return f"PASS: software and firmware bit-exact (report {r.get('report', '')})"
    if o.step == "rate" and "rate_khz" in r:
        return (
            f"{r['fired']} of {r['background_events']:,} background events fire: "
            f"{r['rate_khz']:.3g} ± {r['rate_err_khz']:.2g} kHz (target {r['target_rate_khz']:g} kHz)"
        )
    if o.step == "synth":
        jobs = r.get("jobs", [])
        if not jobs:
            return r.get("note", "")
        parts = []
        for j in jobs:
            chk = j.get("csim_check")
            extra = f", output vs emulator {chk['how']}: {chk['same']}" if chk else ""
            parts.append(f"job {j['id']} {j['step']} {j['state']}{extra}")
        return "; ".join(parts)
    if o.step == "deploy":
        if r.get("refused"):
            return f"not deployed: {r['refused']}"
        return f"library {r.get('library', '')}, bundle {Path(r.get('bundle', '')).name}" if r else ""
    if o.step == "report":
        return r.get("report", "")
    if o.step == "track":
        return r.get("note") or f"MLflow run {r.get('run_id', '')}"
    return ""
