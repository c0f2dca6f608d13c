"""A `VoiceNetwork` reached over HTTP: the sandbox voice network of another process.

The distributed profile's API processes place flash calls and callouts through this client when
`TIDINGS_VOICE_URL` is set to the sandbox REST API's root (`tidings sandbox` serves it at
`http://HOST:PORT/sandbox/v1`). One request per call:

    POST {voice_url}/voice/calls  {"kind": "flash", "to", "cli", "ring_seconds"?}
                                  {"kind": "callout", "to", "speech", "locale"}
    201 {"call_id"}    404 invalid number    410 unreachable    503 the call failed

Errors are mapped as the in-process network raises them: 404 → `PermanentDeliveryError` (code
404), 410 → `PermanentDeliveryError` (code 480), any other 4xx → `PermanentDeliveryError` (the
HTTP status as code), 5xx, 429 and transport failures (refused, timed out) →
`TransientDeliveryError`.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError

__all__ = ["HttpVoiceNetwork"]

INVALID_NUMBER = 404
UNREACHABLE = 480
_CODES = {404: INVALID_NUMBER, 410: UNREACHABLE}


class HttpVoiceNetwork:
    """`VoiceNetwork` over the sandbox's `POST /voice/calls`. `client`: a shared
    `httpx.AsyncClient` (closed by its owner), else one of its own, closed by `aclose()`."""

    def __init__(self, voice_url: str, *, client: httpx.AsyncClient | None = None,
                 timeout: float = 10.0) -> None:
        self.url = voice_url.rstrip("/") + "/voice/calls"
        self._own = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)

    async def place_flash_call(self, to: str, cli: str, ring_seconds: int | None = None) -> str:
        call: dict[str, Any] = {"kind": "flash", "to": to, "cli": cli}
        if ring_seconds is not None:
            call["ring_seconds"] = ring_seconds
        return await self._place(call)

    async def place_callout(self, to: str, speech: str, locale: str) -> str:
        return await self._place({"kind": "callout", "to": to, "speech": speech, "locale": locale})

    async def _place(self, call: dict[str, Any]) -> str:
        try:
            response = await self._client.post(self.url, content=orjson.dumps(call),
                                                headers={"Content-Type": "application/json"})
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"voice network unreachable: {exc!r}") from exc
        status = response.status_code
        if status == 201:
            try:
                return str(orjson.loads(response.content)["call_id"])
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise TransientDeliveryError(f"voice network answered without a call id: {response.text[:200]}") from exc
        message = _message(response)
        if status == 429 or status >= 500:
            raise TransientDeliveryError(f"voice network {status}: {message}")
        raise PermanentDeliveryError(message, _CODES.get(status, status))

    async def aclose(self) -> None:
        if self._own:
            await self._client.aclose()


def _message(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
        return str(body["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return response.text[:200] or f"HTTP {response.status_code}"
