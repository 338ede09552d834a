"""The steps of `l1ml run`. Each is three small functions: its key inputs (cheap: hashes and settings,
no TensorFlow), its work (returning a JSON-able result), and the files a result needs to still count."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from l1ml import layout
from l1ml.errors import L1mlError
from l1ml.run.keys import code_hash, section

TRAIN_TOOLS = ("tensorflow", "qkeras", "xgboost", "numpy")
FIRMWARE_TOOLS = ("hls4ml", "conifer", "xgboost", "numpy", "g++")


class StepFailed(L1mlError):
    """A step of `l1ml run` failed; the message names the step."""


@dataclass
class Context:
    project: object
    hashes: object  # keys.FileHashes
    toolchain: dict
    settings: object = None  # queue settings for the synth step
    deployer: object = None  # l1ml/deploy/step.py, for the deploy step (None: that step deploys nothing)
    results: dict = field(default_factory=dict)  # step -> result
    keys: dict = field(default_factory=dict)  # step -> key

    def tools(self, names) -> dict:
        return {n: self.toolchain.get(n) for n in names}

    @property
    def version(self) -> str:
        return self.results["train"]["version"]


@dataclass
class Step:
    name: str
    after: tuple[str, ...]
    inputs: Callable[[Context], dict]
    work: Callable[[Context, object], dict]
    outputs: Callable[[Context, dict], list[Path]]
    rekey_after: bool = False  # the key is known only after the work (data the step generates)


def _data_files(p) -> dict[str, Path]:
    return {"background": p.resolve(p.data.background), **{k: p.resolve(v) for k, v in p.data.signals.items()}}


def data_inputs(c: Context) -> dict:
    return {
        "data": section(c.project.data),
        "files": {k: c.hashes(f) for k, f in _data_files(c.project).items()},
    }


def data_work(c: Context, rep) -> dict:
    import h5py

    from l1ml.data.io import load_particles
    from l1ml.data.samples import ensure_project_data

    p = c.project
    rep.task("data", None)
    ensure_project_data(p, progress=None)
    out = {}
    for name, f in _data_files(p).items():
        load_particles(f, p.data.key, max_events=1)  # layout errors name the file
        with h5py.File(f, "r") as h:
            out[name] = {"path": str(f), "events": int(h[p.data.key].shape[0]), "sha256": c.hashes(f)}
    rep.advance("data")
    return {"files": out}


def train_inputs(c: Context) -> dict:
    p = c.project
    return {
        "sections": {k: section(getattr(p, k)) for k in ("preprocessing", "model", "training", "trigger")},
        "code": code_hash(),
        "tools": c.tools(TRAIN_TOOLS),
    }


def train_work(c: Context, rep) -> dict:
    from l1ml.models.train import train_project

    if c.project.model.kind == "hgq2_ae":  # trained in the Keras 3 environment (l1ml/frontends/)
        from l1ml.frontends.hgq2 import train_project
    return {"version": train_project(c.project, progress=rep).name}


def convert_inputs(c: Context) -> dict:
    p = c.project
    from l1ml.firmware.boards import board_file
    from l1ml.firmware.overrides import overrides_file

    hc = overrides_file(p)
    board = board_file(p)
    return {
        "version": c.version,
        "model_manifest": c.hashes(p.models_dir / c.version / "manifest.json"),
        "firmware": section(p.firmware),
        "hls_config": c.hashes(hc) if hc else None,
        "board": c.hashes(board) if board else None,
        "code": code_hash(),
        "tools": c.tools(FIRMWARE_TOOLS),
    }


def convert_work(c: Context, rep) -> dict:
    from l1ml import manifest
    from l1ml.firmware import convert

    p, v = c.project, c.version
    # convert stages into a hidden directory and publishes a variant whole (l1ml/firmware/variants.py):
    # a conversion stopped midway leaves nothing, and other variants of v must survive it.
    fw = convert(p, v, progress=rep)
    tc = layout.toolchain_file(p, v)
    tc.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_json(tc, c.toolchain)
    return {"version": v, "firmware": str(p.firmware_dir(v)), "kind": fw.get("kind"), "variant": fw.get("variant")}


def _variant(c: Context) -> str | None:
    """The active firmware variant: choosing another (`l1ml firmware use`) makes downstream steps rerun."""
    from l1ml.layout import read_active_raw, version_root

    return read_active_raw(version_root(c.project, c.version))


def validate_inputs(c: Context) -> dict:
    return {
        "validation": section(c.project.validation),
        "code": code_hash(),
        "tools": c.tools(FIRMWARE_TOOLS),
        "variant": _variant(c),
    }


def validate_work(c: Context, rep) -> dict:
    from l1ml.validate import default_report_dir, validate, write_reports

    p, v = c.project, c.version
    val = validate(p, v, progress=rep)
    reports = write_reports(val, default_report_dir(p, v))
    if not val.passed:
        raise StepFailed(
            f"firmware of {v} is not bit-exact: {', '.join(val.failures) or 'trigger decisions'} "
            f"differ between software and firmware (report: {reports.get('json', default_report_dir(p, v))})"
        )
    return {"passed": True, "report": str(layout.validation_report(p, v)), "variant": val.variant}


def _rate_sample_files(p) -> list[Path]:
    """[data] rate_sample's files: the background no training has seen (empty: none named)."""
    from l1ml.data.stream import project_source

    return list(project_source(p, which="rate_sample").files) if p.data.rate_sample else []


def rate_inputs(c: Context) -> dict:
    return {
        "trigger": section(c.project.trigger),
        "rate_sample": {str(f): c.hashes(f) for f in _rate_sample_files(c.project)},
        "code": code_hash(),
        "tools": c.tools(("numpy",)),
        "variant": _variant(c),
    }


def rate_work(c: Context, rep) -> dict:
    """The emulator over every event: the rate sample (its exact score counts set the project's one
    threshold per target rate: layout.trigger_file), and the background and signal files (the report's
    curves, and the TPRs at those thresholds)."""
    import tempfile

    import h5py
    import numpy as np

    from l1ml import manifest
    from l1ml.data.stream import auto_source, project_source
    from l1ml.emulate.nn_project import READ_CHUNK, emulate_project, emulate_source, load_engine
    from l1ml.emulate.stream import ScoreCounts
    from l1ml.models.review import CutCounts
    from l1ml.models.threshold import build, target
    from l1ml.project import read_json

    p, v = c.project, c.version
    out = layout.scores_file(p, v)
    out.parent.mkdir(parents=True, exist_ok=True)
    scores = {}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".rate-") as tmp:
        for name, f in _data_files(p).items():
            dest = Path(tmp) / f"{name}.h5"
            emulate_project(p, f, dest, version=v, progress=rep)
            with h5py.File(dest, "r") as h:
                scores[name] = np.asarray(h["score"][:], dtype=np.float64)
        staged = Path(tmp) / "scores.npz"
        np.savez_compressed(staged, **scores)
        staged.replace(out)
    cuts = CutCounts()  # the review's cut baseline, counted on the same events as the threshold

    def counted(chunks):
        for hw in chunks:
            cuts.add(hw)
            yield hw

    if p.data.rate_sample:
        source = project_source(p, which="rate_sample")
        engine, pre, _, _ = load_engine(p, v)
        _, counts = emulate_source(engine, pre, source, None, n=sum(source.counts()), progress=rep,
                                   chunks=counted(source.iter_hardware(READ_CHUNK)))  # fmt: skip
        files = source.files
    else:  # no rate sample named: the background file, which training saw (flagged by its count)
        counts = ScoreCounts()
        counts.add(scores["background"])
        files = [_data_files(p)["background"]]
        for _ in counted(auto_source(files[0], p).iter_hardware()):
            pass
    kind = read_json(p.models_dir / v / "manifest.json").get("kind")
    fw_man = read_json(p.firmware_dir(v) / "manifest.json")
    signals = {k: s for k, s in scores.items() if k != "background"}
    record = build(p, v, _variant(c), kind, fw_man, counts, signals, files)
    record["rate_sample"]["separate"] = bool(p.data.rate_sample)
    manifest.write_json(layout.trigger_file(p, v), record)
    t = target(record)
    manifest.write_json(layout.review_file(p, v), _review(p, cuts, signals, t))
    result = {
        "version": v,
        "variant": _variant(c),
        "background_events": counts.events,
        "threshold": t["threshold"],
        "threshold_int": t["threshold_int"],
        "fired": t["events_above"],
        "enough": t["enough"],
        "rate_khz": t["rate_measured_khz"],
        "rate_low_khz": t["rate_low_khz"],
        "rate_high_khz": t["rate_high_khz"],
        "rate_err_khz": (t["rate_high_khz"] - t["rate_low_khz"]) / 2,
        "target_rate_khz": p.trigger.rate_khz,
        "colliding_rate_hz": p.colliding_rate_hz,
        "signal_efficiency": {k: e["tpr"] for k, e in t["signals"].items()},
        "scores": str(out),
        "trigger": str(layout.trigger_file(p, v)),
    }
    manifest.write_json(layout.rate_file(p, v), result)
    return result


def _review(p, counts, signals: dict, entry: dict) -> dict:
    """The cut baseline on the counts of the background the record was set on, and turn-ons on every
    signal event (the scores' order is the file's): l1ml/models/review.py."""
    from l1ml.data.stream import auto_source
    from l1ml.models.review import build, stream_observables

    files = _data_files(p)
    events = {k: (stream_observables(auto_source(files[k], p).iter_hardware()), s) for k, s in signals.items()}
    return build(counts, events, entry["fpr"], p.colliding_rate_hz, entry)


def synth_inputs(c: Context) -> dict:
    return {
        "steps": list(c.project.synth.steps),
        "memory": c.project.synth.memory,
        "code": code_hash(),
        "variant": _variant(c),
    }


def synth_work(c: Context, rep) -> dict:
    from l1ml.run.queue import submit_and_wait

    if not c.project.synth.steps:
        return {"jobs": [], "note": "[synth] steps is empty: nothing submitted"}
    jobs = submit_and_wait(c.project, c.version, c.settings, rep)
    bad = [j for j in jobs if j["state"] != "succeeded" or not j.get("csim_check", {"same": True})["same"]]
    if bad:
        j = bad[0]
        what = f"ended {j['state']}" if j["state"] != "succeeded" else "output differs from the emulator"
        raise StepFailed(
            f"queue job {j['id']} ({j['step']} of {c.version}) {what}; see `l1ml synth logs {j['id']}`"
        )
    return {"jobs": jobs, "variant": _variant(c)}


def deploy_inputs(c: Context) -> dict:
    templates = Path(__file__).resolve().parents[1] / "deploy" / "templates"
    return {
        "name": c.project.name,  # the library's name stem
        "deployer": c.deployer is not None,  # `l1ml demo` deploys nothing; a later `l1ml run` must
        "code": code_hash(),
        "templates": {f.name: c.hashes(f) for f in sorted(templates.iterdir()) if f.is_file()},
        "tools": c.tools(("g++", "numpy")),
        "variant": _variant(c),
    }


def deploy_work(c: Context, rep) -> dict:
    """`l1ml deploy` into build/deploy/vN/run: the emulator library CMSSW loads (symbol-audited,
    parity-checked), its thresholds and the board bundle, through the deployer the caller hands over
    (l1ml/deploy/step.py: the deploy room is on this layer). A refused version is not an error: the
    step says why, in deploy's words, and the chain goes on to the report."""
    p, v = c.project, c.version
    if c.deployer is None:
        return {"version": v, "refused": "this caller deploys nothing; `l1ml deploy` builds the library"}
    why = c.deployer.refusal(p, v)
    if why:
        return {"version": v, "refused": why, "variant": _variant(c)}
    return {"version": v, "variant": _variant(c), **c.deployer.deploy_into(p, v, layout.run_deployment(p, v), rep)}


def _deployed(c: Context, r: dict) -> list[Path]:
    return [] if r.get("refused") else [Path(r["library"]), Path(r["bundle"]), Path(r["thresholds"])]


def report_inputs(c: Context) -> dict:
    p, v = c.project, c.version
    # Results other commands write (deploy thresholds, open RTL resources, the labelled estimate) re-render
    # the report when they appear or change.
    return {
        "contracts": {
            str(f): c.hashes(f)
            for f in (layout.rtl_resources(p, v), layout.deploy_thresholds(p, v), layout.estimate_file(p, v))
        },
        "code": code_hash("presentation"),
    }


def report_work(c: Context, rep) -> dict:
    from l1ml.report import build_report

    rep.task("report", None)
    path = build_report(c.project, c.version)
    rep.advance("report")
    return {"report": str(path)}


def track_inputs(c: Context) -> dict:
    from l1ml.lifecycle.tracking import tracking_uri

    return {"uri": tracking_uri(c.project)}


def track_work(c: Context, rep) -> dict:
    from l1ml.lifecycle.tracking import tracking_uri
    from l1ml.lifecycle.tracking.mlflow_adapter import log_version

    if not tracking_uri(c.project):
        return {"tracked": False, "note": "no [tracking] uri and no MLFLOW_TRACKING_URI"}
    rep.task("mlflow", None)
    info = log_version(c.project, c.version)
    rep.advance("mlflow")
    return {"tracked": True, **info}


def _version_file(*parts):
    def outputs(c: Context, result: dict) -> list[Path]:
        v = result.get("version") or c.results.get("train", {}).get("version")
        return [f(c.project, v) for f in parts]

    return outputs


STEPS: list[Step] = [
    Step("data", (), data_inputs, data_work, lambda c, r: [Path(f["path"]) for f in r["files"].values()], True),
    Step("train", ("data",), train_inputs, train_work, _version_file(lambda p, v: p.models_dir / v / "manifest.json")),
    Step("convert", ("train",), convert_inputs, convert_work,
         _version_file(lambda p, v: p.firmware_dir(v) / "manifest.json", layout.toolchain_file)),
    Step("validate", ("convert",), validate_inputs, validate_work, _version_file(layout.validation_report)),
    Step("rate", ("data", "convert"), rate_inputs, rate_work,
         _version_file(layout.rate_file, layout.scores_file, layout.trigger_file, layout.review_file)),
    Step("synth", ("convert",), synth_inputs, synth_work, lambda c, r: [Path(j["results"]) for j in r["jobs"]]),
    # deploy before the report, which shows the deployed thresholds: after it, every second run would
    # re-render the report for the thresholds the first run's deploy wrote.
    Step("deploy", ("data", "validate", "rate"), deploy_inputs, deploy_work, _deployed),
    Step("report", ("train", "convert", "validate", "rate", "synth", "deploy"), report_inputs, report_work,
         lambda c, r: [Path(r["report"])]),
    Step("track", ("report",), track_inputs, track_work, lambda c, r: []),
]  # fmt: skip
