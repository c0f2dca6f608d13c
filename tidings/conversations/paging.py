"""Keyset paging for the Conversation API's lists: `page_token` names the last item served.

A token is the URL-safe Base64 of `[sort value, id]` of the last item of the page before; the
next page starts strictly after it in the list's order. Unlike an offset, it neither repeats
nor skips items when others are added or deleted while a client pages (new messages arrive at
the top of a newest-first list and would push an offset's window back onto items already
served). An item whose sort value changes meanwhile (a conversation's last message time) moves
to where it now sorts.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from sqlalchemy import and_, or_

from tidings.conversations.checks import invalid

__all__ = ["after", "decode", "encode"]


def encode(sort_value: int, item_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort_value, item_id])).decode().rstrip("=")


def decode(token: str | None) -> tuple[int, str] | None:
    """The (sort value, id) a token names; None for no token; 400 for one not from this API."""
    if not token:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise invalid("page_token", "is not a page token from this API") from exc
    if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], int)
            or isinstance(value[0], bool) or not isinstance(value[1], str)):
        raise invalid("page_token", "is not a page token from this API")
    return value[0], value[1]


def after(sort_column: Any, id_column: Any, token: tuple[int, str] | None, *,
          sort_descending: bool, id_descending: bool) -> Any:
    """The WHERE clause of the items that sort after the token's item (everything without one)."""
    if token is None:
        return and_(True)
    sort_value, item_id = token
    sort_after = sort_column < sort_value if sort_descending else sort_column > sort_value
    id_after = id_column < item_id if id_descending else id_column > item_id
    return or_(sort_after, and_(sort_column == sort_value, id_after))
