"""MLflow tracking, optional (`pip install l1ml[tracking]`). Enabled by `[tracking] uri` in project.toml
or MLFLOW_TRACKING_URI; without either, everything works from the project directory alone and mlflow is
never imported."""

from __future__ import annotations

import os


def tracking_uri(project) -> str:
    return project.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI", "")


def log_version(project, version: str) -> dict:
    from l1ml.lifecycle.tracking.mlflow_adapter import log_version as log

    return log(project, version)


def set_stage_alias(project, version: str, stage: str) -> dict:
    from l1ml.lifecycle.tracking.mlflow_adapter import set_stage_alias as alias

    return alias(project, version, stage)
