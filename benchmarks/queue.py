"""Synthesis-queue benchmark. Prints, from one run:

1. the scheduler's overhead per job: claim, unpack, plan, record, finish, summary and result archive, with the
   job's own command replaced by nothing (a dispatcher that completes at once), on a real SQLite file;
2. submit throughput over loopback HTTP against a real `l1ml synth serve`;
3. for a fixed mix of job memory sizes on one budget, the makespan against running them one at a time
   (real `sleep` processes started by the local dispatcher).

4. with --soak N (1000 for the figure in docs/synth.md): a soak of N jobs from 4 HTTP clients on 2 workers,
   with random SIGKILLs of the workers and of the server, which prints jobs lost, jobs duplicated, runs
   overlapping, leftover processes and leftover temp files (all must be zero). Each job runs through the
   real worker, supervisor and sandbox; its "compiler" is a stand-in that writes a csim.exe running the
   job's script (a short sleep that also leaves a setsid child behind), so the soak measures the queue,
   not g++.

Run: .venv/bin/python benchmarks/queue.py [--jobs 200] [--http 200] [--soak 1000]
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
    from l1ml.synth.params import SubmitParams
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
        client.submit(copy, SubmitParams("csim", G, 60.0))
    w = Worker(s, budget=4 * G, poll=0, dispatcher=Instant())
    t0 = time.perf_counter()
    while len(w.store.list(states=("succeeded",), limit=n + 1)) < n:
        w.step()
    return (time.perf_counter() - t0) / n


def claim_latency(depth: int, tmp: Path) -> float:
    """One claim transaction (read the queue, pick, update) with `depth` jobs queued from 20 users."""
    from l1ml.synth import scheduler
    from l1ml.synth.params import SubmitParams
    from l1ml.synth.store import Store

    store = Store(tmp / "claim.db")
    for i in range(depth):
        store.submit(f"user{i % 20}", SubmitParams("csim", G, 60.0))
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
    from l1ml.synth.params import SubmitParams
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
        durations[client.submit(copy, SubmitParams("csim", mem * G, 60.0))["id"]] = dur
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


SOAK_JOB = """\
run=$(basename $(dirname $(dirname $(dirname $PWD))))-$(basename $(dirname $(dirname $PWD)))  # ID-attemptN
echo "start $PWD $(date +%s.%N)" >> {marks}/$run
setsid sleep 300 {tag} >/dev/null 2>&1 < /dev/null &
sleep 0.$((RANDOM % 5))
echo "end $PWD $(date +%s.%N)" >> {marks}/$run
"""
# Hostile jobs mixed into the soak (--hostile): each does one thing of issue 27's table to the shared queue.
# Every one must end (any state) without losing, failing or re-running an honest job, or leaving anything.
HOSTILE_JOBS = {
    "symlink-loop-and-deep-tree": "ln -s b a; ln -s a b\n"
    "python3 -c \"import os\nfor i in range(1100):\n    os.mkdir('d'); os.chdir('d')\"\n",
    "1100-processes": "for i in $(seq 1100); do sleep 60 & done\nwait\n",
    "disk-and-stdout": "head -c 64M /dev/zero > big\nhead -c 64M /dev/zero | base64\nsleep 30\n",
    "dev-shm": "head -c 300M /dev/zero > /dev/shm/fill\nsleep 30\n",
    "sparse-3g-result": "truncate -s 3G huge_csynth.rpt\nmkdir -p tb_data\ntruncate -s 3G tb_data/csim_results.log\n",
    "cpu-spin": "timeout 60 bash -c 'while :; do :; done'\n",
    "kill-own-supervisor": "kill -9 $PPID 2>/dev/null; kill -9 1 2>/dev/null; sleep 20\n",
}
FAKE_CXX = """#!/bin/bash
# A stand-in for g++ in the soak: writes the -o target as a script that runs the job's job.sh.
while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out=$2; shift; done
printf '#!/bin/bash\nexec bash job.sh\n' > "$out" && chmod +x "$out"
"""


def soak(n: int, tmp: Path, seed: int = 1, hostile: float = 0.0) -> dict:
    """N jobs from 4 clients on 2 workers, with random worker and server SIGKILLs; returns the counts.
    `hostile`: the fraction of jobs that are one of HOSTILE_JOBS (from another user), the rest honest."""
    import random
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    import psutil

    from l1ml.synth.archive import pack
    from l1ml.synth.client import HttpClient
    from l1ml.synth.job import TERMINAL
    from l1ml.synth.params import SubmitParams
    from l1ml.synth.store import Store

    rng = random.Random(seed)
    tag = f"l1ml-soak-{os.getpid()}"
    home, marks = tmp / "soak", tmp / "marks"
    marks.mkdir(parents=True)
    (tmp / "bin").mkdir()
    cxx = tmp / "bin" / "fake-g++"  # under /tmp, which the sandbox replaces: bound in explicitly
    cxx.write_text(FAKE_CXX)
    cxx.chmod(0o755)
    conf = tmp / "soak.toml"
    conf.write_text(
        f'sandbox_writable = ["{marks}", "{tmp / "bin"}"]\nmax_attempts = 10\nkeep_days = 30\n'
        # Limits tight enough for the hostile jobs to meet them, loose for the honest ones.
        f"max_pids = 200\nmax_job_disk = {32 * 1024**2}\nmax_cpu_time = 5.0\ntmpfs_size = {512 * 1024**2}\n"
        f"max_result_file = {16 * 1024**2}\n"
        f'[tools]\n"g++" = "{cxx}"\n'
    )
    s = settings_for(home)
    os.environ["L1ML_SYNTH_CONFIG"] = str(conf)
    token = Store(s.db).create_token("soak")
    fw = tiny_firmware(tmp / "s")
    (fw / "hls4ml" / "job.sh").write_text(SOAK_JOB.format(marks=marks, tag=tag))
    arc = tmp / "soak.tar.gz"
    pack(fw, arc)
    hostile_arcs = []
    for name, script in HOSTILE_JOBS.items():
        hfw = tiny_firmware(tmp / "h" / name)
        (hfw / "hls4ml" / "job.sh").write_text(script)
        pack(hfw, tmp / f"hostile-{name}.tar.gz")
        hostile_arcs.append(tmp / f"hostile-{name}.tar.gz")
    mallory = Store(s.db).create_token("mallory")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "l1ml.cli.synth"]
    logs = open(tmp / "soak.log", "ab")  # noqa: SIM115 - shared by every service this soak starts

    def start_server():
        p = subprocess.Popen([*cli, "serve", "--port", str(port)], stdout=logs, stderr=logs)
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    return p
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the soak's server did not come up")

    def start_worker():
        return subprocess.Popen(
            [*cli, "worker", "--memory-budget", "4G", "--max-jobs", "3", "--poll", "0.05", "--lease", "3"],
            stdout=logs,
            stderr=logs,
        )

    services = {"server": start_server(), "w0": start_worker(), "w1": start_worker()}
    kills = {"server": 0, "worker": 0}
    stop = threading.Event()

    def chaos():
        while not stop.wait(rng.uniform(4, 10)):
            name = rng.choice(["server", "w0", "w1"])
            services[name].kill()  # SIGKILL
            services[name].wait()
            kills["server" if name == "server" else "worker"] += 1
            services[name] = start_server() if name == "server" else start_worker()

    acked: list[int] = []
    bad_ids: set[int] = set()
    kinds: dict[int, str] = {}
    lock = threading.Lock()

    def client(k: int) -> None:
        c = HttpClient(url, token, timeout=20, retry_for=600)
        h = HttpClient(url, mallory, timeout=20, retry_for=600)
        local = random.Random(seed * 100 + k)
        for _ in range(n // 4 + (1 if k < n % 4 else 0)):
            if local.random() < hostile:
                which = local.choice(hostile_arcs)
                job = h.submit(which, SubmitParams("csim", G // 8, 30.0))
                with lock:
                    acked.append(job["id"])
                    bad_ids.add(job["id"])
                    kinds[job["id"]] = which.name[len("hostile-") : -len(".tar.gz")]
                continue
            job = c.submit(arc, SubmitParams("csim", G // 8, 60.0))
            with lock:
                acked.append(job["id"])

    t0 = time.time()
    monkey = threading.Thread(target=chaos)
    monkey.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(client, range(4)))
    except BaseException:  # the chaos thread and the services must not outlive a failed soak
        stop.set()
        monkey.join()
        for p in services.values():
            p.kill()
        raise
    store = Store(s.db)
    deadline = time.time() + 30 * 60
    while time.time() < deadline:
        if (
            len(store.list(states=TERMINAL, limit=10**9)) >= len(set(acked))
            and store.list(states=("queued", "running"), limit=1) == []
        ):
            break
        time.sleep(1)
    stop.set()
    monkey.join()
    for p in services.values():
        p.terminate()
    for p in services.values():
        p.wait(30)
    elapsed = time.time() - t0
    jobs = {j.id: j for j in store.list(limit=10**9)}
    states: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for j in jobs.values():
        states[j.state] = states.get(j.state, 0) + 1
        if j.state != "succeeded":
            reasons[j.reason[:80]] = reasons.get(j.reason[:80], 0) + 1
    lost = sum(1 for i in set(acked) if i not in jobs or jobs[i].state not in TERMINAL)
    honest = set(acked) - bad_ids
    honest_lost = sum(1 for i in honest if i not in jobs or jobs[i].state not in TERMINAL)
    honest_failed = sum(
        1 for i in honest if i in jobs and jobs[i].state in TERMINAL and jobs[i].state != "succeeded"
    )
    hostile_states: dict[str, int] = {}
    for i in bad_ids:
        st = f"{kinds.get(i, '?')}: {jobs[i].state if i in jobs else 'missing'}"
        hostile_states[st] = hostile_states.get(st, 0) + 1
    duplicated = (len(acked) - len(set(acked))) + sum(1 for i in jobs if i not in set(acked))
    # Runs overlapping, from the jobs' own marks: an attempt lives from its "start" to its "end", or, if it
    # was killed, until the queue recorded it ended (its run was reaped before that moment).
    ended = {(r["job_id"], r["attempt"]): r["ended_at"] or float("inf") for r in store.runs()}
    by_job: dict[str, list[tuple[float, float]]] = {}
    for f in marks.iterdir():
        job_id, _, attempt = f.name.partition("-attempt")
        t = {w.split()[0]: float(w.split()[2]) for w in f.read_text().splitlines() if len(w.split()) == 3}
        end = t.get("end", ended.get((int(job_id), int(attempt)), float("inf")))
        by_job.setdefault(job_id, []).append((t.get("start", 0.0), end))
    # Run twice: an honest job whose job.sh ran to its end in more than one attempt.
    completed: dict[str, int] = {}
    for f in marks.iterdir():
        if any(line.startswith("end ") for line in f.read_text().splitlines()):
            job_id = f.name.partition("-attempt")[0]
            completed[job_id] = completed.get(job_id, 0) + 1
    run_twice = sum(1 for j, c in completed.items() if c > 1 and int(j) in honest)
    overlapping = 0
    for spans in by_job.values():
        spans.sort()
        overlapping += sum(1 for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1])
    time.sleep(1)
    leftover_procs = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if tag in " ".join(p.info["cmdline"] or ()) or (p.info["cwd"] or "").startswith(str(home)):
                if p.status() != psutil.STATUS_ZOMBIE:
                    leftover_procs.append(p)
        except psutil.Error:
            pass
    for p in leftover_procs:  # the soak must not leave them on the machine either
        p.kill()
    from l1ml.synth import tree  # a hostile job's 1,100-level tree is beyond rglob's recursion

    temp = [Path(p) for p, _ in tree.entries(home) if p.endswith((".upload", ".tmp"))]
    return {
        "jobs": n,
        "acknowledged": len(acked),
        "states": states,
        "reasons": reasons,
        "lost": lost,
        "honest": len(honest),
        "hostile": len(bad_ids),
        "hostile_states": hostile_states,
        "honest_lost": honest_lost,
        "honest_failed": honest_failed,
        "honest_run_twice": run_twice,
        "duplicated": duplicated,
        "overlapping": overlapping,
        "leftover_processes": len(leftover_procs),
        "leftover_temp_files": len(temp),
        "temp_names": [p.relative_to(home).as_posix() for p in temp],
        "server_kills": kills["server"],
        "worker_kills": kills["worker"],
        "seconds": elapsed,
        "attempts": sum(j.attempts for j in jobs.values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200, help="jobs for the overhead measurement")
    ap.add_argument("--http", type=int, default=200, help="submissions for the HTTP throughput")
    ap.add_argument("--soak", type=int, default=0, help="run only the soak, with this many jobs (e.g. 1000)")
    ap.add_argument(
        "--hostile", type=float, default=0.0, help="fraction of the soak's jobs that are hostile (e.g. 0.05)"
    )
    a = ap.parse_args()
    if a.soak:
        from l1ml.synth import tree

        d = tempfile.mkdtemp(prefix="l1ml-soak-")
        try:
            r = soak(a.soak, Path(d), hostile=a.hostile)
        finally:
            tree.remove(Path(d))  # shutil.rmtree recurses: a hostile job's deep tree stops it
        print(
            f"soak: {r['jobs']} jobs from 4 clients on 2 workers in {r['seconds']:.0f} s, "
            f"{r['server_kills']} server and {r['worker_kills']} worker SIGKILLs, {r['attempts']} runs; "
            f"states {r['states']}"
        )
        print(
            f"  honest jobs: {r['honest']}; hostile jobs: {r['hostile']}; "
            f"honest lost {r['honest_lost']}, failed {r['honest_failed']}, run twice {r['honest_run_twice']}"
        )
        for kind, count in sorted(r["hostile_states"].items()):
            print(f"  hostile {kind}: {count}")
        for reason, count in sorted(r["reasons"].items(), key=lambda x: -x[1]):
            print(f"  {count} x {reason}")
        for key in ("lost", "duplicated", "overlapping", "leftover_processes", "leftover_temp_files"):
            print(f"  {key.replace('_', ' ')}: {r[key]}")
        for name in r["temp_names"]:
            print(f"    left: {name}")
        bad = [
            k
            for k in ("lost", "duplicated", "overlapping", "leftover_processes", "leftover_temp_files",
                      "honest_lost", "honest_failed", "honest_run_twice")
            if r[k]
        ]  # fmt: skip
        sys.exit(1 if bad else 0)
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
