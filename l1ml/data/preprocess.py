"""Preprocessing the firmware can do: per-input integer offsets and power-of-two shifts.

    x = (x_hw - offset) * 2**-shift

on the hardware integers. The multiply by 2**-shift only moves the binary point, so the result is exact
in a fixed-point type with `max(shift)` fractional bits: `input_precision()` gives that type, and the
network's input layer uses it. This is how the deployed AXOL1TL scales its inputs. Fitted once on the
background training split, saved with the model, and used by training, emulation and firmware alike.

pT offsets are held at zero so that padded slots (all-zero) keep pT == 0 after preprocessing, which is
what the on-chip padding mask reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l1ml.data import units
from l1ml.errors import ConfigError


@dataclass(frozen=True)
class Preprocessing:
    offsets: tuple[int, ...]
    shifts: tuple[int, ...]

    @classmethod
    def identity(cls, n: int = units.N_INPUTS) -> Preprocessing:
        return cls(offsets=(0,) * n, shifts=(0,) * n)

    @classmethod
    def fit(cls, hw: np.ndarray, kind: str = "shift") -> Preprocessing:
        """Offsets: the rounded mean over present objects. Shifts: bring the spread to about one unit."""
        if kind == "identity":
            return cls.identity(hw.shape[1])
        hw = np.asarray(hw, dtype=np.float64)
        present = (
            units.padding_mask(hw).astype(bool) if hw.shape[1] == units.N_INPUTS else np.ones_like(hw, bool)
        )
        offsets, shifts = [], []
        for j in range(hw.shape[1]):
            col = hw[present[:, j], j]
            if col.size == 0:
                offsets.append(0)
                shifts.append(0)
                continue
            off = 0 if j % units.N_FEATURES == 0 else int(np.round(col.mean()))
            spread = float(np.std(col - off)) or 1.0
            offsets.append(off)
            shifts.append(max(0, math.ceil(math.log2(spread))))
        return cls(offsets=tuple(offsets), shifts=tuple(shifts))

    def apply(self, hw: np.ndarray) -> np.ndarray:
        """(N, n) hardware integers -> (N, n) float32 network inputs, exactly representable.

        Padded slots stay exactly zero in every feature, because the firmware receives zeros there.
        """
        hw = np.asarray(hw)
        if hw.ndim != 2 or hw.shape[1] != len(self.offsets):
            raise ConfigError(f"preprocessing expects (events, {len(self.offsets)}) inputs, got {hw.shape}")
        off = np.asarray(self.offsets, dtype=np.float64)
        scale = 2.0 ** -np.asarray(self.shifts, dtype=np.float64)
        x = (hw.astype(np.float64) - off) * scale
        if hw.shape[1] == units.N_INPUTS:
            x = x * units.padding_mask(hw)
        return x.astype(np.float32)

    def input_precision(self) -> str:
        """The narrowest ap_fixed holding every preprocessed value of the hardware range exactly."""
        n = len(self.offsets)
        lo = units.HW_MIN[:n] if n == units.N_INPUTS else np.full(n, -units.PT_MAX_HW)
        hi = units.HW_MAX[:n] if n == units.N_INPUTS else np.full(n, units.PT_MAX_HW)
        off = np.asarray(self.offsets)
        sh = np.asarray(self.shifts)
        frac = int(sh.max())
        # Largest magnitude in integer LSB units of 2**-frac, over both ends of each input's range.
        mags = np.maximum(np.abs(hi - off), np.abs(lo - off)) * 2.0 ** (frac - sh)
        total = int(math.ceil(math.log2(mags.max() + 1))) + 1  # + sign bit
        return f"ap_fixed<{total},{total - frac}>"

    def to_dict(self) -> dict:
        return {"kind": "offset_shift", "offsets": list(self.offsets), "shifts": list(self.shifts)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "preprocessing") -> Preprocessing:
        try:
            off, sh = d["offsets"], d["shifts"]
        except (KeyError, TypeError):
            raise ConfigError(f"{where}: needs 'offsets' and 'shifts' lists") from None
        if len(off) != len(sh) or not all(isinstance(v, int) for v in [*off, *sh]) or min(sh, default=0) < 0:
            raise ConfigError(
                f"{where}: 'offsets' and 'shifts' must be integer lists of one length, shifts >= 0"
            )
        return cls(offsets=tuple(off), shifts=tuple(sh))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> Preprocessing:
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"preprocessing file {p} not found") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{p}: not valid JSON: {exc}") from None
        return cls.from_dict(d, str(p))
