"""The open RTL path on whole networks: per project, alkaid's trace, Verilator against the emulator (bit for
bit on the testbench's events) and Yosys, with Yosys' own CPU time and peak memory per flow.

    .venv/bin/python benchmarks/rtl_examples.py projects/dense_ae projects/cnn_ae projects/vae_encoder \
        --flows xilinx-stages,xilinx --timeout 3600

Each project must have been trained and converted (`l1ml run`, or `l1ml convert`). With two flows the
second's CPU time is printed as a ratio to the first's, measured in the same run; a flow that does not finish
within --timeout is reported as such (Yosys' CPU time then is at least what it used). The machine may be
shared: CPU time is each run's own cost, whatever else ran; the load average is printed beside it.
Figures are an open-source synthesis of the alkaid distributed-arithmetic design, not Vivado figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # queue.py would shadow stdlib
sys.path.insert(0, str(_HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def one(path: Path, flows: list[str], timeout: float) -> None:
    from l1ml.errors import L1mlError
    from l1ml.firmware.rtl.build import build_rtl, rtl_dir
    from l1ml.firmware.rtl.rtlsim_check import compare_values
    from l1ml.firmware.rtl.verilator import decode, simulate
    from l1ml.firmware.rtl.yosys import synthesize
    from l1ml.project import load_project

    proj = load_project(path)
    t = time.perf_counter()
    try:
        info = build_rtl(proj)
    except L1mlError as exc:  # a layer refused by name is a result, not a crash
        print(f"{proj.name}: refused: {exc}")
        return
    print(
        f"{proj.name}: traced in {time.perf_counter() - t:.0f} s; alkaid's predict equals the emulator on "
        f"{info['alkaid_checked_events']} events; {info['latency_cycles']} cycles at {1000 / info['clock_ns']:.0f} "
        f"MHz; adder cost {info['adder_cost']:,.0f}",
        flush=True,
    )
    rtl = rtl_dir(proj)
    c, t = child_cpu(), time.perf_counter()
    sim = simulate(rtl, (rtl / "tb" / "inputs.hex").read_text().split())
    cmp = compare_values(
        rtl, decode(rtl, sim.outputs), decode(rtl, (rtl / "tb" / "expected.hex").read_text().split())
    )
    print(
        f"{proj.name}: Verilator {cmp.identical_events} of {cmp.events} events bit-identical "
        f"({'PASS' if cmp.ok else 'FAIL: ' + str(cmp.first_mismatch)}); compile+run {time.perf_counter() - t:.0f} s "
        f"wall, {child_cpu() - c:.0f} s CPU (load {load()})",
        flush=True,
    )
    base = None
    for flow in flows:
        t = time.perf_counter()
        try:
            res = synthesize(rtl, flow, timeout=timeout)
        except L1mlError as exc:
            print(
                f"{proj.name}: yosys {flow}: {exc} (after {time.perf_counter() - t:.0f} s wall; load {load()})"
            )
            continue
        cpu = res["cpu_seconds"]
        ratio = f", {cpu / base:.2f}x the first flow's CPU" if base else ""
        base = base or cpu
        print(
            f"{proj.name}: {res['tool']} {res['flow']}: LUT {res['lut']:,}, FF {res['ff']:,}, DSP {res['dsp']}, "
            f"BRAM {res['bram']}, CARRY {res.get('carry', 0):,}, logic depth {res['logic_depth']}, "
            f"{res['latency_cycles']} cycles; Yosys CPU {cpu:.0f} s, wall {res['seconds']:.0f} s, "
            f"peak {res['peak_memory_mb']:,.0f} MB{ratio} (load {load()})",
            flush=True,
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("projects", nargs="+", type=Path)
    ap.add_argument(
        "--flows", default="xilinx-stages", help="comma-separated Yosys flows, first is the baseline"
    )
    ap.add_argument("--timeout", type=float, default=3600)
    a = ap.parse_args()
    print(f"load average at start: {load()} on {os.cpu_count()} cores")
    for p in a.projects:
        one(p, a.flows.split(","), a.timeout)
    print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
