"""Synthesis-queue benchmark. Prints, from one run:

1. the scheduler's overhead per job: claim, unpack, plan, record, finish, summary and result archive, with the
   job's own command replaced by nothing (a dispatcher that completes at once), on a real SQLite file;
2. submit throughput over loopback HTTP against a real `l1ml synth serve`;
3. for a fixed mix of job memory sizes on one budget, the makespan against running them one at a time
   (real `sleep` processes started by the local dispatcher).

Run: .venv/bin/python benchmarks/queue.py [--jobs 200] [--http 200]
"""

from __future__ import annotations

import sys

# This file is named queue.py; its directory on sys.path would shadow the standard library's queue module.
_here = __import__("os").path.dirname(__import__("os").path.abspath(__file__))
sys.path[:] = [p for p in sys.path if p and __import__("os").path.abspath(p) != _here]

import argparse  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

G = 1024**3


def tiny_firmware(root: Path) -> Path:
    hls = root / "fw" / "hls4ml"
    (hls / "firmware").mkdir(parents=True)
    (hls / "myproject_test.cpp").write_text("int main() { return 0; }\n")
    (hls / "firmware" / "myproject.cpp").write_text("int myproject() { return 1; }\n")
    return root / "fw"


def settings_for(home: Path):
    os.environ["L1ML_SYNTH_HOME"] = str(home)
    os.environ["L1ML_SYNTH_CONFIG"] = str(home / "absent.toml")
    from l1ml.synth.settings import load_settings

    return load_settings()


def overhead(n: int, tmp: Path) -> float:
    from l1ml.synth.archive import pack
    from l1ml.synth.client import LocalClient
    from l1ml.synth.dispatch import Outcome
    from l1ml.synth.worker import Worker

    class Instant:
        name = "instant"

        def start(self, launch):
            return {}

        def poll(self, job, handle):
            return Outcome("succeeded", 0)

        def peak(self, job, handle):
            return None

        def cancel(self, job, handle, state, reason):
            pass

        def adopt(self, job, handle):
            return False

        def reap(self, job, handle):
            pass

    s = settings_for(tmp / "overhead")
    arc = tmp / "fw.tar.gz"
    pack(tiny_firmware(tmp), arc)
    client = LocalClient(s)
    for _ in range(n):
        copy = tmp / "copy.tar.gz"
        copy.write_bytes(arc.read_bytes())
        client.submit(copy, step="csim", memory=G, timeout=60)
    w = Worker(s, budget=4 * G, poll=0, dispatcher=Instant())
    t0 = time.perf_counter()
    while len(w.store.list(states=("succeeded",), limit=n + 1)) < n:
        w.step()
    return (time.perf_counter() - t0) / n


def claim_latency(depth: int, tmp: Path) -> float:
    """One claim transaction (read the queue, pick, update) with `depth` jobs queued from 20 users."""
    from l1ml.synth import scheduler
    from l1ml.synth.store import Store

    store = Store(tmp / "claim.db")
    for i in range(depth):
        store.submit(user=f"user{i % 20}", step="csim", memory=G, timeout=60)
    t0 = time.perf_counter()
    n = 100
    for _ in range(n):
        store.claim("bench:1:x", 10**6 * G, scheduler.pick)
    return (time.perf_counter() - t0) / n


def http_throughput(n: int, tmp: Path) -> tuple[float, float]:
    import httpx

    from l1ml.synth.archive import pack
    from l1ml.synth.store import Store

    s = settings_for(tmp / "http")
    token = Store(s.db).create_token("bench")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ}
    server = subprocess.Popen(
        [sys.executable, "-m", "l1ml.cli.synth", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        arc = tmp / "fw-http.tar.gz"
        pack(tiny_firmware(tmp / "h"), arc)
        body = arc.read_bytes()
        params = {"step": "csim", "memory": G, "timeout": 60}
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            t0 = time.perf_counter()
            for _ in range(n):
                c.post("/jobs", params=params, content=body).raise_for_status()
            seq = n / (time.perf_counter() - t0)
        from concurrent.futures import ThreadPoolExecutor

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(
                    pool.map(
                        lambda _: c.post("/jobs", params=params, content=body).raise_for_status(), range(n)
                    )
                )
            par = n / (time.perf_counter() - t0)
    finally:
        server.terminate()
        server.wait(10)
    return seq, par


MIX = [
    (8, 1.0),
    (16, 1.5),
    (32, 2.0),
    (8, 0.5),
    (64, 2.0),
    (16, 1.0),
    (8, 1.0),
    (32, 1.5),
    (16, 0.5),
    (8, 1.0),
]
BUDGET = 64


def makespan(tmp: Path) -> tuple[float, float, float]:
    from l1ml.synth.archive import pack
    from l1ml.synth.client import LocalClient
    from l1ml.synth.dispatch.local import LocalDispatcher
    from l1ml.synth.worker import Worker

    durations: dict[int, float] = {}

    class Sleeping(LocalDispatcher):
        """The local dispatcher, with each job's commands replaced by a sleep of its duration."""

        def start(self, launch):
            launch.script.write_text(f"exec sleep {durations[launch.job.id]}\n")
            return super().start(launch)

        def poll(self, job, handle):
            run = self.runs.get(job.id)
            if run is not None:
                run.peak = 0  # the budget is notional here: the watchdog must not see 8 GB as exceeded
                run.memory = 1 << 62
            return super().poll(job, handle)

    s = settings_for(tmp / "makespan")
    arc = tmp / "fw-mix.tar.gz"
    pack(tiny_firmware(tmp / "m"), arc)
    client = LocalClient(s)
    for mem, dur in MIX:
        copy = tmp / "copy.tar.gz"
        copy.write_bytes(arc.read_bytes())
        durations[client.submit(copy, step="csim", memory=mem * G, timeout=60)["id"]] = dur
    w = Worker(s, budget=BUDGET * G, poll=0.02, dispatcher=Sleeping())
    t0 = time.perf_counter()
    w.run(until=lambda: len(w.store.list(states=("succeeded",))) == len(MIX))
    span = time.perf_counter() - t0
    runs = w.store.runs()
    return span, sum(d for _, d in MIX), max(_concurrent_memory(runs), 0) / G


def _concurrent_memory(runs: list[dict]) -> int:
    best = 0
    for r in runs:
        alive = [x for x in runs if x["started_at"] <= r["started_at"] < (x["ended_at"] or 1e18)]
        best = max(best, sum(x["memory"] for x in alive))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200, help="jobs for the overhead measurement")
    ap.add_argument("--http", type=int, default=200, help="submissions for the HTTP throughput")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="l1ml-bench-") as d:
        tmp = Path(d)
        per_job = overhead(a.jobs, tmp)
        print(
            f"scheduler overhead per job: {per_job * 1e3:.1f} ms "
            f"(claim, unpack, plan, record, finish, summary, result archive; {a.jobs} jobs, SQLite WAL)"
        )
        for depth in (100, 1000):
            print(
                f"  of which one claim (scheduling transaction) at queue depth {depth}: "
                f"{claim_latency(depth, tmp / f'd{depth}') * 1e3:.1f} ms"
            )
        seq, par = http_throughput(a.http, tmp)
        print(
            f"submit throughput over loopback HTTP: {seq:.0f} jobs/s sequential, {par:.0f} jobs/s with 4 "
            f"client threads ({a.http} submissions each)"
        )
        span, serial, peak = makespan(tmp)
        mems = "+".join(str(m) for m, _ in MIX)
        print(
            f"makespan for {len(MIX)} jobs ({mems} GB) on a {BUDGET} GB budget: {span:.2f} s "
            f"vs {serial:.2f} s one at a time = {serial / span:.2f}x faster; "
            f"peak declared memory in use {peak:.0f} GB"
        )


if __name__ == "__main__":
    main()
