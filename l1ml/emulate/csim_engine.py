"""The compiled C simulation of a converted network as `emulate`'s engine: for HGQ2 (Keras 3) firmware,
whose graph l1ml's numpy emulator cannot rebuild in the main environment (docs/hgq2.md).

The C simulation is hls4ml's own C++ of the firmware, compiled by l1ml (l1ml/firmware/csim.py, cached by
the hash of its sources), so its outputs are the firmware's by construction. It is called through ctypes
one event per call, in double: every output type up to 53 bits comes back exact, as the emulator's real
values (code x 2**-frac) do. Slower than the numpy emulator; docs/hgq2.md has the measured rate.

This module only looks the library up: it lives a layer below the firmware code that compiles it (convert
compiles it for its reference check, validate reuses it), and a missing library is one line naming the
command that builds it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from l1ml.errors import ConfigError


def cache_dir() -> Path:
    from l1ml.cache import cache_root

    return cache_root() / "hls4ml"


def source_hash(prj: Path) -> str:
    """sha256 over the sources the emulation library is compiled from (not the random build stamp, which
    only names the .so)."""
    import hls4ml

    h = hashlib.sha256(f"hls4ml {hls4ml.__version__}\n".encode())
    files = sorted(
        p for p in (prj / "firmware").rglob("*") if p.is_file() and p.suffix in (".h", ".cpp", ".hpp")
    )
    files += sorted(prj.glob("*_bridge.cpp"))
    for p in files:
        h.update(str(p.relative_to(prj)).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def library_path(prj: Path, project_name: str) -> Path:
    """Where the compiled C simulation of the hls4ml project at `prj` is cached (present or not)."""
    return cache_dir() / f"{project_name}-{source_hash(Path(prj))[:32]}.so"


def _fits_float32(precision: str) -> bool:
    """Whether every value of a C++ fixed-point type (ap_(u)fixed<W,..>, ap_(u)int<W>, ac_fixed<W,..>,
    ac_int<W,..>: the width comes first) is exact in float32, i.e. W <= 24; an unread type takes float64."""
    m = re.search(r"<\s*(\d+)", str(precision))
    return m is not None and int(m.group(1)) <= 24


class CSimEngine:
    """`emulate_source`'s engine interface (names, sizes, dtypes, prepare, run_prepared) over the compiled
    C simulation of a firmware directory."""

    kernel_note = "the firmware's C simulation (hls4ml C++ compiled by l1ml, one ctypes call per event)"

    def __init__(self, model_dir: Path, fw_dir: Path, fw_man: dict):
        import ctypes

        version = Path(model_dir).name
        try:
            prj = Path(fw_dir) / fw_man["files"]["hls4ml"]
            name = fw_man["project_name"]
            outs = fw_man["outputs"]
            self.n_in = int(np.prod(fw_man["input_shape"]))
        except (KeyError, TypeError):
            raise ConfigError(
                f"{Path(fw_dir) / 'manifest.json'}: no C simulation recorded (files.hls4ml, project_name, "
                f"outputs, input_shape); re-run `l1ml convert --model {version}`"
            ) from None
        if not (prj / "firmware" / f"{name}.cpp").is_file():
            raise ConfigError(f"no hls4ml project in {prj}; run `l1ml convert --model {version}` first")
        self.lib_path = library_path(prj, name)
        if not self.lib_path.is_file():
            raise ConfigError(
                f"the C simulation of model {version} is not compiled in this cache ({cache_dir()}); "
                f"run `l1ml validate --model {version}`, which compiles it"
            )
        self.names = [o["name"] for o in outs]
        self._sizes = {o["name"]: int(o["size"]) for o in outs}
        self._dtypes = {o["name"]: "f4" if _fits_float32(o["precision"]) else "f8" for o in outs}
        # an own handle: argtypes set here (raw addresses, no per-call array checks) do not touch those of
        # l1ml/firmware/csim.py's CSim on the same library
        self._top = getattr(ctypes.CDLL(str(self.lib_path)), f"{name}_double")
        self._top.argtypes = [ctypes.c_void_p] * (1 + len(outs))
        self._top.restype = None

    def sizes(self) -> dict[str, int]:
        return dict(self._sizes)

    def dtypes(self) -> dict[str, str]:
        return dict(self._dtypes)

    def prepare(self, pre, hw: np.ndarray) -> np.ndarray:
        """Hardware units -> the preprocessed inputs (Preprocessing.apply's values, bit for bit)."""
        from l1ml.emulate.stream import fast_preprocess

        return fast_preprocess(pre, hw)

    def run_prepared(self, x: np.ndarray, outputs: list[str], threads: int = 1) -> dict[str, np.ndarray]:
        """Every output of the C simulation for the preprocessed events `x`; those listed are returned,
        each in its file dtype (exact: see _fits_float32)."""
        x = np.ascontiguousarray(np.asarray(x, np.float64).reshape(len(x), -1))
        if x.shape[1] != self.n_in:
            raise ConfigError(f"the firmware takes {self.n_in} inputs per event, got {x.shape[1]}")
        out = {m: np.zeros((len(x), s), np.float64) for m, s in self._sizes.items()}
        bufs = [out[m] for m in self.names]
        top, step = self._top, x.strides[0]
        base = x.ctypes.data
        if len(bufs) == 1:  # the usual case (the score alone): the loop without the inner generator
            o, ostep = bufs[0].ctypes.data, bufs[0].strides[0]
            for i in range(len(x)):
                top(base + i * step, o + i * ostep)
        else:
            addr = [(b.ctypes.data, b.strides[0]) for b in bufs]
            for i in range(len(x)):
                top(base + i * step, *(a + i * s for a, s in addr))
        return {m: out[m].astype(self._dtypes[m], copy=False) for m in outputs}

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.run_prepared(x, self.names)
