"""`Gateway`: the SMPP server customers bind to, its handler and its deliver_sm sender; and the
`tidings smpp` process of the distributed profile.

    gateway = Gateway(ctx, "127.0.0.1", 2775)
    await gateway.start()          # gateway.port is the bound port (useful with port 0)
    ...
    await gateway.stop()

The embedded profile (`tidings serve --smpp-port`) runs one inside its process on the shared
context. The distributed profile runs it as its own process, `tidings smpp`, with a context of its
own (PostgreSQL, the Redis dispatch stream): submits are committed and published like an API
process's, and the parts of concatenated messages are stored in the database, so a message's
parts may come over binds to different processes. Receipts and MO reach it through `smpp_outbox`,
written by the workers' outcome writers. Run as many `tidings smpp` processes as needed behind a
TCP load balancer: any of them can deliver an account's queued deliver_sm while the account is
bound to it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from ssl import SSLContext

from tidings.config import Settings
from tidings.gateway.handler import GatewayHandler
from tidings.gateway.parts import REASSEMBLY_TIMEOUT, PartsSweeper
from tidings.gateway.sender import DeliverSender
from tidings.policy.fraud_store import FraudStore
from tidings.runtime.context import Context
from tidings.runtime.startup import ListenError, listening_for
from tidings.smpp.constants import CommandStatus
from tidings.smpp.server import SmppServer
from tidings.smpp.tls import server_context

__all__ = ["DEFAULT_SMPP_PORT", "Gateway", "run_distributed", "tls_of"]

log = logging.getLogger(__name__)

DEFAULT_SMPP_PORT = 2775
SERVER_SYSTEM_ID = "TIDINGS"


class Gateway:
    def __init__(
        self,
        ctx: Context,
        host: str = "127.0.0.1",
        port: int = DEFAULT_SMPP_PORT,
        *,
        reassembly_timeout: float = REASSEMBLY_TIMEOUT,
        poll_interval: float = 0.2,
        retry_base_seconds: float = 1.0,
        response_timeout: float = 30.0,
        enquire_link_interval: float | None = 60.0,
        bind_timeout: float = 10.0,
        window: int = 10,
        guard_store: FraudStore | None = None,
        ssl: SSLContext | None = None,
    ) -> None:
        self.ctx = ctx
        self.handler = GatewayHandler(ctx, guard_store=guard_store)
        self.parts = PartsSweeper(ctx, timeout=reassembly_timeout)
        self.sender = DeliverSender(ctx.db, ctx.clock, self.handler.receivers, poll_interval=poll_interval,
                                    base_delay=retry_base_seconds)
        self.handler.on_bound = self.sender.wake
        # The inbound window set here is replaced by the account's at bind; ESME_RMSGQFUL beyond it.
        self.server = SmppServer(
            self.handler, host, port, system_id=SERVER_SYSTEM_ID, window=window,
            flood_status=CommandStatus.ESME_RMSGQFUL, response_timeout=response_timeout,
            enquire_link_interval=enquire_link_interval, bind_timeout=bind_timeout, ssl=ssl,
        )

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.server.start()
        self.sender.start()
        self.parts.start()
        self.handler.limits.start()

    async def stop(self) -> None:
        await self.sender.stop()
        await self.parts.stop()
        await self.server.stop()
        await self.handler.limits.stop()


def tls_of(settings: Settings) -> SSLContext | None:
    """The gateway's TLS context when its certificate and key are configured, else None (plain
    TCP); one without the other is a mistake, refused."""
    cert, key = settings.smpp_tls_cert_file, settings.smpp_tls_key_file
    if not cert and not key:
        return None
    if not cert or not key:
        raise ValueError("TIDINGS_SMPP_TLS_CERT_FILE and TIDINGS_SMPP_TLS_KEY_FILE go together")
    return server_context(cert, key)


async def gateway_main(settings: Settings, host: str, port: int, stop: asyncio.Event) -> None:
    from tidings.policy.fraud_redis import RedisFraudStore
    from tidings.runtime.distributed import checked_clock, distributed_context, redis_client

    ctx = distributed_context(settings, consumer="smpp-gateway")
    await checked_clock(ctx)  # its outbox leases and binds are judged by this clock
    ctx.committer.start()
    assert settings.redis_url
    redis = redis_client(settings.redis_url)
    # Failed binds are counted per address across every `tidings smpp` process.
    gateway = Gateway(ctx, host, port, guard_store=RedisFraudStore(redis, settings.redis_prefix + "fraud:"),
                      ssl=tls_of(settings))
    started = False
    try:
        with listening_for("SMPP gateway", host, port, "--port"):
            await gateway.start()
        started = True
        print(f"Tidings SMPP gateway listening on {host}:{gateway.port}{' (TLS)' if gateway.server.ssl else ''}",
              flush=True)
        await stop.wait()
    finally:
        if started:
            await gateway.stop()
        await redis.aclose()
        await ctx.committer.aclose()
        await ctx.dispatch.aclose()
        await ctx.db.aclose()


def run_distributed(settings: Settings, host: str, port: int) -> int:
    import uvloop

    from tidings.observability.logging import configure

    configure()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await gateway_main(settings, host, port, stop)

    from tidings.runtime.clock_check import ClockSkewError

    try:
        uvloop.run(main())
    except (ListenError, ClockSkewError) as exc:
        print(f"tidings smpp: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
