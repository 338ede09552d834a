"""conifer's own emulators, driven from l1ml: HLS C simulation, the C++ backend, and the VHDL in GHDL.

conifer's compile() and decision_function() shell out with os.system and os.chdir. We let conifer write the
sources, but compile and run them ourselves with subprocess (return codes read, compiler output kept in
the error) and cache each compiled library by a hash of what went into it, so a second validation of the
same firmware does not recompile. Cache: $L1ML_CACHE_DIR, else ~/.cache/l1ml, then emu/<sha256>/.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

from l1ml.emulate.bdt_fixed import parse_type
from l1ml.errors import L1mlError, ToolNotFound

_JSON_PACKAGE = "nlohmann-json3-dev"


def cache_root() -> Path:
    from l1ml.cache import cache_root as root

    return root() / "emu"


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def _tree_digest(d: Path) -> list:
    return [(str(p.relative_to(d)), p.read_bytes()) for p in sorted(d.rglob("*")) if p.is_file()]


def _run(cmd: list[str], cwd: Path, what: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
    except FileNotFoundError:
        raise ToolNotFound(f"{cmd[0]} not found on PATH (needed for {what})") from None
    except subprocess.TimeoutExpired:
        raise L1mlError(f"{what} timed out after {timeout:.0f} s in {cwd}") from None
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-20:])
        raise L1mlError(f"{what} failed (exit {r.returncode}) in {cwd}: {' '.join(cmd)}\n{tail}")
    return r


def _build_cached(key: str, build) -> Path:
    """Build in a private staging dir, then rename into place: concurrent builders never see half a build."""
    final = cache_root() / key
    if (final / ".done").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{key}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        build(staging)
        (staging / ".done").write_text("")
        try:
            staging.rename(final)
        except OSError:  # another process finished first; its build is as good as ours
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _load_extension(init_name: str, so: Path):
    """Import a compiled bridge once per process. The spec name must match its PyInit_ symbol; the
    sys.modules key is the library's path, so two bridges with one name (same conifer stamp) both load."""
    key = f"l1ml_emu:{so}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(init_name, so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[key] = module
    return module


def _compiler_flags() -> list[str]:
    import pybind11

    from l1ml.emulate.ap_types import ap_include_dir

    return [
        "-I" + pybind11.get_include(),
        "-I" + sysconfig.get_paths()["include"],
        "-I" + str(ap_include_dir()),
    ]


def _gxx_version() -> str:
    if shutil.which("g++") is None:
        raise ToolNotFound("g++ not found on PATH; conifer's emulators compile C++ (apt-get install g++)")
    return subprocess.run(["g++", "--version"], capture_output=True, text=True, check=False).stdout


def _scores(rows: list, n: int) -> np.ndarray:
    """Per-event score lists -> (n,) for one learner (binary), (n, classes) otherwise."""
    y = np.asarray(rows, dtype=np.float64).reshape(n, -1)
    return y[:, 0] if y.shape[1] == 1 else y


def _stamp(key: str) -> int:
    # conifer names the pybind11 module conifer_bridge_<stamp>; deriving it from the key makes the
    # generated sources, and hence the cache, deterministic.
    return int(key[:12], 16)


class HlsCsim:
    """The HLS C simulation: the firmware's own C++ sources in conifer_hls/, compiled with g++."""

    def __init__(self, hls_dir: Path):
        hls_dir = Path(hls_dir)
        prj = next(hls_dir.glob("firmware/*.cpp"), None) if hls_dir.is_dir() else None
        if prj is None or not (hls_dir / "bridge.cpp").is_file():
            raise L1mlError(f"no conifer HLS project in {hls_dir}; run `l1ml convert` first")
        self.name = next(p.stem for p in hls_dir.glob("firmware/*.cpp") if p.stem != "BDT")
        src = (hls_dir / "bridge.cpp").read_text()
        module = src.split("PYBIND11_MODULE(")[1].split(",")[0].strip()
        key = _digest("hls", _tree_digest(hls_dir / "firmware"), src, _gxx_version(), _compiler_flags())

        def build(d: Path) -> None:
            shutil.copytree(hls_dir / "firmware", d / "firmware")
            shutil.copy(hls_dir / "bridge.cpp", d / "bridge.cpp")
            cmd = ["g++", "-O3", "-shared", "-std=c++14", "-fPIC", *_compiler_flags(), "bridge.cpp",
                   "firmware/BDT.cpp", f"firmware/{self.name}.cpp", "-o", f"{module}.so"]  # fmt: skip
            _run(cmd, d, "compiling conifer's HLS C simulation")

        self.dir = _build_cached(key, build)
        self.bridge = _load_extension(module, self.dir / f"{module}.so")

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return _scores([self.bridge.decision_function(x) for x in X], X.shape[0])


def json_root() -> Path:
    root = Path(os.environ.get("JSON_ROOT", "/usr/include"))
    if not (root / "nlohmann" / "json.hpp").is_file():
        raise ToolNotFound(
            f"nlohmann/json.hpp not found under {root} (conifer's C++ backend needs it): "
            f"`apt-get install {_JSON_PACKAGE}`, or set JSON_ROOT to the directory holding nlohmann/"
        )
    return root


def missing_tools() -> list[str]:
    """What the BDT emulators need and this machine lacks, each as 'package (what)'; [] when all there."""
    missing = []
    if shutil.which("g++") is None:
        missing.append("g++ (g++)")
    root = Path(os.environ.get("JSON_ROOT", "/usr/include"))
    if not (root / "nlohmann" / "json.hpp").is_file():
        missing.append(f"{_JSON_PACKAGE} (nlohmann/json.hpp under {root})")
    if shutil.which("ghdl") is None:
        missing.append("ghdl (ghdl on PATH)")
    return missing


def require_tools(what: str) -> None:
    """One ToolNotFound naming every missing package, before any work starts."""
    missing = missing_tools()
    if missing:
        pkgs = " ".join(m.split(" ")[0] for m in missing)
        raise ToolNotFound(
            f"{what} needs {', '.join(missing)}: `sudo apt-get install {pkgs}` (./dev.sh demo installs them)"
        )


class CppBackend:
    """conifer's C++ backend. Its library depends only on the precision: the trees are read at run time."""

    def __init__(self, conifer_model_json: Path, work_dir: Path):
        import conifer

        d = json.loads(Path(conifer_model_json).read_text())
        cfg = d["config"]
        precision = {
            k: cfg[k]
            for k in ("input_precision", "threshold_precision", "weight_precision", "score_precision")
        }
        cpp_dir = Path(conifer.backends.cpp.__file__).parent
        headers = [
            (cpp_dir / "include" / "conifer.h").read_bytes(),
            (cpp_dir / "template" / "bridge.cpp").read_bytes(),
        ]
        jroot = json_root()
        key = _digest(
            "cpp", json.dumps(precision, sort_keys=True), headers, _gxx_version(), _compiler_flags(), jroot
        )
        stamp = _stamp(key)

        def build(b: Path) -> None:
            cpp_cfg = {**cfg, **precision, "backend": "cpp", "output_dir": str(b), "project_name": "model"}
            m = conifer.model.make_model(copy.deepcopy(d), cpp_cfg)
            m._stamp = stamp
            m.write()
            cmd = ["g++", "-O3", "-shared", "-std=c++14", "-fPIC", *_compiler_flags(), f"-I{jroot}",
                   f"-I{cpp_dir / 'include'}", "bridge.cpp", "-o", f"conifer_bridge_{stamp}.so"]  # fmt: skip
            _run(cmd, b, "compiling conifer's C++ backend")

        lib = _build_cached(key, build)
        module = _load_extension(f"conifer_bridge_{stamp}", lib / f"conifer_bridge_{stamp}.so")
        # The trees go in a JSON the library reads at run time; written per model, next to the caller's files.
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        model_json = work_dir / "cpp_model.json"
        model_json.write_text(json.dumps(d))
        self.bdt = module.BDT(str(model_json))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return _scores([self.bdt.decision_function(x) for x in X], X.shape[0])


def ghdl_exe() -> str:
    exe = shutil.which("ghdl")
    if exe is None:
        raise ToolNotFound("ghdl not found on PATH; the VHDL simulation needs it: `apt-get install ghdl`")
    return exe


class GhdlSim:
    """conifer's VHDL (conifer_vhdl/) simulated at RTL in GHDL, with conifer's own testbench."""

    def __init__(self, vhdl_dir: Path, precision: str):
        vhdl_dir = Path(vhdl_dir)
        if not (vhdl_dir / "ghdl_compile.sh").is_file():
            raise L1mlError(
                f"no conifer VHDL project with GHDL scripts in {vhdl_dir}; run `l1ml convert` again"
            )
        self.type = parse_type(precision)
        exe = ghdl_exe()
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
        sources = _tree_digest(vhdl_dir / "firmware") + [
            ("script", (vhdl_dir / "ghdl_compile.sh").read_bytes())
        ]
        key = _digest("ghdl", sources, version)

        def build(d: Path) -> None:
            shutil.copytree(vhdl_dir / "firmware", d / "firmware")
            shutil.copy(vhdl_dir / "ghdl_compile.sh", d / "ghdl_compile.sh")
            _run(["sh", "-e", "ghdl_compile.sh"], d, "analysing conifer's VHDL with GHDL")

        self.dir = _build_cached(key, build)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return np.zeros(0)
        ints = self.type.to_int(X)
        # One testbench directory per build; the lock keeps two runs from sharing its input file.
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            np.savetxt(self.dir / "SimulationInput.txt", ints, fmt="%d", delimiter=" ")
            out = self.dir / "SimulationOutput.txt"
            out.unlink(missing_ok=True)
            _run([ghdl_exe(), "-r", "--std=08", "--work=xil_defaultlib", "testbench"], self.dir,
                 "the GHDL simulation", timeout=60 + X.shape[0] / 100)  # fmt: skip
            y = np.loadtxt(out, dtype=np.int64, ndmin=2)
        if y.shape[0] != X.shape[0]:
            raise L1mlError(f"GHDL wrote {y.shape[0]} outputs for {X.shape[0]} events; see {self.dir}")
        return (
            np.ldexp(y[:, 0].astype(np.float64), -self.type.frac)
            if y.shape[1] == 1
            else np.ldexp(y, -self.type.frac)
        )
