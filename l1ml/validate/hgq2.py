"""Validating HGQ2 firmware: the Keras 3 model's outputs (computed by the worker, l1ml/frontends/) against
the C simulation compiled here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l1ml.frontends.hgq2 import SCORE, keras_outputs


def validate_network(project, model_dir: Path, fw_dir: Path, man: dict, fw_man: dict, x: dict, rep):
    """The Keras 3 model (worker) against the C simulation (compiled here), every output at
    [validation] tolerance_lsb, and the trigger decision at the deployed threshold."""
    import tempfile

    from l1ml.compare import compare, flipped_decisions
    from l1ml.firmware.csim import load_csim
    from l1ml.fixed import lsb_of
    from l1ml.models.threshold import deployed_value
    from l1ml.validate.verdict import Validation

    names = list(x)
    X = np.concatenate([x[k] for k in names])
    rep.task("compile", None)
    csim, cached = load_csim(fw_dir, fw_man)
    rep.advance("compile")
    rep.task("firmware", None)
    fw = csim.predict(X)[0]
    rep.advance("firmware")
    rep.task("software (Keras 3 worker)", None)
    with tempfile.TemporaryDirectory(prefix="l1ml-hgq2-") as tmp:
        sw = keras_outputs(model_dir / man["deploy_file"], X, Path(tmp))
    rep.advance("software (Keras 3 worker)")
    info = fw_man["outputs"][-1]
    lsb = lsb_of(info["precision"])
    comp = compare(SCORE, sw, fw, lsb, project.validation.tolerance_lsb)
    thr = deployed_value(project, model_dir.name, man)
    flips, start = {}, 0
    for k in names:
        b = slice(start, start + len(x[k]))
        start += len(x[k])
        if thr is not None:
            flips[k] = flipped_decisions(sw[b], fw[b], thr)
    return Validation(
        project=project.name,
        version=model_dir.name,
        kind=man["kind"],
        comparisons=[comp],
        flips=flips,
        threshold=thr,
        events={k: len(v) for k, v in x.items()},
        passed=comp.ok and not any(flips.values()),
        cached_library=cached,
        details={"output_precisions": {SCORE: info["precision"]}, "software": "Keras 3 (HGQ2), worker"},
        diffs={SCORE: ((fw - sw) / lsb).ravel()},
    )
