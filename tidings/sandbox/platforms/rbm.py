"""The RBM twin: Google's RCS Business Messaging API as the sandbox's handsets experience it.

Served under /sandbox/platforms/rbm (so `{base}` below is that prefix):

    POST {base}/v1/phones/{E.164}/agentMessages?messageId=&agentId=   deliver to the handset
    GET  {base}/v1/phones/{E.164}/capabilities?requestId=&agentId=    features, or 404
    DELETE {base}/v1/phones/{E.164}/agentMessages/{messageId}?agentId= revoke an undelivered message
    POST {base}/v1/phones/{E.164}/agentEvents?eventId=&agentId=       READ / IS_TYPING from the agent
    PUT  {base}/console/agents/{agentId}     {"token", "webhook": {"url", "clientToken"}}
    GET  {base}/console/agents/{agentId}     the agent, and the agent events it sent
    PUT  {base}/console/users/{E.164}        {"online": false}: hold the user's messages undelivered

Like the real platform: `Authorization: Bearer` checked against the agent's token (401
UNAUTHENTICATED, 403 PERMISSION_DENIED), Google's error body `{"error": {"code", "message",
"status"}}`, 404 NOT_FOUND for a user without RCS, 400 INVALID_ARGUMENT for a malformed message,
409 ALREADY_EXISTS for a reused messageId. Messages to an RCS user whose phone is offline are
accepted and held until it is back online (or the message is revoked), across a restart of the
sandbox too (`saved`). A delivered message
lands in the handset's inbox (channel "RCS", content = the contentMessage); a DELIVERED event
follows after `delivered_after_ms` and READ after `read_after_ms` more. The handset's messages
and taps (`handset_sends`) and those events go to the agent's webhook, Pub/Sub push-shaped and
signed with `X-Goog-Signature` = base64(HMAC-SHA512(clientToken, data)), one at a time in order,
retried with backoff while the webhook does not answer 200 (as Google does, which is why one
failing webhook holds up the others). Registering a webhook performs Google's verification
handshake.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import itertools
import logging
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.sandbox.handsets import Handset, InvalidNumber, normalize_number
from tidings.sandbox.platforms.common import (
    MAX_REMEMBERED,
    STOP_WAIT_S,
    PlatformTwin,
    app_message,
    json_response,
    remember,
    revived,
)
from tidings.sandbox.platforms.rbm_content import (
    TRAFFIC_TYPES,
    content_error,
    display_text,
    suggestions_of,
)
from tidings.sandbox.state_file import member

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["FEATURES", "RbmAgent", "RbmTwin", "create_twin"]

log = logging.getLogger(__name__)
SENT_KEPT = MAX_REMEMBERED
"""Agent message ids the twin remembers for its duplicate check (a long load must not grow it)."""

FEATURES = ["RICHCARD_STANDALONE", "RICHCARD_CAROUSEL", "ACTION_CREATE_CALENDAR_EVENT", "ACTION_DIAL",
            "ACTION_OPEN_URL", "ACTION_SHARE_LOCATION", "ACTION_VIEW_LOCATION"]
OFFLINE_POLL_S = 0.02
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION"}


class RbmError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class RbmAgent:
    agent_id: str
    token: str
    webhook_url: str | None = None
    client_token: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # agent events it sent to users (newest)


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(exc: RbmError) -> Response:
    return json_response({"error": {"code": exc.code, "message": exc.message,
                            "status": _STATUS.get(exc.code, "UNKNOWN")}}, exc.code)


class RbmTwin(PlatformTwin):
    channel = "RCS"
    name = "rbm"

    def __init__(self, sandbox: Sandbox, *, clock: Callable[[], int] | None = None,
                 delivered_after_ms: int = 20, read_after_ms: int | None = 100,
                 webhook_attempts: int = 8, webhook_backoff_s: float = 0.05) -> None:
        super().__init__(sandbox, clock)
        self.delivered_after_ms = delivered_after_ms
        self.read_after_ms = read_after_ms
        self.webhook_attempts = webhook_attempts
        self.webhook_backoff_s = webhook_backoff_s
        self.agents: dict[str, RbmAgent] = {}
        # (agent, messageId) → AgentMessage, the newest SENT_KEPT: the duplicate messageId check.
        self.sent: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self.read_by_agent: OrderedDict[str, None] = OrderedDict()  # user message ids the agent marked READ (newest)
        self.offline: set[str] = set()  # RCS users whose phone is off: messages wait (see _put_user)
        self.pending: dict[tuple[str, str], asyncio.Task[None]] = {}  # accepted, not yet delivered
        # The same messages' (phone, contentMessage), saved at a stop and delivered after a restart.
        self.waiting: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._queue: asyncio.Queue[tuple[RbmAgent, dict[str, Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._publish_ids = itertools.count(int(self.clock()))

    # -- configuration ---------------------------------------------------------------------------

    def add_agent(self, agent_id: str, token: str) -> RbmAgent:
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = RbmAgent(agent_id, token)
        agent.token = token
        return agent

    async def set_webhook(self, agent_id: str, url: str, client_token: str) -> None:
        """Google's console "Configure webhook": POST {clientToken, secret} to the URL, which must
        answer 200 with the secret; raises `RbmError` (412) otherwise."""
        agent = self.agents[agent_id]
        secret = secrets.token_hex(8)
        try:
            response = await self.http().post(url, content=orjson.dumps({"clientToken": client_token,
                                                                             "secret": secret}),
                                                  headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise RbmError(412, f"webhook verification failed: {url} unreachable ({exc!r})") from exc
        if response.status_code != httpx.codes.OK or response.text != secret:
            raise RbmError(412, f"webhook verification failed: {url} answered {response.status_code} "
                                "without the secret")
        agent.webhook_url, agent.client_token = url, client_token

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._deliver_webhooks())

    async def stop(self) -> None:
        """Deliver what is queued (the work after sends finished first, see `PlatformTwin.stop`),
        for `STOP_WAIT_S` at most; what is left is owed, for the sandbox to save."""
        await self.finish_work()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_WAIT_S):
                await self._queue.join()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()  # its POST in flight is owed by `_post`
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        while not self._queue.empty():
            agent, payload = self._queue.get_nowait()
            self._queue.task_done()
            self._owe(agent, payload)
        await super().stop()

    async def idle(self, timeout: float = 5.0) -> None:
        """Wait until every scheduled event went out to its webhook (messages held for offline
        users aside; for tests)."""
        async with asyncio.timeout(timeout):
            while True:
                held = set(self.pending.values())
                running = [t for t in self._tasks if t not in held]
                if running:
                    await asyncio.gather(*running, return_exceptions=True)
                await self._queue.join()
                if not [t for t in self._tasks if t not in held] and self._queue.empty():
                    return

    def saved(self) -> dict[str, Any]:
        return {"agents": [dataclasses.asdict(agent) for agent in self.agents.values()],
                "offline": sorted(self.offline),
                "waiting": [[agent_id, message_id, phone, content]
                            for (agent_id, message_id), (phone, content) in self.waiting.items()]}

    def take_back(self, document: dict[str, Any]) -> None:
        """Registrations and offline users as saved; the messages that waited for an offline user
        wait again (and are delivered once the user is online), their ids still taken."""
        agents = [revived(RbmAgent, agent) for agent in member(document, "agents", list)]
        offline = {str(number) for number in member(document, "offline", list)}
        waiting = [(str(agent_id), str(message_id), normalize_number(str(phone)), dict(content))
                   for agent_id, message_id, phone, content in document.get("waiting", [])]
        self.agents.update((agent.agent_id, agent) for agent in agents)
        self.offline |= offline
        for agent_id, message_id, phone, content in waiting:
            agent = self.agents.get(agent_id)
            if agent is None:
                log.warning("rbm twin: message %s for %s dropped: agent %s is gone", message_id, phone, agent_id)
                continue
            remember(self.sent, (agent_id, message_id), {"name": f"phones/{phone}/agentMessages/{message_id}",
                                                         "contentMessage": content}, SENT_KEPT)
            self._hold(agent, self.sandbox.handsets.get(phone), message_id, content)

    # -- the API ---------------------------------------------------------------------------------

    def _authorise(self, request: Request) -> RbmAgent:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise RbmError(401, "Request is missing required authentication credential. "
                                "Expected OAuth 2 access token.")
        if not any(hmac.compare_digest(token, a.token) for a in self.agents.values()):
            raise RbmError(401, "Request had invalid authentication credentials.")
        agent_id = request.query_params.get("agentId")
        if not agent_id:
            raise RbmError(400, "agentId is required")
        agent = self.agents.get(agent_id)
        if agent is None or not hmac.compare_digest(token, agent.token):
            raise RbmError(403, f"The caller does not have permission to act as agent {agent_id}")
        return agent

    def _handset(self, request: Request) -> Handset:
        phone = request.path_params["phone"]
        if not phone.startswith("+"):
            raise RbmError(400, f"Invalid phone number {phone!r}: expected E.164 with a leading '+'")
        try:
            handset = self.sandbox.handsets.get(normalize_number(phone))
        except InvalidNumber as exc:
            raise RbmError(400, f"Invalid phone number {phone!r}") from exc
        if not handset.has(self.channel):
            raise RbmError(404, "Requested entity was not found.")
        return handset

    def online(self, number: str) -> bool:
        return number not in self.offline

    async def _create_message(self, request: Request) -> Response:
        agent = self._authorise(request)
        message_id = request.query_params.get("messageId")
        if not message_id:
            raise RbmError(400, "messageId is required")
        body = await _body(request)
        content = body.get("contentMessage")
        if error := content_error(content):
            raise RbmError(400, f"Invalid value: {error}")
        assert isinstance(content, dict)  # content_error refuses anything else
        traffic = body.get("messageTrafficType")
        if traffic is not None and traffic not in TRAFFIC_TYPES:
            raise RbmError(400, f"Invalid value at 'agent_message.message_traffic_type': {traffic!r}")
        handset = self._handset(request)
        if (agent.agent_id, message_id) in self.sent:
            raise RbmError(409, "Requested entity already exists")
        now = self.clock()
        message = {"name": f"phones/{handset.number}/agentMessages/{message_id}", "sendTime": _iso(now),
                   "contentMessage": content, **({"messageTrafficType": traffic} if traffic else {})}
        remember(self.sent, (agent.agent_id, message_id), message, SENT_KEPT)
        self._hold(agent, handset, message_id, content)
        return json_response(message)

    def _hold(self, agent: RbmAgent, handset: Handset, message_id: str, content: dict[str, Any]) -> None:
        """Accept a message for `handset`: it waits while the user is offline, then is delivered."""
        key = (agent.agent_id, message_id)
        self.waiting[key] = (handset.number, content)
        self.pending[key] = self.spawn(self._deliver(agent, handset, message_id, content))

    async def _capabilities(self, request: Request) -> Response:
        self._authorise(request)
        if not request.query_params.get("requestId"):
            raise RbmError(400, "requestId is required")
        self._handset(request)
        return json_response({"features": FEATURES})

    async def _create_event(self, request: Request) -> Response:
        agent = self._authorise(request)
        body = await _body(request)
        event_type = body.get("eventType")
        if event_type not in {"READ", "IS_TYPING"}:
            raise RbmError(400, f"Invalid value at 'agent_event.event_type': {event_type!r}")
        if event_type == "READ" and not isinstance(body.get("messageId"), str):
            raise RbmError(400, "messageId is required for READ events")
        handset = self._handset(request)
        event_id = request.query_params.get("eventId") or str(uuid.uuid4())
        now = self.clock()
        event = {"name": f"phones/{handset.number}/agentEvents/{event_id}", "eventType": event_type,
                 "sendTime": _iso(now), **({"messageId": body["messageId"]} if "messageId" in body else {})}
        agent.events.append({**event, "phone": handset.number})
        del agent.events[:-MAX_REMEMBERED]
        if event_type == "READ":
            remember(self.read_by_agent, body["messageId"], None, MAX_REMEMBERED)
        return json_response(event)

    async def _put_agent(self, request: Request) -> Response:
        body = await _body(request)
        token, webhook = body.get("token"), body.get("webhook")
        if not isinstance(token, str) or not token:
            raise RbmError(400, "token is required")
        agent = self.add_agent(request.path_params["agent_id"], token)
        if webhook is not None:
            if not isinstance(webhook, dict) or not isinstance(webhook.get("url"), str) \
                    or not isinstance(webhook.get("clientToken"), str) or not webhook["clientToken"]:
                raise RbmError(400, "webhook must be {\"url\": ..., \"clientToken\": ...}")
            await self.set_webhook(agent.agent_id, webhook["url"], webhook["clientToken"])
        return json_response(_agentjson_response(agent))

    async def _get_agent(self, request: Request) -> Response:
        agent = self.agents.get(request.path_params["agent_id"])
        if agent is None:
            raise RbmError(404, "Requested entity was not found.")
        return json_response({**_agentjson_response(agent), "events": agent.events})

    def routes(self) -> list[BaseRoute]:
        def endpoint(function: Callable[[Request], Any]) -> Callable[[Request], Any]:
            async def wrapped(request: Request) -> Response:
                try:
                    return await function(request)  # type: ignore[no-any-return]
                except RbmError as exc:
                    return _error(exc)
            return wrapped

        return [
            Route("/v1/phones/{phone}/agentMessages", endpoint(self._create_message), methods=["POST"]),
            Route("/v1/phones/{phone}/agentMessages/{message_id}", endpoint(self._revoke), methods=["DELETE"]),
            Route("/v1/phones/{phone}/capabilities", endpoint(self._capabilities), methods=["GET"]),
            Route("/v1/phones/{phone}/agentEvents", endpoint(self._create_event), methods=["POST"]),
            Route("/console/agents/{agent_id}", endpoint(self._put_agent), methods=["PUT"]),
            Route("/console/agents/{agent_id}", endpoint(self._get_agent), methods=["GET"]),
            Route("/console/users/{phone}", endpoint(self._put_user), methods=["PUT"]),
        ]

    # -- the handset's side ----------------------------------------------------------------------

    async def handset_sends(self, handset: Handset, to: str, *, body: str | None,
                            postback: str | None) -> str:
        agent = self.agents.get(to)
        if agent is None or agent.webhook_url is None:
            raise LookupError(f"no RBM agent {to!r} with a webhook")
        now = self.clock()
        message_id = f"MsRbm{uuid.uuid4().hex[:22]}"
        payload: dict[str, Any] = {"senderPhoneNumber": handset.number, "messageId": message_id,
                                   "sendTime": _iso(now), "agentId": agent.agent_id}
        if postback is not None:
            tapped = self._find_suggestion(handset, to, postback)
            kind = "reply" if "reply" in tapped else "action"
            payload["suggestionResponse"] = {"postbackData": tapped[kind].get("postbackData", ""),
                                             "text": tapped[kind].get("text", ""),
                                             "type": "REPLY" if kind == "reply" else "ACTION"}
            shown = str(tapped[kind].get("text", ""))
        else:
            payload["text"] = body or ""
            shown = body or ""
        self.sandbox.handsets.record_sent(handset, app_message(
            sender=handset.number, recipient=to, body=shown, at_ms=now, message_id=message_id,
            channel=self.channel, content=payload))
        self._queue.put_nowait((agent, payload))
        return message_id

    def _find_suggestion(self, handset: Handset, agent_id: str, postback: str) -> dict[str, Any]:
        """The suggestion the user taps: the latest message's from this agent whose postbackData
        is `postback` (or ends with ":" + `postback`, Tidings' form), else whose text is it."""
        shown = [s for m in reversed(handset.inbox) if m.channel == self.channel and m.sender == agent_id
                 and m.content for s in suggestions_of(m.content)]

        def data(s: dict[str, Any]) -> str:
            return str((s.get("reply") or s.get("action") or {}).get("postbackData", ""))

        def text(s: dict[str, Any]) -> str:
            return str((s.get("reply") or s.get("action") or {}).get("text", ""))

        for match in (lambda s: data(s) == postback, lambda s: data(s).endswith(":" + postback),
                      lambda s: text(s) == postback):
            for item in shown:
                if match(item):
                    return item
        raise LookupError(f"no suggestion with postback {postback!r} from {agent_id} on {handset.number}")

    # -- events to the webhook -------------------------------------------------------------------

    async def _deliver(self, agent: RbmAgent, handset: Handset, message_id: str, content: dict[str, Any]) -> None:
        """Store-and-forward: the message reaches the phone once it is online (until revoked),
        then DELIVERED, then READ."""
        while not self.online(handset.number):
            if self.stopping:  # still held: saved with `waiting` and delivered after a restart
                return
            await self.pause(OFFLINE_POLL_S)
        self.pending.pop((agent.agent_id, message_id), None)
        self.waiting.pop((agent.agent_id, message_id), None)
        self.sandbox.handsets.receive(handset, app_message(
            sender=agent.agent_id, recipient=handset.number, body=display_text(content), at_ms=self.clock(),
            message_id=message_id, channel=self.channel, content=content))
        await self.pause(self.delivered_after_ms / 1000)
        self._queue.put_nowait((agent, self._event(agent, handset.number, message_id, "DELIVERED")))
        if self.read_after_ms is not None:
            await self.pause(self.read_after_ms / 1000)
            self._queue.put_nowait((agent, self._event(agent, handset.number, message_id, "READ")))

    async def _revoke(self, request: Request) -> Response:
        """phones.agentMessages.delete: revoke a message not delivered yet (404 once delivered)."""
        agent = self._authorise(request)
        key = (agent.agent_id, request.path_params["message_id"])
        task = self.pending.pop(key, None)
        if task is None:
            raise RbmError(404, "Requested entity was not found.")
        self.waiting.pop(key, None)
        task.cancel()
        return json_response({})

    async def _put_user(self, request: Request) -> Response:
        """Console for the sandbox: `{"online": false}` keeps a user's RCS messages undelivered
        (accepted, no DELIVERED) until set back to true."""
        body = await _body(request)
        if not isinstance(body.get("online"), bool):
            raise RbmError(400, "online must be true or false")
        try:
            number = normalize_number(request.path_params["phone"])
        except InvalidNumber as exc:
            raise RbmError(400, str(exc)) from exc
        if body["online"]:
            self.offline.discard(number)
        else:
            self.offline.add(number)
        return json_response({"phone": number, "online": body["online"]})

    def _event(self, agent: RbmAgent, phone: str, message_id: str, event_type: str) -> dict[str, Any]:
        return {"senderPhoneNumber": phone, "eventType": event_type, "eventId": f"Ev{uuid.uuid4().hex[:22]}",
                "messageId": message_id, "sendTime": _iso(self.clock()), "agentId": agent.agent_id}

    def push_body(self, agent: RbmAgent, payload: dict[str, Any]) -> tuple[bytes, str]:
        """The Pub/Sub push request body for one event and its X-Goog-Signature."""
        data = orjson.dumps(payload)
        signature = base64.b64encode(hmac.new((agent.client_token or "").encode(), data,
                                              hashlib.sha512).digest()).decode()
        envelope = {"message": {"attributes": {}, "data": base64.b64encode(data).decode(),
                                "messageId": str(next(self._publish_ids)), "publishTime": _iso(self.clock())},
                    "subscription": f"projects/rbm-{agent.agent_id.split('@')[0]}/subscriptions/rbm-agent-subscription"}
        return orjson.dumps(envelope), signature

    async def _deliver_webhooks(self) -> None:
        while True:
            agent, payload = await self._queue.get()
            try:
                await self._post(agent, payload)
            finally:
                self._queue.task_done()

    async def _post(self, agent: RbmAgent, payload: dict[str, Any]) -> None:
        """Push one event, `webhook_attempts` tries in order with the others; then (or when a stop
        cuts it short) it is owed, and tried again on its own (`PlatformTwin.callbacks`)."""
        if agent.webhook_url is None:
            return
        body, headers = self._push_request(agent, payload)
        delay = self.webhook_backoff_s
        try:
            for attempt in range(1, self.webhook_attempts + 1):
                try:
                    response = await self.http().post(agent.webhook_url, content=body, headers=headers)
                    if response.status_code == httpx.codes.OK:
                        return
                    log.info("RBM webhook %s answered %s (attempt %d)", agent.webhook_url, response.status_code,
                             attempt)
                except httpx.HTTPError as exc:
                    log.info("RBM webhook %s failed: %r (attempt %d)", agent.webhook_url, exc, attempt)
                await self.pause(delay)
                delay = min(delay * 2, 2.0)
        except asyncio.CancelledError:
            self.callbacks.owe(agent.webhook_url, body, headers, accept=(httpx.codes.OK,))
            raise
        self.webhook_failures += 1
        log.warning("RBM webhook %s: event not taken after %d attempts; owed, tried again later",
                    agent.webhook_url, self.webhook_attempts)
        self.callbacks.owe(agent.webhook_url, body, headers, accept=(httpx.codes.OK,))

    def _owe(self, agent: RbmAgent, payload: dict[str, Any]) -> None:
        """An event the stop left queued: owed as it would have been pushed now."""
        if agent.webhook_url is not None:
            body, headers = self._push_request(agent, payload)
            self.callbacks.owe(agent.webhook_url, body, headers, accept=(httpx.codes.OK,))

    def _push_request(self, agent: RbmAgent, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body, signature = self.push_body(agent, payload)
        return body, {"Content-Type": "application/json", "X-Goog-Signature": signature}


def _agentjson_response(agent: RbmAgent) -> dict[str, Any]:
    return {"agentId": agent.agent_id, "webhook": {"url": agent.webhook_url} if agent.webhook_url else None}


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise RbmError(400, f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(data, dict):
        raise RbmError(400, "Invalid JSON payload received. Expected an object.")
    return data


def create_twin(sandbox: Sandbox, *, clock: Callable[[], int] | None = None, **options: Any) -> RbmTwin:
    return RbmTwin(sandbox, clock=clock, **options)
