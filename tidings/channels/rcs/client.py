"""The RBM REST API as Tidings uses it, with Google's errors mapped to ours at the boundary.

    POST {base}/v1/phones/{E.164}/agentMessages?messageId=&agentId=   send (AgentMessage)
    GET  {base}/v1/phones/{E.164}/capabilities?requestId=&agentId=    is the user RCS-capable
    DELETE {base}/v1/phones/{E.164}/agentMessages/{messageId}?agentId= revoke before delivery
    POST {base}/v1/phones/{E.164}/agentEvents?eventId=&agentId=       READ / IS_TYPING

Auth is `Authorization: Bearer <token>` (the app's `static_bearer` credentials: the agent id as
`claimed_identity`). Google API errors are `{"error": {"code", "message", "status"}}`:

    404 NOT_FOUND                 the user is not RCS-enabled / not reachable → Permanent
    400 INVALID_ARGUMENT, 403 …   the message can never go → Permanent (403: ChannelAuthError)
    401 UNAUTHENTICATED           our token is wrong → ChannelAuthError
    409 ALREADY_EXISTS            this messageId was accepted before (a retry) → success
    429, 5xx, timeouts            try again → Transient
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tidings.channels.http_client import PlatformHttp, PlatformResponse
from tidings.core.errors import ChannelAuthError, PermanentDeliveryError, TransientDeliveryError

__all__ = ["GOOGLE_BASE_URL", "RbmClient", "RbmCredentials", "invalid_credentials"]

GOOGLE_BASE_URL = "https://rcsbusinessmessaging.googleapis.com"
DEFAULT_RETRY_AFTER = 1.0


def invalid_credentials(reason: str) -> ChannelAuthError:
    return ChannelAuthError(f"RCS credentials: {reason}")


@dataclass(frozen=True)
class RbmCredentials:
    agent_id: str
    token: str
    client_token: str | None  # the webhook's clientToken (the app's callback_secret)

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> RbmCredentials:
        """From a Conversation API channel_credentials entry:
        {"channel": "RCS", "static_bearer": {"claimed_identity": agent, "token": ...},
        "callback_secret": client token}."""
        bearer = entry.get("static_bearer")
        if not isinstance(bearer, dict):
            raise invalid_credentials("static_bearer {claimed_identity, token} is required")
        agent, token = bearer.get("claimed_identity"), bearer.get("token")
        if not isinstance(agent, str) or not agent or not isinstance(token, str) or not token:
            raise invalid_credentials("static_bearer needs claimed_identity (the agent id) and token")
        secret = entry.get("callback_secret")
        return cls(agent, token, secret if isinstance(secret, str) and secret else None)


def _retry_after(response: PlatformResponse) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", DEFAULT_RETRY_AFTER)))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _error(response: PlatformResponse) -> tuple[str, str]:
    try:
        error = orjson.loads(response.content).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    return str(error.get("status") or response.status_code), str(error.get("message") or response.text[:200])


def _raise_for(response: PlatformResponse, what: str) -> None:
    status = response.status_code
    if status < 400:
        return
    code, message = _error(response)
    text = f"RBM {what}: {status} {code}: {message}"
    if status == 401:
        raise ChannelAuthError(text)
    if status == 403:
        raise ChannelAuthError(text)
    if status == 429 or status >= 500 or status == 408:
        raise TransientDeliveryError(text, retry_after=_retry_after(response))
    raise PermanentDeliveryError(text, code=status)


class RbmClient:
    """One RBM endpoint (Google's, or the sandbox twin's) over a shared httpx client."""

    def __init__(self, base_url: str, http: PlatformHttp, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.timeout = timeout

    def _url(self, msisdn: str, resource: str) -> str:
        return f"{self.base_url}/v1/phones/{msisdn}/{resource}"

    async def _request(self, method: str, url: str, creds: RbmCredentials, what: str, *,
                       params: dict[str, str], body: dict[str, Any] | None = None) -> PlatformResponse:
        headers = {"Authorization": f"Bearer {creds.token}"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(body)
        try:
            return await self.http.request(method, url, params=params, headers=headers, content=content,
                                           timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"RBM {what}: timed out") from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"RBM {what}: {exc!r}") from exc

    async def send(self, creds: RbmCredentials, msisdn: str, message_id: str, agent_message: dict[str, Any]
                   ) -> dict[str, Any]:
        """phones.agentMessages.create; the AgentMessage the platform returns ({} when the id
        had been accepted before)."""
        response = await self._request("POST", self._url(msisdn, "agentMessages"), creds, "send",
                                       params={"messageId": message_id, "agentId": creds.agent_id},
                                       body=agent_message)
        if response.status_code == httpx.codes.CONFLICT:
            return {}
        _raise_for(response, "send")
        result = orjson.loads(response.content) if response.content else {}
        return result if isinstance(result, dict) else {}

    async def revoke(self, creds: RbmCredentials, msisdn: str, message_id: str) -> bool:
        """phones.agentMessages.delete: True when the message was revoked before delivery, False
        when it was delivered already (404)."""
        response = await self._request("DELETE", f"{self._url(msisdn, 'agentMessages')}/{message_id}", creds,
                                       "revoke", params={"agentId": creds.agent_id})
        if response.status_code == httpx.codes.NOT_FOUND:
            return False
        _raise_for(response, "revoke")
        return True

    async def capabilities(self, creds: RbmCredentials, msisdn: str) -> list[str] | None:
        """The user's RCS features, or None when the user is not RCS-capable (404)."""
        response = await self._request("GET", self._url(msisdn, "capabilities"), creds, "capabilities",
                                       params={"requestId": str(uuid.uuid4()), "agentId": creds.agent_id})
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        _raise_for(response, "capabilities")
        features = orjson.loads(response.content).get("features") or []
        return [str(f) for f in features]

    async def event(self, creds: RbmCredentials, msisdn: str, event_type: str,
                    message_id: str | None = None) -> None:
        """phones.agentEvents.create: READ (of the user's `message_id`) or IS_TYPING."""
        body: dict[str, Any] = {"eventType": event_type}
        if message_id is not None:
            body["messageId"] = message_id
        response = await self._request("POST", self._url(msisdn, "agentEvents"), creds, "event",
                                       params={"eventId": str(uuid.uuid4()), "agentId": creds.agent_id},
                                       body=body)
        _raise_for(response, "event")
