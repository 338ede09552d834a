"""Physical properties of the synthetic events (issue 25): each assertion is one a wrong model fails."""

import numpy as np
import pytest

from l1ml.data import generate as gen
from l1ml.data.physics import params

N = 20_000


@pytest.fixture(scope="module")
def events():
    return {s: gen.generate(s, N, seed=3) for s in ("background", *gen.SIGNALS)}


def _four_vectors(ev, rows):
    pt, eta, phi = ev[:, rows, 0], ev[:, rows, 1], ev[:, rows, 2]
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], -1)


def test_background_leading_jet_falls_steeply(events):
    lead = events["background"][:, 9, 0]
    # Zero bias: most crossings hold no jet above threshold, and each doubling of the leading jet's
    # pT costs well over a factor 4 in events (a power law, not an exponential tail of hard jets).
    assert (lead == 0).mean() > 0.5
    n20, n40, n80 = ((lead > c).sum() for c in (20, 40, 80))
    assert n20 > 4 * n40 > 0 and n40 > 4 * n80


def test_ato4l_has_four_leptons_at_the_scalar_mass(events):
    ev = events["Ato4l"]
    e = _four_vectors(ev, slice(1, 5))
    mu = _four_vectors(ev, slice(5, 9))
    n_lep = (ev[:, 1:9, 0] > 0).sum(1)
    # Events with exactly four prompt leptons, all electrons or all muons: their sum is the A.
    four_e = (ev[:, 1:5, 0] > 0).sum(1) == 4
    four_mu = (ev[:, 5:9, 0] > 0).sum(1) == 4
    assert (n_lep >= 4).mean() > 0.25
    p = np.where(four_e[:, None], e.sum(1), mu.sum(1))[four_e | four_mu]
    m = np.sqrt(np.maximum(p[:, 3] ** 2 - (p[:, :3] ** 2).sum(1), 0))
    peak = np.median(m)
    assert abs(peak - params.M_A) < 0.1 * params.M_A, f"4-lepton mass peaks at {peak:.1f} GeV"
    assert (np.abs(m - params.M_A) < 0.2 * params.M_A).mean() > 0.5
    bkg = events["background"]
    assert ((bkg[:, 1:9, 0] > 0).sum(1) >= 4).mean() < 0.01


def test_charged_scalar_has_harder_met(events):
    met_b = events["background"][:, 0, 0]
    met_h = events["hChToTauNu"][:, 0, 0]
    # Its neutrino is real MET: more events above 60 GeV than background, by a wide margin.
    assert (met_h > 60).mean() > 3 * (met_b > 60).mean()
    assert np.median(met_h) > np.median(met_b)


def test_tau_decay_products_are_correlated(events):
    # h -> tau tau: the two leading visible objects tend to be back to back in phi (the h is light
    # compared with its decay momentum), which independent objects would not be.
    ev = events["hToTauTau"]
    objs = ev[:, 1:, :]
    order = np.argsort(-objs[..., 0], 1)[:, :2]
    two = np.take_along_axis(objs, order[..., None], 1)
    both = (two[:, :, 0] > 0).all(1)
    dphi = np.abs(np.angle(np.exp(1j * (two[both, 0, 2] - two[both, 1, 2]))))
    assert (dphi > 2.0).mean() > 0.5


def test_seed_reproduces_and_streams_differ():
    a = gen.generate("background", 2000, seed=7)
    assert np.array_equal(a, gen.generate("background", 2000, seed=7))
    assert not np.array_equal(a, gen.generate("background", 2000, seed=8))
    assert not np.array_equal(a, gen.generate("background", 2000, seed=7, stream="rate_sample/0"))
