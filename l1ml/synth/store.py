"""The durable job store: one SQLite file in WAL mode.

Every change that reads-then-writes takes ``BEGIN IMMEDIATE`` so two workers (or a worker and the server)
never both claim a job. A running job carries a lease: the worker that claimed it extends the lease with
heartbeats; once it lapses the job is requeued (or failed after ``max_attempts``). Updates by a worker are
fenced on (worker id, attempt number), so a worker that lost its lease cannot overwrite a newer run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from l1ml.errors import L1mlError
from l1ml.synth.boards import device_for, free_boards, takeable
from l1ml.synth.job import CANCELLED, FAILED, QUEUED, RUNNING, TERMINAL, Job, shown
from l1ml.synth.params import SubmitParams

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL, step TEXT NOT NULL, state TEXT NOT NULL, memory INTEGER NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0, timeout REAL NOT NULL,
    project TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '', board TEXT NOT NULL DEFAULT '',
    submitted_at REAL NOT NULL, started_at REAL, ended_at REAL, exit_code INTEGER,
    reason TEXT NOT NULL DEFAULT '', peak_memory INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL DEFAULT 3,
    worker TEXT NOT NULL DEFAULT '', lease_until REAL, cancel_requested INTEGER NOT NULL DEFAULT 0,
    handle TEXT NOT NULL DEFAULT '{}', commands TEXT NOT NULL DEFAULT '[]',
    pending TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_user ON jobs(user);
CREATE TABLE IF NOT EXISTS runs (
    job_id INTEGER NOT NULL, attempt INTEGER NOT NULL, worker TEXT NOT NULL, memory INTEGER NOT NULL,
    started_at REAL NOT NULL, ended_at REAL, outcome TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, attempt)
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, budget INTEGER NOT NULL,
    seen_at REAL NOT NULL
);
"""

# Columns added after the first release, for stores created before them: (name, definition).
ADDED_COLUMNS = (
    ("pending", "TEXT NOT NULL DEFAULT ''"),
    ("submit_key", "TEXT NOT NULL DEFAULT ''"),  # the client's idempotency key ('' for none)
    ("unpacked", "INTEGER NOT NULL DEFAULT 0"),  # bytes the archive unpacks to (quota while unfinished)
    ("disk", "INTEGER NOT NULL DEFAULT 0"),  # bytes its work dir and results keep once finished
    ("fetched_at", "REAL"),
    ("purged_at", "REAL"),  # when gc deleted its work dir and results
    ("device", "TEXT NOT NULL DEFAULT ''"),  # the attached board a board step's run holds (l1ml.synth.boards)
)
WORKER_COLUMNS = (("boards", "TEXT NOT NULL DEFAULT '[]'"),)  # [[name, device], ...] it declares
# One job per (user, key): a retried submission finds the job its first try made.
KEY_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS jobs_key ON jobs(user, submit_key) WHERE submit_key != ''"

ROLES = ("user", "admin")
_JSON_COLS = ("handle", "commands")


def _row_to_job(row: sqlite3.Row) -> Job:
    d = dict(row)
    for col in _JSON_COLS:
        d[col] = json.loads(d[col])
    d["cancel_requested"] = bool(d["cancel_requested"])
    return Job.from_dict(d)


_LIGHT = "SELECT id, user, step, memory, priority, submitted_at, worker, board FROM jobs WHERE state=?"


def _light(row: tuple, state: str) -> Job:
    i, user, step, memory, priority, submitted, worker, board = row
    return Job(
        id=i,
        user=user,
        step=step,
        state=state,
        memory=memory,
        priority=priority,
        submitted_at=submitted,
        worker=worker,
        board=board,
    )


class QuotaExceeded(L1mlError):
    """The user's queued and kept data would go over their quota."""


def _private(path: Path) -> None:
    """The store holds every user's jobs and the token hashes: readable by the queue's account only."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            os.chmod(p, 0o600)
        except FileNotFoundError:
            pass


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    def __init__(self, path: str | Path, lease: float = 30.0, max_attempts: int = 3):
        self.path = Path(path)
        self.lease = lease
        self.max_attempts = max_attempts
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._local = threading.local()
        self._conn().executescript(SCHEMA)
        self._migrate()
        _private(self.path)
        try:
            os.chmod(self.path.parent, 0o700)
        except OSError:  # a home we do not own: its owner decides
            pass

    def _migrate(self) -> None:
        with self.tx() as db:  # under the write lock, so two processes opening an old store add it once
            have = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
            for name, definition in ADDED_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {definition}")
            db.execute(KEY_INDEX)
            have = {r[1] for r in db.execute("PRAGMA table_info(workers)")}
            for name, definition in WORKER_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE workers ADD COLUMN {name} {definition}")

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread and per process: sqlite3 connections must not cross fork or threads.
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an accepted job survives power loss, not just SIGKILL
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- jobs -------------------------------------------------------------------------------------------

    def submit(
        self,
        user: str,
        p: SubmitParams,
        *,
        archive: Path | None = None,
        archives_dir: Path | None = None,
        unpacked: int = 0,
        quota: int | None = None,
    ) -> Job:
        """Insert a queued job. The archive file is moved to <archives_dir>/<id>.tar.gz inside the
        transaction, so a committed job always has its archive.

        Everything is checked before the transaction. A `key` already used by this user answers the job made
        then (the archive is left to the caller to delete). `quota`: bytes this user may hold queued
        (unpacked archives) and kept (finished jobs' work dirs and results), this job included. `p` was
        checked when it was made (SubmitParams checks itself)."""
        if not isinstance(p, SubmitParams):
            raise TypeError(f"Store.submit takes SubmitParams, not {type(p).__name__}")
        if isinstance(unpacked, bool) or not isinstance(unpacked, int) or unpacked < 0:
            raise L1mlError(f"unpacked size {unpacked!r} must be a whole number of bytes")
        now = time.time()
        with self.tx() as db:
            if p.key:
                row = db.execute(
                    "SELECT id FROM jobs WHERE user=? AND submit_key=?", (user, p.key)
                ).fetchone()
                if row is not None:
                    return self.get(row[0])  # type: ignore[return-value]
            if quota is not None:
                used = self._usage(db, user)
                if used + unpacked > quota:
                    raise QuotaExceeded(
                        f"user {user} holds {used} bytes of queued and kept data; this job's {unpacked} more "
                        f"would pass the quota of {quota} bytes (fetch and let `l1ml synth gc` clear old results)"
                    )
            cur = db.execute(
                "INSERT INTO jobs (user, step, state, memory, priority, timeout, project, model, board,"
                " submitted_at, max_attempts, submit_key, unpacked) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    user,
                    p.step,
                    QUEUED,
                    p.memory,
                    p.priority,
                    p.timeout,
                    p.project,
                    p.model,
                    p.board,
                    now,
                    self.max_attempts,
                    p.key,
                    unpacked,
                ),
            )
            job_id = cur.lastrowid
            if archive is not None and archives_dir is not None:
                archives_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.replace(archive, archives_dir / f"{job_id}.tar.gz")
        job = self.get(job_id)
        if job is None:
            raise L1mlError(f"job {job_id} vanished right after it was committed")
        return job

    def find_key(self, user: str, key: str) -> Job | None:
        row = (
            self._conn().execute("SELECT id FROM jobs WHERE user=? AND submit_key=?", (user, key)).fetchone()
        )
        return self.get(row[0]) if row else None

    @staticmethod
    def _usage(db, user: str) -> int:
        row = db.execute(
            "SELECT COALESCE(SUM(CASE WHEN state IN (?, ?) THEN unpacked ELSE disk END), 0) FROM jobs"
            " WHERE user=? AND purged_at IS NULL",
            (QUEUED, RUNNING, user),
        ).fetchone()
        return int(row[0])

    def usage(self, user: str) -> int:
        """Bytes of queued and kept data this user holds (what the quota counts)."""
        return self._usage(self._conn(), user)

    def set_disk(self, job_id: int, nbytes: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE jobs SET disk=? WHERE id=?", (nbytes, job_id))

    def mark_fetched(self, job_id: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE jobs SET fetched_at=COALESCE(fetched_at, ?) WHERE id=?", (time.time(), job_id))

    def purgeable(self, before: float, fetched: bool) -> list[Job]:
        """Finished jobs, not yet purged, that ended before `before` (or, with `fetched`, were fetched)."""
        sql = "SELECT * FROM jobs WHERE state IN ({}) AND purged_at IS NULL AND (ended_at<?{})".format(
            ",".join("?" * len(TERMINAL)), " OR fetched_at IS NOT NULL" if fetched else ""
        )
        return [_row_to_job(r) for r in self._conn().execute(sql, (*TERMINAL, before))]

    def mark_purged(self, job_id: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE jobs SET purged_at=?, disk=0 WHERE id=?", (time.time(), job_id))

    def get(self, job_id: int) -> Job | None:
        row = self._conn().execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _row_to_job(row) if row else None

    def list(
        self, user: str | None = None, states: tuple[str, ...] | None = None, limit: int = 1000
    ) -> list[Job]:
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if user is not None:
            sql += " AND user=?"
            args.append(user)
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args.extend(states)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [_row_to_job(r) for r in self._conn().execute(sql, args)]

    def runs(self, job_id: int | None = None) -> list[dict]:
        sql = (
            "SELECT * FROM runs" + (" WHERE job_id=?" if job_id is not None else "") + " ORDER BY started_at"
        )
        return [dict(r) for r in self._conn().execute(sql, () if job_id is None else (job_id,))]

    def claim(
        self,
        worker: str,
        budget: int,
        pick: Callable[[list[Job], list[Job], int, int, float], Job | None],
        boards: tuple[tuple[str, str], ...] = (),
    ) -> Job | None:
        """Take the job `pick` chooses from the queue, given this worker's free memory and its attached
        `boards` ((name, device), ...) that no running job holds. One transaction: a board goes to one job."""
        now = time.time()
        conn = self._conn()
        # Without the write lock: most rounds of a busy worker find nothing that fits, and stop here.
        smallest = conn.execute("SELECT MIN(memory) FROM jobs WHERE state=?", (QUEUED,)).fetchone()[0]
        used = conn.execute(
            "SELECT COALESCE(SUM(memory), 0) FROM jobs WHERE state=? AND worker=?", (RUNNING, worker)
        ).fetchone()[0]
        if smallest is None or smallest > budget - used:
            return None
        with self.tx() as db:
            # Only the columns the scheduler reads: decoding every row in full costs more than the choice.
            queued = [_light(r, QUEUED) for r in db.execute(_LIGHT, (QUEUED,))]
            if not queued:
                return None
            running = [_light(r, RUNNING) for r in db.execute(_LIGHT, (RUNNING,))]
            used = sum(j.memory for j in running if j.worker == worker)
            free = free_boards(boards, self._held_devices(db))
            # A job whose board this worker cannot offer now is not its to take, nor to wait for.
            job = pick([j for j in queued if takeable(j, free)], running, budget - used, budget, now)
            if job is None:
                return None
            device = device_for(job, free)
            attempt = db.execute("SELECT attempts FROM jobs WHERE id=?", (job.id,)).fetchone()[0] + 1
            db.execute(
                "UPDATE jobs SET state=?, worker=?, attempts=?, started_at=?, ended_at=NULL, lease_until=?,"
                " exit_code=NULL, peak_memory=NULL, handle='{}', commands='[]', pending='', device=?"
                " WHERE id=? AND state=?",
                (RUNNING, worker, attempt, now, now + self.lease, device, job.id, QUEUED),
            )
            db.execute(
                "INSERT INTO runs (job_id, attempt, worker, memory, started_at) VALUES (?,?,?,?,?)",
                (job.id, attempt, worker, job.memory, now),
            )
        return self.get(job.id)

    def _fenced(self, db, job_id: int, worker: str, attempt: int, sets: str, args: tuple) -> bool:
        cur = db.execute(
            f"UPDATE jobs SET {sets} WHERE id=? AND state=? AND worker=? AND attempts=?",
            (*args, job_id, RUNNING, worker, attempt),
        )
        return cur.rowcount == 1

    def record_start(self, job_id: int, worker: str, attempt: int, handle: dict, commands: list) -> bool:
        with self.tx() as db:
            return self._fenced(
                db,
                job_id,
                worker,
                attempt,
                "handle=?, commands=?",
                (json.dumps(handle), json.dumps(commands)),
            )

    def record_commands(self, job_id: int, worker: str, attempt: int, commands: list) -> bool:
        with self.tx() as db:
            return self._fenced(db, job_id, worker, attempt, "commands=?", (json.dumps(commands),))

    def finish(
        self,
        job_id: int,
        worker: str,
        attempt: int,
        state: str,
        exit_code: int | None = None,
        reason: str = "",
        peak_memory: int | None = None,
    ) -> bool:
        """End a run; False when this worker no longer holds the job (its lease lapsed and it moved on)."""
        assert state in TERMINAL
        now = time.time()
        with self.tx() as db:
            ok = self._fenced(
                db,
                job_id,
                worker,
                attempt,
                "state=?, exit_code=?, reason=?, peak_memory=?, ended_at=?, lease_until=NULL, pending=''",
                (state, exit_code, reason, peak_memory, now),
            )
            if ok:
                db.execute(
                    "UPDATE runs SET ended_at=?, outcome=? WHERE job_id=? AND attempt=?",
                    (now, state, job_id, attempt),
                )
            return ok

    def set_pending(self, job_id: int, worker: str, attempt: int, where: str) -> bool:
        """Where a run waits in its batch system ("" once it runs there). The state stays ``running``:
        the run holds its memory and its worker follows it either way. When the wait ends, started_at
        becomes the moment it really started."""
        with self.tx() as db:
            return self._fenced(
                db,
                job_id,
                worker,
                attempt,
                "started_at=CASE WHEN ?='' AND pending!='' THEN ? ELSE started_at END, pending=?",
                (where, time.time(), where),
            )

    def heartbeat(
        self, worker: str, host: str, pid: int, budget: int, boards: tuple[tuple[str, str], ...] = ()
    ) -> set[int]:
        """Extend the leases of this worker's jobs; returns the ids it still holds."""
        now = time.time()
        with self.tx() as db:
            db.execute(
                "INSERT INTO workers (id, host, pid, budget, seen_at, boards) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET seen_at=excluded.seen_at, budget=excluded.budget,"
                " boards=excluded.boards",
                (worker, host, pid, budget, now, json.dumps([list(b) for b in boards])),
            )
            # A lapsed lease is still ours until someone requeues the job (which clears `worker`), so a
            # worker that stalled for a moment keeps its jobs rather than killing them itself.
            db.execute(
                "UPDATE jobs SET lease_until=? WHERE state=? AND worker=?",
                (now + self.lease, RUNNING, worker),
            )
            rows = db.execute("SELECT id FROM jobs WHERE state=? AND worker=?", (RUNNING, worker)).fetchall()
        return {r[0] for r in rows}

    def set_peak(self, job_id: int, worker: str, attempt: int, peak: int) -> None:
        with self.tx() as db:
            self._fenced(db, job_id, worker, attempt, "peak_memory=?", (peak,))

    def expired(self, now: float | None = None) -> list[Job]:
        now = time.time() if now is None else now
        rows = self._conn().execute("SELECT * FROM jobs WHERE state=? AND lease_until<?", (RUNNING, now))
        return [_row_to_job(r) for r in rows]

    def running_on(self, worker_prefix: str) -> list[Job]:
        rows = self._conn().execute(
            "SELECT * FROM jobs WHERE state=? AND worker LIKE ?", (RUNNING, worker_prefix + "%")
        )
        return [_row_to_job(r) for r in rows]

    def adopt(self, job: Job, worker: str) -> Job | None:
        """A run whose worker is gone but whose batch job lives on: hand it, same attempt and handle, to
        `worker`. None if another worker got there first."""
        now = time.time()
        with self.tx() as db:
            if not self._fenced(
                db, job.id, job.worker, job.attempts, "worker=?, lease_until=?", (worker, now + self.lease)
            ):
                return None
            db.execute(
                "UPDATE runs SET worker=? WHERE job_id=? AND attempt=?", (worker, job.id, job.attempts)
            )
        return self.get(job.id)

    def requeue(
        self, job: Job, reason: str, expired_only: bool = True, before: Callable[[Job], None] | None = None
    ) -> Job | None:
        """A run whose worker is gone: queue it again, or fail it once its attempts are used up.

        `before(job)` runs inside the transaction, after the run is confirmed lost and before anyone can
        claim the job again: the place to kill what is left of the old run. None if the run was not lost
        (its worker heartbeated in time, or another worker already dealt with it)."""
        now = time.time()
        with self.tx() as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE id=? AND state=? AND worker=? AND attempts=?"
                + (" AND lease_until<?" if expired_only else ""),
                (job.id, RUNNING, job.worker, job.attempts, *((now,) if expired_only else ())),
            ).fetchone()
            if row is None:
                return None
            job = _row_to_job(row)
            if before is not None:
                before(job)
            if job.cancel_requested:
                sets, args = (
                    "state=?, reason=?, ended_at=?, lease_until=NULL, pending=''",
                    (CANCELLED, "cancelled", now),
                )
                outcome = CANCELLED
            elif job.attempts >= job.max_attempts:
                msg = f"{reason}; gave up after {job.attempts} attempt(s)"
                sets, args = "state=?, reason=?, ended_at=?, lease_until=NULL, pending=''", (FAILED, msg, now)
                outcome = FAILED
            else:
                sets = "state=?, reason=?, worker='', lease_until=NULL, started_at=NULL, pending=''"
                args, outcome = (QUEUED, f"requeued: {reason}"), "lost"
            self._fenced(db, job.id, job.worker, job.attempts, sets, args)
            db.execute(
                "UPDATE runs SET ended_at=?, outcome=? WHERE job_id=? AND attempt=?",
                (now, outcome, job.id, job.attempts),
            )
        return self.get(job.id)

    def request_cancel(self, job_id: int) -> Job:
        """Queued jobs are cancelled at once; running ones are flagged and their worker kills them."""
        now = time.time()
        with self.tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise L1mlError(f"no job {job_id}")
            if row[0] == QUEUED:
                db.execute(
                    "UPDATE jobs SET state=?, reason=?, ended_at=? WHERE id=?",
                    (CANCELLED, "cancelled before it started", now, job_id),
                )
            elif row[0] == RUNNING:
                db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
        return self.get(job_id)  # type: ignore[return-value]

    def cancel_requests(self, worker: str) -> list[int]:
        rows = self._conn().execute(
            "SELECT id FROM jobs WHERE state=? AND worker=? AND cancel_requested=1", (RUNNING, worker)
        )
        return [r[0] for r in rows]

    def live_budgets(self) -> list[int]:
        """Memory budgets of the workers that heartbeated within two leases."""
        rows = self._conn().execute(
            "SELECT budget FROM workers WHERE seen_at>?", (time.time() - 2 * self.lease,)
        )
        return [r[0] for r in rows]

    @staticmethod
    def _held_devices(db) -> dict[str, int]:
        """device -> the running job that holds it."""
        rows = db.execute("SELECT device, id FROM jobs WHERE state=? AND device!=''", (RUNNING,))
        return {r[0]: r[1] for r in rows}

    def live_boards(self) -> list[tuple[str, str]]:
        """(name, device) of the boards the workers that heartbeated within two leases declare."""
        rows = self._conn().execute(
            "SELECT boards FROM workers WHERE seen_at>?", (time.time() - 2 * self.lease,)
        )
        return [(n, d) for r in rows for n, d in json.loads(r[0])]

    def describe(self, jobs: list[Job]) -> list[dict]:
        """Jobs as the clients see them: queued ones say why they wait when no worker can take them."""
        from l1ml.synth import boards
        from l1ml.synth.scheduler import waiting_reason

        budgets = self.live_budgets() if any(j.state == QUEUED for j in jobs) else []
        board_jobs = any(j.state == QUEUED and boards.needs_board(j) for j in jobs)
        attached = self.live_boards() if board_jobs else []
        held = self._held_devices(self._conn()) if board_jobs else {}
        out = []
        for j in jobs:
            state, where = shown(j)
            reason = boards.waiting_reason(j, attached, held) or waiting_reason(j, budgets)
            out.append({**j.to_dict(), "state": state, "where": where, "reason": reason})
        return out

    def workers(self) -> list[dict]:
        return [dict(r) for r in self._conn().execute("SELECT * FROM workers ORDER BY seen_at DESC")]

    # --- tokens -----------------------------------------------------------------------------------------

    def create_token(self, user: str, role: str = "user") -> str:
        if role not in ROLES:
            raise L1mlError(f"unknown role '{role}'; valid roles: {', '.join(ROLES)}")
        if not user or not user.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise L1mlError(f"user name '{user}' must be letters, digits, '-', '_' or '.'")
        token = "l1ml_" + secrets.token_urlsafe(32)
        with self.tx() as db:
            db.execute(
                "INSERT INTO tokens (hash, user, role, created_at) VALUES (?,?,?,?)",
                (hash_token(token), user, role, time.time()),
            )
        return token

    def authenticate(self, token: str) -> tuple[str, str] | None:
        row = (
            self._conn()
            .execute("SELECT user, role FROM tokens WHERE hash=?", (hash_token(token),))
            .fetchone()
        )
        return (row[0], row[1]) if row else None

    def users(self) -> list[str]:
        """Every user holding a token: more than one makes this a shared queue."""
        return [r[0] for r in self._conn().execute("SELECT DISTINCT user FROM tokens ORDER BY user")]

    def revoke_tokens(self, user: str) -> int:
        with self.tx() as db:
            return db.execute("DELETE FROM tokens WHERE user=?", (user,)).rowcount
