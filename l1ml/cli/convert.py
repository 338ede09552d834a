"""`l1ml convert`: a model version -> firmware project (hls4ml for networks, conifer for BDTs)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from l1ml.cli._common import JSON_OPT, MODEL_OPT, PROJECT_OPT, console, load, print_json, progress_bars

BACKEND_OPT = typer.Option(
    "",
    "--backend",
    help="'rtl': also trace the network into alkaid Verilog (build/firmware/vN/rtl/) and synthesise it with "
    "Yosys; default: the project's [firmware] rtl setting.",
)
SYNTH_OPT = typer.Option(True, "--yosys/--no-yosys", help="With the rtl backend: run Yosys here.")
LABEL_OPT = typer.Option(None, "--label", help="A label for the firmware variant (usable wherever a variant is named).")


def convert(
    project: Path = PROJECT_OPT,
    model: str = MODEL_OPT,
    backend: str = BACKEND_OPT,
    yosys: bool = SYNTH_OPT,
    as_json: bool = JSON_OPT,
    label: str = LABEL_OPT,
) -> None:
    """Convert a model version into a firmware variant, projects/NAME/build/firmware/<version>/<variant>/
    (the same settings reuse their variant; the variant becomes the version's active one)."""
    from l1ml.errors import ConfigError
    from l1ml.firmware import convert as run

    if backend not in ("", "hls", "rtl"):
        raise ConfigError(f"--backend '{backend}' is not known; backends: hls, rtl")
    proj = load(project)
    with progress_bars() as rep:
        fw = run(proj, model, progress=rep, label=label)
        want_rtl = backend == "rtl" or (backend == "" and proj.firmware.rtl)
        rtl = None
        if want_rtl and fw.get("kind") != "bdt":
            from l1ml.firmware.rtl import convert_rtl

            rtl = convert_rtl(proj, fw["version"], synth=yosys, progress=rep)
    if as_json:
        print_json({**fw, "firmware_dir": str(proj.firmware_dir(fw["version"])), "rtl": rtl})
        return
    show(proj, fw)
    if rtl is not None:
        show_rtl(rtl)
    elif backend == "rtl":
        console().print(
            "[yellow]the rtl backend traces networks; a BDT's HDL is conifer's VHDL (queue steps: rtlsim with "
            "GHDL, ysynth with ghdl --synth and Yosys)[/]"
        )


def show_rtl(rtl: dict) -> None:
    """The RTL design and its Yosys figures, labelled with tool and flow; Vivado's beside them if found."""
    from rich.table import Table

    c = console()
    t = Table(title=f"open-source RTL (alkaid {rtl['alkaid']}, distributed arithmetic)", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    depth = (
        f"{rtl['latency_cycles']} cycles at {1e3 / rtl['clock_ns']:.0f} MHz "
        f"(alkaid latency cut-off {rtl['latency_cutoff_ns']:.2f} ns)"
        if rtl["pipelined"]
        else "combinational (no registers)"
    )
    t.add_row("pipeline", depth)
    t.add_row("checked", f"alkaid's compiled logic equals the emulator on {rtl['alkaid_checked_events']} events")
    c.print(t)
    res = rtl.get("resources")
    if res:
        viv = rtl.get("vivado")
        r = Table(title=f"resources: {res['tool']}, {res['flow']}" + (" | Vivado report" if viv else ""))
        r.add_column("")
        r.add_column(f"{res['tool']} ({res['flow']})", justify="right")
        if viv:
            r.add_column("Vivado (hls4ml Latency)", justify="right")
        for key in ("lut", "ff", "dsp", "bram"):
            r.add_row(key.upper(), str(res[key]), *([str(viv.get(key, "-"))] if viv else []))
        r.add_row("logic depth (cells)", str(res["logic_depth"]), *(["-"] if viv else []))
        c.print(r)
        c.print(
            f"[dim]{res['label']}; Yosys took {res['seconds']:.1f} s and {res['peak_memory_mb']:.0f} MB peak. "
            "hls4ml's Latency strategy with Vivado is the reference for resources.[/]"
        )
    c.print(f"[green]rtl[/] {rtl['dir']}")


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
        if fw.get("software_model") == "float":
            q = fw.get("ptq") or {}
            how = (
                f"sized from hls4ml's profiling on {q.get('profile_events', 0):,} background events, "
                f"{len(q.get('layers', {}))} layers set"
                if q.get("mode") == "profile"
                else "hls4ml's config_from_keras_model rules"
            )
            t.add_row(
                "precisions",
                f"float model, post-training quantization: ptq = '{q.get('mode')}', default "
                f"{q.get('default_precision')}, {how}",
            )
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
    for w in fw.get("ac_widened") or []:  # Catapult/Quartus/oneAPI (l1ml/firmware/backends/acfixed.py)
        c.print(
            f"[bold yellow]warning:[/] layer '{w['layer']}': hls4ml writes {w['precision']} as {w['written']} "
            f"for {fw['backend']} (one more fractional bit, a higher saturation limit); the emulator follows "
            "the firmware, and validation shows where it departs from the model"
        )
    if fw.get("csim_refused"):
        c.print(f"[yellow]note:[/] {fw['backend']}: {fw['csim_refused']}; the C simulation cannot run here")
    if fw.get("wrap_hazard"):  # an AP_WRAP input or score type that wrapped (l1ml/firmware/wrap.py)
        from l1ml.firmware.wrap import warnings

        for line in warnings(fw["wrap_hazard"]):
            c.print(f"[bold yellow]warning:[/] {escape(line)}")
    c.print(f"[green]firmware[/] {proj.firmware_dir(fw['version'])}")
    if fw.get("variant"):
        c.print(
            f"[dim]variant {fw['variant']} of {fw['version']}"
            + (" (same settings as before: reused, nothing rewritten)" if fw.get("reused") else "")
            + "; `l1ml firmware list` shows every variant[/]"
        )
