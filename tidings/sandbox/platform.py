"""The contract between the sandbox and a messaging-app platform twin (RBM, WhatsApp Cloud API,
Messenger, Telegram, Viber…).

A twin is a small server implementing the subset of a platform's real, documented HTTP API that
Tidings' connector uses, served by the sandbox under `/sandbox/platforms/{name}/`. It delivers
what it is sent to the sandbox's virtual handsets (only those whose capabilities include its
channel), and it calls Tidings back the way the real platform does — status callbacks
(delivered, read) and inbound messages, signed with the platform's own scheme — at the webhook
URL registered with it (per bot, page, phone number id or agent, as the platform does it).
Callbacks its webhook did not take are owed (`callbacks`) and tried again, across a restart too.

Twins live in `tidings/sandbox/platforms/<name>.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from tidings.sandbox.handsets import Handset
    from tidings.sandbox.platforms.callbacks import CallbackRetrier


class PlatformTwin(Protocol):
    channel: str  # the Conversation API channel name: "WHATSAPP", "RCS", "TELEGRAM"…
    name: str  # the URL segment: "whatsapp", "rbm", "telegram"…
    callbacks: CallbackRetrier  # what its webhooks did not take yet, saved at a stop

    def routes(self) -> list[BaseRoute]:
        """The platform API, relative to /sandbox/platforms/{name}."""
        ...

    async def handset_sends(self, handset: Handset, to: str, *, body: str | None,
                            postback: str | None) -> str:
        """The handset writes `body`, or taps the suggestion whose postback data is `postback`,
        in a chat with `to` (the business: phone number, bot, page or agent id). Calls Tidings'
        webhook; returns the platform's message id. LookupError when `to` is unknown."""
        ...

    def saved(self) -> dict[str, Any]:
        """What it keeps across a restart, as JSON (registrations, windows, id counters)."""
        ...

    def take_back(self, document: dict[str, Any]) -> None:
        """Take back `saved()`'s document after a restart."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SandboxService(Protocol):
    """Another part of the simulated world run with the sandbox (e.g. the mail server)."""

    def routes(self) -> list[BaseRoute]:
        """Routes relative to /sandbox/v1."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
