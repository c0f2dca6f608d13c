"""The sandbox's state file: `<data-dir>/sandbox/state.json`, written at a graceful stop and
taken back at the next start.

The file is one JSON object, `{"format": "tidings-sandbox-state", "version": 1, "saved_at_ms":
…, …}` (the rest: `state.py`). It is written to a temporary file in the same directory, flushed
to disk and renamed over the old one (`os.replace`), so a crash while saving leaves the previous
file or the new one, never half of one. It is readable by its owner only: it holds what the
handsets received.

A start that took the file deletes it before it runs with what it held. Kept, a crash (`kill
-9`, which saves nothing) followed by a start would take it again: the messages it shows would
be in the inboxes twice, the deliveries it owed would be made twice, and the SMSC would give
again the message ids it gave after the first start, so that a late receipt could match the
wrong submission. What a crash loses instead is covered elsewhere: a message left without its
receipt becomes Unknown at its receipt deadline. A file that cannot be read (not JSON, another
format, a version this code does not know, content that does not decode) is moved aside to
`state.json.unreadable`, for whoever wants to look at it, and the sandbox starts empty.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, TypeVar

__all__ = [
    "FORMAT", "VERSION", "UnreadableState", "discard_state", "member", "optional_member", "read_state", "set_aside",
    "state_path", "write_state",
]

T = TypeVar("T")


FORMAT = "tidings-sandbox-state"
VERSION = 1
STATE_DIR = "sandbox"
STATE_FILE = "state.json"
UNREADABLE_SUFFIX = ".unreadable"


class UnreadableState(ValueError):
    """A state file this code cannot take back; the message says why."""


def state_path(data_dir: str) -> str:
    return os.path.join(data_dir, STATE_DIR, STATE_FILE)


def write_state(path: str, document: dict[str, Any]) -> None:
    """Write `document` (its format and version added) to `path` atomically."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    data = json.dumps({"format": FORMAT, "version": VERSION, **document}, separators=(",", ":"))
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def read_state(path: str) -> dict[str, Any] | None:
    """The document saved at `path`, None when there is none. Raises `UnreadableState`."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableState(f"cannot read it: {exc}") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise UnreadableState(f"not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UnreadableState(f"not a {FORMAT} file")
    if document.get("version") != VERSION:
        raise UnreadableState(f"version {document.get('version')!r}; this sandbox reads version {VERSION}")
    return document


def discard_state(path: str) -> None:
    """Delete the file once taken (see the module docstring for why)."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def set_aside(path: str) -> None:
    """Move an unreadable file out of the way, keeping it for inspection."""
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, path + UNREADABLE_SUFFIX)


def member(document: Any, name: str, kind: type[T]) -> T:
    """`document[name]`, which must be a `kind` (an int is not a bool; an int may stand for a
    float). Raises `UnreadableState` naming what is wrong."""
    if not isinstance(document, dict):
        raise UnreadableState(f"expected an object holding {name!r}, got {type(document).__name__}")
    value = document.get(name)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UnreadableState(f"{name!r} should be {kind.__name__}, is {value!r:.40}")
    return value


def optional_member(document: Any, name: str, kind: type[T]) -> T | None:
    """`member`, or None when `document[name]` is null or missing."""
    if isinstance(document, dict) and document.get(name) is None:
        return None
    return member(document, name, kind)
