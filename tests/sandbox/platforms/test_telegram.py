"""The Telegram Bot API twin on its own: the Bot API's answer and error shapes, webhook updates
with the secret token, getUpdates, callback queries and the sandbox REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.api.testing import serve_app
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms import telegram
from tidings.sandbox.platforms.telegram import TelegramTwin, create_twin

BOT_ID = 5550001
TOKEN = f"{BOT_ID}:sandbox-token_ABC"
USER = "+46701234567"
CHAT = 46701234567


@dataclass
class Hook:
    updates: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200

    async def receive(self, request: Request) -> Response:
        self.updates.append(orjson.loads(await request.body()))
        self.headers.append(dict(request.headers))
        return Response("ok", status_code=self.status)


@dataclass
class World:
    sandbox: Sandbox
    twin: TelegramTwin
    http: httpx.AsyncClient
    url: str
    hook: Hook

    @property
    def base(self) -> str:
        return f"{self.url}/sandbox/platforms/telegram"

    async def call(self, method: str, token: str = TOKEN, **params: Any) -> httpx.Response:
        return await self.http.post(f"{self.base}/bot{token}/{method}", json=params)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sandbox = Sandbox(seed=1)
    twin = create_twin(sandbox)
    sandbox.register_platform(twin)
    hook = Hook()
    app = Starlette(routes=[*sandbox.routes(), Route("/hook", hook.receive, methods=["POST"])])
    await twin.start()
    async with serve_app(app) as url, httpx.AsyncClient(timeout=5.0) as http:
        sandbox.handset(USER).capabilities = ["SMS", "TELEGRAM"]
        yield World(sandbox, twin, http, url, hook)
        await twin.stop()


async def test_get_me_and_unauthorized_shapes(world: World) -> None:
    me = (await world.call("getMe")).json()
    assert me["ok"] is True and me["result"]["id"] == BOT_ID and me["result"]["is_bot"] is True
    for token in ("not-a-token", f"{BOT_ID}:short"):
        response = await world.call("getMe", token=token)
        assert response.status_code == 401
        assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    unknown = await world.call("sendSticker", chat_id=CHAT)
    assert unknown.status_code == 404 and unknown.json()["description"] == "Not Found"


async def test_send_message_returns_a_message_and_reaches_the_handset(world: World) -> None:
    response = await world.call("sendMessage", chat_id=CHAT, text="hello")
    assert response.status_code == 200
    message = response.json()["result"]
    assert message["message_id"] == 1 and message["chat"] == {"id": CHAT, "first_name": USER, "type": "private"}
    assert message["text"] == "hello" and message["from"]["is_bot"] is True
    [received] = world.sandbox.messages_for(USER)
    assert received.channel == "TELEGRAM" and received.content["message"] == message  # type: ignore[index]


@pytest.mark.parametrize(("method", "params", "code", "description"), [
    ("sendMessage", {"chat_id": CHAT, "text": ""}, 400, "Bad Request: message text is empty"),
    ("sendMessage", {"chat_id": CHAT, "text": "x" * 4097}, 400, "Bad Request: message is too long"),
    ("sendMessage", {"text": "x"}, 400, "Bad Request: chat_id is empty"),
    ("sendMessage", {"chat_id": 46709999999, "text": "x"}, 400, "Bad Request: chat not found"),
    ("sendPhoto", {"chat_id": CHAT, "photo": "nope"}, 400, "Bad Request: wrong file identifier/HTTP URL specified"),
    ("sendPhoto", {"chat_id": CHAT, "photo": "https://x.example/a.jpg", "caption": "c" * 1025}, 400,
     "Bad Request: message caption is too long"),
    ("sendLocation", {"chat_id": CHAT, "latitude": 91, "longitude": 0}, 400, "Bad Request: wrong location specified"),
    ("sendMediaGroup", {"chat_id": CHAT, "media": [{"type": "photo", "media": "https://x.example/a.jpg"}]}, 400,
     "Bad Request: wrong number of media items specified: must include 2-10 items"),
    ("sendMessage", {"chat_id": CHAT, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "b"}]]}}, 400,
     "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"),
    ("sendMessage", {"chat_id": CHAT, "text": "x", "reply_markup": {"inline_keyboard": [
        [{"text": "b", "callback_data": "d" * 65}]]}}, 400, "Bad Request: BUTTON_DATA_INVALID"),
])
async def test_refusals(world: World, method: str, params: dict[str, Any], code: int, description: str) -> None:
    response = await world.call(method, **params)
    assert response.status_code == code
    assert response.json() == {"ok": False, "error_code": code, "description": description}
    assert world.sandbox.messages_for(USER) == []


async def test_a_chat_action_is_shown_to_the_user_and_refused_like_a_send(world: World) -> None:
    response = await world.call("sendChatAction", chat_id=CHAT, action="typing")
    assert response.json() == {"ok": True, "result": True}
    assert [(a["chat_id"], a["action"]) for a in world.twin.chat_actions] == [(CHAT, "typing")]
    assert world.sandbox.messages_for(USER) == []  # shown above the chat, not a message
    for params, code, description in (
        ({"chat_id": CHAT, "action": "dancing"}, 400, "Bad Request: wrong parameter action in request"),
        ({"action": "typing"}, 400, "Bad Request: chat_id is empty"),
        ({"chat_id": 46709999999, "action": "typing"}, 400, "Bad Request: chat not found"),
    ):
        refused = await world.call("sendChatAction", **params)
        assert refused.json() == {"ok": False, "error_code": code, "description": description}
    world.twin.blocked.add((BOT_ID, CHAT))
    blocked = await world.call("sendChatAction", chat_id=CHAT, action="typing")
    assert blocked.json()["description"] == "Forbidden: bot was blocked by the user"
    assert len(world.twin.chat_actions) == 1


async def test_form_encoded_parameters(world: World) -> None:
    markup = orjson.dumps({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}).decode()
    response = await world.http.post(f"{world.base}/bot{TOKEN}/sendMessage",
                                     data={"chat_id": str(CHAT), "text": "form", "reply_markup": markup})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "go"


async def test_webhook_updates_carry_the_secret_token(world: World) -> None:
    bad = await world.call("setWebhook", url=f"{world.url}/hook", secret_token="not allowed!")
    assert bad.json()["description"] == "Bad Request: secret token contains unallowed characters"
    ok = await world.call("setWebhook", url=f"{world.url}/hook", secret_token="s3cret_-X")
    assert ok.json() == {"ok": True, "result": True}
    await world.twin.handset_sends(world.sandbox.handset(USER), f"@tidings{BOT_ID}_bot", body="hi", postback=None)
    [update] = world.hook.updates
    assert update["message"]["text"] == "hi" and update["message"]["chat"]["id"] == CHAT
    assert update["message"]["from"] == {"id": CHAT, "is_bot": False, "first_name": USER, "language_code": "en"}
    assert world.hook.headers[0]["x-telegram-bot-api-secret-token"] == "s3cret_-X"
    info = (await world.call("getWebhookInfo")).json()["result"]
    assert info["url"] == f"{world.url}/hook" and info["pending_update_count"] == 0


async def test_without_a_webhook_updates_wait_for_get_updates(world: World) -> None:
    await world.call("getMe")
    handset = world.sandbox.handset(USER)
    await world.twin.handset_sends(handset, str(BOT_ID), body="one", postback=None)
    await world.twin.handset_sends(handset, str(BOT_ID), body="two", postback=None)
    updates = (await world.call("getUpdates")).json()["result"]
    assert [u["message"]["text"] for u in updates] == ["one", "two"]
    rest = (await world.call("getUpdates", offset=updates[0]["update_id"] + 1)).json()["result"]
    assert [u["message"]["text"] for u in rest] == ["two"]
    await world.call("setWebhook", url=f"{world.url}/hook")
    conflict = await world.call("getUpdates")
    assert conflict.status_code == 409 and conflict.json()["description"].startswith("Conflict: ")


async def test_button_tap_is_a_callback_query_answered_once(world: World) -> None:
    await world.call("setWebhook", url=f"{world.url}/hook")
    sent = (await world.call("sendMessage", chat_id=CHAT, text="Pick", reply_markup={"inline_keyboard": [
        [{"text": "Red", "callback_data": "c:red"}], [{"text": "Site", "url": "https://x.example"}]]})).json()
    with pytest.raises(LookupError):
        await world.twin.handset_sends(world.sandbox.handset(USER), str(BOT_ID), body=None, postback="Site")
    await world.twin.handset_sends(world.sandbox.handset(USER), str(BOT_ID), body=None, postback="Red")
    query = world.hook.updates[-1]["callback_query"]
    assert query["data"] == "c:red" and query["message"] == sent["result"]
    first = await world.call("answerCallbackQuery", callback_query_id=query["id"])
    assert first.json() == {"ok": True, "result": True}
    again = await world.call("answerCallbackQuery", callback_query_id=query["id"])
    assert again.status_code == 400 and "query ID is invalid" in again.json()["description"]


async def test_the_twin_remembers_only_the_newest_answered_callbacks(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram, "MAX_REMEMBERED", 1)
    await world.call("setWebhook", url=f"{world.url}/hook")
    await world.call("sendMessage", chat_id=CHAT, text="Pick", reply_markup={"inline_keyboard": [
        [{"text": "Red", "callback_data": "c:red"}]]})
    ids = []
    for _ in range(2):
        await world.twin.handset_sends(world.sandbox.handset(USER), str(BOT_ID), body=None, postback="Red")
        ids.append(world.hook.updates[-1]["callback_query"]["id"])
        assert (await world.call("answerCallbackQuery", callback_query_id=ids[-1])).status_code == 200
    assert world.twin.answered == ids[1:]


async def test_the_twin_keeps_only_the_newest_files(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram, "MAX_REMEMBERED", 2)
    await world.call("setWebhook", url=f"{world.url}/hook")
    for n in range(3):
        await world.twin.handset_sends_media(world.sandbox.handset(USER), str(BOT_ID), url=f"https://f.example/{n}.jpg",
                                             mime_type="image/jpeg")
    file_ids = [update["message"]["photo"][-1]["file_id"] for update in world.hook.updates]
    forgotten = await world.call("getFile", file_id=file_ids[0])
    assert forgotten.status_code == 400 and forgotten.json()["description"] == "Bad Request: invalid file_id"
    for n in (1, 2):
        path = (await world.call("getFile", file_id=file_ids[n])).json()["result"]["file_path"]
        download = await world.http.get(f"{world.base}/file/bot{TOKEN}/{path}")
        assert download.status_code == 302 and download.headers["location"] == f"https://f.example/{n}.jpg"
    assert (await world.http.get(f"{world.base}/file/bot{TOKEN}/documents/file_1")).status_code == 404
    assert len(world.twin._files) == len(world.twin._file_urls) == 2


async def test_only_the_newest_unanswered_button_taps_can_be_answered(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram, "MAX_REMEMBERED", 1)
    await world.call("setWebhook", url=f"{world.url}/hook")
    await world.call("sendMessage", chat_id=CHAT, text="Pick", reply_markup={"inline_keyboard": [
        [{"text": "Red", "callback_data": "c:red"}]]})
    ids = []
    for _ in range(2):  # never answered
        await world.twin.handset_sends(world.sandbox.handset(USER), str(BOT_ID), body=None, postback="Red")
        ids.append(world.hook.updates[-1]["callback_query"]["id"])
    too_old = await world.call("answerCallbackQuery", callback_query_id=ids[0])
    assert too_old.status_code == 400 and "query is too old" in too_old.json()["description"]
    assert (await world.call("answerCallbackQuery", callback_query_id=ids[1])).status_code == 200


async def test_unknown_bot_is_a_lookup_error(world: World) -> None:
    with pytest.raises(LookupError):
        await world.twin.handset_sends(world.sandbox.handset(USER), "@nobody_bot", body="x", postback=None)


async def test_sandbox_api_sends_as_the_handset(world: World) -> None:
    await world.call("setWebhook", url=f"{world.url}/hook")
    response = await world.http.post(f"{world.url}/sandbox/v1/handsets/{USER}/messages",
                                     json={"channel": "TELEGRAM", "to": f"@tidings{BOT_ID}_bot", "body": "via api"})
    assert response.status_code == 202, response.text
    assert response.json()["message_id"] == f"{CHAT}:1"
    assert world.hook.updates[-1]["message"]["text"] == "via api"
    listed = await world.http.get(f"{world.url}/sandbox/v1/handsets/{USER}/sent")
    assert listed.status_code == 200
