"""Firmware generation: thin adapters over hls4ml (networks) and conifer (BDTs).

`convert` is the one entry point: it picks the converter by the model's kind and writes the firmware
directory's manifest, which links back to the model version it was made from.
"""

from __future__ import annotations

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
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = CONVERTERS[kind](project, model_dir, out_dir, progress)
    fw = {
        **fields,  # the converter's own fields first: the keys below are the contract's and win
        "version": model_dir.name,
        "kind": kind,
        "created": manifest.now(),
        "model_manifest": {"version": model_dir.name, "path": str(mfile), "sha256": manifest.sha256(mfile)},
        "board": board.to_dict(),
        "code_version": manifest.code_version(),
    }
    manifest.write_json(out_dir / "manifest.json", fw)
    # After the manifest: the emulator that computes the expected outputs finds the model through it.
    from l1ml.firmware.tbdata import write_testbench_data

    fw["testbench"] = write_testbench_data(project, model_dir, out_dir, kind)
    manifest.write_json(out_dir / "manifest.json", fw)
    return fw
