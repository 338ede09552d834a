"""``python -m l1ml.firmware.rtl.ysummary DIR FLOW``: the last command of a queue `ysynth` step.

Parses the finished Yosys run in DIR (yosys.log, stat.txt, ltp.txt) into DIR/resources.json, the contract
of docs/contracts.md, and prints the figures as one line for the job log.
"""

from __future__ import annotations

import sys
from pathlib import Path

from l1ml.errors import L1mlError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m l1ml.firmware.rtl.ysummary DIR FLOW", file=sys.stderr)
        return 2
    from l1ml.firmware.rtl.yosys import LABEL, parse, resources, write_resources, yosys_version

    d, flow = Path(args[0]), args[1]
    try:
        if (d / "rtl.json").is_file():
            res = resources(d, flow)
        else:  # a conifer VHDL project: no pipeline information of alkaid's
            p = parse(d)
            res = {
                "tool": yosys_version(),
                "flow": flow,
                "label": LABEL.replace(
                    "the alkaid distributed-arithmetic design", "conifer's VHDL via ghdl --synth"
                ),
                **{k: p[k] for k in ("lut", "ff", "dsp", "bram", "logic_depth", "peak_memory_mb")},
                "latency_cycles": None,
                "clock_ns": None,
                "seconds": p["cpu_seconds"],
                "carry": p["carry"],
            }
        write_resources(d, res)
    except L1mlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"ysynth ({res['tool']}, {flow}): LUT {res['lut']}, FF {res['ff']}, DSP {res['dsp']}, BRAM {res['bram']}, "
        f"logic depth {res['logic_depth']}, peak {res['peak_memory_mb']:.0f} MB, {res['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
