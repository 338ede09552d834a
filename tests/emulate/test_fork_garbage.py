"""Forked emulation workers must not finalize the parent's garbage: its destructors may join threads that
exist only in the parent (TensorFlow's), and then the child hangs for ever, as one did in a CI run."""

from __future__ import annotations

import gc
import os

import numpy as np

from l1ml.emulate.parallel import run_forked


class _Source:
    """Two small in-memory "files" of events, read by entry range as the real sources are."""

    def __init__(self):
        self.files = [
            np.arange(40, dtype=np.int32).reshape(20, 2),
            np.arange(40, 80, dtype=np.int32).reshape(20, 2),
        ]

    def counts(self):
        return [len(f) for f in self.files]

    def iter_file(self, i, chunk, start, stop):
        yield self.files[i][start:stop]


class _Garbage:
    """Part of a reference cycle: only the collector frees it. It writes the pid of whoever finalizes it."""

    def __init__(self, log):
        self.log, self.me = log, self

    def __del__(self):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")


def _collecting_work(hw):
    gc.collect()  # what any allocation-heavy step in the child may trigger
    return hw.sum(axis=1)


def test_the_parents_garbage_is_never_finalized_in_a_worker(tmp_path):
    log = tmp_path / "finalized"
    was = gc.isenabled()
    gc.disable()  # keep the cycle uncollected until the workers are forked, as a busy parent may
    try:
        _Garbage(log)
        got = []
        n = run_forked(_Source(), 5, 2, _collecting_work, lambda m, res: got.append(res))
    finally:
        if was:
            gc.enable()
    gc.collect()
    assert n == 40 and np.array_equal(np.concatenate(got), np.arange(80).reshape(40, 2).sum(axis=1))
    pids = log.read_text().split() if log.exists() else []
    # Finalized once, here: a worker's pid in the log is a destructor run in the wrong process.
    assert pids == [str(os.getpid())], pids
