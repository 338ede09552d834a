"""Firmware generation: thin adapters over hls4ml (networks) and conifer (BDTs).

`convert` is the one entry point: it picks the converter by the model's kind and writes the firmware
directory's manifest, which links back to the model version it was made from.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from l1ml.firmware.staging import publish, repoint

NETWORK_KINDS = ("dense_ae", "cnn_ae", "vae")


def _network(project, model_dir: Path, out_dir: Path, progress, overrides=None) -> dict:
    from l1ml.firmware.hls4ml import convert_network

    return convert_network(project, model_dir, out_dir, progress, overrides=overrides)


def _bdt(project, model_dir: Path, out_dir: Path, progress, overrides=None) -> dict:
    from l1ml.errors import L1mlError

    try:
        from l1ml.firmware.conifer import convert_bdt
    except ImportError as exc:
        raise L1mlError(
            f"BDT conversion is not available in this checkout (l1ml.firmware.conifer: {exc})"
        ) from None
    return convert_bdt(project, model_dir, out_dir)


def _hgq2(project, model_dir: Path, out_dir: Path, progress, overrides=None) -> dict:
    from l1ml.firmware.hgq2 import convert_network  # the Keras 3 worker converts; its own tb data

    return convert_network(project, model_dir, out_dir, progress)


CONVERTERS = {**{k: _network for k in NETWORK_KINDS}, "bdt": _bdt, "hgq2_ae": _hgq2}

_UNSET = object()


def convert(
    project,
    version: str | None = None,
    progress=None,
    label: str | None = None,
    overrides=_UNSET,
    activate: bool = True,
    testbench: bool = True,
) -> dict:
    """Convert a model version (default: the newest) into a firmware variant,
    projects/NAME/build/firmware/<version>/<variant>/ (l1ml/firmware/variants.py); returns the firmware
    manifest (also written there as manifest.json). The same settings again reuse their variant (the
    returned manifest has "reused": true); different ones make a new variant, never overwriting another.

    `overrides`: hls4ml config overrides (Model/LayerName/LayerType) in place of the project's
    [firmware] hls_config file (explore passes each grid point's). `activate`: make the variant the
    version's active one, which `project.firmware_dir(version)` resolves to. `testbench`: write the
    testbench data (explore's unkept points skip it)."""
    from l1ml import layout, manifest
    from l1ml.errors import ConfigError
    from l1ml.firmware import variants as var
    from l1ml.firmware.boards import project_board
    from l1ml.project import read_json

    model_dir = project.model_dir(version)
    mfile = model_dir / "manifest.json"
    man = read_json(mfile)
    kind = man.get("kind")
    if kind not in CONVERTERS:
        raise ConfigError(f"{mfile}: kind '{kind}' has no converter; known kinds: {', '.join(CONVERTERS)}")
    if label is not None:
        var.check_label(label)
    board = project_board(project)
    ofile = None
    if overrides is _UNSET:
        overrides = None
        if kind in NETWORK_KINDS:
            from l1ml.firmware.overrides import load_overrides

            overrides, ofile = load_overrides(project)
    settings = var.settings_for(project, model_dir, kind, overrides)
    vid = var.variant_id(settings)
    root = layout.version_root(project, model_dir.name)
    out_dir = root / vid
    if (out_dir / "manifest.json").is_file() and (out_dir / layout.VARIANT_FILE).is_file():
        if label:
            var.set_label(root, vid, label)
        if activate:
            var.set_active(root, vid, "convert")
        return {**read_json(out_dir / "manifest.json"), "reused": True}
    root.parent.mkdir(parents=True, exist_ok=True)
    if label:  # refused now, before the slow conversion, if another variant has it
        for r in layout.variants(root):
            if r["id"] and r.get("label") == label:
                raise ConfigError(f"label '{label}' already names variant {r['id']} of {model_dir.name}")
    # Everything is written into a hidden staging directory beside the versions and renamed into place only
    # when complete: a refused or crashed conversion leaves no firmware behind (as training does).
    stage = Path(tempfile.mkdtemp(prefix=f".staging-{model_dir.name}-", dir=root.parent))
    try:
        fields = CONVERTERS[kind](project, model_dir, stage, progress, overrides=overrides)
        if kind in NETWORK_KINDS:
            fields["hls_config_file"] = str(ofile) if ofile else None
        fw = {
            **fields,  # the converter's own fields first: the keys below are the contract's and win
            "version": model_dir.name,
            "variant": vid,
            "kind": kind,
            "created": manifest.now(),
            "model_manifest": {
                "version": model_dir.name,
                "path": str(mfile),
                "sha256": manifest.sha256(mfile),
            },
            "board": board.to_dict(),
            "code_version": manifest.code_version(),
        }
        if kind in NETWORK_KINDS:
            fw["hls_overrides"] = overrides or {}
        manifest.write_json(stage / "manifest.json", fw)
        manifest.write_json(
            stage / layout.VARIANT_FILE,
            {"id": vid, "label": label, "version": model_dir.name, "settings": settings, "created": fw["created"]},
        )
        if testbench and "testbench" in fields:  # written by the converter (HGQ2: Keras 3's outputs)
            fw["testbench"] = fields["testbench"]
        elif testbench:
            # After the manifest: the emulator that computes the expected outputs finds the model through it.
            from l1ml.firmware.tbdata import write_testbench_data

            fw["testbench"] = write_testbench_data(project, model_dir, stage, kind)
        repoint(stage, out_dir)
        if (fw.get("hashes") or {}).get("conifer_model"):  # repoint rewrote its output_dir
            fw["hashes"]["conifer_model"] = manifest.sha256(stage / "conifer_model.json")
        manifest.write_json(stage / "manifest.json", fw)
        # Only now does the version directory appear: a refused conversion leaves no trace of it.
        root.mkdir(exist_ok=True)
        var.migrate_flat(root)  # a pre-variant conversion of this version moves aside, not overwritten
        publish(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if activate:
        var.set_active(root, vid, "convert")
    return fw
