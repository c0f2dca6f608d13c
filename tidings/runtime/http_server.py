"""A uvicorn server inside a process's own event loop, leaving the process's signals to it.

`uvicorn.Server.serve()` takes over SIGINT and SIGTERM while it runs and, once it has shut down,
raises the signal it caught again with the previous handlers back. A process that serves HTTP
next to other work (`tidings serve`: the workers, the SMPP sessions, the database) then dies of
SIGTERM before that work is stopped — messages handed to the SMSC and not yet recorded would be
sent again after the restart — and a test helper would take over its test runner's signals.
`InLoopServer` leaves signals alone; `shut_down_on_signals` makes SIGINT and SIGTERM shut the
server down gracefully, so the code after `await server.serve()` stops the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

__all__ = ["InLoopServer", "SHUTDOWN_SIGNALS", "shut_down_on_signals"]

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InLoopServer(uvicorn.Server):
    """A uvicorn server that neither installs signal handlers nor raises a signal on exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def shut_down_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """While inside: SIGINT or SIGTERM asks `server` to shut down gracefully. Outside (the
    caller stopping the rest), the process's usual handlers are back, so a second signal
    interrupts or ends the process as it would have before."""
    loop = asyncio.get_running_loop()
    for sig in SHUTDOWN_SIGNALS:
        loop.add_signal_handler(sig, server.handle_exit, sig, None)
    try:
        yield
    finally:
        for sig in SHUTDOWN_SIGNALS:
            loop.remove_signal_handler(sig)
