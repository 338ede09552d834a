"""A labelled resource and latency estimate of a firmware variant, for when no vendor synthesis report
(and no open-RTL synthesis) exists: the gate and the report then still have figures, marked as estimates.

Two sources, in order:
- alkaid (networks it can trace exactly, l1ml/firmware/rtl/trace.py): the traced combinational logic is
  pipelined as `l1ml convert --backend rtl` would pipeline it (RTLModel at the board's cut-off, nothing
  written), and alkaid's own surrogate figures are read: CombLogic.cost (LUT-equivalents of its adders,
  muxes and tables), the pipeline's register bits, its depth in clock cycles and the critical path.
  Distributed arithmetic uses no DSPs, so dsp is 0.
- BOPs (every other network, and BDTs): bit operations counted from the layer widths and bit widths.
  Networks: per multiply-accumulate layer m*n*((1 - f_zero)*b_a*b_w + b_a + b_w + log2(n)) (Baskin et al.,
  arXiv:1804.10969, as used for hls4ml's QKeras studies), f_zero the fraction of zero weight codes. lut
  counts, with the constants known, one adder bit (one LUT6 on the carry chain) per set bit of each weight
  code and bit of its input: an upper bound, as no partial sums are shared (on a 57-8-4 VAE encoder: 14,780
  against alkaid's 5,862 and Yosys's 7,737). BDTs: one comparator bit per split and threshold bit, a leaf
  mux, the trees' adder tree; latency is conifer's own VHDL figure, 1 + max_depth + ceil(log2(n_trees)).

The result is a plain dict with "source" saying which; compare an estimate only with an estimate of the
same source (l1ml/lifecycle/gate.py does).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np

from l1ml.errors import ConfigError


def estimate(project, version: str | None = None) -> dict:
    """The estimate of the active firmware variant of `version` (default: the project's model)."""
    from l1ml.project import read_json

    model_dir = project.model_dir(version)
    version = model_dir.name
    fw = project.firmware_dir(version)
    kind = read_json(model_dir / "manifest.json").get("kind")
    if kind == "bdt":
        out = bdt_estimate(fw / "conifer_model.json")
    elif kind == "hgq2_ae":  # its model is Keras 3: this process cannot load it (l1ml/frontends/hgq2.py)
        raise ConfigError(f"{version} is an HGQ2 model (Keras 3): no estimate from this environment yet")
    elif (fw / "hls4ml" / "hls4ml_config.yml").is_file():
        out = network_estimate(project, model_dir, fw)
    else:
        raise ConfigError(
            f"no hls4ml firmware for {version} in {fw}; run `l1ml convert --model {version}` first"
        )
    out["version"] = version
    return out


def write_estimate(project, version: str | None = None) -> dict:
    """estimate() stored next to the firmware (layout.estimate_file), where the gate and report read it.
    One already written for the same firmware (its manifest's hash) is kept: tracing a network into alkaid
    takes tens of seconds."""
    from l1ml import layout, manifest

    version = project.model_dir(version).name
    fw_man = project.firmware_dir(version) / "manifest.json"
    stamp = manifest.sha256(fw_man) if fw_man.is_file() else None
    f = layout.estimate_file(project, version)
    try:
        old = json.loads(f.read_text())
    except (OSError, ValueError):
        old = None
    if stamp and isinstance(old, dict) and old.get("firmware_manifest_sha256") == stamp:
        return old
    est = estimate(project, version)
    est["firmware_manifest_sha256"] = stamp
    manifest.write_json(f, est)
    return est


# ---------------------------------------------------------------------------------------------- networks


def network_estimate(project, model_dir: Path, fw: Path) -> dict:
    from l1ml.emulate.nn_fixed import load_hls_model
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.rtl.build import latency_cutoff_ns
    from l1ml.firmware.rtl.trace import RTLUnsupported, trace_model
    from l1ml.project import read_json

    man = read_json(model_dir / "manifest.json")
    if not man.get("deploy_file"):
        raise ConfigError(f"{model_dir / 'manifest.json'} names no deploy_file: no Keras model to estimate")
    hm = load_hls_model(fw / "hls4ml", keras_model=model_dir / man["deploy_file"])
    board = project_board(project)
    cutoff = latency_cutoff_ns(project, board)
    try:
        comb, _, _ = trace_model(hm)
    except RTLUnsupported as exc:
        out = network_bops(hm, board.clock_period_ns, cutoff)
        out["why_not_alkaid"] = str(exc)
        return out
    return alkaid_figures(comb, board, cutoff)


def alkaid_figures(comb, board, cutoff_ns: float) -> dict:
    """alkaid's surrogate figures of traced logic, pipelined at `cutoff_ns` (0: one combinational block)."""
    from importlib.metadata import version

    from alkaid.codegen import RTLModel

    with tempfile.TemporaryDirectory() as tmp:  # RTLModel wants a path; nothing is written before write()
        model = RTLModel(
            comb,
            Path(tmp) / "design",
            flavor="verilog",
            latency_cutoff=cutoff_ns if cutoff_ns > 0 else -1,
            print_latency=False,
            part_name=board.part,
            clock_period=board.clock_period_ns,
            clock_uncertainty=board.clock_period_ns * board.clock_uncertainty_pct / 100,
        )
    pipelined = any(sig.reg for sig in model.fsm.signals.values())
    # The same depth as l1ml/firmware/rtl/build.py's testbench: clock edges from input to output.
    cycles = max(int(sig.schedule.bias) for sig in model.fsm.out_signals) if pipelined else 0
    return {
        "source": f"estimate (alkaid {version('alkaid')})",
        "method": "alkaid's surrogate cost (LUT-equivalents) and pipeline of the traced distributed arithmetic",
        "lut": int(round(model._comb.cost)),  # after alkaid's own ternary-adder fusion, as its metadata.json
        "dsp": 0,
        "ff": int(model.reg_bits) if pipelined else 0,
        "latency_cycles": cycles,
        "comb_delay_ns": float(comb.latency[1]),  # the whole logic's, before pipelining
        "clock_ns": board.clock_period_ns,
        "latency_cutoff_ns": cutoff_ns if cutoff_ns > 0 else None,
    }


def _width(t) -> int:
    return int(t.width)


def network_bops(hm, clock_ns: float, cutoff_ns: float) -> dict:
    """BOPs of an hls4ml ModelGraph from its layers' sizes and precisions, with a critical path of adder
    levels at alkaid's surrogate adder delay (~1.1 ns a level) cut into clock cycles."""
    from l1ml.emulate.nn_layers import result_type, var_size, weight_codes

    by_output = {la.outputs[0]: la for la in hm.get_layers()}
    bops = lut = 0.0
    levels = 0
    layers = []
    for la in hm.get_layers():
        cls = la.class_name
        if cls in ("Input", "InputLayer", "Reshape", "Flatten"):
            continue
        src = by_output.get(la.inputs[0]) if la.inputs else None
        b_a = _width(result_type(src)) if src is not None else _width(result_type(la))
        if cls in ("Dense", "Conv2D", "Conv1D"):
            w, wt = weight_codes(la, "weight")
            b_w = _width(wt)
            zero = float(np.mean(np.asarray(w) == 0)) if np.size(w) else 0.0
            if cls == "Dense":
                n, m, reps = int(la.get_attr("n_in")), int(la.get_attr("n_out")), 1
            else:
                a = la.get_attr
                k = int(a("filt_height", 1)) * int(a("filt_width", 1))
                n, m = k * int(a("n_chan")), int(a("n_filt"))
                reps = int(a("out_height", 1)) * int(a("out_width", 1))
            b = reps * m * n * ((1 - zero) * b_a * b_w + b_a + b_w + math.log2(max(n, 2)))
            # LUTs of the same layer with its constants known: a product by code c is popcount(|c|)
            # shifted copies of the b_a-bit input summed, one adder bit (one LUT) per copy and bit.
            ones = sum(bin(abs(int(c))).count("1") for c in np.ravel(w))
            lut += reps * ones * (b_a + math.log2(max(n, 2)))
            # a shift-add multiply is an adder tree of b_w partial products, then n products are summed
            lv = math.ceil(math.log2(max(b_w, 2))) + math.ceil(math.log2(max(n, 2)))
        elif cls in ("BatchNormalization", "ApplyAlpha"):
            n = var_size(la)
            _, st = weight_codes(la, "scale")
            b = n * (b_a * _width(st) + b_a + _width(st))
            lut += b
            lv = math.ceil(math.log2(max(_width(st), 2))) + 1
        elif cls == "Pooling2D":
            n = var_size(la)
            k = int(la.get_attr("pool_height", 1)) * int(la.get_attr("pool_width", 1))
            b, lv = n * k * b_a, math.ceil(math.log2(max(k, 2)))
            lut += b
        else:  # activations, merges: about one operation per bit of each element
            b, lv = var_size(la) * b_a, 1
            lut += b
        bops += b
        levels += lv
        layers.append({"layer": la.name, "class": cls, "bops": round(b)})
    path_ns = levels * 1.1
    per_cycle = cutoff_ns if cutoff_ns > 0 else clock_ns
    return {
        "source": "estimate (BOPs)",
        "method": "bit operations from layer widths and bit widths (Baskin et al.); lut: one adder bit per set "
        "bit of each weight code and input bit, an upper bound; latency: adder levels at ~1.1 ns each",
        "bops": round(bops),
        "lut": round(lut),
        "dsp": 0,
        "latency_cycles": math.ceil(path_ns / per_cycle),
        "comb_delay_ns": path_ns,
        "clock_ns": clock_ns,
        "layers": layers,
    }


# ---------------------------------------------------------------------------------------------- BDTs


def bdt_estimate(conifer_json: Path) -> dict:
    """BOPs of a conifer ensemble from its saved model: splits times the threshold width, the leaf
    multiplexers, and the adder tree over trees; conifer's VHDL latency."""
    from l1ml.emulate.bdt_fixed import Precisions

    try:
        d = json.loads(Path(conifer_json).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{conifer_json}: cannot read the conifer model ({exc}); run `l1ml convert` first"
        ) from None
    prec = Precisions.from_config(d.get("config"))
    b_t, b_s = prec.threshold.width, prec.score.width
    splits = leaves = 0
    for per_tree in d["trees"]:
        for t in per_tree:
            internal = sum(1 for c in t["children_left"] if c != -1)
            splits += internal
            leaves += len(t["children_left"]) - internal
    n_trees, n_classes = int(d["n_trees"]), max(1, len(d["trees"][0]))
    adds = (n_trees - 1 + 1) * n_classes  # the trees' sum and the initial prediction
    bops = splits * b_t + leaves * b_s + adds * (b_s + math.ceil(math.log2(max(n_trees, 2))))
    return {
        "source": "estimate (BOPs)",
        "method": "bit operations of the ensemble (comparators, leaf muxes, adder tree); lut: one LUT6 per "
        "bit operation, an upper bound; latency: conifer's VHDL pipeline 1 + max_depth + ceil(log2 n_trees)",
        "bops": int(bops),
        "lut": int(bops),
        "dsp": 0,
        "latency_cycles": 1 + int(d["max_depth"]) + math.ceil(math.log2(max(n_trees, 1))),
        "splits": splits,
        "n_trees": n_trees,
        "precision": {"threshold": str(prec.threshold), "score": str(prec.score)},
    }
