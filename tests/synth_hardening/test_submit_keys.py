"""Idempotent submission: a key per submission, kept across the client's retries, stored uniquely. With
the server SIGKILLed and restarted again and again during a burst, N acknowledged submissions make exactly
N jobs. A real server on 127.0.0.1, real SIGKILLs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from hardening_helpers import synth
from test_params import tiny_archive

from l1ml.synth.client import HttpClient
from l1ml.synth.params import SubmitParams
from l1ml.synth.store import Store

N, KILLS = 40, 4


def test_store_answers_a_repeated_key_with_the_first_job(home, tmp_path):
    store = Store(synth.settings().db)
    first = store.submit("u", SubmitParams(step="csim", memory=1 << 20, timeout=60, key="abc"))
    again = store.submit("u", SubmitParams(step="csim", memory=1 << 20, timeout=60, key="abc"))
    other = store.submit("v", SubmitParams(step="csim", memory=1 << 20, timeout=60, key="abc"))  # keys are per user
    assert again.id == first.id and other.id != first.id and len(store.list()) == 2


def test_server_kills_during_a_burst_make_exactly_one_job_per_submission(home, tmp_path, procs):
    tok = synth.cli("token", "create", "burst").stdout.strip()
    port = synth.free_port()
    url = procs.server(port)
    arc = tmp_path / "a.tar.gz"
    arc.write_bytes(tiny_archive(50_000))
    done = threading.Event()
    kills = []

    def killer():
        for _ in range(KILLS):
            time.sleep(0.6)
            p = procs.procs[-1]
            p.kill()  # SIGKILL, mid-request when the burst is on
            p.wait()
            kills.append(time.time())
            procs.server(port)
            if done.is_set():
                return

    def one(_):
        client = HttpClient(url, tok, timeout=10, retry_for=120)
        return client.submit(arc, SubmitParams(step="csim", memory=1 << 28, timeout=60.0))["id"]

    k = threading.Thread(target=killer)
    k.start()
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(one, range(N)))
    done.set()
    k.join()
    jobs = Store(synth.settings().db).list()
    assert len(kills) >= 2  # the server really died during the burst
    assert len(ids) == N and len(set(ids)) == N  # every submission acknowledged, each with its own job
    assert sorted(j.id for j in jobs) == sorted(ids)  # and no other job: exactly N
    assert len({(j.user, j.step) for j in jobs}) == 1


def test_a_retry_after_a_lost_answer_finds_the_first_job(home, tmp_path, procs):
    """The failure keys exist for, made certain: the server commits, the answer never arrives (the client
    stops reading), the client tries again. With the same key: one job. Without a key: two."""
    import http.client
    import urllib.parse

    tok = synth.cli("token", "create", "lost").stdout.strip()
    url = procs.server(synth.free_port())
    arc = tmp_path / "a.tar.gz"
    arc.write_bytes(tiny_archive(1000))
    store = Store(synth.settings().db)

    def lose_answer(key: str) -> None:
        # The request goes out whole and the server commits it; the client never reads the answer.
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        q = urllib.parse.urlencode({"step": "csim", "memory": 1 << 28, "timeout": 60.0, "key": key})
        conn.request("POST", "/jobs?" + q, body=arc.read_bytes(), headers={"Authorization": f"Bearer {tok}"})
        synth.wait_for(lambda: len(store.list()) > before, 30, what="the server to commit the first try")
        conn.close()

    before = 0
    lose_answer("k1")
    again = HttpClient(url, tok).submit(arc, SubmitParams(step="csim", memory=1 << 28, timeout=60.0, key="k1"))
    assert len(store.list()) == 1 and again["id"] == store.list()[0].id
    before = 1
    lose_answer("")  # no key: the retry cannot be told from a new submission
    HttpClient(url, tok).submit(arc, SubmitParams(step="csim", memory=1 << 28, timeout=60.0, key=""))
    assert len(store.list()) == 3  # 2 jobs for 1 submission: what the key prevents
