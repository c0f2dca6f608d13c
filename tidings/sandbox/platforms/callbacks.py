"""Callbacks a platform twin still owes its webhook, POSTed again until the receiver takes them.

The real platforms do not give up on a webhook after a few seconds: Meta retries a failed
WhatsApp or Messenger webhook "with decreasing frequency" for up to 7 days, Telegram keeps an
update until the bot takes it (for 24 hours), Google's Pub/Sub push retries with backoff until the
message's retention ends. A twin first tries each callback a few times at once
(`PlatformTwin.post_webhook`); one that still fails — the receiver is down, restarting, or
answers 5xx — is owed here: queued per URL and tried again with the URL's backoff, saved at a
stop and posted after the next start (`tidings.sandbox.retry_queue`). A `tidings serve`
restart, or a `tidings sandbox` stopped while Tidings' API was down, loses no delivery report
and no inbound message. Each entry carries its URL, body and headers as signed when it was first
sent, so it needs nothing else from the twin; it is taken when answered with a status it
`accept`s.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import httpx

from tidings.channels.http_client import PlatformHttp
from tidings.sandbox.retry_queue import RetryQueue
from tidings.sandbox.state_file import UnreadableState, member, optional_member

__all__ = ["CallbackRetrier", "OwedCallback"]


@dataclass(eq=False)  # compared by identity: two equal POSTs owed are two entries
class OwedCallback:
    """One webhook POST not taken yet. `accept`: the statuses that count as taken (None: any 2xx)."""

    url: str
    body: bytes
    headers: dict[str, str]
    accept: tuple[int, ...] | None
    first_ms: int  # when it was first tried (the twin's clock)
    attempts: int = 0  # tries since it was owed

    @property
    def destination(self) -> str:
        return self.url

    def taken(self, status: int) -> bool:
        return 200 <= status < 300 if self.accept is None else status in self.accept

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "body": base64.b64encode(self.body).decode(), "headers": self.headers,
                "accept": list(self.accept) if self.accept is not None else None, "first_ms": self.first_ms,
                "attempts": self.attempts}

    @classmethod
    def from_json(cls, document: Any) -> OwedCallback:
        headers = member(document, "headers", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise UnreadableState(f"headers are names and strings: {headers!r:.60}")
        accept = optional_member(document, "accept", list)
        if accept is not None and not all(isinstance(s, int) and not isinstance(s, bool) for s in accept):
            raise UnreadableState(f"accept is a list of statuses: {accept!r:.60}")
        try:
            body = base64.b64decode(member(document, "body", str), validate=True)
        except ValueError as exc:
            raise UnreadableState(f"body is not base64: {exc}") from exc
        return cls(url=member(document, "url", str), body=body, headers=headers,
                   accept=tuple(accept) if accept is not None else None,
                   first_ms=member(document, "first_ms", int), attempts=member(document, "attempts", int))


class CallbackRetrier(RetryQueue[OwedCallback]):
    """The callbacks one twin owes, POSTed with its HTTP client."""

    def __init__(self, name: str, http: Callable[[], PlatformHttp], clock: Callable[[], int],
                 **options: Any) -> None:
        super().__init__(name, self._post, clock, **options)
        self._http = http

    def owe(self, url: str, body: bytes, headers: dict[str, str], accept: Collection[int] | None = None) -> None:
        """A callback the receiver did not take: tried again after `first_delay_s`."""
        self.add(OwedCallback(url, body, dict(headers), _accept_of(accept), self._clock()))

    async def _post(self, callback: OwedCallback) -> str | None:
        try:
            status = (await self._http().post(callback.url, content=callback.body,
                                              headers=callback.headers)).status_code
        except httpx.HTTPError as exc:
            return f"unreachable ({exc!r})"
        return None if callback.taken(status) else f"HTTP {status}"


def _accept_of(accept: Collection[int] | None) -> tuple[int, ...] | None:
    """None for "any 2xx" (also when given as the whole 2xx range), else the statuses."""
    if accept is None or (isinstance(accept, range) and accept == range(200, 300)):
        return None
    return tuple(accept)
