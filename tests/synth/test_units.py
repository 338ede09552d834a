"""Pure parts of the queue: sizes and durations users type, and the scheduler's choices."""

import pytest

from l1ml.errors import L1mlError
from l1ml.plan import check_step
from l1ml.synth import scheduler
from l1ml.synth.job import Job, format_memory, parse_duration, parse_memory
from l1ml.synth.params import SubmitParams

G = 1024**3


def test_memory_strings():
    assert parse_memory("32G") == 32 * G
    assert parse_memory("512M") == 512 * 1024**2
    assert parse_memory("1.5g") == int(1.5 * G)
    assert parse_memory("64GiB") == 64 * G
    assert format_memory(16 * G) == "16G"
    for bad in ("32Q", "", "G", "-1G", "0"):
        with pytest.raises(L1mlError, match="memory"):
            parse_memory(bad)


def test_durations():
    assert parse_duration("6h") == 6 * 3600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("45") == 45
    for bad in ("6x", "h", "1h 2", "0s"):
        with pytest.raises(L1mlError, match="duration"):
            parse_duration(bad)


def test_unknown_step_names_the_valid_ones():
    with pytest.raises(L1mlError, match="csim, csynth, cosim, vsynth, rtlsim"):
        check_step("synth")


def _job(i, user="a", memory=G, priority=0, t=None):
    return Job(
        id=i,
        user=user,
        step="csim",
        state="queued",
        memory=memory,
        priority=priority,
        submitted_at=float(i if t is None else t),
    )


def test_fair_share_one_users_many_jobs_do_not_starve_another():
    queued = [_job(i, "alice") for i in range(1, 51)] + [_job(51, "bob")]
    running = [_job(100, "alice")]
    assert scheduler.pick(queued, running, 4 * G, 8 * G, now=60).user == "bob"
    # Started jobs alternate between users while both have work.
    started, running = [], []
    for _ in range(4):
        j = scheduler.pick(queued, running, 100 * G, 100 * G, now=60)
        queued.remove(j)
        running.append(j)
        started.append(j.user)
    assert started.count("bob") == 1 and started[:2] in (["alice", "bob"], ["bob", "alice"])


def test_priority_before_fair_share_and_age():
    queued = [_job(1, "a"), _job(2, "b", priority=5)]
    assert scheduler.pick(queued, [], 8 * G, 8 * G, now=10).id == 2


def test_memory_admission_and_backfill():
    queued = [_job(1, memory=6 * G), _job(2, memory=2 * G)]
    assert scheduler.pick(queued, [], 4 * G, 8 * G, now=10).id == 2  # the big one waits; a small one fits
    assert scheduler.pick(queued, [], 1 * G, 8 * G, now=10) is None
    # After waiting long enough at the head, the big job reserves the memory: no more backfill.
    assert scheduler.pick(queued, [], 4 * G, 8 * G, now=10 + scheduler.RESERVE_AFTER) is None
    # A job larger than the whole budget never blocks this worker.
    assert scheduler.pick([_job(1, memory=99 * G), _job(2)], [], 4 * G, 8 * G, now=1e6).id == 2


def test_waiting_reason_for_jobs_no_worker_can_take():
    big = _job(1, memory=128 * G)
    assert "no worker is running" in scheduler.waiting_reason(big, [])
    assert "more than any worker's budget (largest 64G)" in scheduler.waiting_reason(big, [64 * G, 32 * G])
    assert scheduler.waiting_reason(_job(2, memory=G), [64 * G]) == ""


def test_default_memory_from_the_project_size(tmp_path):
    from l1ml.synth.client import derived_memory

    fw = tmp_path / "fw" / "hls4ml" / "firmware" / "weights"
    fw.mkdir(parents=True)
    (fw / "w2.txt").write_bytes(b"0" * 3_000_000)  # 3 MB of weights
    assert derived_memory("csynth", tmp_path / "fw") == 16 * G  # 8 + 2*3 = 14 -> 16
    assert derived_memory("csim", tmp_path / "fw") == 5 * G  # 2 + 3
    (fw / "w3.txt").write_bytes(b"0" * 200_000_000)
    assert derived_memory("vsynth", tmp_path / "fw") == 128 * G  # capped


def test_store_made_before_the_pending_column_gets_it(tmp_path):
    import sqlite3

    from l1ml.synth.store import SCHEMA, Store

    old = SCHEMA.replace(",\n    pending TEXT NOT NULL DEFAULT ''", "")
    assert old != SCHEMA
    with sqlite3.connect(tmp_path / "queue.db") as db:
        db.executescript(old)
        db.execute(
            "INSERT INTO jobs (user, step, state, memory, timeout, submitted_at) "
            "VALUES ('a', 'csim', 'queued', 1, 60, 0)"
        )
    store = Store(tmp_path / "queue.db")
    Store(tmp_path / "queue.db")  # a second opener finds the column there
    j = store.get(1)
    assert j.pending == "" and store.describe([j])[0]["where"] == "l1ml queue"


def test_a_run_waiting_in_a_batch_system_is_shown_queued_until_it_starts(tmp_path):
    import time

    from l1ml.synth.store import Store

    store = Store(tmp_path / "queue.db")
    store.submit("a", SubmitParams(step="csim", memory=G, timeout=60))
    j = store.claim("w", 2 * G, scheduler.pick)
    store.record_start(j.id, "w", 1, {"system": "slurm", "slurm_id": "7"}, [])
    assert store.set_pending(j.id, "w", 1, "slurm pending (Resources)")
    shown = store.describe([store.get(j.id)])[0]
    assert (shown["state"], shown["where"]) == ("queued", "slurm pending (Resources)")
    assert store.get(j.id).state == "running"  # for the queue: handed over, its memory held
    time.sleep(0.01)
    assert store.set_pending(j.id, "w", 1, "")
    started = store.get(j.id)
    assert started.started_at > j.started_at  # the moment it really started
    shown = store.describe([started])[0]
    assert (shown["state"], shown["where"]) == ("running", "slurm running")
    assert not store.set_pending(j.id, "other-worker", 1, "x")  # fenced like every worker update


def test_relative_home_and_work_become_absolute(tmp_path, monkeypatch):
    """A job runs with its work directory as cwd: a relative queue path given by the user (the demo
    passes one) must not reach the dispatcher as relative."""
    from l1ml.synth.settings import Settings

    monkeypatch.chdir(tmp_path)
    s = Settings(home="queue", work="w")
    assert s.home == tmp_path / "queue" and s.work == tmp_path / "w"
    assert Settings(home="queue").work == tmp_path / "queue" / "work"
