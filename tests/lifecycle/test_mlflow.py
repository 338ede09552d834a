"""MLflow tracking against a real SQLite tracking store and against a real `mlflow server` that this test
starts on 127.0.0.1 (and stops). A logged version carries params, metrics, the model directory, the
firmware manifest and the report; promotion sets the registered model's alias."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from lifecycle_helpers import make_version, write_scores

from l1ml.project import load_project


def _version(tmp_path, uri: str):
    from _projects import make_project

    from l1ml.report import build_report

    proj = load_project(make_project(tmp_path, "dense_ae", **{"tracking.uri": uri}))
    make_version(proj, "v1", tpr=0.5)
    write_scores(proj, "v1", shift=2.0)
    build_report(proj, "v1")
    return proj


def _check_logged(uri: str, info: dict, name: str = "l1ml-dense_ae") -> None:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    run = c.get_run(info["run_id"])
    assert run.data.params["model.kind"] == "dense_ae" and run.data.params["trigger.rate_khz"] == "1.0"
    assert run.data.metrics["tpr_at_target_rate/Ato4l"] == pytest.approx(0.5)
    assert run.data.metrics["validation_passed"] == 1.0
    assert run.data.tags["l1ml.version"] == "v1"
    top = {a.path for a in c.list_artifacts(info["run_id"])}
    assert {"model", "firmware", "v1"} <= top, top
    assert "model/manifest.json" in {a.path for a in c.list_artifacts(info["run_id"], "model")}
    assert "v1/report.html" in {a.path for a in c.list_artifacts(info["run_id"], "v1")}
    mv = c.get_model_version(name, info["model_version"])
    assert mv.run_id == info["run_id"] and mv.tags["l1ml.version"] == "v1"


def test_sqlite_store_run_register_and_promotion_alias(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from l1ml.lifecycle.promote import promote
    from l1ml.lifecycle.tracking.mlflow_adapter import log_version

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proj = _version(tmp_path, uri)
    info = log_version(proj, "v1")
    _check_logged(uri, info)
    assert (tmp_path / "mlartifacts").is_dir()  # beside the database, not in the cwd
    entry, _ = promote(proj, "v1")
    assert entry["mlflow"]["alias"] == "production"
    mv = MlflowClient(tracking_uri=uri).get_model_version_by_alias("l1ml-dense_ae", "production")
    assert str(mv.version) == str(info["model_version"]) and mv.tags["l1ml.stage"] == "production"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = _free_port()
    log = open(tmp_path / "mlflow-server.log", "w")
    p = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", (tmp_path / "server-artifacts").as_uri()],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert p.poll() is None, (tmp_path / "mlflow-server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not come up"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(p.pid, 15)  # its own session: the server and its worker processes, nothing else
        p.wait(timeout=30)
        log.close()


def test_real_mlflow_server_through_the_cli(tmp_path, mlflow_server):
    from mlflow.tracking import MlflowClient

    proj = _version(tmp_path, "")  # no uri in the project: MLFLOW_TRACKING_URI names the server
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "COLUMNS": "200"}
    r = subprocess.run([sys.executable, "-m", "l1ml.cli.main", "models", "track", "v1", "--project", str(proj.path)],
                       capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    c = MlflowClient(tracking_uri=mlflow_server)
    mv = c.search_model_versions("name='l1ml-dense_ae'")[0]
    _check_logged(mlflow_server, {"run_id": mv.run_id, "model_version": mv.version})
    assert list((tmp_path / "server-artifacts").rglob("report.html"))  # the server stored the artifacts
    r = subprocess.run([sys.executable, "-m", "l1ml.cli.main", "models", "promote", "v1", "--project", str(proj.path)],
                       capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(c.get_model_version_by_alias("l1ml-dense_ae", "production").version) == str(mv.version)
