"""Issue 27, rows 8-9, the status page and the isolation statement: the server stays up under hostile
clients (a 12,000-level path, slow headers, stalled uploads past the quota), says how jobs are isolated,
refuses to serve several users unisolated unless told, and serves a read-only status page."""

from __future__ import annotations

import io
import socket
import tarfile
import time

import httpx
import pytest
from hardening_helpers import synth
from test_params import GOOD, tiny_archive

from l1ml.synth.archive import UnsafeArchive, check

CHROMIUM = "/usr/bin/chromium"


def deep_path_archive(levels: int = 12_000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a/" * levels + "f")
        info.size = 0
        tar.addfile(info, io.BytesIO(b""))
    return buf.getvalue()


def test_12000_level_path_is_refused_in_linear_time(tmp_path):
    data = deep_path_archive()
    assert len(data) < 1000
    (tmp_path / "a.tar.gz").write_bytes(data)
    t0 = time.perf_counter()
    with pytest.raises(UnsafeArchive, match="longer than"):
        check(tmp_path / "a.tar.gz")
    assert time.perf_counter() - t0 < 1.0


def _serve(procs, port: int, *extra: str) -> str:
    p = procs.start("serve", "--port", str(port), *extra)
    url = f"http://127.0.0.1:{port}"

    def up():
        if p.poll() is not None:
            raise AssertionError(f"server exited with {p.returncode}")
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    synth.wait_for(up, 30, 0.1, "the server to answer")
    return url


def test_server_survives_slow_clients_and_stalled_uploads(home, tmp_path, procs):
    (tmp_path / "synth.toml").write_text(
        "header_timeout = 2.0\nmax_connections = 200\nmax_user_bytes = 1048576\n"
    )
    tok = synth.cli("token", "create", "mallory").stdout.strip()
    port = synth.free_port()
    log = tmp_path / "server.log"
    p = procs.start("serve", "--port", str(port), log=log)
    url = f"http://127.0.0.1:{port}"
    synth.wait_for(lambda: _up(url, p), 30, 0.1, "the server")
    stalled = []
    for _ in range(5):  # uploads announcing 50 MB, sending 2 MB, then stalling: over the 1 MB quota
        s = socket.create_connection(("127.0.0.1", port))
        q = "&".join(f"{k}={v}" for k, v in GOOD.items())
        s.sendall(
            f"POST /jobs?{q} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
            f"Content-Length: {50 * 1024**2}\r\n\r\n".encode()
        )
        try:
            s.sendall(b"\0" * (2 * 1024**2))
        except OSError:
            pass  # answered and closed already
        stalled.append(s)
    slow = []
    for _ in range(400):  # more than max_connections, each sending half a request line and stopping
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    time.sleep(3)  # past the header timeout: the slow ones are closed
    ok = sum(_up(url, p) for _ in range(20))
    assert ok == 20, f"{ok}/20 normal requests answered"
    answers = []
    for s in stalled:
        s.settimeout(5)
        try:
            answers.append(s.recv(200))
        except OSError:
            answers.append(b"")
    assert all(b" 413 " in a for a in answers), answers
    staged = sum(f.stat().st_size for f in synth.settings().archives.glob("*.upload"))
    assert staged <= 1024**2 + 1024**2, staged
    for s in slow + stalled:
        s.close()
    assert p.poll() is None
    assert log.stat().st_size < 100_000, log.read_text()[-2000:]


def _up(url, p) -> bool:
    if p.poll() is not None:
        raise AssertionError(f"server exited with {p.returncode}")
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_unisolated_multi_user_server_refuses_unless_told(home, tmp_path, procs):
    (tmp_path / "synth.toml").write_text('sandbox = "none"\n')
    synth.cli("token", "create", "ann")
    synth.cli("token", "create", "bob")
    r = synth.cli("serve", "--port", str(synth.free_port()), check=False)
    assert r.returncode != 0 and "--isolation none" in (r.stdout + r.stderr)
    url = _serve(procs, synth.free_port(), "--isolation", "none")
    assert httpx.get(url + "/health").json()["isolation"].startswith("none")


def test_status_page_in_headless_chromium(home, tmp_path, procs):
    from playwright.sync_api import sync_playwright

    tok = synth.cli("token", "create", "carol").stdout.strip()
    url = _serve(procs, synth.free_port())
    r = httpx.post(url + "/jobs", params={**GOOD, "memory": str(3 * 1024**3)}, content=tiny_archive(),
                   headers={"Authorization": f"Bearer {tok}"}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    j = r.json()["id"]
    shot = tmp_path / "status.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
            headless=True,
        )  # fmt: skip
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/", wait_until="load")
            queue = page.inner_text("#queue")
            assert str(j) in queue and "3G" in queue, queue
            assert "isolation:" in page.inner_text("#isolation")
            assert "processes per run" in page.inner_text("#limits")
            page.fill("#token", tok)
            page.click("button")
            page.wait_for_selector("#mine-table")
            mine = page.inner_text("#mine-table")
            page.screenshot(path=str(shot), full_page=True)
            assert errors == []
        finally:
            browser.close()
    assert "queued" in mine and str(j) in mine
    assert shot.stat().st_size > 1000
