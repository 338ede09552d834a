"""`l1ml explore`: every point of a grid of firmware settings, with its physics cost and resources.

For each point: the hls4ml graph of the variant is built (no C++ is written or compiled: the bit-exact
batch emulator reads the graph), every background and signal event is emulated with overflow counting,
and the scores are compared with the software model's on the same events (physics.py). Resources come
from resources.py. Results are cached per variant id and event set under build/explore/vN/points/, so
a rerun of the same grid computes nothing. Nothing is written under build/firmware unless a point is
kept (`keep`), which converts it into a real variant (l1ml/firmware/variants.py).

An HGQ2 model (kind hgq2_ae) cannot be rebuilt here: its points are converted by the Keras 3 worker and
scored with their compiled C simulation against the Keras 3 model (explore/hgq2.py), one at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from l1ml.errors import ConfigError
from l1ml.explore.front import pareto, resource_axis
from l1ml.explore.plot import plot
from l1ml.frontends.hgq2 import KIND as HGQ2_KIND  # converted by the Keras 3 worker (explore/hgq2.py)

CACHE_VERSION = 1  # bump when what a cached point holds, or how it is computed, changes
CHUNK = 65536


@dataclass
class Context:
    """What every point shares: the project, the model, the events and the software model's outputs."""

    project: object
    model_dir: Path
    man: dict
    deploy: object
    x: dict  # sample -> (N, 57) float32 network inputs
    sw_scores: dict  # sample -> (N,) float64
    sw_check: list  # outputs of the software model on the validation events (all samples, concatenated)
    check_rows: dict  # sample -> number of leading events in the validation check
    data_key: str


def explore_dir(project, version: str) -> Path:
    return project.build_dir / "explore" / version


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def events_key(project, model_dir: Path, man: dict, events: int) -> str:
    """Names the event set without reading it: the data settings, each input file's size and modification
    time, the event count and the preprocessing. A rerun whose points are all cached reads no event."""
    import glob
    from dataclasses import asdict

    from l1ml.manifest import sha256

    if project.data.format == "hdf5":
        from l1ml.data.samples import ensure_project_data

        ensure_project_data(project)  # synthetic files are written on first use: key them as they will be
    files = []
    for pattern in [project.data.background, *project.data.signals.values()]:
        for f in sorted(glob.glob(str(project.resolve(pattern)))) or [str(project.resolve(pattern))]:
            st = os.stat(f) if os.path.exists(f) else None
            files.append([f, st.st_size if st else None, st.st_mtime_ns if st else None])
    pfile = model_dir / man.get("preprocessing_file", "preprocessing.json")
    return _digest(asdict(project.data), files, events, sha256(pfile))


def load_events(project, model_dir: Path, man: dict, events: int) -> tuple[dict, str]:
    """{sample: (N, 57) float32 inputs} for the background and every signal; and a key naming the set."""
    from l1ml.data import units
    from l1ml.data.preprocess import Preprocessing
    from l1ml.data.samples import load_project_samples
    from l1ml.emulate.stream import fast_preprocess

    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    samples = load_project_samples(project, events)
    x = {k: fast_preprocess(pre, units.to_hardware(v).astype(np.int32)) for k, v in samples.items()}
    return x, events_key(project, model_dir, man, events)


def layer_roles(deploy_file: Path) -> tuple[str, str]:
    """(input layer, score layer) of a Keras .h5 from its stored config, without loading TensorFlow."""
    import h5py

    try:
        with h5py.File(deploy_file, "r") as h:
            cfg = json.loads(h.attrs["model_config"])["config"]
        return cfg["input_layers"][0][0], cfg["output_layers"][-1][0]
    except (OSError, KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"{deploy_file}: cannot read the model's layers: {exc}") from None


def software_outputs(ctx_dir: Path, deploy, kind: str, x: dict, data_key: str, model_sha: str, n_check: int):
    """The software (deployed) model's scores on every event and all its outputs on the validation events,
    computed in float64 as validation does; cached by model and event set."""
    from l1ml.models.ae import shape_inputs
    from l1ml.models.io import predict_exact

    f = ctx_dir / f"software-{model_sha[:12]}-{data_key}.npz"
    check_rows = {k: min(len(v), n_check) if n_check else len(v) for k, v in x.items()}
    if f.is_file():
        with np.load(f) as z:
            scores = {k: z[f"score_{k}"] for k in x}
            check = [z[k] for k in sorted(z.files) if k.startswith("check_")]
        return scores, check, check_rows
    scores = {}
    for k, v in x.items():
        parts = []
        for s in range(0, len(v), 262144):
            out = predict_exact(deploy, shape_inputs(kind, v[s : s + 262144].astype(np.float64)))
            parts.append(out[-1].reshape(-1))
        scores[k] = np.concatenate(parts)
    xc = np.concatenate([x[k][: check_rows[k]] for k in x]).astype(np.float64)
    check = [o.reshape(len(xc), -1) for o in predict_exact(deploy, shape_inputs(kind, xc))]
    ctx_dir.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".{f.name}.{os.getpid()}.npz")
    np.savez(tmp, **{f"score_{k}": v for k, v in scores.items()}, **{f"check_{i}": c for i, c in enumerate(check)})
    tmp.replace(f)
    return scores, check, check_rows


def point_project(project, point):
    fw = project.firmware
    changes = {}
    if point.strategy is not None:
        changes["strategy"] = point.strategy
    if point.reuse_factor is not None:
        changes["reuse_factor"] = point.reuse_factor
    return replace(project, firmware=replace(fw, **changes)) if changes else project


def point_overrides(project, point) -> dict:
    """The project's own hls_config overrides with the point's on top (the point wins)."""
    import copy

    from l1ml.firmware.overrides import load_overrides, merge_overrides

    base, _ = load_overrides(project)
    return merge_overrides(copy.deepcopy(base or {}), point.overrides)


_BUILD_LOCK = threading.Lock()


def point_graph(ctx: Context, proj, overrides: dict):
    """The point's hls4ml ModelGraph (nothing written, nothing compiled)."""
    import tempfile

    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls4ml import ptq_request
    from l1ml.firmware.hls_project import build

    pre = Preprocessing.load(ctx.model_dir / ctx.man.get("preprocessing_file", "preprocessing.json"))
    with tempfile.TemporaryDirectory(prefix="l1ml-explore-") as tmp:
        hls_model, _, _ = build(
            ctx.deploy, proj, project_board(proj), Path(tmp) / "hls4ml", pre.input_precision(),
            overrides=overrides, write=False, ptq=ptq_request(proj, pre, ctx.man["kind"], ctx.deploy),
        )
    return hls_model


def point_kernel(emu):
    """The point's compiled kernel with overflow counting (compiled once per network: the library is
    cached by its source, which the variant's settings determine), and what computes; numpy where the
    kernel does not describe a layer or g++ is missing."""
    from l1ml.emulate.native.kernel import KernelMismatch, NotNative, compile_kernel
    from l1ml.errors import ToolNotFound

    try:
        return compile_kernel(emu, "explore", count=True), "compiled kernel, checked bit for bit against numpy"
    except (NotNative, ToolNotFound, KernelMismatch) as exc:
        return None, f"numpy ({exc})"


def emulate_point(ctx: Context, emu, kernel=None):
    """Every event of every sample through the point's network, counting overflows per layer:
    (scores per sample, every output on the validation events, overflow counts, events). On `kernel`
    (a counting one) when given, else the numpy emulator; the two are held equal by
    tests/explore/test_kernel_equals_numpy.py. The input layer's codes come from numpy in both (the
    input type's conversion of the real inputs, counted under the input layer)."""
    from l1ml.fixed import count_overflows, in_layer

    score_name = emu.output_names[-1]
    fw_scores, check_parts = {}, [[] for _ in emu.output_names]
    overflows: dict = {}
    events = 0
    with count_overflows(overflows):
        for k, v in ctx.x.items():
            sc = np.empty(len(v))
            for s in range(0, len(v), CHUNK):
                m = ctx.check_rows[k] - s
                part = v[s : s + CHUNK]
                if kernel is None:
                    res = emu(part)
                else:
                    with in_layer(emu.input_names[0]):
                        q = emu.input_codes(part)
                    # every output for the validation events, the score alone for the rest
                    res = kernel(q, None if m > 0 else [score_name], counter=overflows)
                sc[s : s + len(part)] = res[score_name][:, 0]
                if m > 0:
                    for i, name in enumerate(emu.output_names):
                        check_parts[i].append(res[name][:m])
            fw_scores[k] = sc
            events += len(v)
    return fw_scores, check_parts, overflows, events


def compute_point(ctx: Context, proj, overrides: dict, vid: str, kernel: bool = True) -> dict:
    """Build the variant's graph, emulate every event with overflow counting, and measure it: on the
    point's compiled kernel (checked bit for bit, counts included, against numpy), else on numpy."""
    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.errors import ConversionError
    from l1ml.explore.physics import physics
    from l1ml.explore.resources import estimate
    from l1ml.firmware.hls_project import output_info
    from l1ml.fixed import UnsupportedError, lsb_of

    t0 = time.perf_counter()
    row: dict = {"variant": vid}
    try:
        # hls4ml's conversion is Python (and keeps global state): one point at a time; the compile and
        # the events below run beside the other points (g++ is a process, ctypes releases the GIL).
        with _BUILD_LOCK:
            hls_model = point_graph(ctx, proj, overrides)
            emu = NNEmulator(hls_model)
            outs = output_info(hls_model)
            row["output_precisions"] = [o["precision"] for o in outs]
            row["layer_types"] = {
                layer.name: {k: t.precision.definition_cpp() for k, t in layer.types.items() if k != "index_t"}
                for layer in hls_model.get_layers()
            }
            row["resources_estimate"] = estimate(hls_model)
    except (ConversionError, UnsupportedError, ConfigError) as exc:
        row.update(error=str(exc), seconds=time.perf_counter() - t0)
        return row
    k, row["arithmetic"] = point_kernel(emu) if kernel else (None, "numpy (asked)")
    t_conv = time.perf_counter() - t0
    fw_scores, check_parts, overflows, events = emulate_point(ctx, emu, k)
    t_emu = time.perf_counter() - t0 - t_conv
    lsbs = [lsb_of(o["precision"]) for o in outs]
    score_lsb = lsbs[-1]
    row["physics"] = physics(ctx.project, ctx.sw_scores, fw_scores, score_lsb)
    row["overflows"] = {
        name: {**c, "per_event": sum(c.values()) / events} for name, c in overflows.items()
    }
    row["validation"] = would_validate(ctx, check_parts, lsbs, fw_scores)
    row["events"] = events
    row["seconds"] = {"convert": t_conv, "emulate": t_emu, "events_per_second": events / max(t_emu, 1e-9)}
    return row


def compute_hgq2_point(ctx: Context, proj, vid: str) -> dict:
    """An HGQ2 point: converted by the Keras 3 worker (or read from build/firmware), every event through
    its C simulation, measured against the Keras 3 model as a QKeras point is against its software model."""
    from l1ml.explore import hgq2
    from l1ml.explore.physics import physics

    t0 = time.perf_counter()
    work = explore_dir(ctx.project, ctx.model_dir.name) / "points" / f"{vid}.firmware"
    fields, fw_scores, check_parts, lsbs, events = hgq2.score_point(ctx, ctx.project, proj, vid, work, CHUNK)
    row: dict = {"variant": vid, **fields}
    if "error" in row:
        row["seconds"] = time.perf_counter() - t0
        return row
    row["physics"] = physics(ctx.project, ctx.sw_scores, fw_scores, lsbs[-1])
    row["validation"] = would_validate(ctx, check_parts, lsbs, fw_scores, how=hgq2.HOW)
    row["events"] = events
    row["seconds"] = {"convert_and_emulate": time.perf_counter() - t0}
    return row


def would_validate(ctx: Context, check_parts, lsbs, fw_scores, how: str = "") -> dict:
    """The checks `l1ml validate` makes for a network, with the emulator standing in for the C simulation
    (the emulator equals it bit for bit): every output at [validation] tolerance_lsb on the validation
    events, and no trigger decision flipped at the model's threshold on every event."""
    tol = ctx.project.validation.tolerance_lsb
    worst, mism = [], []
    for parts, sw, lsb in zip(check_parts, ctx.sw_check, lsbs, strict=True):
        fw = np.concatenate(parts).reshape(sw.shape)
        d = np.abs(fw - sw) / lsb
        worst.append(float(d.max()) if d.size else 0.0)
        mism.append(int((d > tol).any(axis=1).sum()))
    thr = ctx.man.get("threshold")
    flips = None
    if thr is not None:
        flips = {k: int(((ctx.sw_scores[k] > thr) != (fw_scores[k] > thr)).sum()) for k in fw_scores}
    ok = max(worst) <= tol and not (flips and any(flips.values()))
    return {
        "passed": bool(ok),
        "tolerance_lsb": tol,
        "max_diff_lsb": worst,
        "events_mismatched": mism,
        "events_checked": int(sum(ctx.check_rows.values())),
        "flips_at_model_threshold": flips,
        "how": how or "predicted: the emulator (bit-exact to the C simulation) against the software model",
    }


def check_model(model_dir: Path, man: dict) -> None:
    if man.get("kind") == "bdt":
        raise ConfigError(
            f"model {model_dir.name} is a BDT: explore scans hls4ml network firmware (conifer's precision "
            "is chosen by `l1ml convert`, see docs/contracts.md)"
        )
    if not man.get("deploy_file"):
        raise ConfigError(f"{model_dir / 'manifest.json'}: no 'deploy_file'; nothing to convert")


def make_context(project, version: str | None, events: int, progress=None) -> Context:
    from l1ml.manifest import sha256
    from l1ml.progress import or_silent
    from l1ml.project import read_json

    rep = or_silent(progress)
    model_dir = project.model_dir(version)
    man = read_json(model_dir / "manifest.json")
    check_model(model_dir, man)
    rep.task("events", None)
    x, data_key = load_events(project, model_dir, man, events)
    rep.advance("events")
    rep.task("software model", None)
    where, model_sha = explore_dir(project, model_dir.name), sha256(model_dir / "manifest.json")
    n_check = project.validation.events
    if man["kind"] == HGQ2_KIND:  # the Keras 3 model, run by the worker: never loaded here
        from l1ml.explore import hgq2

        deploy = None
        scores, check, rows = hgq2.software_outputs(
            where, model_dir / man["deploy_file"], x, data_key, model_sha, n_check
        )
    else:
        from l1ml.models.io import load_model

        deploy = load_model(model_dir / man["deploy_file"])
        scores, check, rows = software_outputs(where, deploy, man["kind"], x, data_key, model_sha, n_check)
    rep.advance("software model")
    return Context(project, model_dir, man, deploy, x, scores, check, rows, data_key)


def default_jobs(n_points: int) -> int:
    """Points at once: one per core. They are threads sharing the events; each point's kernel runs
    without the GIL, so two points keep two cores busy while a third converts."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n_points, cores))


def explore(
    project,
    grid_file: Path,
    version: str | None = None,
    events: int = 0,
    jobs: int = 0,
    keep: tuple[str, ...] = (),
    progress=None,
) -> dict:
    """Run a grid; returns the result (also written to build/explore/vN/<grid>.json, with a PNG)."""
    from l1ml import layout
    from l1ml.explore.grid import load_grid, points
    from l1ml.explore.resources import yosys_figures
    from l1ml.firmware import variants as var
    from l1ml.manifest import now, write_json
    from l1ml.progress import or_silent

    rep = or_silent(progress)
    grid_file = Path(grid_file)
    doc = load_grid(grid_file)
    from l1ml.project import read_json

    model_dir = project.model_dir(version)
    v = model_dir.name
    man = read_json(model_dir / "manifest.json")
    check_model(model_dir, man)
    hgq2 = man["kind"] == HGQ2_KIND
    data_key = events_key(project, model_dir, man, events)
    from l1ml.explore.grid import Point, hgq2_points

    # The project's own settings first: the firmware validation checks, whose overflows (a quantized
    # ReLU's saturation...) the software model has too; a point's own overflows are those beyond it.
    if hgq2:  # no hls4ml overrides: HGQ2 learns the precisions
        grid_points = hgq2_points(doc, str(grid_file))
    else:
        grid_points = points(doc, str(grid_file), *layer_roles(model_dir / man["deploy_file"]))
    pts = [Point({}, None, None, {})] + grid_points
    out_dir = explore_dir(project, v)
    cache = out_dir / "points"
    cache.mkdir(parents=True, exist_ok=True)
    # What the cached figures also depend on: the rate they are taken at, the validation rules, the code.
    from dataclasses import asdict

    phys_key = _digest(
        asdict(project.trigger), asdict(project.validation), man.get("threshold"), CACHE_VERSION
    )[:10]
    plan = []
    for i, pt in enumerate(pts):
        proj = point_project(project, pt)
        over = None if hgq2 else point_overrides(project, pt)
        settings = var.settings_for(proj, model_dir, man["kind"], over)
        vid = var.variant_id(settings)
        cfile = cache / f"{vid}-{data_key}-{phys_key}.json"
        plan.append((i, pt, proj, over, vid, cfile))
    rows: list[dict | None] = [None] * len(plan)
    todo = []
    for i, pt, proj, over, vid, cfile in plan:
        if cfile.is_file():
            rows[i] = {**json.loads(cfile.read_text()), "cached": True}
        else:
            todo.append((i, pt, proj, over, vid, cfile))
    ctx = make_context(project, v, events, rep) if todo else None
    rep.task("explore", len(plan))
    rep.advance("explore", len(plan) - len(todo))
    # HGQ2 points one at a time: each conversion is a worker using the version's one work directory
    n_jobs = 1 if hgq2 else jobs or default_jobs(len(todo))

    def done(i, row, cfile):
        row["cached"] = False
        if "error" not in row:
            write_json(cfile, {k: v for k, v in row.items() if k != "cached"})
        rows[i] = row
        rep.advance("explore")

    if n_jobs > 1 and len(todo) > 1:
        # Points in threads of this process: they share the events and the software model (read once
        # per grid); the kernels run without the GIL, hls4ml's conversions take turns (_BUILD_LOCK).
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=min(n_jobs, len(todo))) as pool:
            futs = {pool.submit(compute_point, ctx, proj, over, vid): (i, cfile) for i, _pt, proj, over, vid, cfile in todo}
            for f in as_completed(futs):
                i, cfile = futs[f]
                done(i, f.result(), cfile)
    else:
        # one at a time: the HGQ2 points, --jobs 1, or a single point left to compute (which the threads'
        # branch alone left without a row)
        seen: dict = {}
        for i, _pt, proj, over, vid, cfile in todo:
            if cfile not in seen:  # a point equal to an earlier one (the baseline's settings) is computed once
                seen[cfile] = compute_hgq2_point(ctx, proj, vid) if hgq2 else compute_point(ctx, proj, over, vid)
            done(i, dict(seen[cfile]), cfile)
    root = layout.version_root(project, v)
    base_over = rows[0].get("overflows") or {}
    for (i, pt, proj, _over, vid, _c), row in zip(plan, rows, strict=True):
        row["new_overflows"] = {
            layer: {w: n - base_over.get(layer, {}).get(w, 0) for w, n in c.items()
                    if w != "per_event" and n > base_over.get(layer, {}).get(w, 0)}
            for layer, c in (row.get("overflows") or {}).items()
        }
        row["new_overflows"] = {k: c for k, c in row["new_overflows"].items() if c}
        row.update(index=i, name=pt.name if i else "project settings (baseline)", axes=pt.axes,
                   strategy=proj.firmware.strategy,
                   reuse_factor=proj.firmware.reuse_factor, overrides=pt.overrides)
        on_disk = (root / vid / layout.VARIANT_FILE).is_file()
        row["on_disk"] = on_disk
        yos = yosys_figures(root / vid) if on_disk else None
        row["resources"] = (
            {"source": "yosys", **yos} if yos else {"source": "estimate", **(row.get("resources_estimate") or {})}
        )
    baseline, rows, plan = rows[0], rows[1:], plan[1:]
    front = pareto(rows)
    for r in rows:
        r["pareto"] = r["index"] in front
    kept = keep_points(project, v, plan, rows, keep) if keep else []
    result = {
        "project": project.name,
        "version": v,
        "grid": str(grid_file),
        "created": now(),
        "events": next((r["physics"]["events"] for r in rows if "physics" in r), {}),
        "software": "the Keras 3 (HGQ2) model, run by the worker (envs/keras3), as `l1ml validate` runs it" if hgq2
        else "the deployed model (l1ml/models/deploy.py) in float64, as `l1ml validate` runs it",
        "target_rate_khz": project.trigger.rate_khz,
        "colliding_rate_hz": project.colliding_rate_hz,
        "resource_axis": resource_axis(rows)[1],
        "baseline": baseline,
        "points": rows,
        "kept": kept,
    }
    name = grid_file.stem
    write_json(out_dir / f"{name}.json", result)
    result["plot"] = str(plot(result, out_dir / f"{name}.png"))
    result["json"] = str(out_dir / f"{name}.json")
    return result


def keep_points(project, version: str, plan, rows, keep: tuple[str, ...]) -> list[dict]:
    """Convert the chosen points into firmware variants: 'all', 'pareto', a point's index or variant id."""
    from l1ml.firmware import convert

    chosen = set()
    for k in keep:
        for i, (_, _, _, _, vid, _) in enumerate(plan):
            r = rows[i]
            if k == "all" or (k == "pareto" and r["pareto"]) or k == str(i + 1) or (len(k) >= 4 and vid.startswith(k)):
                chosen.add(i)
        if k not in ("all", "pareto") and not any(
            k == str(i + 1) or (len(k) >= 4 and p[4].startswith(k)) for i, p in enumerate(plan)
        ):
            raise ConfigError(f"--keep {k!r} names no point; give 'all', 'pareto', a point number or a variant id")
    out = []
    for i in sorted(chosen):
        _, _, proj, over, vid, _ = plan[i]
        if "error" in rows[i]:
            continue
        fw = convert(proj, version, overrides=over, activate=False)
        if fw["variant"] != vid:  # the id explore reported must be the variant kept
            raise ConfigError(f"point {i + 1}: converted as variant {fw['variant']}, explored as {vid}")
        rows[i]["on_disk"] = True
        out.append({"index": i + 1, "variant": vid, "dir": str(project.firmware_dir(version, vid))})
    return out
