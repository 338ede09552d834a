"""`l1ml boards ...`: the FPGA boards in boards/*.toml."""

from __future__ import annotations

import typer

app = typer.Typer(help="FPGA boards known to l1ml.", no_args_is_help=True)


@app.command("list")
def list_boards() -> None:
    """List the boards in boards/*.toml with their part, clock and resources."""
    from rich.table import Table

    from l1ml.cli._common import console
    from l1ml.firmware.boards import boards_dir
    from l1ml.firmware.boards import list_boards as boards

    t = Table(title=f"boards ({boards_dir()})")
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
