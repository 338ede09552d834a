"""hls4ml config overrides from hls_configs/*.yml (hls4ml's own config format): where the file is, what it
may hold, and how it merges into a config."""

from __future__ import annotations

import copy
from pathlib import Path

from l1ml.errors import ConfigError


def _override_candidates(project) -> list[Path]:
    from l1ml.project import repo_root

    name = project.firmware.hls_config
    p = Path(name).expanduser()
    return [p] if p.is_absolute() else [project.path / name, repo_root() / name, repo_root() / "hls_configs" / name]


def overrides_file(project) -> Path | None:
    """The hls_configs/*.yml file load_overrides reads (None without [firmware] hls_config): `l1ml run`
    hashes it into the convert step's key. A name found nowhere gives its first candidate."""
    if not project.firmware.hls_config:
        return None
    cands = _override_candidates(project)
    return next((c for c in cands if c.is_file()), cands[0])


def load_overrides(project) -> tuple[dict, Path | None]:
    """hls_configs/*.yml named by project.firmware.hls_config: absolute, relative to the project, or to
    the repository root."""
    import yaml

    name = project.firmware.hls_config
    if not name:
        return {}, None
    f = overrides_file(project)
    if not f.is_file():
        cands = _override_candidates(project)
        raise ConfigError(
            f"{project.file} [firmware]: hls_config '{name}' not found "
            f"(looked in {', '.join(map(str, cands))})"
        )
    try:
        doc = yaml.safe_load(f.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{f}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - {"Model", "LayerName", "LayerType"}:
        raise ConfigError(
            f"{f}: expected hls4ml config keys Model, LayerName and/or LayerType, got {list(doc)}"
        )
    return doc, f


def merge_overrides(base: dict, over: dict) -> dict:
    """`over` merged into `base` in place, key by key at every depth (over wins); returns base."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge_overrides(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base
