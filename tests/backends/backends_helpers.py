"""Helpers for tests/backends (imported by name, not through conftest): a small dense AE converted by
l1ml's own build() for a backend, and events in the hardware units the firmware takes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulate"))

# Intel backends need an Intel part; the others take the project's default Xilinx board.
BOARD = {"Quartus": "arria10", "oneAPI": "agilex7"}


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
