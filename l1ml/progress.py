"""How library code reports progress without printing: it calls a reporter the caller passes in.

The CLI passes a rich-backed reporter (l1ml/cli/_common.py); tests and scripts pass nothing.
"""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def task(self, name: str, total: float | None = None) -> None: ...

    def advance(self, name: str, amount: float = 1) -> None: ...


class Silent:
    def task(self, name: str, total: float | None = None) -> None:
        pass

    def advance(self, name: str, amount: float = 1) -> None:
        pass


def or_silent(reporter: Reporter | None) -> Reporter:
    return reporter if reporter is not None else Silent()
