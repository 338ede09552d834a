"""Hardware units of L1 trigger objects.

The Global Trigger sees integers, not floats: pT in steps of 0.5 GeV, eta and phi in steps of about one
half calorimeter tower. Everything the firmware computes starts from these integers, so training,
emulation and firmware all start from them too.
"""

from __future__ import annotations

import numpy as np

PT_LSB = 0.5  # GeV
ETA_LSB = 0.087 / 2
PHI_LSB = 2 * np.pi / 144
PT_MAX_HW = 4095  # 12 bits unsigned: 2047.5 GeV
ETA_MAX_HW = 127  # 8 bits signed; |eta| < 4 needs 92
PHI_MAX_HW = 72  # |phi| <= pi

N_OBJECTS = 19
N_FEATURES = 3  # pT, eta, phi; the class column is implied by the row
N_INPUTS = N_OBJECTS * N_FEATURES

# Per input position (object-major: pT, eta, phi of object 0, then object 1...): the range of the
# hardware integer. The preprocessing derives the exact input fixed-point type from these.
HW_MIN = np.tile(np.array([0, -ETA_MAX_HW, -PHI_MAX_HW]), N_OBJECTS)
HW_MAX = np.tile(np.array([PT_MAX_HW, ETA_MAX_HW, PHI_MAX_HW]), N_OBJECTS)


def to_hardware(particles: np.ndarray) -> np.ndarray:
    """(N, 19, 4) physics floats [pT, eta, phi, class] -> (N, 57) int32 hardware units, padding stays 0."""
    p = np.asarray(particles, dtype=np.float64)
    pt = np.clip(np.round(p[..., 0] / PT_LSB), 0, PT_MAX_HW)
    eta = np.clip(np.round(p[..., 1] / ETA_LSB), -ETA_MAX_HW, ETA_MAX_HW)
    phi = np.clip(np.round(p[..., 2] / PHI_LSB), -PHI_MAX_HW, PHI_MAX_HW)
    hw = np.stack([pt, eta, phi], axis=-1)
    # An object below the pT LSB is not an object: pad it fully, so that padding means all-zero.
    hw[pt == 0] = 0
    return hw.reshape(len(p), N_INPUTS).astype(np.int32)


def padding_mask(hw: np.ndarray) -> np.ndarray:
    """(N, 57) 1.0 where the input belongs to a present object (pT > 0), 0.0 for padded slots."""
    pt = np.asarray(hw).reshape(len(hw), N_OBJECTS, N_FEATURES)[..., 0]
    return np.repeat(pt > 0, N_FEATURES, axis=1).astype(np.float32)


CLASS_OF_ROW = np.array([1] + [2] * 4 + [3] * 4 + [4] * 10, dtype=np.float32)  # MET, e/gamma, muons, jets


def from_hardware(hw: np.ndarray) -> np.ndarray:
    """(N, 57) hardware integers -> (N, 19, 4) float32 [pT GeV, eta, phi rad, class], padding all zero.

    The inverse of to_hardware on its own output: to_hardware(from_hardware(hw)) == hw for every hw in
    range, so HDF5 files written from it reproduce the same hardware units.
    """
    h = np.asarray(hw, dtype=np.float64).reshape(len(hw), N_OBJECTS, N_FEATURES)
    out = np.zeros((len(h), N_OBJECTS, 4), dtype=np.float64)
    out[..., 0] = h[..., 0] * PT_LSB
    out[..., 1] = h[..., 1] * ETA_LSB
    out[..., 2] = h[..., 2] * PHI_LSB
    out[..., 3] = np.where(h[..., 0] > 0, CLASS_OF_ROW, 0)
    return out.astype(np.float32)
