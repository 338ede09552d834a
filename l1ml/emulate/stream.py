"""Streaming emulation: events in chunks -> hardware units -> preprocessing -> firmware arithmetic -> sinks.

Three stages overlap on threads joined by bounded queues: a reader (file decompression, hardware units and
preprocessing, mostly numpy and zlib/lz4, which release the GIL), the compute (the emulator, on the
calling thread), and a writer (HDF5 datasets and score counts). At most `depth` chunks wait between two
stages, so memory is a few chunks whatever the number of events.

`ScoreCounts` is what rates are made of: the exact on-chip score values with their event counts. Counts
of disjoint event sets add, so the counts of split jobs merge into exactly the single run's.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1ml.errors import DataError

_DONE = object()


def fast_preprocess(pre, hw: np.ndarray) -> np.ndarray:
    """Preprocessing.apply in float32: the same values, bit for bit.

    (hw - offset) is an integer below 2**24 and 2**-shift a power of two, so every step is exact in float32
    as it is in float64; the mask zeroes padded slots the same way.
    """
    off = getattr(pre, "_off32", None)
    if off is None:
        off = np.asarray(pre.offsets, dtype=np.float32)
        scale = (2.0 ** -np.asarray(pre.shifts, dtype=np.float64)).astype(np.float32)
        object.__setattr__(pre, "_off32", off)  # a cache on the frozen dataclass, not part of its value
        object.__setattr__(pre, "_scale32", scale)
    x = hw.astype(np.float32)
    x -= off
    x *= pre._scale32
    if hw.shape[1] == 57:
        pt = hw[:, 0::3] > 0
        x.reshape(len(x), 19, 3)[~pt] = 0.0
    return x


@dataclass
class ScoreCounts:
    """Events per exact score value (the firmware's fixed-point score, so no binning is involved)."""

    events: int = 0
    table: dict[float, int] = field(default_factory=dict)

    def add(self, scores: np.ndarray) -> None:
        v, c = np.unique(np.asarray(scores, dtype=np.float64), return_counts=True)
        for a, b in zip(v.tolist(), c.tolist(), strict=True):
            self.table[a] = self.table.get(a, 0) + b
        self.events += len(scores)

    def merge(self, other: ScoreCounts) -> ScoreCounts:
        out = ScoreCounts(self.events, dict(self.table))
        for a, b in other.table.items():
            out.table[a] = out.table.get(a, 0) + b
        out.events += other.events
        return out

    def above(self, threshold: float) -> int:
        """Events with score > threshold (the trigger fires above its threshold)."""
        return sum(c for v, c in self.table.items() if v > threshold)

    def threshold_for(self, fpr: float) -> float:
        """metrics.threshold_for_fpr on the counts: the smallest score with <= floor(fpr*N) events above."""
        k = int(np.floor(fpr * self.events))
        above = 0
        for v in sorted(self.table, reverse=True):
            if above + self.table[v] > k:
                return v
            above += self.table[v]
        return min(self.table)

    def to_dict(self) -> dict:
        keys = sorted(self.table)
        # float.hex: every score value survives the round trip exactly.
        return {
            "events": self.events,
            "scores": [k.hex() for k in keys],
            "counts": [self.table[k] for k in keys],
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "counts") -> ScoreCounts:
        try:
            table = {float.fromhex(s): int(c) for s, c in zip(d["scores"], d["counts"], strict=True)}
            events = int(d["events"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: not a score-counts file ({exc})") from None
        if sum(table.values()) != events:
            raise DataError(
                f"{where}: counts add up to {sum(table.values())}, not the {events} events it claims"
            )
        return cls(events, table)

    def save(self, path: Path) -> None:
        tmp = Path(str(path) + ".partial")
        tmp.write_text(json.dumps(self.to_dict()))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ScoreCounts:
        p = Path(path)
        try:
            return cls.from_dict(json.loads(p.read_text()), str(p))
        except FileNotFoundError:
            raise DataError(f"score counts {p} not found") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}: not valid JSON: {exc}") from None


def _stage(fn, inq: queue.Queue, outq: queue.Queue, errors: list) -> threading.Thread:
    def run():
        try:
            while True:
                item = inq.get()
                if item is _DONE:
                    break
                outq.put(fn(item))
        except BaseException as exc:  # handed to the calling thread, which re-raises it
            errors.append(exc)
        finally:
            outq.put(_DONE)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def run_pipeline(chunks, prepare, compute, write, depth: int = 2, threads: bool = True) -> int:
    """Feed `chunks` through prepare -> compute -> write; returns the events processed.

    With threads, reading+prepare and writing run beside compute; errors of any stage are re-raised here.
    """
    if not threads:
        n = 0
        for c in chunks:
            x = prepare(c)
            write(x, compute(x))
            n += len(x)
        return n
    errors: list = []
    ready: queue.Queue = queue.Queue(maxsize=depth)
    done: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read():
        try:
            for c in chunks:
                if stop.is_set():
                    break
                ready.put(prepare(c))
        except BaseException as exc:
            errors.append(exc)
        finally:
            ready.put(_DONE)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sink: queue.Queue = queue.Queue()

    def write_one(item):
        x, res = item
        write(x, res)
        return len(x)

    writer = _stage(write_one, done, sink, errors)
    n = 0
    try:
        while not errors:
            x = ready.get()
            if x is _DONE:
                break
            done.put((x, compute(x)))
    finally:
        stop.set()
        # Drain the reader so it can end, then let the writer finish what it holds.
        while reader.is_alive():
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
        done.put(_DONE)
        writer.join()
    while True:
        item = sink.get()
        if item is _DONE:
            break
        n += item
    if errors:
        raise errors[0]
    return n
