"""A project's event samples: written when synthetic and missing, loaded whole (or sampled from ntuples),
and the background split into train/validation/test.

It sits above io.py (files in the ADC2021 layout) and stream.py (sources too big for memory) and uses both.
"""

from __future__ import annotations

import numpy as np

from l1ml.data import units
from l1ml.data.io import load_particles
from l1ml.data.stream import project_source
from l1ml.errors import DataError


def ensure_project_data(project, progress=None) -> None:
    """Generate a project's synthetic files when they are missing and the project asks for it."""
    from l1ml.data.generate import SIGNALS, write_samples

    if getattr(project.data, "format", "hdf5") == "l1ntuple":
        return  # real ROOT files: nothing to generate; a missing file is named when it is read
    ensure_rate_sample(project)
    paths = [
        project.resolve(project.data.background),
        *(project.resolve(s) for s in project.data.signals.values()),
    ]
    if all(p.is_file() for p in paths):
        return
    if not project.data.synthetic:
        missing = ", ".join(str(p) for p in paths if not p.is_file())
        raise DataError(f"{project.file} [data]: missing event files: {missing}")
    out = project.resolve(project.data.background).parent
    default = {name: out / f"{name}.h5" for name in SIGNALS}
    wanted = {name: project.resolve(path) for name, path in project.data.signals.items()}
    if (
        wanted != {k: default[k] for k in wanted}
        or project.resolve(project.data.background) != out / "background.h5"
    ):
        raise DataError(
            f"{project.file} [data]: synthetic = true writes background.h5 and <signal>.h5 into one directory; "
            "point background and signals there, or set synthetic = false and give real files"
        )
    write_samples(out, project.data.generate_events, project.data.seed, progress=progress)


def ensure_rate_sample(project) -> None:
    """A synthetic project's [data] rate_sample, when named and missing: background from streams the
    training sample never draws, enough for [trigger] min_events_above events above the target rate."""
    from l1ml.data.generate import rate_sample_events, write_rate_sample

    d = project.data
    if not (d.synthetic and d.rate_sample) or any(c in d.rate_sample for c in "*?["):
        return
    path = project.resolve(d.rate_sample)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        n = rate_sample_events(project.trigger_fpr, max(project.trigger.min_events_above, 1))
        write_rate_sample(path, n, d.seed)


def load_project_samples(project, max_events: int = 0) -> dict[str, np.ndarray]:
    """{"background": ..., signal name: ...} as (N, 19, 4) arrays.

    L1 ntuples (format = "l1ntuple") are sampled: at most sample_events (or max_events) events per set,
    drawn seeded from all its files, so training never holds a whole ZeroBias run in memory.
    """
    if getattr(project.data, "format", "hdf5") == "l1ntuple":
        n = max_events or project.data.max_events or project.data.sample_events
        names = ["background", *project.data.signals]
        return {
            name: units.from_hardware(project_source(project, which=name).sample(n, project.data.seed))
            for name in names
        }
    ensure_project_data(project)
    key = project.data.key
    n = max_events or project.data.max_events
    out = {"background": load_particles(project.resolve(project.data.background), key, n)}
    for name, path in project.data.signals.items():
        out[name] = load_particles(project.resolve(path), key, n)
    return out


def split_background(events: np.ndarray, fractions, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded shuffle, then train/validation/test by the project's fractions."""
    idx = np.random.default_rng(seed).permutation(len(events))
    n_train = int(len(events) * fractions[0])
    n_val = int(len(events) * fractions[1])
    return events[idx[:n_train]], events[idx[n_train : n_train + n_val]], events[idx[n_train + n_val :]]
