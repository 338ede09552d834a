"""The MLflow adapter: one run per logged model version (params, metrics, the model directory, the
firmware manifest, the report), one registered model version per run, and the stage as an alias."""

from __future__ import annotations

import os
from pathlib import Path

from l1ml.errors import L1mlError


def _mlflow(project):
    try:
        import mlflow
    except ImportError:
        raise L1mlError(
            "tracking is set up ([tracking] uri or MLFLOW_TRACKING_URI) but mlflow is not installed: "
            "pip install 'l1ml[tracking]'"
        ) from None
    from l1ml.lifecycle.tracking import tracking_uri

    uri = tracking_uri(project)
    _reachable(uri)
    # MLflow retries a failed request 7 times with a doubling back-off (4 minutes for a dead server,
    # issue 30); a user's own settings of these variables win.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    mlflow.set_tracking_uri(uri)
    return mlflow


SKIP = "to run without tracking, unset MLFLOW_TRACKING_URI and [tracking] uri (or stop `l1ml run` with --until report)"
CONNECT_TIMEOUT = 5.0  # seconds: a tracking server on the network answers a connect in milliseconds


def _reachable(uri: str) -> None:
    """An HTTP tracking server must accept a connection within seconds, before MLflow's retry loop."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(uri)
    if u.scheme not in ("http", "https") or not u.hostname:
        return
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        socket.create_connection((u.hostname, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise L1mlError(f"MLflow at {uri}: no server answers ({why}); {SKIP}") from None


def registered_name(project) -> str:
    return project.tracking.registered_model or f"l1ml-{project.name}"


def _experiment(mlflow, project, uri: str) -> str:
    name = project.tracking.experiment or project.name
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        # A SQLite store's default artifact root is ./mlruns under whatever the cwd is: keep them together.
        location = (Path(uri[len("sqlite:///") :]).resolve().parent / "mlartifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def _params(project) -> dict:
    from dataclasses import asdict

    from l1ml.project import SECTIONS

    out = {}
    for sec in SECTIONS:
        for k, v in asdict(getattr(project, sec)).items():
            out[f"{sec}.{k}"] = str(v)[:500]
    return out


def _wrap(exc: Exception, uri: str) -> L1mlError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return L1mlError(f"MLflow at {uri}: {first}; {SKIP}")


def log_version(project, version: str) -> dict:
    from l1ml import layout
    from l1ml.lifecycle.summary import numbers, version_summary
    from l1ml.lifecycle.tracking import tracking_uri

    uri = tracking_uri(project)
    mlflow = _mlflow(project)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    s = version_summary(project, version)
    try:
        exp = _experiment(mlflow, project, uri)
        with mlflow.start_run(experiment_id=exp, run_name=f"{project.name} {version}") as run:
            mlflow.set_tags({"l1ml.version": version, "l1ml.kind": s["kind"] or "", "l1ml.project": project.name})
            mlflow.log_params(_params(project))
            mlflow.log_metrics(numbers(s))
            mlflow.log_artifacts(str(project.models_dir / version), "model")
            fw = project.firmware_dir(version) / "manifest.json"
            if fw.is_file():
                mlflow.log_artifact(str(fw), "firmware")
            for f in (layout.report_file(project, version), layout.validation_report(project, version),
                      layout.rate_file(project, version), layout.toolchain_file(project, version)):  # fmt: skip
                if f.is_file():
                    mlflow.log_artifact(str(f), f.parent.parent.name if f.name == "report.json" else f.parent.name)
            run_id, artifact_uri = run.info.run_id, run.info.artifact_uri
        client = MlflowClient()
        name = registered_name(project)
        try:
            client.create_registered_model(name, description=f"l1ml project {project.name}")
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        mv = client.create_model_version(
            name, source=f"{artifact_uri}/model", run_id=run_id, tags={"l1ml.version": version}
        )
    except MlflowException as exc:
        raise _wrap(exc, uri) from None
    return {"run_id": run_id, "experiment_id": exp, "registered_model": name, "model_version": mv.version}


def find_model_version(client, name: str, version: str):
    """The newest registered version logged for an l1ml version, or None."""
    found = [mv for mv in client.search_model_versions(f"name='{name}'") if mv.tags.get("l1ml.version") == version]
    return max(found, key=lambda mv: int(mv.version)) if found else None


def set_stage_alias(project, version: str, stage: str) -> dict:
    from l1ml.lifecycle.tracking import tracking_uri

    uri = tracking_uri(project)
    _mlflow(project)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    name = registered_name(project)
    try:
        mv = find_model_version(client, name, version)
        if mv is None:
            raise L1mlError(
                f"MLflow at {uri}: {name} has no version logged for {version}; run `l1ml run` with tracking first"
            )
        client.set_registered_model_alias(name, stage, mv.version)
        client.set_model_version_tag(name, mv.version, "l1ml.stage", stage)
    except MlflowException as exc:
        raise _wrap(exc, uri) from None
    return {"registered_model": name, "model_version": mv.version, "alias": stage}
