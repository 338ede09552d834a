"""Helpers for the BDT tests: dyadic inputs, and one small converted BDT.

The inputs are dyadic like l1ml's preprocessed hardware units, but with 10 fractional bits over +-128: the
values then need more than the 9 significant digits of xgboost's text dump, which is what broke conifer's
thresholds (see docs/bdt.md). xgboost's hist cuts are data values, so events sit on thresholds often.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_FEATURES = 57


def dyadic_inputs(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(-(2**17), 2**17, size=(n, N_FEATURES)) / 2**10).astype(np.float32)


def labels(x: np.ndarray) -> np.ndarray:
    return (x[:, 0] + x[:, 3] * x[:, 5] / 50 > 0.3).astype(int)


@dataclass(frozen=True)
class Bdt:
    project: object
    model_dir: Path
    fw_dir: Path
    booster: object
    manifest: dict
    samples: dict


def make_bdt(tmp: Path, precision: str = "ap_fixed<18,8>", n_trees: int = 10, depth: int = 3) -> Bdt:
    import xgboost as xgb

    from l1ml.firmware.conifer import convert_bdt
    from l1ml.project import load_project

    x = dyadic_inputs(3000, seed=1)
    clf = xgb.XGBClassifier(
        n_estimators=n_trees, max_depth=depth, tree_method="hist", random_state=0, n_jobs=2
    )
    clf.fit(x, labels(x))
    booster = clf.get_booster()
    pdir = tmp / "bdt"
    pdir.mkdir(parents=True)
    (pdir / "project.toml").write_text(
        f'name = "bdt_test"\n[model]\nkind = "bdt"\nn_estimators = {n_trees}\nmax_depth = {depth}\n'
        f'[firmware]\nboard = "vu9p"\nprecision = "{precision}"\n'
        "[validation]\nevents = 2000\n"
    )
    project = load_project(pdir)
    model_dir = project.models_dir / "v1"
    model_dir.mkdir(parents=True)
    booster.save_model(str(model_dir / "model.json"))
    (model_dir / "manifest.json").write_text(
        json.dumps({"version": "v1", "kind": "bdt", "model_file": "model.json"})
    )
    fw_dir = project.firmware_dir("v1")
    manifest = convert_bdt(project, model_dir, fw_dir)
    samples = {"background": dyadic_inputs(2000, seed=2), "Ato4l": dyadic_inputs(500, seed=3) + 1}
    return Bdt(project, model_dir, fw_dir, booster, manifest, samples)


def have_ghdl() -> bool:
    return any((Path(p) / "ghdl").is_file() for p in os.environ.get("PATH", "").split(os.pathsep))
