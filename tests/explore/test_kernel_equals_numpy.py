"""explore on the compiled kernel equals explore on the numpy emulator on every point of a small grid:
the same scores, the same outputs on the validation events, the same overflow counts per layer and word
(a grid that saturates the score and wraps the hidden layers, so the counts are not all zero)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hls4ml")

GRID = """\
LayerType:
  Dense:
    Precision:
      result: ["ap_fixed<16,6>", "ap_fixed<7,2>"]
Score:
  Precision:
    result: ["ap_fixed<56,26>", "ap_fixed<10,2,AP_TRN,AP_SAT>"]
"""


def test_kernel_equals_numpy_on_every_point(trained, tmp_path, monkeypatch):
    from l1ml.emulate.nn_fixed import NNEmulator
    from l1ml.explore.grid import Point, load_grid, points
    from l1ml.explore.sweep import (
        emulate_point,
        layer_roles,
        make_context,
        point_graph,
        point_kernel,
        point_overrides,
        point_project,
    )

    monkeypatch.setenv("L1ML_CACHE_DIR", str(tmp_path / "cache"))
    grid = tmp_path / "grid.yml"
    grid.write_text(GRID)
    ctx = make_context(trained, "v1", 0)
    model_dir = trained.model_dir("v1")
    inp, score = layer_roles(model_dir / ctx.man["deploy_file"])
    pts = [Point({})] + points(load_grid(grid), str(grid), inp, score)
    assert len(pts) == 5
    words = set()
    for pt in pts:
        emu = NNEmulator(point_graph(ctx, point_project(trained, pt), point_overrides(trained, pt)))
        kernel, how = point_kernel(emu)
        assert kernel is not None, how  # the dense AE is described: the comparison is not vacuous
        want = emulate_point(ctx, emu)
        got = emulate_point(ctx, emu, kernel)
        for k in want[0]:
            assert np.array_equal(got[0][k], want[0][k]), (pt.name, k)
        for a, b in zip(got[1], want[1], strict=True):
            assert np.array_equal(np.concatenate(a), np.concatenate(b)), pt.name
        assert got[2] == want[2], pt.name
        assert got[3] == want[3]
        words |= {w for c in want[2].values() for w in c}
    assert words == {"wrapped", "saturated"}  # both kinds of overflow were counted and compared
