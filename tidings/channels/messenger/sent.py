"""`SentLog`: what the connector sent to each person recently, for Messenger's watermarks and taps.

Messenger reports delivery per conversation, not per message: a `delivery` event carries a
`watermark` and sometimes the `mids`. Quick-reply and postback taps do not say which message
offered them. So the connector remembers, per (app, PSID), the message ids it sent with their
send time and the payloads they offered; delivery watermarks turn into one status per remembered
message, taps find the message that offered the payload. Bounded: the newest `per_recipient`
messages of the `recipients` people written to most recently. (Read watermarks need no memory
here: they become one watermark `StatusEvent` resolved from the stored sends.)

Every connector instance of a process shares `PROCESS_LOG` (the engine's connector sends, the API's
instance answers webhooks). In the distributed profile the webhook may reach another process than
the sender: there delivery events still yield the statuses of the `mids` they list.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["PROCESS_LOG", "SentLog", "SentMessage"]


@dataclass
class SentMessage:
    mid: str
    sent_ms: int
    payloads: frozenset[str] = field(default_factory=frozenset)
    delivered: bool = False
    read: bool = False


Key = tuple[str, str]  # (app id, PSID)


class SentLog:
    def __init__(self, *, per_recipient: int = 200, recipients: int = 10_000) -> None:
        self.per_recipient = per_recipient
        self.recipients = recipients
        self._by_key: OrderedDict[Key, deque[SentMessage]] = OrderedDict()

    def __len__(self) -> int:
        return sum(len(q) for q in self._by_key.values())

    def add(self, app_id: str, psid: str, mid: str, sent_ms: int, payloads: Iterable[str] = ()) -> None:
        key = (app_id, psid)
        queue = self._by_key.get(key)
        if queue is None:
            queue = self._by_key[key] = deque(maxlen=self.per_recipient)
            while len(self._by_key) > self.recipients:
                self._by_key.popitem(last=False)
        else:
            self._by_key.move_to_end(key)
        queue.append(SentMessage(mid, sent_ms, frozenset(payloads)))

    def delivered(self, app_id: str, psid: str, watermark: int | None, mids: Iterable[str] = ()) -> list[str]:
        """The message ids a delivery event reports and were not reported yet: `mids`, and every
        remembered one sent at or before `watermark`. Nothing is marked: see `mark`."""
        remembered = self._by_key.get((app_id, psid), ())
        reported = {s.mid for s in remembered if s.delivered}
        out = [mid for mid in dict.fromkeys(mids) if mid not in reported]
        for sent in remembered:
            if not sent.delivered and watermark is not None and sent.sent_ms <= watermark and sent.mid not in out:
                out.append(sent.mid)
        return out

    def mark(self, app_id: str, psid: str, mid: str, status: str) -> tuple[bool, bool] | None:
        """Note that `mid` was reported DELIVERED or READ, so later watermarks do not report it
        again; returns its previous (delivered, read) for `restore`, None when not remembered."""
        for sent in self._by_key.get((app_id, psid), ()):
            if sent.mid == mid:
                before = (sent.delivered, sent.read)
                sent.delivered = True
                sent.read = sent.read or status == "READ"
                return before
        return None

    def restore(self, app_id: str, psid: str, mid: str, before: tuple[bool, bool]) -> None:
        """Undo `mark` (the events could not be stored; the platform will send them again)."""
        for sent in self._by_key.get((app_id, psid), ()):
            if sent.mid == mid:
                sent.delivered, sent.read = before
                return

    def offered(self, app_id: str, psid: str, payload: str) -> str | None:
        """The most recent message that offered `payload` (a quick reply or postback button)."""
        for sent in reversed(self._by_key.get((app_id, psid), ())):
            if payload in sent.payloads:
                return sent.mid
        return None


PROCESS_LOG = SentLog()
"""The log the connectors of this process share unless given their own (`options["sent_log"]`)."""
