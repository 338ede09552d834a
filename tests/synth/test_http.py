"""The HTTP API: a real server on 127.0.0.1 and a real worker, per-user tokens, and archive checks."""

import io
import json
import os
import tarfile

import httpx
from synth_helpers import cli, free_port, make_project, settings, wait_state


def _evil_archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def test_tokens_users_and_admin_over_http(home, tmp_path, procs):
    alice = cli("token", "create", "alice").stdout.strip()
    bob = cli("token", "create", "bob").stdout.strip()
    admin = cli("token", "create", "ops", "--admin").stdout.strip()
    from l1ml.synth.store import Store

    stored = Store(settings().db)._conn().execute("SELECT hash FROM tokens").fetchall()
    assert alice not in {r[0] for r in stored}  # only hashes are kept

    url = procs.server(free_port(), log=tmp_path / "server.log")
    procs.worker("1G")
    prj = make_project(tmp_path, sleep_ms=300)
    as_alice = ("--server", url, "--token", alice)
    submitted = json.loads(
        cli(
            "submit", "-p", str(prj), "-m", "v1", "--step", "csim", "--memory", "200M", "--json", *as_alice
        ).stdout
    )
    jid = submitted["id"]
    assert (submitted["state"], submitted["where"]) == ("queued", "l1ml queue")
    assert json.loads(cli("status", str(jid), "--json", *as_alice).stdout)["user"] == "alice"

    # Bob's token on Alice's job: not visible, not cancellable, not fetchable.
    for args in (
        ("status", str(jid)),
        ("cancel", str(jid)),
        ("logs", str(jid)),
        ("fetch", str(jid), "--out", str(tmp_path / "b")),
    ):
        r = cli(*args, "--server", url, "--token", bob, check=False)
        assert r.returncode == 2 and f"no job {jid} for user bob" in r.stderr, (args, r.stderr)
    assert json.loads(cli("list", "--json", "--server", url, "--token", bob).stdout) == []
    assert json.loads(cli("list", "--json", "--all", "--server", url, "--token", bob).stdout) == []
    # The admin sees everyone's.
    every = json.loads(cli("list", "--json", "--all", "--server", url, "--token", admin).stdout)
    assert [j["id"] for j in every] == [jid]

    r = cli("list", "--server", url, "--token", "l1ml_wrong", check=False)
    assert r.returncode == 2 and "401" in r.stderr and "token" in r.stderr

    assert wait_state(jid).state == "succeeded"
    out = tmp_path / "out"
    cli("fetch", str(jid), "--out", str(out), *as_alice)
    assert json.loads((out / f"job-{jid}" / "summary.json").read_text())["state"] == "succeeded"
    assert "testbench done" in cli("logs", str(jid), *as_alice).stdout


def test_malicious_upload_and_bad_requests_are_refused(home, tmp_path, procs):
    (tmp_path / "synth.toml").write_text("max_upload = 4096\n")
    tok = cli("token", "create", "mallory").stdout.strip()
    url = procs.server(free_port())
    h = {"Authorization": f"Bearer {tok}"}
    params = {"step": "csim", "memory": 1 << 28, "timeout": 60}
    r = httpx.post(url + "/jobs", params=params, content=_evil_archive(), headers=h)
    assert r.status_code == 400 and "'..'" in r.json()["detail"]
    r = httpx.post(url + "/jobs", params={**params, "step": "nope"}, content=b"", headers=h)
    assert r.status_code == 400 and "unknown step" in r.json()["detail"]
    r = httpx.post(url + "/jobs", params={**params, "priority": 99}, content=_evil_archive(), headers=h)
    assert r.status_code == 400 and "priority" in r.json()["detail"]
    r = httpx.post(url + "/jobs", params=params, content=os.urandom(10_000), headers=h)
    assert r.status_code == 413 and "upload limit" in r.json()["detail"]
    assert httpx.get(url + "/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(url + "/jobs").status_code == 401
    from l1ml.synth.store import Store

    assert Store(settings().db).list() == []
    assert not list(settings().archives.glob("*")) and not (tmp_path / "escape.txt").exists()


def test_server_killed_and_restarted_keeps_accepted_jobs(home, tmp_path, procs):
    tok = cli("token", "create", "carol").stdout.strip()
    port = free_port()
    url = procs.server(port)
    prj = make_project(tmp_path)
    ids = [
        json.loads(
            cli(
                "submit",
                "-p",
                str(prj),
                "-m",
                "v1",
                "--step",
                "csim",
                "--memory",
                "200M",
                "--json",
                "--server",
                url,
                "--token",
                tok,
            ).stdout
        )["id"]
        for _ in range(2)
    ]
    procs.procs[0].kill()
    procs.procs[0].wait()
    url = procs.server(port)
    procs.worker("1G")
    for i in ids:
        assert wait_state(i).state == "succeeded"
    listing = json.loads(cli("list", "--json", "--server", url, "--token", tok).stdout)
    assert sorted(j["id"] for j in listing) == sorted(ids)
