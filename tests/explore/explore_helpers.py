"""Helpers for the explore and variant tests (a uniquely named module, not conftest imports)."""

from __future__ import annotations

from pathlib import Path

# A tiny dense AE, trained for one epoch on 3000 events per sample. The target rate is 286 kHz (FPR 1%)
# so that thresholds rest on ~30 background events of the small sample, not on its single highest one.
TINY = {
    "training.epochs": 1,
    "training.finetune_epochs": 1,
    "data.max_events": 3000,
    "validation.events": 200,
    "trigger.rate_khz": 286.0,
}

# Three precisions of the score (the layer the trigger cuts on), widest first: its exact type, one that
# saturates above the threshold, one that saturates below it.
SCORE_GRID = """\
# l1ml explore grid: the score's type, three ways
Score:
  Precision:
    result:
      - ap_fixed<56,26>
      - ap_fixed<14,4,AP_TRN,AP_SAT>
      - ap_fixed<10,2,AP_TRN,AP_SAT>
"""


def trained_project(tmp: Path, data: Path, **overrides):
    from _projects import project_on_data

    from l1ml.models.train import train_project
    from l1ml.project import load_project

    proj = load_project(project_on_data(tmp, "dense_ae", data, **{**TINY, **overrides}))
    train_project(proj)
    return proj


def with_hls_config(proj, doc: str, name: str = "overrides.yml"):
    """The same project (same model versions) with [firmware] hls_config pointing at a new file."""
    from dataclasses import replace

    f = proj.path / name
    f.write_text(doc)
    return replace(proj, firmware=replace(proj.firmware, hls_config=str(f)))
