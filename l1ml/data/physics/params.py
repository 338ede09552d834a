"""Every number of the synthetic event model, in one place (docs/data.md explains each).

Units: GeV, radians. Fractions are per bunch crossing unless said otherwise. These are chosen to be
physical (Run-3 LHC conditions and the CMS Level-1 trigger's object definitions), never tuned to a
model's score on a signal.
"""

from __future__ import annotations

import math

# --- Collisions ------------------------------------------------------------------------------------
PILEUP_MEAN = 60.0  # inelastic pp interactions per crossing (Run 3, ~2e34 /cm2/s); Poisson per event
# A zero-bias crossing is PILEUP_MEAN soft interactions. A fraction of them holds a parton scatter above
# PTHAT_MIN; its pT-hat falls as a power law, as QCD 2 -> 2 does (d sigma / d pT ~ pT^-PTHAT_POWER).
SCATTER_FRACTION = 0.025  # interactions with pT-hat > PTHAT_MIN: 1.5 scatters per crossing on average
PTHAT_MIN = 8.0
PTHAT_POWER = 4.5
SCATTER_MAX = 8  # scatters per crossing kept (P(more) < 1e-4 at the default rate)
PARTON_Y_SIGMA = 2.0  # rapidity of each outgoing parton, Gaussian
KT_SIGMA = 0.15  # acoplanarity of a dijet, Gaussian in delta-phi about pi
FSR_PROB = 0.25  # a hard gluon splits off one parton (3-jet events); it takes a fraction U(0.1, 0.5)
FSR_DR = 0.8  # ... at this typical angle, resolved by L1 jets (0.4 cone)
# Soft energy of all interactions: a Gaussian per MET component of width MET_SOFT_SIGMA * sqrt(n_int).
MET_SOFT_SIGMA = 2.0

# Hard processes inside zero bias, per crossing: sigma x BR(e, mu) x luminosity / 40 MHz x 2544/3564.
BACKGROUND_HARD = {"W": 3.0e-5, "Z": 3.0e-6, "ttbar": 1.0e-6}

# Fragmentation seen by the L1 trigger: a jet's pi0s make an e/gamma candidate, decays in flight and
# heavy flavour a (non-isolated) muon; each takes a fraction of the jet's pT.
EG_IN_JET_PROB, EG_IN_JET_Z = 0.25, (0.15, 0.6)
MU_IN_JET_PROB, MU_IN_JET_Z = 0.01, (0.1, 0.5)
B_SEMILEPTONIC = 0.21  # b -> l nu X (e and mu alike): lepton z U(0.1, 0.5), neutrino z U(0.05, 0.3)

# --- Signals -------------------------------------------------------------------------------------
M_A = 50.0  # light pseudoscalar, gg -> A -> Z* Z* -> 4 leptons
A_MSTAR_MIN = 4.0  # the lighter off-shell Z*
M_LQ = 80.0  # scalar leptoquark, pair produced (gg -> LQ LQ), each -> b tau
LQ_PAIR_EXCESS = 0.3  # pair mass 2 m (1 + Exp(LQ_PAIR_EXCESS)): production falls above threshold
M_H0 = 60.0  # neutral scalar, gg -> h -> tau tau
M_HCH = 60.0  # charged scalar, produced singly (c s-bar -> H+), H+ -> tau nu
M_TOP, M_W, M_Z = 172.5, 80.4, 91.2
TT_EXCESS = 0.25  # ttbar pair mass 2 m_t (1 + Exp(TT_EXCESS))
# Transverse momentum of a produced system, from initial-state radiation (exponential, mean in GeV);
# a recoil jet balances it.
PT_ISR = {"A": 20.0, "LQLQ": 25.0, "h": 25.0, "ttbar": 40.0, "W": 10.0, "Z": 10.0}
SYSTEM_Y_SIGMA = 1.5
W_HADRONIC = 0.676  # W -> q q'; the rest shared by e, mu, tau
TAU_HADRONIC = 0.648  # tau -> hadrons nu; else e or mu (equal)
TAU_PI_FRACTION = 0.17  # of hadronic decays, tau -> pi nu: visible fraction U(0, 1); others U(0.25, 1)

# --- Level-1 detector ------------------------------------------------------------------------------
PT_MIN = {"e": 3.0, "mu": 3.0, "jet": 15.0}  # object thresholds
ETA_MAX = {"e": 2.5, "mu": 2.4, "jet": 4.7}  # acceptance: tracker-matched EG / muon system / HF
MET_ETA_MAX = 5.0  # the calorimeter MET sums towers to here; muons deposit nothing (calo-only MET)
# pT resolution sigma/pT = sqrt((N/pT)^2 + S^2/pT + C^2): noise (pileup), stochastic, constant.
RESOLUTION = {"e": (0.5, 0.15, 0.02), "mu": (0.0, 0.0, 0.10), "jet": (4.0, 1.1, 0.05)}
# Position granularity: trigger towers for calorimeter objects, finer muon-system binning.
TOWER = {"e": (0.087, 2 * math.pi / 72), "jet": (0.087, 2 * math.pi / 72), "mu": (0.0109, 2 * math.pi / 576)}
