"""The embedded profile: API, workers and sandbox carrier network in one process.

`EmbeddedRuntime` is what `tidings serve` runs and what the test suite starts: SQLite in the
data directory, the in-process dispatch queue, the sandbox SMSC on a local port with the SMS
connector bound to it (unless real SMPP connections are configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from tidings.channels import registry
from tidings.config import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID, Settings, SmppConnectionSettings
from tidings.conversations.service import ChannelRoutes
from tidings.lookup.live import SandboxNumbers
from tidings.observability.metrics import metrics_route
from tidings.policy.fraud import FraudGuard
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context, now_ms
from tidings.runtime.database import open_database
from tidings.runtime.pipeline import Pipeline
from tidings.runtime.startup import DataDirError, DataDirLock, ListenError, listening_for, listening_socket
from tidings.sandbox.mail import MailServer, create_mail_server
from tidings.sandbox.world import Sandbox
from tidings.store import deliveries as dq
from tidings.store import leases
from tidings.store.group_commit import GroupCommitter

log = logging.getLogger(__name__)

SANDBOX_SETTLE_SECONDS = 2.0
"""How long a stop waits for the sandbox's pending deliveries and receipts (its default latency
is 20–200 ms) before unbinding, so that they are recorded before the stop; what is still owed
after that (a longer latency rule) is saved in the data directory and delivered after the next
start."""


def sandbox_email_options(mail: MailServer, settings: Settings) -> dict[str, Any]:
    """The email connector against the sandbox mail server: its SMTP port as the smarthost, DNS
    records published at the sandbox DNS console, the inbound listener on any free port (its MX
    record names the port), DKIM keys in the data directory."""
    return {"base_url": f"smtp://127.0.0.1:{mail.port}", "inbound_port": 0,
            "dns_console_url": "{public_url}/sandbox/v1/dns", "data_dir": settings.data_dir}


class EmbeddedRuntime:
    def __init__(self, settings: Settings, *, sandbox: bool = True, sandbox_seed: int | None = None,
                 connection_overrides: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.with_sandbox = sandbox
        self.sandbox_seed = sandbox_seed
        self.connection_overrides = connection_overrides or {}
        self.ctx: Context | None = None
        self.pipeline: Pipeline | None = None
        self.sandbox: Sandbox | None = None
        self.app: Starlette | None = None
        self.connections: list[SmppConnectionSettings] = []
        self.channel_routes: ChannelRoutes | None = None
        self.gateway: Any = None  # the SMPP gateway for customers, when settings.smpp_port is set

    async def start(self) -> None:
        from tidings.api.app import create_app

        db = await open_database(self.settings)
        async with db.write() as conn:  # the data directory is this process's: any lease is a dead one's
            released = await leases.release_all(conn)
        if released:
            log.info("released the leases a stopped process held: %s", released)
        self.ctx = Context(self.settings, db, GroupCommitter(db), LocalDispatchQueue(), now_ms)
        self.ctx.committer.start()
        self.ctx.fraud = FraudGuard(clock=now_ms)  # in-process windows (embedded profile)
        self.connections = list(self.settings.smpp_connections)
        extra_routes: list[BaseRoute] = [metrics_route()]
        if self.with_sandbox:
            # What the sandbox still owes at a stop is saved in the data directory, taken back here.
            self.sandbox = Sandbox(seed=self.sandbox_seed, data_dir=self.settings.data_dir)
            self.sandbox.add_account(SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
            for create_twin in registry.sandbox_twin_factories():  # RBM, WhatsApp, ... twins
                self.sandbox.register_platform(create_twin(self.sandbox))
            mail = create_mail_server(self.sandbox)  # the mailboxes email goes to
            self.sandbox.attach(mail)
            for route in self.settings.sandbox_smscs:  # more routes into the same network
                self.sandbox.add_smsc(str(route["name"]))
            await self.sandbox.start(host="127.0.0.1", port=0)
            self.ctx.channel_options["email"] = sandbox_email_options(mail, self.settings)
            extra_routes += self.sandbox.routes()
            self.ctx.voice = self.sandbox.voice  # flash calls and callouts for verification
            self.ctx.live_numbers = SandboxNumbers(self.sandbox)  # reachable/ported for lookups
            if not self.connections:
                self.connections = [SmppConnectionSettings(
                    name="sandbox", host="127.0.0.1", port=self.sandbox.port,
                    system_id=SANDBOX_SYSTEM_ID, password=SANDBOX_PASSWORD, **self.connection_overrides,
                )]
                for route in self.settings.sandbox_smscs:
                    options = {k: v for k, v in route.items() if k != "name"}
                    self.connections.append(SmppConnectionSettings(
                        name=str(route["name"]), host="127.0.0.1",
                        port=self.sandbox.smscs[str(route["name"])].port,
                        system_id=SANDBOX_SYSTEM_ID, password=SANDBOX_PASSWORD, **options,  # type: ignore[arg-type]
                    ))
        await self.start_pipeline()
        self.channel_routes = ChannelRoutes(self.ctx)  # platforms' webhooks: /channels/{id}/...
        extra_routes += self.channel_routes.routes()
        self.app = create_app(self.ctx, extra_routes=extra_routes)
        if self.settings.smpp_port is not None:
            from tidings.gateway.service import Gateway, tls_of

            gateway = Gateway(self.ctx, self.settings.host, self.settings.smpp_port, ssl=tls_of(self.settings))
            with listening_for("SMPP gateway", self.settings.host, self.settings.smpp_port, "--smpp-port"):
                await gateway.start()
            self.gateway = gateway

    async def start_pipeline(self) -> None:
        """Start (or restart) the workers. The in-process queue may hold ids of a stopped
        pipeline's work: every Queued delivery is published again from the database."""
        assert self.ctx is not None
        async with self.ctx.db.write() as conn:
            await dq.unpublish_all(conn)
        self.pipeline = Pipeline(self.ctx, self.connections)
        await self.pipeline.start()

    async def stop(self) -> None:
        if self.gateway is not None:
            await self.gateway.stop()
        if self.pipeline is not None:
            sandbox = self.sandbox
            # The sandbox's receipts for what was just sent: let them arrive now (the sandbox saves
            # those it still owes after this, at its stop, for the next start).
            await self.pipeline.stop(
                before_unbind=(lambda: sandbox.settle(SANDBOX_SETTLE_SECONDS)) if sandbox is not None else None)
        if self.channel_routes is not None:
            await self.channel_routes.aclose()
        if self.sandbox is not None:
            await self.sandbox.stop()
        if self.ctx is not None:
            await self.ctx.committer.aclose()
            await self.ctx.db.aclose()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[EmbeddedRuntime]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()


async def ensure_demo_project(settings: Settings) -> tuple[dict[str, str], bool]:
    """The demo project's credentials, created on first start and kept in the data directory
    (readable only by its owner) so a developer can find them again."""
    path = os.path.join(settings.data_dir, "demo-project.json")
    if os.path.exists(path):
        with open(path) as fh:
            return json.load(fh), False
    from tidings.commands.projects import create_project

    creds = await create_project(settings, "demo")
    os.makedirs(settings.data_dir, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh, indent=2)
    return creds, True


def welcome_text(creds: dict[str, str], base_url: str, first: bool, smpp: str | None = None) -> str:
    handset = "+46700000001"
    curl = (
        f"curl -s -X POST {base_url}/xms/v1/{creds['service_plan_id']}/batches \\\n"
        f"  -H 'Authorization: Bearer {creds['api_token']}' -H 'Content-Type: application/json' \\\n"
        f"  -d '{{\"from\": \"+46700000000\", \"to\": [\"{handset}\"], \"body\": \"Hello from Tidings\"}}'"
    )
    lines = [
        "Tidings is running (embedded profile: SQLite, in-process workers, sandbox carrier network).",
        ("Demo project created:" if first else "Demo project (credentials kept in the data directory):"),
        json.dumps(creds, indent=2),
        "",
        "Send an SMS to a sandbox handset:",
        curl,
        "",
        f"Then read the handset: curl -s {base_url}/sandbox/v1/handsets/{handset.lstrip('+')}/messages",
    ]
    if smpp is not None and creds.get("smpp_system_id"):
        lines += [
            "",
            f"SMPP gateway for ESMEs: {smpp} (bind_transceiver with system_id "
            f"{creds['smpp_system_id']} and password {creds.get('smpp_password')})",
        ]
    return "\n".join(lines)


def serve(settings: Settings) -> int:
    """`tidings serve`; 1 when it cannot start (the data directory is another serve's or cannot be
    written, a port is taken), with the reason on stderr."""
    import uvicorn

    from tidings.observability.logging import configure
    from tidings.runtime import gc_tuning
    from tidings.runtime.http_server import InLoopServer, shut_down_on_signals

    configure()
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
        api_socket = listening_socket(settings.host, settings.port)
    except (DataDirError, ListenError) as exc:
        lock.release()
        print(f"tidings serve: {exc}", file=sys.stderr, flush=True)
        return 1
    if settings.port == 0:  # any free port: the one bound, in every URL printed and registered
        settings = dataclasses.replace(settings, port=api_socket.getsockname()[1])
    runtime = EmbeddedRuntime(settings)
    base_url = settings.public_url or f"http://{settings.host}:{settings.port}"

    async def main() -> None:
        creds, first = await ensure_demo_project(settings)
        try:
            await runtime.start()
            assert runtime.app is not None
            smpp = None
            if runtime.gateway is not None:
                smpp = f"{settings.host}:{runtime.gateway.port}" + (" over TLS" if runtime.gateway.server.ssl else "")
            config = uvicorn.Config(runtime.app, host=settings.host, port=settings.port, loop="none",
                                    http="httptools", log_level="warning", lifespan="off",
                                    access_log=False,
                                    timeout_graceful_shutdown=InLoopServer.grace(settings.shutdown_grace_seconds))
            server = InLoopServer(config)
            # SIGINT or SIGTERM: the API shuts down, then the `finally` stops the workers (each
            # message in flight answered and recorded), the sandbox and the database.
            with shut_down_on_signals(server):
                serving = asyncio.ensure_future(server.serve(sockets=[api_socket]))
                # The welcome's curl must work the moment it is printed: wait for the listener.
                while not server.started and not serving.done():
                    await asyncio.sleep(0.01)
                if server.started:
                    gc_tuning.tune()
                    print(welcome_text(creds, base_url, first, smpp), flush=True)
                await serving
        finally:
            await runtime.stop()

    import uvloop

    try:
        uvloop.run(main())
    except ListenError as exc:
        print(f"tidings serve: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        api_socket.close()
        lock.release()
    return 0


__all__ = ["EmbeddedRuntime", "ensure_demo_project", "sandbox_email_options", "serve"]
