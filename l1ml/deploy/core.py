"""`l1ml deploy`: a validated model version -> the CMSSW emulator library, its thresholds, the board bundle.

Everything is written into a staging directory next to --out and renamed into place at the end, so a
failed build, audit or parity check leaves nothing half-written. thresholds.json is also written to
projects/NAME/build/deploy/vN/ (the contract issue 10's report reads).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1ml import layout
from l1ml.errors import ConfigError, L1mlError
from l1ml.frontends.hgq2 import KIND as HGQ2  # scored by its C simulation, not the numpy emulator

PARITY_EVENTS = 1000  # the first background events, plus the highest-scoring ones (near the thresholds)
PARITY_TOP = 24
MARKER = "deploy.json"  # marks a directory l1ml deploy wrote (only such a directory is replaced)


class NotValidated(L1mlError):
    """The model version has not passed `l1ml validate`."""


@dataclass
class Deployment:
    out: Path
    name: str
    version: str
    kind: str
    library: Path
    bundle: Path
    thresholds: dict
    audit: dict
    parity: str
    forced: bool
    seconds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "out": str(self.out),
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "library": str(self.library),
            "bundle": str(self.bundle),
            "thresholds": self.thresholds,
            "audit": self.audit,
            "parity": self.parity,
            "forced": self.forced,
            "seconds": self.seconds,
        }


def check_validated(project, version: str, force: bool) -> dict | None:
    """The validation report of a version; NotValidated unless it passed (or force)."""
    f = layout.validation_report(project, version)
    if not f.is_file():
        if force:
            return None
        raise NotValidated(
            f"model {version} has not been validated (no {f}); run `l1ml validate --model {version}`, "
            "or deploy anyway with --force"
        )
    try:
        rep = json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{f}: not valid JSON: {exc}") from None
    if rep.get("version", version) != version:
        raise ConfigError(f"{f} is the report of {rep.get('version')}, not {version}")
    if rep.get("passed") is not True and not force:
        raise NotValidated(
            f"model {version} failed validation ({f}); fix it and re-validate, or deploy anyway with --force"
        )
    return rep


def background_scores(project, version: str, workdir: Path, progress=None):
    """The fast emulator (`l1ml emulate`) over the whole background sample: (hdf5 path, score bits)."""
    import h5py

    from l1ml.data.samples import ensure_project_data
    from l1ml.emulate.nn_project import emulate_project

    ensure_project_data(project, progress)
    bkg = project.resolve(project.data.background)
    out = workdir / "background_emulated.h5"
    emulate_project(project, bkg, out, version=version, progress=progress)
    with h5py.File(out, "r") as f:
        score = f["score"][:]
    return out, bkg, score


def deploy(
    project,
    out: Path,
    version: str | None = None,
    force: bool = False,
    name: str | None = None,
    synth_dir: Path | None = None,
    opt: str | None = None,
    progress=None,
    arithmetic: str = "firmware",
) -> Deployment:
    """`arithmetic`: "firmware" builds the library from hls4ml's firmware code (conifer's for BDTs);
    "kernel" from l1ml's compiled kernel of the same network (l1ml/emulate/native): faster per event
    (benchmarks/deploy.py measures both), checked by the same parity vectors, but not hls4ml's code: the
    caller chooses."""
    import h5py

    from l1ml import manifest
    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.data.preprocess import Preprocessing
    from l1ml.deploy import audit, build, bundle, package
    from l1ml.deploy.thresholds import thresholds, trigger_record
    from l1ml.firmware.names import c_name
    from l1ml.progress import or_silent
    from l1ml.project import read_json

    rep = or_silent(progress)
    t0 = time.perf_counter()
    model_dir = project.model_dir(version)
    version = model_dir.name
    fw_dir = project.firmware_dir(version)
    if not (fw_dir / "manifest.json").is_file():
        raise ConfigError(f"no firmware for model {version} in {fw_dir}; run `l1ml convert --model {version}` first")
    validation = check_validated(project, version, force)
    forced = force and (validation is None or validation.get("passed") is not True)
    model_man = read_json(model_dir / "manifest.json")
    fw_man = read_json(fw_dir / "manifest.json")
    if model_man.get("kind") == HGQ2:
        _hgq2_ready(version, fw_dir, fw_man, arithmetic)
    pre = Preprocessing.load(model_dir / model_man.get("preprocessing_file", "preprocessing.json"))
    lib_name = f"{c_name(name or project.name)}_{version}"
    spec = package.spec_for(project, version, model_man, fw_man, fw_dir, pre, lib_name)
    if arithmetic == "kernel":
        spec.arithmetic, spec.network_h = "kernel", _kernel_header(project, version, spec, pre)
    elif arithmetic != "firmware":
        raise ConfigError(f"--arithmetic {arithmetic!r}: choose firmware or kernel")

    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ConfigError(f"--out {out} exists and is not an earlier deployment; choose an empty or new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    seconds = {}
    try:
        work = stage / ".work"
        work.mkdir()
        # 2. Thresholds: the fast emulator over every background event.
        t = time.perf_counter()
        emu_file, bkg_file, score = background_scores(project, version, work, rep)
        bits = spec.score_type.to_bits(score, "background score")
        record = trigger_record(project, version, model_man.get("kind"), fw_man, fw_dir, score, [bkg_file])
        thr = thresholds(project, record, spec.score_type, force)
        seconds["thresholds"] = time.perf_counter() - t
        (stage / "thresholds.json").write_text(json.dumps(thr, indent=1) + "\n")

        # 1. The emulator package: parity vectors from the same emulator output.
        rep.task("package", None)
        idx = _parity_events(bits)
        with h5py.File(emu_file, "r") as f:
            outs = [f[f"outputs/{o}"][:] for o in _output_datasets(f, spec)]
        parts = load_particles(bkg_file, project.data.key)[idx]
        hw = units.to_hardware(parts)
        expected = np.concatenate(
            [o.type.to_bits(v[idx], f"output {o.name}") for o, v in zip(spec.outputs, outs, strict=True)], axis=1
        )
        fired = np.stack([bits[idx] > t["threshold_int"] for t in thr["thresholds"]], axis=1).astype(np.int64)
        pkg = stage / "emulator"
        package.write_package(spec, pkg, thr, hw, np.concatenate([expected, fired], axis=1))
        meta = metadata(project, spec, model_man, fw_man, pre, thr, len(idx), forced)
        manifest.write_json(pkg / "metadata.json", meta)
        rep.advance("package")

        rep.task("g++", None)
        t = time.perf_counter()
        lib = build.build(pkg, spec.so, opt=opt)
        seconds["build"] = time.perf_counter() - t
        rep.advance("g++")
        au = audit.require(lib)
        rep.task("make check", None)
        parity = build.check(pkg)
        rep.advance("make check")
        shutil.copy2(lib, stage / spec.so)
        manifest.write_json(stage / "metadata.json", meta)

        # 3. The board bundle.
        rep.task("bundle", None)
        shutil.rmtree(work)
        tar = bundle.write_bundle(
            project, spec, stage, fw_dir, fw_man, model_man, validation, synth_dir, au.to_dict(), forced
        )
        rep.advance("bundle")
        manifest.write_json(
            stage / MARKER,
            {"project": project.name, "version": version, "library": spec.so, "bundle": tar.name, "forced": forced,
             "created": manifest.now(), "code_version": manifest.code_version()},
        )
        if out.exists():
            old = out.with_name(f".{out.name}.old.{stage.name[-8:]}")
            out.rename(old)
            stage.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            stage.rename(out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    # The contract copy for the project's report (issue 10), written last so it always matches --out.
    contract = layout.deploy_thresholds(project, version)
    contract.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_json(contract, thr)
    seconds["total"] = time.perf_counter() - t0
    return Deployment(
        out=out,
        name=spec.name,
        version=version,
        kind=spec.kind,
        library=out / spec.so,
        bundle=out / tar.name,
        thresholds=thr,
        audit=au.to_dict(),
        parity=parity,
        forced=forced,
        seconds=seconds,
    )


def _hgq2_ready(version: str, fw_dir: Path, fw_man: dict, arithmetic: str) -> None:
    """An HGQ2 (Keras 3) version deploys hls4ml's firmware code; its thresholds and parity vectors come from
    its C simulation (emulate's engine for this kind), compiled here when validate has not done so yet."""
    from l1ml.firmware.csim import load_csim

    if arithmetic == "kernel":
        raise ConfigError(
            f"--arithmetic kernel: model {version} is an HGQ2 (Keras 3) model, whose graph l1ml's numpy "
            "emulator (the kernel's source) cannot rebuild; deploy it with --arithmetic firmware (docs/hgq2.md)"
        )
    if not fw_man.get("namespace"):
        raise ConfigError(
            f"{fw_dir / 'manifest.json'}: this HGQ2 firmware was converted without a C++ namespace (by an "
            f"earlier l1ml); re-run `l1ml convert --model {version}`"
        )
    load_csim(fw_dir, fw_man)


def _output_datasets(f, spec) -> list[str]:
    """The emulator's output datasets in the firmware's output order: matched by position (the emulator
    records its order), whatever the front-end named the layers (a post-training-quantized Keras model's
    emulator says fout_linear where the firmware says layer13_out), and checked by size."""
    order = [str(n) for n in f["outputs"].attrs.get("order", [])]
    if not order:
        raise L1mlError(f"{f.filename}: the emulator recorded no output order; emulate again with this l1ml")
    sizes = [int(f[f"outputs/{n}"].shape[1]) for n in order]
    if sizes != [o.size for o in spec.outputs]:
        raise L1mlError(
            f"the emulator wrote outputs {dict(zip(order, sizes, strict=True))}; the firmware declares "
            f"{ {o.name: o.size for o in spec.outputs} }"
        )
    for o, n in zip(spec.outputs, order, strict=True):
        o.emulator = n
    return order


def _parity_events(bits: np.ndarray) -> np.ndarray:
    n = len(bits)
    first = np.arange(min(PARITY_EVENTS, n))
    top = np.argsort(bits, kind="stable")[::-1][:PARITY_TOP]
    return np.unique(np.concatenate([first, top]))


def _kernel_header(project, version: str, spec, pre) -> str:
    """network.h of the library's kernel arithmetic, from the emulator of the converted firmware."""
    from l1ml.emulate.native.codegen import NotNative, render_header
    from l1ml.emulate.nn_project import load_engine

    if spec.kind == "bdt":
        raise ConfigError("--arithmetic kernel is for networks; a BDT's library is conifer's code")
    engine, _, _, _ = load_engine(project, version)
    try:
        return render_header(engine.emu, spec.name, pre, spec.namespace)
    except NotNative as exc:
        raise ConfigError(f"--arithmetic kernel: {exc}; deploy with --arithmetic firmware") from None


def interfaces(spec) -> dict:
    """The library's two interfaces, as metadata.json lists them (make check runs both)."""
    from l1ml.deploy.package import result_type

    n = spec.name
    return {
        "firmware": {
            "what": "the firmware's own types, as hls4ml-based CMSSW consumers pass them (the default)",
            "prepare_input": [f"{n}::input_t* = {spec.input_type}* (57 network inputs, after preprocessing: "
                              f"{n}::preprocess)", f"const {n}::input_t*", f"std::array<{n}::input_t, 57>"],
            "read_result": [f"{n}::result_t* = {result_type(spec)}*",
                            f"{n}::result_arrays_t* = {result_type(spec, arrays=True)}* (every output a std::array)"],
            "score": f"{n}::score_bits(result) > {n}::kThresholdBits[t]",
        },
        "hardware_integers": {
            "what": "l1ml's interface: the 57 hardware integers in, l1ml::Result out (trigger bits included)",
            "prepare_input": ["std::array<std::int32_t, 57>", "std::vector<std::int32_t> of 57",
                              "const std::int32_t* or std::int32_t* to 57 values"],
            "read_result": "l1ml::Result* (include/l1ml_result.h)",
        },
        "wrong_type": "any other type in the std::any: std::runtime_error naming the accepted types and the one "
        "held",
    }


def metadata(project, spec, model_man: dict, fw_man: dict, pre, thr: dict, n_parity: int, forced: bool) -> dict:
    from l1ml import manifest
    from l1ml.deploy import package
    from l1ml.deploy.package import input_contract

    return {
        "name": spec.name,
        "library": spec.so,
        "project": project.name,
        "model_version": spec.version,
        "kind": spec.kind,
        "namespace": spec.namespace,
        "arithmetic": (
            "l1ml compiled kernel (l1ml's emulator arithmetic in int64; not hls4ml's firmware code; "
            "bit-identical on the parity vectors)"
            if spec.arithmetic == "kernel"
            else ("conifer's HLS code" if spec.kind == "bdt" else "hls4ml's firmware code")
        ),
        "interface": {
            "class": "hls4mlEmulator::Model",
            "header": "include/hls4mlEmulator.h",
            "member_order": ["prepare_input(std::any)", "predict()", "read_result(std::any)", "virtual ~Model()"],
            "factories": ['extern "C" hls4mlEmulator::Model* create_model()',
                          'extern "C" void destroy_model(hls4mlEmulator::Model*)'],
            "load": f'dlopen("{spec.name}" + ".so", RTLD_LAZY | RTLD_LOCAL) on the library path, as CMSSW\'s '
            "hls4mlEmulator::ModelLoader; the library stays loaded while any of its models lives",
            "default": "firmware",
            "consumer_header": f"include/{spec.name}.h",
            "example": "example/consumer.cpp (make example)",
        },
        "interfaces": interfaces(spec),
        "input": input_contract(pre),
        "output": {
            "result_type": f"{spec.name}::result_t = {package.result_type(spec)} (firmware interface); "
            "l1ml::Result (hardware-integer interface, include/l1ml_result.h)",
            "outputs": [
                {"name": o.role, "firmware_variable": o.name, "emulator_output": o.emulator, "size": o.size,
                 "type": str(o.type), "cpp_type": o.ctype}
                for o in spec.outputs
            ],
            "score": {
                "output": spec.outputs[-1].role,
                "type": str(spec.score_type),
                "frac_bits": spec.score_type.frac,
                "what": "AE: masked squared error / 57 as deployed; VAE: sum z_mean^2; HGQ2 AE: the latent "
                "vector's squared norm; BDT: xgboost margin",
            },
        },
        "thresholds": thr,
        "trigger_rule": "fires when score_bits > threshold_int",
        "threshold_conventions": {
            "l1ml": f"score_bits > threshold_int, score_bits = {spec.name}::score_bits(result) (the bits of the "
            f"{spec.score_type} score; threshold = threshold_int * 2^-{spec.score_type.frac})",
            "axol1tl": "AXOL1TL's condition compares score = loss.to_float() * 16 with the menu's float; the same "
            f"cut in that form is threshold_int * 2^-{spec.score_type.frac} * 16 (docs/cmssw.md)",
        },
        "parity": {
            "events": n_parity,
            "source": "l1ml emulate: the firmware's C simulation (hls4ml's C++ compiled by l1ml)"
            if spec.kind == HGQ2
            else "l1ml emulate (firmware-exact batch emulator)",
        },
        "forced": forced,
        "hashes": {
            "model_manifest": manifest.sha256(project.model_dir(spec.version) / "manifest.json"),
            "model": spec.model_hash,
            "firmware_manifest": manifest.sha256(spec.firmware_dir / "manifest.json"),
            "model_files": model_man.get("hashes", {}),
            "firmware": fw_man.get("hashes", {}),
        },
        "created": manifest.now(),
        "code_version": manifest.code_version(),
    }
