"""What the Messenger twin does with a Send API body: check it like the platform and render it for
the handset.

`check_envelope(body)` checks `recipient`, `messaging_type`, `tag`, `sender_action`;
`render(message)` checks a `message` object (text ≤ 2,000; ≤ 13 quick replies with titles ≤ 20;
attachments image/video/audio/file with an http(s) URL; `button` templates with text ≤ 640 and
1–3 buttons; `generic` templates with 1–10 elements, titles and subtitles ≤ 80, ≤ 3 buttons;
buttons `web_url`, `postback`, `phone_number` with titles ≤ 20 and payloads ≤ 1,000) and returns
the text the handset shows plus what it can tap (quick replies and postback buttons). What the
platform refuses raises `MessengerError` (code 100, Graph wording).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidings.channels.messenger.graph import MESSAGE_TAGS, MESSAGING_TYPES, ErrorCode
from tidings.channels.messenger.transcode import Limits

__all__ = ["MessengerError", "Option", "Rendered", "check_envelope", "render"]

SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")
MEDIA = ("image", "video", "audio", "file")


class MessengerError(Exception):
    """A Send API error the twin answers with (`graph.error_body`)."""

    def __init__(self, code: int, message: str | None = None, *, subcode: int | None = None,
                 http_status: int = 400) -> None:
        super().__init__(message or str(code))
        self.code = code
        self.message = message
        self.subcode = subcode
        self.http_status = http_status


@dataclass(frozen=True)
class Option:
    kind: str  # "quick_reply" or "postback"
    payload: str
    title: str


@dataclass
class Rendered:
    text: str
    options: list[Option] = field(default_factory=list)


def _invalid(text: str) -> MessengerError:
    return MessengerError(ErrorCode.INVALID_PARAMETER, text)


def _str(obj: dict[str, Any], key: str, where: str, limit: int | None = None, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise _invalid(f"param {where}[{key}] must be a non-empty UTF-8 encoded string")
        return ""
    if not isinstance(value, str):
        raise _invalid(f"param {where}[{key}] must be a string")
    if limit is not None and len(value) > limit:
        raise _invalid(f"Length of param {where}[{key}] must be less than or equal to {limit}")
    return value


def _url(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    url = _str(obj, key, where, required=required)
    if url and not url.startswith(("http://", "https://")):
        raise _invalid(f"param {where}[{key}] must be a valid URL")
    return url


def check_envelope(body: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(PSID, messaging_type, sender_action) of a Send API request."""
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not recipient.get("id"):
        raise _invalid("The parameter recipient is required")
    action = body.get("sender_action")
    has_message = "message" in body
    if action is not None and has_message:
        raise _invalid("Cannot send both message and state at the same time.")
    if action is not None:
        if action not in SENDER_ACTIONS:
            raise _invalid(f"param sender_action must be one of {{{', '.join(s.upper() for s in SENDER_ACTIONS)}}}")
        return str(recipient["id"]), None, str(action)
    if not isinstance(body.get("message"), dict):
        raise _invalid("The parameter message is required")
    kind = body.get("messaging_type")
    if kind not in MESSAGING_TYPES:
        raise _invalid(f"param messaging_type must be one of {{{', '.join(MESSAGING_TYPES)}}}")
    tag = body.get("tag")
    if kind == "MESSAGE_TAG" and tag not in MESSAGE_TAGS:
        raise _invalid(f"param tag must be one of {{{', '.join(MESSAGE_TAGS)}}}")
    return str(recipient["id"]), str(kind), None


def _button(button: Any, where: str, options: list[Option]) -> str:
    if not isinstance(button, dict):
        raise _invalid(f"param {where} must be an object")
    kind = button.get("type")
    title = _str(button, "title", where, Limits.BUTTON_TITLE)
    if kind == "web_url":
        return f"[{title}: {_url(button, 'url', where)}]"
    if kind == "postback":
        options.append(Option("postback", _str(button, "payload", where, Limits.PAYLOAD), title))
        return f"[{title}]"
    if kind == "phone_number":
        number = _str(button, "payload", where)
        if not number.startswith("+") or not number[1:].isdigit():
            raise _invalid(f"param {where}[payload] must be a phone number with a country code (+…)")
        return f"[{title}: {number}]"
    raise _invalid(f"param {where}[type] must be one of {{web_url, postback, phone_number}}")


def _buttons(obj: dict[str, Any], where: str, options: list[Option], *, required: bool) -> list[str]:
    buttons = obj.get("buttons")
    if buttons is None and not required:
        return []
    if not isinstance(buttons, list) or not buttons and required:
        raise _invalid(f"param {where}[buttons] must be a non-empty array")
    if len(buttons) > Limits.BUTTONS:
        raise _invalid(f"param {where}[buttons] must have a maximum of {Limits.BUTTONS} elements")
    return [_button(b, f"{where}[buttons][{i}]", options) for i, b in enumerate(buttons)]


def _template(payload: dict[str, Any], options: list[Option]) -> str:
    kind = payload.get("template_type")
    where = "message[attachment][payload]"
    if kind == "button":
        text = _str(payload, "text", where, Limits.BUTTON_TEMPLATE_TEXT)
        return "\n".join([text, *_buttons(payload, where, options, required=True)])
    if kind == "generic":
        elements = payload.get("elements")
        if not isinstance(elements, list) or not elements:
            raise _invalid(f"param {where}[elements] must be a non-empty array")
        if len(elements) > Limits.ELEMENTS:
            raise _invalid(f"param {where}[elements] must have a maximum of {Limits.ELEMENTS} elements")
        blocks = []
        for i, element in enumerate(elements):
            at = f"{where}[elements][{i}]"
            if not isinstance(element, dict):
                raise _invalid(f"param {at} must be an object")
            lines = [_str(element, "title", at, Limits.ELEMENT_TITLE)]
            subtitle = _str(element, "subtitle", at, Limits.ELEMENT_SUBTITLE, required=False)
            image = _url(element, "image_url", at, required=False)
            lines += [x for x in (subtitle, image) if x]
            lines += _buttons(element, at, options, required=False)
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
    raise _invalid(f"param {where}[template_type] must be one of {{generic, button}}")


def render(message: dict[str, Any]) -> Rendered:
    """Check a `message` object like the Send API; what the handset shows and can tap."""
    options: list[Option] = []
    has_text, attachment = "text" in message, message.get("attachment")
    if has_text == (attachment is not None):
        raise _invalid("param message must have exactly one of text or attachment")
    if has_text:
        shown = _str(message, "text", "message", Limits.TEXT)
    else:
        if not isinstance(attachment, dict) or not isinstance(attachment.get("payload"), dict):
            raise _invalid("param message[attachment][payload] must be an object")
        kind, payload = attachment.get("type"), attachment["payload"]
        if kind in MEDIA:
            if not payload.get("attachment_id"):
                _url(payload, "url", "message[attachment][payload]")
            shown = f"[{kind}] {payload.get('url') or payload.get('attachment_id')}"
        elif kind == "template":
            shown = _template(payload, options)
        else:
            raise _invalid("param message[attachment][type] must be one of {image, video, audio, file, template}")
    quick = message.get("quick_replies")
    if quick is not None:
        if not isinstance(quick, list) or not quick:
            raise _invalid("param message[quick_replies] must be a non-empty array")
        if len(quick) > Limits.QUICK_REPLIES:
            raise _invalid(f"param message[quick_replies] must have a maximum of {Limits.QUICK_REPLIES} elements")
        titles = []
        for i, reply in enumerate(quick):
            at = f"message[quick_replies][{i}]"
            if not isinstance(reply, dict):
                raise _invalid(f"param {at} must be an object")
            kind = reply.get("content_type")
            if kind == "text":
                title = _str(reply, "title", at, Limits.QUICK_REPLY_TITLE)
                options.append(Option("quick_reply", _str(reply, "payload", at, Limits.PAYLOAD), title))
                titles.append(title)
            elif kind in ("user_phone_number", "user_email"):
                titles.append(str(kind))
            else:
                raise _invalid(f"param {at}[content_type] must be one of {{text, user_phone_number, user_email}}")
        shown += "\n(" + " | ".join(titles) + ")"
    return Rendered(shown, options)
