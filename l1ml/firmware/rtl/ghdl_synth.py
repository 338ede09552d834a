"""``python -m l1ml.firmware.rtl.ghdl_synth GHDL --std=.. --work=LIB TOP OUT.v``: GHDL's own synthesis of an analysed
VHDL design to a Verilog netlist, written to OUT.v (ghdl prints it on stdout; a plan has no redirection).

Debian ships GHDL 2.0 with ``--synth --out=verilog`` but no ghdl-yosys-plugin, so Yosys reads this netlist
instead of the VHDL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 5:
        print("usage: python -m l1ml.firmware.rtl.ghdl_synth GHDL --std=XX --work=LIB TOP OUT.v", file=sys.stderr)
        return 2
    ghdl, std, work, top, out = args
    r = subprocess.run(
        [ghdl, "--synth", std, work, "--out=verilog", top], capture_output=True, text=True, check=False
    )
    sys.stderr.write(r.stderr)
    if r.returncode != 0:
        print(f"ghdl --synth failed (exit {r.returncode}) on {top}", file=sys.stderr)
        return r.returncode
    tmp = Path(out + ".partial")
    tmp.write_text(r.stdout)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
