"""Boards attached to workers, for the steps that need one (``hwtest``).

A worker declares what it has attached (`l1ml synth worker --board vu9p=<device id>`, repeatable). A job
of a board step asks for a board by name (its ``board`` field, e.g. ``vu9p``); the store's claim hands it
only to a worker that declares a board of that name whose device no running job holds, in the same
``BEGIN IMMEDIATE`` transaction that marks the job running with that device. A device is one physical
board: it is held by one job at a time, whichever worker declares it (two workers on one host that both
declare the same device still never share it).

The device id is the hardware manager's target: ``xilinx_tcf/Digilent/210308A5F1B4`` (on the local
hw_server), ``host:3121/xilinx_tcf/Digilent/210308A5F1B4`` (on a remote one), or a serial number alone.
"""

from __future__ import annotations

import re

from l1ml.errors import L1mlError
from l1ml.synth.job import QUEUED, Job

BOARD_STEPS = ("hwtest",)  # steps that run on an attached board
_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,127}")  # as params.py's board names
_DEVICE = re.compile(r"[A-Za-z0-9_.:/+-]{1,200}")


class BadBoard(L1mlError):
    """A --board declaration that is not NAME=DEVICE."""


def parse_boards(specs: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """['vu9p=xilinx_tcf/Digilent/1234', ...] -> (('vu9p', 'xilinx_tcf/Digilent/1234'), ...)."""
    out: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, device = spec.partition("=")
        name, device = name.strip(), device.strip()
        if not sep or not _NAME.fullmatch(name) or not _DEVICE.fullmatch(device):
            raise BadBoard(
                f"--board {spec!r} must be NAME=DEVICE, e.g. vu9p=xilinx_tcf/Digilent/210308A5F1B4 "
                "(NAME as in boards/NAME.toml; DEVICE the hardware manager's target or serial)"
            )
        if any(d == device for _, d in out):
            raise BadBoard(f"device {device!r} is declared twice; one physical board is one --board")
        out.append((name, device))
    return tuple(out)


def needs_board(job: Job) -> bool:
    return job.step in BOARD_STEPS


def free_boards(boards, held: set[str]) -> list[tuple[str, str]]:
    """This worker's boards whose device no running job holds."""
    return [(n, d) for n, d in boards if d not in held]


def takeable(job: Job, free: list[tuple[str, str]]) -> bool:
    """Whether a worker with these free boards may start `job` (a job that needs none: always)."""
    return not needs_board(job) or any(n == job.board for n, _ in free)


def device_for(job: Job, free: list[tuple[str, str]]) -> str:
    """The device the job will hold ('' for a job that needs no board)."""
    if not needs_board(job):
        return ""
    return next(d for n, d in free if n == job.board)


def waiting_reason(job: Job, attached: list[tuple[str, str]], held: dict[str, int]) -> str:
    """Why a queued board job waits: no live worker has its board, or every such board is busy.
    `attached`: (name, device) of every live worker; `held`: device -> the running job holding it."""
    if job.state != QUEUED or not needs_board(job):
        return ""
    devices = sorted({d for n, d in attached if n == job.board})
    if not devices:
        return (
            f"waits for a worker with a {job.board} attached; none of the live workers declares one "
            f"(start one with `l1ml synth worker --board {job.board}=<device id>`)"
        )
    busy = [d for d in devices if d in held]
    if len(busy) == len(devices):
        jobs = ", ".join(str(held[d]) for d in busy)
        return f"waits for a free {job.board}: all {len(devices)} attached are held (by job {jobs})"
    return ""  # a board is free: what it waits for (memory, a worker's round) is the general reason
