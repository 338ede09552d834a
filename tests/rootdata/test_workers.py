"""Streaming emulation on forked worker processes (l1ml/emulate/parallel.py): the output file and the
score counts equal the one-process run for ROOT and HDF5 input; a worker's error reaches the caller as
itself, a killed worker is named, and in both cases no output file is left."""

from __future__ import annotations

import os
import signal

import h5py
import numpy as np
import pytest

from l1ml.errors import DataError

pytestmark = pytest.mark.slow

CHUNK = 1000  # 9000 ZeroBias events: nine or ten chunks (one file or three), so the workers alternate


def _engine(root_project):
    from l1ml.emulate.nn_project import load_engine

    engine, pre, _, _ = load_engine(root_project)
    return engine, pre


def _run(engine, pre, src, out, processes, scores_only=False, kernel=False):
    from l1ml.emulate.nn_project import emulate_source

    if not kernel:
        engine.kernel = None  # the numpy emulator, also after a run that compiled the kernel
    return emulate_source(
        engine, pre, src, out, scores_only=scores_only, chunk=CHUNK, processes=processes, kernel=kernel
    )


def _read(path):
    with h5py.File(path) as f:
        return {k: f[k][:] for k in ("score", *(f"outputs/{n}" for n in f.get("outputs", {})))}


@pytest.mark.parametrize("fmt", ["l1ntuple", "hdf5"])
def test_workers_write_what_one_process_writes(root_project, zb_files, tmp_path, fmt):
    from l1ml.data import units
    from l1ml.data.stream import auto_source
    from l1ml.emulate.parallel import chunk_ranges

    d, expected = zb_files
    files = sorted(p for p in expected if p.parent.name == "zb")
    if fmt == "hdf5":
        h5 = tmp_path / "zb.h5"
        with h5py.File(h5, "w") as f:
            f["Particles"] = units.from_hardware(np.concatenate([expected[p] for p in files]))
        files = [h5]
    src = auto_source([str(f) for f in files], root_project)
    assert src.format == fmt
    assert len(chunk_ranges(src.counts(), CHUNK)) >= 9
    engine, pre = _engine(root_project)
    n1, c1 = _run(engine, pre, src, tmp_path / "one.h5", 1)
    # worker processes, the compiled kernel (which reads the hardware integers itself), and both
    for procs, kernel in ((2, False), (3, False), (1, True), (2, True)):
        name = tmp_path / f"w{procs}{kernel}.h5"
        n, c = _run(engine, pre, src, name, procs, kernel=kernel)
        assert n == n1 == 9000 and c == c1
        one, many = _read(tmp_path / "one.h5"), _read(name)
        assert list(one) == list(many) and len(one) == 3  # score, outputs/ reconstruction and score
        for k in one:
            assert np.array_equal(one[k], many[k]), (k, procs, kernel)
        with h5py.File(name) as f:
            assert f.attrs["arithmetic"].startswith("compiled kernel" if kernel else "numpy")
    assert engine.kernel is not None and engine.kernel.takes_hardware
    _, c = _run(engine, pre, src, tmp_path / "s.h5", 2, scores_only=True)
    assert c == c1 and np.array_equal(_read(tmp_path / "s.h5")["score"], _read(tmp_path / "one.h5")["score"])


class _Failing:
    """The real engine, except that preparing the chunk whose first event is `target` (hardware units)
    fails as `how` says: "raise" a DataError, "kill" the process that runs it."""

    def __init__(self, engine, target: np.ndarray, how: str):
        self.engine, self.target, self.how = engine, target, how

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def prepare(self, pre, hw):
        if self.how and np.array_equal(hw[0], self.target):
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise DataError("chunk at event 5000 is unreadable")
        return self.engine.prepare(pre, hw)


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_failing_worker_stops_the_run_and_leaves_no_file(root_project, zb_files, tmp_path, how):
    from l1ml.data.stream import auto_source
    from l1ml.emulate.parallel import WorkerDied

    d, _ = zb_files
    src = auto_source(str(d / "zb" / "*.root"), root_project)
    engine, pre = _engine(root_project)
    first = next(iter(src.iter_file(1, CHUNK, 2000, 3000)))[0]  # file 2's third chunk: events 5000+
    bad = _Failing(engine, first, how)
    out = tmp_path / "out.h5"
    if how == "raise":
        with pytest.raises(DataError, match="chunk at event 5000 is unreadable"):
            _run(bad, pre, src, out, 2)
    else:
        with pytest.raises(WorkerDied, match=r"worker \d of 2 ended \(exit code -9\)"):
            _run(bad, pre, src, out, 2)
    assert not out.exists() and not out.with_name("out.h5.partial").exists()
    assert not [p for p in tmp_path.iterdir()]
    # the same engine object runs fine once the fault is gone: nothing was left behind in this process
    bad.how = ""
    n, _ = _run(bad, pre, src, out, 2)
    assert n == 9000 and out.is_file()
