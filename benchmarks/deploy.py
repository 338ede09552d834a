"""The deployed emulator library's speed: predict() per event through the .so (model created once), against
hls4ml's own predict on the same firmware in the same run, plus create_model/destroy_model time.

    .venv/bin/python benchmarks/deploy.py                        # trains a quick dense AE (the example's
                                                                  # 57-32-16-8-16-32-57) in a temp dir
    .venv/bin/python benchmarks/deploy.py --project projects/dense_ae --events 20000

Target (issue 11): at most 10 us an event for the dense AE. CMSSW issue #46740 was model load/destroy
taking 84% of emulation time; the create/destroy figure shows what one cycle costs here.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
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


def quick_project(tmp: Path):
    """The dense_ae example, trained for one epoch on generated events, converted."""
    sys.path.insert(0, str(_HERE.parent / "tests"))
    from _projects import project_on_data

    from l1ml.data.generate import write_samples
    from l1ml.firmware import convert
    from l1ml.models.train import train_project
    from l1ml.project import load_project

    data = tmp / "data"
    data.mkdir()
    write_samples(data, 20_000, seed=3)
    proj = load_project(
        project_on_data(tmp, "dense_ae", data, **{"training.epochs": 1, "training.finetune_epochs": 1,
                                                    "data.max_events": 5000})
    )
    train_project(proj)
    convert(proj)
    return proj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, help="a converted network project (default: a quick dense AE)")
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--hls4ml-events", type=int, default=5_000, help="events for hls4ml's slower predict")
    ap.add_argument("--cycles", type=int, default=100_000, help="create_model/destroy_model cycles")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each; the median is reported")
    args = ap.parse_args()

    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.data.preprocess import Preprocessing
    from l1ml.deploy.core import deploy
    from l1ml.emulate.nn_fixed import load_hls_model
    from l1ml.project import load_project, read_json

    with tempfile.TemporaryDirectory(prefix="l1ml-bench-deploy-") as t:
        tmp = Path(t)
        proj = load_project(args.project) if args.project else quick_project(tmp)
        t0 = time.perf_counter()
        d = deploy(proj, tmp / "deployed", force=True)
        print(f"deploy (emulate thresholds, g++ -O3, audit, make check, bundle): {time.perf_counter() - t0:.1f} s")
        print(f"  {d.library.name}: {d.parity}")
        hw = units.to_hardware(load_particles(proj.resolve(proj.data.background), proj.data.key, args.events))
        events = tmp / "events.bin"
        np.ascontiguousarray(hw, np.int32).tofile(events)
        load = [os.getloadavg()[0]]

        def compile_host(dep) -> Path:
            """deploy_host against the package's headers: both interfaces timed."""
            inc = dep.out / "emulator" / "include"
            host = tmp / f"host_{dep.out.name}"
            subprocess.run(
                ["g++", "-std=c++17", "-O2", f"-I{inc}", f"-I{inc / 'ap_types'}", f'-DMODEL_HEADER="{dep.name}.h"',
                 f"-DMODEL_NS={dep.name}", str(_HERE / "deploy_host.cpp"), "-o", str(host), "-ldl"],
                check=True,
            )
            return host

        def timed_runs(dep, scores: Path) -> dict:
            host, lib = compile_host(dep), dep.library
            runs = []
            for _ in range(args.repeats):
                r = subprocess.run([str(host), str(lib), str(events), str(args.cycles), str(scores)],
                                   capture_output=True, text=True, check=True)
                runs.append({k: float(v) for k, v in zip(r.stdout.split()[::2], r.stdout.split()[1::2], strict=True)})
            med = {k: float(np.median([run[k] for run in runs])) for k in runs[0]}
            med["runs"] = [run["per_event_cpu_us"] for run in runs]
            med["fw_runs"] = [run["firmware_interface_cpu_us"] for run in runs]
            return med

        f = timed_runs(d, tmp / "scores.bin")
        # The same network as l1ml's compiled kernel (deploy --arithmetic kernel): not hls4ml's code, checked
        # by the same make check; built portable (-O3) and for this machine (-O3 -march=native).
        kernels = {}
        for label, opt in (("-O3", None), ("-O3 -march=native", "-O3 -march=native")):
            dk = deploy(proj, tmp / f"kernel{len(kernels)}", force=True, arithmetic="kernel", opt=opt)
            kernels[label] = (timed_runs(dk, tmp / f"kscores{len(kernels)}.bin"), dk)
        so_scores = np.fromfile(tmp / "scores.bin", np.float64)
        k_same = {lab: np.array_equal(np.fromfile(tmp / f"kscores{i}.bin", np.float64), so_scores)
                  for i, lab in enumerate(kernels)}
        so_us = f["per_event_us"]

        # hls4ml's own predict, compiled from the same firmware sources (its compile is not timed).
        model_dir = proj.model_dir(d.version)
        man = read_json(model_dir / "manifest.json")
        pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
        hm = load_hls_model(proj.firmware_dir(d.version), keras_model=model_dir / man["deploy_file"])
        t0 = time.perf_counter()
        hm.compile()
        compile_s = time.perf_counter() - t0
        n = min(args.hls4ml_events, len(hw))
        x = pre.apply(hw[:n]).astype(np.float64)
        walls, cpus = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            y = hm.predict(x)
            walls.append((time.perf_counter() - t0) / n * 1e6)
            cpus.append((time.process_time() - c0) / n * 1e6)
        hls_us, hls_cpu_us = float(np.median(walls)), float(np.median(cpus))
        score = np.asarray(y[-1] if isinstance(y, list) else y).reshape(n, -1)[:, 0]
        load.append(os.getloadavg()[0])

    so_cpu = f["per_event_cpu_us"]
    print(f"events: {len(hw):,} through the .so, {n:,} through hls4ml predict (compiled in {compile_s:.0f} s); "
          f"medians of {args.repeats} runs each")
    print(f"machine load (1-min average, {os.cpu_count()} CPUs): {load[0]:.1f} before, {load[1]:.1f} after; "
          "on a shared machine read the CPU-time rows")
    print("firmware library (hls4ml's firmware code, deploy's default), g++ -O3:")
    print(f"  .so prepare_input+predict+read_result: {so_us:8.3f} us/event  (predict() alone "
          f"{f['predict_only_us']:.3f} us)")
    print(f"  .so, CPU time (not wall):              {so_cpu:8.3f} us/event  "
          f"(runs: {', '.join(format(c, '.1f') for c in f['runs'])})  "
          f"target <= 10 us: {'met' if so_cpu <= 10 else 'MISSED'}")
    print(f"  firmware-type interface, CPU time:     {f['firmware_interface_cpu_us']:8.3f} us/event  "
          f"(runs: {', '.join(format(c, '.1f') for c in f['fw_runs'])}; preprocess in the consumer, same scores)")
    for lab, (kf, dk) in kernels.items():
        print(f"kernel library (deploy --arithmetic kernel: l1ml's compiled kernel, not hls4ml's code), g++ {lab}:")
        print(f"  .so, CPU time (not wall):              {kf['per_event_cpu_us']:8.3f} us/event  "
              f"(runs: {', '.join(format(c, '.2f') for c in kf['runs'])}; predict() alone "
              f"{kf['predict_only_us']:.3f} us wall)  target <= 10 us: "
              f"{'met' if kf['per_event_cpu_us'] <= 10 else 'MISSED'}; {kf['per_event_cpu_us'] / so_cpu:.4f}x "
              f"the firmware library's; {dk.parity}; scores of all {len(hw):,} events equal the firmware "
              f"library's: {k_same[lab]}")
        print(f"  firmware-type interface, CPU time:     {kf['firmware_interface_cpu_us']:8.3f} us/event  "
              f"(runs: {', '.join(format(c, '.2f') for c in kf['fw_runs'])})")
    print(f"  hls4ml ModelGraph.predict:             {hls_us:8.3f} us/event")
    print(f"  hls4ml predict, CPU time (not wall):   {hls_cpu_us:8.3f} us/event  "
          f"(runs: {', '.join(f'{c:.1f}' for c in cpus)})")
    print(f"  ratio hls4ml / .so: wall {hls_us / so_us:.2f}x, CPU {hls_cpu_us / so_cpu:.2f}x")
    print(f"  create_model + destroy_model:          {f['create_destroy_us']:8.3f} us/cycle "
          f"({args.cycles:,} cycles)")
    same = np.array_equal(so_scores[:n], score)
    print(f"  scores of the {n:,} shared events bit-identical (.so vs hls4ml predict): {same}")


if __name__ == "__main__":
    main()
