"""What the Level-1 trigger makes of the particles: resolution, tower granularity, thresholds,
acceptance, calorimeter-only MET, and the ADC2021 (N, 19, 4) layout."""

from __future__ import annotations

import numpy as np

from l1ml.data.physics import kinematics as kin
from l1ml.data.physics import params as P
from l1ml.data.physics.processes import Event

SLOTS = {"e": 4, "mu": 4, "jet": 10}
ROWS = {"e": slice(1, 5), "mu": slice(5, 9), "jet": slice(9, 19)}
CLASS_ID = {"met": 1, "e": 2, "mu": 3, "jet": 4}


def _measure(rng, kind, pt):
    noise, stoch, const = P.RESOLUTION[kind]
    safe = np.maximum(pt, 1e-6)
    sigma = np.sqrt((noise / safe) ** 2 + stoch**2 / safe + const**2)
    return pt * np.maximum(rng.normal(1.0, sigma), 0.0)


def _granular(v, step, lo=0.0):
    """The centre of the trigger tower (or muon bin) v falls in."""
    return (np.floor((v - lo) / step) + 0.5) * step + lo


def _objects(rng, kind, parts, n, met):
    """(n, slots, 3) leading objects of a kind, from its flat list of candidates."""
    slots = SLOTS[kind]
    out = np.zeros((n, slots, 3))
    if not parts:
        return out
    idx = np.concatenate([i for i, _ in parts])
    pt, eta, phi = kin.pt_eta_phi(np.concatenate([p for _, p in parts]))
    meas = np.where(pt > 0, _measure(rng, kind, pt), 0.0)
    if kind == "jet":
        # Calorimeter-only MET: every deposit within the towers' reach, above threshold or not.
        seen = np.where(np.abs(eta) < P.MET_ETA_MAX, meas, 0.0)
        met[0] -= np.bincount(idx, seen * np.cos(phi), n)
        met[1] -= np.bincount(idx, seen * np.sin(phi), n)
    d_eta, d_phi = P.TOWER[kind]
    eta = _granular(eta, d_eta)  # acceptance applies to the measured (binned) position
    ok = (meas > P.PT_MIN[kind]) & (np.abs(eta) < P.ETA_MAX[kind])
    idx, meas, eta = idx[ok], meas[ok], eta[ok]
    phi = np.clip(_granular(phi[ok], d_phi, -np.pi), -np.pi, np.pi)
    # Leading first within each event: sort by event, then falling pT; rank = place within the event.
    order = np.lexsort((-meas, idx))
    idx = idx[order]
    rank = np.arange(len(idx)) - np.searchsorted(idx, idx, side="left")
    keep = rank < slots
    out[idx[keep], rank[keep]] = np.stack([meas[order], eta[order], phi[order]], -1)[keep]
    return out


def layout(ev: Event) -> np.ndarray:
    """(n, 19, 4) float32: MET, 4 e/gamma, 4 muons, 10 jets, each type by falling pT, padding zero."""
    rng, n = ev.rng, ev.n
    soft = P.MET_SOFT_SIGMA * np.sqrt(ev.n_interactions)
    met = [rng.normal(0, 1, n) * soft, rng.normal(0, 1, n) * soft]
    blocks = {kind: _objects(rng, kind, ev.parts[kind], n, met) for kind in ("jet", "e", "mu")}
    out = np.zeros((n, 19, 4), dtype=np.float32)
    out[:, 0, 0] = np.hypot(met[0], met[1])
    out[:, 0, 2] = np.arctan2(met[1], met[0])
    out[:, 0, 3] = CLASS_ID["met"]
    for kind, block in blocks.items():
        out[:, ROWS[kind], :3] = block
        out[:, ROWS[kind], 3] = np.where(block[..., 0] > 0, CLASS_ID[kind], 0)
    return out
