"""The parameters of one submission, as one checked value: `client.package` (for the CLI and `l1ml run`) or
the HTTP server (from the query) makes a SubmitParams, and the clients and the store take it as it is,
so the fields are listed once, here. Making one checks every field, before anything is written, so a bad
value is a 400 (or a one-line CLI error) and never a half-made job.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import asdict, dataclass

from l1ml.errors import L1mlError
from l1ml.plan import STEPS
from l1ml.synth.boards import BOARD_STEPS

MAX_MEMORY = 2**50  # 1 PiB: past any build host, and far inside SQLite's 64-bit integers
MAX_TIMEOUT = 30 * 86400.0  # seconds
USER_PRIORITY = (-10, 10)  # a plain user's range; admins may use ADMIN_PRIORITY
ADMIN_PRIORITY = (-1000, 1000)
MAX_JOB_ID = 2**63 - 1
MAX_OFFSET = 2**62
# Project and model names are labels (a project.toml name may hold spaces); a board names boards/<board>.toml,
# so it is stricter. Neither allows '/', NUL or control characters.
_NAME = re.compile(r"[\w.+\- ]{0,128}")
_BOARD = re.compile(r"(?:[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,127})?")
_KEY = re.compile(r"[A-Za-z0-9_-]{0,64}")


def check_memory(text: str) -> int:
    """A --memory the user typed, in bytes: a size no larger than MAX_MEMORY (a larger one is a typo)."""
    from l1ml.synth.job import parse_memory

    value = parse_memory(text)
    if value > MAX_MEMORY:
        raise L1mlError(f"memory '{text}' is more than any build host has; write it like 32G (at most 1024T)")
    return value


class BadParameter(L1mlError):
    """A submission parameter out of range or malformed; the message names it."""


def new_key() -> str:
    """A submission key: one per submission, kept across the client's retries of it."""
    return uuid.uuid4().hex


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class SubmitParams:
    step: str
    memory: int
    timeout: float
    priority: int = 0
    project: str = ""
    model: str = ""
    board: str = ""
    key: str = ""  # idempotency key: a retry with the same key answers the job made the first time

    def __post_init__(self):
        if self.step not in STEPS:
            raise BadParameter(f"unknown step {_show(self.step)}; valid steps: {', '.join(STEPS)}")
        mem = self.memory
        if isinstance(mem, bool) or not isinstance(mem, int) or not 0 < mem <= MAX_MEMORY:
            raise BadParameter(f"memory {_show(mem)} must be a whole number of bytes from 1 to {MAX_MEMORY}")
        t = self.timeout
        if (
            isinstance(t, bool)
            or not isinstance(t, int | float)
            or not math.isfinite(t)
            or not 0 < t <= MAX_TIMEOUT
        ):
            raise BadParameter(
                f"timeout {_show(t)} must be a number of seconds above 0 and up to {MAX_TIMEOUT:.0f}"
            )
        object.__setattr__(self, "timeout", float(t))
        p = self.priority
        if isinstance(p, bool) or not isinstance(p, int) or not ADMIN_PRIORITY[0] <= p <= ADMIN_PRIORITY[1]:
            raise BadParameter(
                f"priority {_show(p)} must be a whole number from {ADMIN_PRIORITY[0]} to {ADMIN_PRIORITY[1]}"
            )
        for name in ("project", "model", "board"):
            v = getattr(self, name)
            pattern = _BOARD if name == "board" else _NAME
            if not isinstance(v, str) or not pattern.fullmatch(v):
                raise BadParameter(
                    f"{name} {_show(v)} must be up to 128 letters, digits, '_', '.', '+' or '-'"
                    + (
                        " (a board name, not a path)"
                        if name == "board"
                        else " or spaces (a name, not a path)"
                    )
                )
        if self.step in BOARD_STEPS and not self.board:
            raise BadParameter(f"step {self.step} runs on an attached board: name one (board, e.g. vu9p)")
        if not isinstance(self.key, str) or not _KEY.fullmatch(self.key):
            raise BadParameter(
                f"submission key {_show(self.key)} must be up to 64 letters, digits, '_' or '-'"
            )

    def check_priority_for(self, role: str) -> None:
        lo, hi = ADMIN_PRIORITY if role == "admin" else USER_PRIORITY
        if not lo <= self.priority <= hi:
            raise BadParameter(f"priority must be between {lo} and {hi}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_query(cls, q: dict[str, str]) -> SubmitParams:
        """From the HTTP query's strings; numbers are parsed strictly (no '1e30' for a byte count)."""
        unknown = set(q) - set(cls.__dataclass_fields__)
        if unknown:
            raise BadParameter(f"unknown parameter(s) {', '.join(sorted(map(_show, unknown)))}")
        for required in ("step", "memory", "timeout"):
            if required not in q:
                raise BadParameter(f"missing parameter {required}")

        def integer(name: str, text: str) -> int:
            if not re.fullmatch(r"[+-]?\d{1,20}", text.strip()):
                raise BadParameter(f"{name} {_show(text)} is not a whole number")
            return int(text)

        def number(name: str, text: str) -> float:
            try:
                return float(text)
            except ValueError:
                raise BadParameter(f"{name} {_show(text)} is not a number") from None

        return cls(
            step=q["step"],
            memory=integer("memory", q["memory"]),
            timeout=number("timeout", q["timeout"]),
            priority=integer("priority", q.get("priority", "0")),
            project=q.get("project", ""),
            model=q.get("model", ""),
            board=q.get("board", ""),
            key=q.get("key", ""),
        )


def check_job_id(job_id: int) -> int:
    if not 0 < job_id <= MAX_JOB_ID:
        raise BadParameter(f"job id {_show(job_id)} is out of range")
    return job_id


def check_offset(offset: int) -> int:
    if not 0 <= offset <= MAX_OFFSET:
        raise BadParameter(f"log offset {_show(offset)} must be from 0 to {MAX_OFFSET}")
    return offset
