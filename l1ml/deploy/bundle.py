"""The board bundle: what goes to the trigger board, in one tar.gz whose manifest ties every file (by
sha256) to the model version, the data it was made from and the toolchain versions.

    <name>_bundle/manifest.json      files {path: sha256}, model version, data hashes, toolchain, forced
                  metadata.json  thresholds.json  symbol_audit.json
                  hls/               the hls4ml project, or conifer's HLS and VHDL projects
                  ip/                exported IP, where a synthesis run (--synth) produced one
                  synthesis/         the queue's parsed summary.json (--synth), open-RTL resources.json
                  validation/        report.json, junit.xml, differences.png of `l1ml validate`

`verify` re-reads a bundle: every file listed with its hash, nothing unlisted, nothing unsafe.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata as im
from pathlib import Path

from l1ml import layout
from l1ml.errors import L1mlError

SKIP = {"__pycache__", ".git", "xsim.dir"}


class VerifyFailed(L1mlError):
    """A bundle's files do not match its manifest."""


def toolchain() -> dict:
    tools = {"python": sys.version.split()[0]}
    for pkg in ("hls4ml", "conifer", "xgboost", "qkeras", "tensorflow", "numpy", "l1ml"):
        try:
            tools[pkg] = im.version(pkg)
        except im.PackageNotFoundError:
            tools[pkg] = None
    for exe in ("g++", "make"):
        try:
            r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20)
            tools[exe] = r.stdout.splitlines()[0].strip() if r.returncode == 0 and r.stdout else None
        except (OSError, subprocess.TimeoutExpired):
            tools[exe] = None
    return tools


def _copytree(src: Path, dest: Path) -> None:
    shutil.copytree(
        src, dest, ignore=lambda d, names: [n for n in names if n in SKIP or n.endswith("_prj")], symlinks=False
    )


def _exported_ip(synth_dir: Path) -> list[Path]:
    """Vivado/Vitis export_design results inside a fetched synthesis result."""
    found = sorted(synth_dir.rglob("impl/ip/*.zip")) + sorted(synth_dir.rglob("impl/export.zip"))
    return [p for p in found if p.is_file()]


def write_bundle(project, spec, stage: Path, fw_dir: Path, fw_man: dict, model_man: dict, validation,
                 synth_dir: Path | None, audit: dict, forced: bool) -> Path:
    from l1ml import manifest

    root = stage / f"{spec.name}_bundle"
    root.mkdir()
    hls = root / "hls"
    if spec.kind == "bdt":
        for sub in ("conifer_hls", "conifer_vhdl"):
            if (fw_dir / sub).is_dir():
                _copytree(fw_dir / sub, hls / sub)
        if (fw_dir / "conifer_model.json").is_file():
            hls.mkdir(exist_ok=True)
            shutil.copy2(fw_dir / "conifer_model.json", hls / "conifer_model.json")
    else:
        _copytree(fw_dir / "hls4ml", hls / "hls4ml")
    shutil.copy2(fw_dir / "manifest.json", hls / "firmware_manifest.json")
    synth = root / "synthesis"
    if synth_dir is not None:
        synth_dir = Path(synth_dir)
        if not synth_dir.is_dir():
            raise L1mlError(f"--synth {synth_dir} is not a directory (a fetched `l1ml synth` result)")
        summary = synth_dir / "summary.json"
        if not summary.is_file():
            raise L1mlError(f"no summary.json in {synth_dir}; pass the directory `l1ml synth fetch` wrote")
        synth.mkdir()
        shutil.copy2(summary, synth / "summary.json")
        ips = _exported_ip(synth_dir)
        if ips:
            (root / "ip").mkdir()
            for ip in ips:
                shutil.copy2(ip, root / "ip" / ip.name)
    rtl = fw_dir / "rtl" / "resources.json"
    if rtl.is_file():
        synth.mkdir(exist_ok=True)
        shutil.copy2(rtl, synth / "rtl_resources.json")
    vdir = layout.validation_dir(project, spec.version)
    if validation is not None:
        (root / "validation").mkdir()
        for f in ("report.json", "junit.xml", "differences.png"):
            if (vdir / f).is_file():
                shutil.copy2(vdir / f, root / "validation" / f)
    for f in ("metadata.json", "thresholds.json"):
        shutil.copy2(stage / f, root / f)
    (root / "symbol_audit.json").write_text(json.dumps(audit, indent=1) + "\n")

    files = {
        p.relative_to(root).as_posix(): manifest.sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
    }
    bkg = project.resolve(project.data.background)
    man = {
        "project": project.name,
        "model_version": spec.version,
        "kind": spec.kind,
        "library": spec.so,
        "forced": forced,
        "forced_note": "deployed with --force without a passing validation report" if forced else None,
        "validated": bool(validation and validation.get("passed") is True),
        "model_manifest_sha256": manifest.sha256(project.model_dir(spec.version) / "manifest.json"),
        "data": {"background": str(bkg), "background_sha256": manifest.sha256(bkg),
                 "model_data_hashes": (model_man.get("hashes") or {}).get("data", model_man.get("hashes", {}))},
        "toolchain": toolchain(),
        "exported_ip": sorted(p for p in files if p.startswith("ip/")),
        "created": manifest.now(),
        "code_version": manifest.code_version(),
        "files": files,
    }
    manifest.write_json(root / "manifest.json", man)
    tar = stage / f"{spec.name}_bundle.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(root, arcname=root.name)
    shutil.rmtree(root)
    return tar


def verify(path: Path) -> dict:
    """Check a bundle against its manifest; returns a summary, raises VerifyFailed listing the problems."""
    from l1ml.synth.archive import check

    path = Path(path)
    if not path.is_file():
        raise L1mlError(f"no bundle at {path}")
    members = check(path)  # unsafe names, links, devices: refused before anything is read
    files = {m.name: m for m in members if m.isreg()}
    mans = [n for n in files if n.count("/") == 1 and n.endswith("/manifest.json")]
    if len(mans) != 1:
        raise VerifyFailed(f"{path.name}: expected one <name>_bundle/manifest.json, found {len(mans)}")
    top = mans[0].split("/")[0]
    problems = []
    with tarfile.open(path, "r:*") as t:
        try:
            man = json.loads(t.extractfile(files[mans[0]]).read())
        except json.JSONDecodeError as exc:
            raise VerifyFailed(f"{mans[0]}: not valid JSON: {exc}") from None
        listed = man.get("files") or {}
        for rel, want in sorted(listed.items()):
            m = files.get(f"{top}/{rel}")
            if m is None:
                problems.append(f"{rel}: listed but missing")
                continue
            h = hashlib.sha256()
            f = t.extractfile(m)
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                h.update(block)
            if h.hexdigest() != want:
                problems.append(f"{rel}: sha256 {h.hexdigest()[:12]}..., manifest says {want[:12]}...")
        for name in sorted(files):
            rel = name[len(top) + 1 :]
            if name != mans[0] and rel not in listed:
                problems.append(f"{rel}: in the bundle but not in the manifest")
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise VerifyFailed(f"{path.name} does not match its manifest: {shown}")
    return {
        "bundle": str(path),
        "ok": True,
        "files": len(listed),
        "project": man.get("project"),
        "model_version": man.get("model_version"),
        "forced": man.get("forced"),
        "validated": man.get("validated"),
        "toolchain": man.get("toolchain"),
    }
