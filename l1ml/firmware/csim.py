"""The C simulation of an hls4ml project: compiled with g++ (cached by the hash of the generated sources)
and called through ctypes, plain or tracing every layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

# the cache key lives with emulate's C-simulation engine, which looks the library up; importers take them here
from l1ml.emulate.csim_engine import cache_dir, library_path, source_hash  # noqa: F401
from l1ml.errors import ConfigError, ConversionError, ToolNotFound
from l1ml.firmware.hls_project import build
from l1ml.firmware.names import top_name


def compile_cached(prj: Path, project_name: str) -> tuple[Path, bool]:
    """The compiled C-simulation library of an hls4ml project dir: from the cache when its sources were
    compiled before, else built with g++ and stored. Returns (path, was_cached)."""
    prj = Path(prj)
    cache = cache_dir()
    lib = library_path(prj, project_name)  # where emulate's C-simulation engine looks it up
    if lib.is_file():
        return lib, True
    if shutil.which("g++") is None:
        raise ToolNotFound(
            "g++ is needed to compile the hls4ml C simulation; install it (apt-get install g++)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="l1ml-csim-") as tmp:
        obj = []
        from l1ml.firmware.backends import (
            csim_includes,  # Catapult/Quartus: ac_types, as their build_lib.sh has it
        )

        inc = csim_includes(prj) or ["-Ifirmware/ap_types/", "-Ifirmware/"]
        flags = [
            "-O3",
            "-fPIC",
            "-std=c++17",
            "-fno-gnu-unique",
            f'-DWEIGHTS_DIR="{prj / "firmware" / "weights"}"',
        ]
        for src in (prj / "firmware" / f"{project_name}.cpp", prj / f"{project_name}_bridge.cpp"):
            o = Path(tmp) / (src.stem + ".o")
            _run(["g++", *flags, *inc, "-c", str(src), "-o", str(o)], prj)
            obj.append(str(o))
        out = Path(tmp) / "lib.so"
        _run(["g++", "-O3", "-fPIC", "-shared", *obj, "-o", str(out)], prj)
        part = cache / f".{lib.name}.{os.getpid()}.tmp"
        shutil.copyfile(out, part)
        part.replace(lib)  # atomic: a concurrent validation never loads half a library
    return lib, False


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:])
        raise ConversionError(
            f"compiling the hls4ml C simulation failed (exit {r.returncode}): {' '.join(cmd)}\n{tail}"
        )


class CSim:
    """The compiled C simulation of an hls4ml project, called through ctypes event by event (as hls4ml's
    own predict does), in double so that no output type up to 53 bits is rounded on the way out."""

    def __init__(
        self, lib: Path, project_name: str, n_in: int, out_sizes: list[int], traced: dict | None = None
    ):
        import ctypes

        self._ct = ctypes
        self.lib = ctypes.CDLL(str(lib))  # RTLD_LOCAL: co-loaded models keep their symbols apart
        self.top = getattr(self.lib, f"{project_name}_double")
        ptr = np.ctypeslib.ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")
        self.top.argtypes = [ptr] * (1 + len(out_sizes))
        self.top.restype = None
        self.n_in, self.out_sizes = n_in, out_sizes
        self.traced = traced or {}  # layer name -> output size, for a library built with tracing

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        return self._run(x, trace=False)[0]

    def trace(self, x: np.ndarray) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        return self._run(x, trace=True)

    def _run(self, x: np.ndarray, trace: bool):
        ct = self._ct
        x = np.ascontiguousarray(np.asarray(x, np.float64).reshape(len(x), -1))
        if x.shape[1] != self.n_in:
            raise ConfigError(f"the firmware takes {self.n_in} inputs per event, got {x.shape[1]}")
        outs = [np.zeros((len(x), n), np.float64) for n in self.out_sizes]
        layers: dict[str, np.ndarray] = {}
        if trace:

            class TraceData(ct.Structure):
                _fields_ = [("name", ct.c_char_p), ("data", ct.c_void_p)]

            collect = self.lib.collect_trace_output
            collect.argtypes = [ct.POINTER(TraceData)]
            self.lib.allocate_trace_storage.argtypes = [ct.c_size_t]
            data = (TraceData * len(self.traced))()
            layers = {k: np.zeros((len(x), n), np.float64) for k, n in self.traced.items()}
            self.lib.allocate_trace_storage(ct.sizeof(ct.c_double))
        try:
            row = [np.zeros(n, np.float64) for n in self.out_sizes]
            for i in range(len(x)):
                self.top(x[i], *row)
                for o, r in zip(outs, row, strict=True):
                    o[i] = r
                if trace:
                    collect(data)
                    for t in data:
                        if not t.name:  # fewer layers traced than declared (e.g. optimised away)
                            break
                        name = t.name.decode()
                        arr = ct.cast(t.data, ct.POINTER(ct.c_double))
                        layers[name][i] = np.ctypeslib.as_array(arr, shape=(self.traced[name],))
        finally:
            if trace:
                self.lib.free_trace_storage()
        return outs, layers


def load_csim(fw_dir: Path, fw_manifest: dict) -> tuple[CSim, bool]:
    """The C simulation of a converted network, compiled or taken from the cache. Returns (csim, cached)."""
    prj = Path(fw_dir) / fw_manifest["files"]["hls4ml"]
    name = fw_manifest["project_name"]
    if not (prj / "firmware" / f"{name}.cpp").is_file():
        raise ConfigError(f"no hls4ml project in {prj}; run `l1ml convert` first")
    lib, cached = compile_cached(prj, name)
    n_in = int(np.prod(fw_manifest["input_shape"]))
    return CSim(lib, name, n_in, [o["size"] for o in fw_manifest["outputs"]]), cached


def traced_csim(
    model,
    project,
    board,
    input_precision: str,
    workdir: Path,
    overrides="project",
    generated: Path | None = None,
) -> tuple[CSim, list[str]]:
    """A tracing build for locating where firmware and software part. Returns the csim and the layer names
    in the firmware's order.

    hls4ml writes the per-layer trace calls only when it converts with tracing on, so the same network and
    config are converted again with it. With `generated` (the hls4ml project that exists, as `convert`
    wrote it or as someone edited it since), that project's own sources are what is traced: its
    firmware/ replaces the new one, and its top function gets the new build's trace calls
    (`with_trace_calls`). Without it, a firmware edited after conversion would be traced as the fresh
    conversion, and a layer that differs only there could not be found."""
    hls_model, _, _ = build(model, project, board, workdir, input_precision, trace=True, overrides=overrides)
    traced, order = {}, []
    for layer in hls_model.get_layers():
        order.append(layer.name)
        if layer.get_attr("function_cpp", None) and layer.get_attr("trace", False):
            for var in layer.get_variables():
                traced[layer.name] = int(var.size())
    name = top_name(project)
    if generated is not None:
        trace_generated(Path(generated), Path(workdir), name)
    lib, _ = compile_cached(workdir, name)
    n_in = int(np.prod(model.inputs[0].shape[1:]))
    outs = [int(v.size()) for v in hls_model.get_output_variables()]
    return CSim(lib, name, n_in, outs, traced), order


def trace_generated(generated: Path, workdir: Path, name: str) -> None:
    """Make the tracing build at `workdir` trace the sources of the project at `generated`."""
    top = Path("firmware") / f"{name}.cpp"
    if not (generated / top).is_file():
        raise ConfigError(f"{generated}: no top function {top}; re-run `l1ml convert`")
    with_trace = (workdir / top).read_text()
    shutil.rmtree(workdir / "firmware")
    shutil.copytree(generated / "firmware", workdir / "firmware", symlinks=True)
    (workdir / top).write_text(with_trace_calls(with_trace, (generated / top).read_text()))


def trace_blocks(lines: list[str]) -> list[bool]:
    """Which lines of a top function are hls4ml's trace calls (its writer's `#ifndef __SYNTHESIS__` blocks
    of nnet::save_layer_output after each layer's call)."""
    marks = [False] * len(lines)
    i = 0
    while i < len(lines):
        if lines[i].strip() == "#ifndef __SYNTHESIS__" and "nnet::save_layer_output" in "".join(
            lines[i + 1 : i + 2]
        ):
            j = i + 1
            while j < len(lines) and lines[j].strip() != "#endif":
                j += 1
            marks[i : j + 1] = [True] * (j + 1 - i)
            i = j + 1
        else:
            i += 1
    return marks


def with_trace_calls(traced: str, generated: str) -> str:
    """The generated top function with the trace calls of `traced` (the same function written with
    tracing on) where they stand there: the lines `traced` has without its trace calls are matched to
    `generated` (difflib), and each trace call follows the line it followed. Edited lines are taken from
    `generated`; a call after an edited line stays after its replacement."""
    from difflib import SequenceMatcher

    t = traced.splitlines(keepends=True)
    marks = trace_blocks(t)
    base_at = [k for k, m in enumerate(marks) if not m]
    base = [t[k] for k in base_at]
    gen = generated.splitlines(keepends=True)

    def calls_after(b: int) -> list[str]:
        end = base_at[b + 1] if b + 1 < len(base_at) else len(t)
        return t[base_at[b] + 1 : end]

    out = t[: base_at[0]] if base_at else list(t)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, base, gen, autojunk=False).get_opcodes():
        if tag == "equal":
            for b in range(i1, i2):
                out.append(base[b])
                out += calls_after(b)
        else:
            out += gen[j1:j2]
            if i2 > i1:
                out += calls_after(i2 - 1)
    return "".join(out)
