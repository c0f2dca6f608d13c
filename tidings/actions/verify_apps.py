"""Verification applications: one per project, created with it; settings and the callback URL.

The application secret is returned once (in `tidings projects create`'s output) and stored
wrapped with the server key `verify-wrap-v1` (`tidings.verify.wrap`); codes are hashed with the
server key `verify-code-v1`. Both keys live in `server_keys`, created by the first process that
needs them.
"""

from __future__ import annotations

import base64
import secrets
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.errors import RequestError
from tidings.core.ids import secret_token
from tidings.store.db import Database
from tidings.store.queries import auth as auth_queries
from tidings.store.verify_schema import verify_apps
from tidings.verify import codes, wrap

__all__ = [
    "DEFAULTS",
    "LIMITS",
    "App",
    "NewApp",
    "app_row",
    "check_settings",
    "code_key",
    "do_configure_app",
    "load_app",
    "new_app",
    "wrap_key",
]

WRAP_KEY_ID = "verify-wrap-v1"
CODE_KEY_ID = "verify-code-v1"

DEFAULTS: dict[str, Any] = {
    "sms_sender": "Verify",
    "code_length": 4,
    "code_alphabet": codes.DEFAULT_ALPHABET,
    "expiry_seconds": 600,
    "max_attempts": 3,
    "max_resends": 3,
    "flash_cli_prefix": "+4610100",
}
_CONFIGURABLE = {*DEFAULTS, "callback_url", "conversation_app_id", "options"}
LIMITS: dict[str, tuple[int, int]] = {  # inclusive bounds of the numeric settings
    "code_length": (codes.MIN_LENGTH, codes.MAX_LENGTH),
    "expiry_seconds": (30, 24 * 3600),
    "max_attempts": (1, 10),
    "max_resends": (0, 10),
}

_keys: weakref.WeakKeyDictionary[Database, dict[str, bytes]] = weakref.WeakKeyDictionary()


async def _server_key(db: Database, key_id: str, now_ms: int) -> bytes:
    cache = _keys.setdefault(db, {})
    key = cache.get(key_id)
    if key is None:
        stored = await auth_queries.get_or_create_server_key(db, key_id, secret_token(32), now_ms)
        key = cache[key_id] = stored.encode()
    return key


async def wrap_key(db: Database, now_ms: int) -> bytes:
    return await _server_key(db, WRAP_KEY_ID, now_ms)


async def code_key(db: Database, now_ms: int) -> bytes:
    return await _server_key(db, CODE_KEY_ID, now_ms)


@dataclass(frozen=True)
class NewApp:
    key: str
    secret: str  # base64, shown once


@dataclass(frozen=True)
class App:
    key: str
    project_id: str
    secret: str  # unwrapped, base64
    callback_url: str | None
    sms_sender: str
    code_length: int
    code_alphabet: str
    expiry_seconds: int
    max_attempts: int
    max_resends: int
    flash_cli_prefix: str
    conversation_app_id: str | None
    options: dict[str, Any]


def new_app() -> NewApp:
    return NewApp(str(uuid.uuid4()), base64.b64encode(secrets.token_bytes(16)).decode())


def app_row(server_key: bytes, project_id: str, app: NewApp, now_ms: int) -> dict[str, Any]:
    """The `verify_apps` row of a new project's application (inserted with the project)."""
    return {"key": app.key, "project_id": project_id,
            "secret_wrapped": wrap.wrap(server_key, app.key, app.secret), "callback_url": None,
            "conversation_app_id": None, "options": {}, "created_ms": now_ms, **DEFAULTS}


async def load_app(conn: AsyncConnection, server_key: bytes, *, key: str | None = None,
                   project_id: str | None = None) -> App | None:
    query = select(verify_apps)
    if key is not None:
        query = query.where(verify_apps.c.key == key)
    else:
        query = query.where(verify_apps.c.project_id == project_id)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    m = row._mapping
    return App(key=m["key"], project_id=m["project_id"], secret=wrap.unwrap(server_key, m["key"], m["secret_wrapped"]),
               **{name: m[name] for name in (*DEFAULTS, "callback_url", "conversation_app_id", "options")})


def _bad(text: str) -> RequestError:
    return RequestError("40001", text)


def check_settings(changes: dict[str, Any]) -> None:
    """Refuse a setting no verification could work with: an unknown name, a number out of
    `LIMITS` (no attempt allowed, an expiry that has always passed, unbounded guessing), an
    alphabet `codes.generate` refuses, a callback URL that is not an absolute http(s) URL."""
    unknown = set(changes) - _CONFIGURABLE
    if unknown:
        raise _bad(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for name, (low, high) in LIMITS.items():
        value = changes.get(name, low)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _bad(f"{name} must be an integer from {low} to {high}")
    if "code_alphabet" in changes:
        alphabet = changes["code_alphabet"]
        if not isinstance(alphabet, str) or len(alphabet) > 64:
            raise _bad("code_alphabet must be a string of at most 64 characters")
        try:
            codes.generate(codes.MIN_LENGTH, alphabet)
        except ValueError as exc:
            raise _bad(f"code_alphabet: {exc}") from None
    url = changes.get("callback_url")
    if url is not None:
        try:
            parsed = httpx.URL(url) if isinstance(url, str) else None
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise _bad("callback_url must be an absolute http:// or https:// URL")


async def do_configure_app(db: Database, app_key: str, changes: dict[str, Any]) -> bool:
    """Change an application's settings (callback URL, code length …); False if no such key."""
    check_settings(changes)
    async with db.write() as conn:
        result = await conn.execute(update(verify_apps).where(verify_apps.c.key == app_key).values(**changes))
    return bool(result.rowcount)


async def insert_app(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(verify_apps).values(**row))
