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


def hardware_codes(pre, emu, hw: np.ndarray) -> np.ndarray:
    """emu.input_codes(fast_preprocess(pre, hw)): the same float64 codes, bit for bit, in fewer passes.

    With input type `t`, the code of a present input is ((hw - offset) * 2**-shift) * 2**t.frac, which
    is the integer (hw - offset) * 2**(t.frac - shift) whenever t.frac >= shift: every ap_fixed rounding
    mode leaves it unchanged, so it is computed directly (exact in float64, all below 2**53), padded slots
    set to zero, and out-of-range codes go through the same overflow as the input layer's. A type with
    fewer fractional bits than a shift (rounding does matter) takes the two-step path.
    """
    from l1ml.data.stream import absent_mask
    from l1ml.fixed import overflow

    op = emu.ops[0] if len(getattr(emu, "input_names", ())) == 1 else None
    t = getattr(op, "fixed", None)
    shifts = np.asarray(pre.shifts)
    if t is None or hw.ndim != 2 or hw.shape[1] != 57 or op.info.size != 57 or (shifts > t.frac).any():
        return emu.input_codes(fast_preprocess(pre, hw))
    off = getattr(pre, "_off64", None)
    if off is None:
        off = np.asarray(pre.offsets, dtype=np.float64)
        object.__setattr__(pre, "_off64", off)  # caches on the frozen dataclass, not part of its value
    q = hw.astype(np.float64)
    q -= off
    q *= 2.0 ** (t.frac - shifts.astype(np.float64))
    n = len(q)
    np.copyto(q, 0.0, where=absent_mask(hw[:, 0::3] <= 0))
    if n and (q.min() < t.bounds.lo or q.max() > t.bounds.hi):
        q = overflow(q, t)
    return q


KEEP = 1 << 18  # distinct top score values kept exactly: 4 MB, whatever the number of events


def _unique_counts(values: np.ndarray, counts: np.ndarray | None = None):
    v, inv = np.unique(values, return_inverse=True)
    return v, np.bincount(inv, weights=counts, minlength=len(v)).astype(np.int64)


class ScoreCounts:
    """Events per exact score value (the firmware's fixed-point score: no binning), in bounded memory.

    The `keep` largest distinct values are counted exactly; below them only the number of events is kept
    (`dropped`, all below `floor`). Rates and thresholds live at the top of the distribution (a 1 kHz
    trigger keeps 3.5e-5 of the events), so every threshold above `floor` is exact, and asking below it is
    an error, not an approximation. With fewer than `keep` distinct scores nothing is dropped at all.
    """

    def __init__(self, keep: int = KEEP):
        self.keep = keep
        self.events = 0
        self.dropped = 0
        self.floor = -np.inf
        self.values = np.zeros(0)
        self.counts = np.zeros(0, dtype=np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_n = 0

    def add(self, scores: np.ndarray) -> None:
        s = np.asarray(scores, dtype=np.float64).ravel()
        self.events += len(s)
        below = s < self.floor
        if below.any():
            self.dropped += int(below.sum())
            s = s[~below]
        self._pending.append(s)
        self._pending_n += len(s)
        if self._pending_n > 4 * self.keep:
            self._compact()

    def _compact(self) -> None:
        if self._pending:
            v, c = _unique_counts(
                np.concatenate([self.values, *self._pending]),
                np.concatenate([self.counts, np.ones(self._pending_n, np.int64)]),
            )
            self.values, self.counts = v, c
            self._pending, self._pending_n = [], 0
        self._truncate()

    def _truncate(self) -> None:
        cut = self.values < self.floor
        if cut.any():
            self.dropped += int(self.counts[cut].sum())
            self.values, self.counts = self.values[~cut], self.counts[~cut]
        if len(self.values) > self.keep:
            n = len(self.values) - self.keep
            self.dropped += int(self.counts[:n].sum())
            self.floor = float(self.values[n])
            self.values, self.counts = self.values[n:], self.counts[n:]

    def merge(self, other: ScoreCounts) -> ScoreCounts:
        """The counts of both event sets; exact above the higher of the two floors."""
        a, b = self._done(), other._done()
        out = ScoreCounts(min(a.keep, b.keep))
        out.events = a.events + b.events
        out.dropped = a.dropped + b.dropped
        out.floor = max(a.floor, b.floor)
        out.values, out.counts = _unique_counts(
            np.concatenate([a.values, b.values]), np.concatenate([a.counts, b.counts])
        )
        out._truncate()
        return out

    def _done(self) -> ScoreCounts:
        self._compact()
        return self

    def _check(self, threshold: float) -> None:
        if threshold < self.floor:
            raise DataError(
                f"score threshold {threshold} is below the {self.keep} highest distinct scores counted "
                f"exactly (down to {self.floor}); a rate that high is not kept"
            )

    def above(self, threshold: float) -> int:
        """Events with score > threshold (the trigger fires above its threshold)."""
        self._done()._check(threshold)
        return int(self.counts[self.values > threshold].sum())

    def threshold_for(self, fpr: float) -> float:
        """metrics.threshold_for_fpr on the counts: the smallest score with <= floor(fpr*N) events above."""
        self._done()
        k = int(np.floor(fpr * self.events))
        above = np.cumsum(self.counts[::-1])  # events at or above each value, from the top
        i = int(np.searchsorted(above, k, side="right"))  # first value whose inclusion exceeds k
        if i >= len(above):
            if self.dropped:
                self._check(-np.inf)
            return float(self.values[0])
        return float(self.values[::-1][i])

    def __eq__(self, other) -> bool:
        if not isinstance(other, ScoreCounts):
            return NotImplemented
        a, b = self._done(), other._done()
        return (
            (a.events, a.dropped, a.floor) == (b.events, b.dropped, b.floor)
            and np.array_equal(a.values, b.values)
            and np.array_equal(a.counts, b.counts)
        )

    def to_dict(self) -> dict:
        self._done()
        # float.hex: every score value survives the round trip exactly.
        return {
            "events": self.events,
            "dropped": self.dropped,
            "floor": float(self.floor).hex(),
            "keep": self.keep,
            "scores": [float(v).hex() for v in self.values],
            "counts": self.counts.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "counts") -> ScoreCounts:
        try:
            out = cls(int(d.get("keep", KEEP)))
            out.values = np.array([float.fromhex(s) for s in d["scores"]], dtype=np.float64)
            out.counts = np.array(d["counts"], dtype=np.int64)
            out.events = int(d["events"])
            out.dropped = int(d.get("dropped", 0))
            out.floor = float.fromhex(d.get("floor", "-inf"))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: not a score-counts file ({exc})") from None
        if len(out.values) != len(out.counts) or int(out.counts.sum()) + out.dropped != out.events:
            raise DataError(f"{where}: the counts do not add up to the {out.events} events it claims")
        return out

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
    """Feed `chunks` through prepare -> compute -> write(None, result); returns the events processed.

    With threads, reading+prepare and writing run beside compute; errors of any stage are re-raised here.
    """
    if not threads:
        n = 0
        for c in chunks:
            x = prepare(c)
            write(None, compute(x))
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
        n, res = item
        write(None, res)
        return n

    writer = _stage(write_one, done, sink, errors)
    n = 0
    try:
        while not errors:
            x = ready.get()
            if x is _DONE:
                break
            done.put((len(x), compute(x)))
            del x  # the inputs need not wait for the writer
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
