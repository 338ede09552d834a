"""How a worker runs the jobs it has claimed: the seam between the queue and the machine.

The worker owns the queue side (claiming, leases, requeueing, reports); a Dispatcher owns the execution
side. ``local`` runs jobs as process groups on this host. A batch-system dispatcher (Slurm, HTCondor) is one
more module here plus one line in DISPATCHERS: ``start`` submits (sbatch --mem/--time), ``poll`` maps the
batch state to ours (Pending while the batch system still queues the run), ``cancel`` is scancel, and ``adopt`` lets a restarted worker keep tracking a job the
batch system is still running.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from l1ml.errors import ConfigError
from l1ml.synth.job import Job

DISPATCHERS = {
    "local": "l1ml.synth.dispatch.local:LocalDispatcher",
    "slurm": "l1ml.synth.dispatch.slurm:SlurmDispatcher",
    "condor": "l1ml.synth.dispatch.condor:CondorDispatcher",
}


@dataclass
class Outcome:
    """How a run ended: a terminal state from l1ml.synth.job, with its exit code and reason."""

    state: str
    exit_code: int | None = None
    reason: str = ""
    peak_memory: int | None = None


@dataclass
class Pending:
    """The run was handed to a batch system and waits in its queue: for the queue it is still ``running``
    (it holds its memory and its worker follows it); users see it as waiting there."""

    where: str  # e.g. "slurm pending (Resources)", "condor idle"


@dataclass
class Launch:
    """Everything a dispatcher needs to start one run; paths are absolute."""

    job: Job
    workdir: Path  # this run's own directory; the sources are in workdir/src
    script: Path  # bash script of the recorded commands, run with cwd workdir/src
    log: Path  # stdout and stderr go here (appended)
    memory: int  # declared memory, bytes
    timeout: float  # seconds


class Dispatcher(Protocol):
    name: str

    def start(self, launch: Launch) -> dict:
        """Start the run; returns a JSON-serialisable handle that is stored with the job."""

    def poll(self, job: Job, handle: dict) -> Outcome | Pending | None:
        """The Outcome once it ended (including oom and timeout kills); Pending while it waits in a batch
        system's queue; None while it runs (or nothing newer is known)."""

    def peak(self, job: Job, handle: dict) -> int | None:
        """Largest memory use seen so far, bytes."""

    def cancel(self, job: Job, handle: dict, state: str, reason: str) -> None:
        """Stop the run (all its processes); the next poll returns Outcome(state, reason=reason)."""

    def adopt(self, job: Job, handle: dict) -> bool:
        """After a worker restart: True if this dispatcher can keep tracking the run, else the caller
        requeues it (after reap)."""

    def reap(self, job: Job, handle: dict) -> None:
        """Make sure nothing of a run whose worker died is still running, so it never runs twice at once."""


def get_dispatcher(settings, **options) -> Dispatcher:
    """The dispatcher that ``settings.dispatcher`` names, made from these settings (with any overrides
    already applied), not from the config file."""
    name = settings.dispatcher
    if name not in DISPATCHERS:
        raise ConfigError(f"unknown dispatcher '{name}'; valid: {', '.join(sorted(DISPATCHERS))}")
    module, cls = DISPATCHERS[name].split(":")
    return getattr(importlib.import_module(module), cls)(settings, **options)
