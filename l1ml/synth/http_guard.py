"""The HTTP server's defences against hostile or careless clients, under uvicorn:

- a connection limit below the file-descriptor limit (the soft limit is raised to the hard one first):
  past it a new connection is closed at once, so the server never meets EMFILE and its own fds stay free;
- a bound on the time a client may take to send a request's headers (slowloris): the connection is closed;
- a log filter that lets one message through at most once every 10 s (an accept loop on EMFILE once wrote
  415 MB of the same traceback in a minute).

Upload time (per chunk and in all) is bounded by the submit handler itself (l1ml.synth.server).
"""

from __future__ import annotations

import logging
import resource
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

RESERVED_FDS = 64  # for the store, uploads being written, results being sent


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


def connection_limit(wanted: int, soft_fds: int) -> int:
    return max(8, min(wanted, soft_fds - RESERVED_FDS))


def guarded_protocol(max_connections: int, header_timeout: float) -> type[H11Protocol]:
    """An H11Protocol that closes connections past max_connections at once, and any connection whose
    request headers are not complete within header_timeout seconds."""

    class Guarded(H11Protocol):
        _header_timer = None
        _armed_for = None  # the request cycle current when the timer was armed: a new one cancels it

        def _arm(self) -> None:
            self._disarm()
            self._armed_for = self.cycle
            self._header_timer = self.loop.call_later(header_timeout, self._headers_late)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            idle = self.cycle is None or self.cycle.response_complete
            if self.cycle is self._armed_for and idle and not self.transport.is_closing():
                self.transport.abort()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()  # the fd is freed now; the client sees a reset, not a hang
                return
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self._header_timer is not None and self.cycle is not self._armed_for:
                self._disarm()  # a request's headers arrived in time

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():  # keep-alive: the next request gets its own bound
                self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return Guarded


class OncePer(logging.Filter):
    """Let a given message through at most once every `seconds`."""

    def __init__(self, seconds: float = 10.0):
        super().__init__()
        self.seconds = seconds
        self.last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = time.monotonic()
        if now - self.last.get(key, -1e9) < self.seconds:
            return False
        if len(self.last) > 1000:
            self.last.clear()
        self.last[key] = now
        return True


def quiet_logs() -> None:
    for name in ("asyncio", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(OncePer())
