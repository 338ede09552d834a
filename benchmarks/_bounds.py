"""What bounds a benchmark's figure: wall and CPU seconds per stage, and a cProfile written to a file.

Shared by benchmarks/explore.py and benchmarks/streaming.py. Stages are timed by wrapping the library's
own functions for the run (module attributes it looks up at call time), so nothing in l1ml changes.
CPU is the calling thread's (time.thread_time), which stays right when stages run in several threads.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from pathlib import Path


class Stages:
    """Seconds per named stage, summed over calls (and over threads: concurrent stages can sum to more
    than the run's wall time)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.profiles: list[cProfile.Profile] = []

    def add(self, stage: str, wall: float, cpu: float) -> None:
        self.wall[stage] += wall
        self.cpu[stage] += cpu
        self.calls[stage] += 1

    def wrap(self, fn, stage: str, profile: bool = False):
        """fn, timed under `stage`; with profile, each call also runs under its own cProfile (one per
        call, so calls in other threads are profiled too; merged by write_profile)."""

        def timed(*args, **kwargs):
            t, c = time.perf_counter(), time.thread_time()
            prof = cProfile.Profile() if profile else None
            try:
                if prof is None:
                    return fn(*args, **kwargs)
                return prof.runcall(fn, *args, **kwargs)
            finally:
                self.add(stage, time.perf_counter() - t, time.thread_time() - c)
                if prof is not None:
                    self.profiles.append(prof)

        return timed

    def iterate(self, it, stage: str):
        """The items of `it`, the time spent producing each counted under `stage`."""
        it = iter(it)
        while True:
            t, c = time.perf_counter(), time.thread_time()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                self.add(stage, time.perf_counter() - t, time.thread_time() - c)
            yield item

    @contextmanager
    def patched(self, *targets):
        """Wrap (owner, attribute name, stage[, profile]) for the duration of the block."""
        with ExitStack() as stack:
            for owner, name, stage, *prof in targets:
                old = getattr(owner, name)
                setattr(owner, name, self.wrap(old, stage, *prof))
                stack.callback(setattr, owner, name, old)
            yield self

    def table(self, total_wall: float, events: int = 0) -> list[str]:
        """One line per stage, slowest first: seconds, share of the run's wall time, events/s it alone
        would allow (the ceiling that stage puts on the run)."""
        lines = []
        for s in sorted(self.wall, key=self.wall.get, reverse=True):
            w, c = self.wall[s], self.cpu[s]
            rate = f"{events / w:>12,.0f} events/s alone" if events and w > 0 else ""
            lines.append(
                f"    {s:<34} {w:8.2f} s wall {100 * w / max(total_wall, 1e-9):5.1f}%  {c:8.2f} s CPU "
                f"{self.calls[s]:>6} calls  {rate}"
            )
        return lines

    def slowest(self) -> str:
        return max(self.wall, key=self.wall.get) if self.wall else "?"


def write_profile(path: Path, profiles, top: int = 25) -> Path:
    """The merged profiles' top entries by cumulative time, as text, at path."""
    profiles = [p for p in profiles if p is not None]
    if not profiles:
        raise ValueError("no profile was recorded")
    buf = io.StringIO()
    st = pstats.Stats(profiles[0], stream=buf)
    for p in profiles[1:]:
        st.add(p)
    st.strip_dirs().sort_stats("cumulative").print_stats(top)
    Path(path).write_text(buf.getvalue())
    return Path(path)


def goal_line(goal: str, met: bool, figure: str) -> str:
    return f"goal      : {goal}: {'MET' if met else 'NOT MET'}: {figure}"
