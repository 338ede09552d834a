"""Bad parameters are 400s (or one-line CLI errors) with a message, and nothing is committed; a malformed
synth.toml is refused when it is read, naming the key. A real server on 127.0.0.1."""

from __future__ import annotations

import http.client
import io
import json
import tarfile
import urllib.parse

import httpx
import pytest
from hardening_helpers import synth

from l1ml.synth.params import BadParameter, SubmitParams


def post(url: str, params: dict, body: bytes, headers: dict) -> tuple[int, str]:
    """POST with the standard library's client: httpx refuses to send a 100 KB query at all."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", "/jobs?" + urllib.parse.urlencode(params), body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def tiny_archive(size: int = 10) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("hls4ml/f.txt")
        info.size = size
        tar.addfile(info, io.BytesIO(b"0" * size))
    return buf.getvalue()


GOOD = {"step": "csim", "memory": str(1 << 28), "timeout": "60"}
BAD = [
    ({"memory": str(2**63)}, "memory"),
    ({"memory": "1e30"}, "memory"),
    ({"memory": "-5"}, "memory"),
    ({"timeout": "nan"}, "timeout"),
    ({"timeout": "inf"}, "timeout"),
    ({"timeout": "1e300"}, "timeout"),
    ({"priority": "11"}, "priority"),
    ({"priority": str(2**70)}, "priority"),
    ({"project": "p" * 100_000}, ""),  # refused by the HTTP layer or by us: a 4xx either way
    ({"project": "a\x00b"}, "project"),
    ({"model": "v1\x1b[31m"}, "model"),
    ({"board": "/abs/path"}, "board"),
    ({"board": "../vu9p"}, "board"),
    ({"step": "nope"}, "step"),
    ({"key": "k" * 65}, "key"),
    ({"bogus": "1"}, "bogus"),
]


def test_bad_submissions_are_400_and_commit_nothing(home, tmp_path, procs):
    tok = synth.cli("token", "create", "mallory").stdout.strip()
    url = procs.server(synth.free_port())
    h = {"Authorization": f"Bearer {tok}"}
    for change, word in BAD:
        status, text = post(url, {**GOOD, **change}, tiny_archive(), h)
        assert 400 <= status < 500, (change, status, text[:200])
        if word:
            assert status == 400 and word in json.loads(text)["detail"], (change, text[:300])
        assert "Traceback" not in text
    for path, word in [
        (f"/jobs/{2**64}", "job id"),
        (f"/jobs/{2**63}/log", "job id"),
        ("/jobs/1/log?offset=" + str(2**63), "offset"),  # no job 1: 404, or the offset: 400
        ("/jobs/abc", "job_id"),
    ]:
        r = httpx.get(url + path, headers=h, timeout=30)
        assert r.status_code in (400, 404), (path, r.status_code, r.text)
        assert r.status_code == 404 or word in r.json()["detail"], (path, r.text)
    from l1ml.synth.store import Store

    assert Store(synth.settings().db).list() == []  # nothing committed
    assert not list(synth.settings().archives.glob("*"))  # and no upload left behind
    ok = httpx.post(url + "/jobs", params=GOOD, content=tiny_archive(), headers=h, timeout=30)
    assert ok.status_code == 200 and ok.json()["state"] == "queued"  # the same request, well-formed, passes
    r = httpx.get(url + f"/jobs/{ok.json()['id']}/log?offset={2**63}", headers=h, timeout=30)
    assert r.status_code == 400 and "offset" in r.json()["detail"]


def test_the_same_checks_in_the_library_and_the_cli(home, tmp_path):
    with pytest.raises(BadParameter, match="memory"):
        SubmitParams("csim", 2**63, 60.0)
    with pytest.raises(BadParameter, match="timeout"):
        SubmitParams("csim", 1 << 20, float("nan"))
    with pytest.raises(BadParameter, match="board"):
        SubmitParams("csim", 1 << 20, 60.0, board="/etc")
    prj = synth.make_project(tmp_path)
    r = synth.cli("submit", "-p", str(prj), "-m", "v1", "--step", "csim", "--priority", "11", check=False)
    assert r.returncode == 2 and "priority" in r.stderr + r.stdout and "Traceback" not in r.stderr
    for memory in ("1e30", str(2**63)):
        r = synth.cli("submit", "-p", str(prj), "-m", "v1", "--step", "csim", "--memory", memory, check=False)
        assert r.returncode == 2 and "memory" in r.stderr + r.stdout and "Traceback" not in r.stderr
    from l1ml.synth.store import Store

    assert Store(synth.settings().db).list() == []


@pytest.mark.parametrize(
    "line, key", [("lease = 'abc'", "lease"), ("max_members = 'x'", "max_members"), ("tools = 'x'", "tools")]
)
def test_malformed_synth_toml_is_refused_naming_the_key(home, tmp_path, line, key):
    (tmp_path / "synth.toml").write_text(line + "\n")
    r = synth.cli("list", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    out = r.stderr + r.stdout
    assert key in out and "synth.toml" in out, out
