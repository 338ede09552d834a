"""Issue 27, row 10 and isolation by default: no network (the queue's server is out of reach), an
allow-list of environment variables, host sockets hidden; without bubblewrap a job that kills its own
supervisor is still ended (the worker is a subreaper and kills what is re-parented to it)."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
from hardening_helpers import escapees, script_project, synth, tagged, wait_gone

from l1ml.synth import sandbox

needs_bwrap = pytest.mark.skipif(
    sandbox.probe("auto").mode != "bwrap", reason="bubblewrap does not work here"
)

KILL_SUPERVISOR = r"""p=$$
while [ "$p" -gt 1 ]; do
  case "$(tr '\0' ' ' < /proc/$p/cmdline)" in *l1ml.synth.supervisor*) kill -9 $p; break;; esac
  p=$(awk '{print $4}' /proc/$p/stat)
done
"""


def test_without_bwrap_a_job_that_kills_its_supervisor_is_ended(home, tmp_path, procs):
    (tmp_path / "synth.toml").write_text('sandbox = "none"\n')
    tag = f"nosup-{uuid.uuid4().hex[:8]}"
    hog = f"python3 -c 'import time; x = bytearray(300 << 20); time.sleep(120)' {tag}"
    prj = script_project(tmp_path, "killer", f"{KILL_SUPERVISOR}{escapees(tag)}{hog} &\nsleep 120\n")
    j = synth.submit_local(prj, memory="250M", timeout="60s")["id"]
    w = procs.worker("1G")
    synth.wait_for(lambda: tagged(tag) or synth.job(j).finished, 60, what="the job's hog")
    job = synth.wait_state(j, timeout=60)
    assert job.state == "failed", job
    assert wait_gone(tagged(tag), 10), [p.cmdline() for p in tagged(tag)]
    assert w.poll() is None


@needs_bwrap
def test_sandbox_has_no_network_no_secrets_no_host_sockets(tmp_path, monkeypatch):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    work = tmp_path / "run"
    (work / "src").mkdir(parents=True)
    sock_dir = tmp_path / "munge"
    sock_dir.mkdir()
    monkeypatch.setenv("DB_PASS", "hunter2")
    monkeypatch.setenv("SOME_SERVICE_URL", "x")
    env = sandbox.job_env(dict(os.environ), work)
    assert "DB_PASS" not in env and "SOME_SERVICE_URL" not in env and "PATH" in env
    script = (
        f"python3 -c \"import socket; s = socket.socket(); s.settimeout(2); s.connect(('127.0.0.1', {port}))\" "
        "&& echo REACHED || echo NO-NET\n"
        f"ls {sock_dir} 2>&1 | grep -q hidden-socket && echo SOCKET || echo NO-SOCKET\n"
    )
    (sock_dir / "hidden-socket").write_text("")
    argv = sandbox.wrap(["bash", "-c", script], work, [sock_dir])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    srv.close()
    assert "NO-NET" in out.stdout and "REACHED" not in out.stdout, out
    assert "NO-SOCKET" in out.stdout, out


def test_munge_and_user_sockets_are_hidden_by_default(home):
    hidden = sandbox.hidden_paths(synth.settings())
    for p in sandbox.HOST_SOCKETS:
        if os.path.isdir(p):
            assert Path(os.path.realpath(p)) in hidden, p
    assert "/run/munge" in sandbox.HOST_SOCKETS
