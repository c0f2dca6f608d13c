"""The policy gate on the Conversation API path: judges a message before each channel attempt
(docs/subsystems/policy.md#conversation).

The purpose and collapse key come from the message's `message_metadata` when it is a JSON object
(`{"purpose": "engagement", "collapse_key": "order-7"}`; otherwise, or for an unknown purpose,
information) — a string field the official SDK sends unchanged. The contact is every identity it
has (its phone numbers are the same contact keys the SMS API counts under) plus its id; its time
zone is `time_zone` in the contact's `metadata` JSON when set.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import bindparam, select

from tidings.conversations.degrade import as_text
from tidings.policy.gate import Candidate, Decision, PolicyCache, contact_key, evaluate_many
from tidings.store.conversation_schema import conv_contacts, conv_identities
from tidings.store.db import Database

__all__ = ["check_attempt", "message_policy"]

# Built once: they run for every attempt.
_CONTACT_IDENTITIES = select(conv_identities.c.channel, conv_identities.c.identity).where(
    conv_identities.c.contact_id == bindparam("contact_id_"))
_CONTACT_METADATA = select(conv_contacts.c.metadata).where(conv_contacts.c.id == bindparam("contact_id_"))

PURPOSES = frozenset({"engagement", "information", "security", "satisfaction"})


def _json_object(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def message_policy(message_metadata: str | None) -> tuple[str, str | None]:
    """(purpose, collapse key) of a message from its `message_metadata`."""
    data = _json_object(message_metadata)
    purpose = data.get("purpose")
    purpose = purpose.strip().lower() if isinstance(purpose, str) else "information"
    key = data.get("collapse_key")
    return (purpose if purpose in PURPOSES else "information",
            key[:200] if isinstance(key, str) and key else None)


async def check_attempt(db: Database, msg: Any, entry: dict[str, Any], now: int, *,
                        cache: PolicyCache | None = None) -> Decision:
    """The gate's decision for `msg` on plan entry `entry`, counted in its own transaction."""
    purpose, key = message_policy(msg.metadata)
    extensions = getattr(msg, "extensions", None)
    # Tidings' own messages (keyword confirmations, double opt-in requests with their link):
    # purpose "system", not judged as content (a confirmation link is no phishing).
    system = isinstance(extensions, dict) and extensions.get("purpose") == "system"
    if system:
        purpose = "system"
    channel, identity = str(entry["channel"]), str(entry.get("identity") or "")
    async with db.write() as conn:
        keys: tuple[str, ...] = ()
        zone = None
        if msg.contact_id:
            rows = await conn.execute(_CONTACT_IDENTITIES, {"contact_id_": msg.contact_id})
            keys = (*(contact_key(r.channel, r.identity) for r in rows), f"contact:{msg.contact_id}")
            meta = (await conn.execute(_CONTACT_METADATA, {"contact_id_": msg.contact_id})).scalar()
            tz = _json_object(meta).get("time_zone")
            zone = tz if isinstance(tz, str) else None
        candidate = Candidate(f"conv:{msg.id}", msg.project_id, channel, identity, purpose,
                              as_text(msg.content or {}), key, keys, zone, judged=system)
        return (await evaluate_many(conn, [candidate], now, cache=cache))[0]
