"""Which queued job a worker starts next: memory admission, then priority, then fair share across users.

A pure function over job records, so the store can call it inside its claim transaction and the tests can
call it on hand-made lists.
"""

from __future__ import annotations

from collections import Counter

from l1ml.synth.job import QUEUED, Job, format_memory

# After this long at the head of the queue, a job that does not fit stops smaller jobs from backfilling past
# it, so large jobs are not starved by a stream of small ones.
RESERVE_AFTER = 900.0


def order(queued: list[Job], running: list[Job]) -> list[Job]:
    """Higher priority first; among equals, the user with fewest running jobs, then the oldest job."""
    busy = Counter(j.user for j in running)
    return sorted(queued, key=lambda j: (-j.priority, busy[j.user], j.submitted_at, j.id))


def pick(
    queued: list[Job],
    running: list[Job],
    free: int,
    budget: int,
    now: float,
    reserve_after: float = RESERVE_AFTER,
) -> Job | None:
    """The job to start with `free` bytes of this worker's `budget` left, or None to wait."""
    for job in order(queued, running):
        if job.memory > budget:
            continue  # can never run on this worker; another with a larger budget may take it
        if job.memory <= free:
            return job
        if now - job.submitted_at > reserve_after:
            return None
    return None


def waiting_reason(job: Job, budgets: list[int]) -> str:
    """Why a queued job is not running, where it would otherwise wait silently forever."""
    if job.state != QUEUED:
        return job.reason
    if not budgets:
        return job.reason or "no worker is running; start one with `l1ml synth worker --memory-budget ...`"
    if job.memory > max(budgets):
        return (
            f"needs {format_memory(job.memory)}, more than any worker's budget "
            f"(largest {format_memory(max(budgets))}); resubmit with less --memory or add a worker"
        )
    return job.reason
