"""The compiled kernel: generated C++ (codegen.py) built with g++ into a cached shared library, loaded
with ctypes, and checked against the numpy emulator before it is used.

Why: the numpy emulator runs ~20 array passes per layer over 4,096-event chunks (1.5 us an event on the
dense AE), most of them casts; the kernel does each event's whole network in registers and L1 cache.

The library is cached in native/ of l1ml's cache (l1ml/cache.py: $L1ML_CACHE_DIR, else ~/.cache/l1ml),
keyed by the sha256 of its source, the compiler's version, the flags and the CPU's feature flags, so a
network compiles once per machine. `-march=native`: the library is built on the machine that runs it, and
never shipped.

The check: before first use, `check_kernel` runs random input codes over the input type's whole range
(and zeros, the padding) through both, and refuses a kernel whose outputs differ in any bit.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from l1ml.emulate.native.codegen import NotNative
from l1ml.errors import L1mlError, ToolNotFound

FLAGS = ["-std=c++17", "-O3", "-march=native", "-shared", "-fPIC", "-fvisibility=hidden"]
CHECK_EVENTS = 4096


class KernelMismatch(L1mlError):
    """The compiled kernel computes something other than the numpy emulator: a bug, never used."""


def cache_dir() -> Path:
    from l1ml.cache import cache_root

    return cache_root() / "native"


def _compiler() -> tuple[str, str]:
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        raise ToolNotFound("g++ is needed for the compiled emulation kernel")
    r = subprocess.run([cxx, "-dumpfullversion", "-dumpversion"], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise ToolNotFound(f"{cxx} does not run: {r.stderr.strip()}")
    return cxx, r.stdout.strip()


def _cpu() -> str:
    """What -march=native compiles for: a cache shared between machines (an NFS or AFS home) must not
    hand one CPU's library to another, which would die of an illegal instruction."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.machine() + platform.processor()


def build_library(source: str) -> Path:
    """The shared library of `source`, compiled once into the cache (atomically: a rename)."""
    cxx, version = _compiler()
    key = hashlib.sha256("\0".join([source, version, _cpu(), *FLAGS]).encode()).hexdigest()[:20]
    lib = cache_dir() / f"kernel-{key}.so"
    if lib.is_file():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent, prefix=".build-") as tmp:
        src = Path(tmp) / "kernel.cpp"
        src.write_text(source)
        out = Path(tmp) / "kernel.so"
        r = subprocess.run(
            [cxx, *FLAGS, str(src), "-o", str(out)], capture_output=True, text=True, check=False
        )
        if r.returncode != 0:
            raise L1mlError(f"g++ failed on the emulation kernel (exit {r.returncode}): {r.stderr[-1500:]}")
        os.replace(out, lib)
    return lib


class Kernel:
    """`kernel(q, outputs)`: the listed outputs' real values (float64) for input codes `q` (n, n_in)."""

    def __init__(self, emu, lib: Path, source: str, pre=None, counts: list | None = None):
        self.emu, self.lib, self.source = emu, lib, source
        self._dll = ctypes.CDLL(str(lib))  # ctypes releases the GIL during the call
        self._fn = self._dll.l1ml_run
        self._fn.restype = ctypes.c_int64
        # counts: the (layer, word) of each overflow counter when built with count=True, else None
        self.counts = [tuple(c) for c in counts] if counts is not None else None
        self._fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p] + (
            [ctypes.c_void_p] if self.counts is not None else []
        )
        self.names = list(emu.output_names)
        self.n_in = emu.infos[emu.input_names[0]].size
        self.pre = pre
        # CPU seconds per event on one core, measured by check_kernel (parallel.default_processes uses it)
        self.seconds_per_event: float | None = None
        self._hw = getattr(self._dll, "l1ml_run_hw", None) if pre is not None else None
        if self._hw is not None:
            self._hw.restype = ctypes.c_int64
            self._hw.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]

    @property
    def takes_hardware(self) -> bool:
        """Whether `run_hw` exists: the kernel preprocesses hardware integers itself."""
        return self._hw is not None

    def _run(self, fn, data: np.ndarray, outputs, counter: dict | None = None) -> dict[str, np.ndarray]:
        """Call entry point `fn` on the rows of `data`, writing the wanted outputs (the others: null);
        a counting kernel adds its overflow counts into `counter` ({layer: {word: n}}, as
        fixed.count_overflows holds them: only layers and words with a count)."""
        n = len(data)
        wanted = self.names if outputs is None else outputs
        out = {m: np.empty((n, self.emu.infos[m].size)) for m in wanted}
        ptrs = (ctypes.c_void_p * len(self.names))(
            *[out[m].ctypes.data if m in out else None for m in self.names]
        )
        args = [data.ctypes.data, n, ctypes.cast(ptrs, ctypes.c_void_p)]
        cnt = None
        if self.counts is not None:
            if counter is None:
                raise L1mlError("a counting kernel needs a counter dict")
            cnt = np.zeros(len(self.counts), dtype=np.int64)
            args.append(cnt.ctypes.data)
        done = fn(*args)
        if cnt is not None:
            for (layer, word), c in zip(self.counts, cnt.tolist(), strict=True):
                if c:
                    per = counter.setdefault(layer, {})
                    per[word] = per.get(word, 0) + c
        if done != n:
            raise L1mlError(f"the emulation kernel ran {done} of {n} events")
        return out

    def run_hw(self, hw: np.ndarray, outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        """The outputs for (n, 57) hardware integers: the preprocessing and the network in one pass."""
        if self._hw is None:
            raise L1mlError("this kernel has no hardware-integer entry point")
        hw = np.ascontiguousarray(hw, dtype=np.int32)
        if hw.ndim != 2 or hw.shape[1] != 57:
            raise L1mlError(f"the kernel takes (n, 57) hardware integers, got shape {hw.shape}")
        return self._run(self._hw, hw, outputs)

    def __call__(
        self, q: np.ndarray, outputs: list[str] | None = None, counter: dict | None = None
    ) -> dict[str, np.ndarray]:
        """The outputs for input codes `q`; a counting kernel adds its overflow counts into `counter`."""
        q = np.ascontiguousarray(q, dtype=np.float64)
        if q.ndim != 2 or q.shape[1] != self.n_in:
            raise L1mlError(f"the kernel takes (n, {self.n_in}) input codes, got shape {q.shape}")
        return self._run(self._fn, q, outputs, counter)


def random_codes(emu, n: int, seed: int = 0) -> np.ndarray:
    """Input codes over the input type's whole range, a third of them zero (padded objects)."""
    info = emu.infos[emu.input_names[0]]
    rng = np.random.default_rng(seed)
    q = rng.integers(int(info.bounds.lo), int(info.bounds.hi), size=(n, info.size), endpoint=True)
    q[rng.random(q.shape) < 1 / 3] = 0
    return q.astype(np.float64)


def random_hardware(n: int, seed: int = 0) -> np.ndarray:
    """(n, 57) hardware integers over the GT's whole ranges, a third of the objects absent (all zero)."""
    from l1ml.data import units

    rng = np.random.default_rng(seed)
    hw = np.empty((n, units.N_OBJECTS, 3), dtype=np.int32)
    hw[..., 0] = rng.integers(1, units.PT_MAX_HW, size=(n, units.N_OBJECTS), endpoint=True)
    hw[..., 1] = rng.integers(-units.ETA_MAX_HW, units.ETA_MAX_HW, size=(n, units.N_OBJECTS), endpoint=True)
    hw[..., 2] = rng.integers(-units.PHI_MAX_HW, units.PHI_MAX_HW, size=(n, units.N_OBJECTS), endpoint=True)
    hw[rng.random((n, units.N_OBJECTS)) < 1 / 3] = 0
    return hw.reshape(n, units.N_INPUTS)


def check_kernel(kernel: Kernel, events: int = CHECK_EVENTS) -> None:
    """Refuse a kernel whose outputs differ in any bit from the numpy emulator's, on random codes and (its
    hardware entry) random hardware integers through hardware_codes."""
    from l1ml.fixed import count_overflows

    q = random_codes(kernel.emu, events)
    if kernel.counts is not None:
        # the counts too: random codes over the input's whole range overflow wherever a type can
        got_counts, want_counts = {}, {}
        got, kernel.seconds_per_event = _timed(lambda: kernel(q, counter=got_counts), events)
        with count_overflows(want_counts):
            want = kernel.emu(q, coded=True)
        _compare(kernel, got, want, "input codes")
        if got_counts != want_counts:
            raise KernelMismatch(
                f"the compiled kernel's overflow counts {got_counts} differ from the numpy emulator's "
                f"{want_counts}; not used"
            )
        return
    got, kernel.seconds_per_event = _timed(lambda: kernel(q), events)
    _compare(kernel, got, kernel.emu(q, coded=True), "input codes")
    if kernel.takes_hardware:
        from l1ml.emulate.stream import hardware_codes

        hw = random_hardware(events)
        want = kernel.emu(hardware_codes(kernel.pre, kernel.emu, hw), coded=True)
        got, kernel.seconds_per_event = _timed(lambda: kernel.run_hw(hw), events)  # what streaming runs
        _compare(kernel, got, want, "hardware integers")


def _timed(call, events: int):
    """call()'s result and its CPU seconds per event (this thread's, so other load does not count)."""
    t = time.thread_time()
    out = call()
    return out, (time.thread_time() - t) / events


def _compare(kernel: Kernel, got: dict, want: dict, what: str) -> None:
    for m in kernel.names:
        bad = np.argwhere(got[m] != want[m])
        if len(bad):
            e, i = bad[0]
            raise KernelMismatch(
                f"the compiled kernel differs from the numpy emulator on output {m!r} ({what}): {len(bad)} values, "
                f"first at event {e}, index {i} ({got[m][e, i]!r} against {want[m][e, i]!r}); not used"
            )


def compile_kernel(emu, name: str = "network", pre=None, count: bool = False) -> Kernel:
    """Generate, build (or take from the cache), load and check the kernel of NNEmulator `emu`; with
    Preprocessing `pre`, also its hardware-integer entry where hardware_codes allows one; with `count`,
    the overflow counts per layer (explore; input codes only), checked against numpy's too.
    Raises NotNative when an op has no compiled form, ToolNotFound without g++."""
    from l1ml.emulate.native.codegen import program, render_context

    ctx = program(emu, name, None if count else pre, count)
    source = render_context(ctx)
    k = Kernel(emu, build_library(source), source, None if count else pre, ctx["counts"])
    check_kernel(k)
    return k


__all__ = ["Kernel", "KernelMismatch", "NotNative", "check_kernel", "compile_kernel", "random_codes"]
