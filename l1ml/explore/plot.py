"""Physics against resources for an explore run, with the Pareto front marked."""

from __future__ import annotations

from pathlib import Path

from l1ml.explore.front import pareto, resource_axis


def plot(result: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["points"]
    res, label = resource_axis(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    # The front drawn is of the points that would pass validation: a point whose firmware would not be
    # bit-exact is no choice to offer, however cheap (issue 30). Failing points are marked apart.
    passing = [r for r in rows if "error" not in r and r["validation"]["passed"]]
    front_of_passing = pareto(passing) if passing else set()
    xs, ys, front = [], [], []
    for r, x in zip(rows, res, strict=True):
        if x is None or "error" in r:
            continue
        y = r["physics"]["mean_tpr"]
        xs.append(x)
        ys.append(y)
        failed = not r["validation"]["passed"]
        ax.scatter(
            [x], [y], marker="x" if failed else "o", color="tab:red" if failed else "tab:blue", zorder=3
        )
        ax.annotate(str(r["index"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if r["index"] in front_of_passing:
            front.append((x, y))
    if front:
        front.sort()
        ax.plot(
            [p[0] for p in front],
            [p[1] for p in front],
            "-o",
            color="tab:green",
            mfc="none",
            ms=12,
            label="Pareto front (points that pass validation)",
            zorder=2,
        )
    sw = [r for r in rows if "error" not in r]
    if sw:
        sig = sw[0]["physics"]["signals"]
        ref = sum(s["tpr_software"] for s in sig.values()) / max(len(sig), 1)
        ax.axhline(ref, color="gray", ls="--", lw=1, label="software model")
    ax.scatter([], [], marker="x", color="tab:red", label="validation would fail")
    # Figures that differ by a fraction of a percent drawn on an axis spanning just them (with an offset)
    # look worlds apart: such an axis starts at zero, and never uses an offset.
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    if xs and max(xs) > 0 and max(xs) - min(xs) < 0.05 * max(xs):
        ax.set_xlim(0, 1.05 * max(xs))
    ax.set_xlabel(label)
    ax.set_ylabel(f"mean signal TPR at {result['target_rate_khz']:g} kHz")
    ax.set_title(f"{result['project']} {result['version']}: {Path(result['grid']).name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out
