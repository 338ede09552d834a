"""The processes: zero-bias crossings (pileup and soft QCD), the hard backgrounds inside them, and the
four signals. Each builds the visible final-state particles of a batch of events; momentum is conserved
in every step, so what the calorimeter misses (neutrinos, muons, mismeasurement) shows up as MET.

Functions take `idx`, the events (indices into the batch) a particle belongs to, and its four-vectors
p (len(idx), 4): only particles that exist are built, which keeps a 3M-event rate sample fast."""

from __future__ import annotations

import numpy as np

from l1ml.data.physics import kinematics as kin
from l1ml.data.physics import params as P


class Event:
    """Candidate particles of n events, before the detector: per kind, lists of (event index, p4)."""

    def __init__(self, rng, n: int):
        self.rng, self.n = rng, n
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"e": [], "mu": [], "jet": []}
        self.n_interactions = rng.poisson(P.PILEUP_MEAN, n)
        self.all = np.arange(n)

    def jet(self, idx, p, hadronic=True):
        """A hadronic jet: sometimes a pi0 gives an e/gamma candidate inside it (the jet keeps the
        energy), sometimes a decay in flight a muon (which leaves the jet and the calorimeter)."""
        rng, m = self.rng, len(idx)
        if hadronic and m:
            eg = rng.random(m) < P.EG_IN_JET_PROB
            self.parts["e"].append((idx[eg], p[eg] * rng.uniform(*P.EG_IN_JET_Z, eg.sum())[:, None]))
            mu = rng.random(m) < P.MU_IN_JET_PROB
            z = np.where(mu, rng.uniform(*P.MU_IN_JET_Z, m), 0.0)
            self.parts["mu"].append((idx[mu], p[mu] * z[mu, None]))
            p = p * (1 - z)[:, None]
        self.parts["jet"].append((idx, p))

    def electron(self, idx, p):
        # An electron is a calorimeter cluster too: the L1 jet algorithm sees it as a jet.
        self.parts["e"].append((idx, p))
        self.parts["jet"].append((idx, p))

    def muon(self, idx, p):
        self.parts["mu"].append((idx, p))


def _choice(rng, n, probs: dict) -> dict:
    u = rng.random(n)
    out, lo = {}, 0.0
    for k, f in probs.items():
        out[k] = (u >= lo) & (u < lo + f)
        lo += f
    return out


def lepton(ev: Event, idx, p, is_e):
    ev.electron(idx[is_e], p[is_e])
    ev.muon(idx[~is_e], p[~is_e])


_MICHEL_X = np.linspace(0, 1, 201)
_MICHEL_CDF = 5 / 3 * _MICHEL_X - _MICHEL_X**3 + _MICHEL_X**4 / 3  # integral of 5/3 - 3x^2 + 4/3 x^3


def tau(ev: Event, idx, p):
    """A tau, collinear decay (it is boosted): hadrons (a narrow jet) or e / mu, the rest neutrinos."""
    rng, m = ev.rng, len(idx)
    mode = _choice(rng, m, {"had": P.TAU_HADRONIC, "e": (1 - P.TAU_HADRONIC) / 2})
    is_pi = rng.random(m) < P.TAU_PI_FRACTION
    x_had = np.where(is_pi, rng.uniform(0, 1, m), rng.uniform(0.25, 1, m))
    x_lep = np.interp(rng.random(m), _MICHEL_CDF, _MICHEL_X)  # lepton spectrum of tau -> l nu nu
    vis = p * np.where(mode["had"], x_had, x_lep)[:, None]
    had = mode["had"]
    ev.jet(idx[had], vis[had])
    lepton(ev, idx[~had], vis[~had], mode["e"][~had])


def b_quark(ev: Event, idx, p):
    """A b jet; semileptonic decays give a non-isolated lepton in it and a neutrino."""
    rng, m = ev.rng, len(idx)
    semi = rng.random(m) < P.B_SEMILEPTONIC
    is_e = rng.random(m) < 0.5
    z_l = rng.uniform(0.1, 0.5, m)
    z_nu = np.where(semi, rng.uniform(0.05, 0.3, m), 0.0)
    lepton(ev, idx[semi], p[semi] * z_l[semi, None], is_e[semi])
    keep = 1 - z_nu - np.where(semi & ~is_e, z_l, 0.0)  # the muon and the neutrino leave the jet
    ev.jet(idx, p * keep[:, None])


def w_boson(ev: Event, idx, w):
    """W -> q q' (two jets), e nu, mu nu or tau nu."""
    rng, m = ev.rng, len(idx)
    a, b = kin.decay2(rng, w, 0.0, 0.0)
    lep = (1 - P.W_HADRONIC) / 3
    mode = _choice(rng, m, {"had": P.W_HADRONIC, "e": lep, "mu": lep})
    had, light = mode["had"], mode["e"] | mode["mu"]
    ev.jet(idx[had], a[had])
    ev.jet(idx[had], b[had])
    lepton(ev, idx[light], a[light], mode["e"][light])
    t = ~(had | light)
    tau(ev, idx[t], a[t])


def produced(ev: Event, m, pt_mean: float) -> np.ndarray:
    """A system of mass m made in a hard collision in every event, its transverse momentum from
    initial-state radiation, balanced by a recoil jet."""
    rng, n = ev.rng, ev.n
    pt = rng.exponential(pt_mean, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    system = kin.from_pt_y_phi(pt, rng.normal(0, P.SYSTEM_Y_SIGMA, n), phi, m)
    ev.jet(ev.all, kin.from_pt_y_phi(pt, rng.normal(0, P.PARTON_Y_SIGMA, n), phi + np.pi, 0.0))
    return system


def soft_qcd(ev: Event):
    """The crossing's interactions: each may hold a parton scatter with a steeply falling pT-hat,
    two back-to-back jets (sometimes three). This is pileup, and all there is in a zero-bias event."""
    rng = ev.rng
    k = np.minimum(rng.poisson(ev.n_interactions * P.SCATTER_FRACTION), P.SCATTER_MAX)
    for i in range(int(k.max(initial=0))):
        idx = np.flatnonzero(k > i)
        m = len(idx)
        pthat = P.PTHAT_MIN * rng.random(m) ** (-1 / (P.PTHAT_POWER - 1))
        phi = rng.uniform(-np.pi, np.pi, m)
        for side in (0.0, np.pi):
            p = kin.from_pt_y_phi(pthat, rng.normal(0, P.PARTON_Y_SIGMA, m), phi + side, 0.0)
            fsr = rng.random(m) < P.FSR_PROB
            split = kin.rotate_off_axis(rng, p[fsr], P.FSR_DR) * rng.uniform(0.1, 0.5, fsr.sum())[:, None]
            ev.jet(idx[fsr], split)
            rest = p.copy()
            rest[fsr] -= split
            ev.jet(idx, rest)


def _ttbar(ev: Event):
    rng, n = ev.rng, ev.n
    tt = produced(ev, 2 * P.M_TOP * (1 + rng.exponential(P.TT_EXCESS, n)), P.PT_ISR["ttbar"])
    return kin.decay2(rng, tt, P.M_TOP, P.M_TOP)


def hard_process(name: str, ev: Event):
    """One hard process in every event of the batch."""
    rng, n, every = ev.rng, ev.n, ev.all
    flavour_e = rng.random(n) < 0.5
    if name == "W":  # W -> e nu or mu nu
        lep, _nu = kin.decay2(rng, produced(ev, P.M_W, P.PT_ISR["W"]), 0.0, 0.0)
        lepton(ev, every, lep, flavour_e)
    elif name == "Z":
        for lep in kin.decay2(rng, produced(ev, P.M_Z, P.PT_ISR["Z"]), 0.0, 0.0):
            lepton(ev, every, lep, flavour_e)
    elif name == "ttbar":
        for top in _ttbar(ev):
            b, w = kin.decay2(rng, top, 0.0, P.M_W)
            b_quark(ev, every, b)
            w_boson(ev, every, w)
    elif name == "Ato4l":
        a = produced(ev, P.M_A, P.PT_ISR["A"])
        m1 = rng.uniform(0.4, 0.8, n) * P.M_A
        m2 = rng.uniform(P.A_MSTAR_MIN, P.M_A - m1 - 1.0)  # the lighter Z*, below what m1 leaves
        for z in kin.decay2(rng, a, m1, m2):
            same = rng.random(n) < 0.5
            for lep in kin.decay2(rng, z, 0.0, 0.0):
                lepton(ev, every, lep, same)
    elif name == "leptoquark":
        pair = produced(ev, 2 * P.M_LQ * (1 + rng.exponential(P.LQ_PAIR_EXCESS, n)), P.PT_ISR["LQLQ"])
        for lq in kin.decay2(rng, pair, P.M_LQ, P.M_LQ):
            b, t = kin.decay2(rng, lq, 0.0, 0.0)
            b_quark(ev, every, b)
            tau(ev, every, t)
    elif name == "hToTauTau":
        for t in kin.decay2(rng, produced(ev, P.M_H0, P.PT_ISR["h"]), 0.0, 0.0):
            tau(ev, every, t)
    elif name == "hChToTauNu":
        # Produced singly, as the ADC2021 sample is (c s-bar -> H+); its neutrino is real MET.
        t, _nu = kin.decay2(rng, produced(ev, P.M_HCH, P.PT_ISR["h"]), 0.0, 0.0)
        tau(ev, every, t)
    else:
        raise ValueError(f"unknown process {name}")
