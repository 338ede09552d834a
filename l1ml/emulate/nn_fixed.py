"""Bit-exact batch emulation of an hls4ml network, built from its ModelGraph.

`NNEmulator(hls_model)` walks ``hls_model.get_layers()`` once, reading every precision and weight that
hls4ml will write into the firmware, and turns each layer into a vectorised operation on integer codes
(see nn_layers.py for the arithmetic, fixed.py for ap_fixed casts). Whether each layer can be reproduced
exactly is decided there, up front: a layer or setting it cannot reproduce raises UnsupportedError naming
the layer and the setting, before any event is evaluated. Nothing is approximated.

The emulator returns what hls4ml's C simulation returns (``ModelGraph.predict`` with float64 inputs): the
exact value of every output, in float64.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from l1ml.emulate.nn_layers import BUILDERS, Info, Op
from l1ml.errors import DataError, L1mlError
from l1ml.fixed import UnsupportedError, counting, in_layer

DEFAULT_CHUNK = 4096  # events per batch: measured best of 2k-64k (Python overhead vs cache misses)


def _blas_single_threaded():
    """BLAS on one thread while the emulator runs: its GEMMs are small (a few thousand rows by tens of
    columns), and OpenBLAS's own threads then cost more in synchronisation than they gain (measured: 1.75M
    events/s on one thread against 0.4-1.1M with two). threadpoolctl comes with scikit-learn; without it
    BLAS keeps its default."""
    from contextlib import nullcontext

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class NNEmulator:
    """The firmware's fixed-point arithmetic as numpy operations over a batch of events."""

    def __init__(self, hls_model):
        io_type = str(hls_model.config.get_config_value("IOType", "io_parallel"))
        if io_type != "io_parallel":
            raise UnsupportedError(f"IOType '{io_type}' is not emulated; only io_parallel")
        from l1ml.emulate.ac_verified import check_verified as check_ac_layer

        self.ops: list[Op] = []
        infos: dict[str, Info] = {}
        self.input_names: list[str] = []
        for layer in hls_model.get_layers():
            builder = BUILDERS.get(layer.class_name)
            if builder is None:
                raise UnsupportedError(
                    f"layer '{layer.name}' ({layer.class_name}) is not emulated; emulated layers: "
                    f"{', '.join(sorted(BUILDERS))}"
                )
            if len(layer.outputs) != 1:
                raise UnsupportedError(f"layer '{layer.name}' has {len(layer.outputs)} outputs; not emulated")
            check_ac_layer(layer)  # Catapult/Quartus/oneAPI: only layers verified against their C++
            ins = [] if layer.class_name in ("Input", "InputLayer") else [infos[i] for i in layer.inputs]
            op = builder(layer, ins)
            op.name = layer.outputs[0]
            if not ins:
                self.input_names.append(op.name)
            infos[op.name] = op.info
            self.ops.append(op)
        self.output_names: list[str] = list(hls_model.outputs)
        self.infos = infos
        # Free each intermediate as soon as its last reader has run, to keep big batches small in memory.
        last_use: dict[str, int] = {}
        for k, op in enumerate(self.ops):
            for i in op.inputs:
                last_use[i] = k
        self._free_after = {
            k: [n for n, j in last_use.items() if j == k and n not in self.output_names]
            for k in range(len(self.ops))
        }

    @property
    def input_size(self) -> int:
        return self.infos[self.input_names[0]].size

    def input_codes(self, x: np.ndarray) -> np.ndarray:
        """The input layer's codes for real inputs `x` (one-input networks): what `codes` starts from.

        A streaming reader computes them on its own thread, so the compute thread starts at layer one.
        """
        if len(self.input_names) != 1:
            raise DataError(f"the network has {len(self.input_names)} inputs; input_codes takes one")
        op = self.ops[0]
        return op.run(np.asarray(x).reshape(-1, op.info.size))

    def codes(self, x: np.ndarray | list[np.ndarray], coded: bool = False) -> dict[str, np.ndarray]:
        """Integer codes of every output for one batch (`coded`: `x` holds input codes already)."""
        xs = x if isinstance(x, list | tuple) else [x]
        if len(xs) != len(self.input_names):
            raise DataError(f"the network has {len(self.input_names)} inputs, got {len(xs)} arrays")
        vals: dict[str, np.ndarray] = {}
        feed = iter(xs)
        named = counting()  # overflow counting (explore) names each op's casts by its layer
        for k, op in enumerate(self.ops):
            if named:
                with in_layer(op.name):
                    self._step(k, op, vals, feed, coded)
                continue
            self._step(k, op, vals, feed, coded)
        return {n: vals[n] for n in self.output_names}

    def _step(self, k: int, op: Op, vals: dict, feed, coded: bool) -> None:
        if not op.inputs:
            a = np.asarray(next(feed)).reshape(-1, op.info.size)
            vals[op.name] = a if coded else op.run(a)
        elif op.can_overwrite:
            name = op.inputs[0]
            arr = vals[name]
            # Overwrite only an array nothing else will read: its last reader is this op, it is not a
            # model output, and no other live name refers to the same array (no-op casts alias).
            free = name in self._free_after[k] and not any(v is arr for n, v in vals.items() if n != name)
            vals[op.name] = op.run(arr, inplace=free)
        else:
            vals[op.name] = op.run(*[vals[i] for i in op.inputs])
        for n in self._free_after[k]:
            vals.pop(n, None)

    def __call__(
        self,
        x: np.ndarray | list[np.ndarray],
        chunk: int = DEFAULT_CHUNK,
        threads: int | None = None,
        outputs: list[str] | None = None,
        dtypes: dict[str, str] | None = None,
        coded: bool = False,
    ) -> dict[str, np.ndarray]:
        """Exact output values (float64) for every event of `x`, evaluated `chunk` events at a time.

        Chunks run on `threads` threads (default 1): every op is a pure function of its inputs and each
        chunk writes its own rows, so more threads are safe, but numpy keeps the GIL for much of the small
        per-chunk work: two threads measured at most 1.15x faster on two idle cores, and slower under load.
        `outputs` limits what is returned (the score alone skips scaling and storing the reconstruction);
        `dtypes` gives an output a narrower type, e.g. "f4" where its bounds prove every value exact in
        float32 (checked here); `coded`: `x` holds input codes (`input_codes`), not real values.
        """
        xs = x if isinstance(x, list | tuple) else [x]
        n = len(xs[0])
        names = list(self.output_names) if outputs is None else list(outputs)
        unknown = [m for m in names if m not in self.output_names]
        if unknown:
            raise DataError(f"no output {unknown[0]!r}; the network's outputs are {self.output_names}")
        kinds = {m: np.dtype((dtypes or {}).get(m, "f8")) for m in names}
        for m, dt in kinds.items():
            if dt != np.float64 and not (dt == np.float32 and self.infos[m].bounds.maxabs < 2.0**24):
                raise DataError(f"output {m!r}: its codes are not provably exact in {dt}")
        out = {m: np.empty((n, self.infos[m].size), dtype=kinds[m]) for m in names}
        scales = {m: 2.0 ** -self.infos[m].frac for m in names}

        def one(start: int) -> None:
            part = [np.asarray(a[start : start + chunk]) for a in xs]
            codes = self.codes(part, coded=coded)
            for name in names:
                q = codes[name]
                # Power-of-two scaling of codes below 2**24 (float32) or 2**53: exact, written in place.
                np.multiply(q, scales[name], out=out[name][start : start + len(q)])

        starts = range(0, n, chunk)
        threads = 1 if threads is None else max(1, int(threads))
        with _blas_single_threaded():
            if threads == 1 or len(starts) < 2:
                for s in starts:
                    one(s)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=threads) as pool:
                    for f in [pool.submit(one, s) for s in starts]:
                        f.result()  # re-raises a worker's error here
        return out


def load_hls_model(fw_dir: Path, keras_model=None, output_dir: Path | None = None):
    """Rebuild the ModelGraph of a written hls4ml project and check it against the written firmware.

    `fw_dir`: the hls4ml output directory, or a firmware version directory holding ``hls4ml/``.
    `keras_model`: the converted Keras model or its file; None finds the model version's deploy file via
    the firmware manifest (projects/NAME/build/firmware/vN/manifest.json -> models/vM/deploy.h5).
    The model is converted again with the project's own hls4ml_config.yml (HLSConfig, backend, IOType),
    then every typedef and weight of the result is compared with the firmware's defines.h and
    weights/*.txt: a graph that differs from what was written is refused, not emulated.
    `output_dir`: where the graph's compile()/write() would write (nothing is written until then). Never
    the firmware directory itself: hls4ml would overwrite the firmware with its defaults (no namespace,
    weights read from text files at run time), which the deployed library's audit then refuses. Default: a
    per-firmware directory under the system's temporary directory.
    """
    fw_dir = Path(fw_dir)
    hls_dir = next((d for d in (fw_dir, fw_dir / "hls4ml") if (d / "hls4ml_config.yml").is_file()), None)
    if hls_dir is None:
        raise L1mlError(f"no hls4ml_config.yml in {fw_dir} or {fw_dir / 'hls4ml'}; run `l1ml convert` first")
    cfg = _read_hls4ml_yml(hls_dir / "hls4ml_config.yml")
    if keras_model is None:
        keras_model = _deploy_file(hls_dir)
    if isinstance(keras_model, str | Path):
        from l1ml.models.io import load_model

        keras_model = load_model(keras_model)
    import hls4ml  # heavy: TensorFlow comes with it

    try:
        hm = hls4ml.converters.convert_from_keras_model(
            keras_model,
            output_dir=str(output_dir or _scratch_dir(hls_dir)),
            project_name=cfg.get("ProjectName", "myproject"),
            backend=cfg.get("Backend", "Vivado"),
            io_type=cfg.get("IOType", "io_parallel"),
            part=cfg.get("Part"),
            hls_config=cfg.get("HLSConfig", {}),
        )
    except Exception as exc:  # hls4ml raises bare Exceptions for configs it cannot use
        raise L1mlError(f"{hls_dir}: hls4ml could not rebuild the model: {exc}") from exc
    check_against_firmware(hm, hls_dir)
    return hm


def _scratch_dir(hls_dir: Path) -> Path:
    import hashlib
    import tempfile

    key = hashlib.sha256(str(hls_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "l1ml-hls4ml-rebuilt" / key


def _read_hls4ml_yml(path: Path) -> dict:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # hls4ml tags the model path with a constructor that loads the model; the path alone is enough here.
    Loader.add_constructor("!keras_model", lambda loader, node: loader.construct_scalar(node))
    try:
        return yaml.load(path.read_text(), Loader=Loader) or {}
    except yaml.YAMLError as exc:
        raise L1mlError(f"{path}: not valid YAML: {exc}") from None


def _deploy_file(hls_dir: Path) -> Path:
    import json

    for manifest in (hls_dir / "manifest.json", hls_dir.parent / "manifest.json"):
        if manifest.is_file():
            break
    else:
        raise L1mlError(f"no firmware manifest.json next to {hls_dir}; cannot find the converted model")
    try:
        m = json.loads(manifest.read_text())
    except json.JSONDecodeError as exc:
        raise L1mlError(f"{manifest}: not valid JSON: {exc}") from None
    linked = m.get("model_manifest") or {}
    version = linked.get("version") if isinstance(linked, dict) else None
    fw_dir = hls_dir.parent if hls_dir.name == "hls4ml" else hls_dir
    # build/firmware/vN (flat) or build/firmware/vN/<variant> -> build/models
    build = next((d.parent for d in fw_dir.parents if d.name == "firmware"), fw_dir.parent.parent)
    models_dir = build / "models"
    if not isinstance(version, str):
        raise L1mlError(f"{manifest}: no model_manifest.version; cannot find the converted model")
    mdir = models_dir / version
    deploy = mdir / "deploy.h5"
    mm = mdir / "manifest.json"
    if mm.is_file():
        deploy = mdir / json.loads(mm.read_text()).get("deploy_file", "deploy.h5")
    if not deploy.is_file():
        raise L1mlError(f"{deploy} not found (model version {version}, from {manifest})")
    return deploy


def check_against_firmware(hm, hls_dir: Path) -> None:
    """Refuse a rebuilt graph whose types or weights differ from the firmware written in `hls_dir`."""
    defines = hls_dir / "firmware" / "defines.h"
    if not defines.is_file():
        raise L1mlError(f"{defines} not found; the hls4ml project in {hls_dir} is incomplete")
    written = {}
    # ac_fixed/ac_int: hls4ml's Catapult, Quartus and oneAPI backends (l1ml/firmware/backends/)
    typedef = r"typedef\s+(ap_u?fixed<[^;]*>|ap_u?int<[^;]*>|ac_fixed<[^;]*>|ac_int<[^;]*>)\s+(\w+)\s*;"
    for m in re.finditer(typedef, defines.read_text()):
        written[m.group(2)] = re.sub(r"\s+", "", m.group(1))
    for layer in hm.get_layers():
        for v in [layer.get_output_variable(), *layer.weights.values()]:
            t = v.type
            want = (
                re.sub(r"\s+", "", t.precision.definition_cpp())
                if hasattr(t.precision, "definition_cpp")
                else None
            )
            if want and t.name in written and written[t.name] != want:
                raise UnsupportedError(
                    f"layer '{layer.name}': type {t.name} is {want} in the rebuilt model but "
                    f"{written[t.name]} in "
                    f"{defines}; re-run `l1ml convert` so that emulation and firmware agree"
                )
        for var in layer.weights.values():
            written_w = _written_weights(hls_dir / "firmware" / "weights", var.name)
            if written_w is not None and written_w != [s.replace(" ", "") for s in var]:
                raise UnsupportedError(
                    f"layer '{layer.name}': weights {var.name} differ from those in "
                    f"{hls_dir / 'firmware' / 'weights'}; "
                    "re-run `l1ml convert`"
                )


def _written_weights(wdir: Path, name: str) -> list[str] | None:
    """The weight literals the firmware was built with: weights/NAME.txt, or the initializer in NAME.h."""
    txt, hdr = wdir / f"{name}.txt", wdir / f"{name}.h"
    if txt.is_file():
        body = txt.read_text()
    elif hdr.is_file():
        text = hdr.read_text()
        start, end = text.rfind("= {"), text.rfind("};")
        if start < 0 or end < start:
            return None
        body = text[start + 3 : end]
    else:
        return None
    if "{" in body:  # exponent weights {sign, exp}: compare them as whole items
        return [m.replace(" ", "") for m in re.findall(r"\{[^}]*\}", body)]
    return [v.strip().replace(" ", "") for v in body.split(",") if v.strip()]


def build_emulator(hls_model_or_fw_dir, keras_model=None) -> NNEmulator:
    if isinstance(hls_model_or_fw_dir, NNEmulator):
        return hls_model_or_fw_dir
    if isinstance(hls_model_or_fw_dir, str | Path):
        return NNEmulator(load_hls_model(Path(hls_model_or_fw_dir), keras_model))
    return NNEmulator(hls_model_or_fw_dir)


def emulate_arrays(hls_model_or_fw_dir, X: np.ndarray, chunk: int = DEFAULT_CHUNK) -> dict[str, np.ndarray]:
    """Firmware-exact outputs of an hls4ml network for every event of `X`.

    `hls_model_or_fw_dir`: an hls4ml ModelGraph (compiled or not), an NNEmulator, or a directory holding a
    written hls4ml project. `X`: network inputs, (N, n_inputs) or (N, *input_shape), any float dtype.
    Returns {output layer name: (N, size) float64}, in the model's output order; the values equal
    ``hls_model.predict(X.astype(np.float64))`` bit for bit. Raises UnsupportedError (an L1mlError)
    naming the layer and setting when the network holds something it cannot reproduce exactly.
    """
    emu = build_emulator(hls_model_or_fw_dir)
    X = np.asarray(X)
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != emu.input_size:
        raise DataError(
            f"inputs of shape {X.shape} do not match the network's {emu.input_size} inputs per event"
        )
    return emu(X.reshape(len(X), -1), chunk=chunk)


__all__ = ["NNEmulator", "UnsupportedError", "build_emulator", "emulate_arrays", "load_hls_model"]
