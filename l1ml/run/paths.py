"""Where `l1ml run` keeps its records and where each step's results live under projects/NAME/build/."""

from __future__ import annotations

from pathlib import Path


def run_dir(project) -> Path:
    return project.build_dir / "run"


def record_file(project, step: str) -> Path:
    return run_dir(project) / "records" / f"{step}.json"


def log_file(project, step: str) -> Path:
    return run_dir(project) / "logs" / f"{step}.log"


def toolchain_file(project, version: str) -> Path:
    """The toolchain fingerprint of the firmware of a model version (written by the convert step)."""
    return run_dir(project) / version / "toolchain.json"


def rate_file(project, version: str) -> Path:
    return project.build_dir / "emulation" / version / "rate.json"


def scores_file(project, version: str) -> Path:
    """Firmware-exact scores of the whole background and of every signal (npz), from the rate step."""
    return project.build_dir / "emulation" / version / "scores.npz"


def synth_dir(project, version: str) -> Path:
    """Fetched queue results: <step>/summary.json and the job's files."""
    return project.build_dir / "synth" / version


def report_file(project, version: str) -> Path:
    return project.build_dir / "report" / version / "report.html"


def validation_report(project, version: str) -> Path:
    return project.build_dir / "validation" / version / "report.json"


def rtl_resources(project, version: str) -> Path:
    """Issue 12's contract: open-source synthesis figures of the RTL path."""
    return project.firmware_dir(version) / "rtl" / "resources.json"


def deploy_thresholds(project, version: str) -> Path:
    """Issue 11's contract: the thresholds `l1ml deploy` wrote."""
    return project.build_dir / "deploy" / version / "thresholds.json"


def hls_config_file(project) -> Path | None:
    """The hls_config file the converter will read (same search order as l1ml.firmware.hls4ml)."""
    from l1ml.project import repo_root

    name = project.firmware.hls_config
    if not name:
        return None
    p = Path(name).expanduser()
    cands = [p] if p.is_absolute() else [project.path / name, repo_root() / name, repo_root() / "hls_configs" / name]
    return next((c for c in cands if c.is_file()), cands[0])


def board_file(project) -> Path:
    from l1ml.project import repo_root

    name = project.firmware.board
    return project.resolve(name) if name.endswith(".toml") else repo_root() / "boards" / f"{name}.toml"
