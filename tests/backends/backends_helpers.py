"""Helpers for tests/backends (imported by name, not through conftest): a small dense AE converted by
l1ml's own build() for a backend, and events in the hardware units the firmware takes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulate"))

# Intel backends need an Intel part; the others take the project's default Xilinx board.
BOARD = {"Quartus": "arria10", "oneAPI": "agilex7", "Libero": "mpf300"}


def project(root: Path, backend: str, name: str = "ae"):
    from l1ml.project import load_project

    root.mkdir(parents=True, exist_ok=True)
    board = f'board = "{BOARD[backend]}"\n' if backend in BOARD else ""
    (root / "project.toml").write_text(f'name = "{name}"\n[firmware]\nbackend = "{backend}"\n{board}')
    return load_project(root)


def dense_ae():
    """The project's dense AE deploy graph (folded BN, quantized_relu, the on-chip score head with its
    1-bit pT mask), small: 57 -> 8 -> 4 -> 8 -> 57."""
    from _models import Cfg, deploy_model

    return deploy_model("dense_ae", 0, Cfg(hidden=(8,), latent=4))


def events(n: int = 300, seed: int = 1) -> np.ndarray:
    """Hardware-unit inputs: integer pT (>= 0), eta and phi, a third of the objects absent (all zero)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-400, 1500, size=(n, 57)).astype(np.float64)
    x[:, ::3] = np.abs(x[:, ::3])
    absent = np.repeat(rng.random((n, 19)) < 0.3, 3, axis=1)
    x[absent] = 0
    return x


INPUT_PRECISION = "ap_fixed<12,12>"


def model_version(prj, model) -> str:
    """Write `model` as the project's model version v1, as training leaves it for `l1ml convert`:
    deploy.h5, an identity preprocessing (hardware units as they are) and the manifest."""
    import json

    from l1ml.data.preprocess import Preprocessing
    from l1ml.models.io import save_model

    d = prj.models_dir / "v1"
    d.mkdir(parents=True, exist_ok=True)
    save_model(model, d / "deploy.h5")
    Preprocessing.identity().save(d / "preprocessing.json")
    man = {
        "version": "v1",
        "kind": "dense_ae",
        "source": "train",
        "deploy_file": "deploy.h5",
        "preprocessing_file": "preprocessing.json",
    }
    (d / "manifest.json").write_text(json.dumps(man))
    return "v1"
