"""Four-vectors as (n, 4) arrays [px, py, pz, E], vectorised over events; two-body decays and boosts."""

from __future__ import annotations

import numpy as np


def from_pt_y_phi(pt, y, phi, m) -> np.ndarray:
    """A particle of transverse momentum pt, rapidity y, azimuth phi and mass m."""
    mt = np.sqrt(pt**2 + m**2)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y)], -1)


def pt_eta_phi(p: np.ndarray):
    pt = np.hypot(p[..., 0], p[..., 1])
    eta = np.arcsinh(np.clip(p[..., 2] / np.maximum(pt, 1e-9), -1e4, 1e4))
    return pt, eta, np.arctan2(p[..., 1], p[..., 0])


def mass(p: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(p[..., 3] ** 2 - (p[..., :3] ** 2).sum(-1), 0.0))


def decay2(rng, parent: np.ndarray, m1, m2) -> tuple[np.ndarray, np.ndarray]:
    """Daughters of masses m1, m2, isotropic in the parent's rest frame, boosted to the lab. The two
    share the parent's four-momentum exactly: this is what correlates a resonance's decay products."""
    n = len(parent)
    big_m = mass(parent)
    m1 = np.broadcast_to(np.asarray(m1, float), (n,))
    m2 = np.broadcast_to(np.asarray(m2, float), (n,))
    arg = (big_m**2 - (m1 + m2) ** 2) * (big_m**2 - (m1 - m2) ** 2)
    p_star = np.sqrt(np.maximum(arg, 0.0)) / (2 * np.maximum(big_m, 1e-9))
    cos_t = rng.uniform(-1, 1, n)
    sin_t = np.sqrt(1 - cos_t**2)
    ph = rng.uniform(-np.pi, np.pi, n)
    d = p_star[:, None] * np.stack([sin_t * np.cos(ph), sin_t * np.sin(ph), cos_t], -1)
    e1 = np.sqrt(p_star**2 + m1**2)
    first = boost(np.concatenate([d, e1[:, None]], -1), parent)
    return first, parent - first


def boost(p: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """p, given in the rest frame of `frame`, in the lab."""
    beta = frame[:, :3] / frame[:, 3:4]
    b2 = np.clip((beta**2).sum(-1), 0.0, 1 - 1e-12)
    gamma = 1 / np.sqrt(1 - b2)
    bp = (beta * p[:, :3]).sum(-1)
    coef = np.where(b2 > 0, (gamma - 1) * bp / np.maximum(b2, 1e-300), 0.0) + gamma * p[:, 3]
    return np.concatenate([p[:, :3] + coef[:, None] * beta, (gamma * (p[:, 3] + bp))[:, None]], -1)


def rotate_off_axis(rng, p: np.ndarray, dr: float) -> np.ndarray:
    """p's direction moved by about dr in (eta, phi), its magnitude kept: a resolved splitting."""
    pt, eta, phi = pt_eta_phi(p)
    a = rng.uniform(-np.pi, np.pi, len(p))
    r = dr * rng.uniform(0.5, 1.5, len(p))
    eta2, phi2 = eta + r * np.cos(a), phi + r * np.sin(a)
    mom = np.sqrt((p[:, :3] ** 2).sum(-1))
    pt2 = mom / np.cosh(eta2)
    return np.stack([pt2 * np.cos(phi2), pt2 * np.sin(phi2), pt2 * np.sinh(eta2), mom], -1)
