"""Exact integer matrix products on BLAS: the multiply-accumulate of Dense and Conv layers.

The codes are integers. An integer product or sum is exact in floating point as long as every partial
result stays below 2**24 (float32) or 2**53 (float64): then no rounding ever happens, whatever order or
FMA the BLAS kernel uses. numpy's int64 matmul is exact too, but has no BLAS behind it and is many times
slower, so it serves here only as the reference (`reference_int64`) the fast paths are tested against.

`ExactGemm` picks the cheapest exact type:
- float32 for every batch when the layer's type bounds prove |x| * max_j sum_i |w_ij| < 2**24;
- otherwise float32 for a batch whose own largest |code| proves the same (one min/max pass over the
  batch, half the price of the float64 product it saves), else float64;
- a layer whose bound reaches 2**53 is refused (UnsupportedError), never approximated.
"""

from __future__ import annotations

import numpy as np

from l1ml.fixed import EXACT_LIMIT, Bounds, UnsupportedError

F32_LIMIT = 2.0**24  # float32 holds every integer of magnitude <= 2**24 exactly


class ExactGemm:
    """x @ w for integer-valued float arrays, exact; `w` integer-valued (n_in, n_out)."""

    def __init__(self, w: np.ndarray, x_maxabs: float, where: str = "dense"):
        w = np.asarray(w, dtype=np.float64)
        if not np.array_equal(w, np.round(w)):
            raise ValueError(f"{where}: ExactGemm needs integer weights")
        self.w64 = np.ascontiguousarray(w)
        # The largest sum of |weights| into one output: every partial sum of a column is at most this
        # times the largest |x|.
        self.colsum = float(np.abs(w).sum(axis=0).max()) if w.size else 0.0
        bound = self.colsum * float(x_maxabs)
        if bound >= EXACT_LIMIT:
            raise UnsupportedError(
                f"{where}: sums of products can reach 2**{np.log2(bound):.1f}, beyond the 2**53 float64 "
                "holds exactly; the batch emulator cannot reproduce this layer"
            )
        fits32 = self.colsum < F32_LIMIT
        self.w32 = w.astype(np.float32) if fits32 else None
        self.always32 = fits32 and bound < F32_LIMIT and float(x_maxabs) < F32_LIMIT

    def path(self, x: np.ndarray) -> str:
        """'float32' or 'float64': the type a product of batch `x` runs in (for tests and reports)."""
        return "float32" if self._x32(x) is not None else "float64"

    def _x32(self, x: np.ndarray) -> np.ndarray | None:
        if self.always32:
            return x.astype(np.float32, copy=False)
        if self.w32 is None or len(x) == 0:
            return None
        x32 = x.astype(np.float32)
        # Rounding to float32 is monotone, so a max below 2**24 here means x itself is below 2**24 and
        # converted exactly; then |x| * colsum bounds every partial sum.
        m = max(-float(x32.min()), float(x32.max()))
        if m < F32_LIMIT and m * self.colsum < F32_LIMIT:
            return x32
        return None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x32 = self._x32(x)
        if x32 is not None:
            return (x32 @ self.w32).astype(np.float64)
        return x.astype(np.float64, copy=False) @ self.w64


def reference_int64(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w in int64 (numpy's own loop, no BLAS): exact below 2**63, the reference for ExactGemm."""
    xi, wi = np.asarray(x).astype(np.int64), np.asarray(w).astype(np.int64)
    bound = Bounds(0, float(np.abs(wi).sum(axis=0).max(initial=0)) * float(np.abs(xi).max(initial=0)))
    if bound.hi >= 2.0**63:
        raise OverflowError("int64 reference: sums reach 2**63")
    return xi @ wi
