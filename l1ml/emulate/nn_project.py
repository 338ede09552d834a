"""`l1ml emulate`'s core: the whole trigger path of a project's firmware over an event file, streamed.

    Particles (N, 19, 4) -> units.to_hardware -> Preprocessing.apply -> network (nn_fixed), trees
    (bdt_fixed) or, for HGQ2 firmware, its compiled C simulation (csim_engine) -> outputs and the score

Events are read, evaluated and written in chunks, so memory stays flat whatever the file size
(about 100 MB for 65k-event chunks). The output HDF5 holds ``score`` (N,), one dataset per firmware
output under ``outputs/``, and attributes recording what produced it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1ml.errors import ConfigError, DataError, L1mlError, UnsupportedError

READ_CHUNK = 65536
KERNEL_MIN_EVENTS = 100_000


@dataclass
class EmulationResult:
    out: Path
    events: int
    kind: str
    version: str
    outputs: dict[str, int] = field(default_factory=dict)  # name -> values per event
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


class _Network:
    def __init__(self, model_dir: Path, fw_dir: Path, man: dict):
        from l1ml.emulate.nn_fixed import NNEmulator, load_hls_model

        hls_dir = fw_dir / "hls4ml"
        if not (hls_dir / "hls4ml_config.yml").is_file():
            raise ConfigError(
                f"no hls4ml project in {hls_dir}; run `l1ml convert --model {model_dir.name}` first"
            )
        if not man.get("deploy_file"):
            raise ConfigError(
                f"{model_dir / 'manifest.json'}: no 'deploy_file'; this model has no deployed network"
            )
        self.emu = NNEmulator(load_hls_model(hls_dir, keras_model=model_dir / man["deploy_file"]))
        self.names = list(self.emu.output_names)
        self.kernel = None
        self.kernel_note = "numpy"

    def use_kernel(self, pre=None) -> str:
        """Compile (or take from the cache) and check the network's C++ kernel (l1ml/emulate/native),
        with Preprocessing `pre` folded in where it can be; returns what computes from now on. A network
        the kernel does not describe stays on numpy."""
        from l1ml.emulate.native.kernel import NotNative, compile_kernel
        from l1ml.errors import ToolNotFound

        if self.kernel is None or self.kernel.pre is not pre:
            try:
                self.kernel = compile_kernel(self.emu, pre=pre)
                self.kernel_note = "compiled kernel, checked bit for bit against the numpy emulator"
            except (NotNative, ToolNotFound) as exc:
                self.kernel, self.kernel_note = None, f"numpy ({exc})"
        return self.kernel_note

    def sizes(self) -> dict[str, int]:
        return {n: self.emu.infos[n].size for n in self.names}

    def dtypes(self) -> dict[str, str]:
        # float32 holds every code below 2**24 exactly: half the file for the 57-wide reconstruction.
        return {n: "f4" if self.emu.infos[n].bounds.maxabs < 2.0**24 else "f8" for n in self.names}

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.emu(x)

    def _kernel_for(self, pre):
        from l1ml.fixed import counting

        k = self.kernel
        # overflow counting (explore) counts per numpy cast; a kernel built for other preprocessing is
        # not this run's
        return None if k is None or counting() or (pre is not None and k.pre is not pre) else k

    def prepare(self, pre, hw: np.ndarray) -> np.ndarray:
        """Hardware units -> the input layer's codes (run on the reader's thread, beside the compute); the
        hardware integers themselves when the kernel preprocesses them."""
        from l1ml.emulate.stream import hardware_codes

        k = self._kernel_for(pre)
        if k is not None and k.takes_hardware:
            return np.ascontiguousarray(hw, dtype=np.int32)
        return hardware_codes(pre, self.emu, hw)

    def run_prepared(self, q: np.ndarray, outputs: list[str], threads: int = 1) -> dict[str, np.ndarray]:
        """The listed outputs for what `prepare` made (input codes, or hardware integers for the kernel),
        each in its file dtype (exact by bounds)."""
        dt = self.dtypes()
        k = self._kernel_for(None)
        if q.dtype == np.int32:  # hardware integers: prepare handed them on for the kernel
            if k is None or not k.takes_hardware:
                raise L1mlError("hardware integers reached the emulator without the kernel that takes them")
            out = k.run_hw(q, outputs)
        elif k is not None:
            out = k(q, outputs)
        else:
            return self.emu(
                q, coded=True, outputs=outputs, dtypes={m: dt[m] for m in outputs}, threads=threads
            )
        return {m: a.astype(dt[m], copy=False) for m, a in out.items()}


class _Trees:
    def __init__(self, model_dir: Path, fw_dir: Path, man: dict):
        try:
            from l1ml.emulate import bdt_fixed
        except ImportError as exc:
            raise L1mlError(
                f"the BDT fixed-point emulator (l1ml/emulate/bdt_fixed.py) is not available: {exc}"
            ) from None
        self._fn = bdt_fixed.decision_function_fixed
        self.model = fw_dir / "conifer_model.json"
        if not self.model.is_file():
            raise ConfigError(f"no {self.model}; run `l1ml convert --model {model_dir.name}` first")
        import json

        d = json.loads(self.model.read_text())
        self.n_classes = int(d.get("n_classes", 2))
        self.names = ["margin"]

    def sizes(self) -> dict[str, int]:
        return {"margin": 1 if self.n_classes <= 2 else self.n_classes}

    def dtypes(self) -> dict[str, str]:
        return {"margin": "f8"}

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        y = np.asarray(self._fn(self.model, x))
        return {"margin": y.reshape(len(x), -1)}

    def prepare(self, pre, hw: np.ndarray) -> np.ndarray:
        from l1ml.emulate.stream import fast_preprocess

        return fast_preprocess(pre, hw)

    def run_prepared(self, x: np.ndarray, outputs: list[str], threads: int = 1) -> dict[str, np.ndarray]:
        return self(x)


def load_engine(project, version: str | None = None, directory: Path | None = None):
    """(engine, preprocessing, model manifest, version) for a project's model version: the network or BDT
    emulator. With `directory` (no project), one directory holding the model's manifest, preprocessing
    and firmware side by side, as a split emulation job carries them (l1ml.rates.split)."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.project import read_json

    if directory is not None:
        model_dir = fw_dir = Path(directory)
    else:
        model_dir = project.model_dir(version)
        fw_dir = project.firmware_dir(model_dir.name)
    version = model_dir.name
    if not (fw_dir / "manifest.json").is_file():
        raise ConfigError(
            f"no firmware for model {version} in {fw_dir}; run `l1ml convert --model {version}` first"
        )
    man = read_json(model_dir / "manifest.json")
    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    if man.get("kind") == "hgq2_ae":  # its Keras 3 graph cannot be rebuilt here: the C simulation scores
        from l1ml.emulate.csim_engine import CSimEngine

        if directory is not None:  # a split job's directory holds no firmware manifest (rates/split.py)
            raise UnsupportedError(
                f"{directory}: split rate jobs do not run HGQ2 firmware yet; run `l1ml rate` without --jobs"
            )

        engine = CSimEngine(model_dir, fw_dir, read_json(fw_dir / "manifest.json"))
    elif man.get("kind") == "bdt":
        engine = _Trees(model_dir, fw_dir, man)
    else:
        engine = _Network(model_dir, fw_dir, man)
    return engine, pre, man, version


def _variant(project, version: str) -> str:
    from l1ml.layout import variant_of

    return variant_of(project.firmware_dir(version)) or "flat"


def check_out(out_path: Path, inputs=()) -> None:
    """Refuse an --out that is an input file or a directory: found before the model loads and the run starts,
    not when the finished file is renamed into place."""
    out_path = Path(out_path)
    for f in inputs:
        if Path(f).resolve() == out_path.resolve():
            raise DataError(f"--out {out_path} is an input file; choose another path")
    if out_path.is_dir():
        raise DataError(f"--out {out_path} is a directory; give the path of the HDF5 file to write")


def emulate_project(
    project,
    input_path,
    out_path: Path,
    version: str | None = None,
    key: str | None = None,
    progress=None,
    chunk: int = READ_CHUNK,
    scores_only: bool = False,
    threads: bool = True,
    workers: int = 1,
) -> EmulationResult:
    """Evaluate the firmware of a model version over every event of `input_path`; write `out_path`.

    `input_path`: an HDF5 (ADC2021) or ROOT (L1 ntuple, mapped by the project's [data.inputs]) file, a
    glob, or a list of them; the format is read from the files. `scores_only` writes only ``score``.
    `workers`: processes that read and compute (l1ml/emulate/parallel.py); 0: chosen (one with the compiled
    kernel, else one per available core).
    """
    from l1ml.data.stream import auto_source
    from l1ml.progress import or_silent

    rep = or_silent(progress)
    out_path = Path(out_path)
    source = auto_source(input_path, project)
    if key:
        source.key = key
    check_out(out_path, source.files)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {out_path.parent} for --out: {exc.strerror}") from None
    n = sum(source.counts())  # layout errors before any slow step
    rep.task("load model", None)
    engine, pre, man, version = load_engine(project, version)
    rep.advance("load model")
    attrs = {
        "project": project.name,
        "model_version": version,
        "firmware_variant": _variant(project, version),
        "kind": man.get("kind", ""),
        "input": ", ".join(str(f) for f in source.files),
        "input_format": source.format,
        "input_key": source.key,
        "what": "firmware-exact fixed-point emulation (l1ml emulate); values are exact",
    }
    t0 = time.perf_counter()
    emulate_source(
        engine,
        pre,
        source,
        out_path,
        n=n,
        scores_only=scores_only,
        progress=rep,
        chunk=chunk,
        threads=threads,
        attrs=attrs,
        processes=workers,
    )
    sizes = {} if scores_only else engine.sizes()
    return EmulationResult(out_path, n, man.get("kind", ""), version, sizes, time.perf_counter() - t0)


def emulate_source(
    engine,
    pre,
    source,
    out_path: Path | None = None,
    n: int | None = None,
    scores_only: bool = False,
    progress=None,
    chunk: int = READ_CHUNK,
    threads: bool = True,
    attrs: dict | None = None,
    chunks=None,
    compute_threads: int = 1,
    processes: int = 1,
    kernel: bool | None = None,
):
    """Stream every event of `source` through preprocessing and `engine`: (events, ScoreCounts).

    With `out_path`, also writes the HDF5 output (``score``, and ``outputs/<name>`` unless scores_only),
    staged under a .partial name and renamed on success. `chunks` replaces the source's own chunk
    iterator (a split job passes its entry range). `compute_threads` > 1 splits each chunk's arithmetic
    over that many threads (numpy and BLAS release the GIL inside their loops). `processes` > 1 reads
    and computes on that many forked workers (0: chosen, see below) (l1ml/emulate/parallel.py), each taking every P-th chunk;
    results are written here in order, so the file and the counts are those of one process. `kernel`:
    compute with the network's compiled C++ kernel (checked against numpy first); None: when there are at
    least KERNEL_MIN_EVENTS events, where its compile time (about a second, once per machine) pays.
    """
    import h5py

    from l1ml.emulate.parallel import default_processes
    from l1ml.emulate.stream import ScoreCounts, run_pipeline
    from l1ml.progress import or_silent

    rep = or_silent(progress)
    n = sum(source.counts()) if n is None else n
    counts = ScoreCounts()
    names = list(engine.sizes())
    last = names[-1]  # the score is the firmware's last output: [reconstruction, score], [z_mean, score]
    if hasattr(engine, "use_kernel") and (kernel or (kernel is None and n >= KERNEL_MIN_EVENTS)):
        # before any fork: the workers inherit the loaded library
        engine.use_kernel(pre)
    if processes == 0:
        processes = default_processes(getattr(engine, "kernel", None))
    rep.task("emulate", n)
    out = tmp = None
    dsets: dict = {}
    pos = [0]
    try:
        if out_path is not None:
            out_path = Path(out_path)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = out_path.with_name(out_path.name + ".partial")
            out = h5py.File(tmp, "w")
            dtypes = engine.dtypes()
            rows = max(1, min(n, 65536))
            if not scores_only:
                dsets = {
                    name: out.create_dataset(f"outputs/{name}", (n, s), dtype=dtypes[name], chunks=(rows, s))
                    for name, s in engine.sizes().items()
                }
                # the firmware's output order, which the group's (alphabetical) listing loses: deploy maps
                # output i to the firmware's output i by it, whatever the front-end named the layers
                out["outputs"].attrs["order"] = names
            score_ds = out.create_dataset("score", (n,), dtype=dtypes[last], chunks=(rows,))

        def write(m, res):
            start, stop = pos[0], pos[0] + m
            if stop > n:
                raise DataError(f"the input holds more events than the {n} its headers declared")
            sc = res[last][:, 0]
            counts.add(sc)
            if out is not None:
                # numpy's cast to the dataset's type is several times faster than HDF5's own conversion.
                for name, d in dsets.items():
                    d[start:stop] = res[name].astype(d.dtype, copy=False)
                score_ds[start:stop] = sc.astype(score_ds.dtype, copy=False)
            pos[0] = stop
            rep.advance("emulate", m)

        # Only what is written is computed into output arrays and waits in the queue to the writer (the
        # 57-wide reconstruction is 15-30 MB per 65k-event chunk), not the inputs: two chunks in flight.
        wanted = [last] if out is None or scores_only else names

        def compute(x):
            return len(x), engine.run_prepared(x, wanted, threads=compute_threads)

        # Chunks of 65536 events: measured no slower in CPU seconds than 16384 or 8192 (whose arrays stay
        # in cache, but which pass the GIL between the three threads more often).
        if processes > 1 and chunks is None and n > chunk:
            from l1ml.emulate.parallel import run_forked

            # Each worker runs one chunk at a time (no threads of its own): the workers fill the cores.
            done = run_forked(source, chunk, processes, lambda hw: compute(engine.prepare(pre, hw))[1], write)
        else:
            done = run_pipeline(
                source.iter_hardware(chunk) if chunks is None else chunks,
                lambda hw: engine.prepare(pre, hw),
                compute,
                lambda x, nres: write(*nres),
                threads=threads,
            )
        if done != n:
            raise DataError(f"read {done} events but the input headers declared {n}")
        if out is not None:
            out.attrs.update(
                {
                    **(attrs or {}),
                    "events": n,
                    "scores_only": scores_only,
                    "arithmetic": getattr(engine, "kernel_note", "numpy"),
                }
            )
            out.close()
            out = None
            tmp.replace(out_path)
    except BaseException:
        if out is not None:
            out.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    return n, counts
