"""Synthetic L1 trigger events in the layout of the public ADC2021 anomaly-detection data set.

Layout: HDF5 key ``Particles``, shape (N, 19, 4), features [pT (GeV), eta, phi, class]. Row 0 is MET
(eta 0, class 1), rows 1-4 electrons (class 2), 5-8 muons (class 3), 9-18 jets (class 4); each type is
ordered by pT, empty slots are all zero.

The physics model, simple but with the features an anomaly detector keys on:
- Resonances decay in two bodies, isotropically in their rest frame, boosted by a parent pT drawn from a
  falling (exponential) spectrum and a parent rapidity drawn from a Gaussian.
- Background is the ADC2021 cocktail: W -> l nu (59%), QCD multijet (34%), Z -> ll (6.7%), ttbar (0.3%),
  with initial-state jets from a Poisson multiplicity and a falling spectrum.
- Every sample, background and signal, passes the ADC2021 lepton filter: at least one electron or muon
  with pT > 23 GeV. QCD passes it through a non-prompt lepton; the tau signals through leptonic decays.
- Signals, named after the ADC2021 samples: Ato4l (A(50 GeV) -> Z Z* -> 4 leptons), leptoquark
  (LQ(80 GeV) -> b tau), hToTauTau (h(60 GeV) -> tau tau), hChToTauNu (H+(60 GeV) -> tau nu). Taus decay
  hadronically (65%, a jet carrying 30-100% of the tau momentum) or to an electron or muon (35%, carrying
  10-70%); the rest goes to neutrinos.
- L1-like thresholds and acceptance: electrons pT > 3 GeV |eta| < 3.0, muons pT > 3 GeV |eta| < 2.1,
  jets pT > 15 GeV |eta| < 4.0. Jets are measured with a 15% pT resolution, leptons with 3%.
- MET is the negative vector sum of what the calorimeter sees: neutrinos, the jet mismeasurement and
  a Gaussian soft term of 8 GeV per component, so signals with neutrinos have harder MET.

Everything is drawn from one numpy Generator, so a seed fixes the sample.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

N_E, N_MU, N_JET = 4, 4, 10
ETA_MAX = {"e": 3.0, "mu": 2.1, "jet": 4.0}
PT_MIN = {"e": 3.0, "mu": 3.0, "jet": 15.0}
CLASS_ID = {"met": 1, "e": 2, "mu": 3, "jet": 4}
BACKGROUND_MIX = {"W": 0.592, "QCD": 0.338, "Z": 0.067, "ttbar": 0.003}
SIGNALS = ("Ato4l", "leptoquark", "hToTauTau", "hChToTauNu")


class _Event:
    """Candidate objects of a batch of n events, before acceptance: lists of (pt, eta, phi) arrays."""

    def __init__(self, n: int):
        self.n = n
        self.objs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"e": [], "mu": [], "jet": []}
        self.nu_px = np.zeros(n)
        self.nu_py = np.zeros(n)

    def add(self, kind, pt, eta, phi, present=None):
        if present is not None:
            pt = np.where(present, pt, 0.0)
        self.objs[kind].append((pt, eta, phi))

    def add_nu(self, pt, phi, present=None):
        w = 1.0 if present is None else present.astype(float)
        self.nu_px += w * pt * np.cos(phi)
        self.nu_py += w * pt * np.sin(phi)


def _to_cartesian(pt, eta, phi, m):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return px, py, pz, e


def _to_collider(px, py, pz):
    pt = np.hypot(px, py)
    p = np.sqrt(pt**2 + pz**2)
    eta = np.arctanh(np.clip(pz / np.maximum(p, 1e-9), -0.999999, 0.999999))
    return pt, eta, np.arctan2(py, px)


def _decay2(rng, pt, eta, phi, mass):
    """Two massless daughters of a parent of given mass, isotropic in its rest frame."""
    n = len(pt)
    px, py, pz, e = _to_cartesian(pt, eta, phi, mass)
    cos_t = rng.uniform(-1, 1, n)
    sin_t = np.sqrt(1 - cos_t**2)
    ph = rng.uniform(-np.pi, np.pi, n)
    q = mass / 2.0
    d = np.stack([q * sin_t * np.cos(ph), q * sin_t * np.sin(ph), q * cos_t])
    bx, by, bz = px / e, py / e, pz / e
    b2 = np.maximum(bx**2 + by**2 + bz**2, 1e-12)
    gamma = 1.0 / np.sqrt(1 - b2)
    out = []
    for sign in (1.0, -1.0):
        dx, dy, dz = sign * d
        bp = bx * dx + by * dy + bz * dz
        f = (gamma - 1) * bp / b2 + gamma * q
        out.append(_to_collider(dx + f * bx, dy + f * by, dz + f * bz))
    return out


def _parent(rng, n, pt_scale, eta_sigma=1.5):
    return rng.exponential(pt_scale, n), rng.normal(0, eta_sigma, n), rng.uniform(-np.pi, np.pi, n)


def _isr_jets(rng, ev: _Event, mean: float, scale: float, start: float = 15.0):
    k = rng.poisson(mean, ev.n)
    for i in range(int(k.max(initial=0))):
        pt = start * 0.6 + rng.exponential(scale, ev.n)
        ev.add("jet", pt, rng.normal(0, 1.8, ev.n), rng.uniform(-np.pi, np.pi, ev.n), present=k > i)


def _lepton(rng, ev: _Event, pt, eta, phi, present=None):
    is_e = rng.random(ev.n) < 0.5
    p = np.ones(ev.n, bool) if present is None else present
    ev.add("e", pt, eta, phi, present=p & is_e)
    ev.add("mu", pt, eta, phi, present=p & ~is_e)


def _lepton_pair(rng, ev: _Event, daughters):
    """Same-flavour pair (Z-like)."""
    is_e = rng.random(ev.n) < 0.5
    for pt, eta, phi in daughters:
        ev.add("e", pt, eta, phi, present=is_e)
        ev.add("mu", pt, eta, phi, present=~is_e)


def _tau(rng, ev: _Event, pt, eta, phi):
    hadronic = rng.random(ev.n) < 0.65
    x_had = rng.uniform(0.3, 1.0, ev.n)
    x_lep = rng.uniform(0.1, 0.7, ev.n)
    x = np.where(hadronic, x_had, x_lep)
    ev.add("jet", pt * x, eta, phi, present=hadronic)
    _lepton(rng, ev, pt * x, eta, phi, present=~hadronic)
    ev.add_nu(pt * (1 - x), phi)


def _w(rng, ev, pt_scale=12.0):
    daughters = _decay2(rng, *_parent(rng, ev.n, pt_scale), 80.4)
    _lepton(rng, ev, *daughters[0])
    ev.add_nu(daughters[1][0], daughters[1][2])


def _process(name: str, rng, n: int) -> _Event:
    ev = _Event(n)
    if name == "W":
        _w(rng, ev)
        _isr_jets(rng, ev, 1.2, 20.0)
    elif name == "Z":
        _lepton_pair(rng, ev, _decay2(rng, *_parent(rng, n, 12.0), 91.2))
        _isr_jets(rng, ev, 1.2, 20.0)
    elif name == "ttbar":
        for _ in range(2):
            ev.add("jet", 30 + rng.exponential(50, n), rng.normal(0, 1.2, n), rng.uniform(-np.pi, np.pi, n))
            leptonic = rng.random(n) < 1 / 3
            d = _decay2(rng, *_parent(rng, n, 70.0, 1.2), 80.4)
            _lepton(rng, ev, *d[0], present=leptonic)
            ev.add_nu(d[1][0], d[1][2], present=leptonic)
            ev.add("jet", d[0][0], d[0][1], d[0][2], present=~leptonic)
            ev.add("jet", *d[1], present=~leptonic)
        _isr_jets(rng, ev, 1.0, 25.0)
    elif name == "QCD":
        k = 2 + rng.poisson(1.5, n)
        for i in range(int(k.max())):
            ev.add(
                "jet",
                20 + rng.exponential(25, n),
                rng.normal(0, 2.0, n),
                rng.uniform(-np.pi, np.pi, n),
                k > i,
            )
        # The lepton filter is passed by a non-prompt lepton from heavy-flavour decays, near a jet.
        _lepton(rng, ev, 23 + rng.exponential(6, n), rng.normal(0, 1.2, n), rng.uniform(-np.pi, np.pi, n))
        ev.add_nu(rng.exponential(5, n), rng.uniform(-np.pi, np.pi, n))
    elif name == "Ato4l":
        a = _decay2(rng, *_parent(rng, n, 30.0), 50.0)
        for pt, eta, phi in a:
            # Each intermediate boson is given half the A mass; its daughters are a same-flavour pair.
            _lepton_pair(rng, ev, _decay2(rng, pt, eta, phi, 25.0))
        _isr_jets(rng, ev, 1.0, 20.0)
    elif name == "leptoquark":
        b, tau = _decay2(rng, *_parent(rng, n, 30.0), 80.0)
        ev.add("jet", *b)
        _tau(rng, ev, *tau)
        _isr_jets(rng, ev, 1.0, 20.0)
    elif name == "hToTauTau":
        for tau in _decay2(rng, *_parent(rng, n, 40.0), 60.0):
            _tau(rng, ev, *tau)
        _isr_jets(rng, ev, 1.0, 20.0)
    elif name == "hChToTauNu":
        tau, nu = _decay2(rng, *_parent(rng, n, 40.0), 60.0)
        _tau(rng, ev, *tau)
        ev.add_nu(nu[0], nu[2])
        # Charged Higgs bosons are produced with top quarks: a hard jet recoils.
        ev.add("jet", 30 + rng.exponential(40, n), rng.normal(0, 1.5, n), rng.uniform(-np.pi, np.pi, n))
        _isr_jets(rng, ev, 1.0, 20.0)
    else:
        raise ValueError(f"unknown process {name}")
    return ev


def _select(rng, kind: str, objs, slots: int, n: int, met: list[np.ndarray]):
    """Smear, apply thresholds and acceptance, sort by pT, keep the leading `slots` objects."""
    if not objs:
        return np.zeros((n, slots, 3))
    pt = np.stack([o[0] for o in objs], 1)
    eta = np.stack([o[1] for o in objs], 1)
    phi = np.stack([o[2] for o in objs], 1)
    res = 0.15 if kind == "jet" else 0.03
    meas = pt * np.maximum(rng.normal(1.0, res, pt.shape), 0.0)
    ok = (pt > 0) & (meas > PT_MIN[kind]) & (np.abs(eta) < ETA_MAX[kind])
    meas = np.where(ok, meas, 0.0)
    if kind == "jet":
        # Jet mismeasurement shows up as MET; invisible (out-of-acceptance) jets do too.
        lost = np.where(pt > 0, pt - meas, 0.0)
        met[0] += (lost * np.cos(phi)).sum(1)
        met[1] += (lost * np.sin(phi)).sum(1)
    order = np.argsort(-meas, axis=1, kind="stable")[:, :slots]
    take = lambda a: np.take_along_axis(a, order, 1)  # noqa: E731
    sel = np.stack([take(meas), take(eta), take(phi)], -1)
    sel[sel[..., 0] == 0] = 0.0
    if sel.shape[1] < slots:
        sel = np.concatenate([sel, np.zeros((n, slots - sel.shape[1], 3))], 1)
    return sel


def _layout(rng, ev: _Event) -> np.ndarray:
    n = ev.n
    met = [ev.nu_px + rng.normal(0, 8.0, n), ev.nu_py + rng.normal(0, 8.0, n)]
    e = _select(rng, "e", ev.objs["e"], N_E, n, met)
    mu = _select(rng, "mu", ev.objs["mu"], N_MU, n, met)
    jet = _select(rng, "jet", ev.objs["jet"], N_JET, n, met)
    out = np.zeros((n, 19, 4), dtype=np.float32)
    out[:, 0, 0] = np.hypot(met[0], met[1])
    out[:, 0, 2] = np.arctan2(met[1], met[0])
    out[:, 0, 3] = CLASS_ID["met"]
    for rows, block, kind in ((slice(1, 5), e, "e"), (slice(5, 9), mu, "mu"), (slice(9, 19), jet, "jet")):
        out[:, rows, :3] = block
        out[:, rows, 3] = np.where(block[..., 0] > 0, CLASS_ID[kind], 0)
    return out


def _lepton_filter(events: np.ndarray) -> np.ndarray:
    return (events[:, 1:9, 0] > 23.0).any(axis=1)


def generate(sample: str, n: int, seed: int = 0, stream: str | None = None) -> np.ndarray:
    """n events of a sample ("background" or a signal name) as (n, 19, 4) float32, after the lepton filter.
    `stream` names an independent random stream (default: the sample's own): the rate sample is
    background from streams the training background never uses."""
    if n < 0:
        raise ValueError("number of events must be non-negative")
    if sample == "background":
        names = list(BACKGROUND_MIX)
        probs = np.array(list(BACKGROUND_MIX.values()))
    elif sample in SIGNALS:
        names, probs = [sample], np.ones(1)
    else:
        raise ValueError(f"unknown sample '{sample}'; choose background or one of {', '.join(SIGNALS)}")
    rng = np.random.default_rng(_sample_seed(seed, stream or sample))
    chunks, have, tried = [], 0, 0
    while have < n:
        # Oversample by the filter efficiency seen so far (ditau signals keep only a few percent).
        eff = max(have / tried, 0.02) if tried else 0.5
        m = max(1024, int((n - have) / eff * 1.2))
        counts = rng.multinomial(m, probs / probs.sum())
        batch = np.concatenate([_layout(rng, _process(name, rng, c)) for name, c in zip(names, counts, strict=False) if c])
        batch = batch[rng.permutation(len(batch))]
        tried += len(batch)
        batch = batch[_lepton_filter(batch)]
        chunks.append(batch)
        have += len(batch)
    return np.concatenate(chunks)[:n]


def _sample_seed(seed: int, sample: str) -> list[int]:
    # A stable per-sample stream: Python's hash() of a str is salted per process, so spell it out.
    return [seed, sum((i + 1) * ord(c) for i, c in enumerate(sample))]


RATE_SAMPLE = "rate_sample"
RATE_CHUNK = 250_000  # events generated and written at a time: memory stays ~100 MB for any size


def rate_sample_events(fpr: float, min_events_above: int, margin: float = 1.1) -> int:
    """Rate-sample events for `min_events_above` background events above the threshold of `fpr`
    (1 kHz of 28.6 MHz with 100 events: about 3.1M)."""
    return int(math.ceil(min_events_above / fpr * margin))


def write_rate_sample(path: Path, n: int, seed: int = 0) -> Path:
    """Background events for rates alone, in chunks from streams the training sample never draws: the
    threshold is set on events no training, early stopping or model selection has seen."""
    import h5py

    path = Path(path)
    if _same_rate_sample(path, n, seed):
        return path  # deterministic: the file holds these very events already (a resumed demo)
    tmp = path.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as f:
        ds = f.create_dataset(
            "Particles", shape=(n, 19, 4), dtype="float32", chunks=(max(1, min(n, 4096)), 19, 4), compression="gzip",
            compression_opts=1,
        )
        for k, start in enumerate(range(0, n, RATE_CHUNK)):
            stop = min(start + RATE_CHUNK, n)
            ds[start:stop] = generate("background", stop - start, seed, stream=f"{RATE_SAMPLE}/{k}")
        f.attrs["generator"] = "l1ml synthetic ADC2021-layout"
        f.attrs["sample"] = RATE_SAMPLE
        f.attrs["seed"] = seed
    tmp.replace(path)
    return path


def _same_rate_sample(path: Path, n: int, seed: int) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            a = f.attrs
            return (a.get("sample"), int(a.get("seed", -1)), f["Particles"].shape[0]) == (RATE_SAMPLE, seed, n)
    except (OSError, KeyError, ValueError):
        return False


EVENT_CHUNK = 16384  # events per HDF5 chunk of the samples write_samples writes (76 floats each: 5 MB)


def write_samples(
    out_dir: Path, n: int, seed: int = 0, signal_fraction: float = 0.25, progress=None, rate_events: int = 0
) -> dict:
    """Write background.h5 (n events) and one file per signal (n * signal_fraction events); with
    rate_events, also rate_sample.h5 (write_rate_sample)."""
    import h5py

    from l1ml.errors import DataError

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir} is a file; --out names the directory the event files go to")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".l1ml-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise DataError(f"cannot write event files to {out_dir}: {exc.strerror}") from None
    written = {}
    for sample in ("background", *SIGNALS):
        m = n if sample == "background" else max(1, int(n * signal_fraction))
        events = generate(sample, m, seed)
        path = out_dir / f"{sample}.h5"
        tmp = path.with_suffix(".h5.tmp")
        with h5py.File(tmp, "w") as f:
            # Uncompressed, in whole-event chunks: read at ~2M events/s on one thread, as fast as the
            # compiled kernel emulates them, by plain h5py anywhere (no filter plugin). gzip level 4 in
            # h5py's automatic (9375, 2, 1) chunks read 25x slower (0.07M events/s, load 12) and made
            # reading, not emulation, the cost of `l1ml emulate` (issue 29); the price: 304 B an event.
            f.create_dataset("Particles", data=events, chunks=(max(1, min(len(events), EVENT_CHUNK)), 19, 4))
            f.attrs["generator"] = "l1ml synthetic ADC2021-layout"
            f.attrs["sample"] = sample
            f.attrs["seed"] = seed
        tmp.replace(path)  # never leave a half-written file under the final name
        written[sample] = path
        if progress:
            progress(sample)
    if rate_events:
        written[RATE_SAMPLE] = write_rate_sample(out_dir / f"{RATE_SAMPLE}.h5", rate_events, seed)
        if progress:
            progress(RATE_SAMPLE)
    return written
