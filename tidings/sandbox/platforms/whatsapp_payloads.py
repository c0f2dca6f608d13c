"""What the WhatsApp twin does with a `POST /messages` body: check it like the Cloud API and
render it for the handset.

`render(payload, templates)` raises `GraphError` for what the Cloud API refuses (131008 missing,
131009 invalid value — e.g. a fourth reply button, a 21-character button title, an 11th list row —,
131051 unsupported type, template errors) and returns the text the handset shows plus the options
it can tap (reply buttons, list rows, template quick replies), each with the id that comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidings.channels.whatsapp.graph import ErrorCode
from tidings.channels.whatsapp.transcode import Limits
from tidings.sandbox.platforms.whatsapp_templates import GraphError, TemplateRegistry

__all__ = ["MESSAGE_TYPES", "Option", "Rendered", "render"]

MESSAGE_TYPES = frozenset({"text", "image", "video", "audio", "document", "sticker", "location", "contacts",
                           "interactive", "template", "reaction"})


@dataclass(frozen=True)
class Option:
    kind: str  # "button_reply", "list_reply" or "button" (a template quick reply)
    id: str
    title: str
    description: str | None = None


@dataclass
class Rendered:
    text: str
    options: list[Option] = field(default_factory=list)
    template_category: str | None = None


def _invalid(details: str) -> GraphError:
    return GraphError(ErrorCode.INVALID_PARAMETER_VALUE, details)


def _missing(details: str) -> GraphError:
    return GraphError(ErrorCode.MISSING_PARAMETER, details)


def _str(obj: dict[str, Any], key: str, where: str, limit: int | None = None, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise _missing(f"{where}.{key} is required")
        return ""
    if not isinstance(value, str):
        raise _invalid(f"{where}.{key} must be a string")
    if limit is not None and len(value) > limit:
        raise _invalid(f"{where}.{key} is {len(value)} characters; the maximum is {limit}")
    return value


def _media(payload: dict[str, Any], kind: str) -> Rendered:
    media = payload.get(kind)
    if not isinstance(media, dict) or not (media.get("link") or media.get("id")):
        raise _missing(f"{kind}.link or {kind}.id is required")
    caption = media.get("caption")
    if caption is not None and kind in ("audio", "sticker"):
        raise _invalid(f"{kind} messages take no caption")
    text = f"[{kind}: {media.get('link') or media.get('id')}]"
    return Rendered("\n".join(x for x in (text, caption) if x))


def _header_text(header: Any) -> str:
    if not isinstance(header, dict):
        return ""
    kind = header.get("type")
    if kind == "text":
        return _str(header, "text", "interactive.header", Limits.HEADER_TEXT)
    if kind in ("image", "video", "document"):
        media = header.get(kind) or {}
        if not (media.get("link") or media.get("id")):
            raise _missing(f"interactive.header.{kind}.link is required")
        return f"[{kind}: {media.get('link') or media.get('id')}]"
    raise _invalid(f"interactive.header.type {kind!r} is not text, image, video or document")


def _interactive(payload: dict[str, Any]) -> Rendered:
    interactive = payload.get("interactive")
    if not isinstance(interactive, dict):
        raise _missing("interactive is required")
    kind = interactive.get("type")
    body = interactive.get("body") or {}
    text = _str(body, "text", "interactive.body", Limits.BODY, required=kind not in ("product", "product_list"))
    action = interactive.get("action")
    if not isinstance(action, dict):
        raise _missing("interactive.action is required")
    lines = [_header_text(interactive.get("header")), text]
    options: list[Option] = []
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= Limits.BUTTONS:
            raise _invalid(f"interactive.action.buttons must hold 1 to {Limits.BUTTONS} buttons")
        for button in buttons:
            reply = (button or {}).get("reply") or {}
            if button.get("type") != "reply":
                raise _invalid("interactive.action.buttons[].type must be 'reply'")
            options.append(Option("button_reply", _str(reply, "id", "button.reply", Limits.BUTTON_ID),
                                  _str(reply, "title", "button.reply", Limits.BUTTON_TITLE)))
        if len({o.title for o in options}) != len(options) or len({o.id for o in options}) != len(options):
            raise _invalid("button titles and ids must be unique")
        lines.extend(f"[{o.title}]" for o in options)
    elif kind == "list":
        _str(action, "button", "interactive.action", Limits.LIST_BUTTON)
        sections = action.get("sections")
        if not isinstance(sections, list) or not sections:
            raise _missing("interactive.action.sections is required")
        for section in sections:
            if len(sections) > 1:
                _str(section, "title", "section", Limits.SECTION_TITLE)
            for row in section.get("rows") or []:
                options.append(Option("list_reply", _str(row, "id", "row", Limits.ROW_ID),
                                      _str(row, "title", "row", Limits.ROW_TITLE),
                                      _str(row, "description", "row", Limits.ROW_DESCRIPTION, required=False) or None))
        if not 1 <= len(options) <= Limits.ROWS:
            raise _invalid(f"a list holds 1 to {Limits.ROWS} rows in total; this one has {len(options)}")
        if len({o.id for o in options}) != len(options):
            raise _invalid("row ids must be unique")
        lines.extend(f"• {o.title}" for o in options)
    elif kind == "cta_url":
        params = action.get("parameters") or {}
        if action.get("name") != "cta_url":
            raise _invalid("interactive.action.name must be 'cta_url'")
        label = _str(params, "display_text", "action.parameters", Limits.BUTTON_TITLE)
        lines.append(f"[{label}: {_str(params, 'url', 'action.parameters')}]")
    elif kind == "location_request_message":
        if action.get("name") != "send_location":
            raise _invalid("interactive.action.name must be 'send_location'")
        lines.append("[Send location]")
    elif kind == "product_list":
        _str(action, "catalog_id", "interactive.action")
        for section in action.get("sections") or []:
            lines.extend(f"• {p.get('product_retailer_id')}" for p in section.get("product_items") or [])
    else:
        raise _invalid(f"interactive.type {kind!r} is not supported")
    return Rendered("\n".join(x for x in lines if x), options)


def render(payload: dict[str, Any], templates: TemplateRegistry) -> Rendered:
    kind = payload.get("type", "text")
    if kind not in MESSAGE_TYPES:
        raise GraphError(ErrorCode.UNSUPPORTED_TYPE, f"message type {kind!r} is not supported")
    if kind == "text":
        text = payload.get("text") or {}
        return Rendered(_str(text, "body", "text", Limits.TEXT))
    if kind in ("image", "video", "audio", "document", "sticker"):
        return _media(payload, kind)
    if kind == "location":
        loc = payload.get("location") or {}
        if not isinstance(loc.get("latitude"), (int, float, str)) or not isinstance(loc.get("longitude"), (int, float, str)):
            raise _missing("location.latitude and location.longitude are required")
        name = " ".join(str(x) for x in (loc.get("name"), loc.get("address")) if x)
        return Rendered(f"{name}\n[location: {loc['latitude']},{loc['longitude']}]".strip())
    if kind == "contacts":
        contacts = payload.get("contacts")
        if not isinstance(contacts, list) or not contacts:
            raise _missing("contacts is required")
        return Rendered("\n".join(str((c.get("name") or {}).get("formatted_name", "")) for c in contacts))
    if kind == "reaction":
        reaction = payload.get("reaction") or {}
        return Rendered(_str(reaction, "emoji", "reaction", required=False))
    if kind == "interactive":
        return _interactive(payload)
    template = payload.get("template")
    if not isinstance(template, dict):
        raise _missing("template is required")
    hydrated = templates.hydrate(template)
    return Rendered(hydrated.text, [Option("button", p, label) for p, label in hydrated.quick_replies],
                    hydrated.category)
