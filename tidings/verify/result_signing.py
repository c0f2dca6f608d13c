"""Result events signed as Sinch signs verification callbacks: the application's own scheme.

A result event waits in the webhook outbox like any webhook, but Sinch signs callbacks to a
verification application with the application's key and secret (`signing.headers`:
`Authorization: Application {key}:{signature}`, `x-timestamp`, `Content-Type`), not with the
project's webhook secret. The outbox row names the application instead of carrying a secret
(`marker(app_key)` in its `secret` column); the webhook sender asks `headers_for` at posting time,
which unwraps the secret only then and only for an application of the row's own project.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tidings.store.db import Database
from tidings.verify import signing

__all__ = ["PREFIX", "headers_for", "is_marker", "marker"]

PREFIX = "verification-app:"


def marker(app_key: str) -> str:
    return PREFIX + app_key


def is_marker(secret: str) -> bool:
    return secret.startswith(PREFIX)


async def headers_for(db: Database, project_id: str, secret: str, body: bytes, url: str,
                      now_ms: int) -> dict[str, str] | None:
    """Signed headers for posting `body` to `url`, or None when the application is gone (or
    belongs to another project)."""
    from tidings.actions.verify_apps import load_app, wrap_key

    key = secret.removeprefix(PREFIX)
    server_key = await wrap_key(db, now_ms)
    async with db.read() as conn:
        app = await load_app(conn, server_key, key=key)
    if app is None or app.project_id != project_id:
        return None
    return signing.headers(app.key, app.secret, "POST", body, urlsplit(url).path or "/", now_ms)
