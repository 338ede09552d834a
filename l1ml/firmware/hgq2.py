"""HGQ2 firmware: the Keras 3 worker converts with hls4ml (l1ml/frontends/hgq2.py describes the
hand-off); this is the converter `convert` calls for kind "hgq2_ae", and its manifest fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l1ml import manifest
from l1ml.errors import ConversionError
from l1ml.frontends import keras3
from l1ml.frontends.hgq2 import SCORE, validation_inputs, write_testbench
from l1ml.progress import or_silent


def convert_network(project, model_dir: Path, out_dir: Path, progress=None, overrides=None) -> dict:
    """An HGQ2 model version -> out_dir/hls4ml (written by the worker, compiled here); the manifest
    fields. Refused unless the C simulation equals the Keras 3 model on every reference output."""
    from l1ml.data.preprocess import Preprocessing
    from l1ml.firmware.boards import project_board
    from l1ml.firmware.csim import load_csim, source_hash
    from l1ml.firmware.names import namespace, top_name
    from l1ml.project import read_json

    rep = or_silent(progress)
    board = project_board(project)
    man = read_json(model_dir / "manifest.json")
    pre = Preprocessing.load(model_dir / man.get("preprocessing_file", "preprocessing.json"))
    fw = project.firmware
    # the worker's request, answers and log outlive a refused conversion's staging directory
    work = project.build_dir / "keras3" / f"convert-{model_dir.name}"
    work.mkdir(parents=True, exist_ok=True)
    x_ref = validation_inputs(project, pre)
    np.savez(work / "reference_inputs.npz", x_ref=x_ref)
    rep.task("hls4ml (Keras 3 worker)", None)
    res = keras3.run(
        "convert",
        {
            "model": str(model_dir / man["deploy_file"]),
            "data": str(work / "reference_inputs.npz"),
            "out_dir": str(out_dir / "hls4ml"),
            "graph": str(out_dir / "hls4ml_graph.fml"),
            "reference": str(out_dir / "reference_outputs.npz"),
            "project_name": top_name(project),
            # each model's layers and weights in their own C++ namespace, as deploy's library needs (the
            # worker fixes the one hls4ml 1.3 header this breaks: l1ml_keras3/hls_fixes.py)
            "namespace": namespace(project),
            "firmware": {
                "backend": fw.backend,
                "io_type": fw.io_type,
                "strategy": fw.strategy,
                "reuse_factor": fw.reuse_factor,
                "part": board.part,
                "clock_period": board.clock_period_ns,
            },
        },
        work,
    )
    rep.advance("hls4ml (Keras 3 worker)")
    fields = {
        "project_name": top_name(project),
        "input_shape": [len(pre.offsets)],
        "outputs": res["outputs"],
        "files": {"hls4ml": "hls4ml", **({} if res.get("graph_refused") else {"graph": "hls4ml_graph.fml"})},
    }
    # The C simulation compiled by l1ml from the written sources (cached by their hash: validate reuses
    # it) is the fixed-point reference; the conversion stands only if it equals Keras 3 on every output.
    rep.task("compile", None)
    csim, _ = load_csim(out_dir, fields)
    rep.advance("compile")
    with np.load(out_dir / "reference_outputs.npz") as f:
        expected = f["keras"]
    got = csim.predict(x_ref)[0]
    exact = int(np.sum(got == expected))
    if exact != expected.size:
        raise ConversionError(
            f"HGQ2 conversion of {model_dir.name}: the hls4ml C simulation differs from the Keras 3 model on "
            f"{expected.size - exact} of {expected.size} reference outputs; hls4ml's bit-exact pass did not "
            "hold for this model"
        )
    (work / "reference_inputs.npz").unlink()
    return {
        "testbench": write_testbench(out_dir, x_ref, expected),
        "tool": "hls4ml",
        "front_end": "hgq2",
        "software_model": "fixed",
        "hls4ml_version": res["hls4ml_version"],
        "backend": fw.backend,
        "io_type": fw.io_type,
        "strategy": fw.strategy,
        "reuse_factor": fw.reuse_factor,
        "namespace": namespace(project),
        "hls4ml_fixes": res.get("hls4ml_fixes", []),
        "input_precision": res["input_precision"],
        "output_names": [SCORE],
        "layer_types": {x["name"]: x["result"] for x in res["layers"]},
        # da4ml's LUT estimate per distributed-arithmetic layer (none for Latency): explore's resource figure
        "da4ml_cost": {x["name"]: x["da_kernel_cost"] for x in res["layers"] if x.get("da_kernel_cost") is not None},
        "ebops": man.get("ebops"),
        "graph_refused": res.get("graph_refused"),
        "reference": {"file": "reference_outputs.npz", "exact": exact, "compared": int(expected.size)},
        "emulator_refused": "HGQ2 firmware: l1ml's batch emulator does not rebuild Keras 3 graphs; the C "
        "simulation is the fixed-point reference",
        **fields,
        "hashes": {
            "deploy": manifest.sha256(model_dir / man["deploy_file"]),
            "sources": source_hash(out_dir / "hls4ml"),
        },
    }
