"""Free TCP ports on the loopback address, for tests and benchmarks that start servers as
processes (which must be told a port before they bind it)."""

from __future__ import annotations

import contextlib
import socket

__all__ = ["free_port", "free_ports"]


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free now. Each probe's socket stays open until all are taken:
    probed one after the other, the kernel may hand out the same port twice (it did: a
    benchmark's API was given the sandbox's HTTP port, failed to bind, and the sandbox answered
    its health check)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports
