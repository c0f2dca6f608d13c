"""Concatenated MO made whole, durably: each part is stored as it arrives, the message with its last.

An SMSC sends the parts of a long message as separate deliver_sm, in any order and, when an
account has several binds (several workers in the distributed profile), over different sessions.
Each part is written to `mo_parts` in the outcome writer's transaction before its deliver_sm is
answered, so an acknowledged part survives a crash; the transaction that stores the last part
stores the joined message in `inbounds` too (`writer.apply_events`).

- A part delivered again (the SMSC did not get our answer) has the same sequence and text as the
  stored one: it changes nothing, also for a while after the message was stored (the assembled
  parts are kept `mo_reassembly_seconds`, then purged by the sweeper).
- A part with a sequence already stored but another text is a new message reusing the reference:
  the stored one is over (stored with what arrived of it, when it was still waiting).
- Parts that stop coming: after `mo_reassembly_seconds` the sweeper has what arrived stored as
  the message (`MoPartsOverdue`), so a lost part never holds the others back for good.

The payloads are joined before they are decoded: handsets split a UCS-2 surrogate pair or a GSM
escape across parts. A binary message (a part in an 8-bit data coding, or with header elements
such as ports: `MoPart.udh`) is not decoded at all: its parts' payloads are joined as bytes, and
it keeps the first such part's header elements.
"""

from __future__ import annotations

import base64
import itertools
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.encoding import decode, is_binary_coding
from tidings.store import mo_parts as mq
from tidings.workers.events import MO_BINARY, MobileOriginated, MoPart, MoPartsOverdue

log = logging.getLogger(__name__)


async def assemble(conn: AsyncConnection, parts: Sequence[MoPart], overdue: Sequence[MoPartsOverdue],
                   now: int) -> list[MobileOriginated]:
    """Store `parts`, and return the messages they (or the overdue groups) make whole. Call it
    before the transaction takes any other lock (see `mo_parts.lock_groups`).

    A flush at a time: each group is locked and read once, its changes worked out in memory part
    by part, then written with one statement per kind (deletes, inserts, marks) for the flush —
    per part, the round trips to PostgreSQL were the distributed workers' cost for long replies."""
    if not parts and not overdue:
        return []
    keys = list(dict.fromkeys([p.group for p in parts] + [o.group for o in overdue]))
    await mq.lock_groups(conn, keys)
    groups = {key: _Group(key, stored) for key, stored in (await mq.parts_of_groups(conn, keys)).items()}
    messages: list[MobileOriginated] = []
    for part in parts:
        messages += groups[part.group].add(part)
    for item in overdue:
        messages += groups[item.group].overdue()
    await mq.delete_groups(conn, [g.key for g in groups.values() if g.delete_stored])
    await mq.insert_parts(conn, [(g.key, row) for g in groups.values() for row in g.new_rows])
    await mq.mark_assembled(conn, [g.key for g in groups.values() if g.assembled], now)
    return messages


class _Group:
    """One message's parts during a flush: those stored when it began and those added since."""

    def __init__(self, key: mq.GroupKey, stored: Sequence[Any]) -> None:
        self.key = key
        self.rows: list[Any] = list(stored)  # the current message's parts, stored or new
        self.new_rows: list[_Row] = []  # to insert
        self.delete_stored = False  # the stored rows belong to a message that is over
        self.done = bool(stored) and stored[0].assembled_ms is not None  # stored whole already
        self.assembled = False  # made whole in this flush: mark every row

    def add(self, part: MoPart) -> list[MobileOriginated]:
        same = next((row for row in self.rows if row.sequence == part.sequence), None)
        if same is not None and bytes(same.payload) == part.payload:
            return []  # delivered again
        messages = []
        if same is not None or self.done or self.assembled:
            # The reference is reused by a new message (or a straggler came after the message was
            # stored without it): the current one is over, and this part starts the next one.
            if not (self.done or self.assembled):
                messages.append(_joined(self.key, self.rows))
            self.delete_stored = self.delete_stored or len(self.rows) > len(self.new_rows)
            self.rows, self.new_rows = [], []
            self.done = self.assembled = False
        row = _Row(part)
        self.rows.append(row)
        self.new_rows.append(row)
        if len(self.rows) == part.total:
            self.rows.sort(key=lambda r: r.sequence)
            messages.append(_joined(self.key, self.rows))
            self.assembled = True
        return messages

    def overdue(self) -> list[MobileOriginated]:
        if not self.rows or self.done or self.assembled:
            return []
        self.rows.sort(key=lambda r: r.sequence)
        self.assembled = True
        return [_joined(self.key, self.rows)]


class _Row:
    """A part added in this flush, shaped as a row of `group_parts`."""

    __slots__ = ("sequence", "data_coding", "payload", "smsc_message_id", "received_ms", "udh")

    def __init__(self, part: MoPart) -> None:
        self.sequence = part.sequence
        self.data_coding = part.data_coding
        self.payload = part.payload
        self.smsc_message_id = part.smsc_id
        self.received_ms = part.at_ms
        self.udh = part.udh


def _joined(group: mq.GroupKey, rows: Sequence[Any]) -> MobileOriginated:
    """The message the rows (sorted by sequence) make; the parts of one data coding are joined
    before they are decoded, a binary message's payloads joined as they are."""
    connection, sender, recipient, reference, total = group
    if len(rows) < total:
        log.warning("%s: concatenated MO %d from %s stored with %d of its %d parts",
                    connection, reference, sender, len(rows), total)
    first_id = rows[0].smsc_message_id if rows else None
    at_ms = max(row.received_ms for row in rows)
    headers = [bytes(row.udh) for row in rows if row.udh is not None]
    if headers or any(is_binary_coding(row.data_coding) for row in rows):
        data = b"".join(bytes(row.payload) for row in rows)
        return MobileOriginated(connection, first_id, sender, recipient, base64.b64encode(data).decode("ascii"),
                                at_ms, MO_BINARY, headers[0].hex() if headers else None)
    body = "".join(
        decode(b"".join(bytes(row.payload) for row in run), data_coding)
        for data_coding, run in itertools.groupby(rows, key=lambda row: row.data_coding)
    )
    return MobileOriginated(connection, first_id, sender, recipient, body, at_ms)
