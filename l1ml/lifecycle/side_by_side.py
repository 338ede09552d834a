"""Two versions side by side: every number of either, with the difference."""

from __future__ import annotations

from l1ml.lifecycle.summary import numbers, validation_state, version_summary


def compare_versions(project, a: str, b: str) -> dict:
    """{"a", "b", "rows": [{"name", "a", "b", "delta"}], "validation": {...}, "stages": {...}}; delta = a - b."""
    for v in (a, b):
        project.model_dir(v)
    sa, sb = version_summary(project, a), version_summary(project, b)
    na, nb = numbers(sa), numbers(sb)
    rows = []
    for name in sorted(set(na) | set(nb), key=order):
        x, y = na.get(name), nb.get(name)
        rows.append({"name": name, "a": x, "b": y, "delta": None if x is None or y is None else x - y})
    return {
        "a": a,
        "b": b,
        "rows": rows,
        "validation": {a: validation_state(sa), b: validation_state(sb)},
        "stages": {a: sa["stage"], b: sb["stage"]},
    }


def order(name: str):
    groups = ("auc/", "tpr_at_target_rate/", "tpr_at_fpr", "threshold", "emulated", "validation", "flips",
              "max_diff", "latency", "interval", "LUT", "FF", "DSP", "BRAM", "URAM", "rtl_", "deploy")  # fmt: skip
    return (next((i for i, g in enumerate(groups) if name.startswith(g)), len(groups)), name)
