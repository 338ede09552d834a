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
        self._pending: dict[int, Future] = {}  # first row of a chunk row -> its decoding
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

    def _decode(self, offset: tuple) -> np.ndarray:
        """One chunk, whole (edge chunks are stored at full size, the part outside the dataset unused)."""
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

    def _decode_row(self, r0: int) -> np.ndarray:
        """Rows [r0, r0 + chunk rows) of the dataset, every chunk across the other axes put in place.

        One task per chunk row, not per chunk: h5py's automatic chunks such as (6250, 2, 1) make 76
        chunks a row, and the placing (strided copies; numpy lets go of the GIL) runs here, in the pool.
        """
        c, shape = self.ds.chunks, self.ds.shape
        if len(c) == 1 or c[1:] == shape[1:]:  # whole rows in one chunk: no copy at all
            return self._decode((r0, *(0,) * (len(c) - 1)))[: min(c[0], shape[0] - r0)]
        out = np.empty((min(c[0], shape[0] - r0), *shape[1:]), self.ds.dtype)
        for o in product(*(range(0, n, k) for n, k in zip(shape[1:], c[1:], strict=True))):
            chunk = self._decode((r0, *o))
            dst = (
                slice(None),
                *(slice(a, min(a + k, n)) for a, k, n in zip(o, c[1:], shape[1:], strict=True)),
            )
            out[dst] = chunk[(slice(0, len(out)), *(slice(0, d.stop - d.start) for d in dst[1:]))]
        return out

    def _submit(self, start: int, stop: int) -> list[int]:
        """The chunk rows (first dataset row of each) covering rows [start, stop), queued for decoding."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="l1ml-inflate")
        c0 = self.ds.chunks[0]
        rows = list(range((start // c0) * c0, stop, c0))
        for r in rows:
            if r not in self._pending:
                self._pending[r] = self._pool.submit(self._decode_row, r)
        return rows

    def prefetch(self, start: int, stop: int) -> None:
        """Start decompressing the chunks of rows [start, stop) in the background."""
        stop = min(stop, self.ds.shape[0])
        if self.plan is not None and start < stop:
            self._submit(start, stop)

    def read(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.ds.shape[0])
        if self.plan is None or start >= stop:
            return self.ds[start:stop]
        rows = self._submit(start, stop)
        c0 = self.ds.chunks[0]
        out = np.empty((stop - start, *self.ds.shape[1:]), self.ds.dtype)
        for r in rows:
            block = self._pending[r].result()
            a, b = max(start, r), min(stop, r + c0)
            out[a - start : b - start] = block[a - r : b - r]
        # Keep only chunk rows the next sequential block also needs (and prefetched ones beyond this one).
        self._pending = {r: f for r, f in self._pending.items() if r + c0 > stop}
        return out


def iter_rows(ds, start: int, stop: int, block: int, where: str = ""):
    """(s, ds[s:s+block]) for s in range(start, stop, block), the next block decoding while one is used."""
    with ChunkReader(ds, where) as reader:
        for s in range(start, stop, block):
            e = min(s + block, stop)
            data = reader.read(s, e)
            reader.prefetch(e, min(e + block, stop))
            yield s, data
