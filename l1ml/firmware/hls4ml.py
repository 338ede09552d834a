"""Deployed QKeras network -> hls4ml project, with precisions that make the firmware bit-exact.

Precision policy (why each rule exists):
- Per-layer precisions come from the QKeras quantizers, and every accumulator and un-quantized result is
  left to hls4ml's precision inference ('auto'), which sizes it so that nothing is rounded. A default
  such as ap_fixed<16,6> silently truncates; that is what made BN-after-QDense models 54% identical.
- The input layer takes `Preprocessing.input_precision()`, which holds every preprocessed value exactly.
- Average pooling: hls4ml gives the pooled result the *input's* type, dropping the log2(pool size)
  fractional bits the average needs (measured: the CNN AE 88% identical). We widen its result by those
  bits; a pool size that is not a power of two cannot be exact and is refused.
- Written weights are read back and compared with the quantized Keras weights: hls4ml issue #874 was
  weight literals printed with too few digits (`{:7f}` for `{:.7f}`), so an ap_fixed<8,1> weight of
  0.3203125 became 0.3125. Any weight that does not survive the trip is a ConversionError.

Overrides from hls_configs/*.yml (hls4ml's own config format) are applied last, so a user can always
force a precision, including a wrong one, which validation then reports.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from l1ml.errors import ConfigError, L1mlError, ToolNotFound

# Quantizers whose hls4ml mapping l1ml has verified bit-exact (tests/convert, tests/fidelity).
SUPPORTED_QUANTIZERS = ("quantized_bits", "quantized_relu")


class ConversionError(L1mlError):
    """The network cannot be converted to firmware that computes what the software computes."""


def c_name(text: str) -> str:
    """A C/C++ identifier from a project name."""
    s = re.sub(r"\W", "_", text)
    return s if s and not s[0].isdigit() else f"m_{s}"


# Keras layer classes the whole flow (hls4ml, the bit-exact emulator, float64 validation) handles.
FLOW_LAYERS = (
    "InputLayer",
    "Dense",
    "QDense",
    "Conv2D",
    "QConv2D",
    "Activation",
    "QActivation",
    "ReLU",
    "Flatten",
    "Reshape",
    "AveragePooling2D",
    "MaxPooling2D",
    "Add",
    "Subtract",
    "Multiply",
    "Concatenate",
    "Dropout",
)
# Float activations the firmware computes exactly; the others (softmax, sigmoid, tanh...) come from lookup
# tables in firmware and cannot equal the software model bit for bit.
EXACT_ACTIVATIONS = ("linear", "relu")


def preflight(model, ptq: bool = False) -> None:
    """Refuse, before any slow step, layers and quantizers the bit-exact flow cannot handle, naming the
    layer, what is wrong and what is supported. With `ptq` (a float model, firmware/ptq.py) the firmware
    is checked against the emulator, not the float software: activations the emulator reproduces from
    hls4ml's own tables (sigmoid, tanh) are then allowed."""
    from l1ml.firmware.ptq import EMULATED_ACTIVATIONS
    from l1ml.firmware.quantizers import check_weight_quantizer, firmware_type

    exact = EMULATED_ACTIVATIONS if ptq else EXACT_ACTIVATIONS
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "BatchNormalization" and ptq:
            continue  # a float model's BN is quantized with it: fused into its Dense by hls4ml, or emulated
        if cls in ("BatchNormalization", "QBatchNormalization"):
            # hls4ml computes a kept BN as its own layer in a default precision: not what the model computes
            raise ConversionError(
                f"layer '{layer.name}': {cls} is kept in the deployed model; the firmware would scale by "
                "weights that are not the model's. It must directly follow a QDense/QConv2D read by "
                "nothing else, so that import or training folds it (see docs/conversion.md)"
            )
        if cls not in FLOW_LAYERS:
            raise ConversionError(
                f"layer '{layer.name}': layer type {cls} is not supported for this flow (hls4ml firmware, "
                f"bit-exact emulation and validation); supported: {', '.join(FLOW_LAYERS)}"
            )
        cfg = layer.get_config()
        for key in ("kernel_quantizer", "bias_quantizer"):
            if cfg.get(key) is not None:
                check_weight_quantizer(layer.name, key, cfg[key])
        act = cfg.get("activation")
        if cls == "QActivation" or _is_quantizer(act):
            firmware_type(layer.name, "activation", act)
        elif cls == "ReLU" and (cfg.get("max_value") is not None or cfg.get("negative_slope")):
            raise ConversionError(
                f"layer '{layer.name}': ReLU with max_value/negative_slope is not exact in this flow; "
                "use a plain ReLU or QActivation(quantized_relu)"
            )
        elif act is not None and describe_activation(act) not in exact and ptq:
            raise ConversionError(
                f"layer '{layer.name}': activation '{describe_activation(act)}' is not reproduced bit for "
                f"bit by the emulator, which a post-training-quantized firmware is checked against; "
                f"supported: {', '.join(exact)}"
            )
        elif act is not None and describe_activation(act) not in exact:
            raise ConversionError(
                f"layer '{layer.name}': activation '{describe_activation(act)}' is computed from a lookup "
                f"table in firmware and cannot equal the software model bit for bit; the bit-exact flow "
                f"supports {', '.join(EXACT_ACTIVATIONS)} and QActivation(quantized_bits/quantized_relu)"
            )


def _is_quantizer(act) -> bool:
    if isinstance(act, dict):
        return "quantiz" in str(act.get("class_name", "")) or act.get("module", "").startswith("qkeras")
    return isinstance(act, str) and "(" in act


def describe_activation(act) -> str:
    if isinstance(act, dict):
        return str(act.get("config", {}).get("activation", act.get("class_name", act)))
    return str(getattr(act, "__name__", act))


def exact_activation_types(model) -> dict[str, str]:
    """hls4ml layer name -> the exact result type of each quantized activation (see quantizers.py)."""
    from l1ml.firmware.quantizers import describe, firmware_type

    out = {}
    for layer in model.layers:
        cfg = layer.get_config()
        act = cfg.get("activation")
        if type(layer).__name__ == "QActivation":
            out[layer.name] = firmware_type(layer.name, "activation", act)
        elif _is_quantizer(act):
            name, _ = describe(act)
            out[f"{layer.name}_{name}"] = firmware_type(layer.name, "activation", act)
    return out


def _override_candidates(project) -> list[Path]:
    from l1ml.project import repo_root

    name = project.firmware.hls_config
    p = Path(name).expanduser()
    return [p] if p.is_absolute() else [project.path / name, repo_root() / name, repo_root() / "hls_configs" / name]


def overrides_file(project) -> Path | None:
    """The hls_configs/*.yml file load_overrides reads (None without [firmware] hls_config): `l1ml run`
    hashes it into the convert step's key. A name found nowhere gives its first candidate."""
    if not project.firmware.hls_config:
        return None
    cands = _override_candidates(project)
    return next((c for c in cands if c.is_file()), cands[0])


def load_overrides(project) -> tuple[dict, Path | None]:
    """hls_configs/*.yml named by project.firmware.hls_config: absolute, relative to the project, or to
    the repository root."""
    import yaml

    name = project.firmware.hls_config
    if not name:
        return {}, None
    f = overrides_file(project)
    if not f.is_file():
        cands = _override_candidates(project)
        raise ConfigError(
            f"{project.file} [firmware]: hls_config '{name}' not found "
            f"(looked in {', '.join(map(str, cands))})"
        )
    try:
        doc = yaml.safe_load(f.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{f}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - {"Model", "LayerName", "LayerType"}:
        raise ConfigError(
            f"{f}: expected hls4ml config keys Model, LayerName and/or LayerType, got {list(doc)}"
        )
    return doc, f


def _merge(base: dict, over: dict) -> dict:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def make_config(
    model,
    project,
    input_precision: str,
    overrides: dict | None = None,
    trace: bool = False,
    ptq: dict | None = None,
) -> dict:
    """The hls4ml config. `ptq` (a float model; {"x": profiling events or None}) gets its precisions by
    hls4ml's rules (firmware/ptq.py) and receives the record of what was set under "record"."""
    import hls4ml

    fw = project.firmware
    extra = {}
    if ptq is not None:
        from l1ml.project import parse_precision

        parse_precision(fw.ptq_precision, f"{project.file} [firmware] ptq_precision")
        extra["default_precision"] = fw.ptq_precision
    cfg = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend=fw.backend, default_reuse_factor=fw.reuse_factor, **extra
    )
    if ptq is not None:
        from l1ml.firmware.ptq import ptq_config

        ptq["record"] = ptq_config(cfg, model, project, ptq.get("x"))
    cfg["Model"]["Strategy"] = fw.strategy
    cfg["Model"]["ReuseFactor"] = fw.reuse_factor
    layers = cfg["LayerName"]
    inp = model.layers[0].name
    layers.setdefault(inp, {}).setdefault("Precision", {})["result"] = input_precision
    for name, precision in exact_activation_types(model).items():
        if name in layers:  # hls4ml's own mapping loses symmetric and keep_negative (quantizers.py)
            layers[name].setdefault("Precision", {})["result"] = precision
    if trace:
        cfg["Model"]["TraceOutput"] = True
        for lc in layers.values():
            lc["Trace"] = True
    if overrides and overrides.get("LayerType"):
        # hls4ml ranks LayerName over LayerType; every layer has a LayerName entry here (granularity
        # "name"), so a LayerType override would be silently shadowed: apply it to those entries instead.
        by_type = layer_classes(model, layers)
        known = set(by_type.values())
        for tname, tcfg in overrides["LayerType"].items():
            if tname not in known:
                raise ConfigError(
                    f"hls_config LayerType '{tname}' matches no layer; the model's layer types: "
                    f"{', '.join(sorted(known))}"
                )
            for lname, cls in by_type.items():
                if cls == tname and isinstance(tcfg, dict):
                    _merge(layers[lname], tcfg)
        overrides = {k: v for k, v in overrides.items() if k != "LayerType"}
    if overrides:
        unknown = set(overrides.get("LayerName", {})) - set(layers)
        if unknown:
            raise ConfigError(
                f"hls_config names layer(s) {', '.join(sorted(unknown))} that the model does not have; "
                f"layers: {', '.join(layers)}"
            )
        _merge(cfg, overrides)
        follow_linear(layers, overrides.get("LayerName", {}))
    return cfg


def follow_linear(layers: dict, forced: dict) -> None:
    """A layer given a result type keeps it through the linear activation hls4ml splits off it.

    With an explicit result type hls4ml no longer removes that NAME_linear activation, and its 'auto'
    result becomes the default ap_fixed<16,6>: a silent second cast (measured: values wrapped on a
    dense AE whose Dense result was set to its own exact type). The pass-through takes the layer's type."""
    for name, lc in forced.items():
        prec = (lc or {}).get("Precision") if isinstance(lc, dict) else None
        result = prec if isinstance(prec, str) else (prec or {}).get("result")
        lin = layers.get(f"{name}_linear")
        if not result or lin is None or f"{name}_linear" in forced:
            continue
        lp = lin.setdefault("Precision", {})
        if isinstance(lp, dict) and lp.get("result", "auto") == "auto":
            lp["result"] = result


def layer_classes(model, layers: dict) -> dict[str, str]:
    """hls4ml config layer name -> its layer type in hls4ml's vocabulary (QDense -> Dense, ...); the
    activations hls4ml splits off a layer (NAME_relu...) are Activation."""
    keras = {layer.name: type(layer).__name__ for layer in model.layers}
    out = {}
    for name in layers:
        cls = keras.get(name, "Activation")
        if cls.startswith("Q") and cls[1:2].isupper():
            cls = cls[1:]
        out[name] = "Input" if cls == "InputLayer" else cls
    return out


def _convert(model, cfg: dict, project, board, out_dir: Path, name: str):
    import hls4ml

    from l1ml.firmware import backends

    if backends.is_other(project.firmware.backend):  # Catapult, Quartus, oneAPI, Libero: their own keywords
        target = backends.spec(project.firmware.backend).convert_kwargs(board, namespace(project))
    else:
        target = {
            "part": board.part,
            "clock_period": board.clock_period_ns,
            "clock_uncertainty": board.clock_uncertainty,
            "namespace": namespace(project),
            "write_weights_txt": False,
        }
    try:
        return hls4ml.converters.convert_from_keras_model(
            model,
            hls_config=cfg,
            output_dir=str(out_dir),
            project_name=name,
            backend=project.firmware.backend,
            io_type=project.firmware.io_type,
            **target,
        )
    except (KeyError, ValueError, AssertionError, TypeError) as exc:
        raise ConversionError(
            f"hls4ml ({project.firmware.backend} backend) could not convert the model: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:  # hls4ml raises bare Exception for unsupported layers/quantizers
        raise ConversionError(
            f"hls4ml ({project.firmware.backend} backend) could not convert the model: {exc}"
        ) from exc


def namespace(project) -> str:
    return c_name(project.firmware.namespace or project.name)


def top_name(project) -> str:
    return c_name(f"l1ml_{project.name}")


def widen_pooling(model, cfg: dict, hls_model, overrides: dict | None) -> list[str]:
    """Give each average pooling a result type wide enough for the exact average; returns the layers
    changed. Layers the user overrides are left alone."""
    from hls4ml.model.types import FixedPrecisionType

    forced = set((overrides or {}).get("LayerName", {}))
    changed = []
    for layer in hls_model.get_layers():
        if (
            layer.class_name not in ("Pooling1D", "Pooling2D")
            or layer.get_attr("pool_op", "").lower() != "average"
        ):
            continue
        n = layer.get_attr("pool_height", 1) * layer.get_attr("pool_width", 1)
        if n & (n - 1):
            raise ConversionError(
                f"layer '{layer.name}': average pooling over {n} values divides by a non-power of two, which "
                f"fixed point cannot do exactly; use a pool size of 2, 4, 8..."
            )
        if layer.name in forced:
            continue
        p = layer.get_input_variable().type.precision
        if not isinstance(p, FixedPrecisionType):
            continue
        extra = int(math.log2(n))
        kind = "fixed" if p.signed else "ufixed"
        cfg["LayerName"].setdefault(layer.name, {}).setdefault("Precision", {})["result"] = (
            f"{kind}<{p.width + extra},{p.integer}>"
        )
        changed.append(layer.name)
    return changed


def build(
    model,
    project,
    board,
    out_dir: Path,
    input_precision: str,
    trace: bool = False,
    ptq: dict | None = None,
    overrides="project",
    write: bool = True,
):
    """Convert (twice when pooling precisions need fixing) and write the hls4ml project to out_dir.
    `ptq`: for a float model (post-training quantization), {"x": background events to profile or None}.
    `overrides`: an hls4ml config dict (a firmware variant's), or "project" for the project's
    [firmware] hls_config file. `write=False` builds the graph only (explore: the emulator reads the
    graph; no C++ is needed). Returns (hls_model, config, notes)."""
    preflight(model, ptq=ptq is not None)
    if isinstance(overrides, str) and overrides == "project":
        overrides, ofile = load_overrides(project)
    else:
        ofile = None
    cfg = make_config(model, project, input_precision, overrides, trace=trace, ptq=ptq)
    name = top_name(project)
    with tempfile.TemporaryDirectory(prefix="l1ml-hls-probe-") as tmp:
        probe = _convert(model, copy.deepcopy(cfg), project, board, Path(tmp), name)
        widened = widen_pooling(model, cfg, probe, overrides)
    if write and out_dir.exists():
        shutil.rmtree(out_dir)  # stale sources from an older conversion must not survive
    hls_model = _convert(model, cfg, project, board, out_dir, name)
    if not write:
        return hls_model, cfg, {"widened_pooling": widened, "overrides_file": str(ofile) if ofile else None}
    if trace:
        # hls4ml reads this flag when writing, not from the config dict
        hls_model.config.trace_output = True
    hls_model.write()
    if ptq is None:
        check_weights(hls_model, out_dir)
    else:
        # PTQ: float weights are rounded to their types by design (the emulator reads the same literals,
        # nn_fixed.check_against_firmware); the score head's quantized weights must still hold exactly.
        from l1ml.firmware.ptq import float_layers

        check_weights(hls_model, out_dir, skip=set(float_layers(model)))
    notes = {"widened_pooling": widened, "overrides_file": str(ofile) if ofile else None}
    if ptq is not None:
        notes["ptq"] = ptq.get("record")
    return hls_model, cfg, notes


_NUM = re.compile(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def check_weights(hls_model, out_dir: Path, skip: set[str] = frozenset()) -> None:
    """Every weight as written to the firmware headers equals the quantized weight, and lies on its
    declared type's grid (see hls4ml #874 in the module docstring). Layers in `skip` (float layers of a
    post-training-quantized model) are rounded to their types on purpose."""
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    wdir = out_dir / "firmware" / "weights"
    for layer in hls_model.get_layers():
        if layer.name in skip:
            continue
        for wname, var in layer.weights.items():
            data = np.asarray(var.data, np.float64).ravel()
            p = var.type.precision
            if isinstance(p, FixedPrecisionType | IntegerPrecisionType):
                frac = p.width - p.integer
                scaled = data * 2.0**frac
                lo = -(2.0 ** (p.width - 1)) if p.signed else 0.0
                hi = 2.0 ** (p.width - 1) - 1 if p.signed else 2.0**p.width - 1
                bad = (scaled != np.round(scaled)) | (scaled < lo) | (scaled > hi)
                if bad.any():
                    i = int(np.argmax(bad))
                    raise ConversionError(
                        f"layer '{layer.name}': {wname} value {data[i]!r} is not representable in its "
                        f"firmware "
                        f"type {p.definition_cpp()}; the firmware would compute with a different weight. "
                        f"Check the layer's quantizer or the hls_config precision override (a float "
                        f"layer in a QKeras model is refused; a model with no QKeras layer is quantized "
                        f"post-training instead, [firmware] ptq)."
                    )
            header = wdir / f"{var.name}.h"
            if not header.is_file():
                continue
            text = header.read_text()
            body = text[text.index("{", text.index("=")) + 1 : text.rindex("}")]
            written = np.array([float(v) for v in _NUM.findall(body)], np.float64)
            if written.size == data.size and not np.array_equal(written, data):
                i = int(np.argmax(written != data))
                raise ConversionError(
                    f"layer '{layer.name}': {wname}[{i}] is {data[i]!r} "
                    f"but {header.name} writes {written[i]!r} "
                    f"(hls4ml issue #874: weight literals with too few digits)"
                )


def output_info(hls_model) -> list[dict]:
    out = []
    for var in hls_model.get_output_variables():
        out.append(
            {
                "name": var.name,
                "size": int(var.size()),
                "shape": [int(s) for s in var.shape],
                "precision": var.type.precision.definition_cpp(),
            }
        )
    return out


def layer_types(hls_model) -> dict[str, dict[str, str]]:
    """Every layer's types, as written to the manifest: the record of what the firmware computes in."""
    return {
        layer.name: {k: t.precision.definition_cpp() for k, t in layer.types.items() if k != "index_t"}
        for layer in hls_model.get_layers()
    }


# ---- compiling the C simulation, cached by the hash of the generated sources ----


def cache_dir() -> Path:
    from l1ml.cache import cache_root

    return cache_root() / "hls4ml"


def source_hash(prj: Path) -> str:
    """sha256 over the sources the emulation library is compiled from (not the random build stamp, which
    only names the .so)."""
    import hls4ml

    h = hashlib.sha256(f"hls4ml {hls4ml.__version__}\n".encode())
    files = sorted(
        p for p in (prj / "firmware").rglob("*") if p.is_file() and p.suffix in (".h", ".cpp", ".hpp")
    )
    files += sorted(prj.glob("*_bridge.cpp"))
    for p in files:
        h.update(str(p.relative_to(prj)).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def compile_cached(prj: Path, project_name: str) -> tuple[Path, bool]:
    """The compiled C-simulation library of an hls4ml project dir: from the cache when its sources were
    compiled before, else built with g++ and stored. Returns (path, was_cached)."""
    prj = Path(prj)
    key = source_hash(prj)
    cache = cache_dir()
    lib = cache / f"{project_name}-{key[:32]}.so"
    if lib.is_file():
        return lib, True
    if shutil.which("g++") is None:
        raise ToolNotFound(
            "g++ is needed to compile the hls4ml C simulation; install it (apt-get install g++)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="l1ml-csim-") as tmp:
        obj = []
        from l1ml.firmware.backends import csim_includes  # Catapult/Quartus: ac_types, as their build_lib.sh has it

        inc = csim_includes(prj) or ["-Ifirmware/ap_types/", "-Ifirmware/"]
        flags = [
            "-O3",
            "-fPIC",
            "-std=c++17",
            "-fno-gnu-unique",
            f'-DWEIGHTS_DIR="{prj / "firmware" / "weights"}"',
        ]
        for src in (prj / "firmware" / f"{project_name}.cpp", prj / f"{project_name}_bridge.cpp"):
            o = Path(tmp) / (src.stem + ".o")
            _run(["g++", *flags, *inc, "-c", str(src), "-o", str(o)], prj)
            obj.append(str(o))
        out = Path(tmp) / "lib.so"
        _run(["g++", "-O3", "-fPIC", "-shared", *obj, "-o", str(out)], prj)
        part = cache / f".{lib.name}.{os.getpid()}.tmp"
        shutil.copyfile(out, part)
        part.replace(lib)  # atomic: a concurrent validation never loads half a library
    return lib, False


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:])
        raise ConversionError(
            f"compiling the hls4ml C simulation failed (exit {r.returncode}): {' '.join(cmd)}\n{tail}"
        )


def convert_network(project, model_dir: Path, out_dir: Path, progress=None, overrides="project") -> dict:
    """The deployed network of a model version -> out_dir/hls4ml; returns the manifest fields."""
    import hls4ml

    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.boards import project_board
    from l1ml.manifest import sha256
    from l1ml.models.deploy import mask_covers
    from l1ml.models.io import load_model
    from l1ml.progress import or_silent
    from l1ml.project import read_json

    rep = or_silent(progress)
    board = project_board(project)  # an unknown board fails before any slow step
    man = read_json(model_dir / "manifest.json")
    if not man.get("deploy_file"):
        raise ConfigError(
            f"{model_dir / 'manifest.json'}: no 'deploy_file'; this model version has no deployed network"
        )
    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    what = (man.get("origin") or {}).get("import") or {}
    if what.get("fold") is False and what.get("batchnorm_kept") and not what.get("float_model"):
        raise ConversionError(
            f"model {model_dir.name} was imported with --no-fold and keeps BatchNormalization "
            f"{', '.join(what['batchnorm_kept'])}: hls4ml would compute it in a default precision, so the "
            "firmware cannot compute what the model computes. Import it again without --no-fold (the BN is "
            "folded and the model fine-tuned, and import reports what that costs)"
        )
    if man["kind"] != "vae":
        mask_covers(pre)
    input_precision = pre.input_precision()
    rep.task("hls4ml", None)
    deploy = load_model(model_dir / man["deploy_file"])
    hls_dir = out_dir / "hls4ml"
    ptq = ptq_request(project, pre, man["kind"], deploy)
    hls_model, cfg, notes = build(deploy, project, board, hls_dir, input_precision, ptq=ptq, overrides=overrides)
    rep.advance("hls4ml")
    from l1ml.firmware.backends import manifest_fields as backend_fields
    from l1ml.fixed import UnsupportedError
    from l1ml.emulate.nn_fixed import NNEmulator

    try:
        NNEmulator(hls_model)  # decided from the graph alone, before any event: say so now, not at validate
        emulator = None
    except UnsupportedError as exc:
        if ptq is not None:
            # a float model's firmware is validated against the emulator: without it nothing is checked
            raise ConversionError(
                f"post-training quantization: the bit-exact emulator cannot reproduce this firmware ({exc}), "
                "and a float model's firmware is validated against it; change that layer or setting"
            ) from None
        emulator = (
            f"the bit-exact batch emulator cannot reproduce this firmware ({exc}); validation falls back to "
            "the C simulation on every event and the testbench gets no expected outputs"
        )
    return {
        "software_model": "float" if ptq is not None else "fixed",
        "ptq": notes.get("ptq"),
        "tool": "hls4ml",
        "hls4ml_version": hls4ml.__version__,
        "backend": project.firmware.backend,
        "io_type": project.firmware.io_type,
        "strategy": project.firmware.strategy,
        "reuse_factor": project.firmware.reuse_factor,
        "namespace": namespace(project),
        "project_name": top_name(project),
        "input_precision": input_precision,
        "input_shape": [int(s) for s in deploy.inputs[0].shape[1:]],
        "outputs": output_info(hls_model),
        "output_names": [t.name.split("/")[0] for t in deploy.outputs],
        "layer_types": layer_types(hls_model),
        "widened_pooling": notes["widened_pooling"],
        "emulator_refused": emulator,
        "hls_config_file": notes["overrides_file"],
        **backend_fields(hls_model, project),  # Catapult/Quartus/oneAPI/Libero (l1ml/firmware/backends/)
        "files": {"hls4ml": "hls4ml"},
        "hashes": {"deploy": sha256(model_dir / man["deploy_file"]), "sources": source_hash(hls_dir)},
    }


def ptq_request(project, pre, kind: str, deploy) -> dict | None:
    """build()'s `ptq` for a float network (post-training quantization; with profiling events in
    "profile" mode), None for a quantized one. convert and explore both ask here."""
    from l1ml.models.float_net import is_float_model

    if not is_float_model(deploy):
        return None
    return {"x": _profile_events(project, pre, kind) if project.firmware.ptq == "profile" else None}


def _profile_events(project, pre, kind: str):
    """The project's background training split, preprocessed as the firmware sees it, for profiling
    ([firmware] ptq = "profile"); at most [firmware] ptq_profile_events events."""
    from l1ml.data import units
    from l1ml.data.io import load_project_samples, split_background
    from l1ml.models.ae import shape_inputs

    bkg = units.to_hardware(load_project_samples(project)["background"])
    train, _, _ = split_background(bkg, project.data.split, project.data.seed)
    return shape_inputs(kind, pre.apply(train[: project.firmware.ptq_profile_events]))


class CSim:
    """The compiled C simulation of an hls4ml project, called through ctypes event by event (as hls4ml's
    own predict does), in double so that no output type up to 53 bits is rounded on the way out."""

    def __init__(
        self, lib: Path, project_name: str, n_in: int, out_sizes: list[int], traced: dict | None = None
    ):
        import ctypes

        self._ct = ctypes
        self.lib = ctypes.CDLL(str(lib))  # RTLD_LOCAL: co-loaded models keep their symbols apart
        self.top = getattr(self.lib, f"{project_name}_double")
        ptr = np.ctypeslib.ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")
        self.top.argtypes = [ptr] * (1 + len(out_sizes))
        self.top.restype = None
        self.n_in, self.out_sizes = n_in, out_sizes
        self.traced = traced or {}  # layer name -> output size, for a library built with tracing

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        return self._run(x, trace=False)[0]

    def trace(self, x: np.ndarray) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        return self._run(x, trace=True)

    def _run(self, x: np.ndarray, trace: bool):
        ct = self._ct
        x = np.ascontiguousarray(np.asarray(x, np.float64).reshape(len(x), -1))
        if x.shape[1] != self.n_in:
            raise ConfigError(f"the firmware takes {self.n_in} inputs per event, got {x.shape[1]}")
        outs = [np.zeros((len(x), n), np.float64) for n in self.out_sizes]
        layers: dict[str, np.ndarray] = {}
        if trace:

            class TraceData(ct.Structure):
                _fields_ = [("name", ct.c_char_p), ("data", ct.c_void_p)]

            collect = self.lib.collect_trace_output
            collect.argtypes = [ct.POINTER(TraceData)]
            self.lib.allocate_trace_storage.argtypes = [ct.c_size_t]
            data = (TraceData * len(self.traced))()
            layers = {k: np.zeros((len(x), n), np.float64) for k, n in self.traced.items()}
            self.lib.allocate_trace_storage(ct.sizeof(ct.c_double))
        try:
            row = [np.zeros(n, np.float64) for n in self.out_sizes]
            for i in range(len(x)):
                self.top(x[i], *row)
                for o, r in zip(outs, row, strict=True):
                    o[i] = r
                if trace:
                    collect(data)
                    for t in data:
                        if not t.name:  # fewer layers traced than declared (e.g. optimised away)
                            break
                        name = t.name.decode()
                        arr = ct.cast(t.data, ct.POINTER(ct.c_double))
                        layers[name][i] = np.ctypeslib.as_array(arr, shape=(self.traced[name],))
        finally:
            if trace:
                self.lib.free_trace_storage()
        return outs, layers


def load_csim(fw_dir: Path, fw_manifest: dict) -> tuple[CSim, bool]:
    """The C simulation of a converted network, compiled or taken from the cache. Returns (csim, cached)."""
    prj = Path(fw_dir) / fw_manifest["files"]["hls4ml"]
    name = fw_manifest["project_name"]
    if not (prj / "firmware" / f"{name}.cpp").is_file():
        raise ConfigError(f"no hls4ml project in {prj}; run `l1ml convert` first")
    lib, cached = compile_cached(prj, name)
    n_in = int(np.prod(fw_manifest["input_shape"]))
    return CSim(lib, name, n_in, [o["size"] for o in fw_manifest["outputs"]]), cached


def traced_csim(
    model, project, board, input_precision: str, workdir: Path, overrides="project"
) -> tuple[CSim, list[str]]:
    """A tracing build of the same network and config, for locating where firmware and software part.
    Returns the csim and the layer names in the firmware's order."""
    hls_model, _, _ = build(model, project, board, workdir, input_precision, trace=True, overrides=overrides)
    traced, order = {}, []
    for layer in hls_model.get_layers():
        order.append(layer.name)
        if layer.get_attr("function_cpp", None) and layer.get_attr("trace", False):
            for var in layer.get_variables():
                traced[layer.name] = int(var.size())
    name = top_name(project)
    lib, _ = compile_cached(workdir, name)
    n_in = int(np.prod(model.inputs[0].shape[1:]))
    outs = [int(v.size()) for v in hls_model.get_output_variables()]
    return CSim(lib, name, n_in, outs, traced), order
