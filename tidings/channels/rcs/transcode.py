"""Conversation API AppMessage → RBM `AgentContentMessage` (the `contentMessage` of
phones.agentMessages.create), and the postback data that carries a choice back to its message.

Native on RCS: text, media (`contentInfo`), cards (`richCard.standaloneCard`), carousels
(`richCard.carouselCard`), choices (suggested replies and actions: open URL, dial, view
location, create calendar event, share location), locations (text with a view-location action).
Degraded (tidings/conversations/degrade.py): lists become text with a reply suggestion per item,
templates and contact cards become their text form.

RBM limits (reference: AgentContentMessage, CardContent, Suggestion) are applied here, so the
platform never refuses a message for a length: text 3072 characters, suggestion text 25,
postbackData 2048, card title 200 and description 2000, 4 suggestions on a card, 11 on a
message, 2 to 10 cards in a carousel.
"""

from __future__ import annotations

from typing import Any

from tidings.conversations.degrade import as_text, kind_of, map_link

__all__ = [
    "MAX_CARD_SUGGESTIONS",
    "MAX_SUGGESTIONS",
    "UnsupportedContent",
    "decode_postback",
    "encode_postback",
    "is_rich",
    "suggestion",
    "to_content_message",
]

MAX_TEXT = 3072
MAX_SUGGESTION_TEXT = 25
MAX_POSTBACK = 2048
MAX_CARD_TITLE = 200
MAX_CARD_DESCRIPTION = 2000
MAX_CARD_SUGGESTIONS = 4
MAX_SUGGESTIONS = 11
MIN_CAROUSEL_CARDS = 2
MAX_CAROUSEL_CARDS = 10

POSTBACK_PREFIX = "tdg1:"
"""Postback data we send is `tdg1:{conversation message id}:{the choice's postback_data}`: RBM's
suggestion response says which suggestion was tapped but not in reply to which message, so the
message id travels inside the postback and `decode_postback` recovers both."""

_HEIGHTS = {"SHORT": "SHORT", "MEDIUM": "MEDIUM", "TALL": "TALL"}


class UnsupportedContent(ValueError):
    """The AppMessage has no kind this transcoder knows (nothing to send)."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def encode_postback(message_id: str, postback: str) -> str:
    encoded = f"{POSTBACK_PREFIX}{message_id}:{postback}"
    return encoded[:MAX_POSTBACK]


def decode_postback(data: str) -> tuple[str | None, str]:
    """(conversation message id, the choice's own postback_data); (None, data) when the data is
    not ours."""
    if not data.startswith(POSTBACK_PREFIX):
        return None, data
    message_id, sep, postback = data[len(POSTBACK_PREFIX):].partition(":")
    if not sep or not message_id:
        return None, data
    return message_id, postback


def _content_info(media: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"fileUrl": str(media.get("url", ""))}
    if media.get("thumbnail_url"):
        info["thumbnailUrl"] = str(media["thumbnail_url"])
    return info


def _label(choice: dict[str, Any], kind: str) -> str:
    body = choice[kind]
    if kind == "text_message":
        return str(body.get("text") or "")
    return str(body.get("title") or body.get("label") or body.get("event_title") or "")


def _default_postback(choice: dict[str, Any], kind: str) -> str:
    return _label(choice, kind) or kind


def suggestion(choice: dict[str, Any], message_id: str) -> dict[str, Any] | None:
    """One Conversation API choice as an RBM suggestion (reply or action); None when the choice
    has no kind RBM can show."""
    kinds = ("text_message", "url_message", "call_message", "location_message", "calendar_message",
             "share_location_message")
    kind = next((k for k in kinds if isinstance(choice.get(k), dict)), None)
    if kind is None:
        return None
    body = choice[kind]
    raw_postback = choice.get("postback_data")
    postback = encode_postback(message_id, str(raw_postback) if raw_postback is not None
                               else _default_postback(choice, kind))
    text = _clip(_label(choice, kind), MAX_SUGGESTION_TEXT)
    if kind == "text_message":
        return {"reply": {"text": text, "postbackData": postback}}
    action: dict[str, Any] = {"text": text, "postbackData": postback}
    if kind == "url_message":
        action["openUrlAction"] = {"url": str(body.get("url", ""))}
    elif kind == "call_message":
        action["dialAction"] = {"phoneNumber": str(body.get("phone_number", ""))}
    elif kind == "location_message":
        coords = body.get("coordinates") or {}
        lat_long = {"latitude": coords.get("latitude"), "longitude": coords.get("longitude")}
        action["viewLocationAction"] = {"latLong": lat_long,
                                        "label": str(body.get("label") or body.get("title") or "")}
        action["fallbackUrl"] = map_link(lat_long["latitude"], lat_long["longitude"])
    elif kind == "calendar_message":
        event: dict[str, Any] = {
            "startTime": str(body.get("event_start", "")),
            "endTime": str(body.get("event_end", "")),
            "title": str(body.get("event_title") or body.get("title") or ""),
            "description": str(body.get("event_description") or body.get("event_title") or ""),
        }
        action["createCalendarEventAction"] = event
        if body.get("fallback_url"):
            action["fallbackUrl"] = str(body["fallback_url"])
    else:  # share_location_message
        action["shareLocationAction"] = {}
        if body.get("fallback_url"):
            action["fallbackUrl"] = str(body["fallback_url"])
    return {"action": action}


def _suggestions(choices: Any, message_id: str) -> list[dict[str, Any]]:
    out = []
    for choice in choices or []:
        if isinstance(choice, dict) and (item := suggestion(choice, message_id)) is not None:
            out.append(item)
    return out


def _card_content(card: dict[str, Any], message_id: str, *, default_height: str = "MEDIUM"
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(CardContent, the card's suggestions that did not fit on it)."""
    content: dict[str, Any] = {}
    if card.get("title"):
        content["title"] = _clip(str(card["title"]), MAX_CARD_TITLE)
    if card.get("description"):
        content["description"] = _clip(str(card["description"]), MAX_CARD_DESCRIPTION)
    media = card.get("media_message")
    if isinstance(media, dict) and media.get("url"):
        height = _HEIGHTS.get(str(card.get("height", "")).upper(), default_height)
        content["media"] = {"height": height, "contentInfo": _content_info(media)}
    if not content:
        content["title"] = " "  # RBM requires a title, description or media on every card
    suggestions = _suggestions(card.get("choices"), message_id)
    if suggestions:
        content["suggestions"] = suggestions[:MAX_CARD_SUGGESTIONS]
    return content, suggestions[MAX_CARD_SUGGESTIONS:]


def _with_suggestions(message: dict[str, Any], suggestions: list[dict[str, Any]]) -> dict[str, Any]:
    if suggestions:
        message["suggestions"] = suggestions[:MAX_SUGGESTIONS]
    return message


def _text(text: str) -> dict[str, Any]:
    return {"text": _clip(text, MAX_TEXT) if text else " "}


def to_content_message(content: dict[str, Any], message_id: str) -> dict[str, Any]:
    """The RBM contentMessage for an AppMessage; `message_id` (the Conversation API message id)
    goes into every suggestion's postback data. Raises `UnsupportedContent`."""
    kind = kind_of(content)
    if kind is None:
        raise UnsupportedContent("the message has no content kind RCS can send")
    body: dict[str, Any] = content[kind]
    if kind == "text_message":
        return _text(str(body.get("text") or ""))
    if kind == "media_message":
        if not body.get("url"):
            raise UnsupportedContent("media_message without a url")
        return {"contentInfo": _content_info(body)}
    if kind == "choice_message":
        text = str((body.get("text_message") or {}).get("text") or "")
        return _with_suggestions(_text(text), _suggestions(body.get("choices"), message_id))
    if kind == "card_message":
        card, overflow = _card_content(body, message_id)
        return _with_suggestions(
            {"richCard": {"standaloneCard": {"cardOrientation": "VERTICAL", "cardContent": card}}}, overflow)
    if kind == "carousel_message":
        return _carousel(body, message_id)
    if kind == "location_message":
        coords = body.get("coordinates") or {}
        title = str(body.get("title") or "")
        text = "\n".join(x for x in (title, str(body.get("label") or "")) if x)
        choice = {"location_message": {**body, "title": body.get("label") or title or "Show on map"},
                  "postback_data": "location"}
        item = suggestion(choice, message_id)
        message = _text(text or map_link(coords.get("latitude"), coords.get("longitude")))
        return _with_suggestions(message, [item] if item else [])
    if kind == "list_message":
        return _with_suggestions(_text(as_text(content)), _suggestions(_list_items(body), message_id))
    return _text(as_text(content))


def _list_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for section in body.get("sections") or []:
        for item in section.get("items") or []:
            choice = item.get("choice") if isinstance(item, dict) else None
            if isinstance(choice, dict) and choice.get("title"):
                postback = choice.get("postback_data") or choice["title"]
                out.append({"text_message": {"text": str(choice["title"])}, "postback_data": postback})
    return out


def _carousel(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    cards = [c for c in body.get("cards") or [] if isinstance(c, dict)]
    if not cards:
        raise UnsupportedContent("carousel_message without cards")
    overflow: list[dict[str, Any]] = []
    contents = []
    for card in cards[:MAX_CAROUSEL_CARDS]:
        content, extra = _card_content(card, message_id)
        contents.append(content)
        overflow.extend(extra)
    suggestions = _suggestions(body.get("choices"), message_id) + overflow
    rich: dict[str, Any]
    if len(contents) < MIN_CAROUSEL_CARDS:
        rich = {"standaloneCard": {"cardOrientation": "VERTICAL", "cardContent": contents[0]}}
    else:
        rich = {"carouselCard": {"cardWidth": "MEDIUM", "cardContents": contents}}
    return _with_suggestions({"richCard": rich}, suggestions)


def is_rich(content_message: dict[str, Any]) -> bool:
    """Anything but plain text: media, a rich card, or suggestions (billing's SINGLE_MESSAGE)."""
    return "text" not in content_message or bool(content_message.get("suggestions"))
