"""The `rtl` comparison of `l1ml validate`: where `l1ml convert --backend rtl` built a design
(build/firmware/vN/rtl/), Verilator runs it on the validation's C-simulation events and every output must
equal the firmware's (C simulation or emulator) at 0 LSB."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def rtl_checks(project, fw_dir: Path, fw_man: dict, X: np.ndarray, fw: list, labels: list[str], rep) -> list:
    """OutputComparisons of the RTL design against `fw` (firmware outputs, one (N, size) array per
    output, in the manifest's order) on the first [validation] csim_events events; [] without a design."""
    from l1ml.compare import compare
    from l1ml.firmware.rtl.build import RTL_DIR, pack_hex, read_info
    from l1ml.firmware.rtl.verilator import decode, simulate
    from l1ml.fixed import lsb_of

    rtl = fw_dir / RTL_DIR
    if not (rtl / "rtl.json").is_file():
        return []
    info = read_info(rtl)
    n = min(len(X), project.validation.csim_events)
    rep.task("rtl (verilator)", None)
    codes = _input_codes(info, X[:n].reshape(n, -1))
    sim = simulate(rtl, pack_hex(codes, info["input"]["element_bits"]))
    got = decode(rtl, sim.outputs)
    rep.advance("rtl (verilator)")
    out = []
    for o, f, meta, label in zip(info["outputs"], fw, fw_man["outputs"], labels, strict=True):
        out.append(
            compare(
                f"{label} (RTL: Verilator vs firmware)", f[:n], got[o["name"]], lsb_of(meta["precision"]), 0
            )
        )
    return out


def _input_codes(info: dict, x: np.ndarray) -> np.ndarray:
    """The input codes the firmware takes for real inputs: ap_fixed's conversion to the input type."""
    from l1ml.fixed import FixedType, from_real

    t = FixedType(*info["input_type"])
    q = from_real(x.astype(np.float64), t) * 2.0 ** (info["input"]["frac"] - t.frac)
    return q.astype(np.int64)
