"""Firmware variants: different settings make different variants, both kept; the same settings reuse one;
firmware_dir follows the active variant; a flat (pre-variant) layout still reads and is moved aside."""

from __future__ import annotations

import json

import pytest
from explore_helpers import with_hls_config
from typer.testing import CliRunner

from l1ml.cli.main import app
from l1ml.errors import ConfigError

OVERRIDE = """\
LayerName:
  enc_1_dense:
    Precision:
      result: ap_fixed<12,6>
"""


@pytest.mark.slow
def test_two_settings_two_variants_same_settings_one(trained):
    from l1ml.emulate.nn_project import emulate_project
    from l1ml.firmware import convert
    from l1ml.layout import variants, version_root

    root = version_root(trained, "v1")
    # the project is the directory's (session) fixture: explore's tests may have kept variants already
    before = {r["id"] for r in variants(root)}
    a = convert(trained, "v1")
    assert trained.firmware_dir("v1") == root / a["variant"]
    again = convert(trained, "v1")
    assert again["reused"] is True and again["variant"] == a["variant"] and again["created"] == a["created"]
    assert {r["id"] for r in variants(root)} == before | {a["variant"]}

    other = with_hls_config(trained, OVERRIDE)
    b = convert(other, "v1", label="narrow")
    assert b["variant"] != a["variant"]
    ids = {r["id"] for r in variants(root)}
    assert ids == before | {a["variant"], b["variant"]}
    for vid in (a["variant"], b["variant"]):  # both complete on disk, each naming its own directory
        d = root / vid
        assert json.loads((d / "manifest.json").read_text())["variant"] == vid
        assert str(d) in (d / "hls4ml" / "hls4ml_config.yml").read_text()
    assert "ap_fixed<12,6>" in (root / b["variant"] / "hls4ml" / "firmware" / "defines.h").read_text()
    assert "ap_fixed<12,6>" not in (root / a["variant"] / "hls4ml" / "firmware" / "defines.h").read_text()
    # the last converted is active; the others are reachable by id, prefix or label
    assert trained.firmware_dir("v1") == root / b["variant"]
    assert trained.firmware_dir("v1", a["variant"][:6]) == root / a["variant"]
    assert trained.firmware_dir("v1", "narrow") == root / b["variant"]
    with pytest.raises(ConfigError, match="not found.*variants:"):
        trained.firmware_dir("v1", "nosuch")
    with pytest.raises(ConfigError, match="already names"):
        convert(trained, "v1", label="narrow")

    # outputs record the variant they belong to
    out = emulate_project(trained, trained.resolve(trained.data.background), root.parent / "emu.h5", "v1")
    import h5py

    with h5py.File(out.out) as h:
        assert h.attrs["firmware_variant"] == b["variant"]

    runner = CliRunner()
    r = runner.invoke(app, ["firmware", "use", a["variant"], "-p", str(trained.path)])
    assert r.exit_code == 0, r.output
    assert trained.firmware_dir("v1") == root / a["variant"]
    r = runner.invoke(app, ["firmware", "list", "-p", str(trained.path), "--json"])
    assert r.exit_code == 0, r.output
    rows = {x["variant"]: x for x in json.loads(r.stdout)}
    assert set(rows) == before | {a["variant"], b["variant"]}
    assert rows[a["variant"]]["active"] and not rows[b["variant"]]["active"]
    assert rows[b["variant"]]["label"] == "narrow"
    assert rows[b["variant"]]["settings"]["hls_config"]["LayerName"]["enc_1_dense"]["Precision"]["result"] == "ap_fixed<12,6>"
    # never validated by `l1ml validate`; explore's tests in this directory may have predicted its verdict
    # (the same settings are one of their grid points, so the same variant id)
    assert rows[a["variant"]]["validation"]["state"] in ("not validated", "predicted pass")
    r = runner.invoke(app, ["firmware", "use", "nosuch", "-p", str(trained.path)])
    # one clear error (the CLI runner prints it and exits 2; CliRunner calls the app without it)
    assert isinstance(r.exception, ConfigError) and "variants:" in str(r.exception)


def test_flat_layout_reads_and_moves_aside(tmp_path):
    """A version converted before variants: firmware_dir gives vN itself; the first variant moves it to
    vN/legacy (repointed), overwriting nothing."""
    from l1ml import layout
    from l1ml.firmware import variants as var

    root = tmp_path / "build" / "firmware" / "v1"
    (root / "hls4ml").mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"version": "v1", "strategy": "Latency"}))
    (root / "hls4ml" / "hls4ml_config.yml").write_text(f"OutputDir: {root}/hls4ml\nOther: {root}0/x\n")
    assert layout.resolve_dir(root) == root
    assert [r["id"] for r in layout.variants(root)] == [""]
    assert var.migrate_flat(root) == layout.LEGACY
    legacy = root / layout.LEGACY
    assert not (root / "manifest.json").exists() and (legacy / "manifest.json").is_file()
    text = (legacy / "hls4ml" / "hls4ml_config.yml").read_text()
    assert f"OutputDir: {legacy}/hls4ml" in text and f"Other: {root}0/x" in text  # v10 is not v1
    assert layout.resolve_dir(root) == legacy
    assert layout.variant_of(legacy) == layout.LEGACY


def test_variant_id_is_a_content_hash():
    from l1ml.firmware.variants import variant_id

    s = {"strategy": "Latency", "reuse_factor": 1, "hls_config": {"LayerName": {"a": {"Precision": "ap_fixed<8,3>"}}}}
    same = {"hls_config": {"LayerName": {"a": {"Precision": "ap_fixed<8,3>"}}}, "reuse_factor": 1, "strategy": "Latency"}
    assert variant_id(s) == variant_id(same) and len(variant_id(s)) == 10
    assert variant_id(s) != variant_id({**s, "reuse_factor": 2})


def test_broken_active_record_is_one_clear_error(tmp_path):
    from l1ml import layout

    root = tmp_path / "v1"
    root.mkdir()
    (root / "active.json").write_text(json.dumps({"variant": "0123456789"}))
    with pytest.raises(ConfigError, match="not in"):
        layout.resolve_dir(root)
