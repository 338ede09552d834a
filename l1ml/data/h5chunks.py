"""Row ranges of an HDF5 dataset, with gzip (deflate) chunks decompressed in parallel threads.

h5py decompresses every chunk on the calling thread, so a gzip file streams at 0.4-0.5M events/s however
many cores there are, a third of what the compiled kernel emulates. Here the raw chunks are read with
`read_direct_chunk` and inflated by `zlib.decompress` in a thread pool (zlib releases the GIL), the next
block's chunks while the caller works on this one. Only what can be decoded exactly is taken this way:
a chunked dataset of native-order integers or floats whose filters are deflate, optionally after shuffle,
with every chunk written and none with a filter skipped. Anything else (other filters, checksums,
contiguous storage, a missing chunk) is read by h5py itself, so the values never depend on the path.
"""

from __future__ import annotations

import math
import os
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import product

import numpy as np

from l1ml.errors import DataError


def _plan(ds):
    """(shuffled,) if ds is one this module decodes, else None (then h5py reads it)."""
    from h5py import h5z

    if ds.chunks is None or ds.size == 0 or ds.ndim == 0:
        return None
    if ds.dtype.kind not in "iuf" or not ds.dtype.isnative:
        return None
    dcpl = ds.id.get_create_plist()
    filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
    if filters == [h5z.FILTER_DEFLATE]:
        shuffled = False
    elif filters == [h5z.FILTER_SHUFFLE, h5z.FILTER_DEFLATE]:
        shuffled = True
    else:
        return None
    expected = math.prod(-(-n // c) for n, c in zip(ds.shape, ds.chunks, strict=True))
    if ds.id.get_num_chunks() != expected:  # an unwritten chunk reads as the fill value: h5py's business
        return None
    return (shuffled,)


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class ChunkReader:
    """read(start, stop) -> ds[start:stop] as ds.dtype, bit for bit what h5py returns.

    Decoded chunks that reach past `stop` are kept for the next read, so sequential blocks that do not
    line up with the chunks decompress each chunk once; `prefetch` starts the next block's chunks early.
    """

    def __init__(self, ds, where: str = "", threads: int | None = None):
        self.ds = ds
        self.where = where or ds.name
        self.plan = _plan(ds)
        self.threads = threads or _threads()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[tuple, Future] = {}
        self._itemsize = ds.dtype.itemsize
        self._nelem = math.prod(ds.chunks) if ds.chunks else 0

    @property
    def parallel(self) -> bool:
        return self.plan is not None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        for fut in self._pending.values():
            fut.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _offsets(self, start: int, stop: int):
        """Chunk offsets (tuples) covering rows [start, stop), in storage order."""
        c = self.ds.chunks
        rows = range((start // c[0]) * c[0], stop, c[0])
        rest = [range(0, n, k) for n, k in zip(self.ds.shape[1:], c[1:], strict=True)]
        return [(r, *o) for r in rows for o in product(*rest)]

    def _decode(self, offset: tuple) -> np.ndarray:
        mask, raw = self.ds.id.read_direct_chunk(offset)
        if mask:  # a filter was skipped for this chunk: h5py knows which; read its region through it
            sl = tuple(
                slice(o, min(o + k, n)) for o, k, n in zip(offset, self.ds.chunks, self.ds.shape, strict=True)
            )
            out = np.zeros(self.ds.chunks, self.ds.dtype)
            out[tuple(slice(0, s.stop - s.start) for s in sl)] = self.ds[sl]
            return out
        want = self._nelem * self._itemsize
        try:
            buf = zlib.decompress(raw, zlib.MAX_WBITS, want)
        except zlib.error as exc:
            raise DataError(f"{self.where}: chunk at {offset} is corrupt ({exc})") from None
        if len(buf) != want:
            raise DataError(f"{self.where}: chunk at {offset} holds {len(buf)} bytes, expected {want}")
        if self.plan[0] and self._itemsize > 1:
            # HDF5's shuffle stores byte 0 of every element, then byte 1, ...: put each plane back in its
            # column (one strided pass per byte: 5x faster than a transposed copy of the whole matrix).
            planes = np.frombuffer(buf, np.uint8).reshape(self._itemsize, self._nelem)
            b = np.empty((self._nelem, self._itemsize), np.uint8)
            for i, plane in enumerate(planes):
                b[:, i] = plane
            return b.view(self.ds.dtype).reshape(self.ds.chunks)
        return np.frombuffer(buf, self.ds.dtype).reshape(self.ds.chunks)

    def _submit(self, offsets) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="l1ml-inflate")
        for off in offsets:
            if off not in self._pending:
                self._pending[off] = self._pool.submit(self._decode, off)

    def prefetch(self, start: int, stop: int) -> None:
        """Start decompressing the chunks of rows [start, stop) in the background."""
        stop = min(stop, self.ds.shape[0])
        if self.plan is not None and start < stop:
            self._submit(self._offsets(start, stop))

    def read(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.ds.shape[0])
        if self.plan is None or start >= stop:
            return self.ds[start:stop]
        offsets = self._offsets(start, stop)
        self._submit(offsets)
        out = np.empty((stop - start, *self.ds.shape[1:]), self.ds.dtype)
        c, shape = self.ds.chunks, self.ds.shape
        for off in offsets:
            chunk = self._pending[off].result()
            r0, r1 = max(start, off[0]), min(stop, off[0] + c[0])
            dst = [slice(r0 - start, r1 - start)]
            src = [slice(r0 - off[0], r1 - off[0])]
            for o, k, n in zip(off[1:], c[1:], shape[1:], strict=True):
                dst.append(slice(o, min(o + k, n)))
                src.append(slice(0, min(o + k, n) - o))
            out[tuple(dst)] = chunk[tuple(src)]
        # Keep only chunks the next sequential block also needs (and prefetched ones beyond this block).
        self._pending = {o: f for o, f in self._pending.items() if o[0] + c[0] > stop}
        return out


def iter_rows(ds, start: int, stop: int, block: int, where: str = ""):
    """(s, ds[s:s+block]) for s in range(start, stop, block), the next block decoding while one is used."""
    with ChunkReader(ds, where) as reader:
        for s in range(start, stop, block):
            e = min(s + block, stop)
            data = reader.read(s, e)
            reader.prefetch(e, min(e + block, stop))
            yield s, data
