"""Writing the hls4ml project of a deployed network, with precisions that make the firmware bit-exact.

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
import math
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from l1ml.errors import ConfigError, ConversionError
from l1ml.firmware.names import namespace, top_name
from l1ml.firmware.overrides import load_overrides, merge_overrides
from l1ml.firmware.preflight import preflight
from l1ml.firmware.quantizers import exact_activation_types


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
                    merge_overrides(layers[lname], tcfg)
        overrides = {k: v for k, v in overrides.items() if k != "LayerType"}
    if overrides:
        unknown = set(overrides.get("LayerName", {})) - set(layers)
        if unknown:
            raise ConfigError(
                f"hls_config names layer(s) {', '.join(sorted(unknown))} that the model does not have; "
                f"layers: {', '.join(layers)}"
            )
        merge_overrides(cfg, overrides)
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
