"""Synthetic L1 trigger events in the layout of the public ADC2021 anomaly-detection data set.

Layout: HDF5 key ``Particles``, shape (N, 19, 4), features [pT (GeV), eta, phi, class]. Row 0 is MET
(eta 0, class 1), rows 1-4 e/gamma (class 2), 5-8 muons (class 3), 9-18 jets (class 4); each type is
ordered by pT, empty slots are all zero.

The physics (l1ml/data/physics/, every parameter in physics/params.py, described in docs/data.md):
- Background is what a Level-1 trigger sees at 40 MHz: zero-bias crossings of ~60 pileup interactions,
  a few of which hold a parton scatter with a steeply falling pT-hat (dijets, sometimes a third jet),
  with W, Z and ttbar at their physical rates per crossing. No lepton filter: a trigger's rate is over
  all crossings.
- Signals on top of the same pileup: A(50) -> Z* Z* -> 4 leptons; a leptoquark (80 GeV) pair, each
  -> b tau; h(60) -> tau tau; H+(60) -> tau nu, produced singly.
- Decays conserve four-momentum, so a resonance's products are correlated and MET is what the
  calorimeter misses (neutrinos, muons, mismeasurement, soft energy).
- L1 response: pT resolution per object type, trigger-tower granularity, thresholds, eta acceptance.

Everything is drawn from one numpy Generator, so a seed fixes the sample.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from l1ml.data.physics import params
from l1ml.data.physics.detector import layout
from l1ml.data.physics.processes import Event, hard_process, soft_qcd

SIGNALS = ("Ato4l", "leptoquark", "hToTauTau", "hChToTauNu")
BATCH = 250_000  # events built at a time: memory stays bounded for any n


def _events(rng, n: int, sample: str) -> np.ndarray:
    ev = Event(rng, n)
    soft_qcd(ev)
    if sample in SIGNALS:
        hard_process(sample, ev)
        return layout(ev)
    out = layout(ev)
    # Hard processes inside zero bias: rare, at their rates per crossing, built on their own pileup.
    kinds = rng.choice(len(params.BACKGROUND_HARD) + 1, n, p=_hard_probs())
    for k, name in enumerate(params.BACKGROUND_HARD, start=1):
        idx = np.flatnonzero(kinds == k)
        if idx.size:
            hard = Event(rng, idx.size)
            soft_qcd(hard)
            hard_process(name, hard)
            out[idx] = layout(hard)
    return out


def _hard_probs() -> np.ndarray:
    f = np.array(list(params.BACKGROUND_HARD.values()))
    return np.concatenate([[1 - f.sum()], f])


def generate(sample: str, n: int, seed: int = 0, stream: str | None = None) -> np.ndarray:
    """n events of a sample ("background" or a signal name) as (n, 19, 4) float32.
    `stream` names an independent random stream (default: the sample's own): the rate sample is
    background from streams the training background never uses."""
    if n < 0:
        raise ValueError("number of events must be non-negative")
    if sample != "background" and sample not in SIGNALS:
        raise ValueError(f"unknown sample '{sample}'; choose background or one of {', '.join(SIGNALS)}")
    rng = np.random.default_rng(_sample_seed(seed, stream or sample))
    chunks = [_events(rng, min(BATCH, n - start), sample) for start in range(0, n, BATCH)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 19, 4), np.float32)


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
            "Particles",
            shape=(n, 19, 4),
            dtype="float32",
            chunks=(max(1, min(n, 4096)), 19, 4),
            compression="gzip",
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
            return (a.get("sample"), int(a.get("seed", -1)), f["Particles"].shape[0]) == (
                RATE_SAMPLE,
                seed,
                n,
            )
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
