"""Model versions made from files in the documented formats (docs/contracts.md), so the lifecycle can be
tested without training: manifest.json, metrics.json, the validation report, a queue step's summary.json
(produced by l1ml's own parser from real Vivado reports), and the contract files of issues 11 and 12,
which these helpers write in the format the brief documents (those issues are built in parallel)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENDOR = next(
    (p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if (p / "fixtures/vendor-reports").is_dir()),
    REPO.parent / "shared",
) / "fixtures" / "vendor-reports" / "vivado-2020.1"
SIGNALS = ("Ato4l", "leptoquark", "hToTauTau", "hChToTauNu")


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))


def make_version(proj, version: str, tpr: float = 0.5, passed: bool = True, toolchain: dict | None = None,
                 csynth: bool = False, lut_scale: float = 1.0, rtl_lut: int | None = None,
                 deploy: bool = False, above: int | None = 120,
                 tprs: dict | None = None) -> None:  # fmt: skip
    b = proj.build_dir
    m = b / "models" / version
    m.mkdir(parents=True, exist_ok=True)
    _write(m / "manifest.json", {
        "version": version, "kind": "dense_ae", "source": "train", "created": "2026-11-29T00:00:00+00:00",
        "model_file": "model.h5", "deploy_file": "deploy.h5", "preprocessing_file": "preprocessing.json",
        "threshold": 9.5, "hashes": {"model_file": "ab" * 32}, "data": {}, "code_version": "0.1.0+test",
    })  # fmt: skip
    _write(m / "metrics.json", {
        "background_events": 40000, "reference_fpr": 1e-5, "target_fpr": 3.5e-5, "target_rate_khz": 1.0,
        "threshold_reference": 10.0, "threshold": 9.5, "background_above_reference": 0,
        "background_above_threshold": 1, "achieved_rate_khz": 0.7,
        "signals": {s: {"events": 5000, "auc": 0.9, "tpr_at_reference_fpr": tpr - 0.1, "tpr_at_target_rate": tpr}
                    for s in SIGNALS},
    })  # fmt: skip
    _write(proj.firmware_dir(version) / "manifest.json", {"version": version, "kind": "dense_ae"})
    cmp = {"name": "score", "events": 500, "mismatches": 0 if passed else 3, "max_diff": 0.0 if passed else 0.002,
           "max_diff_lsb": 0.0 if passed else 2.0, "frac_identical": 1.0 if passed else 0.994, "lsb": 0.001,
           "tolerance_lsb": 0, "informative": False, "ok": passed}  # fmt: skip
    _write(b / "validation" / version / "report.json", {
        "project": proj.name, "version": version, "kind": "dense_ae", "passed": passed, "events": {"background": 100},
        "threshold": 9.5, "flips": {"background": 0 if passed else 1}, "comparisons": [cmp], "quantization": [],
        "first_divergence": None if passed else {"layer": "enc_1_dense", "events_compared": 100, "mismatches": 3,
                                                 "max_diff": 0.002, "types": {}},
        "cached_library": True, "details": {},
    })  # fmt: skip
    if above is not None:
        write_trigger(proj, version, {s: (tprs or {}).get(s, tpr) for s in SIGNALS}, above)
    if toolchain is not None:
        _write(b / "run" / version / "toolchain.json", toolchain)
    if csynth:
        summary = vendor_summary(proj, lut_scale)
        _write(b / "synth" / version / "csynth" / "summary.json", summary)
    if rtl_lut is not None:
        # Issue 12's contract, in the documented format.
        _write(proj.firmware_dir(version) / "rtl" / "resources.json", {
            "tool": "yosys 0.23", "flow": "synth_xilinx", "label": "open-source synthesis of the alkaid "
            "distributed-arithmetic design; not Vivado figures", "lut": rtl_lut, "ff": 900, "dsp": 0, "bram": 0,
            "logic_depth": 12, "latency_cycles": 4, "clock_ns": 4.0, "peak_memory_mb": 310.5, "seconds": 41.0,
        })  # fmt: skip
    if deploy:
        # Issue 11's contract, in the documented format.
        _write(b / "deploy" / version / "thresholds.json", {
            "score_type": "ap_fixed<18,8>", "colliding_rate_hz": 2544 * 11245.0, "background_events": 200000,
            "thresholds": [{"rate_khz": 1.0, "fpr": 3.497e-5, "threshold": 9.5, "threshold_int": 2432,
                            "events_above": 6, "rate_measured_khz": 0.858, "rate_err_khz": 0.35}],
        })  # fmt: skip


def write_trigger(proj, version: str, tprs: dict, above: int, events: int = 5000, n_rate: int = 3_000_000):
    """The rate step's trigger record (l1ml/models/threshold.py), built by its own code from counts."""
    import numpy as np

    from l1ml import layout
    from l1ml.models.threshold import binomial_interval

    hz = proj.colliding_rate_hz
    lo, hi = binomial_interval(above, n_rate)
    sigs = {}
    for s, t in tprs.items():
        k = int(round(t * events))
        a, z = binomial_interval(k, events)
        sigs[s] = {"events": events, "passed": k, "tpr": k / events, "tpr_low": a, "tpr_high": z}
    entry = {"fpr": proj.trigger_fpr, "rate_khz": 1.0, "threshold_int": 2432, "threshold": 9.5,
             "events_above": above, "fraction": above / n_rate, "rate_measured_khz": above / n_rate * hz / 1e3,
             "rate_low_khz": lo * hz / 1e3, "rate_high_khz": hi * hz / 1e3,
             "enough": above >= proj.trigger.min_events_above, "signals": sigs}  # fmt: skip
    _write(layout.trigger_file(proj, version), {
        "version": version, "variant": None, "score_type": "ap_fixed<18,8>", "score_frac": 8,
        "colliding_rate_hz": hz, "min_events_above": proj.trigger.min_events_above, "confidence": 0.6827,
        "rate_sample": {"files": ["rate_sample.h5"], "events": n_rate, "separate": True},
        "target_rate_khz": 1.0, "thresholds": [entry], "reference": None,
    })  # fmt: skip
    assert np.isfinite(lo)


def vendor_summary(proj, lut_scale: float = 1.0) -> dict:
    """summary.json as the queue worker files it: l1ml.plan.summarize over the real Vivado 2020.1
    reports laid out as in an hls4ml project; lut_scale > 1 rewrites the LUT count in the XML."""
    from l1ml.firmware.vendor_reports import board_resources
    from l1ml.plan import summarize

    src = proj.build_dir / ".vendor" / f"{lut_scale}"
    rep = src / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True, exist_ok=True)
    xml = (VENDOR / "myproject_csynth.xml").read_text()
    if lut_scale != 1.0:
        xml = xml.replace("<LUT>2532</LUT>", f"<LUT>{round(2532 * lut_scale)}</LUT>", 1)
    (rep / "myproject_csynth.xml").write_text(xml)
    shutil.copy(VENDOR / "myproject_csynth.rpt", rep)
    shutil.copy(VENDOR / "vivado_hls.app", src / "myproject_prj")
    return summarize(src, "csynth", board_resources("vu9p"))


def write_scores(proj, version: str, shift: float, seed: int = 0, n: int = 20000) -> None:
    """The rate step's outputs (emulation/vN/scores.npz and rate.json) for made-up score distributions."""
    import numpy as np

    rng = np.random.default_rng(seed)
    scores = {"background": rng.exponential(1.0, n)}
    for i, s in enumerate(SIGNALS):
        scores[s] = rng.exponential(1.0 + shift * (i + 1), n // 4)
    d = proj.build_dir / "emulation" / version
    d.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(d / "scores.npz", **scores)
    thr = 9.5
    fired = int((scores["background"] > thr).sum())
    hz = proj.colliding_rate_hz
    _write(d / "rate.json", {"version": version, "background_events": n, "threshold": thr, "fired": fired,
                             "rate_khz": fired / n * hz / 1e3, "rate_err_khz": max(fired, 1) ** 0.5 / n * hz / 1e3,
                             "target_rate_khz": 1.0, "colliding_rate_hz": hz})  # fmt: skip
