"""Firmware generation: thin adapters over hls4ml (networks) and conifer (BDTs).

`convert` is the one entry point: it picks the converter by the model's kind and writes the firmware
directory's manifest, which links back to the model version it was made from.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

NETWORK_KINDS = ("dense_ae", "cnn_ae", "vae")


def _network(project, model_dir: Path, out_dir: Path, progress) -> dict:
    from l1ml.firmware.hls4ml import convert_network

    return convert_network(project, model_dir, out_dir, progress)


def _bdt(project, model_dir: Path, out_dir: Path, progress) -> dict:
    from l1ml.errors import L1mlError

    try:
        from l1ml.firmware.conifer import convert_bdt
    except ImportError as exc:
        raise L1mlError(
            f"BDT conversion is not available in this checkout (l1ml.firmware.conifer: {exc})"
        ) from None
    return convert_bdt(project, model_dir, out_dir)


CONVERTERS = {**{k: _network for k in NETWORK_KINDS}, "bdt": _bdt}


def convert(project, version: str | None = None, progress=None) -> dict:
    """Convert a model version (default: the newest) into projects/NAME/build/firmware/<version>/;
    returns the firmware manifest (also written there as manifest.json)."""
    from l1ml import manifest
    from l1ml.errors import ConfigError
    from l1ml.firmware.boards import project_board
    from l1ml.project import read_json

    model_dir = project.model_dir(version)
    mfile = model_dir / "manifest.json"
    man = read_json(mfile)
    kind = man.get("kind")
    if kind not in CONVERTERS:
        raise ConfigError(f"{mfile}: kind '{kind}' has no converter; known kinds: {', '.join(CONVERTERS)}")
    board = project_board(project)
    out_dir = project.firmware_dir(model_dir.name)
    # Everything is written into a hidden staging directory beside the versions and renamed into place only
    # when complete: a refused or crashed conversion leaves no firmware behind (as training does).
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".staging-{model_dir.name}-", dir=out_dir.parent))
    try:
        fields = CONVERTERS[kind](project, model_dir, stage, progress)
        fw = {
            **fields,  # the converter's own fields first: the keys below are the contract's and win
            "version": model_dir.name,
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
        manifest.write_json(stage / "manifest.json", fw)
        # After the manifest: the emulator that computes the expected outputs finds the model through it.
        from l1ml.firmware.tbdata import write_testbench_data

        fw["testbench"] = write_testbench_data(project, model_dir, stage, kind)
        repoint(stage, out_dir)
        if (fw.get("hashes") or {}).get("conifer_model"):  # repoint rewrote its output_dir
            fw["hashes"]["conifer_model"] = manifest.sha256(stage / "conifer_model.json")
        manifest.write_json(stage / "manifest.json", fw)
        publish(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return fw


# Text files hls4ml and conifer write with their output directory in them (hls4ml_config.yml's OutputDir,
# conifer_model.json's output_dir): they must name the published directory, not the staging one.
_PATH_FILES = ("*.yml", "*.json", "*.tcl", "*.sh")


def repoint(stage: Path, final: Path) -> None:
    old, new = str(stage), str(final)
    for pattern in _PATH_FILES:
        for f in stage.rglob(pattern):
            text = f.read_text(errors="surrogateescape")
            if old in text:
                f.write_text(text.replace(old, new), errors="surrogateescape")


def publish(stage: Path, final: Path) -> None:
    """Put the complete staging directory at `final`; an older conversion there is removed only after."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
    os.rename(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
