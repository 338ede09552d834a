"""BDT validation: xgboost against conifer, at two levels kept apart.

1. Conversion (float): conifer's float model against xgboost's margin. Must agree to 1e-5.
2. Emulation (fixed point): each of conifer's emulators against the bit-exact numpy reference at the
   firmware's precision (l1ml.emulate.bdt_fixed). Must be bit-identical (0 LSB). Checked three ways: the
   HLS C simulation of the firmware sources, conifer's C++ backend, and the VHDL in GHDL (first events only:
   GHDL runs ~2k events/s).
Between the two sits quantization (inputs, thresholds and leaves rounded to the precision): reported as
informative comparisons of the reference against the float model, never a failure. The decision flips at
the trigger threshold are counted between xgboost and the HLS C simulation.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l1ml.compare import OutputComparison, compare, flipped_decisions
from l1ml.errors import ConfigError, DataError

FLOAT_TOLERANCE = 1e-5
EMULATORS = ("hls", "cpp", "ghdl")


def decision_changes(software: np.ndarray, firmware: np.ndarray, threshold: float) -> dict:
    """Trigger decisions (score > threshold) of each side, and the events only one side passes."""
    a = np.asarray(software).ravel() > threshold
    b = np.asarray(firmware).ravel() > threshold
    return {
        "events": int(a.size),
        "float": int(a.sum()),
        "firmware": int(b.sum()),
        "gained": int((b & ~a).sum()),
        "lost": int((a & ~b).sum()),
    }


@dataclass
class BdtValidation:
    comparisons: list[OutputComparison]
    flips: dict[str, int]  # sample -> events whose decision (score > threshold) differs, xgboost vs HLS csim
    threshold: float | None
    passed: bool
    precision: str
    events: dict[str, int]  # sample -> events compared (GHDL: see the ghdl comparisons' own counts)
    quantization: dict[str, dict] = field(default_factory=dict)  # sample -> input rounding/overflow counts
    # sample -> {"events", "float", "firmware", "gained", "lost"}: decisions above the threshold of float
    # xgboost and of the firmware, and the events each side alone passes (the quantization's physics cost)
    decisions: dict[str, dict] = field(default_factory=dict)
    throughput: dict[str, float] = field(default_factory=dict)  # emulator -> events per second

    @property
    def total_flips(self) -> int:
        return sum(self.flips.values())

    @property
    def failures(self) -> list[str]:
        return [c.name for c in self.comparisons if not c.ok]

    def to_dict(self) -> dict:
        return {
            "kind": "bdt",
            "passed": self.passed,
            "precision": self.precision,
            "threshold": self.threshold,
            "events": self.events,
            "flips": self.flips,
            "total_flips": self.total_flips,
            "quantization": self.quantization,
            "decisions": self.decisions,
            "throughput": self.throughput,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


def _check_samples(samples: dict, n_features: int, limit: int) -> dict[str, np.ndarray]:
    if not samples:
        raise DataError("no samples to validate the BDT on")
    out = {}
    for name, x in samples.items():
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != n_features:
            raise DataError(f"sample '{name}': the BDT takes (events, {n_features}) inputs, got {x.shape}")
        if np.isnan(x).any():
            raise DataError(f"sample '{name}': NaN inputs; the firmware has no NaN")
        # xgboost reads float32; every model here sees the same float32 values.
        out[name] = x[:limit].astype(np.float32) if limit > 0 else x.astype(np.float32)
    return out


def _timed(rates: dict, key: str, fn, X):
    t = time.perf_counter()
    y = fn(X)
    dt = time.perf_counter() - t
    n, prev_n, prev_t = len(X), *rates.get(key, (0, 0.0))
    rates[key] = (prev_n + n, prev_t + dt)
    return y


def validate_bdt(
    project,
    model_dir: Path,
    fw_dir: Path,
    samples: dict[str, np.ndarray],
    threshold: float | None,
    emulators: tuple[str, ...] = EMULATORS,
    ghdl_events: int = 300,
) -> BdtValidation:
    """Validate a converted BDT on preprocessed inputs; see the module docstring for what is compared.

    Each sample is cut to project.validation.events (0: all). emulators picks among hls, cpp and ghdl.
    """
    import conifer
    import xgboost as xgb

    from l1ml.emulate.bdt_fixed import Precisions, decision_function_fixed
    from l1ml.emulate.conifer_sim import CppBackend, GhdlSim, HlsCsim
    from l1ml.firmware.conifer import load_booster
    from l1ml.fixed import lsb_of
    from l1ml.project import read_json

    unknown = set(emulators) - set(EMULATORS)
    if unknown:
        raise ConfigError(f"unknown BDT emulator(s) {sorted(unknown)}; valid: {', '.join(EMULATORS)}")
    fw_dir = Path(fw_dir)
    cm_file = fw_dir / "conifer_model.json"
    if not cm_file.is_file():
        raise ConfigError(f"no {cm_file}: this firmware directory holds no conifer BDT; run `l1ml convert`")
    cm = read_json(cm_file)
    prec = Precisions.from_config(cm.get("config"))
    precision = cm["config"].get("score_precision") or cm["config"].get("precision")
    wanted = project.firmware.precision
    fw_man = read_json(fw_dir / "manifest.json") if (fw_dir / "manifest.json").is_file() else {}
    # A chosen precision (l1ml/firmware/bdt_precision.py) answers the request it was chosen for.
    made_for = fw_man.get("precision_requested", precision)
    if wanted and wanted.replace(" ", "") != str(made_for).replace(" ", ""):
        raise ConfigError(
            f"{cm_file} was converted at {precision} but the project asks for {wanted};"
            " run `l1ml convert` again"
        )
    booster = load_booster(model_dir)
    data = _check_samples(samples, int(cm["n_features"]), project.validation.events)
    float_model = conifer.model.load_model(
        str(cm_file), new_config={"backend": "python", "output_dir": str(fw_dir), "project_name": "float"}
    )

    rates: dict[str, tuple[int, float]] = {}
    ems = {}
    if "hls" in emulators:
        ems["hls_csim"] = HlsCsim(fw_dir / "conifer_hls")
    tmp = tempfile.TemporaryDirectory(prefix="l1ml-bdt-")
    try:
        if "cpp" in emulators:
            ems["cpp"] = CppBackend(cm_file, Path(tmp.name))
    finally:
        tmp.cleanup()  # the C++ backend has read its trees by now
    ghdl = GhdlSim(fw_dir / "conifer_vhdl", str(prec.input)) if "ghdl" in emulators else None

    lsb = lsb_of(str(precision))
    comparisons, flips, quant, events, decisions = [], {}, {}, {}, {}
    ghdl_in, ghdl_ref, ghdl_names = [], [], []
    for name, X in data.items():
        events[name] = len(X)
        margin = booster.predict(xgb.DMatrix(X), output_margin=True).astype(np.float64)
        flt = np.asarray(float_model.decision_function(X.astype(np.float64)), dtype=np.float64).reshape(
            margin.shape
        )
        ref = _timed(rates, "numpy_reference", lambda x: decision_function_fixed(cm, x), X)
        c = compare(f"{name}/float_vs_xgboost", margin, flt, lsb=FLOAT_TOLERANCE, tolerance_lsb=1.0)
        # float32 (xgboost) and float64 (conifer) sums are never bit-identical: a mismatch here is an
        # event beyond the 1e-5 tolerance; max_diff and frac_identical keep the raw picture.
        beyond = int((np.abs(margin - flt) > FLOAT_TOLERANCE).sum() + np.isnan(flt).sum())
        comparisons.append(dataclasses.replace(c, mismatches=beyond))
        comparisons.append(compare(f"{name}/quantization", flt, ref, lsb=lsb, informative=True))
        xq = prec.input.quantize(X)
        s_lo, s_hi = prec.score.v_min * prec.score.lsb, prec.score.v_max * prec.score.lsb
        quant[name] = {
            "events_with_rounded_inputs": int((xq != X).any(axis=1).sum()),
            "events_with_inputs_out_of_range": int((np.abs(xq - X) >= prec.input.lsb).any(axis=1).sum()),
            # the float score beyond the score type: the firmware's sum wraps or saturates there
            "events_with_score_out_of_range": int(((flt < s_lo) | (flt > s_hi)).sum()),
        }
        for em_name, em in ems.items():
            y = _timed(rates, em_name, em.decision_function, X)
            comparisons.append(compare(f"{name}/{em_name}", ref, y, lsb=lsb, tolerance_lsb=0))
            if em_name == "hls_csim" and threshold is not None:
                flips[name] = flipped_decisions(margin, y, threshold)
                decisions[name] = decision_changes(margin, y, threshold)
        if threshold is not None and "hls_csim" not in ems:
            flips[name] = flipped_decisions(margin, ref, threshold)
            decisions[name] = decision_changes(margin, ref, threshold)
        if ghdl is not None:
            ghdl_in.append(X[:ghdl_events])
            ghdl_ref.append(ref[:ghdl_events])
            ghdl_names.append(name)
    if ghdl is not None:
        # One simulator launch for every sample: elaboration costs more than a few hundred events.
        y = _timed(rates, "ghdl", ghdl.decision_function, np.concatenate(ghdl_in))
        start = 0
        for name, r in zip(ghdl_names, ghdl_ref, strict=True):
            comparisons.append(
                compare(f"{name}/ghdl", r, y[start : start + len(r)], lsb=lsb, tolerance_lsb=0)
            )
            start += len(r)
    return BdtValidation(
        comparisons=comparisons,
        flips=flips,
        threshold=threshold,
        passed=all(c.ok for c in comparisons),
        precision=str(precision),
        events=events,
        quantization=quant,
        decisions=decisions,
        throughput={k: n / t for k, (n, t) in rates.items() if t > 0},
    )
