"""xgboost BDT -> conifer projects: the HLS (xilinxhls) and VHDL backends, plus conifer's own model JSON.

A thin adapter over conifer 1.11, with one correction. conifer's xgboost converter reads thresholds from
xgboost's text dump, which prints the float32 split values with 9 significant digits; parsed as float64,
such a decimal is not the float32 xgboost compares with. xgboost sends `x` left when `x < t` in float32, so
an input exactly on a threshold (common: l1ml inputs are dyadic hardware units and xgboost's hist cuts are
data values) could go the other way in conifer. We replace every threshold and leaf value by the exact
float32 from xgboost's JSON model; see docs/bdt.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np

from l1ml.emulate.ap_types import ap_include_dir
from l1ml.errors import ConfigError, ConversionError, L1mlError

DEFAULT_PRECISION = "ap_fixed<18,8>"


def model_file(model_dir: Path) -> Path:
    """The xgboost JSON model of a model version directory (manifest's model_file, default model.json)."""
    model_dir = Path(model_dir)
    name = "model.json"
    manifest = model_dir / "manifest.json"
    if manifest.is_file():
        try:
            name = json.loads(manifest.read_text()).get("model_file") or name
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{manifest}: not valid JSON: {exc}") from None
    f = model_dir / name
    if not f.is_file():
        raise ConfigError(f"missing BDT model file {f}; train one with `l1ml train` (model kind 'bdt')")
    return f


def load_booster(model_dir: Path):
    """The xgboost Booster saved in a model version directory."""
    from l1ml.models.bdt import load

    return load(model_file(model_dir))


def _f32(text: Decimal) -> np.float32:
    """Decimal -> nearest float32, rounding once (float() then float32 could round twice)."""
    c = np.float32(float(text))
    cands = [np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))]
    return min(cands, key=lambda v: (abs(Decimal(float(v)) - text), int(v.view(np.uint32)) & 1))


def _below_f32(t: np.float32) -> float:
    """Largest float64 below float32 t: for float32 x, `x <= that` is exactly `x < t`."""
    return float(np.nextafter(np.float64(t), -np.inf))


def exact_splits(ensemble: dict, booster) -> int:
    """Put xgboost's exact float32 thresholds and leaf values into conifer's ensemble dict, in place.

    Returns how many thresholds conifer had parsed to a different float64. Checks that conifer's node
    layout is xgboost's (conifer indexes nodes by their xgboost node id), so a converter change is caught.
    """
    model = json.loads(bytes(booster.save_raw("json")), parse_float=Decimal)
    xtrees = model["learner"]["gradient_booster"]["model"]["trees"]
    n_learners = len(ensemble["trees"][0])
    lt = ensemble["splitting_convention"] == "<"
    changed = 0
    for i, per_tree in enumerate(ensemble["trees"]):
        for j, tree in enumerate(per_tree):
            xt = xtrees[n_learners * i + j]
            if any(int(s) != 0 for s in xt.get("split_type", [])):
                raise ConfigError("categorical splits are not supported by conifer's firmware backends")
            left, cond, feat = xt["left_children"], xt["split_conditions"], xt["split_indices"]
            if tree["children_left"] != list(left) or len(cond) != len(tree["feature"]):
                raise L1mlError(
                    f"tree {i}: conifer's node layout differs from xgboost's; cannot fix thresholds"
                )
            for n, c in enumerate(cond):
                v = _f32(c)
                if tree["feature"][n] < 0:
                    tree["value"][n] = float(v)
                    continue
                if tree["feature"][n] != int(feat[n]):
                    raise L1mlError(f"tree {i} node {n}: conifer's feature differs from xgboost's")
                t = float(v) if lt else _below_f32(v)
                changed += tree["threshold"][n] != t
                tree["threshold"][n] = t
    return int(changed)


def ensemble_from_booster(booster) -> tuple[dict, int]:
    """conifer's ensemble dict for an xgboost Booster, with exact thresholds; and the count corrected.

    conifer logs a warning that xgboost >= 2 disagreements exist; it is left visible on purpose (docs/bdt.md).
    """
    from conifer.converters import get_converter

    ens = get_converter("xgboost").convert(booster)
    return ens, exact_splits(ens, booster)


def project_name(project) -> str:
    """A C++ identifier for the HLS top function; never 'bdt', which clashes with conifer's own `bdt`."""
    name = re.sub(r"\W", "_", project.firmware.namespace or project.name)
    if not name or name[0].isdigit():
        name = "p_" + name
    return f"{name}_bdt"


def conifer_config(
    backend: str, precision: str, out_dir: Path, name: str, part: str, clock_ns: float
) -> dict:
    return {
        "backend": backend,
        "output_dir": str(out_dir),
        "project_name": name,
        "input_precision": precision,
        "threshold_precision": precision,
        "weight_precision": precision,
        "score_precision": precision,
        "precision": precision,
        "xilinx_part": part,
        "clock_period": clock_ns,
        "unroll": True,
    }


def tool_env() -> dict[str, str]:
    """Environment for conifer helpers run as subprocesses: its headers, and this venv's pybind11."""
    env = dict(os.environ)
    env.setdefault("XILINX_AP_INCLUDE", str(ap_include_dir()))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


# Run in a child process: conifer's VHDL writer compiles a helper with g++ in the current directory
# (os.chdir inside), needs `python3 -m pybind11` on PATH, and only writes scripts for the simulator it finds.
_VHDL_WRITER = """
import json, sys, conifer
from conifer.backends.vhdl.simulators import GHDL
ens, cfg = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
m = conifer.model.make_model(ens, cfg)
m.write()
src = conifer.backends.vhdl.writer.__file__.rsplit("/", 1)[0]
GHDL.write_scripts(cfg["output_dir"], src, 1 if m.n_classes == 2 else m.n_classes)
"""


def write_vhdl(ensemble: dict, config: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="l1ml-conifer-vhdl-") as tmp:
        (Path(tmp) / "ens.json").write_text(json.dumps(ensemble))
        (Path(tmp) / "cfg.json").write_text(json.dumps(config))
        r = subprocess.run(
            [sys.executable, "-c", _VHDL_WRITER, "ens.json", "cfg.json"],
            cwd=tmp,
            env=tool_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise L1mlError(
            f"conifer's VHDL writer failed (exit {r.returncode}) for {config['output_dir']}:\n{tail}"
        )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# conifer 1.11's xilinxhls writer declares the top function with a third argument, the per-tree scores,
# in <name>.h and calls it that way from <name>_test.cpp, but its firmware template defines only the
# two-argument form, so the project's own testbench (csim) cannot link. This is the missing definition:
# tree scores laid out [tree][class] as the testbench reads them, then the same decision function.
_TOP_WITH_TREE_SCORES = """
// Added by l1ml: the three-argument top function that {name}.h declares and {name}_test.cpp calls.
void {name}(input_arr_t x, score_arr_t score, score_t tree_scores[BDT::fn_classes(n_classes) * n_trees]){{
  score_t scores[BDT::fn_classes(n_classes)][n_trees];
  bdt.tree_scores(x, scores);
  for(int i = 0; i < n_trees; i++){{
    for(int j = 0; j < BDT::fn_classes(n_classes); j++){{
      tree_scores[i * BDT::fn_classes(n_classes) + j] = scores[j][i];
    }}
  }}
  bdt.decision_function(x, score);
}}
"""


def complete_top_function(hls_dir: Path, name: str) -> bool:
    """Add the three-argument top function where conifer declares it but does not define it."""
    cpp = hls_dir / "firmware" / f"{name}.cpp"
    header = (hls_dir / "firmware" / f"{name}.h").read_text()
    source = cpp.read_text()
    if "tree_scores" not in header or "tree_scores" in source:
        return False  # a conifer that never declares it, or already defines it, needs nothing
    cpp.write_text(source + _TOP_WITH_TREE_SCORES.format(name=name))
    return True


def _preprocessing(model_dir: Path):
    """The model version's preprocessing, or None when it records none (then inputs are not checked)."""
    from l1ml.data.preprocess import Preprocessing

    name = "preprocessing.json"
    manifest = model_dir / "manifest.json"
    if manifest.is_file():
        name = json.loads(manifest.read_text()).get("preprocessing_file") or name
    f = model_dir / name
    return Preprocessing.load(f) if f.is_file() else None


def convert_bdt(project, model_dir: Path, out_dir: Path) -> dict:
    """Write conifer_model.json, conifer_hls/ and conifer_vhdl/ into out_dir; return the manifest fields."""
    import conifer
    import xgboost

    from l1ml.firmware.boards import project_board

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    board = project_board(project)
    from l1ml.emulate.bdt_fixed import parse_type
    from l1ml.firmware.bdt_precision import choose

    if project.firmware.precision.strip().lower() not in ("", "auto"):
        parse_type(project.firmware.precision)  # fail on a bad precision before any file is written
    booster = load_booster(model_dir)
    from l1ml.models.bdt import refusal

    why = refusal(booster)  # a version imported or trained before this check existed
    if why:
        raise ConversionError(f"{model_file(model_dir)}: {why}")
    ens, corrected = ensemble_from_booster(booster)
    # The type must hold the preprocessed inputs, the thresholds and the score: chosen, or refused with the
    # numbers when [firmware] precision asks for one that does not (l1ml/firmware/bdt_precision.py).
    from l1ml.project import FirmwareConfig

    requested = project.firmware.precision
    precision, held = choose(ens, _preprocessing(model_dir), requested, FirmwareConfig().precision)
    name = project_name(project)
    out_dir.mkdir(parents=True, exist_ok=True)
    hls_dir, vhdl_dir = out_dir / "conifer_hls", out_dir / "conifer_vhdl"
    for d in (hls_dir, vhdl_dir):
        shutil.rmtree(d, ignore_errors=True)  # stale files from an older conversion must not survive

    cfg = conifer_config("xilinxhls", precision, hls_dir, name, board.part, board.clock_period_ns)
    hls = conifer.model.make_model(copy.deepcopy(ens), cfg)
    # conifer names the C simulation's module after a timestamp; a stamp from the content instead makes
    # a repeated conversion write identical sources, so the compiled C simulation stays cached.
    hls._stamp = int(hashlib.sha256(json.dumps([ens, cfg], sort_keys=True).encode()).hexdigest()[:12], 16)
    hls.write()
    completed = complete_top_function(hls_dir, name)
    hls.save(str(out_dir / "conifer_model.json"))
    write_vhdl(
        copy.deepcopy(ens),
        conifer_config("vhdl", precision, vhdl_dir, name, board.part, board.clock_period_ns),
    )

    model_manifest = model_dir / "manifest.json"
    return {
        "kind": "bdt",
        "tool": "conifer",
        "conifer_version": str(conifer.__version__),
        "xgboost_version": xgboost.__version__,
        "board": project.firmware.board,
        "part": board.part,
        "clock_period_ns": board.clock_period_ns,
        "precision": precision,
        "precision_requested": requested,
        "precision_chosen": precision != requested,
        "precision_holds": held.to_dict(),
        "project_name": name,
        "n_trees": ens["n_trees"],
        "max_depth": ens["max_depth"],
        "n_features": ens["n_features"],
        "splitting_convention": ens["splitting_convention"],
        "thresholds_corrected": corrected,
        "top_function_completed": completed,
        "files": {"conifer_model": "conifer_model.json", "hls": "conifer_hls", "vhdl": "conifer_vhdl"},
        "model_manifest_sha256": _sha256(model_manifest) if model_manifest.is_file() else None,
        "hashes": {
            "model": _sha256(model_file(model_dir)),
            "conifer_model": _sha256(out_dir / "conifer_model.json"),
        },
    }
