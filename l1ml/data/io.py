"""Reading event files in the ADC2021 layout, with errors that say what is wrong and where.

Real ADC2021 files (background_for_training.h5, Ato4l_lepFilter_13TeV.h5, ...) hold the same
``Particles`` dataset, so they load unchanged; extra datasets in them are ignored.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np

from l1ml.data.h5chunks import ChunkReader, iter_rows
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
        with ChunkReader(ds, f"{p}:{key}") as reader:  # gzip chunks inflated in parallel
            data = np.asarray(reader.read(0, n), dtype=np.float32)
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
        with closing(iter_rows(ds, 0, ds.shape[0], chunk, f"{path}:{key}")) as rows:
            for start, raw in rows:
                block = np.asarray(raw, dtype=np.float32)
                check_particles(block, f"{path}:{key}[{start}:]")
                yield start, block
