"""gzip HDF5 input: h5py's one-thread read against l1ml's parallel inflate (l1ml/data/h5chunks.py), one run.

    .venv/bin/python benchmarks/gzip_read.py                         # 1M events, read loop and emulate
    .venv/bin/python benchmarks/gzip_read.py --events 400000 --no-emulate --repeat 5

For each gzip layout (the rate sample `l1ml data generate --rate-events` writes; gzip 4 in h5py's automatic
chunks, as `data generate` wrote its samples before issue 29 and as files from elsewhere often are; gzip 4
with shuffle) and, for reference, the uncompressed event chunks `data generate` writes now:
- the read loop `l1ml emulate` runs (HDF5 -> check -> hardware units), baseline = the loop as it was
  (h5py `ds[s:s+65536]`), against `Source.iter_hardware` (parallel inflate);
- with --emulate (default), `emulate_source --scores-only` (what `l1ml emulate --scores-only` runs, one
  process as `--workers 0` picks for the dense AE's kernel) on the dense AE 57-32-16-8-16-32-57 of
  benchmarks/streaming.py, fed by the baseline loop and by the default reader; the scores must be equal.
Baseline and new alternate within each repeat, so they share the machine's load; each line gives events/s
of wall time, per CPU-second, and the ratio new/baseline (the median over repeats). The wall-time ratio
needs a free core to show (the inflate threads run beside the consumer); on a loaded machine the
CPU-second ratio says whether the parallel path costs more work. Not part of the tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("l1ml_bench_streaming", _HERE / "streaming.py")
streaming = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(streaming)  # also puts the repository first on sys.path

CHUNK = 65536


def baseline_chunks(path: Path, key: str = "Particles"):
    """The HDF5 read loop of Source.iter_file before the parallel inflate: h5py decompresses, one thread."""
    import h5py

    from l1ml.data.io import check_particles
    from l1ml.data.stream import fast_hardware

    with h5py.File(path, "r") as f:
        ds = f[key]
        for s in range(0, ds.shape[0], CHUNK):
            block = ds[s : s + CHUNK]
            check_particles(block, f"{path}:{key}[{s}:]")
            yield fast_hardware(block)


def write_layouts(tmp: Path, events: np.ndarray) -> dict[str, Path]:
    import h5py

    from l1ml.data import generate

    layouts = {
        "uncompressed (16384, 19, 4): data generate's samples": dict(chunks=(generate.EVENT_CHUNK, 19, 4)),
        "gzip 1 (4096, 19, 4): data generate's rate sample": dict(
            chunks=(4096, 19, 4), compression="gzip", compression_opts=1
        ),
        "gzip 4, h5py's automatic chunks": dict(compression="gzip", compression_opts=4),
        "gzip 4 + shuffle (16384, 19, 4)": dict(
            chunks=(16384, 19, 4), compression="gzip", compression_opts=4, shuffle=True
        ),
    }
    out = {}
    for i, (name, opts) in enumerate(layouts.items()):
        path = tmp / f"layout{i}.h5"
        with h5py.File(path, "w") as f:
            ds = f.create_dataset("Particles", data=events, **opts)
            chunks = ds.chunks
        print(f"input     : {name}: chunks {chunks}, {path.stat().st_size / 1e6:.0f} MB", flush=True)
        out[name] = path
    return out


# `l1ml emulate` as a user runs it; the baseline is the same command with h5chunks' plan forced to "let
# h5py read it" (its fallback, which is the code as it was), so both pay the same start-up.
_CLI = "import sys, l1ml.data.h5chunks as h; {patch}from l1ml.cli.main import run; run()"


def cli_project(tmp: Path) -> Path:
    """The dense_ae example shrunk (20k generated events, one epoch), trained and converted by the CLI."""
    text = (_HERE.parent / "projects" / "dense_ae" / "project.toml").read_text()
    for key, value in (("generate_events", "20000"), ("epochs", "1"), ("finetune_epochs", "1")):
        text, hits = re.subn(rf"(?m)^{key} = \d+", f"{key} = {value}", text)
        if hits != 1:
            raise SystemExit(f"projects/dense_ae/project.toml: no single '{key} = N' line to shrink")
    proj = tmp / "proj"
    proj.mkdir()
    (proj / "project.toml").write_text(text)
    for cmd in (["train", "ae", "-p", str(proj)], ["convert", "-p", str(proj)]):
        r = subprocess.run(
            [sys.executable, "-c", _CLI.format(patch=""), *cmd], capture_output=True, text=True, check=False
        )
        if r.returncode != 0:
            raise SystemExit(f"l1ml {' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return proj


def cli_runs(tmp: Path, files: dict[str, Path], repeat: int, load) -> bool:
    """`l1ml emulate --scores-only` on each gzip layout, h5py's read then the parallel one, per repeat."""
    import h5py

    proj = cli_project(tmp)
    ok = True
    for name, path in files.items():
        if name.startswith("uncompressed"):
            continue
        ratios = []
        for rep in range(repeat):
            got = []
            for label, patch in (("h5py", "h._plan = lambda ds: None; "), ("parallel", "")):
                out = tmp / f"cli_{label}.h5"
                cmd = ["emulate", "-p", str(proj), "-i", str(path), "-o", str(out), "--scores-only"]
                t = time.perf_counter()
                r = subprocess.run(
                    [sys.executable, "-c", _CLI.format(patch=patch), *cmd],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                wall = time.perf_counter() - t
                if r.returncode != 0:
                    print(f"l1ml emulate failed ({r.returncode}): {r.stderr[-2000:]}")
                    return False
                said = re.findall(r"\(([\d,]+) events/s\)", r.stdout)  # the command's own figure
                with h5py.File(out) as f:
                    got.append(
                        (f["score"][:], wall, float(said[-1].replace(",", "")) if said else float("nan"))
                    )
                out.unlink()
            same = np.array_equal(got[0][0], got[1][0])
            ok &= same
            n = len(got[0][0])
            ratios.append((got[0][1] / got[1][1], got[1][2] / got[0][2]))
            print(
                f"[{rep + 1}/{repeat}] l1ml emulate --scores-only {name[:34]:<34}: the command's figure h5py "
                f"{got[0][2]:>9,.0f} ev/s, parallel {got[1][2]:>9,.0f} = {ratios[-1][1]:.2f}x; whole process "
                f"(start-up included) {n / got[0][1]:>9,.0f} -> {n / got[1][1]:>9,.0f} = {ratios[-1][0]:.2f}x; "
                f"scores equal: {same}; {load()}",
                flush=True,
            )
        for i, what in ((1, "the command's figure"), (0, "whole-process wall time")):
            rs = [r[i] for r in ratios]
            print(
                f"ratio     : l1ml emulate {name}: parallel / h5py = {statistics.median(rs):.2f}x in {what} "
                f"(median of {len(rs)}; {min(rs):.2f}-{max(rs):.2f})",
                flush=True,
            )
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-emulate", action="store_true", help="the read loop only (no hls4ml, no kernel)")
    ap.add_argument("--cli", action="store_true", help="also `l1ml emulate` on a project trained here")
    a = ap.parse_args()

    import h5py

    from l1ml.data import units
    from l1ml.data.h5chunks import _threads, iter_rows
    from l1ml.data.preprocess import Preprocessing
    from l1ml.data.stream import Source

    timed, load = streaming.timed, streaming.load
    ok = True
    with tempfile.TemporaryDirectory(prefix="l1ml-bench-gzip-") as tmpd:
        tmp = Path(tmpd)
        hw = streaming.hw_events(a.events, a.seed)
        events = units.from_hardware(hw)
        print(f"events    : {len(hw):,}; inflate threads: {_threads()}; {load()} at the start", flush=True)
        files = write_layouts(tmp, events)
        eng = pre = None
        if not a.no_emulate:
            pre = Preprocessing.fit(hw[:200_000])
            eng = streaming.build_engine(pre, tmp / "hls4ml", a.seed)
        from l1ml.emulate.nn_project import emulate_source

        for name, path in files.items():
            src = Source([path], "hdf5")
            ratios: dict[str, list[tuple[float, float]]] = {"read": [], "emulate": []}
            # The decompression alone, no consumer: CPU-s / wall-s is how many cores it kept busy.
            with h5py.File(path, "r") as f:
                ds = f["Particles"]
                _, w0, c0 = timed(lambda ds=ds: [ds[s : s + CHUNK] for s in range(0, len(ds), CHUNK)][-1])
                _, w1, c1 = timed(lambda ds=ds: [b for _, b in iter_rows(ds, 0, len(ds), CHUNK)][-1])
            print(
                f"decode    : {name[:34]:<34}: h5py {len(hw) / w0:>10,.0f} ev/s on {c0 / w0:.2f} cores, "
                f"parallel {len(hw) / w1:>10,.0f} ev/s on {c1 / w1:.2f} cores = {w0 / w1:.2f}x; {load()}",
                flush=True,
            )
            for rep in range(a.repeat):
                # the read loop alone: baseline, then the default reader
                (n0, w0, c0) = timed(lambda path=path: sum(len(h) for h in baseline_chunks(path)))
                (n1, w1, c1) = timed(lambda src=src: sum(len(h) for h in src.iter_hardware(CHUNK)))
                ok &= n0 == n1 == len(hw)
                ratios["read"].append((w0 / w1, c0 / c1))
                print(
                    f"[{rep + 1}/{a.repeat}] read    {name[:34]:<34}: h5py {n0 / w0:>10,.0f} ev/s "
                    f"({n0 / c0:>10,.0f}/CPU-s), parallel {n1 / w1:>10,.0f} ev/s ({n1 / c1:>10,.0f}/CPU-s) "
                    f"= {w0 / w1:.2f}x; {load()}",
                    flush=True,
                )
                if eng is None:
                    continue
                outs = []
                for label, chunks in (("h5py", baseline_chunks(path)), ("parallel", None)):
                    out = tmp / f"scores_{label}.h5"
                    (n, _), wall, cpu = timed(
                        lambda out=out, chunks=chunks, src=src: emulate_source(
                            eng, pre, src, out, scores_only=True, kernel=True, processes=1, chunks=chunks
                        )
                    )
                    with h5py.File(out) as f:
                        outs.append((f["score"][:], n / wall, n / cpu))
                    out.unlink()
                same = np.array_equal(outs[0][0], outs[1][0])
                ok &= same
                r = outs[1][1] / outs[0][1]
                ratios["emulate"].append((r, outs[1][2] / outs[0][2]))
                print(
                    f"[{rep + 1}/{a.repeat}] emulate {name[:34]:<34}: h5py {outs[0][1]:>10,.0f} ev/s "
                    f"({outs[0][2]:>10,.0f}/CPU-s), parallel {outs[1][1]:>10,.0f} ev/s "
                    f"({outs[1][2]:>10,.0f}/CPU-s) = {r:.2f}x; scores equal: {same}; {eng.kernel_note[:16]}; "
                    f"{load()}",
                    flush=True,
                )
            for what, rs in ratios.items():
                if rs:
                    w, c = [r[0] for r in rs], [r[1] for r in rs]
                    print(
                        f"ratio     : {what:<7} {name}: parallel / h5py = {statistics.median(w):.2f}x in wall "
                        f"time (median of {len(w)}; {min(w):.2f}-{max(w):.2f}), {statistics.median(c):.2f}x in "
                        f"events per CPU-second ({min(c):.2f}-{max(c):.2f}); {load()}",
                        flush=True,
                    )
        if a.cli:
            ok &= cli_runs(tmp, files, a.repeat, load)
    print("SCORES AND COUNTS EQUAL" if ok else "SOMETHING DIFFERED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
