"""The distributed profile: `tidings api` and `tidings worker` processes on PostgreSQL + Redis.

API processes accept and commit, then publish to the Redis stream; worker processes consume the
stream (a consumer group: each entry goes to one worker; entries of a dead worker are claimed by
another), hold the SMPP connections and send webhooks. Work an API process commits for the
workers to find in the database (webhook rows, conversation work) is announced over Redis
pub/sub (`announce_to_workers`), so that it does not wait for their poll. Throughput caps are Redis token buckets
shared by every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette

from tidings.config import Settings
from tidings.queue.base import Limiter
from tidings.runtime import gc_tuning
from tidings.runtime.clock_check import ClockSkewError, check_clock, watch_clock
from tidings.runtime.context import Context, now_ms
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter

log = logging.getLogger(__name__)

# Connections per Redis client. A burst of concurrent commands — 512 sends taking throughput
# tokens at once — waits for a pooled connection instead of opening one each (which ran a
# shared Redis out of client slots).
REDIS_CONNECTIONS = 32


def require_services(settings: Settings) -> None:
    if not settings.database_url or not settings.redis_url:
        raise SystemExit(
            "the distributed profile needs TIDINGS_DATABASE_URL (postgresql+asyncpg://…) and "
            "TIDINGS_REDIS_URL (redis://…)"
        )


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def distributed_context(settings: Settings, consumer: str | None = None) -> Context:
    from tidings.queue.redis_streams import RedisStreamsDispatchQueue

    require_services(settings)
    assert settings.database_url and settings.redis_url
    consumer = consumer or consumer_name()
    db = Database(settings.database_url, statement_timeout=settings.database_timeout_seconds)
    queue = RedisStreamsDispatchQueue(settings.redis_url, stream=settings.redis_prefix + "dispatch",
                                      group="workers", consumer=consumer,
                                      claim_idle_ms=int(settings.stream_claim_idle_seconds * 1000))
    return Context(settings, db, GroupCommitter(db), queue, now_ms)


async def wire_verification(ctx: Context) -> list[Callable[[], Awaitable[None]]]:
    """What an API process needs for verification: the fraud guard on Redis (shared by every API
    process) and, with `TIDINGS_VOICE_URL`, the voice network over HTTP. Returns closers."""
    from tidings.policy.fraud import FraudGuard
    from tidings.policy.fraud_redis import RedisFraudStore

    settings = ctx.settings
    assert settings.redis_url
    redis = redis_client(settings.redis_url)
    ctx.fraud = FraudGuard(RedisFraudStore(redis, settings.redis_prefix + "fraud:"), clock=ctx.clock)
    closers: list[Callable[[], Awaitable[None]]] = [redis.aclose]
    if settings.voice_url:
        from tidings.voice.http import HttpVoiceNetwork

        voice = HttpVoiceNetwork(settings.voice_url)
        ctx.voice = voice
        closers.append(voice.aclose)
    return closers


def announce_to_workers(ctx: Context) -> None:
    """An API process commits work the workers find in the database (webhook rows; messages and
    events for the conversation engine): announce each such commit over the dispatch queue, so
    that their senders and engines act at once instead of at their next poll."""
    from tidings.queue.base import CONVERSATIONS, WEBHOOKS
    from tidings.webhooks.wake import EnqueueWatch

    ctx.db.after_write.append(EnqueueWatch(lambda: ctx.dispatch.announce(WEBHOOKS)))
    ctx.conversation_work = lambda: ctx.dispatch.announce(CONVERSATIONS)


def create_api_app() -> Starlette:
    """Factory for uvicorn (`tidings api` runs one per worker process)."""
    from tidings.api.app import create_app
    from tidings.conversations.service import ChannelRoutes
    from tidings.observability.logging import configure
    from tidings.observability.metrics import metrics_route

    configure()
    settings = Settings.from_env()
    ctx = distributed_context(settings)
    announce_to_workers(ctx)
    channels = ChannelRoutes(ctx)  # platforms' webhooks under /channels/{id}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        ctx.committer.start()
        closers = await wire_verification(ctx)
        gc_tuning.tune()
        try:
            yield
        finally:
            for close in closers:
                await close()
            await channels.aclose()
            await ctx.committer.aclose()
            await ctx.dispatch.aclose()
            await ctx.db.aclose()

    return create_app(ctx, lifespan=lifespan, extra_routes=[metrics_route(), *channels.routes()])


def run_api(settings: Settings, host: str, port: int, workers: int = 1) -> int:
    """`tidings api`: uvicorn serving `create_api_app` in `workers` processes. The port is bound
    here first, so that a port in use stops the command at once with exit 1 and the reason (as
    `tidings serve` does) rather than with uvicorn's own message; the workers share the socket."""
    import sys

    import uvicorn
    import uvloop
    from uvicorn.supervisors import Multiprocess

    from tidings.runtime.http_server import InLoopServer
    from tidings.runtime.startup import ListenError, listening_socket

    require_services(settings)
    try:
        # Once here, before any worker process starts: a refusal ends the command with the
        # reason instead of workers failing one by one.
        uvloop.run(_check_clock_once(settings))
    except ClockSkewError as exc:
        print(f"tidings api: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        sock = listening_socket(host, port)
    except ListenError as exc:
        print(f"tidings api: {exc}", file=sys.stderr, flush=True)
        return 1
    config = uvicorn.Config("tidings.runtime.distributed:create_api_app", factory=True, host=host,
                            port=sock.getsockname()[1], workers=workers, loop="uvloop", http="httptools",
                            log_level="warning", access_log=False,
                            timeout_graceful_shutdown=InLoopServer.grace(settings.shutdown_grace_seconds))
    try:
        if workers > 1:
            sock.set_inheritable(True)
            Multiprocess(config, sockets=[sock]).run()
        else:
            # Not `uvicorn.Server.run`: after its graceful shutdown it raises SIGTERM again with
            # the default handler back, and the process ends "killed by SIGTERM" (exit 143).
            uvloop.run(_serve_one(config, sock))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


async def _check_clock_once(settings: Settings) -> None:
    assert settings.database_url
    db = Database(settings.database_url, statement_timeout=settings.database_timeout_seconds)
    try:
        await check_clock(db, settings.max_clock_skew_seconds, now_ms)
    finally:
        await db.aclose()


async def _serve_one(config: Any, sock: Any) -> None:
    """One uvicorn server in this process: SIGINT or SIGTERM shuts it down gracefully (the app's
    lifespan closes its database and Redis connections), then the process exits 0."""
    from tidings.runtime.http_server import InLoopServer, shut_down_on_signals

    server = InLoopServer(config)
    with shut_down_on_signals(server):
        await server.serve(sockets=[sock])


def redis_client(url: str) -> Any:
    """A Redis client with a bounded, blocking connection pool (closed with the client). A command
    unanswered for `SOCKET_TIMEOUT_SECONDS` fails and drops its connection, as the queue's do."""
    from redis.asyncio import BlockingConnectionPool, Redis

    from tidings.queue.redis_streams import SOCKET_TIMEOUT_SECONDS

    return Redis.from_pool(BlockingConnectionPool.from_url(
        url, max_connections=REDIS_CONNECTIONS, timeout=10, socket_connect_timeout=5.0,
        socket_timeout=SOCKET_TIMEOUT_SECONDS))


def shared_limiters(settings: Settings) -> tuple[dict[str, Limiter], Callable[[], Awaitable[None]]]:
    """The SMPP connections' throughput caps, shared through Redis by every worker, and the
    closer of their Redis client."""
    from tidings.queue.redis_limiter import RedisTokenBucket

    assert settings.redis_url
    redis = redis_client(settings.redis_url)
    # A tenth of a second's worth saved up, as the embedded bucket: a full second's burst would
    # let a short run go out at twice the cap.
    limiters: dict[str, Limiter] = {
        c.name: RedisTokenBucket(redis, f"{settings.redis_prefix}mps:{c.name}", rate=c.throughput,
                                 burst=max(1.0, c.throughput / 10))
        for c in settings.smpp_connections
        if c.throughput > 0
    }
    return limiters, redis.aclose


async def checked_clock(ctx: Context) -> None:
    """Refuse to run on a clock too far from the database's (`clock_check`), saying why; a
    refusal closes the context's database and queue, which nothing else has used yet."""
    try:
        await check_clock(ctx.db, ctx.settings.max_clock_skew_seconds, ctx.clock)
    except BaseException as exc:
        if isinstance(exc, ClockSkewError):
            log.error("%s", exc)
        await ctx.dispatch.aclose()
        await ctx.db.aclose()
        raise


async def worker_main(settings: Settings, stop: asyncio.Event, *, consumer: str | None = None) -> None:
    from tidings.runtime.pipeline import Pipeline

    ctx = distributed_context(settings, consumer)
    await checked_clock(ctx)
    if not settings.smpp_connections:
        log.warning("no SMPP connections configured (TIDINGS_SMPP_CONNECTIONS): SMS will wait")
    limiters, close_limiters = shared_limiters(settings)
    pipeline = Pipeline(ctx, settings.smpp_connections, limiter_for=limiters)
    await pipeline.start()
    gc_tuning.tune()
    log.info("worker started", extra={"consumer": consumer or consumer_name()})
    clock_watch = asyncio.create_task(watch_clock(ctx.db, settings.max_clock_skew_seconds, ctx.clock, stop))
    try:
        await stop.wait()
    finally:
        clock_watch.cancel()
        await asyncio.gather(clock_watch, return_exceptions=True)
        await pipeline.stop()
        await close_limiters()
        await ctx.committer.aclose()
        await ctx.dispatch.aclose()
        await ctx.db.aclose()


def run_worker(settings: Settings) -> int:
    import uvloop

    from tidings.observability.logging import configure

    configure()
    require_services(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def stopping() -> None:
            """The first SIGINT or SIGTERM stops gracefully; the usual handlers take the next
            (a stop waiting on an SMSC that does not answer ends at once)."""
            stop.set()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping)
        await worker_main(settings, stop)

    try:
        uvloop.run(main())
    except ClockSkewError as exc:
        print(f"tidings worker: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
