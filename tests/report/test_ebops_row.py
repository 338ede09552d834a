"""The firmware table's EBOPs row (issue 28): an HGQ2 model's manifest keeps HGQ2's resource estimate
(`ebops`, written by l1ml/frontends/hgq2.py); the report shows it beside the other resource figures,
labelled as HGQ2's estimate, and a model without it gets no such row."""

from __future__ import annotations

import json

import pytest
from lifecycle_helpers import make_version
from report_browser import load_page

from l1ml.project import load_project
from l1ml.report.build import EBOPS_SOURCE, version_firmware_rows


def _summary(manifest: dict, rtl: dict | None = None) -> dict:
    return {"manifest": manifest, "synth": {}, "rtl": rtl, "estimate": None}


def test_ebops_row_from_the_manifest():
    rtl = {"tool": "yosys 0.23", "label": "open RTL", "lut": 990, "ff": 12, "dsp": 0, "bram": 0}
    rows = version_firmware_rows("v3", _summary({"kind": "hgq2_ae", "ebops": 4321}, rtl))
    assert [r["source"].split(":")[0] for r in rows] == ["yosys 0.23", "HGQ2 EBOPs"]
    eb = rows[1]
    assert eb["version"] == "v3" and eb["ebops"] == 4321
    assert (
        eb["source"] == EBOPS_SOURCE and "LUT + 55 × DSP" in eb["source"] and "not synthesis" in eb["source"]
    )
    assert "ebops" not in rows[0]
    # A zero estimate is still a figure to show; a model without `ebops` has no row for it.
    assert version_firmware_rows("v1", _summary({"kind": "hgq2_ae", "ebops": 0}))[0]["ebops"] == 0
    for man in ({"kind": "dense_ae"}, {}):
        assert all("ebops" not in r for r in version_firmware_rows("v1", _summary(man, rtl)))
    assert version_firmware_rows("v1", _summary({"kind": "dense_ae"})) == []


@pytest.fixture
def proj(tmp_path, monkeypatch):
    from _projects import make_project

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return load_project(make_project(tmp_path, "dense_ae"))


def test_ebops_row_in_the_page(proj, tmp_path):
    """The rendered table in headless Chromium: the value spans the resource columns of its own row."""
    from l1ml.report import build_report

    make_version(proj, "v1", rtl_lut=990)
    make_version(proj, "v2")
    f = proj.build_dir / "models" / "v2" / "manifest.json"
    f.write_text(json.dumps({**json.loads(f.read_text()), "kind": "hgq2_ae", "ebops": 12345}))
    fw = load_page(build_report(proj, "v1"), tmp_path / "ebops.png")["tables"]["firmware-table"]
    rows = [r for r in fw.splitlines()[1:] if r.strip()]
    ebops = [r for r in rows if "EBOPs" in r]
    assert len(ebops) == 1 and ebops[0].startswith("v2\tHGQ2 EBOPs: HGQ2's own resource estimate")
    assert ebops[0].endswith("\tEBOPs 12,345")
    assert any(r.startswith("v1\tyosys") for r in rows)
