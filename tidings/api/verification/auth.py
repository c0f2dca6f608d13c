"""Who is calling the Verification API: a verification application, by signed request or Basic.

    Authorization: Application {key}:{signature}   + x-timestamp (ISO-8601), see verify/signing.py
    Authorization: Basic base64({key}:{secret})

A signed request is accepted only if its `x-timestamp` is within `TIMESTAMP_WINDOW_MS` of the
server's clock, and each signature only once within that window (an in-process memory of
recent signatures; across API processes the window alone bounds a replay). Every failure is the
same 401 whatever was wrong, so a caller learns nothing about which keys exist. Comparisons are
constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import weakref
from collections import OrderedDict

from starlette.requests import Request

from tidings.actions.verify_apps import App, load_app, wrap_key
from tidings.core.errors import AuthError
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.verify import signing

__all__ = ["TIMESTAMP_WINDOW_MS", "authenticate_application"]

TIMESTAMP_WINDOW_MS = 5 * 60 * 1000
_SEEN_MAX = 100_000


class _Seen:
    """Signatures accepted in the last window: a replay inside the window is refused too."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, int] = OrderedDict()

    def add(self, signature: str, now_ms: int) -> bool:
        while self.entries:
            oldest, at = next(iter(self.entries.items()))
            if at > now_ms - 2 * TIMESTAMP_WINDOW_MS and len(self.entries) < _SEEN_MAX:
                break
            del self.entries[oldest]
        if signature in self.entries:
            return False
        self.entries[signature] = now_ms
        return True


_seen: weakref.WeakKeyDictionary[Database, _Seen] = weakref.WeakKeyDictionary()


def _paths(request: Request) -> set[str]:
    raw = request.scope.get("raw_path")
    found = {request.url.path}
    if isinstance(raw, bytes):
        found.add(raw.decode("latin-1").split("?", 1)[0])
    return found


async def _app(ctx: Context, key: str) -> App | None:
    server_key = await wrap_key(ctx.db, ctx.clock())
    async with ctx.db.read() as conn:
        return await load_app(conn, server_key, key=key)


async def authenticate_application(request: Request, ctx: Context, body: bytes) -> App:
    header = request.headers.get("authorization", "")
    scheme = header.partition(" ")[0].lower()
    if scheme == "basic":
        return await _basic(ctx, header)
    parsed = signing.parse_authorization(header)
    if parsed is None:
        raise AuthError("Missing or malformed Authorization header")
    key, received = parsed
    stamp = request.headers.get("x-timestamp")
    sent_ms = signing.parse_timestamp(stamp) if stamp else None
    now = ctx.clock()
    if sent_ms is None or abs(now - sent_ms) > TIMESTAMP_WINDOW_MS:
        raise AuthError("Invalid or expired x-timestamp")
    assert stamp is not None
    app = await _app(ctx, key)
    if app is None:
        signing.signature(base64.b64encode(b"\0" * 16).decode(), request.method, body, "", stamp, "/")  # same work
        raise AuthError("Invalid signature")
    content_type = request.headers.get("content-type", "")
    valid = any(hmac.compare_digest(received.encode(), signing.signature(
        app.secret, request.method, body, content_type, stamp, path).encode()) for path in _paths(request))
    if not valid:
        raise AuthError("Invalid signature")
    seen = _seen.get(ctx.db)
    if seen is None:
        seen = _seen[ctx.db] = _Seen()
    if not seen.add(f"{key}:{received}", now):
        raise AuthError("Replayed request")
    return app


async def _basic(ctx: Context, header: str) -> App:
    try:
        decoded = base64.b64decode(header.partition(" ")[2].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("Malformed Basic credentials") from None
    key, sep, secret = decoded.partition(":")
    app = await _app(ctx, key) if sep else None
    if app is None or not hmac.compare_digest(secret.encode(), app.secret.encode()):
        raise AuthError("Invalid credentials")
    return app
