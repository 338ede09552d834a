"""Fixtures for the ROOT-input tests: L1-ntuple files written with uproot, and one small project trained
on them (format = "l1ntuple") and converted, shared by the session. Helpers: rootdata_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from rootdata_helpers import hw_events, write_l1ntuple  # noqa: E402

pytest.importorskip("uproot")


@pytest.fixture(scope="session")
def zb_files(tmp_path_factory):
    """Three ZeroBias-like files (3000, 2500, 3500 events) and one signal file; with the hardware units
    each must read back as (the independent reference of rootdata_helpers)."""
    d = tmp_path_factory.mktemp("ntuples")
    (d / "zb").mkdir()
    (d / "sig").mkdir()
    expected = {}
    for k, n in enumerate((3000, 2500, 3500)):
        p = d / "zb" / f"L1Ntuple_{k + 1}.root"
        expected[p] = write_l1ntuple(p, hw_events(n, 100 + k), seed=k)
    p = d / "sig" / "Ato4l.root"
    expected[p] = write_l1ntuple(p, hw_events(1500, 200, "Ato4l"), seed=9)
    return d, expected


@pytest.fixture(scope="session")
def root_project(tmp_path_factory, zb_files):
    """A dense AE trained briefly on the ROOT files (a bounded sample) and converted to firmware."""
    from _projects import make_project

    from l1ml.firmware import convert
    from l1ml.models.train import train_project
    from l1ml.project import load_project

    d, _ = zb_files
    tmp = tmp_path_factory.mktemp("rootproj")
    path = make_project(
        tmp,
        "dense_ae",
        **{
            "data.format": "l1ntuple",
            "data.synthetic": False,
            "data.background": str(d / "zb" / "*.root"),
            "data.signals": {"Ato4l": str(d / "sig" / "Ato4l.root")},
            "data.rate_sample": str(d / "zb" / "*.root"),
            "data.sample_events": 5000,
            "model.hidden": [16],
            "model.latent": 4,
            "training.epochs": 1,
            "training.finetune_epochs": 1,
        },
    )
    proj = load_project(path)
    train_project(proj)
    convert(proj)
    return proj
