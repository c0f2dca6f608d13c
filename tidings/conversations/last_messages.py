"""`POST /v1/projects/{project_id}/messages:fetch-last-message`: the last message of each given
channel identity (or contact), as Sinch's ListLastMessagesByChannelIdentity.

Body: `channel_identities` (identity strings) or `contact_ids` — one of them, not both;
`messages_source` (CONVERSATION_SOURCE, the default, or DISPATCH_SOURCE, which takes no
`contact_ids`), `app_id`, `channel`, `direction`, `start_time` ≤ accept < `end_time`, `view`
(WITH_METADATA, the default, or WITHOUT_METADATA), `page_size` (1–1,000, default 10),
`page_token`. Answer: `{"messages": [...], "next_page_token"}`, newest first, at most one
message per identity (or contact).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.conversations import paging, queries, views
from tidings.conversations.checks import check_channel, invalid
from tidings.store.conversation_schema import conv_identities, conv_messages

__all__ = ["fetch_last_messages"]

SOURCES = {"CONVERSATION_SOURCE": "CONVERSATION", "DISPATCH_SOURCE": "DISPATCH"}
VIEWS = ("WITH_METADATA", "WITHOUT_METADATA")
DIRECTIONS = ("TO_APP", "TO_CONTACT")
MAX_KEYS = 1000
MAX_PAGE_SIZE = 1000
_m = conv_messages.c


def _strings(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_KEYS or not all(isinstance(v, str) and v for v in value):
        raise invalid(field, f"must be a list of at most {MAX_KEYS} non-empty strings")
    return list(dict.fromkeys(value))


def _time(body: dict[str, Any], field: str) -> int | None:
    raw = body.get(field)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid(field, "must be an RFC 3339 timestamp")
    try:
        at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise invalid(field, "must be an RFC 3339 timestamp") from exc
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


def _check(body: dict[str, Any]) -> dict[str, Any]:
    identities, contacts = _strings(body, "channel_identities"), _strings(body, "contact_ids")
    if bool(identities) == bool(contacts):
        raise invalid("channel_identities", "give either channel_identities or contact_ids")
    source = body.get("messages_source") or "CONVERSATION_SOURCE"
    if source not in SOURCES:
        raise invalid("messages_source", f"must be one of {tuple(SOURCES)}")
    if source == "DISPATCH_SOURCE" and contacts:
        raise invalid("contact_ids", "is not supported with DISPATCH_SOURCE")
    view = body.get("view") or "WITH_METADATA"
    if view not in VIEWS:
        raise invalid("view", f"must be one of {VIEWS}")
    direction = body.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise invalid("direction", f"must be one of {DIRECTIONS}")
    size = body.get("page_size") or 10
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PAGE_SIZE:
        raise invalid("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
    token = body.get("page_token")
    if token is not None and not isinstance(token, str):
        raise invalid("page_token", "must be a string")
    start, end = _time(body, "start_time"), _time(body, "end_time")
    if start is not None and end is not None and start >= end:
        raise invalid("start_time", "must be before end_time")
    app_id = body.get("app_id")
    if app_id is not None and not isinstance(app_id, str):
        raise invalid("app_id", "must be an app id")
    return {"identities": identities, "contacts": contacts, "mode": SOURCES[source], "view": view,
            "direction": direction, "size": size, "token": paging.decode(token), "start": start, "end": end,
            "app_id": app_id or None,
            "channel": check_channel(body["channel"], "channel") if body.get("channel") else None}


async def _matching(conn: AsyncConnection, project_id: str, req: dict[str, Any], key: str) -> Any:
    """The messages of one contact id, or of one identity: those that went out to it or came
    from it, and (conversation source) those of the contacts that have it — an outbound message
    not sent yet has no identity of its own."""
    if req["contacts"]:
        return _m.contact_id == key
    if req["mode"] == "DISPATCH":
        return _m.identity == key
    owners = list((await conn.execute(select(conv_identities.c.contact_id).where(
        conv_identities.c.project_id == project_id, conv_identities.c.identity == key))).scalars())
    return or_(_m.identity == key, _m.contact_id.in_(owners)) if owners else _m.identity == key


async def fetch_last_messages(conn: AsyncConnection, project_id: str, payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise invalid("body", "must be a JSON object")
    req = _check(payload)
    base = select(conv_messages).where(_m.project_id == project_id, _m.state != "DELETED",
                                       _m.processing_mode == req["mode"])
    for column, value in ((_m.app_id, req["app_id"]), (_m.channel, req["channel"]),
                          (_m.direction, req["direction"])):
        if value:
            base = base.where(column == value)
    if req["start"] is not None:
        base = base.where(_m.accept_ms >= req["start"])
    if req["end"] is not None:
        base = base.where(_m.accept_ms < req["end"])
    last = []
    for key in req["identities"] or req["contacts"]:
        row = (await conn.execute(base.where(await _matching(conn, project_id, req, key))
                                  .order_by(_m.accept_ms.desc(), _m.id.desc()).limit(1))).first()
        if row is not None:
            last.append(row)
    last.sort(key=lambda r: (r.accept_ms, r.id), reverse=True)
    token = req["token"]
    if token is not None:
        last = [r for r in last if (r.accept_ms, r.id) < token]
    page = last[:req["size"]]
    attempts = await queries.attempts_of(conn, [r.id for r in page])
    messages = [views.message_json(r, attempts[r.id]) for r in page]
    if req["view"] == "WITHOUT_METADATA":
        for message in messages:
            message["metadata"] = ""
    more = len(last) > req["size"]
    return {"messages": messages,
            "next_page_token": paging.encode(page[-1].accept_ms, page[-1].id) if more else ""}
