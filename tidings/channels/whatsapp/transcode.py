"""Conversation API AppMessage → WhatsApp Cloud API message payloads.

`transcode(content)` returns one or more payloads (`{"type": ..., <type>: {...}}`, without the
`messaging_product`/`to` envelope the connector adds), sent in order:

- text → `text` (split at 4,096 characters); media → `image`/`video`/`audio`/`document` by type;
  location → `location`; contact info → `contacts`;
- choices and cards → `interactive`: up to 3 reply choices whose titles fit 20 characters become
  reply `button`s (with an image/video/document or text header); more, or longer, become a `list`
  (10 rows at most); a lone URL choice becomes `cta_url`, a lone share-location choice a
  `location_request_message`; dial, calendar and other URL choices become lines of the body;
  more than 10 reply choices degrade to numbered text (`degrade.as_text`);
- carousel → its cards one after the other, then its own choices;
- list → `list` (or `product_list` for products with a catalog id);
- template → `template` from `channel_template.WHATSAPP`, its Sinch parameter keys
  (`body[1]text`, `header[1]image.link`, `button[0]url[1]text`,
  `button[1]quick_reply[1]payload`) turned into template components.

Reply ids are the choice's `postback_data` (else its text), so a tap comes back as that postback.
"""

from __future__ import annotations

import mimetypes
import re
from posixpath import basename
from typing import Any
from urllib.parse import urlparse

from tidings.channels.whatsapp.graph import ErrorCode
from tidings.conversations.degrade import as_text, choice_label, kind_of

__all__ = ["Limits", "TranscodeError", "template_components", "transcode", "whatsapp_language"]

Payload = dict[str, Any]


class Limits:
    TEXT = 4096
    CAPTION = 1024
    BODY = 1024
    HEADER_TEXT = 60
    BUTTONS = 3
    BUTTON_TITLE = 20
    BUTTON_ID = 256
    ROWS = 10
    ROW_TITLE = 24
    ROW_DESCRIPTION = 72
    ROW_ID = 200
    SECTION_TITLE = 24
    LIST_BUTTON = 20
    CAROUSEL_CARDS = 10


class TranscodeError(ValueError):
    """The message cannot be expressed on WhatsApp at all; `code` is the Graph code it would get."""

    def __init__(self, text: str, code: int = ErrorCode.UNSUPPORTED_TYPE) -> None:
        super().__init__(text)
        self.code = code


DEFAULT_LIST_BUTTON = "Choose"
DEFAULT_BODY = "Choose an option"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(text: str) -> list[Payload]:
    if not text:
        raise TranscodeError("empty text message", ErrorCode.MISSING_PARAMETER)
    chunks = [text[i : i + Limits.TEXT] for i in range(0, len(text), Limits.TEXT)]
    return [
        {"type": "text", "text": {"body": chunk, "preview_url": "http://" in chunk or "https://" in chunk}}
        for chunk in chunks
    ]


def media_kind(url: str) -> str:
    """The Cloud API media type for a URL: image, video, audio or document."""
    mime, _ = mimetypes.guess_type(urlparse(url).path)
    if mime in ("image/jpeg", "image/png"):
        return "image"
    if mime in ("video/mp4", "video/3gpp"):
        return "video"
    if mime is not None and mime.startswith("audio/"):
        return "audio"
    return "document"


def _media_object(url: str, kind: str, filename: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"link": url}
    if kind == "document":
        obj["filename"] = filename or basename(urlparse(url).path) or "file"
    return obj


def _media(url: str, *, caption: str | None = None, filename: str | None = None) -> list[Payload]:
    kind = media_kind(url)
    obj = _media_object(url, kind, filename)
    out: list[Payload] = [{"type": kind, kind: obj}]
    if caption:
        if kind == "audio":  # audio carries no caption
            out.extend(_text(caption))
        else:
            obj["caption"] = _clip(caption, Limits.CAPTION)
    return out


def _reply_id(choice: dict[str, Any], limit: int) -> str:
    postback = choice.get("postback_data")
    return str(postback if postback not in (None, "") else choice_label(choice))[:limit]


def _is_reply(choice: dict[str, Any]) -> bool:
    return isinstance(choice.get("text_message"), dict)


def _header(media_url: str | None, title: str | None) -> dict[str, Any] | None:
    if media_url:
        kind = media_kind(media_url)
        if kind == "audio":  # interactive headers take image, video or document only
            kind = "document"
        return {"type": kind, kind: _media_object(media_url, kind)}
    if title:
        return {"type": "text", "text": _clip(title, Limits.HEADER_TEXT)}
    return None


def _interactive(kind: str, body: str, action: dict[str, Any], header: dict[str, Any] | None) -> Payload:
    interactive: dict[str, Any] = {"type": kind}
    if header is not None:
        interactive["header"] = header
    interactive["body"] = {"text": _clip(body or DEFAULT_BODY, Limits.BODY)}
    interactive["action"] = action
    return {"type": "interactive", "interactive": interactive}


def _rows(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for choice in choices:
        label = choice_label(choice)
        row = {"id": _reply_id(choice, Limits.ROW_ID), "title": _clip(label, Limits.ROW_TITLE)}
        if len(label) > Limits.ROW_TITLE:
            row["description"] = _clip(label, Limits.ROW_DESCRIPTION)
        rows.append(row)
    return rows


def _with_choices(body: str, choices: list[dict[str, Any]], *, media_url: str | None = None,
                  title: str | None = None, fallback: dict[str, Any] | None = None) -> list[Payload]:
    """A message with choices: buttons, list, CTA URL or location request, or numbered text."""
    replies = [c for c in choices if _is_reply(c)]
    actions = [c for c in choices if not _is_reply(c)]
    header = _header(media_url, title)
    if not replies and len(actions) == 1 and isinstance(actions[0].get("url_message"), dict):
        url = actions[0]["url_message"]
        params = {"display_text": _clip(str(url.get("title") or "Open"), Limits.BUTTON_TITLE), "url": url.get("url", "")}
        return [_interactive("cta_url", body, {"name": "cta_url", "parameters": params}, header)]
    if not replies and len(actions) == 1 and isinstance(actions[0].get("share_location_message"), dict):
        payloads = _media(media_url) if media_url else []
        return [*payloads, _interactive("location_request_message", body, {"name": "send_location"}, None)]
    if actions:  # dial, calendar, location, several URLs: lines of the body
        body = "\n".join([body, *(choice_label(c) for c in actions)]) if body else "\n".join(map(choice_label, actions))
    if not replies:
        if media_url:
            return _media(media_url, caption=body or None)
        return _text(body)
    if len(replies) <= Limits.BUTTONS and all(len(choice_label(c)) <= Limits.BUTTON_TITLE for c in replies):
        buttons = [
            {"type": "reply", "reply": {"id": _reply_id(c, Limits.BUTTON_ID), "title": choice_label(c)}}
            for c in replies
        ]
        return [_interactive("button", body, {"buttons": buttons}, header)]
    if len(replies) <= Limits.ROWS:
        lead: list[Payload] = []
        if media_url:  # list headers are text only: the media goes first
            lead = _media(media_url)
            header = _header(None, title)
        action = {"button": DEFAULT_LIST_BUTTON, "sections": [{"rows": _rows(replies)}]}
        return [*lead, _interactive("list", body, action, header)]
    return _text(as_text(fallback) if fallback else body)


def _card_body(card: dict[str, Any], has_media: bool) -> tuple[str, str | None]:
    """(body, header title) of a card: the title goes in the header when there is no media."""
    title = str(card.get("title") or "")
    description = str(card.get("description") or "")
    if has_media:
        return "\n\n".join(x for x in (f"*{title}*" if title else "", description) if x), None
    if title and description:
        return description, title
    return title or description, None


def _card(card: dict[str, Any]) -> list[Payload]:
    media_url = (card.get("media_message") or {}).get("url") or None
    choices = [c for c in card.get("choices") or [] if isinstance(c, dict)]
    body, title = _card_body(card, media_url is not None)
    if not choices:
        if media_url:
            return _media(media_url, caption=body or None)
        text = "\n\n".join(x for x in (f"*{title}*" if title else "", body) if x)
        return _text(text)
    return _with_choices(body, choices, media_url=media_url, title=title, fallback={"card_message": card})


def _carousel(carousel: dict[str, Any]) -> list[Payload]:
    cards = [c for c in carousel.get("cards") or [] if isinstance(c, dict)][: Limits.CAROUSEL_CARDS]
    if not cards:
        raise TranscodeError("carousel without cards", ErrorCode.MISSING_PARAMETER)
    out: list[Payload] = []
    for card in cards:
        out.extend(_card(card))
    choices = [c for c in carousel.get("choices") or [] if isinstance(c, dict)]
    if choices:
        out.extend(_with_choices("", choices))
    return out


def _list(body: dict[str, Any]) -> list[Payload]:
    title = str(body.get("title") or "")
    description = str(body.get("description") or "")
    sections = [s for s in body.get("sections") or [] if isinstance(s, dict)]
    properties = body.get("message_properties") or {}
    catalog_id = properties.get("catalog_id")
    text = description or title
    header = _header(None, title) if description else None
    products = [[i["product"] for i in s.get("items") or [] if isinstance(i.get("product"), dict)] for s in sections]
    if catalog_id and any(products):
        out_sections = [
            {**({"title": _clip(str(s.get("title") or ""), Limits.SECTION_TITLE)} if s.get("title") else {}),
             "product_items": [{"product_retailer_id": str(p.get("id", ""))} for p in items]}
            for s, items in zip(sections, products, strict=True) if items
        ]
        action = {"catalog_id": str(catalog_id), "sections": out_sections}
        return [_interactive("product_list", text, action, _header(None, title or DEFAULT_BODY))]
    out_sections = []
    total = 0
    for section in sections:
        choices = []
        for item in section.get("items") or []:
            if isinstance(item.get("choice"), dict):
                choice = item["choice"]
                choices.append(choice)
            elif isinstance(item.get("product"), dict):
                product = item["product"]
                choices.append({"title": str(product.get("id", "")), "postback_data": product.get("id")})
        rows = []
        for choice in choices:
            label = str(choice.get("title") or "")
            row = {"id": str(choice.get("postback_data") or label)[: Limits.ROW_ID], "title": _clip(label, Limits.ROW_TITLE)}
            desc = str(choice.get("description") or "") or (label if len(label) > Limits.ROW_TITLE else "")
            if desc:
                row["description"] = _clip(desc, Limits.ROW_DESCRIPTION)
            rows.append(row)
        total += len(rows)
        if rows:
            sec: dict[str, Any] = {"rows": rows}
            if section.get("title"):
                sec["title"] = _clip(str(section["title"]), Limits.SECTION_TITLE)
            out_sections.append(sec)
    if total == 0:
        raise TranscodeError("list without items", ErrorCode.MISSING_PARAMETER)
    if total > Limits.ROWS:
        return _text(as_text({"list_message": body}))
    if len(out_sections) > 1:
        for i, sec in enumerate(out_sections, 1):
            sec.setdefault("title", f"{i}")
    button = _clip(str(properties.get("menu") or DEFAULT_LIST_BUTTON), Limits.LIST_BUTTON)
    return [_interactive("list", text, {"button": button, "sections": out_sections}, header)]


def _location(body: dict[str, Any]) -> list[Payload]:
    coords = body.get("coordinates") or {}
    if coords.get("latitude") is None or coords.get("longitude") is None:
        raise TranscodeError("location without coordinates", ErrorCode.MISSING_PARAMETER)
    location: dict[str, Any] = {"latitude": coords["latitude"], "longitude": coords["longitude"]}
    if body.get("title"):
        location["name"] = str(body["title"])
    if body.get("label"):
        location["address"] = str(body["label"])
    return [{"type": "location", "location": location}]


def _contact(body: dict[str, Any]) -> list[Payload]:
    name = body.get("name") or {}
    full = name.get("full_name") or " ".join(str(x) for x in (name.get("first_name"), name.get("last_name")) if x)
    contact: dict[str, Any] = {"name": {"formatted_name": full or "Contact"}}
    for key in ("first_name", "last_name"):
        if name.get(key):
            contact["name"][key] = name[key]
    phones = [{"phone": p.get("phone_number", ""), **({"type": p["type"]} if p.get("type") else {})}
              for p in body.get("phone_numbers") or [] if isinstance(p, dict)]
    if phones:
        contact["phones"] = phones
    emails = [{"email": e.get("email_address", "")} for e in body.get("email_addresses") or [] if isinstance(e, dict)]
    if emails:
        contact["emails"] = emails
    return [{"type": "contacts", "contacts": [contact]}]


# -- templates ---------------------------------------------------------------------------------

_SIMPLE_KEY = re.compile(r"^(header|body)\[(\d+)\]([a-z_]+(?:\.[a-z_0-9]+)*)$")
_BUTTON_KEY = re.compile(r"^button\[(\d+)\]([a-z_]+)\[(\d+)\]([a-z_]+(?:\.[a-z_0-9]+)*)$")
_INT_FIELDS = frozenset({"amount_1000"})


def whatsapp_language(code: str | None) -> str:
    """'en_US' from 'EN_US', 'en-us' or 'en_US'; 'es' stays 'es'; default 'en_US'."""
    if not code:
        return "en_US"
    lang, _, region = code.replace("-", "_").partition("_")
    return f"{lang.lower()}_{region.upper()}" if region else lang.lower()


def _set_field(parameter: dict[str, Any], field: str, value: Any) -> None:
    parts = field.split(".")
    parameter["type"] = parts[0]
    if len(parts) == 1:
        parameter[parts[0]] = value
        return
    node = parameter.setdefault(parts[0], {})
    for part in parts[1:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = int(value) if parts[-1] in _INT_FIELDS else value


def template_components(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """Sinch's WhatsApp template parameter keys → Cloud API template components."""
    simple: dict[str, dict[int, dict[str, Any]]] = {"header": {}, "body": {}}
    buttons: dict[int, tuple[str, dict[int, dict[str, Any]]]] = {}
    for key, value in parameters.items():
        if m := _SIMPLE_KEY.match(key):
            _set_field(simple[m[1]].setdefault(int(m[2]), {}), m[3], str(value))
        elif m := _BUTTON_KEY.match(key):
            sub_type, params = buttons.setdefault(int(m[1]), (m[2], {}))
            _set_field(params.setdefault(int(m[3]), {}), m[4], str(value))
        else:
            raise TranscodeError(f"template parameter key {key!r} is not of the form "
                                 "body[1]text, header[1]image.link or button[0]url[1]text",
                                 ErrorCode.INVALID_PARAMETER)
    components: list[dict[str, Any]] = []
    for kind in ("header", "body"):
        if simple[kind]:
            components.append({"type": kind, "parameters": [simple[kind][i] for i in sorted(simple[kind])]})
    for index in sorted(buttons):
        sub_type, params = buttons[index]
        components.append({"type": "button", "sub_type": sub_type, "index": str(index),
                           "parameters": [params[i] for i in sorted(params)]})
    return components


def _template(body: dict[str, Any], contact_language: str | None) -> list[Payload]:
    channel_template = (body.get("channel_template") or {}).get("WHATSAPP")
    if not isinstance(channel_template, dict) or not channel_template.get("template_id"):
        raise TranscodeError("template_message has no WHATSAPP channel template", ErrorCode.TEMPLATE_DOES_NOT_EXIST)
    language = whatsapp_language(channel_template.get("language_code") or body.get("language_code") or contact_language)
    template: dict[str, Any] = {
        "name": str(channel_template["template_id"]),
        "language": {"policy": "deterministic", "code": language},
    }
    components = template_components(channel_template.get("parameters") or {})
    if components:
        template["components"] = components
    return [{"type": "template", "template": template}]


def is_template(content: dict[str, Any]) -> bool:
    return kind_of(content) == "template_message"


def transcode(content: dict[str, Any], *, contact_language: str | None = None) -> list[Payload]:
    """The WhatsApp payloads for an AppMessage, in sending order; `TranscodeError` if none can be made."""
    kind = kind_of(content)
    if kind is None:
        raise TranscodeError("no message kind WhatsApp can send", ErrorCode.UNSUPPORTED_TYPE)
    body = content[kind]
    if kind == "text_message":
        return _text(str(body.get("text") or ""))
    if kind == "media_message":
        if not body.get("url"):
            raise TranscodeError("media message without url", ErrorCode.MISSING_PARAMETER)
        return _media(str(body["url"]), filename=body.get("filename_override"))
    if kind == "card_message":
        return _card(body)
    if kind == "carousel_message":
        return _carousel(body)
    if kind == "choice_message":
        text = str((body.get("text_message") or {}).get("text") or "")
        choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
        if not choices:
            return _text(text)
        return _with_choices(text, choices, fallback=content)
    if kind == "location_message":
        return _location(body)
    if kind == "list_message":
        return _list(body)
    if kind == "template_message":
        return _template(body, contact_language)
    if kind == "contact_info_message":
        return _contact(body)
    raise TranscodeError(f"{kind} cannot be sent on WhatsApp")
