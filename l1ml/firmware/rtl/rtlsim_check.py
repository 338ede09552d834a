"""Bit-for-bit comparison of the RTL simulation's outputs with the emulator's, per output and event.

Also the last command of the queue's `rtlsim` step for networks:
``python -m l1ml.firmware.rtl.rtlsim_check RTL_DIR`` reads tb/rtl_outputs.hex and tb/expected.hex, writes
tb/rtlsim.json and exits 1 when any bit differs (so the job fails), 0 when all are identical.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from l1ml.errors import L1mlError


@dataclass
class Comparison:
    events: int
    identical_events: int
    per_output: dict = field(default_factory=dict)  # name -> {"max_lsb": int, "differing_events": int}
    first_mismatch: str = ""

    @property
    def ok(self) -> bool:
        return self.events > 0 and self.identical_events == self.events

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def compare_values(rtl: Path, got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> Comparison:
    """Both dicts: output name -> (events, size) exact values. Differences in LSBs of each output."""
    from l1ml.firmware.rtl.build import read_info

    info = read_info(rtl)
    n = len(next(iter(want.values())))
    if any(len(v) != n for v in got.values()):
        raise L1mlError(f"the RTL simulation wrote {len(next(iter(got.values())))} events, expected {n}")
    same = np.ones(n, dtype=bool)
    per, first = {}, ""
    for o in info["outputs"]:
        name = o["name"]
        diff = np.abs(got[name] - want[name]) * 2.0 ** o["frac"]
        bad = (diff != 0).any(axis=1)
        same &= ~bad
        per[name] = {"max_lsb": float(diff.max(initial=0)), "differing_events": int(bad.sum())}
        if bad.any() and not first:
            e = int(np.argmax(bad))
            j = int(np.argmax(diff[e] != 0))
            first = f"event {e}, {name}[{j}]: RTL {got[name][e, j]!r}, emulator {want[name][e, j]!r}"
    return Comparison(n, int(same.sum()), per, first)


def compare_files(rtl: Path, outputs: Path, expected: Path) -> Comparison:
    from l1ml.firmware.rtl.verilator import decode

    if not outputs.is_file():
        raise L1mlError(f"{outputs} not found: the RTL simulation wrote no outputs")
    return compare_values(
        rtl, decode(rtl, outputs.read_text().split()), decode(rtl, expected.read_text().split())
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m l1ml.firmware.rtl.rtlsim_check RTL_DIR", file=sys.stderr)
        return 2
    rtl = Path(args[0])
    try:
        c = compare_files(rtl, rtl / "tb" / "rtl_outputs.hex", rtl / "tb" / "expected.hex")
    except L1mlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (rtl / "tb" / "rtlsim.json").write_text(json.dumps(c.to_dict(), indent=2))
    # The queue's job log is read by people: one line saying what was compared and how it came out.
    print(
        f"rtlsim: {c.identical_events} of {c.events} events bit-identical to the emulator"
        + ("" if c.ok else f"; first mismatch: {c.first_mismatch}")
    )
    return 0 if c.ok else 1


if __name__ == "__main__":
    sys.exit(main())
