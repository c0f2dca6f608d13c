"""A Telegram Bot API twin: the methods Tidings' Telegram connector uses, backed by sandbox
handsets with the TELEGRAM capability.

Served under `/sandbox/platforms/telegram/`:

    POST|GET /bot{token}/{method}        getMe, setWebhook, deleteWebhook, getWebhookInfo, getUpdates,
                                         getChat, getFile, answerCallbackQuery, sendMessage, sendPhoto,
                                         sendVideo, sendAnimation, sendAudio, sendDocument, sendLocation,
                                         sendVenue, sendContact, sendMediaGroup, sendChatAction
                                         (JSON, form or query)
    GET      /file/bot{token}/{path}     a file a handset sent (302 to where it lives)
    PUT      /console/settings           {"require_start": bool}
    POST     /console/faults             {"error_code": 429, "description": "...", "retry_after": 3,
                                         "count": 1}: the next send calls fail so
    PUT|DELETE /console/bots/{bot_id}/blocked/{chat_id}   the user blocks (unblocks) the bot

Any well-formed token (`<digits>:<8+ of A-Z a-z 0-9 _ ->`) is a bot, created on first use, until
revoked (`revoke`); anything else is 401 Unauthorized. A chat id is a handset's TELEGRAM identity
(its number's digits); a handset without TELEGRAM is "chat not found", one that blocked the bot is
403 "bot was blocked by the user", and with `require_start` a user who never wrote to the bot is
403 "bot can't initiate conversation with a user" — as on Telegram.

A chat action (`sendChatAction`: typing, upload_photo …) is kept in `chat_actions` (the newest
10,000), which is what the user would see above the chat for a few seconds.
Sends land in the handset's inbox at once (`content` is the returned `Message`). Telegram has no
delivery or read receipts, so neither does the twin. A handset's messages and button taps
(`handset_sends`) are POSTed as `Update`s to the bot's webhook with
`X-Telegram-Bot-Api-Secret-Token`, retried a few times; without a webhook they wait for getUpdates.
The twin keeps the newest 10,000 files (older ones are an invalid file_id, their path 404) and
the newest 10,000 unanswered button taps, so its memory does not grow with the messages sent.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tidings.channels.telegram.botapi import (
    SECRET_HEADER,
    error_body,
    secret_token_valid,
    token_valid,
)
from tidings.sandbox.handsets import Handset
from tidings.sandbox.platforms.common import (
    MAX_REMEMBERED,
    PlatformTwin,
    app_message,
    json_object,
    json_response,
    kept_list,
    pairs,
    remember,
)
from tidings.sandbox.platforms.telegram_render import (
    MEDIA_METHODS,
    SEND_METHODS,
    BotApiFault,
    callback_buttons,
    handset_text,
    message_fields,
    validate,
)
from tidings.sandbox.state_file import member, optional_member

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["Bot", "TelegramTwin", "create_twin"]

CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                          "upload_voice", "upload_document", "choose_sticker", "find_location",
                          "record_video_note", "upload_video_note"})
_JSON_PARAMS = ("reply_markup", "media", "allowed_updates", "chat_id", "latitude", "longitude")


@dataclass
class Bot:
    token: str
    bot_id: int
    username: str
    webhook_url: str | None = None
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100_000_001))

    def user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": f"Bot {self.bot_id}", "username": self.username}


@dataclass
class Sent:
    bot_id: int
    chat_id: int
    message: dict[str, Any]


class TelegramTwin(PlatformTwin):
    channel = "TELEGRAM"
    name = "telegram"
    settings = ("require_start",)

    def __init__(self, sandbox: Sandbox, *, clock: Callable[[], int] | None = None,
                 require_start: bool = False) -> None:
        super().__init__(sandbox, clock)
        self.require_start = require_start
        self.bots: dict[int, Bot] = {}
        self.revoked: set[str] = set()
        self.blocked: set[tuple[int, int]] = set()
        self.started: set[tuple[int, int]] = set()
        self.faults: deque[BotApiFault] = deque()
        self.answered: list[str] = []  # callback query ids answered, newest last (bounded)
        # Chat actions shown to users, newest last (bounded): {"bot_id", "chat_id", "action", "at_ms"}.
        self.chat_actions: list[dict[str, Any]] = []
        self._callbacks: OrderedDict[str, int] = OrderedDict()  # unanswered callback query id -> bot id (bounded)
        self._message_ids: dict[tuple[int, int], int] = {}
        self._sent: OrderedDict[tuple[int, int, int], Sent] = OrderedDict()
        # The newest files sent, as Telegram keeps them for getFile and the file download (bounded).
        self._files: OrderedDict[str, str] = OrderedDict()  # file_id -> file_path
        self._file_urls: OrderedDict[str, str] = OrderedDict()  # file_path -> url
        self._file_seq = itertools.count(1)

    def saved(self) -> dict[str, Any]:
        """Bots (with the updates no webhook took and the next update id), revoked tokens, chats
        started or blocked, and each chat's last message id and the file counter: ids Telegram
        gave once are never given again (Tidings takes a message id seen before for a redelivery)."""
        bots = []
        for bot in self.bots.values():
            next_update_id = next(bot.update_ids)
            bot.update_ids = itertools.count(next_update_id)
            bots.append({"token": bot.token, "bot_id": bot.bot_id, "username": bot.username,
                         "webhook_url": bot.webhook_url, "secret_token": bot.secret_token,
                         "allowed_updates": bot.allowed_updates, "pending": list(bot.pending),
                         "next_update_id": next_update_id})
        next_file = next(self._file_seq)
        self._file_seq = itertools.count(next_file)
        return {"bots": bots, "revoked": sorted(self.revoked), "blocked": sorted(self.blocked),
                "started": sorted(self.started),
                "message_ids": [[bot, chat, last] for (bot, chat), last in self._message_ids.items()],
                "next_file": next_file,
                "sent": [[sent.bot_id, sent.chat_id, sent.message] for sent in self._sent.values()
                         if callback_buttons(sent.message)]}  # those with buttons: taps after a restart

    def take_back(self, document: dict[str, Any]) -> None:
        bots = [Bot(token=member(b, "token", str), bot_id=member(b, "bot_id", int),
                    username=member(b, "username", str), webhook_url=optional_member(b, "webhook_url", str),
                    secret_token=optional_member(b, "secret_token", str),
                    allowed_updates=optional_member(b, "allowed_updates", list),
                    pending=deque(member(b, "pending", list)),
                    update_ids=itertools.count(member(b, "next_update_id", int)))
                for b in member(document, "bots", list)]
        revoked = {str(token) for token in member(document, "revoked", list)}
        blocked = {(int(bot), int(chat)) for bot, chat in pairs(document, "blocked")}
        started = {(int(bot), int(chat)) for bot, chat in pairs(document, "started")}
        message_ids = {(int(bot), int(chat)): int(last) for bot, chat, last in pairs(document, "message_ids")}
        next_file = member(document, "next_file", int)
        sent = [((int(bot), int(chat), int(message["message_id"])), Sent(int(bot), int(chat), dict(message)))
                for bot, chat, message in kept_list(document, "sent")]
        self.bots.update((bot.bot_id, bot) for bot in bots)
        self.revoked |= revoked
        self.blocked |= blocked
        self.started |= started
        for key, last in message_ids.items():
            self._message_ids[key] = max(last, self._message_ids.get(key, 0))
        self._file_seq = itertools.count(next_file)
        for sent_key, message in sent:
            remember(self._sent, sent_key, message)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/console/settings", self._console_settings, methods=["GET", "PUT"]),
            Route("/console/faults", self._console_faults, methods=["POST"]),
            Route("/console/bots/{bot_id:int}/blocked/{chat_id:int}", self._console_block, methods=["PUT", "DELETE"]),
            Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
        ]

    # -- bots --------------------------------------------------------------------------------------

    def bot(self, token: str) -> Bot:
        """The bot a token names (created on first use); BotApiFault 401 when it is no token."""
        if not token_valid(token) or token in self.revoked:
            raise BotApiFault(401, "")
        bot_id = int(token.split(":", 1)[0])
        bot = self.bots.get(bot_id)
        if bot is None or bot.token != token:
            bot = Bot(token, bot_id, f"tidings{bot_id}_bot") if bot is None else bot
            if bot.token != token:
                raise BotApiFault(401, "")
            self.bots[bot_id] = bot
        return bot

    def revoke(self, token: str) -> None:
        """@BotFather /revoke: the token stops working."""
        self.revoked.add(token)

    def _bot_for(self, to: str) -> Bot:
        name = to.removeprefix("@").lower()
        for bot in self.bots.values():
            if name in (str(bot.bot_id), bot.username.lower(), bot.token.lower()):
                return bot
        raise LookupError(f"no Telegram bot {to!r} in the sandbox")

    # -- the Bot API -------------------------------------------------------------------------------

    async def _method(self, request: Request) -> Response:
        try:
            bot = self.bot(request.path_params["token"])
            params = await _params(request)
            return _ok(await self._dispatch(bot, request.path_params["method"], params))
        except BotApiFault as exc:
            return json_response(error_body(exc.error_code, exc.detail, retry_after=exc.retry_after), exc.error_code)

    async def _dispatch(self, bot: Bot, method: str, params: dict[str, Any]) -> Any:
        if method in SEND_METHODS:
            return self._send(bot, method, params)
        handler = {
            "getMe": self._get_me, "setWebhook": self._set_webhook, "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._webhook_info, "getUpdates": self._get_updates, "getChat": self._get_chat,
            "getFile": self._get_file, "answerCallbackQuery": self._answer_callback,
            "sendChatAction": self._chat_action,
        }.get(method)
        if handler is None:
            raise BotApiFault(404, "")
        return handler(bot, params)

    def _chat_action(self, bot: Bot, params: dict[str, Any]) -> bool:
        """`sendChatAction`: refused as a send would be (unknown chat, blocked, never started)."""
        if params.get("chat_id") in (None, ""):
            raise BotApiFault(400, "chat_id is empty")
        chat, _ = self._handset(bot, params.get("chat_id"))
        self._may_write(bot, chat)
        action = params.get("action")
        if action not in CHAT_ACTIONS:
            raise BotApiFault(400, "wrong parameter action in request")
        self.chat_actions.append({"bot_id": bot.bot_id, "chat_id": chat, "action": action, "at_ms": self.clock()})
        del self.chat_actions[:-MAX_REMEMBERED]
        return True

    def _may_write(self, bot: Bot, chat: int) -> None:
        if (bot.bot_id, chat) in self.blocked:
            raise BotApiFault(403, "bot was blocked by the user")
        if self.require_start and (bot.bot_id, chat) not in self.started:
            raise BotApiFault(403, "bot can't initiate conversation with a user")

    def _get_me(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        return {**bot.user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _set_webhook(self, bot: Bot, params: dict[str, Any]) -> bool:
        url = params.get("url")
        if not isinstance(url, str):
            raise BotApiFault(400, "bad webhook: Webhook URL is missing")
        secret = params.get("secret_token")
        if secret is not None and (not isinstance(secret, str) or not secret_token_valid(secret)):
            raise BotApiFault(400, "secret token contains unallowed characters")
        if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname):
            raise BotApiFault(400, "bad webhook: An HTTPS URL must be provided for webhook")
        allowed = params.get("allowed_updates")
        bot.webhook_url = url or None
        bot.secret_token = secret or None
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed] or None
        return True

    def _delete_webhook(self, bot: Bot, params: dict[str, Any]) -> bool:
        bot.webhook_url = None
        if params.get("drop_pending_updates"):
            bot.pending.clear()
        return True

    def _webhook_info(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": bot.webhook_url or "", "has_custom_certificate": False,
                                "pending_update_count": len(bot.pending), "max_connections": 40}
        if bot.allowed_updates:
            info["allowed_updates"] = bot.allowed_updates
        return info

    def _get_updates(self, bot: Bot, params: dict[str, Any]) -> list[dict[str, Any]]:
        if bot.webhook_url:
            raise BotApiFault(409, "can't use getUpdates method while webhook is active; "
                                   "use deleteWebhook to delete the webhook first")
        offset = params.get("offset")
        if isinstance(offset, int):
            while bot.pending and bot.pending[0]["update_id"] < offset:
                bot.pending.popleft()
        return list(bot.pending)

    def _handset(self, bot: Bot, chat_id: Any) -> tuple[int, Handset]:
        try:
            chat = int(chat_id)
        except (TypeError, ValueError) as exc:
            raise BotApiFault(400, "chat not found") from exc
        handset = self.sandbox.handsets.by_identity(self.channel, str(chat)) if chat > 0 else None
        if handset is None or not handset.has(self.channel):
            raise BotApiFault(400, "chat not found")
        return chat, handset

    def _get_chat(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat, handset = self._handset(bot, params.get("chat_id"))
        return _chat(chat, handset)

    def _get_file(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        if file_id not in self._files:
            raise BotApiFault(400, "invalid file_id")
        return {"file_id": file_id, "file_unique_id": file_id[-12:], "file_size": 98_000,
                "file_path": self._files[file_id]}

    def _answer_callback(self, bot: Bot, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._callbacks.get(query_id) != bot.bot_id:
            raise BotApiFault(400, "query is too old and response timeout expired or query ID is invalid")
        del self._callbacks[query_id]
        self.answered.append(query_id)
        del self.answered[:-MAX_REMEMBERED]
        return True

    def _send(self, bot: Bot, method: str, params: dict[str, Any]) -> Any:
        if self.faults:
            raise self.faults.popleft()
        if params.get("chat_id") in (None, ""):
            raise BotApiFault(400, "chat_id is empty")
        chat, handset = self._handset(bot, params.get("chat_id"))
        self._may_write(bot, chat)
        validate(method, params, lambda file_id: file_id in self._files)
        if method == "sendMediaGroup":
            messages = []
            for item in params["media"]:
                kind = str(item["type"])
                single = {kind: item["media"], **({"caption": item["caption"]} if item.get("caption") else {})}
                fields = message_fields(f"send{kind.capitalize()}", single, self._new_file_id)
                messages.append(self._message(bot, chat, handset, fields))
            self._deliver(bot, handset, method, params, messages[0])
            return messages
        message = self._message(bot, chat, handset, message_fields(method, params, self._new_file_id))
        self._deliver(bot, handset, method, params, message)
        return message

    def _message(self, bot: Bot, chat: int, handset: Handset, fields: dict[str, Any]) -> dict[str, Any]:
        key = (bot.bot_id, chat)
        message_id = self._message_ids[key] = self._message_ids.get(key, 0) + 1
        message = {"message_id": message_id, "from": bot.user(), "chat": _chat(chat, handset),
                   "date": self.clock() // 1000, **fields}
        remember(self._sent, (bot.bot_id, chat, message_id), Sent(bot.bot_id, chat, message))
        return message

    def _deliver(self, bot: Bot, handset: Handset, method: str, params: dict[str, Any],
                 message: dict[str, Any]) -> None:
        self.sandbox.handsets.receive(handset, app_message(
            sender="@" + bot.username, recipient=handset.number, body=handset_text(method, params),
            at_ms=self.clock(), message_id=f"{message['chat']['id']}:{message['message_id']}", channel=self.channel,
            content={"method": method, "message": message, **({"media": params["media"]}
                                                              if method == "sendMediaGroup" else {})}))

    def _new_file_id(self, url: str) -> str:
        file_id = "AgACAgQAAxkBAAI" + os.urandom(12).hex()
        file_path = f"documents/file_{next(self._file_seq)}"
        remember(self._files, file_id, file_path, MAX_REMEMBERED)
        remember(self._file_urls, file_path, url, MAX_REMEMBERED)
        return file_id

    async def _file(self, request: Request) -> Response:
        try:
            self.bot(request.path_params["token"])
        except BotApiFault as exc:
            return json_response(error_body(exc.error_code, exc.detail), exc.error_code)
        url = self._file_urls.get(request.path_params["path"])
        if url is None:
            return json_response(error_body(404, ""), 404)
        return RedirectResponse(url, status_code=302)

    # -- the handset side --------------------------------------------------------------------------

    async def handset_sends(self, handset: Handset, to: str, *, body: str | None, postback: str | None) -> str:
        bot = self._bot_for(to)
        chat = int(handset.identity(self.channel))
        self.started.add((bot.bot_id, chat))
        if postback is None:
            message = self._incoming(bot, chat, handset, {"text": body or ""})
            await self._update(bot, "message", message, handset, body or "")
            return f"{chat}:{message['message_id']}"
        sent, button = self._find_button(bot, chat, postback)
        query_id = str(int.from_bytes(os.urandom(8), "big") >> 1)
        remember(self._callbacks, query_id, bot.bot_id, MAX_REMEMBERED)
        query = {"id": query_id, "from": _user(chat, handset), "message": sent.message,
                 "chat_instance": str(-(bot.bot_id * 7919 + chat) % (2**63)), "data": button["callback_data"]}
        await self._update(bot, "callback_query", query, handset, str(button["text"]))
        return f"callback:{query_id}"

    async def handset_sends_media(self, handset: Handset, to: str, *, url: str, mime_type: str,
                                  caption: str | None = None) -> str:
        """The handset sends a photo, video, voice note or file (getFile gives its path)."""
        bot = self._bot_for(to)
        chat = int(handset.identity(self.channel))
        self.started.add((bot.bot_id, chat))
        method = "sendPhoto" if mime_type.startswith("image/") else (
            "sendVideo" if mime_type.startswith("video/") else "sendDocument")
        field_name = MEDIA_METHODS[method]
        fields = message_fields(method, {field_name: url, **({"caption": caption} if caption else {})},
                                self._new_file_id)
        message = self._incoming(bot, chat, handset, fields)
        await self._update(bot, "message", message, handset, caption or url)
        return f"{chat}:{message['message_id']}"

    async def handset_shares_location(self, handset: Handset, to: str, latitude: float, longitude: float) -> str:
        bot = self._bot_for(to)
        chat = int(handset.identity(self.channel))
        message = self._incoming(bot, chat, handset, {"location": {"latitude": latitude, "longitude": longitude}})
        await self._update(bot, "message", message, handset, f"{latitude},{longitude}")
        return f"{chat}:{message['message_id']}"

    def _incoming(self, bot: Bot, chat: int, handset: Handset, fields: dict[str, Any]) -> dict[str, Any]:
        key = (bot.bot_id, chat)
        message_id = self._message_ids[key] = self._message_ids.get(key, 0) + 1
        return {"message_id": message_id, "from": _user(chat, handset), "chat": _chat(chat, handset),
                "date": self.clock() // 1000, **fields}

    def _find_button(self, bot: Bot, chat: int, postback: str) -> tuple[Sent, dict[str, Any]]:
        for sent in reversed(self._sent.values()):
            if sent.bot_id != bot.bot_id or sent.chat_id != chat:
                continue
            for button in callback_buttons(sent.message):
                if "callback_data" in button and postback in (button["callback_data"], button["text"]):
                    return sent, button
        raise LookupError(f"no inline button {postback!r} was sent to chat {chat}")

    async def _update(self, bot: Bot, kind: str, payload: dict[str, Any], handset: Handset, shown: str) -> None:
        update = {"update_id": next(bot.update_ids), kind: payload}
        self.sandbox.handsets.record_sent(handset, app_message(
            sender=handset.number, recipient="@" + bot.username, body=shown, at_ms=self.clock(),
            message_id=str(update["update_id"]), channel=self.channel, content=update))
        if bot.allowed_updates and kind not in bot.allowed_updates:
            return
        if not bot.webhook_url:
            bot.pending.append(update)
            return
        await self._webhook(bot, update)

    async def _webhook(self, bot: Bot, update: dict[str, Any]) -> None:
        """POST one Update to the bot's webhook with its secret token; a few retries."""
        assert bot.webhook_url is not None
        body = orjson.dumps(update)
        headers = {"Content-Type": "application/json"}
        if bot.secret_token:
            headers[SECRET_HEADER] = bot.secret_token
        await self.post_webhook(bot.webhook_url, body, headers)

    # -- console -----------------------------------------------------------------------------------

    async def _console_faults(self, request: Request) -> Response:
        body = await json_object(request)
        code, count = body.get("error_code"), body.get("count", 1)
        retry_after = body.get("retry_after")
        if not isinstance(code, int) or not isinstance(count, int) or count < 0:
            return json_response(error_body(400, "error_code (int) and count (int) are required"), 400)
        if code == 429 and not isinstance(retry_after, int):
            retry_after = 1
        detail = str(body.get("description") or ("retry after " + str(retry_after) if code == 429 else ""))
        self.faults.extend(BotApiFault(code, detail, retry_after=retry_after if code == 429 else None)
                           for _ in range(count))
        return json_response({"pending": len(self.faults)})

    async def _console_block(self, request: Request) -> Response:
        key = (int(request.path_params["bot_id"]), int(request.path_params["chat_id"]))
        if request.method == "PUT":
            self.blocked.add(key)
        else:
            self.blocked.discard(key)
        return json_response({"blocked": key in self.blocked})


def _user(chat: int, handset: Handset) -> dict[str, Any]:
    return {"id": chat, "is_bot": False, "first_name": handset.number, "language_code": "en"}


def _chat(chat: int, handset: Handset) -> dict[str, Any]:
    return {"id": chat, "first_name": handset.number, "type": "private"}


async def _params(request: Request) -> dict[str, Any]:
    """A call's parameters: JSON body, or form fields / query string (JSON-decoded where needed)."""
    params: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if raw and request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BotApiFault(400, "can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise BotApiFault(400, "can't parse JSON object")
        return {**params, **body}
    if raw:  # application/x-www-form-urlencoded
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    for key in _JSON_PARAMS:
        if isinstance(params.get(key), str):
            with contextlib.suppress(orjson.JSONDecodeError):
                params[key] = orjson.loads(params[key])
    return params


def _ok(result: Any) -> Response:
    return json_response({"ok": True, "result": result})


def create_twin(sandbox: Sandbox, *, clock: Callable[[], int] | None = None) -> TelegramTwin:
    return TelegramTwin(sandbox, clock=clock)
