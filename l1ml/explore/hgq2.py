"""`l1ml explore` for HGQ2 (Keras 3) models, kind hgq2_ae: each point converted by the Keras 3 worker and
scored with its compiled C simulation (docs/hgq2.md).

The main process cannot rebuild an HGQ2 graph (the numpy emulator and its kernel read a QKeras model),
so a point here is a real conversion: `firmware/hgq2.py`'s converter runs the worker (hls4ml with the
point's strategy and reuse factor), compiles the written C simulation and refuses it unless it equals
the Keras 3 model on every reference output, as `convert` does. A point whose variant `convert` already
wrote is read from build/firmware instead. Its events then go through the C simulation
(emulate/csim_engine.py, `emulate`'s engine for this kind), and the software side is the Keras 3 model
itself, run by the worker once per grid and event set. Overflows are not counted: the C simulation does
not report them.

Resources are the estimates that exist for the firmware, each named: da4ml's LUT estimate of the
distributed-arithmetic kernels (hls4ml's `da_kernel_cost`, recorded by convert), HGQ2's EBOPs of the model
for the multiplier-based (Latency) firmware. Neither is synthesis, and the two are not one scale.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from l1ml.errors import L1mlError

EBOPS_LABEL = (
    "HGQ2's EBOPs of the model on its calibrated ranges (roughly LUT + 55 x DSP of multiplier-based firmware "
    "such as Latency; the same figure for every strategy); not synthesis"
)
DA_LABEL = (
    "da4ml's LUT estimate of the distributed-arithmetic kernels (hls4ml's da_kernel_cost summed over the "
    "DA layers; quantizers and glue logic not included); not synthesis"
)
HOW = "predicted: the firmware's C simulation against the Keras 3 model (worker) on the same events"


def software_outputs(ctx_dir: Path, model_file: Path, x: dict, data_key: str, model_sha: str, n_check: int):
    """The Keras 3 model's scores on every event and all its outputs on the validation events, computed
    by the worker in one call; cached by model and event set. Same shape as sweep.software_outputs."""
    import tempfile

    from l1ml.frontends.hgq2 import keras_outputs

    f = ctx_dir / f"software-{model_sha[:12]}-{data_key}.npz"
    check_rows = {k: min(len(v), n_check) if n_check else len(v) for k, v in x.items()}
    if f.is_file():
        with np.load(f) as z:
            y = {k: z[f"y_{k}"] for k in x}
    else:
        names = list(x)
        with tempfile.TemporaryDirectory(prefix="l1ml-explore-keras3-") as tmp:
            ys = keras_outputs(model_file, np.concatenate([x[k] for k in names]), Path(tmp))
        y, start = {}, 0
        for k in names:
            y[k], start = ys[start : start + len(x[k])], start + len(x[k])
        ctx_dir.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{f.name}.{os.getpid()}.npz")
        np.savez(tmp, **{f"y_{k}": v for k, v in y.items()})
        tmp.replace(f)
    scores = {k: v[:, -1].astype(np.float64) for k, v in y.items()}
    # one block per output is split by the firmware's output sizes in would_validate's order: HGQ2's
    # deployed model has one output (the score), so the check is that block
    check = [np.concatenate([y[k][: check_rows[k]] for k in x])]
    return scores, check, check_rows


def point_firmware(project, proj, model_dir: Path, vid: str, work: Path) -> tuple[Path, dict, str]:
    """(firmware dir, its manifest fields, where it came from) for a point: the variant `convert` wrote,
    or a conversion by the worker into `work` (checked against the Keras 3 reference by the converter)."""
    from l1ml import layout
    from l1ml.firmware.hgq2 import convert_network
    from l1ml.project import read_json

    on_disk = layout.version_root(project, model_dir.name) / vid
    if (on_disk / "manifest.json").is_file() and (on_disk / layout.VARIANT_FILE).is_file():
        return on_disk, read_json(on_disk / "manifest.json"), "the variant convert wrote"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work, convert_network(proj, model_dir, work), "converted by the Keras 3 worker for explore"


def resources(fw_man: dict, man: dict) -> dict:
    """The point's resource estimate, named: da4ml's for DA firmware, HGQ2's EBOPs otherwise; `figure`
    None where the firmware has none recorded."""
    ebops = man.get("ebops")
    if fw_man.get("strategy") == "distributed_arithmetic":
        da = fw_man.get("da4ml_cost") or {}
        if da:
            return {
                "source": "da4ml",
                "figure": float(sum(da.values())),
                "layers": da,
                "label": DA_LABEL,
                "ebops": ebops,
            }
        return {
            "source": "none",
            "figure": None,
            "ebops": ebops,
            "label": "no da4ml cost recorded for this conversion (convert it again to record one)",
        }
    if ebops is None:
        return {"source": "none", "figure": None, "label": "the model manifest has no EBOPs"}
    return {"source": "hgq2_ebops", "figure": float(ebops), "label": EBOPS_LABEL, "ebops": ebops}


def score_point(ctx, project, proj, vid: str, work: Path, chunk: int):
    """Convert (or read) the point's firmware and run every event of every sample through its C
    simulation. Returns (row fields, scores per sample, check outputs per output, LSB per output,
    events), or (row fields with `error`, None, ...) for a point that cannot run (one line)."""
    from l1ml.emulate.csim_engine import CSimEngine
    from l1ml.firmware.csim import load_csim
    from l1ml.fixed import lsb_of

    row: dict = {}
    try:
        fw_dir, fw_man, origin = point_firmware(project, proj, ctx.model_dir, vid, work)
        load_csim(fw_dir, fw_man)  # compiled by the conversion; a fresh cache compiles it here
        engine = CSimEngine(ctx.model_dir, fw_dir, fw_man)
    except L1mlError as exc:
        row["error"] = " ".join(str(exc).split())  # one line, whatever the tool printed
        return row, None, None, None, 0
    outs = fw_man["outputs"]
    row.update(
        firmware=origin,
        output_precisions=[o["precision"] for o in outs],
        layer_types=fw_man.get("layer_types") or {},
        reference=fw_man.get("reference"),
        arithmetic=engine.kernel_note,
        resources_estimate=resources(fw_man, ctx.man),
        overflows=None,  # the C simulation does not count them
    )
    score = engine.names[-1]
    fw_scores, check_parts, events = {}, [[] for _ in engine.names], 0
    for k, v in ctx.x.items():
        sc = np.empty(len(v))
        for s in range(0, len(v), chunk):
            m = ctx.check_rows[k] - s
            res = engine.run_prepared(v[s : s + chunk], engine.names if m > 0 else [score])
            sc[s : s + len(res[score])] = res[score][:, 0]
            if m > 0:
                for i, name in enumerate(engine.names):
                    check_parts[i].append(res[name][:m].astype(np.float64))
        fw_scores[k] = sc
        events += len(v)
    if work.exists() and fw_dir == work:
        shutil.rmtree(work, ignore_errors=True)  # the row is cached; the library stays in the C-sim cache
    # the Keras model's outputs, concatenated, against the firmware's outputs, concatenated
    check = (
        [np.concatenate([np.concatenate(p) for p in check_parts], axis=1)]
        if check_parts[0]
        else [np.zeros((0, 1))]
    )
    if check[0].shape[1] != ctx.sw_check[0].shape[1]:
        row["error"] = (
            f"the firmware has {check[0].shape[1]} output values per event and the Keras 3 model "
            f"{ctx.sw_check[0].shape[1]}: cannot compare them"
        )
        return row, None, None, None, 0
    # the comparison is in units of the score's LSB: HGQ2's deployed model has the score as its only output
    return row, fw_scores, [check], [lsb_of(outs[-1]["precision"])], events
