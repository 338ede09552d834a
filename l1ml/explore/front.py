"""The Pareto front of an explore run: each point's resource figure, and the points no other beats."""

from __future__ import annotations

# estimates named by their source (HGQ2 points): never put on one axis with another kind
NAMED_ESTIMATES = {"hgq2_ebops": "HGQ2 EBOPs (estimate)", "da4ml": "da4ml LUT estimate (DA kernels)"}


def resource_axis(rows) -> tuple[list[float | None], str]:
    """One resource figure per point: Yosys LUTs where every point has them, else the BOPs estimate, or for
    HGQ2 points their named estimate (figures of two kinds are never put on one axis)."""
    ok = [r for r in rows if "error" not in r]
    if not ok:
        return [None] * len(rows), "no resource figures (no point ran)"
    if ok and all(r["resources"]["source"] == "yosys" and r["resources"].get("lut") is not None for r in ok):
        return [
            r["resources"].get("lut") if "error" not in r else None for r in rows
        ], "LUT (Yosys, open-source RTL)"
    if any("figure" in r["resources"] for r in ok):
        # HGQ2 points (explore/hgq2.py): an axis only where every point has a figure of the same kind
        named = {r["resources"]["source"] for r in ok}
        if len(named) == 1 and all(r["resources"].get("figure") is not None for r in ok):
            (source,) = named
            return [r["resources"]["figure"] if "error" not in r else None for r in rows], NAMED_ESTIMATES[source]
        kinds = sorted({NAMED_ESTIMATES.get(s, "none") for s in named})
        return [None] * len(rows), f"no common resource estimate ({', '.join(kinds)})"
    vals = [
        (r.get("resources_estimate") or {}).get("bops_per_reuse") if "error" not in r else None for r in rows
    ]
    return vals, "estimated BOPs / reuse (not LUTs)"


def pareto(rows: list[dict]) -> set[int]:
    """Indices of the points no other point beats: at most the resources and at least the mean TPR at the
    target rate, better in one of them."""
    res, _ = resource_axis(rows)
    pts = [
        (r["index"], x, r["physics"]["mean_tpr"])
        for r, x in zip(rows, res, strict=True)
        if x is not None and "error" not in r and r["physics"].get("mean_tpr") is not None
    ]
    front = set()
    for i, x, y in pts:
        if not any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for _, x2, y2 in pts):
            front.add(i)
    return front
