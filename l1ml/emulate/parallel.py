"""Streaming emulation on several processes: each reads and computes its share of the chunks, the calling
process writes every result in order.

Threads cannot use a second core here: the emulator is many short numpy calls per chunk, and between
them the GIL is held (two compute threads measured at most 1.15x one). Forked processes share nothing
but the model, which they inherit (its ops are closures, which do not pickle), so they scale with cores.

Chunk k of the source (files in order, `chunk` entries at a time) goes to worker k mod P. A worker reads
its chunks itself (entry ranges: HDF5 slices, uproot entry_start/stop), computes them and sends
(k, events, results) down its own pipe. The parent takes chunk k from worker k mod P, so it writes in
the source's order, and a worker that runs ahead blocks on its pipe: memory stays a few chunks per worker.

A worker that fails sends its exception and exits; one that dies (OOM, signal) is named with its exit
code. If the parent stops (an error, Ctrl-C), the workers are terminated; the caller's output was being
written under a .partial name, so nothing half-written is left under the real one.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import traceback

import numpy as np

from l1ml.errors import L1mlError


class WorkerDied(L1mlError):
    """An emulation worker process ended without sending its results."""


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# One core reading and preparing events for the kernel: about 1 us per event (benchmarks/streaming.py, the
# dense AE on the kernel, HDF5 and ROOT: 1.0-1.5M events/s with the reader on one core and the kernel on
# the other).
READ_SECONDS_PER_EVENT = 1e-6


def default_processes(kernel) -> int:
    """Worker processes for `--workers 0`. numpy keeps the GIL: one per core. The compiled kernel releases
    it, so one process's reader and compute threads already use two cores; forked workers pay only where
    the kernel's own time per event (measured when it was checked) exceeds the reader's. Measured: the
    dense AE's kernel takes 0.65 us and two workers were no faster; the CNN AE's takes 7 us, and two
    workers ran 1.5x faster (benchmarks/streaming.py --model cnn_ae)."""
    if kernel is None:
        return usable_cores()
    spe = getattr(kernel, "seconds_per_event", None)
    return usable_cores() if spe is not None and spe > READ_SECONDS_PER_EVENT else 1


def chunk_ranges(counts: list[int], chunk: int) -> list[tuple[int, int, int]]:
    """(file index, start, stop) of every chunk, in the source's order."""
    return [(i, s, min(s + chunk, n)) for i, n in enumerate(counts) for s in range(0, n, chunk)]


def _worker(conn, source, ranges, work, index: int, processes: int) -> None:
    """Runs in the forked child: its chunks, in order, each as (k, events, results) on `conn`."""
    # The parent handles Ctrl-C and terminates the workers; a worker only stops with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = 0
    try:
        for k in range(index, len(ranges), processes):
            i, start, stop = ranges[k]
            pieces = list(source.iter_file(i, stop - start, start, stop))
            hw = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
            conn.send((k, len(hw), work(hw)))
        conn.send(None)
    except BrokenPipeError:
        code = 1  # the parent has gone; nothing to report to
    except BaseException as exc:  # reported to the parent, which raises it
        code = 1
        try:
            conn.send(("error", exc, traceback.format_exc()))
        except Exception:
            try:
                conn.send(("error", L1mlError(f"{type(exc).__name__}: {exc}"), traceback.format_exc()))
            except Exception:
                pass
    finally:
        conn.close()
        # Not sys.exit: atexit handlers and finalizers inherited from the parent (its open HDF5 output,
        # its progress display) must not run in the child.
        os._exit(code)


def run_forked(source, chunk: int, processes: int, work, write) -> int:
    """Every chunk of `source` through `work(hw) -> results` on `processes` forked workers, then
    `write(events, results)` here, in the source's order; returns the events written."""
    ranges = chunk_ranges(source.counts(), chunk)
    processes = max(1, min(processes, len(ranges)))
    ctx = mp.get_context("fork")
    procs, conns = [], []
    try:
        # A child inherits the parent's uncollected garbage, TensorFlow's among it (a trained model's
        # tf.data iterators), whose destructors join threads that exist only in the parent: a collection in
        # the child then waits forever (seen in a CI run: ~IteratorGetNextOp joining its BackgroundWorker).
        # So collect here, where those threads exist, and freeze what is left, which the child's collector
        # then never visits.
        gc.collect()
        gc.freeze()
        try:
            for c in range(processes):
                recv, send = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_worker, args=(send, source, ranges, work, c, processes), daemon=True)
                p.start()
                send.close()  # the parent keeps only the reading end: a dead worker then gives EOFError
                procs.append(p)
                conns.append(recv)
        finally:
            gc.unfreeze()
        n = 0
        for k in range(len(ranges)):
            got, m, res = _receive(conns, procs, k % processes, f"chunk {k}")
            if got != k:
                raise WorkerDied(f"emulation worker {k % processes + 1} sent chunk {got} where {k} was due")
            write(m, res)
            n += m
        for c in range(processes):
            if _receive(conns, procs, c, "its end marker") is not None:
                raise WorkerDied(f"emulation worker {c + 1} sent more chunks than it was given")
        return n
    finally:
        for conn in conns:
            conn.close()
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _receive(conns, procs, c: int, what: str):
    """Worker c's next message: (k, events, results), or None at its end; its error is raised here."""
    try:
        msg = conns[c].recv()
    except EOFError:
        procs[c].join(5)
        raise WorkerDied(
            f"emulation worker {c + 1} of {len(procs)} ended (exit code {procs[c].exitcode}) before sending "
            f"{what}; if it was killed for memory, use fewer --workers"
        ) from None
    if isinstance(msg, tuple) and msg and msg[0] == "error":
        raise msg[1]
    if msg is None and what != "its end marker":
        raise WorkerDied(f"emulation worker {c + 1} finished without {what}")
    return msg


__all__ = ["WorkerDied", "chunk_ranges", "default_processes", "run_forked", "usable_cores"]
