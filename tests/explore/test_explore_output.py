"""What `l1ml explore` shows people (issue 30): a table that keeps the signal names on a narrow terminal
(short tags with a legend), and a plot whose x-axis does not blow up differences of a fraction of a
percent, whose failing points are marked, and whose Pareto front is drawn from passing points only."""

from __future__ import annotations

import json

import pytest
from explore_helpers import SCORE_GRID
from typer.testing import CliRunner

from l1ml.cli.main import app


@pytest.mark.slow
def test_table_and_plot_for_people(trained, tmp_path, monkeypatch):
    import matplotlib.figure

    grid = tmp_path / "scan.yml"
    grid.write_text(SCORE_GRID)
    figures = []
    save = matplotlib.figure.Figure.savefig

    def keep(fig, *a, **kw):
        figures.append(fig)
        return save(fig, *a, **kw)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    args = ["explore", "-p", str(trained.path), "-m", "v1", "--grid", str(grid)]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "100"}, terminal_width=100)
    assert r.exit_code == 0, r.output
    assert "…" not in r.output, r.output
    legend = next(ln for ln in r.output.splitlines() if ln.startswith("signals:"))
    for tag, name in enumerate(("Ato4l", "leptoquark", "hToTauTau", "hChToTauNu"), 1):
        assert f"S{tag} {name}" in legend, legend

    res = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    (fig,) = figures[:1]
    ax = fig.axes[0]
    xs = [
        p["resources"]["bops_per_reuse"] for p in res["points"]
    ]  # the estimate: the score's width barely moves it
    assert (max(xs) - min(xs)) < 0.05 * max(xs)
    lo, hi = ax.get_xlim()
    assert lo <= 0 < max(xs) <= hi, (lo, hi, xs)
    assert ax.xaxis.get_major_formatter().get_offset() == ""
    passing = {p["index"] for p in res["points"] if p["validation"]["passed"]}
    failing = [p for p in res["points"] if not p["validation"]["passed"]]
    assert passing and failing
    front = next(ln for ln in ax.get_lines() if ln.get_label().startswith("Pareto front"))
    passing_x = {p["resources"]["bops_per_reuse"] for p in res["points"] if p["index"] in passing}
    assert set(front.get_xdata()) <= passing_x, (front.get_xdata(), passing_x)
