"""`l1ml convert`: a model version -> firmware project (hls4ml for networks, conifer for BDTs)."""

from __future__ import annotations

from pathlib import Path

from l1ml.cli._common import JSON_OPT, MODEL_OPT, PROJECT_OPT, console, load, print_json, progress_bars


def convert(project: Path = PROJECT_OPT, model: str = MODEL_OPT, as_json: bool = JSON_OPT) -> None:
    """Convert a model version into firmware under projects/NAME/build/firmware/<version>/."""
    from l1ml.firmware import convert as run

    proj = load(project)
    with progress_bars() as rep:
        fw = run(proj, model, progress=rep)
    if as_json:
        print_json({**fw, "firmware_dir": str(proj.firmware_dir(fw["version"]))})
        return
    show(proj, fw)


def show(proj, fw: dict) -> None:
    from rich.table import Table

    c = console()
    b = fw["board"]
    t = Table(title=f"{proj.name} {fw['version']} ({fw['kind']}) -> {fw.get('tool', '?')}", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("board", f"{b['name']}: {b['part']} at {1e3 / b['clock_period_ns']:.0f} MHz")
    if fw.get("tool") == "hls4ml":
        t.add_row(
            "backend", f"{fw['backend']}, {fw['io_type']}, {fw['strategy']}, reuse {fw['reuse_factor']}"
        )
        t.add_row("namespace", f"{fw['namespace']} (top function {fw['project_name']})")
        t.add_row("input", fw["input_precision"])
        for o, name in zip(fw["outputs"], ("output", "score"), strict=False):
            t.add_row(name, f"{o['size']} x {o['precision']}")
        if fw.get("widened_pooling"):
            t.add_row("pooling", "widened for an exact average: " + ", ".join(fw["widened_pooling"]))
        if fw.get("hls_config_file"):
            t.add_row("overrides", fw["hls_config_file"])
    else:
        t.add_row("precision", str(fw.get("precision")))
        if fw.get("precision_chosen"):
            h = fw.get("precision_holds") or {}
            t.add_row(
                "chosen",
                f"for [firmware] precision {fw.get('precision_requested')!r}, to hold inputs "
                f"[{h.get('input_lo')}, {h.get('input_hi')}], thresholds [{h.get('threshold_lo'):g}, "
                f"{h.get('threshold_hi'):g}], score +/-{h.get('score_bound', 0):.3g}",
            )
    c.print(t)
    if fw.get("emulator_refused"):
        c.print(f"[bold yellow]warning:[/] {fw['emulator_refused']}")
    c.print(f"[green]firmware[/] {proj.firmware_dir(fw['version'])}")
