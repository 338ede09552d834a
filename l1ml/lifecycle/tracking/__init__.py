"""MLflow tracking, optional (`pip install l1ml[tracking]`). Enabled by `[tracking] uri` in project.toml
or MLFLOW_TRACKING_URI; without either, everything works from the project directory alone and mlflow is
never imported: the package holds only the switch, and l1ml/lifecycle/tracking/mlflow_adapter.py (which
imports mlflow inside its functions) the logging."""

from __future__ import annotations

import os


def tracking_uri(project) -> str:
    return project.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI", "")
