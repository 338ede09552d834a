"""Running split emulation through the real queue: a worker process with the local or Slurm dispatcher,
jobs submitted by `l1ml rate --jobs`, compared with the single run."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from l1ml.cli.main import app

sys.path.insert(0, str(Path(__file__).parents[1] / "synth"))


@contextmanager
def local_queue(tmp_path: Path, monkeypatch, dispatcher: str, readable: tuple[Path, ...] = ()):
    """A queue home under tmp_path and one worker process using `dispatcher`; stopped on exit. The jobs'
    sandbox makes /tmp private, so the test's event files (under /tmp) are shown to them read-only, as a
    shared data filesystem would be."""
    from synth_helpers import Procs

    monkeypatch.setenv("L1ML_SYNTH_HOME", str(tmp_path / "queue"))
    conf = tmp_path / "synth.toml"
    conf.write_text(
        f'dispatcher = "{dispatcher}"\n'
        + f"sandbox_readable = {json.dumps([str(p) for p in readable])}\n"
        + ("[slurm]\npoll = 0.3\n" if dispatcher == "slurm" else "")
    )
    monkeypatch.setenv("L1ML_SYNTH_CONFIG", str(conf))
    for var in ("L1ML_SYNTH_SERVER", "L1ML_SYNTH_WORK", "L1ML_SYNTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    procs = Procs()
    try:
        procs.worker("16G", log=tmp_path / "worker.log")
        yield procs
    finally:
        procs.stop()


def split_matches_single(project, per: str) -> list[dict]:
    """`l1ml rate` single and with --jobs `per`: the same events and rows, exactly. Returns the jobs."""
    from l1ml.synth.client import LocalClient
    from l1ml.synth.settings import load_settings

    single = CliRunner().invoke(app, ["rate", "-p", str(project.path), "--json"])
    assert single.exit_code == 0, single.output
    want = json.loads(single.stdout)
    r = CliRunner().invoke(
        app, ["rate", "-p", str(project.path), "--jobs", per, "--memory", "3G", "--json", "--wait", "600"]
    )
    settings = load_settings()
    log = settings.home / ".." / "worker.log"
    assert r.exit_code == 0, f"{r.exception!r}\n{r.output}" + (log.read_text() if log.is_file() else "")
    got = json.loads(r.stdout)
    assert got["events"] == want["events"] and got["files"] == want["files"]
    assert got["rows"] == want["rows"]
    jobs = LocalClient(settings).list()
    assert {j["step"] for j in jobs} == {"emulate"} and {j["state"] for j in jobs} == {"succeeded"}
    return jobs
