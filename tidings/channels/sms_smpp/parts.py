"""One message's submit_sm parts on their way to the SMSC, and the long messages partly taken.

`MessageParts` collects the SMSC's answer to each part of one message. The connector reports the
message once every part sent has its answer — not at the first refusal — so that it knows which
parts the SMSC took: every part's id, or the error of the first part refused.

A long message some of whose parts the SMSC took before another was refused for now (throttled,
a session closed or timed out) is not sent whole again under a new concatenation reference: the
taken parts would wait at the handset as a message of their own, never complete, and the handset
would get them twice. `PartlySent` keeps, by delivery id, the reference and the ids of the parts
taken; the retry through the same connection sends only the other parts, under the same
reference, so the handset joins one message and the delivery records every part's id. It is
kept in memory only: a retry through another connection or process, or more than `keep_ms`
later, sends the whole message again, as before. A part refused for good fails the message
(the parts taken cannot be called back).
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from tidings.smpp.pdu import SubmitSmResp

__all__ = ["NO_MESSAGE_ID", "MessageParts", "PartlySent", "Taken"]

log = logging.getLogger(__name__)

NO_MESSAGE_ID = "tidings:no-id:"
"""Prefix of the id recorded for a part the SMSC took without giving a message_id (an empty or
unreadable one): unique, so the parts' records stay apart, and never matched by a receipt."""
KEEP_MS = 600_000
LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Taken:
    """The parts of a message the SMSC took: their ids by index, and the reference they carry."""

    reference: int
    parts: int
    ids: dict[int, str]


class MessageParts:
    """The answers to one message's parts; those taken on an earlier attempt count as answered."""

    __slots__ = ("_unanswered", "connection", "errors", "ids", "reference")

    def __init__(self, connection: str, reference: int, parts: int, taken: Taken | None = None) -> None:
        self.connection = connection
        self.reference = reference
        self.ids: list[str | None] = [None] * parts
        if taken is not None:
            for index, smsc_id in taken.ids.items():
                self.ids[index] = smsc_id
        self.errors: dict[int, BaseException] = {}
        self._unanswered = sum(1 for smsc_id in self.ids if smsc_id is None)

    def to_send(self) -> list[int]:
        """The indexes of the parts still to send, in order."""
        return [index for index, smsc_id in enumerate(self.ids) if smsc_id is None]

    @property
    def complete(self) -> bool:
        return self._unanswered == 0

    def answer(self, index: int, response: SubmitSmResp | None, error: BaseException | None) -> None:
        """Record part `index`'s submit_sm_resp (status 0), or the error in its place."""
        if error is not None:
            self.errors[index] = error
        else:
            assert response is not None
            self.ids[index] = response.message_id or self._no_id(index)
        self._unanswered -= 1

    def first_error(self) -> BaseException | None:
        return self.errors[min(self.errors)] if self.errors else None

    def taken(self) -> Taken | None:
        """The parts the SMSC took, when some were and some were not; else None."""
        ids = {index: smsc_id for index, smsc_id in enumerate(self.ids) if smsc_id is not None}
        if not ids or len(ids) == len(self.ids):
            return None
        return Taken(self.reference, len(self.ids), ids)

    def _no_id(self, index: int) -> str:
        smsc_id = NO_MESSAGE_ID + secrets.token_hex(8)
        log.warning("%s: submit_sm_resp for part %d without a message_id: taken as sent (%s); its receipt "
                    "cannot be matched", self.connection, index + 1, smsc_id)
        return smsc_id


class PartlySent:
    """`Taken` parts by delivery id, kept `keep_ms` for the retry (at most `limit` messages)."""

    def __init__(self, keep_ms: int = KEEP_MS, limit: int = LIMIT) -> None:
        self.keep_ms = keep_ms
        self.limit = limit
        self._entries: OrderedDict[int, tuple[int, Taken]] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, delivery_id: int, taken: Taken, now_ms: int) -> None:
        entries = self._entries
        entries.pop(delivery_id, None)
        entries[delivery_id] = (now_ms, taken)
        while entries and (len(entries) > self.limit or now_ms - next(iter(entries.values()))[0] > self.keep_ms):
            entries.popitem(last=False)

    def take(self, delivery_id: int, now_ms: int) -> Taken | None:
        """What an earlier attempt left of the message, forgotten here."""
        found = self._entries.pop(delivery_id, None)
        if found is None or now_ms - found[0] > self.keep_ms:
            return None
        return found[1]
