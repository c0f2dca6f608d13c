"""A whole running Tidings for end-to-end tests and benchmarks, in either profile.

    async with running_platform("embedded", tmp_dir) as p:      # SQLite, in-process queue
    async with running_platform("distributed", tmp_dir, database_url=..., redis_url=...) as p:

Both serve the HTTP API on a real 127.0.0.1 port with the sandbox carrier network behind real
SMPP, and give a project's credentials. The distributed one runs an API context and a separate
worker context (their own database pools and Redis consumers, as `tidings api` and `tidings
worker` processes have) in one event loop; `stop_worker()` / `start_worker()` take the worker
down and up again.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from tidings.actions.projects import ProjectCredentials, do_create_project
from tidings.config import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID, Settings, SmppConnectionSettings
from tidings.runtime.context import Context


@dataclass
class Platform:
    profile: str
    base_url: str
    sandbox: Any
    ctx: Context
    creds: ProjectCredentials
    settings: Settings
    _workers: list[Any] = field(default_factory=list)
    gateway: Any = None  # the SMPP gateway (`smpp_port=0` in the settings starts one)
    _start_worker: Any = None
    _stop_worker: Any = None

    def xms(self, path: str = "") -> str:
        return f"{self.base_url}/xms/v1/{self.creds.service_plan_id}{path}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.creds.api_token}"}

    async def send(self, client: httpx.AsyncClient, **batch: Any) -> dict[str, Any]:
        response = await client.post(self.xms("/batches"), json=batch, headers=self.auth)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def project(self, name: str) -> ProjectCredentials:
        return await do_create_project(self.ctx.db, name, self.ctx.clock())

    async def stop_worker(self) -> None:
        await self._stop_worker()

    async def start_worker(self) -> None:
        await self._start_worker()


def _sandbox_connection(port: int, **overrides: Any) -> SmppConnectionSettings:
    return SmppConnectionSettings(name="sandbox", host="127.0.0.1", port=port,
                                  system_id=SANDBOX_SYSTEM_ID, password=SANDBOX_PASSWORD,
                                  **overrides)


@contextlib.asynccontextmanager
async def running_platform(
    profile: str, data_dir: str, *, database_url: str | None = None, redis_url: str | None = None,
    sandbox_seed: int = 7, connection: dict[str, Any] | None = None,
    extra_connections: tuple[SmppConnectionSettings, ...] = (), **settings: Any,
) -> AsyncIterator[Platform]:
    """`extra_connections` are configured after the sandbox's own connection (named "sandbox"),
    e.g. to a second `Sandbox` a test starts itself."""
    if profile == "embedded":
        async with _embedded(data_dir, sandbox_seed, connection or {}, extra_connections,
                             settings) as platform:
            yield platform
    else:
        assert database_url and redis_url, "the distributed profile needs PostgreSQL and Redis"
        async with _distributed(data_dir, database_url, redis_url, sandbox_seed, connection or {},
                                extra_connections, settings) as platform:
            yield platform


@contextlib.asynccontextmanager
async def _embedded(data_dir: str, seed: int, connection: dict[str, Any],
                    extra: tuple[SmppConnectionSettings, ...],
                    overrides: dict[str, Any]) -> AsyncIterator[Platform]:
    from tidings.api.testing import serve_app
    from tidings.runtime.embedded import EmbeddedRuntime

    settings = Settings(data_dir=data_dir, **overrides)
    runtime = EmbeddedRuntime(settings, sandbox_seed=seed, connection_overrides=connection)
    async with runtime.running():
        assert runtime.app is not None and runtime.ctx is not None
        if extra:  # the sandbox's port is known only once it runs: restart the workers with them
            assert runtime.pipeline is not None
            await runtime.pipeline.stop()
            runtime.connections.extend(extra)
            await runtime.start_pipeline()
        async with serve_app(runtime.app) as base_url:
            # Connectors and sandbox twins call each other at the public URL, known only now.
            settings = replace(settings, public_url=base_url)
            runtime.settings = runtime.ctx.settings = settings
            assert runtime.pipeline is not None
            await runtime.pipeline.stop()
            await runtime.start_pipeline()
            creds = await do_create_project(runtime.ctx.db, "e2e", runtime.ctx.clock())

            async def stop_worker() -> None:
                assert runtime.pipeline is not None
                await runtime.pipeline.stop()

            async def start_worker() -> None:
                await runtime.start_pipeline()

            yield Platform("embedded", base_url, runtime.sandbox, runtime.ctx, creds, settings,
                           _start_worker=start_worker, _stop_worker=stop_worker, gateway=runtime.gateway)


@contextlib.asynccontextmanager
async def _distributed(data_dir: str, database_url: str, redis_url: str, seed: int,
                       connection: dict[str, Any], extra: tuple[SmppConnectionSettings, ...],
                       overrides: dict[str, Any]) -> AsyncIterator[Platform]:
    from redis.asyncio import Redis

    from tidings.api.app import create_app
    from tidings.api.testing import serve_app
    from tidings.channels import registry
    from tidings.conversations.service import ChannelRoutes
    from tidings.observability.metrics import metrics_route
    from tidings.runtime.distributed import (
        announce_to_workers,
        distributed_context,
        shared_limiters,
        wire_verification,
    )
    from tidings.runtime.embedded import sandbox_email_options
    from tidings.runtime.pipeline import Pipeline
    from tidings.sandbox.mail import create_mail_server
    from tidings.sandbox.world import Sandbox
    from tidings.store.migrate import upgrade

    await upgrade(database_url)
    sandbox = Sandbox(seed=seed)
    sandbox.add_account(SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
    for create_twin in registry.sandbox_twin_factories():
        sandbox.register_platform(create_twin(sandbox))
    mail = create_mail_server(sandbox)
    sandbox.attach(mail)
    await sandbox.start()
    prefix = f"tidings-test:{uuid.uuid4().hex[:10]}:"
    settings = Settings(data_dir=data_dir, database_url=database_url, redis_url=redis_url,
                        redis_prefix=prefix, **overrides)
    settings = replace(settings, smpp_connections=(_sandbox_connection(sandbox.port, **connection), *extra))
    api_ctx = distributed_context(settings, consumer="api")
    announce_to_workers(api_ctx)
    api_ctx.channel_options["email"] = {**sandbox_email_options(mail, settings), "inbound_port": None}
    api_ctx.committer.start()
    channels = ChannelRoutes(api_ctx)
    app = create_app(api_ctx, extra_routes=[metrics_route(), *sandbox.routes(), *channels.routes()])
    state: dict[str, Any] = {"n": 0}

    async def start_worker() -> None:
        state["n"] += 1
        ctx = distributed_context(settings, consumer=f"worker-{state['n']}")
        # This worker runs the email connector's inbound SMTP listener (one process may).
        ctx.channel_options["email"] = sandbox_email_options(mail, settings)
        limiters, close_limiters = shared_limiters(settings)
        pipeline = Pipeline(ctx, settings.smpp_connections, limiter_for=limiters)
        await pipeline.start()
        state["worker"] = (ctx, pipeline, close_limiters)

    async def stop_worker() -> None:
        ctx, pipeline, close_limiters = state.pop("worker")
        await pipeline.stop()
        await close_limiters()
        await ctx.committer.aclose()
        await ctx.dispatch.aclose()
        await ctx.db.aclose()

    gateway: Any = None
    closers: list[Any] = []
    try:
        async with serve_app(app) as base_url:
            # Connectors and sandbox twins call each other at the public URL, known only now;
            # the API reaches the sandbox voice network over HTTP, as `tidings api` does with
            # TIDINGS_VOICE_URL, and its fraud guard counts in Redis under the test prefix.
            settings = replace(settings, public_url=base_url, voice_url=f"{base_url}/sandbox/v1")
            api_ctx.settings = settings
            closers = await wire_verification(api_ctx)
            await start_worker()
            if settings.smpp_port is not None:  # as `tidings smpp` runs it: a context of its own
                from tidings.gateway.service import Gateway

                # Failed binds counted in Redis, as `tidings smpp` counts them (the API's guard store).
                assert api_ctx.fraud is not None
                gateway = Gateway(distributed_context(settings, consumer="smpp"), "127.0.0.1", settings.smpp_port,
                                  guard_store=api_ctx.fraud.store)
                await gateway.start()
            creds = await do_create_project(api_ctx.db, "e2e", api_ctx.clock())
            yield Platform("distributed", base_url, sandbox, api_ctx, creds, settings,
                           _start_worker=start_worker, _stop_worker=stop_worker, gateway=gateway)
    finally:
        if gateway is not None:
            await gateway.stop()
            await gateway.ctx.committer.aclose()
            await gateway.ctx.dispatch.aclose()
            await gateway.ctx.db.aclose()
        if "worker" in state:
            await stop_worker()
        for close in closers:
            await close()
        await channels.aclose()
        await api_ctx.committer.aclose()
        await api_ctx.dispatch.aclose()
        await api_ctx.db.aclose()
        await sandbox.stop()
        redis = Redis.from_url(redis_url)
        keys = [key async for key in redis.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
