"""`l1ml boards ...`: the FPGA boards (shipped ones and the user's boards directory)."""

from __future__ import annotations

import typer

from l1ml.cli._common import JSON_OPT

app = typer.Typer(help="FPGA boards known to l1ml.", no_args_is_help=True)


@app.command("list")
def list_boards(as_json: bool = JSON_OPT) -> None:
    """List the known boards with their part, clock and resources (and the file each comes from)."""
    from rich.table import Table

    from l1ml.cli._common import console, print_json
    from l1ml.firmware.boards import list_boards as boards
    from l1ml.firmware.boards import search_path

    if as_json:
        print_json([{**b.to_dict(), "file": str(b.file) if b.file else None} for b in boards()])
        return

    t = Table(title="boards", caption="looked in: " + ", ".join(str(d) for d in search_path()))
    for col in ("name", "part", "clock", "LUT", "FF", "DSP", "BRAM36", "URAM", "description"):
        t.add_column(
            col, justify="right" if col in ("LUT", "FF", "DSP", "BRAM36", "URAM", "clock") else "left"
        )
    for b in boards():
        r = b.resources
        t.add_row(
            b.name,
            b.part,
            f"{b.clock_mhz:.0f} MHz ±{b.clock_uncertainty}",
            f"{r['lut']:,}",
            f"{r['ff']:,}",
            f"{r['dsp']:,}",
            f"{r['bram_36k']:,}",
            f"{r['uram']:,}",
            b.description,
        )
    console().print(t)
