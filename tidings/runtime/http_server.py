"""A uvicorn server inside a process's own event loop, leaving the process's signals to it.

`uvicorn.Server.serve()` takes over SIGINT and SIGTERM while it runs and, once it has shut down,
raises the signal it caught again with the previous handlers back. A process that serves HTTP
next to other work (`tidings serve`: the workers, the SMPP sessions, the database) then dies of
SIGTERM before that work is stopped — messages handed to the SMSC and not yet recorded would be
sent again after the restart — and a test helper would take over its test runner's signals.
`InLoopServer` leaves signals alone; `shut_down_on_signals` makes SIGINT and SIGTERM shut the
server down gracefully, so the code after `await server.serve()` stops the rest.

uvicorn's graceful shutdown waits, by default, for as long as any request is still being answered:
one that never ends (a client that stops sending its body, a handler stuck on a peer) would hold
the process, or a test, forever. `InLoopServer` bounds the wait (`Settings.shutdown_grace_seconds`
where the caller has settings) and then cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
from collections.abc import Iterator

import uvicorn

__all__ = ["DEFAULT_SHUTDOWN_GRACE_SECONDS", "InLoopServer", "SHUTDOWN_SIGNALS", "TEST_SHUTDOWN_GRACE_SECONDS",
           "shut_down_on_signals"]

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DEFAULT_SHUTDOWN_GRACE_SECONDS = 30
TEST_SHUTDOWN_GRACE_SECONDS = 2
"""The test helpers' servers (`serve_app`, `WebhookReceiver`): a request a test leaves hanging on
purpose is cancelled this long into the stop, so the test ends on its own assertions."""


class InLoopServer(uvicorn.Server):
    """A uvicorn server that neither installs signal handlers nor raises a signal on exit, and
    whose shutdown cancels requests still running after the config's `timeout_graceful_shutdown`
    (`DEFAULT_SHUTDOWN_GRACE_SECONDS` when the config leaves it unset)."""

    @staticmethod
    def grace(settings_seconds: float) -> int:
        """`Settings.shutdown_grace_seconds` as uvicorn takes it (whole seconds, at least one)."""
        return max(1, math.ceil(settings_seconds))

    def __init__(self, config: uvicorn.Config) -> None:
        if config.timeout_graceful_shutdown is None:
            config.timeout_graceful_shutdown = DEFAULT_SHUTDOWN_GRACE_SECONDS
        super().__init__(config)

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
