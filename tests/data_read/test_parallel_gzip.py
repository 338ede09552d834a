"""gzip HDF5 chunks inflated in parallel (l1ml/data/h5chunks.py) read the very bytes h5py reads, on every
layout, and the comparison used here sees a wrong chunk or a wrong offset."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from l1ml.data.h5chunks import ChunkReader, iter_rows
from l1ml.data.io import iter_particles, load_particles
from l1ml.data.stream import Source
from l1ml.errors import DataError

N = 10_007  # a prime: no chunk row count divides it, so the last chunk is always partial


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# name -> (create_dataset options, decoded in parallel?)
LAYOUTS = {
    "gzip1 event chunks (the rate sample's)": (
        dict(chunks=(4096, 19, 4), compression="gzip", compression_opts=1),
        True,
    ),
    "gzip4 h5py automatic chunks": (dict(compression="gzip", compression_opts=4), True),
    "gzip shuffle, chunks across objects and features": (
        dict(chunks=(1000, 5, 3), compression="gzip", shuffle=True),
        True,
    ),
    "gzip, resizable, one chunk larger than the file": (
        dict(chunks=(20_000, 19, 4), maxshape=(None, 19, 4), compression="gzip"),
        True,
    ),
    "gzip shuffle, float64": (dict(chunks=(777, 19, 4), compression="gzip", shuffle=True, dtype="f8"), True),
    "uncompressed event chunks (data generate's samples)": (dict(chunks=(4096, 19, 4)), False),
    "contiguous, not chunked": (dict(), False),
    "gzip with fletcher32 (a filter not handled: h5py reads it)": (
        dict(chunks=(4096, 19, 4), compression="gzip", fletcher32=True),
        False,
    ),
    "lzf (a filter not handled: h5py reads it)": (dict(chunks=(4096, 19, 4), compression="lzf"), False),
    "big-endian gzip (h5py converts it)": (
        dict(chunks=(4096, 19, 4), compression="gzip", dtype=">f4"),
        False,
    ),
}


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(29)
    x = (rng.exponential(20.0, (N, 19, 4))).astype(np.float32)
    x[rng.random((N, 19)) < 0.6] = 0.0  # absent objects, as in real events: runs of zeros to compress
    return x


@pytest.fixture(scope="module")
def h5file(tmp_path_factory, events):
    path = tmp_path_factory.mktemp("gz") / "layouts.h5"
    with h5py.File(path, "w") as f:
        for i, (opts, _) in enumerate(LAYOUTS.values()):
            opts = dict(opts)
            f.create_dataset(f"d{i}", data=events.astype(opts.pop("dtype", "f4")), **opts)
        f.create_dataset("missing", shape=(N, 19, 4), dtype="f4", chunks=(4096, 19, 4), compression="gzip")
        f["missing"][:4096] = events[:4096]  # the other chunks are never written: fill value, h5py's job
    return path


RANGES = [(0, N), (0, 1), (4095, 4097), (999, 2001), (N - 5, N), (8000, N + 100), (3, 3)]


@pytest.mark.parametrize("i,name", list(enumerate(LAYOUTS)))
def test_every_range_reads_what_h5py_reads(h5file, i, name):
    parallel = LAYOUTS[name][1]
    with h5py.File(h5file, "r") as f:
        ds = f[f"d{i}"]
        with ChunkReader(ds, threads=3) as reader:
            assert reader.parallel == parallel, name
            for start, stop in RANGES:
                assert same_bits(reader.read(start, stop), ds[start:stop]), (name, start, stop)
        # sequential blocks that straddle chunks (the kept-chunk and prefetch path), from an odd start
        for start, stop, block in ((7, 60, 1), (7, N, 333), (7, N, 4096), (0, N, 65536)):
            starts = []
            for s, b in iter_rows(ds, start, stop, block):
                assert same_bits(b, ds[s : s + block][: stop - s]), (name, block, s)
                starts.append(s)
            assert starts == list(range(start, stop, block))


def test_unwritten_chunks_fall_back_to_h5py(h5file):
    with h5py.File(h5file, "r") as f:
        ds = f["missing"]
        with ChunkReader(ds) as reader:
            assert not reader.parallel
            assert same_bits(reader.read(0, N), ds[:])


def test_the_comparison_sees_a_wrong_offset_or_a_changed_bit(h5file, events):
    with h5py.File(h5file, "r") as f:
        ds = f["d0"]
        with ChunkReader(ds) as reader:
            good = reader.read(4000, 4200)
            shifted = reader.read(4001, 4201)  # one event off, across a chunk boundary
        assert same_bits(good, ds[4000:4200])
        assert not same_bits(shifted, ds[4000:4200])
        flipped = good.copy()
        flipped.view(np.uint32)[150, 3, 0] ^= 1  # one mantissa bit of one value
        assert not same_bits(flipped, ds[4000:4200])
        assert not same_bits(good.astype(np.float64), ds[4000:4200])  # same values, other type


def test_a_corrupt_chunk_is_one_clear_error(tmp_path, events):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("Particles", data=events, chunks=(4096, 19, 4), compression="gzip")
        _, raw = ds.id.read_direct_chunk((4096, 0, 0))
        ds.id.write_direct_chunk((4096, 0, 0), raw[:2] + bytes(len(raw) - 2))  # a zeroed deflate stream
    with h5py.File(path, "r") as f:
        with pytest.raises(OSError):
            f["Particles"][:]  # h5py refuses it too
        with ChunkReader(f["Particles"]) as reader:
            assert same_bits(reader.read(0, 4096), events[:4096])  # the good chunk before it still reads
            with pytest.raises(DataError, match=r"chunk at \(4096, 0, 0\) is corrupt"):
                reader.read(0, N)


def test_a_chunk_whose_inflated_size_is_wrong_is_refused(tmp_path, events):
    import zlib

    path = tmp_path / "short.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("Particles", data=events, chunks=(4096, 19, 4), compression="gzip")
        ds.id.write_direct_chunk((0, 0, 0), zlib.compress(events[:4000].tobytes()))  # 96 events short
    with h5py.File(path, "r") as f, ChunkReader(f["Particles"]) as reader:
        with pytest.raises(DataError, match="expected 1245184"):
            reader.read(0, 10)


def test_the_readers_of_events_give_what_they_gave_before(tmp_path, events):
    """load_particles, iter_particles and Source.iter_file on a gzip file equal the same on an
    uncompressed copy (read by h5py alone)."""
    gz, plain = tmp_path / "gz.h5", tmp_path / "plain.h5"
    with h5py.File(gz, "w") as f:
        f.create_dataset("Particles", data=events, compression="gzip", compression_opts=4)
    with h5py.File(plain, "w") as f:
        f.create_dataset("Particles", data=events)
    assert same_bits(load_particles(gz), load_particles(plain))
    assert same_bits(load_particles(gz, max_events=77), events[:77])
    a = np.concatenate([b for _, b in iter_particles(gz, chunk=3000)])
    assert same_bits(a, events)
    sg, sp = Source([gz], "hdf5"), Source([plain], "hdf5")
    assert same_bits(
        np.concatenate(list(sg.iter_file(0, 4000, 11, 9000))),
        np.concatenate(list(sp.iter_file(0, 4000, 11, 9000))),
    )
    assert same_bits(sg.sample(3000, seed=5, block=512), sp.sample(3000, seed=5, block=512))


def test_a_chunk_stored_with_its_filter_skipped_is_read_through_h5py(tmp_path, events):
    path = tmp_path / "mask.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("Particles", data=events, chunks=(4096, 19, 4), compression="gzip")
        # filter mask bit 0: deflate skipped, the chunk's bytes stored as they are (HDF5 allows it per chunk)
        ds.id.write_direct_chunk((4096, 0, 0), events[4096:8192].tobytes(), filter_mask=1)
    with h5py.File(path, "r") as f, ChunkReader(f["Particles"]) as reader:
        assert reader.parallel
        assert same_bits(f["Particles"][:], events)
        assert same_bits(reader.read(0, N), events)
        assert same_bits(reader.read(8000, 8300), events[8000:8300])


def test_stopping_early_stops_the_inflate_threads(tmp_path, events):
    import threading

    path = tmp_path / "gz.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("Particles", data=events, chunks=(1024, 19, 4), compression="gzip")
    rows = Source([path], "hdf5").iter_file(0, 2048)
    first = next(rows)  # the next block is being inflated now
    assert len(first) == 2048
    assert any(t.name.startswith("l1ml-inflate") for t in threading.enumerate())
    rows.close()  # what a consumer stopping (an error, Ctrl-C) does to the generator
    assert not any(t.name.startswith("l1ml-inflate") for t in threading.enumerate())
