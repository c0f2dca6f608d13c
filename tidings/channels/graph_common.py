"""What the Meta Graph channels (Messenger, WhatsApp) share on the wire: the webhook signature
(`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`, and the legacy SHA-1
header), the webhook routes (GET hub.challenge verification, POST signed events), the derived
verify token, registering a webhook with a sandbox twin's console, POSTing to the Graph API,
and turning a classified Graph error into the connector contract's exception.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tidings.channels.contract import ChannelEventSink
from tidings.channels.http_client import PlatformHttp, PlatformResponse
from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_HEADER_SHA1",
    "contract_error",
    "derived_verify_token",
    "post_graph",
    "register_webhook",
    "sign",
    "sign_sha1",
    "verify_signature",
    "webhook_routes",
]

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_HEADER_SHA1 = "X-Hub-Signature"

Outcome = Literal["transient", "permanent", "auth"]
WebhookHandler = Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[None]]


def sign(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_sha1(secret: str, body: bytes) -> str:
    """The legacy X-Hub-Signature header value Meta sends next to the SHA-256 one."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the X-Hub-Signature-256 of `body` under `secret` (constant time)."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())


def derived_verify_token(configured: Any, key: Any, purpose: str) -> str:
    """The token Meta echoes in the GET verification: `configured` when set, else
    hex(HMAC-SHA256(key, purpose))[:32]."""
    if configured:
        return str(configured)
    return hmac.new(str(key or "").encode(), purpose.encode(), hashlib.sha256).hexdigest()[:32]


def webhook_routes(channel: str, sink: ChannelEventSink, verify_token: Callable[[str, dict[str, Any]], str],
                   handle: WebhookHandler) -> list[BaseRoute]:
    """`GET /apps/{app_id}/webhook` answers Meta's verification; `POST` checks the app is known
    (404), the signature under its callback_secret (401) and the JSON object (400), then hands
    (app id, credentials, payload) to `handle` and answers EVENT_RECEIVED."""

    async def verify(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        credentials = await sink.credentials(app_id, channel)
        if credentials is None:
            return PlainTextResponse("unknown app", status_code=404)
        params = request.query_params
        if params.get("hub.mode") == "subscribe" and params.get("hub.verify_token") == verify_token(app_id, credentials):
            return PlainTextResponse(params.get("hub.challenge", ""))
        return PlainTextResponse("verification failed", status_code=403)

    async def receive(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        credentials = await sink.credentials(app_id, channel)
        if credentials is None:
            return PlainTextResponse("unknown app", status_code=404)
        body = await request.body()
        if not verify_signature(str(credentials.get("callback_secret") or ""), body,
                                request.headers.get(SIGNATURE_HEADER)):
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return PlainTextResponse("invalid JSON", status_code=400)
        if not isinstance(payload, dict):
            return PlainTextResponse("invalid payload", status_code=400)
        await handle(app_id, credentials, payload)
        return PlainTextResponse("EVENT_RECEIVED")

    return [Route("/apps/{app_id}/webhook", verify, methods=["GET"]),
            Route("/apps/{app_id}/webhook", receive, methods=["POST"])]


async def register_webhook(http: PlatformHttp, console_url: str, body: dict[str, Any], label: str) -> None:
    """PUT the webhook registration to a sandbox twin's console; unreachable is transient, a
    refusal is our credentials."""
    try:
        response = await http.put(console_url, json=body)
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(f"{label} console unreachable: {exc}") from exc
    if response.status_code >= 400:
        raise ChannelAuthError(f"{label} console refused the webhook: {response.status_code} {response.text}")


async def post_graph(http: PlatformHttp, url: str, token: str, payload: dict[str, Any],
                     label: str) -> PlatformResponse:
    """POST to a Graph endpoint with the Bearer token; a timeout or no answer is transient."""
    try:
        return await http.post(url, json=payload, headers={"Authorization": f"Bearer {token}"})
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"{label} timed out: {exc!r}") from exc
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(f"{label} unreachable: {exc!r}") from exc


def contract_error(outcome: Outcome, label: str, code: int | None, response: PlatformResponse,
                   retry_after: Mapping[int, float]) -> Exception:
    """The contract's exception for a classified Graph error: our credentials, transient (after
    the code's pause, or the Retry-After header) or permanent (the Graph code, else the status)."""
    if outcome == "auth":
        return ChannelAuthError(label)
    if outcome == "transient":
        pause = retry_after.get(code or 0, 1.0)
        header = response.headers.get("Retry-After", "")
        if header.isdigit():
            pause = float(header)
        return TransientDeliveryError(label, retry_after=pause)
    return PermanentDeliveryError(label, code if code is not None else response.status_code)
