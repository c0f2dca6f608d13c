"""What the RBM twin accepts as an AgentContentMessage: the documented shape and limits
(reference: phones.agentMessages — AgentContentMessage, RichCard, CardContent, Suggestion).

`content_error(content)` returns Google's complaint (for a 400 INVALID_ARGUMENT) or None;
`display_text(content)` is what the handset shows as the message's text in listings.
"""

from __future__ import annotations

from typing import Any

__all__ = ["content_error", "display_text", "suggestions_of"]

_CONTENT_KINDS = ("text", "richCard", "contentInfo", "uploadedRbmFile", "fileName")
_ACTIONS = ("dialAction", "viewLocationAction", "createCalendarEventAction", "openUrlAction",
            "shareLocationAction", "composeAction")
_HEIGHTS = {"SHORT", "MEDIUM", "TALL"}
_WIDTHS = {"SMALL", "MEDIUM"}
TRAFFIC_TYPES = {"AUTHENTICATION", "TRANSACTION", "PROMOTION", "SERVICEREQUEST", "ACKNOWLEDGEMENT",
                 "MESSAGE_TRAFFIC_TYPE_UNSPECIFIED"}
MAX_TEXT, MAX_SUGGESTION_TEXT, MAX_POSTBACK = 3072, 25, 2048
MAX_TITLE, MAX_DESCRIPTION = 200, 2000
MAX_MESSAGE_SUGGESTIONS, MAX_CARD_SUGGESTIONS = 11, 4
MIN_CARDS, MAX_CARDS = 2, 10


def _one_of(obj: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if obj.get(n) is not None]


def _text_error(value: Any, path: str, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return f"{path} is required"
    if len(value) > limit:
        return f"{path} exceeds the maximum length of {limit} characters"
    return None


def _file_error(info: Any, path: str) -> str | None:
    if not isinstance(info, dict):
        return f"{path} must be an object"
    url = info.get("fileUrl")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return f"{path}.fileUrl must be a publicly reachable http(s) URL"
    return None


def _action_error(action: dict[str, Any], path: str) -> str | None:
    kinds = _one_of(action, _ACTIONS)
    if len(kinds) != 1:
        return f"{path} must set exactly one action type"
    kind, body = kinds[0], action[kinds[0]]
    if not isinstance(body, dict):
        return f"{path}.{kind} must be an object"
    if kind == "dialAction" and not body.get("phoneNumber"):
        return f"{path}.dialAction.phoneNumber is required"
    if kind == "openUrlAction" and not str(body.get("url", "")).startswith(("http://", "https://")):
        return f"{path}.openUrlAction.url must be an http(s) URL"
    if kind == "viewLocationAction" and not (isinstance(body.get("latLong"), dict) or body.get("query")):
        return f"{path}.viewLocationAction needs latLong or query"
    if kind == "createCalendarEventAction":
        for field in ("startTime", "endTime", "title"):
            if not body.get(field):
                return f"{path}.createCalendarEventAction.{field} is required"
    return None


def _suggestion_error(item: Any, path: str) -> str | None:
    if not isinstance(item, dict):
        return f"{path} must be an object"
    kinds = _one_of(item, ("reply", "action"))
    if len(kinds) != 1:
        return f"{path} must be exactly one of reply and action"
    body = item[kinds[0]]
    if not isinstance(body, dict):
        return f"{path}.{kinds[0]} must be an object"
    error = _text_error(body.get("text"), f"{path}.{kinds[0]}.text", MAX_SUGGESTION_TEXT)
    if error:
        return error
    if len(str(body.get("postbackData", ""))) > MAX_POSTBACK:
        return f"{path}.{kinds[0]}.postbackData exceeds {MAX_POSTBACK} characters"
    return _action_error(body, f"{path}.action") if kinds[0] == "action" else None


def _suggestions_error(items: Any, path: str, limit: int) -> str | None:
    if items is None:
        return None
    if not isinstance(items, list):
        return f"{path} must be a list"
    if len(items) > limit:
        return f"{path} has {len(items)} suggestions; at most {limit} are allowed"
    for i, item in enumerate(items):
        if error := _suggestion_error(item, f"{path}[{i}]"):
            return error
    return None


def _card_error(card: Any, path: str) -> str | None:
    if not isinstance(card, dict):
        return f"{path} must be an object"
    if not (card.get("title") or card.get("description") or card.get("media")):
        return f"{path} needs a title, a description or media"
    if card.get("title") is not None and (error := _text_error(card["title"], f"{path}.title", MAX_TITLE)):
        return error
    if card.get("description") is not None and (
            error := _text_error(card["description"], f"{path}.description", MAX_DESCRIPTION)):
        return error
    media = card.get("media")
    if media is not None:
        if not isinstance(media, dict):
            return f"{path}.media must be an object"
        if media.get("height") not in _HEIGHTS:
            return f"{path}.media.height must be one of {sorted(_HEIGHTS)}"
        if error := _file_error(media.get("contentInfo"), f"{path}.media.contentInfo"):
            return error
    return _suggestions_error(card.get("suggestions"), f"{path}.suggestions", MAX_CARD_SUGGESTIONS)


def _rich_card_error(rich: Any, path: str) -> str | None:
    if not isinstance(rich, dict):
        return f"{path} must be an object"
    kinds = _one_of(rich, ("standaloneCard", "carouselCard"))
    if len(kinds) != 1:
        return f"{path} must be exactly one of standaloneCard and carouselCard"
    if kinds[0] == "standaloneCard":
        card = rich["standaloneCard"]
        if not isinstance(card, dict):
            return f"{path}.standaloneCard must be an object"
        return _card_error(card.get("cardContent"), f"{path}.standaloneCard.cardContent")
    carousel = rich["carouselCard"]
    if not isinstance(carousel, dict):
        return f"{path}.carouselCard must be an object"
    if carousel.get("cardWidth") not in _WIDTHS:
        return f"{path}.carouselCard.cardWidth must be one of {sorted(_WIDTHS)}"
    cards = carousel.get("cardContents")
    if not isinstance(cards, list) or not MIN_CARDS <= len(cards) <= MAX_CARDS:
        return f"{path}.carouselCard.cardContents must hold {MIN_CARDS} to {MAX_CARDS} cards"
    for i, card in enumerate(cards):
        if error := _card_error(card, f"{path}.carouselCard.cardContents[{i}]"):
            return error
    return None


def content_error(content: Any) -> str | None:
    """Why RBM would refuse this contentMessage, or None."""
    path = "agent_message.content_message"
    if not isinstance(content, dict):
        return f"{path} is required"
    kinds = _one_of(content, _CONTENT_KINDS)
    if len(kinds) != 1:
        return f"{path} must set exactly one of {', '.join(_CONTENT_KINDS)}"
    kind = kinds[0]
    if kind == "text":
        error = _text_error(content["text"], f"{path}.text", MAX_TEXT)
    elif kind == "contentInfo":
        error = _file_error(content["contentInfo"], f"{path}.content_info")
    elif kind == "richCard":
        error = _rich_card_error(content["richCard"], f"{path}.rich_card")
    else:
        error = None
    return error or _suggestions_error(content.get("suggestions"), f"{path}.suggestions",
                                       MAX_MESSAGE_SUGGESTIONS)


def suggestions_of(content: dict[str, Any]) -> list[dict[str, Any]]:
    """Every suggestion a handset shows for the message: the message's and each card's."""
    out = list(content.get("suggestions") or [])
    rich = content.get("richCard") or {}
    cards = [((rich.get("standaloneCard") or {}).get("cardContent"))] + list(
        (rich.get("carouselCard") or {}).get("cardContents") or [])
    for card in cards:
        if isinstance(card, dict):
            out.extend(card.get("suggestions") or [])
    return [s for s in out if isinstance(s, dict)]


def display_text(content: dict[str, Any]) -> str:
    if isinstance(content.get("text"), str):
        return str(content["text"])
    if isinstance(content.get("contentInfo"), dict):
        return str(content["contentInfo"].get("fileUrl", ""))
    rich = content.get("richCard") or {}
    cards = [((rich.get("standaloneCard") or {}).get("cardContent"))] + list(
        (rich.get("carouselCard") or {}).get("cardContents") or [])
    lines: list[str] = []
    for card in cards:
        if isinstance(card, dict):
            lines.extend(str(card[k]) for k in ("title", "description") if card.get(k))
    return "\n".join(lines)
