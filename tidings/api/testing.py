"""Test helpers for the HTTP API (used by this project's tests and by anyone testing against
Tidings): a real uvicorn server on 127.0.0.1 in the caller's event loop, and the official Sinch
SDK (a test dependency) pointed at it.

The server shares the test's loop (and so its database engine); the synchronous SDK runs in a
worker thread (`await asyncio.to_thread(...)`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.routing import BaseRoute

from tidings.actions.projects import ProjectCredentials, do_create_project
from tidings.api.app import create_app
from tidings.config import Settings
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context, now_ms
from tidings.runtime.http_server import TEST_SHUTDOWN_GRACE_SECONDS, InLoopServer
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter

if TYPE_CHECKING:
    from sinch import SinchClient

SDK_ORIGINS = ("auth_origin", "sms_origin", "sms_origin_with_service_plan_id")


@dataclass
class Clock:
    """Wall-clock time plus an offset tests can advance."""

    offset_ms: int = 0

    def __call__(self) -> int:
        return now_ms() + self.offset_ms

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)


@dataclass
class ApiServer:
    ctx: Context
    base_url: str
    clock: Clock
    dispatch: LocalDispatchQueue
    projects: list[ProjectCredentials] = field(default_factory=list)

    async def project(self, name: str = "test") -> ProjectCredentials:
        creds = await do_create_project(self.ctx.db, name, self.clock())
        self.projects.append(creds)
        return creds

    def xms_url(self, path_id: str, path: str = "") -> str:
        return f"{self.base_url}/xms/v1/{path_id}{path}"


def oauth_client(base_url: str, creds: ProjectCredentials) -> SinchClient:
    from sinch import SinchClient

    client = SinchClient(key_id=creds.key_id, key_secret=creds.key_secret, project_id=creds.project_id)
    for attr in SDK_ORIGINS:
        setattr(client.configuration, attr, base_url)
    return client


def service_plan_client(base_url: str, creds: ProjectCredentials) -> SinchClient:
    from sinch import SinchClient

    client = SinchClient(service_plan_id=creds.service_plan_id, sms_api_token=creds.api_token)
    for attr in SDK_ORIGINS:
        setattr(client.configuration, attr, base_url)
    return client


def sdk_client(mode: str, base_url: str, creds: ProjectCredentials) -> SinchClient:
    """`mode` is "oauth" (project id + OAuth2) or "service_plan" (API token)."""
    return oauth_client(base_url, creds) if mode == "oauth" else service_plan_client(base_url, creds)


def path_id(mode: str, creds: ProjectCredentials) -> str:
    return creds.project_id if mode == "oauth" else creds.service_plan_id


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1 (a free port) in this loop; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, loop="none", lifespan="off",
                            log_level="warning", access_log=False, ws="none",
                            timeout_graceful_shutdown=TEST_SHUTDOWN_GRACE_SECONDS)
    server = InLoopServer(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running_api(
    db: Database, *, settings: Settings | None = None, extra_routes: Sequence[BaseRoute] = ()
) -> AsyncIterator[ApiServer]:
    clock = Clock()
    dispatch = LocalDispatchQueue()
    committer = GroupCommitter(db)
    ctx = Context(settings or Settings(), db, committer, dispatch, clock)
    app = create_app(ctx, extra_routes=extra_routes)
    try:
        async with serve_app(app) as base_url:
            yield ApiServer(ctx, base_url, clock, dispatch)
    finally:
        await committer.aclose()
