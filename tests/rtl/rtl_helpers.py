"""Helpers for the RTL tests (a uniquely named module; the fixtures are in tests/rtl/conftest.py)."""

from __future__ import annotations

from _projects import project_on_data

# Tiny trained projects: one epoch on a few thousand events; >= 2,000 events through Verilator.
TINY = {
    "training.epochs": 1,
    "training.finetune_epochs": 1,
    "data.max_events": 3000,
    "validation.events": 700,
    "validation.csim_events": 2100,
}
# A small network for the CI-run checks, so Verilator and Yosys take seconds, not minutes.
SMALL = {"model.hidden": [8], "model.latent": 4, "firmware.rtl_yosys_flow": "xilinx"}  # flat: small enough
# The queue test of the issue: 57-64-32-16, big enough that Yosys takes real memory and time.
BIG = {"model.hidden": [64, 32], "model.latent": 16}


def trained(tmp, example: str, data, **overrides):
    """(project, firmware manifest) of an example trained tiny and converted with hls4ml."""
    from l1ml.firmware import convert
    from l1ml.models.train import train_project
    from l1ml.project import load_project

    proj = load_project(project_on_data(tmp, example, data, **{**TINY, **overrides}))
    train_project(proj)
    return proj, convert(proj)


def tiny_design(
    fw_dir,
    n_in: int = 8,
    n_out: int = 4,
    events: int = 2000,
    seed: int = 0,
    flow: str = "generic",
    cutoff_ns: float = 1.0,
):
    """An alkaid design with no hls4ml behind it (a random 8-bit dense layer, ReLU, a square), written as
    `l1ml convert --backend rtl` lays it out in fw_dir/rtl/, its expected outputs from alkaid's predict:
    for the queue tests, which exercise the steps, not the tracer."""
    import json

    import numpy as np
    from alkaid.trace import FVArrayInput, trace

    from l1ml.firmware.boards import load_board
    from l1ml.firmware.rtl.build import write_design
    from l1ml.firmware.rtl.trace import OutputSlot
    from l1ml.fixed import FixedType

    rng = np.random.default_rng(seed)
    in_t = FixedType(8, 3)
    inp = FVArrayInput(n_in)
    x = inp.quantize(1, 2, 5)
    w = rng.integers(-128, 128, (n_in, n_out)) / 64
    y = (x @ w).relu().quantize(0, 6, 4, "SAT", "RND")
    y = np.concatenate([y, y * y])
    comb = trace(inp, y)
    xs = rng.integers(-128, 128, (events, n_in)) / 32
    expected = np.asarray(comb.predict(xs)).reshape(events, -1)
    board = load_board("vu9p")
    rtl = fw_dir / "rtl"
    rtl.mkdir(parents=True)
    slots = [OutputSlot("out", 0, 2 * n_out, 8)]
    info = write_design(rtl, comb, "tiny", board, cutoff_ns, xs, expected, slots, in_t)
    info.update(part=board.part, yosys_flow=flow, version="v1", alkaid_checked_events=events)
    (rtl / "rtl.json").write_text(json.dumps(info))
    return rtl


def conifer_vhdl(d, n_trees: int = 5, depth: int = 3):
    """A real conifer 1.11 VHDL project (its own writer, not a mock) for a small xgboost BDT, in d."""
    import numpy as np
    import xgboost as xgb

    from l1ml.firmware.conifer import conifer_config, ensemble_from_booster, write_vhdl

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 4))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    clf = xgb.XGBClassifier(n_estimators=n_trees, max_depth=depth, random_state=1, n_jobs=1).fit(x, y)
    ens, _ = ensemble_from_booster(clf.get_booster())
    write_vhdl(ens, conifer_config("vhdl", "ap_fixed<18,8>", d, "bdt", "xcvu9p-flgb2104-2L-e", 5.0))
    return d
