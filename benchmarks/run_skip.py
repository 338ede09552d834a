"""How long an up-to-date `l1ml run` takes to find that there is nothing to do. Prints, from one run:
the time of a fully skipped `l1ml run` on a project that has been run before, against the time of
`l1ml --help` (the interpreter and CLI start-up, the baseline) measured in the same run, and the ratio.

Run: .venv/bin/python benchmarks/run_skip.py projects/dense_ae [--repeat 3]
(run `l1ml run --project projects/dense_ae` once first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "l1ml.cli.main", *args], capture_output=True, text=True)
    return time.perf_counter() - t0, r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    base, skip = [], []
    for _ in range(a.repeat):
        base.append(timed(["--help"])[0])
        t, r = timed(["run", "--project", a.project, "--json"])
        if r.returncode != 0:
            sys.exit(f"l1ml run failed: {r.stderr.strip().splitlines()[-1:]}")
        ran = [s["step"] for s in json.loads(r.stdout)["steps"] if s["status"] != "skipped"]
        if ran:
            sys.exit(f"not up to date ({', '.join(ran)} ran); run the benchmark again")
        skip.append(t)
    b, s = statistics.median(base), statistics.median(skip)
    print(f"l1ml --help (baseline): {b:.2f} s; skipped l1ml run: {s:.2f} s; ratio {s / b:.1f}x")


if __name__ == "__main__":
    main()
