"""Streaming emulation end to end (file in, outputs out) against the emulator core, from one run.

    .venv/bin/python benchmarks/streaming.py                       # 2M events per path, 20M ROOT sample
    .venv/bin/python benchmarks/streaming.py --events 500000 --big 0
    .venv/bin/python benchmarks/streaming.py --model cnn_ae --events 1000000 --big 0 --repeat 1
    .venv/bin/python benchmarks/streaming.py --events 1000000 --big 0 --repeat 0   # issue 29's goals only

What it measures, on the project's dense AE (57-32-16-8-16-32-57, random quantized weights), or with
--model cnn_ae on the CNN AE example's shape:
- core: NNEmulator on preprocessed inputs already in memory (the arithmetic alone), median of 3;
- end to end through l1ml.emulate.nn_project.emulate_source (what `l1ml emulate` runs), HDF5 and ROOT
  input, with all outputs and with --scores-only, pipelined (threads; 1 or 2 compute threads) and serial,
  each as events/s of wall time and per CPU-second, beside the 1-minute load average;
- all of it --repeat times (the core re-measured each time, for the ratios);
- a --big-event synthetic L1 ntuple (LZ4, written here in 1M-event pieces, deleted afterwards) emulated
  scores-only in a fresh process, whose peak RSS is compared with the same at --events events: constant
  memory means the two peaks agree within a few tens of MB.
Then issue 29's goals, each printed MET or NOT MET with its figure (--repeat 0 runs these alone): for the
dense AE, scores-only end to end >= 100x the firmware's per-event C++ loop measured here (hls4ml's C
simulation library called per event from benchmarks/firmware_loop.cpp), on HDF5 as `data generate` writes
it, gzip HDF5 and ROOT, in-process and through `l1ml emulate` (on a dense_ae project trained here); for
--model cnn_ae, 1M events/s scores-only. A goal not met prints what bounds it: one serial run's seconds per
stage (read + decompress, prepare, kernel, write) and a cProfile of it written under --profile-dir.
Target (issue 15): >= 1M events/s end to end on 2 cores. The machine is shared with other engineers, so
wall-clock figures are noisy: CPU seconds are printed beside them. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
_spec = importlib.util.spec_from_file_location("l1ml_bench_bounds", _HERE / "_bounds.py")
_bounds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bounds)


def hw_events(n: int, seed: int) -> np.ndarray:
    """n background-like events in hardware units: 200k generated, tiled with random phi rotations."""
    from l1ml.data import generate, units

    base = units.to_hardware(generate.generate("background", min(n, 200_000), seed))
    rng = np.random.default_rng(seed)
    reps, have = [base], len(base)
    while have < n:
        h = base.copy().reshape(len(base), 19, 3)
        shift = rng.integers(-72, 73, size=(len(h), 1))
        phi = (h[..., 2] + shift + 72) % 144 - 72
        h[..., 2] = np.where(h[..., 0] > 0, phi, 0)
        reps.append(h.reshape(len(base), -1))
        have += len(base)
    out = np.concatenate(reps)[:n]
    # The GT has one phi for +-pi (+72); float inputs at -pi round to -72. Use the GT's, as ROOT gives it.
    phi = out[:, 2::3]
    phi[phi == -72] = 72
    return out


def _counter(branch: str) -> str:
    counters = {"eg": "nEGs", "muon": "nMuons", "jet": "nJets", "sum": "nSums"}
    return next(c for k, c in counters.items() if branch.startswith(k))


def write_root(path: Path, pieces, compression="lz4") -> int:
    """An L1Upgrade-shaped tree (the default [data.inputs] names, vector<short> integers) from (n, 57)
    hardware pieces, vectorised: per type, the present objects in row order."""
    import awkward as ak
    import uproot

    comp = uproot.LZ4(1) if compression == "lz4" else None
    total = 0
    with uproot.recreate(path, compression=comp) as f:
        tree = None
        # One basket per extend: 50k-event pieces keep baskets near the few-MB size of CMSSW's ntuples
        # (a 1M-event basket is decompressed whole for every chunk read from it).
        for hw in (p[i : i + 50_000] for big in pieces for p in [big] for i in range(0, len(p), 50_000)):
            h = hw.reshape(len(hw), 19, 3)
            br = {}
            for name, rows in (("eg", slice(1, 5)), ("muon", slice(5, 9)), ("jet", slice(9, 19))):
                blk = h[:, rows]
                present = blk[..., 0] > 0
                counts = present.sum(1)
                pt, eta, phi = (blk[..., j][present] for j in range(3))
                if name == "muon":  # the muon system's steps: 4 per calo step
                    eta, phi = eta * 4, (phi * 4) % 576
                else:
                    phi = phi % 144
                en = "muonIEtaAtVtx" if name == "muon" else f"{name}IEta"
                pn = "muonIPhiAtVtx" if name == "muon" else f"{name}IPhi"
                br[f"{name}IEt"] = ak.unflatten(pt.astype(np.int16), counts)
                br[en] = ak.unflatten(eta.astype(np.int16), counts)
                br[pn] = ak.unflatten(phi.astype(np.int16), counts)
                br[f"{name}Bx"] = ak.unflatten(np.zeros(len(pt), np.int16), counts)
            # Sums: TotalEt (0) then the MET (2), both at BX 0.
            met = h[:, 0]
            ones = np.full(len(h), 2)
            br["sumIEt"] = ak.unflatten(
                np.stack([met[:, 0] + 100, met[:, 0]], 1).ravel().astype(np.int16), ones
            )
            br["sumIPhi"] = ak.unflatten(
                np.stack([met[:, 2] % 144, met[:, 2] % 144], 1).ravel().astype(np.int16), ones
            )
            br["sumType"] = ak.unflatten(np.tile(np.array([0, 2], np.int16), len(h)), ones)
            br["sumBx"] = ak.unflatten(np.zeros(2 * len(h), np.int16), ones)
            if tree is None:  # a TTree, as L1TNtuples writes (a plain assignment would write an RNTuple)
                tree = f.mktree(
                    "l1UpgradeTree/L1UpgradeTree", {k: v.type for k, v in br.items()}, counter_name=_counter
                )
            tree.extend(br)
            total += len(hw)
    return total


def build_engine(pre, out_dir: Path, seed: int, kind: str = "dense_ae"):
    """The deploy graph of a dense AE (57-32-16-8-16-32-57) or CNN AE (the cnn_ae example's shape: conv 4
    and 8 filters, latent 8, dense 16), random quantized weights, through hls4ml, wrapped as `l1ml
    emulate`'s engine."""
    import hls4ml
    import tensorflow as tf

    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.emulate.nn_project import _Network
    from l1ml.models import ae, deploy

    class Cfg:
        hidden, latent, bits, integer, alpha, batchnorm = [32, 16], 8, 8, 3, 1, True
        filters = [4, 8]

    if kind == "cnn_ae":
        Cfg.hidden = [16]
    tf.keras.utils.set_random_seed(seed)
    model = (ae.build_cnn_ae if kind == "cnn_ae" else ae.build_dense_ae)(Cfg)
    folded, _ = deploy.fold_batchnorm(deploy.trunk(model, kind))
    km = deploy.add_score_head(folded, kind)
    cfg = hls4ml.utils.config_from_keras_model(km, granularity="name", backend="Vitis")
    cfg["LayerName"][km.layers[0].name]["Precision"]["result"] = pre.input_precision()
    hm = hls4ml.converters.convert_from_keras_model(
        km, hls_config=cfg, output_dir=str(out_dir), backend="Vitis", io_type="io_parallel", project_name="b"
    )
    eng = _Network.__new__(_Network)
    eng.emu = NNEmulator(hm)
    eng.names = list(eng.emu.output_names)
    eng.kernel, eng.kernel_note = None, "numpy"
    eng.hls_model = hm  # the firmware baseline compiles it
    return eng


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for children (the forked emulation workers)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def timed(fn):
    c, t = _cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, _cpu() - c


def load() -> str:
    """The 1-minute load average: how many other runnable processes shared the 2 cores."""
    return f"load {os.getloadavg()[0]:.1f}"


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that across
    execve, so a child started by this benchmark would report the parent's peak, whatever it streamed."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(args) -> int:
    """Emulate a ROOT file scores-only in this fresh process; print events, seconds and peak RSS."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.data.stream import Source
    from l1ml.emulate.nn_project import emulate_source

    # The same seeded model as the parent's (the emulator's ops are closures, which do not pickle).
    pre = Preprocessing.load(Path(args.child_state))
    eng = build_engine(pre, Path(args.child_out).parent / "hls4ml_child", args.seed, args.model)
    src = Source([Path(args.child_input)], "l1ntuple")
    # The peak before the first event: TensorFlow, hls4ml and the model; what streaming adds is above it.
    rss0 = peak_rss_mb()
    (n, counts), wall, cpu = timed(
        lambda: emulate_source(eng, pre, src, Path(args.child_out), scores_only=True, processes=args.workers)
    )
    rss = peak_rss_mb()
    # Forked workers (numpy path): the largest one's peak, counting the pages it shares with this process.
    rss_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if eng.kernel is None else 0.0
    print(
        json.dumps(
            {
                "events": n,
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": rss,
                "peak_rss_before_mb": rss0,
                "peak_rss_worker_mb": rss_worker,
                "workers": args.workers,
                "arithmetic": eng.kernel_note,
                "threshold_1khz": counts.threshold_for(1e3 / 28.6e6),
            }
        )
    )
    return 0


def firmware_loop(eng, X: np.ndarray, tmp: Path, n: int) -> dict:
    """The baseline of issue 29: the generated firmware (hls4ml's C simulation library, g++ through
    hls4ml's own compile) called per event from a C++ loop (benchmarks/firmware_loop.cpp) on n events."""
    hm = eng.hls_model
    t = time.perf_counter()
    hm.write()
    lib = Path(hm.config.backend.compile(hm))
    t_compile = time.perf_counter() - t
    host = tmp / "firmware_loop"
    for cmd in (
        ["g++", "-O2", "-std=c++17", str(_HERE / "firmware_loop.cpp"), "-o", str(host), "-ldl"],
        [str(host), str(lib), hm.config.get_project_name() + "_double", str(tmp / "fw_in.bin"),
         str(X.shape[1]), str(tmp / "fw_scores.bin"), *map(str, eng.sizes().values())],
    ):
        if cmd[0] != "g++":
            np.ascontiguousarray(X[:n], np.float64).tofile(tmp / "fw_in.bin")
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    d = {k: float(v) for k, v in zip(r.stdout.split()[::2], r.stdout.split()[1::2], strict=True)}
    return {"events": int(d["events"]), "rate": d["events"] / d["wall"], "cpu_rate": d["events"] / d["cpu"],
            "compile_s": t_compile, "scores": np.fromfile(tmp / "fw_scores.bin", np.float64)}


def stage_bounds(eng, pre, src, out: Path, profile_path: Path) -> list[str]:
    """What bounds scores-only streaming on `src`: one serial run (threads=False, one process) with each
    stage timed (the pipelined run overlaps them, so its ceiling is about the slowest stage), under
    cProfile, whose top entries by cumulative time go to profile_path."""
    from l1ml.emulate.nn_project import READ_CHUNK, emulate_source

    st = _bounds.Stages()
    eng.prepare = st.wrap(type(eng).prepare.__get__(eng), "prepare (hardware integers -> codes)")
    eng.run_prepared = st.wrap(type(eng).run_prepared.__get__(eng), "kernel (run_prepared)")
    prof = cProfile.Profile()
    try:
        chunks = st.iterate(src.iter_hardware(READ_CHUNK), "read + decompress (iter_hardware)")
        t, c, p = time.perf_counter(), time.thread_time(), time.process_time()
        n, _ = prof.runcall(emulate_source, eng, pre, src, out, scores_only=True, threads=False, processes=1,
                            chunks=chunks)
        wall, cpu, pcpu = time.perf_counter() - t, time.thread_time() - c, time.process_time() - p
    finally:
        del eng.prepare, eng.run_prepared  # the class's methods again
    out.unlink(missing_ok=True)
    st.add("write + counts + the rest", wall - sum(st.wall.values()), cpu - sum(st.cpu.values()))
    _bounds.write_profile(profile_path, [prof])
    return [f"    serial run: {n / wall:,.0f} events/s ({wall:.2f} s wall, {pcpu:.2f} s CPU of the process, of "
            f"which {cpu:.2f} s on this thread, the rest inflate threads; {load()}); per stage (CPU: this thread's):",
            *st.table(wall, n), f"    profile: {profile_path} (cProfile of that run, cumulative)"]


def cli_run(proj: Path, path: Path, out: Path) -> tuple[float, float]:
    """`l1ml emulate --scores-only` in its own process: (the command's own events/s, whole-process wall s)."""
    import re

    cmd = [sys.executable, "-c", "from l1ml.cli.main import run; run()", "emulate", "-p", str(proj), "-i",
           str(path), "-o", str(out), "--scores-only"]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"l1ml emulate failed ({r.returncode}): {r.stderr[-2000:]}")
    said = re.findall(r"\(([\d,]+) events/s\)", r.stdout)
    if not said:
        raise SystemExit(f"l1ml emulate printed no events/s: {r.stdout[-500:]}")
    out.unlink(missing_ok=True)
    return float(said[-1].replace(",", "")), wall


def goals(a, tmp: Path, eng, kern, pre, hw, X, ref, inputs: dict) -> bool:
    """Issue 29's goals, each MET or NOT MET with its figure and ratio; when not met, what bounds it."""
    import h5py

    from l1ml.data.stream import Source
    from l1ml.emulate.nn_project import emulate_source

    ok = True
    last = eng.names[-1]
    q_all = None if kern is None else kern_codes(pre, eng, hw)
    if kern is not None:
        _, t_k, c_k = timed(lambda: kern(q_all, [last]))
        print(f"kernel    : alone on input codes in memory, scores only: {len(hw) / t_k:,.0f} events/s wall, "
              f"{len(hw) / c_k:,.0f} per CPU-second ({1e6 * c_k / len(hw):.2f} us an event; {load()})", flush=True)
    fw = None
    if a.model == "dense_ae" and a.firmware_events:
        fw = firmware_loop(eng, X, tmp, a.firmware_events)
        same = np.array_equal(fw["scores"], ref[last][: fw["events"], 0])
        ok &= same
        print(f"baseline  : the firmware (hls4ml's C simulation library, compiled in {fw['compile_s']:.0f} s) called "
              f"per event from C++: {fw['rate']:,.0f} events/s wall, {fw['cpu_rate']:,.0f} per CPU-second on "
              f"{fw['events']:,} events; scores equal the emulator's: {same}; {load()}", flush=True)
    proj = None
    if a.model == "dense_ae" and a.cli:
        spec = importlib.util.spec_from_file_location("l1ml_bench_gzip", _HERE / "gzip_read.py")
        gz = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gz)
        _, t_p, _ = timed(lambda: gz.cli_project(tmp))
        proj = tmp / "proj"
        print(f"cli       : the dense_ae example trained (1 epoch, 20k events) and converted in {t_p:.0f} s, for "
              "`l1ml emulate --scores-only`", flush=True)
    for label, (path, fmt) in inputs.items():
        src = Source([path], fmt)
        out = tmp / "goal.h5"
        eng.kernel = kern
        (n, _), wall, cpu = timed(lambda src=src, out=out: emulate_source(eng, pre, src, out, scores_only=True,
                                                                          processes=0, kernel=True))
        with h5py.File(out) as f:
            same = np.array_equal(f["score"][:], ref[last][:, 0])
        ok &= same
        out.unlink()
        cpu_note = f" and {n / cpu / fw['cpu_rate']:.0f}x per CPU-second" if fw else ""
        rates = [("in-process (emulate_source)", n / wall,
                  f"{n / cpu:,.0f} per CPU-second{cpu_note}, scores equal: {same}")]
        if proj is not None:
            said, whole = cli_run(proj, path, tmp / "cli.h5")
            rates.append(("`l1ml emulate --scores-only`", said,
                          f"the command's figure; whole process {n / whole:,.0f} events/s ({whole:.1f} s, "
                          f"{whole - n / said:.1f} s of it start-up: imports, model, kernel check)"))
        missed = False
        for how, rate, note in rates:
            if fw is not None:
                met = rate >= 100 * fw["rate"]
                print(_bounds.goal_line(f"{label}, {how}, >= 100x the firmware's per-event C++ loop", met,
                                        f"{rate:,.0f} events/s = {rate / fw['rate']:.0f}x ({note}; {load()})"))
            else:
                met = rate >= 1e6
                print(_bounds.goal_line(f"{label}, {how}, {a.model} >= 1M events/s scores-only", met,
                                        f"{rate:,.0f} events/s ({note}; {load()})"))
            missed |= not met
        if missed:
            print(f"bound     : {label}:", flush=True)
            prof = a.profile_dir / f"l1ml-bench-streaming-{a.model}-{label.split()[0].lower()}.prof.txt"
            print("\n".join(stage_bounds(eng, pre, src, tmp / "bound.h5", prof)), flush=True)
    return ok


def kern_codes(pre, eng, hw):
    from l1ml.emulate.stream import hardware_codes

    return hardware_codes(pre, eng.emu, hw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--big", type=int, default=20_000_000, help="events of the big ROOT sample; 0 skips it")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=2, help="repeat the core and end-to-end table")
    ap.add_argument(
        "--big-only", action="store_true", help="skip the end-to-end table (the memory part only)"
    )
    ap.add_argument(
        "--workers", type=int, default=0, help="worker processes for the big sample's run (0: l1ml's choice)"
    )
    ap.add_argument("--model", choices=("dense_ae", "cnn_ae"), default="dense_ae")
    ap.add_argument("--firmware-events", type=int, default=20_000,
                    help="events through the firmware's per-event C++ loop, the dense AE's baseline (0: skip)")
    ap.add_argument("--cli", action=argparse.BooleanOptionalAction, default=True,
                    help="also `l1ml emulate` on a dense_ae project trained here (dense AE only)")
    ap.add_argument("--profile-dir", type=Path, default=Path(tempfile.gettempdir()),
                    help="where the profiles of goals not met go")
    ap.add_argument("--child-state")
    ap.add_argument("--child-input")
    ap.add_argument("--child-out")
    a = ap.parse_args()
    if a.child_state:
        return child(a)

    import h5py

    from l1ml.data import units
    from l1ml.data.preprocess import Preprocessing
    from l1ml.data.stream import Source
    from l1ml.emulate.nn_project import emulate_source
    from l1ml.emulate.stream import fast_preprocess

    with tempfile.TemporaryDirectory(prefix="l1ml-bench-stream-") as tmpd:
        tmp = Path(tmpd)
        hw = hw_events(a.events, a.seed)
        pre = Preprocessing.fit(hw[:200_000])
        print(f"events: {len(hw):,} background-like events; input type {pre.input_precision()}", flush=True)
        eng = build_engine(pre, tmp / "hls4ml", a.seed, a.model)
        X = fast_preprocess(pre, hw)
        assert np.array_equal(X, pre.apply(hw)), "fast_preprocess differs from Preprocessing.apply"
        print(f"machine   : {os.cpu_count()} cores, {load()} at the start", flush=True)
        from l1ml.data.generate import EVENT_CHUNK

        # as `l1ml data generate` writes its samples (uncompressed event chunks), and gzip 4 in h5py's
        # automatic chunks, as files from elsewhere often are
        h5, h5gz = tmp / "events.h5", tmp / "events_gzip.h5"
        with h5py.File(h5, "w") as f:
            f.create_dataset("Particles", data=units.from_hardware(hw), chunks=(EVENT_CHUNK, 19, 4))
        _, t_gz, _ = timed(lambda: h5py.File(h5gz, "w").create_dataset(
            "Particles", data=units.from_hardware(hw), compression="gzip", compression_opts=4).file.close())
        root = tmp / "events.root"
        _, t_w, _ = timed(
            lambda: write_root(root, [hw[i : i + 1_000_000] for i in range(0, len(hw), 1_000_000)])
        )
        print(
            f"inputs    : HDF5 {h5.stat().st_size / 1e6:.0f} MB; gzip HDF5 {h5gz.stat().st_size / 1e6:.0f} MB "
            f"written in {t_gz:.1f} s; ROOT (LZ4) {root.stat().st_size / 1e6:.0f} MB "
            f"written in {t_w:.1f} s",
            flush=True,
        )
        ok = True
        rows = []
        # (scores_only, pipelined, compute threads, worker processes): the variants of `l1ml emulate`.
        # (scores_only, pipelined, compute threads, worker processes, compiled kernel). Two compute threads
        # measured no faster than one (the GIL), so they are measured once, on numpy.
        variants = [
            (False, True, 1, 1, False),
            (True, True, 1, 1, False),
            (True, True, 2, 1, False),
            (True, False, 1, 1, False),
            (True, True, 1, 2, False),
            (False, True, 1, 1, True),
            (True, True, 1, 1, True),
            (True, False, 1, 1, True),
            (False, True, 1, 2, True),
            (True, True, 1, 2, True),
        ]
        from l1ml.emulate.stream import hardware_codes

        q_all = hardware_codes(pre, eng.emu, hw)
        print(
            f"kernel    : {eng.use_kernel(pre)}; preprocesses hardware integers itself: "
            f"{eng.kernel is not None and eng.kernel.takes_hardware}",
            flush=True,
        )
        kern = eng.kernel
        ref = None
        for rep in range(a.repeat):
            runs = [timed(lambda: eng(X)) for _ in range(3)]
            t_core, c_core = sorted(r[1] for r in runs)[1], sorted(r[2] for r in runs)[1]
            ref = runs[0][0] if ref is None else ref
            del runs
            core, core_cpu = len(X) / t_core, len(X) / c_core
            print(
                f"[{rep + 1}/{a.repeat}] core : {core:>11,.0f} events/s wall, {core_cpu:>11,.0f} per CPU-second "
                f"({t_core:.2f} s wall, {c_core:.2f} s CPU; median of 3; {load()})",
                flush=True,
            )
            if kern is not None:
                last = eng.names[-1]
                for what, outs in (("all outputs", None), ("score only", [last])):
                    runs = [timed(lambda outs=outs: kern(q_all, outs)) for _ in range(3)]
                    t_k, c_k = sorted(r[1] for r in runs)[1], sorted(r[2] for r in runs)[1]
                    same = all(np.array_equal(runs[0][0][m], ref[m]) for m in runs[0][0])
                    ok &= same
                    print(
                        f"         kernel ({what:>11}) on input codes: {len(X) / t_k:>11,.0f} events/s wall, "
                        f"{len(X) / c_k:>11,.0f} per CPU-second = {c_core / c_k:.2f} x the numpy core's "
                        f"(which includes the input codes); equal: {same}",
                        flush=True,
                    )
                del runs
            for label, path, fmt in () if a.big_only else (
                ("HDF5", h5, "hdf5"), ("gzip", h5gz, "hdf5"), ("ROOT", root, "l1ntuple")
            ):
                src = Source([path], fmt)
                for scores_only, threads, cthreads, procs, use_k in variants:
                    out = tmp / "out.h5"
                    eng.kernel = kern if use_k else None
                    (n, _), wall, cpu = timed(
                        lambda src=src, so=scores_only, th=threads, ct=cthreads, out=out, pr=procs: (
                            emulate_source(
                                eng,
                                pre,
                                src,
                                out,
                                scores_only=so,
                                threads=th,
                                compute_threads=ct,
                                processes=pr,
                                kernel=False,  # set above
                            )
                        )
                    )
                    with h5py.File(out) as f:
                        same = np.array_equal(f["score"][:], ref[eng.names[-1]][:, 0])
                        if not scores_only:
                            same &= np.array_equal(f["outputs"][eng.names[0]][:], ref[eng.names[0]])
                    ok &= same
                    rate, rate_cpu = n / wall, n / cpu
                    rows.append((label, scores_only, threads, cthreads, rate, rate_cpu, wall, cpu, same))
                    mode = ("kernel, " if use_k else "numpy, ") + (
                        f"{procs} worker processes"
                        if procs > 1
                        else ("pipelined" if threads else "serial")
                        + (f", {cthreads} compute threads" if cthreads > 1 else "")
                    )
                    print(
                        f"  {label:<5} {'scores-only' if scores_only else 'all outputs':<12} {mode:<31}: "
                        f"{rate:>11,.0f} events/s = {rate / core:.2f} x core; {rate_cpu:>11,.0f} per CPU-s = "
                        f"{rate_cpu / core_cpu:.2f} x core's ({wall:.2f} s wall, {cpu:.2f} s CPU; {load()}; "
                        f"outputs equal the core's: {same})",
                        flush=True,
                    )
                    out.unlink()
        for lab in ("HDF5", "gzip", "ROOT") if rows else ():
            r = max((r for r in rows if r[0] == lab), key=lambda r: r[4])
            c = max(r[5] for r in rows if r[0] == lab)
            print(
                f"target    : {lab} best end to end {r[4]:,.0f} events/s wall (>= 1M: {r[4] >= 1e6}); "
                f"best {c:,.0f} events per CPU-second (x2 cores: {2 * c:,.0f})"
            )
        if not a.big_only:
            if ref is None:
                ref = eng(X)
            ok &= goals(a, tmp, eng, kern, pre, hw, X, ref, {
                "HDF5 as data generate writes it": (h5, "hdf5"),
                "gzip HDF5 (level 4, h5py's chunks)": (h5gz, "hdf5"),
                "ROOT (LZ4)": (root, "l1ntuple"),
            })
        if a.big:
            state = tmp / "preprocessing.json"
            pre.save(state)
            peaks = {}
            for n_ev in (len(hw), a.big):
                if n_ev == len(hw):
                    path = root
                else:
                    path = tmp / "big.root"
                    pieces = (
                        hw_events(1_000_000, a.seed + 1 + i) for i in range((n_ev + 999_999) // 1_000_000)
                    )
                    _, t_w, _ = timed(lambda path=path, pieces=pieces: write_root(path, pieces))
                    print(
                        f"big sample: {n_ev:,} events, {path.stat().st_size / 1e9:.2f} GB ROOT written in {t_w:.0f} s",
                        flush=True,
                    )
                r = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--seed",
                        str(a.seed),
                        "--model",
                        a.model,
                        "--child-state",
                        str(state),
                        "--workers",
                        str(a.workers),
                        "--child-input",
                        str(path),
                        "--child-out",
                        str(tmp / "big_scores.h5"),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if r.returncode != 0:
                    print(r.stderr)
                    return 1
                d = json.loads(r.stdout.strip().splitlines()[-1])
                peaks[n_ev] = max(d["peak_rss_mb"], d["peak_rss_worker_mb"])
                print(
                    f"streamed  : {d['events']:,} ROOT events scores-only in a fresh process ({d['arithmetic']}, "
                    f"--workers {d['workers']}): {d['events'] / d['wall']:,.0f} events/s ({d['wall']:.1f} s wall, {d['cpu']:.1f} s "
                    f"CPU), peak RSS {d['peak_rss_mb']:.0f} MB, largest worker's {d['peak_rss_worker_mb']:.0f} MB "
                    f"({d['peak_rss_before_mb']:.0f} MB before the first event); {load()} at its end",
                    flush=True,
                )
                (tmp / "big_scores.h5").unlink(missing_ok=True)
            small, big = peaks[len(hw)], peaks[a.big]
            print(
                f"memory    : peak RSS {small:.0f} MB at {len(hw):,} events, {big:.0f} MB at {a.big:,} "
                f"({a.big / len(hw):.0f}x the events; {big - small:+.0f} MB)"
            )
            ok &= big - small < 100
    print("OUTPUTS EXACT" if ok else "SOMETHING DIFFERED OR MEMORY GREW")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
