"""Testbench data for the generated projects.

hls4ml and conifer leave `tb_data/` empty, so a csim or rtlsim job on the build host would run the
testbench on one default event. `l1ml convert` fills it with the first background events of the
project, preprocessed as the firmware receives them, and the outputs the firmware must give for them
(from the bit-exact emulator): a build host's C or RTL simulation then runs real events, and its results
can be compared with those files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TB_EVENTS = 200


def write_testbench_data(project, model_dir: Path, fw_dir: Path, kind: str, n: int = TB_EVENTS) -> dict:
    """Write the tb files into the firmware directory; returns what to record in its manifest."""
    from l1ml.data import units
    from l1ml.data.io import load_particles
    from l1ml.data.preprocess import Preprocessing
    from l1ml.errors import DataError

    try:
        events = load_particles(project.resolve(project.data.background), project.data.key, n)
    except DataError as exc:
        return {"events": 0, "skipped": f"no background events for testbench data: {exc}"}
    x = Preprocessing.load(model_dir / "preprocessing.json").apply(units.to_hardware(events))
    if kind == "bdt":
        files = _bdt(fw_dir, x)
    else:
        files = _network(fw_dir, x, kind)
    return {"events": len(x), "files": files}


def _save(fw_dir: Path, path: Path, rows: np.ndarray, fmt: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    # %.17g round-trips a float64, and these values are dyadic: the testbench parses them exactly.
    np.savetxt(path, rows, fmt=fmt, delimiter=" ")
    return str(path.relative_to(fw_dir))


def _network(fw_dir: Path, x: np.ndarray, kind: str) -> list[str]:
    from l1ml.emulate.nn_fixed import emulate_arrays
    from l1ml.fixed import UnsupportedError

    tb = fw_dir / "hls4ml" / "tb_data"
    files = [_save(fw_dir, tb / "tb_input_features.dat", x.reshape(len(x), -1), "%.17g")]
    try:
        outs = emulate_arrays(fw_dir / "hls4ml", x)
    except UnsupportedError:
        return files  # inputs still make the C simulation meaningful; no expected outputs to offer
    expected = np.concatenate([o.reshape(len(x), -1) for o in outs.values()], axis=1)
    files.append(_save(fw_dir, tb / "tb_output_predictions.dat", expected, "%.17g"))
    return files


def _bdt(fw_dir: Path, x: np.ndarray) -> list[str]:
    import json

    from l1ml.emulate.bdt_fixed import Precisions, decision_function_fixed

    model = fw_dir / "conifer_model.json"
    tb = fw_dir / "conifer_hls" / "tb_data"
    files = [_save(fw_dir, tb / "tb_input_features.dat", x, "%.17g")]
    scores = decision_function_fixed(model, x)
    files.append(_save(fw_dir, tb / "tb_output_predictions.dat", scores.reshape(len(x), -1), "%.17g"))
    # conifer's VHDL testbench reads the inputs' integer mantissas in the input type.
    input_t = Precisions.from_config(json.loads(model.read_text()).get("config")).input
    ints = input_t.to_int(x.astype(np.float64))
    files.append(_save(fw_dir, fw_dir / "conifer_vhdl" / "SimulationInput.txt", ints, "%d"))
    return files
