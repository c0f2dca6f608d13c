"""Shared fallbacks for channels that cannot render a Conversation API AppMessage natively.

Every connector's transcoder turns what its platform cannot show into what it can; the
lowest common denominator is plain text. This module owns that text form:

- `as_text(content)`: any AppMessage as plain text (cards: title, description, media URL and
  numbered choices; choices: text then "1. …"; carousels: each card; lists: numbered items;
  locations: title and a map link; media: its URL; templates: the omni template / text fallback).
- `numbered_choices(content)`: the choices in the order `as_text` numbers them, so that a reply
  "2" on a text-only channel maps back to the second choice's `postback_data`.
- `media_url(content)`: the message's main media URL, if it has one.
- `choice_label(choice)`: the text a button or numbered line shows for one choice.

`content` is the AppMessage JSON as the API received it: exactly one `*_message` key, e.g.
`{"card_message": {...}}`, possibly with other fields (`explicit_channel_message`, ...) next to it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MESSAGE_KINDS",
    "as_text",
    "choice_label",
    "kind_of",
    "map_link",
    "media_url",
    "numbered_choices",
    "parse_choice_reply",
]

MESSAGE_KINDS = (
    "text_message",
    "media_message",
    "card_message",
    "carousel_message",
    "choice_message",
    "location_message",
    "list_message",
    "template_message",
    "contact_info_message",
)


def kind_of(content: dict[str, Any]) -> str | None:
    """The AppMessage kind (`"card_message"`, ...) or None when there is none."""
    for kind in MESSAGE_KINDS:
        if isinstance(content.get(kind), dict):
            return kind
    return None


def map_link(latitude: Any, longitude: Any) -> str:
    return f"https://maps.google.com/?q={latitude},{longitude}"


def choice_label(choice: dict[str, Any]) -> str:
    """What a button, suggestion or numbered line shows for one choice."""
    if isinstance(choice.get("text_message"), dict):
        return str(choice["text_message"].get("text") or "")
    if isinstance(choice.get("url_message"), dict):
        url = choice["url_message"]
        title = url.get("title") or ""
        return f"{title}: {url.get('url', '')}" if title else str(url.get("url", ""))
    if isinstance(choice.get("call_message"), dict):
        call = choice["call_message"]
        title = call.get("title") or ""
        number = call.get("phone_number", "")
        return f"{title}: {number}" if title else str(number)
    if isinstance(choice.get("location_message"), dict):
        loc = choice["location_message"]
        coords = loc.get("coordinates") or {}
        link = map_link(coords.get("latitude"), coords.get("longitude"))
        title = loc.get("title") or loc.get("label") or ""
        return f"{title}: {link}" if title else link
    if isinstance(choice.get("calendar_message"), dict):
        cal = choice["calendar_message"]
        title = cal.get("title") or cal.get("event_title") or ""
        when = cal.get("event_start") or ""
        return f"{title} ({when})" if when else str(title)
    if isinstance(choice.get("share_location_message"), dict):
        return str(choice["share_location_message"].get("title") or "Share location")
    return str(choice.get("postback_data") or "")


def _card_choices(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in card.get("choices") or [] if isinstance(c, dict)]


def _list_choices(body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for section in body.get("sections") or []:
        for item in section.get("items") or []:
            choice = item.get("choice")
            if isinstance(choice, dict):
                out.append(
                    {
                        "text_message": {"text": choice.get("title", "")},
                        "postback_data": choice.get("postback_data"),
                    }
                )
            product = item.get("product")
            if isinstance(product, dict):
                out.append(
                    {
                        "text_message": {"text": product.get("id", "")},
                        "postback_data": product.get("id"),
                    }
                )
    return out


def numbered_choices(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's choices in display order (the order `as_text` numbers them).

    Each entry is the choice as sent (`{"text_message": {...}, "postback_data": ...}`); list
    items come back as text choices with the item's postback_data.
    """
    kind = kind_of(content)
    if kind is None:
        return []
    body = content[kind]
    if kind in ("choice_message", "card_message"):
        return _card_choices(body)
    if kind == "carousel_message":
        out: list[dict[str, Any]] = []
        for card in body.get("cards") or []:
            out.extend(_card_choices(card))
        out.extend(_card_choices(body))
        return out
    if kind == "list_message":
        return _list_choices(body)
    return []


def media_url(content: dict[str, Any]) -> str | None:
    """The message's main media URL (a media message, or a card's image), if any."""
    kind = kind_of(content)
    if kind is None:
        return None
    body = content[kind]
    if kind == "media_message":
        return body.get("url") or None
    if kind == "card_message":
        media = body.get("media_message") or {}
        return media.get("url") or None
    if kind == "carousel_message":
        for card in body.get("cards") or []:
            url = (card.get("media_message") or {}).get("url")
            if url:
                return str(url)
    return None


def _numbered(choices: list[dict[str, Any]], start: int) -> list[str]:
    return [f"{start + i}. {choice_label(c)}" for i, c in enumerate(choices)]


def _card_text(card: dict[str, Any], start: int) -> tuple[list[str], int]:
    lines: list[str] = []
    if card.get("title"):
        lines.append(str(card["title"]))
    if card.get("description"):
        lines.append(str(card["description"]))
    url = (card.get("media_message") or {}).get("url")
    if url:
        lines.append(str(url))
    choices = _card_choices(card)
    lines.extend(_numbered(choices, start))
    return lines, start + len(choices)


def _template_text(body: dict[str, Any]) -> str:
    omni = body.get("omni_template") or {}
    if isinstance(omni, dict):
        params = omni.get("parameters") or {}
        for key in ("text", "body"):
            if isinstance(params, dict) and params.get(key):
                return str(params[key])
    for tpl in (body.get("channel_template") or {}).values():
        params = (tpl or {}).get("parameters") or {}
        if isinstance(params, dict) and params.get("text"):
            return str(params["text"])
    if isinstance(omni, dict) and omni.get("template_id"):
        return str(omni["template_id"])
    return ""


def as_text(content: dict[str, Any]) -> str:
    """Any AppMessage rendered as plain text, choices numbered from 1."""
    kind = kind_of(content)
    if kind is None:
        return ""
    body = content[kind]
    if kind == "text_message":
        return str(body.get("text") or "")
    if kind == "media_message":
        return str(body.get("url") or "")
    if kind == "card_message":
        lines, _ = _card_text(body, 1)
        return "\n".join(lines)
    if kind == "choice_message":
        lines = []
        text = (body.get("text_message") or {}).get("text")
        if text:
            lines.append(str(text))
        lines.extend(_numbered(_card_choices(body), 1))
        return "\n".join(lines)
    if kind == "carousel_message":
        blocks: list[str] = []
        n = 1
        for card in body.get("cards") or []:
            lines, n = _card_text(card, n)
            blocks.append("\n".join(lines))
        tail = _numbered(_card_choices(body), n)
        if tail:
            blocks.append("\n".join(tail))
        return "\n\n".join(b for b in blocks if b)
    if kind == "location_message":
        coords = body.get("coordinates") or {}
        lines = [str(x) for x in (body.get("title"), body.get("label")) if x]
        lines.append(map_link(coords.get("latitude"), coords.get("longitude")))
        return "\n".join(lines)
    if kind == "list_message":
        lines = [str(x) for x in (body.get("title"), body.get("description")) if x]
        n = 1
        for section in body.get("sections") or []:
            if section.get("title"):
                lines.append(str(section["title"]))
            items = _list_choices({"sections": [section]})
            lines.extend(_numbered(items, n))
            n += len(items)
        return "\n".join(lines)
    if kind == "template_message":
        return _template_text(body)
    if kind == "contact_info_message":
        name = body.get("name") or {}
        full = name.get("full_name") or " ".join(
            str(x) for x in (name.get("first_name"), name.get("last_name")) if x
        )
        phones = [p.get("phone_number", "") for p in body.get("phone_numbers") or []]
        return "\n".join(x for x in [full, *phones] if x)
    return ""


def parse_choice_reply(text: str, choices: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The choice a text reply like "2" (or "2.") selects, or None."""
    stripped = text.strip().rstrip(".)")
    if not stripped.isdigit():
        return None
    index = int(stripped)
    if 1 <= index <= len(choices):
        return choices[index - 1]
    return None
