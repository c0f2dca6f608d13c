"""`Sandbox`: the simulated carrier network as one object — SMSC, handsets, rules and REST API.

What `tidings serve` starts and points the SMS connector at, and what tests drive. State lives in
memory; given a data directory, a graceful stop saves it there and the next start takes it back
(`state.py`), as a carrier keeps across its own restarts what it accepted and still owes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Mount

from tidings.sandbox.api import build_routes
from tidings.sandbox.handsets import DEFAULT_MAX_MESSAGES, Handset, HandsetMessage, Handsets
from tidings.sandbox.platform import PlatformTwin, SandboxService
from tidings.sandbox.rules import Behaviour, Draw, Rules
from tidings.sandbox.smsc import SmscHandler
from tidings.sandbox.state import restore_sandbox, save_sandbox
from tidings.sandbox.state_file import state_path
from tidings.sandbox.voice import SandboxVoice
from tidings.smpp.server import SmppServer

__all__ = ["Sandbox"]

logger = logging.getLogger("tidings.sandbox")

SMSC_WINDOW = 64
"""deliver_sm in flight per session: the parts of a long MO go out together."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Sandbox:
    """A mobile network: an SMPP SMSC, virtual handsets and carrier behaviour by prefix."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Callable[[], int] = _now_ms,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        system_id: str = "SANDBOX",
        handsets: Handsets | None = None,
        data_dir: str | None = None,
    ) -> None:
        self.clock = clock
        # Where a stop saves the state and a start takes it back (None: memory only).
        self.state_path = state_path(data_dir) if data_dir is not None else None
        self._restored = False  # a start took the saved state (or found none): a stop may save
        # Shared with the other SMSCs of the same network (`add_smsc`): a handset receives from any.
        self.handsets = handsets if handsets is not None else Handsets(max_messages)
        self.rules: Rules[Behaviour] = Rules()
        self.draw = Draw(seed)
        self._server: SmppServer | None = None
        self._system_id = system_id
        self.smsc = SmscHandler(self.handsets, self.rules, self.draw, clock, self._sessions)
        # Messaging-app platform twins by channel name ("WHATSAPP", "RCS"…); see `platform.py`.
        self.platforms: dict[str, PlatformTwin] = {}
        self.services: list[SandboxService] = []
        # The voice network (flash calls, callouts) on the same handsets; see `voice.py`.
        self.voice = SandboxVoice(self.handsets, self.draw, clock)
        self.attach(self.voice)
        # Further SMSCs (routes) of this network by name, each with its own rules; see `add_smsc`.
        self.smscs: dict[str, Sandbox] = {}

    def register_platform(self, twin: PlatformTwin) -> None:
        """Add a platform twin: its HTTP API is served under /sandbox/platforms/{twin.name}/."""
        self.platforms[twin.channel] = twin

    def _sessions(self) -> frozenset[Any]:
        return self._server.sessions if self._server is not None else frozenset()

    def add_account(self, system_id: str, password: str, *, data_sm: bool = False) -> None:
        """Let an ESME bind with these credentials; its receipts and MO queue until it does (sent
        as data_sm instead of deliver_sm with `data_sm`)."""
        self.smsc.add_account(system_id, password, data_sm=data_sm)

    def add_smsc(self, name: str, *, seed: int | None = None) -> Sandbox:
        """Another SMSC (a second route into this network) on its own port, with its own rules
        (latency, failures, lost receipts per prefix) and the same handsets and accounts; started
        and stopped with this one. Configure it through the returned object."""
        if name in self.smscs:
            raise ValueError(f"sandbox SMSC {name!r} exists")
        smsc = Sandbox(seed=seed, clock=self.clock, system_id=name, handsets=self.handsets)
        for system_id, password in self.smsc.accounts.items():
            smsc.add_account(system_id, password, data_sm=system_id in self.smsc.data_sm_accounts)
        self.smscs[name] = smsc
        return smsc

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start the SMSC listening on host:port (0: any free port, see `port`)."""
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        server = SmppServer(self.smsc, host, port, system_id=self._system_id, window=SMSC_WINDOW)
        await server.start()
        self._server = server
        self.smsc.start()
        for other in self.smscs.values():
            await other.start(host=host)
        for twin in self.platforms.values():
            await twin.start()
        for service in self.services:
            await service.start()
        if self.state_path is not None:
            restore_sandbox(self, self.state_path)
            self._restored = True

    @property
    def binds(self) -> int:
        """How many ESME sessions are bound to this SMSC now (not counting `add_smsc`'s)."""
        return sum(1 for session in self._sessions() if session.bound)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return self._server.port

    async def settle(self, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, until this network's SMSCs owe a bound ESME nothing
        they could deliver: the messages they accepted reached their handsets and the receipts
        went out and were answered. `tidings serve` waits for this before it unbinds, so that a
        restart does not find messages Dispatched whose receipts died with the sandbox."""
        smscs = [self.smsc, *(other.smsc for other in self.smscs.values())]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(smsc.settled for smsc in smscs):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def stop(self) -> None:
        """Stop every SMSC of the network; with a data directory, save what they still owe first
        (deliveries waiting out their latency, receipts and MO no ESME took) and the handsets."""
        networks = [self, *(other for other in self.smscs.values() if other._server is not None)]
        for network in networks:  # nothing is delivered or sent from here on; what is owed stays
            await network.smsc.pause()
        for network in networks:
            for twin in network.platforms.values():
                await twin.stop()
            for service in network.services:
                await service.stop()
        for network in networks:
            server, network._server = network._server, None
            if server is not None:
                await server.stop(timeout=2.0)
        # Answers cut off by the closed sessions have put their entries back in the outboxes.
        await asyncio.sleep(0)
        if self.state_path is not None and self._restored:
            self._restored = False
            try:
                save_sandbox(self, self.state_path)
            except Exception:  # noqa: BLE001 - the stop goes on; the next start is empty
                logger.exception("sandbox: saving the state to %s failed", self.state_path)
        for network in networks:
            await network.smsc.stop()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- the REST API ------------------------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        """The REST routes relative to their mount point, with those of attached services."""
        return [*build_routes(self), *(r for service in self.services for r in service.routes())]

    def attach(self, service: SandboxService) -> None:
        """Run another part of the simulated world with this one (the mail server, the voice
        network…): started and stopped with it, its routes served under /sandbox/v1 too."""
        self.services.append(service)

    def routes(self) -> list[BaseRoute]:
        """The REST routes mounted at /sandbox/v1, and each platform twin's API at
        /sandbox/platforms/{name}."""
        return [
            Mount("/sandbox/v1", routes=self.api_routes()),
            *(Mount(f"/sandbox/platforms/{twin.name}", routes=twin.routes())
              for twin in self.platforms.values()),
        ]

    # -- configuring and reading the world ---------------------------------------------------------

    def set_rule(self, prefix: str, **behaviour: Any) -> None:
        """Carrier behaviour for numbers starting with `prefix` ('' for every other number):
        latency_ms (int, (min, max)), failure_rate, error_code, receipt_loss_rate, throttle_rate,
        reject_rate, reject_status. Raises `InvalidRule`."""
        self.rules.set(prefix, Behaviour.from_options(behaviour))

    def handset(self, number: str) -> Handset:
        return self.handsets.get(number)

    def messages_for(self, number: str) -> list[HandsetMessage]:
        return list(self.handsets.get(number).inbox)

    async def wait_for_messages(self, number: str, count: int, timeout: float = 5.0) -> list[HandsetMessage]:
        return await self.handsets.wait_for(number, count, timeout)

    async def send_mo(self, sender: str, to: str, body: str, *, system_id: str | None = None) -> str:
        """A message from handset `sender` to `to`, delivered as deliver_sm (queued until an ESME
        of the account is bound); returns its message id."""
        return self.smsc.send_mo(sender, to, body, system_id)

    async def send_mo_binary(self, sender: str, to: str, payload: bytes, udh: bytes = b"", *,
                             system_id: str | None = None) -> str:
        """Binary data from handset `sender` to `to` (`udh`: a user data header, length octet
        first, or `b""`), delivered as deliver_sm with data_coding 0x04; returns its message id."""
        return self.smsc.send_mo_binary(sender, to, payload, udh, system_id)
