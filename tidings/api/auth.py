"""Who is calling an XMS endpoint: a Bearer token resolved to a `Principal`.

Two kinds of Bearer token reach `/xms/v1/{path_id}/`: a service plan's API token (then path_id
must be that service plan) and an OAuth2 access token (then path_id is the project id, or one of
the project's service plans). Resolutions are cached in-process for a few seconds, keyed by the
token's hash, so the hot send path costs no lookup; an access token's own expiry is re-checked
on every request. Concurrent misses of one key share one lookup (when an entry lapses under
load, every request in flight would otherwise look the token up at the same time).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from dataclasses import dataclass

from starlette.requests import Request

from tidings.actions import auth as auth_actions
from tidings.core.errors import AuthError
from tidings.core.secrets import hash_secret
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.queries import auth as q

CACHE_SECONDS = 5.0
CACHE_MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class Principal:
    project_id: str
    service_plan_id: str | None


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    cached_until: float  # time.monotonic()
    token_expires_ms: int | None  # access tokens only


class _AuthCache:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], _Entry] = {}
        self.lookups: dict[tuple[str, str], asyncio.Future[_Entry]] = {}

    def get(self, key: tuple[str, str], now_mono: float) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is None or entry.cached_until < now_mono:
            return None
        return entry

    def put(self, key: tuple[str, str], entry: _Entry) -> None:
        if len(self.entries) >= CACHE_MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = entry


_caches: weakref.WeakKeyDictionary[Database, _AuthCache] = weakref.WeakKeyDictionary()


def _cache_for(db: Database) -> _AuthCache:
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = _AuthCache()
    return cache


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("Missing Authorization header")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization must be a Bearer token")
    return token


async def authenticate_xms(request: Request, ctx: Context, path_id: str) -> Principal:
    """The caller of an XMS endpoint under `/xms/v1/{path_id}/`; AuthError otherwise."""
    token = bearer_token(request)
    key = (hashlib.sha256(token.encode()).hexdigest(), path_id)
    cache = _cache_for(ctx.db)
    now_mono = time.monotonic()
    entry = cache.get(key, now_mono)
    if entry is None:
        lookup = cache.lookups.get(key)
        if lookup is None:
            lookup = cache.lookups[key] = asyncio.ensure_future(_resolve(ctx, token, path_id))
            lookup.add_done_callback(lambda f: _forget(cache, key, f))
        entry = await asyncio.shield(lookup)
        cache.put(key, entry)
        return entry.principal
    if entry.token_expires_ms is not None and entry.token_expires_ms <= ctx.clock():
        raise AuthError("Access token expired", expired=True)
    return entry.principal


def _forget(cache: _AuthCache, key: tuple[str, str], lookup: asyncio.Future[_Entry]) -> None:
    cache.lookups.pop(key, None)
    if not lookup.cancelled():
        lookup.exception()  # retrieved: every waiter may have gone away meanwhile


async def _resolve(ctx: Context, token: str, path_id: str) -> _Entry:
    if auth_actions.looks_like_access_token(token):
        signing_key = await auth_actions.server_key(ctx.db, ctx.clock())
        verified = auth_actions.verify_token(signing_key, token, ctx.clock())
        principal = await _project_principal(ctx, verified.project_id, path_id)
        expires: int | None = verified.expires_ms
    else:
        principal = await _service_plan_principal(ctx, token, path_id)
        expires = None
    return _Entry(principal, time.monotonic() + CACHE_SECONDS, expires)


async def _project_principal(ctx: Context, project_id: str, path_id: str) -> Principal:
    if path_id == project_id:
        return Principal(project_id, None)
    async with ctx.db.read() as conn:
        owner = await q.service_plan_project(conn, path_id)
    if owner != project_id:
        raise AuthError("Token not valid for this project or service plan")
    return Principal(project_id, path_id)


async def _service_plan_principal(ctx: Context, token: str, path_id: str) -> Principal:
    async with ctx.db.read() as conn:
        plan = await q.service_plan_by_token_hash(conn, hash_secret(token))
    if plan is None or plan.id != path_id:
        raise AuthError("Invalid API token for this service plan")
    return Principal(str(plan.project_id), str(plan.id))


__all__ = ["Principal", "authenticate_xms", "bearer_token"]
