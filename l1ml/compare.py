"""Software-versus-firmware comparison, shared by the network and BDT validation paths.

A difference is measured in LSBs of the firmware's output type: bit-exactness means 0 LSB, which is a
plain equality test on the values. Quantization error (float model against fixed-point firmware) is
reported with the same shape but never fails a validation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class OutputComparison:
    name: str  # e.g. "score", "output[12]", "Ato4l/score"
    events: int
    mismatches: int
    max_diff: float  # in output units
    max_diff_lsb: float
    frac_identical: float
    lsb: float
    tolerance_lsb: float
    informative: bool = False  # quantization error: shown, never fails

    @property
    def ok(self) -> bool:
        return self.informative or self.max_diff_lsb <= self.tolerance_lsb

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def compare(
    name: str, software, firmware, lsb: float, tolerance_lsb: float = 0, informative: bool = False
) -> OutputComparison:
    """Compare two arrays of one output over events. Equality is exact (np.array_equal per element)."""
    sw = np.asarray(software, dtype=np.float64).ravel()
    fw = np.asarray(firmware, dtype=np.float64).ravel()
    if sw.shape != fw.shape:
        raise ValueError(f"{name}: software has {sw.size} values, firmware {fw.size}")
    if lsb <= 0:
        raise ValueError(f"{name}: LSB must be positive, got {lsb}")
    diff = np.abs(sw - fw)
    # NaN on either side is never identical: treat it as an infinite difference.
    diff = np.where(np.isnan(diff), np.inf, diff)
    identical = sw == fw
    n = sw.size
    max_diff = float(diff.max()) if n else 0.0
    return OutputComparison(
        name=name,
        events=n,
        mismatches=int(n - identical.sum()),
        max_diff=max_diff,
        max_diff_lsb=max_diff / lsb,
        frac_identical=float(identical.mean()) if n else 1.0,
        lsb=float(lsb),
        tolerance_lsb=float(tolerance_lsb),
        informative=informative,
    )


def flipped_decisions(software_score, firmware_score, threshold: float) -> int:
    """Events whose trigger decision (score > threshold) differs between software and firmware."""
    sw = np.asarray(software_score).ravel() > threshold
    fw = np.asarray(firmware_score).ravel() > threshold
    return int((sw != fw).sum())
