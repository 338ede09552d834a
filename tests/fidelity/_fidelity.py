"""Helpers for the fidelity tests: models built in the test, compiled against hls4ml's ap_types."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_and_compile(model, project, out_dir: Path, input_precision: str):
    """The l1ml hls4ml build of `model`, its compiled C simulation and the hls ModelGraph."""
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.hls4ml import CSim, build, compile_cached, top_name

    hm, _, _ = build(model, project, project_board(project), out_dir, input_precision)
    name = top_name(project)
    lib, _ = compile_cached(out_dir, name)
    n_in = int(np.prod(model.inputs[0].shape[1:]))
    outs = [int(v.size()) for v in hm.get_output_variables()]
    return CSim(lib, name, n_in, outs), hm


def qkeras_outputs(model, X) -> list[np.ndarray]:
    from l1ml.models.io import predict_exact

    return [np.asarray(o, np.float64).reshape(len(X), -1) for o in predict_exact(model, X)]
