"""What stops a command before it starts: one `tidings serve` per data directory, and ports it
cannot listen on.

The embedded profile keeps its dispatch queue, throughput caps and sandbox carrier inside the
serving process: a second `tidings serve` on the same SQLite file would run a second pipeline
over the same messages and a second sandbox beside the first. So `serve` holds an exclusive
`flock` on `<data-dir>/serve.lock` for its whole life, and a second one stops at once, naming
the first one's pid. The kernel drops the lock when the process ends however it ends (`kill -9`
included): a crash never leaves a stale lock for the restart to trip over. The lock file's
descriptor is not inherited by child processes, which could otherwise keep it held.

`tidings projects …` and the other commands do not take the lock: they work on the same
database while `serve` runs, as SQLite allows.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator

__all__ = ["DataDirError", "DataDirInUse", "DataDirLock", "ListenError", "listening_for", "listening_socket"]

LOCK_NAME = "serve.lock"

_LISTEN_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


class DataDirError(RuntimeError):
    """The data directory cannot be used (not creatable, not writable)."""


class DataDirInUse(DataDirError):
    """Another `tidings serve` holds the data directory."""


class ListenError(RuntimeError):
    """A port a command needs cannot be listened on (in use, not this host's, privileged)."""

    def __init__(self, what: str, host: str, port: int, option: str, error: OSError) -> None:
        # os.strerror: uvloop's own text repeats the address ("error while attempting to bind …").
        reason = os.strerror(error.errno) if error.errno else str(error)
        super().__init__(f"cannot listen on {host}:{port} for the {what}: {reason}; "
                         f"stop whatever holds it or choose another port with {option}")


@contextlib.contextmanager
def listening_for(what: str, host: str, port: int, option: str) -> Iterator[None]:
    """Around starting a listener: a port in use, not this host's or privileged comes out as
    `ListenError` naming `what` listens there and the `option` that changes the port."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _LISTEN_ERRNOS:
            raise ListenError(what, host, port, option, exc) from None
        raise


def listening_socket(host: str, port: int, what: str = "API", option: str = "--port") -> socket.socket:
    """A TCP socket bound to `host:port` for uvicorn to listen on, bound before anything else
    starts so that a port in use stops the command at once (`ListenError`)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        with listening_for(what, host, port, option):
            sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class DataDirLock:
    """The exclusive lock on a data directory (created if missing); `release` or process exit
    gives it up."""

    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, LOCK_NAME)
        self.data_dir = data_dir
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            os.makedirs(self.data_dir, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DataDirError(f"cannot use the data directory {self.data_dir}: "
                               f"{exc.strerror or exc}; choose another with --data-dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"the data directory {self.data_dir} is in use by another tidings serve (pid {holder}); "
                "stop it, or give this one a data directory of its own with --data-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
