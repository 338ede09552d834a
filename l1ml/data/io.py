"""Reading event files in the ADC2021 layout, with errors that say what is wrong and where.

Real ADC2021 files (background_for_training.h5, Ato4l_lepFilter_13TeV.h5, ...) hold the same
``Particles`` dataset, so they load unchanged; extra datasets in them are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l1ml.errors import DataError

SHAPE_TAIL = (19, 4)


def load_particles(path: str | Path, key: str = "Particles", max_events: int = 0) -> np.ndarray:
    """(N, 19, 4) float32 from an HDF5 file; max_events > 0 reads only the first events."""
    import h5py

    p = Path(path)
    if not p.is_file():
        raise DataError(f"event file {p} not found")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataError(f"{p}: not a readable HDF5 file ({exc})") from None
    with f:
        if key not in f:
            have = ", ".join(sorted(f.keys())) or "nothing"
            raise DataError(
                f"{p}: no dataset '{key}' (the file holds: {have}); expected '{key}' of shape (N, 19, 4)"
            )
        ds = f[key]
        if not isinstance(ds, h5py.Dataset):
            raise DataError(f"{p}: '{key}' is a group, expected a dataset of shape (N, 19, 4)")
        if ds.ndim != 3 or tuple(ds.shape[1:]) != SHAPE_TAIL:
            raise DataError(
                f"{p}: dataset '{key}' has shape {ds.shape}, expected (N, 19, 4) [pT, eta, phi, class]"
            )
        if ds.shape[0] == 0:
            raise DataError(f"{p}: dataset '{key}' holds no events")
        n = ds.shape[0] if max_events <= 0 else min(max_events, ds.shape[0])
        data = np.asarray(ds[:n], dtype=np.float32)
    check_particles(data, f"{p}:{key}")
    return data


def check_particles(data: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(data)
    if bad.any():
        ev = int(np.argwhere(bad)[0][0])
        raise DataError(
            f"{where}: {int(bad.sum())} NaN or infinite values (first in event {ev}); expected finite numbers"
        )
    if (data[..., 0] < 0).any():
        ev = int(np.argwhere(data[..., 0] < 0)[0][0])
        raise DataError(f"{where}: negative pT (first in event {ev}); pT must be >= 0")


def iter_particles(path: str | Path, key: str = "Particles", chunk: int = 65536):
    """Stream (start, (n, 19, 4) float32) chunks, for files too large to hold in memory."""
    import h5py

    load_particles(path, key, max_events=1)  # validates layout with a readable message
    with h5py.File(path, "r") as f:
        ds = f[key]
        for start in range(0, ds.shape[0], chunk):
            block = np.asarray(ds[start : start + chunk], dtype=np.float32)
            check_particles(block, f"{path}:{key}[{start}:]")
            yield start, block


def ensure_project_data(project, progress=None) -> None:
    """Generate a project's synthetic files when they are missing and the project asks for it."""
    from l1ml.data.generate import SIGNALS, write_samples

    if getattr(project.data, "format", "hdf5") == "l1ntuple":
        return  # real ROOT files: nothing to generate; a missing file is named when it is read
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


def load_project_samples(project, max_events: int = 0) -> dict[str, np.ndarray]:
    """{"background": ..., signal name: ...} as (N, 19, 4) arrays.

    L1 ntuples (format = "l1ntuple") are sampled: at most sample_events (or max_events) events per set,
    drawn seeded from all its files, so training never holds a whole ZeroBias run in memory.
    """
    if getattr(project.data, "format", "hdf5") == "l1ntuple":
        from l1ml.data import units
        from l1ml.data.stream import project_source

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
