"""The job record, its states, and the parsers for the sizes and durations users type. The step names
are l1ml.plan.STEPS."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from l1ml.errors import L1mlError

QUEUED, RUNNING = "queued", "running"
SUCCEEDED, FAILED, OOM, TIMEOUT, CANCELLED = "succeeded", "failed", "oom", "timeout", "cancelled"
# A run ended for going over one of the limits a shared host holds it to (l1ml.synth.supervisor).
PIDS, DISK, CPU = "pids", "disk", "cpu"
TERMINAL = (SUCCEEDED, FAILED, OOM, TIMEOUT, CANCELLED, PIDS, DISK, CPU)
STATES = (QUEUED, RUNNING, *TERMINAL)

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_memory(text: str | int) -> int:
    """'32G', '512M', '1.5G' or a byte count -> bytes. Binary units, as the tools and cgroups use."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise L1mlError(f"memory '{text}' is not a size; write it like 512M, 32G or 1T")
    value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise L1mlError(f"memory '{text}' must be more than zero")
    return value


def format_memory(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("T", "G", "M", "K"):
        if n >= _UNITS[unit]:
            v = n / _UNITS[unit]
            return f"{v:.0f}{unit}" if v == int(v) or v >= 100 else f"{v:.1f}{unit}"
    return f"{n}B"


def parse_duration(text: str | float | int) -> float:
    """'6h', '90m', '1h30m', '45s' or a plain number of seconds -> seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", s)
    if not parts or "".join(n + u for n, u in parts) != s or sum(float(n) for n, _ in parts) <= 0:
        raise L1mlError(f"duration '{text}' is not valid; write it like 6h, 90m, 1h30m or 45s")
    return sum(float(n) * _SECONDS[u] for n, u in parts)


@dataclass
class Job:
    """One row of the jobs table. Times are Unix seconds (float); memory is bytes."""

    id: int
    user: str
    step: str
    state: str
    memory: int
    priority: int = 0
    timeout: float = 6 * 3600.0
    project: str = ""
    model: str = ""
    board: str = ""
    submitted_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    peak_memory: int | None = None
    attempts: int = 0
    max_attempts: int = 3
    worker: str = ""
    lease_until: float | None = None
    cancel_requested: bool = False
    handle: dict = field(default_factory=dict)  # the dispatcher's own record (pid, pgid, or a batch job id)
    commands: list = field(default_factory=list)  # recorded before they run
    pending: str = ""  # while `running`: where the run still waits in a batch system's queue
    device: str = ""  # while `running` a board step: the attached board it holds (l1ml.synth.boards)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


def shown(job: Job) -> tuple[str, str]:
    """(state, where) as users see a job. A run its batch system still queues is ``running`` for the queue
    (it holds its memory) but ``queued`` for its user, with where it waits."""
    if job.state == QUEUED:
        return QUEUED, "l1ml queue"
    if job.state != RUNNING:
        return job.state, ""
    if job.pending:
        return QUEUED, job.pending
    system = (job.handle or {}).get("system")
    return RUNNING, f"{system} running" if system else f"local on {job.worker.partition(':')[0]}"
