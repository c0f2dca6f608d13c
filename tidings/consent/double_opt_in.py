"""Double opt-in: a contact is asked to confirm, and only the confirmation records the opt-in.

`start` stores a pending confirmation (purposes, channel, expiry) and sends the request — by SMS,
or on a conversation channel (WhatsApp, Telegram, …) as a conversation message of the app — "Reply
YES to confirm" (method "reply") or a link to `GET /tidings/v1/consent/confirm/{token}`
(method "link"; the link is sent by SMS when a sender is given, and returned to the caller
either way). The token is the confirmation id signed with the server key (HMAC-SHA256), so it
cannot be forged or guessed. `confirm` (by reply, from the keyword hook, or by link) records one
opt-in per purpose with source "double_opt_in" and the proof: the confirmation id, how it was
confirmed, the inbound message (id and text) or the link's request (IP, user agent), and the
request that started it. A confirmation past its expiry is marked expired and confirms nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.consent import ledger
from tidings.consent.replies import queue_sms_reply
from tidings.core.ids import ulid
from tidings.store.consent_schema import consent_confirmations

__all__ = ["Confirmation", "Started", "confirm", "find_by_token", "pending_for", "sign", "start"]

_c = consent_confirmations.c
DEFAULT_EXPIRY_S = 48 * 3600
MAX_EXPIRY_S = 30 * 24 * 3600
REPLY_TEXT = "Reply YES to confirm you want to receive our messages. Ignore this message otherwise."
LINK_TEXT = "Please confirm you want to receive our messages: {link}"


@dataclass(frozen=True)
class Started:
    id: str
    token: str
    request_ref: str | None
    expires_ms: int


@dataclass(frozen=True)
class Confirmation:
    id: str
    state: str  # confirmed | expired | already_confirmed
    identity: str
    channel: str
    purposes: list[str]
    event_ids: list[int]


def _mac(key: bytes, confirmation_id: str) -> str:
    digest = hmac.new(key, f"consent-confirm:{confirmation_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, confirmation_id: str) -> str:
    return f"{confirmation_id}.{_mac(key, confirmation_id)}"


def verify(key: bytes, token: str) -> str | None:
    """The confirmation id a token names, if its signature is ours."""
    confirmation_id, _, mac = token.partition(".")
    if not confirmation_id or not mac or not hmac.compare_digest(mac, _mac(key, confirmation_id)):
        return None
    return confirmation_id


async def start(conn: AsyncConnection, key: bytes, project_id: str, *, identity: str, channel: str,
                purposes: list[str], method: str, sender: str | None, service_plan_id: str | None,
                link_base: str, text: str | None, expires_in_s: int, proof: dict[str, Any],
                now: int, app_id: str | None = None) -> Started:
    """Store the pending confirmation and send the request: by SMS from `sender`, or on a
    conversation channel by the app `app_id` (through the conversation engine)."""
    confirmation_id = ulid()
    token = sign(key, confirmation_id)
    link = f"{link_base.rstrip('/')}/tidings/v1/consent/confirm/{token}"
    request_ref = None
    body = (text or (REPLY_TEXT if method == "reply" else LINK_TEXT)).replace("{link}", link)
    reference = f"consent:double_opt_in:{confirmation_id}"
    if sender is not None and channel == "SMS":
        request_ref = await queue_sms_reply(conn, project_id, service_plan_id, sender, identity, body, now,
                                            client_reference=reference)
    elif app_id is not None and channel != "SMS":
        from tidings.conversations.system_messages import queue_to_identity

        request_ref = await queue_to_identity(conn, project_id=project_id, app_id=app_id, channel=channel,
                                              identity=identity, text=body, now=now, reference=reference)
    expires = now + expires_in_s * 1000
    await conn.execute(consent_confirmations.insert().values(
        id=confirmation_id, project_id=project_id, identity=identity, channel=channel,
        purposes=purposes, sender=sender, method=method, state="pending", request_ref=request_ref,
        request_proof=proof, created_ms=now, expires_ms=expires, confirmed_ms=None, event_id=None))
    return Started(confirmation_id, token, request_ref, expires)


async def pending_for(conn: AsyncConnection, project_id: str, identity: str, channel: str,
                      now: int) -> Any | None:
    """The newest unexpired pending confirmation of an identity on a channel."""
    return (await conn.execute(select(consent_confirmations).where(
        _c.project_id == project_id, _c.identity == identity, _c.channel == channel,
        _c.state == "pending", _c.expires_ms > now).order_by(_c.created_ms.desc()).limit(1))).first()


async def find_by_token(conn: AsyncConnection, key: bytes, token: str) -> Any | None:
    confirmation_id = verify(key, token)
    if confirmation_id is None:
        return None
    return (await conn.execute(select(consent_confirmations).where(_c.id == confirmation_id))).first()


async def confirm(conn: AsyncConnection, row: Any, *, by: str, evidence: dict[str, Any],
                  now: int) -> Confirmation:
    """Confirm a pending confirmation (guarded: a second confirmation records nothing)."""
    purposes = list(row.purposes)
    if row.state == "confirmed":
        return Confirmation(row.id, "already_confirmed", row.identity, row.channel, purposes, [])
    if row.state != "pending" or row.expires_ms <= now:
        await conn.execute(update(consent_confirmations).where(
            _c.id == row.id, _c.state == "pending").values(state="expired"))
        return Confirmation(row.id, "expired", row.identity, row.channel, purposes, [])
    claimed = await conn.execute(update(consent_confirmations).where(
        _c.id == row.id, _c.state == "pending").values(state="confirmed", confirmed_ms=now))
    if claimed.rowcount != 1:
        return Confirmation(row.id, "already_confirmed", row.identity, row.channel, purposes, [])
    proof = {"confirmation_id": row.id, "by": by, **evidence, "request": row.request_proof,
             "request_ref": row.request_ref}
    ids = [await ledger.record(conn, row.project_id, ledger.Event(
        row.identity, row.channel, purpose, "opt_in", "double_opt_in", proof, now)) for purpose in purposes]
    await conn.execute(update(consent_confirmations).where(_c.id == row.id).values(event_id=ids[0] if ids else None))
    return Confirmation(row.id, "confirmed", row.identity, row.channel, purposes, ids)


__all__ += ["DEFAULT_EXPIRY_S", "MAX_EXPIRY_S", "verify"]
