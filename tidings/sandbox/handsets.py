"""Virtual handsets: who exists on the sandbox network, and what each one received and sent.

A number nobody configured is created on first use from what `phonenumbers` knows about it: a
valid mobile number is a reachable mobile that can receive SMS; a valid number of another type
(landline, VoIP…) is reachable but has no SMS capability until configured; an invalid number
exists only to be failed. Inboxes and outboxes keep at most `max_messages` each, oldest dropped,
and the whole network at most `max_held` messages, oldest dropped first, whoever holds them: the
sandbox runs inside `tidings serve`, and 10,000 handsets keeping 1,000 messages each would grow it
by gigabytes under a long load. A handset made on first use and never configured is forgotten
once it holds nothing (it is made again, the same, when next used), so that sending to ever new
numbers does not grow it either.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from tidings.core.line_types import LINE_TYPES, line_type_of
from tidings.sandbox.held import HeldItems

__all__ = [
    "DEFAULT_MAX_HELD", "DEFAULT_MAX_MESSAGES", "LINE_TYPES", "Handset", "HandsetMessage", "Handsets", "InvalidNumber",
    "normalize_number",
]

DEFAULT_MAX_MESSAGES = 1000
DEFAULT_MAX_HELD = 100_000
"""Messages held by every handset together (inboxes and outboxes): ~50 MB (~500 B each)."""
_MAX_DIGITS = 15


class InvalidNumber(ValueError):
    """Not an E.164 number (a '+' or not, then 1 to 15 digits)."""


def normalize_number(number: str) -> str:
    """'+46701234567' from '+46701234567', '46701234567' or ' +46 70 123 45 67 '."""
    digits = "".join(number.split()).removeprefix("+")
    if not digits.isdigit() or not digits.isascii() or len(digits) > _MAX_DIGITS:
        raise InvalidNumber(f"not an E.164 number: {number!r}")
    return "+" + digits


@dataclass(frozen=True)
class HandsetMessage:
    """One whole SMS as a handset shows it (received, or sent by it), parts already joined."""

    sender: str
    recipient: str
    body: str
    encoding: str
    segments: int
    received_at_ms: int
    flash: bool
    message_id: str
    # "SMS", or the messaging app a platform twin delivered it through, with the app's native
    # payload (card, choices, template…) as the platform received it.
    channel: str = "SMS"
    content: dict[str, Any] | None = None
    # A binary SMS (8-bit data; `body` is its payload in Base64): its user data header in hex,
    # length octet first, concatenation left out ("" when it had none). None for text.
    udh: str | None = None


@dataclass
class Handset:
    number: str
    country: str | None
    valid: bool
    reachable: bool
    line_type: str
    capabilities: list[str]
    inbox: deque[HandsetMessage] = field(repr=False, default_factory=deque)
    sent: deque[HandsetMessage] = field(repr=False, default_factory=deque)
    # What Number Lookup reports: moved to another network, and the network serving it (None:
    # the numbering plan's range holder).
    ported: bool = False
    carrier: str | None = None
    # What the numbering plan made it on first use; None once it was configured otherwise.
    made_as: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def configuration(self) -> tuple[Any, ...]:
        return (self.country, self.valid, self.reachable, self.line_type, tuple(self.capabilities),
                self.ported, self.carrier)

    @property
    def as_made(self) -> bool:
        """Made on first use and never configured otherwise: forgetting it loses nothing."""
        return self.made_as is not None and self.made_as == self.configuration()

    @property
    def receives_sms(self) -> bool:
        return "SMS" in self.capabilities

    def has(self, channel: str) -> bool:
        """Whether the handset can be reached on `channel` (its capabilities, and reachable)."""
        return self.reachable and channel.upper() in self.capabilities

    def identity(self, channel: str) -> str:
        """How the handset is known on a messaging app: its number for phone-number apps,
        a stable platform id (Telegram chat id, Messenger page-scoped id…) for the others."""
        digits = self.number.removeprefix("+")
        channel = channel.upper()
        if channel == "TELEGRAM":
            return digits
        if channel == "MESSENGER":
            return f"psid-{digits}"
        if channel in {"VIBER", "VIBERBM"}:
            return f"viber-{digits}"
        return self.number


class Handsets:
    """Every handset the sandbox knows, created on first use; see the module docstring."""

    def __init__(self, max_messages: int = DEFAULT_MAX_MESSAGES, max_held: int = DEFAULT_MAX_HELD) -> None:
        self.max_messages = max_messages
        self._handsets: dict[str, Handset] = {}
        self._held: HeldItems[Handset, HandsetMessage] = HeldItems(max_held)
        self._changed = asyncio.Event()

    def get(self, number: str) -> Handset:
        """The handset for `number`, created from what the numbering plan says if new.

        Raises `InvalidNumber` for something that is not an E.164 number at all.
        """
        key = normalize_number(number)
        handset = self._handsets.get(key)
        if handset is None:
            handset = self._handsets[key] = self._implicit(key)
        return handset

    def by_identity(self, channel: str, identity: str) -> Handset | None:
        """The handset known on `channel` as `identity` (see `Handset.identity`)."""
        channel = channel.upper()
        candidates = [identity]
        for prefix in ("psid-", "viber-"):
            if identity.startswith(prefix):
                candidates.append(identity.removeprefix(prefix))
        for candidate in candidates:
            try:
                handset = self.get(candidate)
            except InvalidNumber:
                continue
            if handset.identity(channel) == identity:
                return handset
        return None

    def all(self) -> list[Handset]:
        """Every handset the network knows now (configured, or used and not forgotten)."""
        return list(self._handsets.values())

    def put_back(self, number: str, *, as_made: bool, **configuration: Any) -> Handset:
        """A handset as an earlier run of the sandbox knew it (`Handset.configuration`'s fields),
        its boxes empty; `as_made`: the numbering plan made it so, and it may be forgotten once it
        holds nothing."""
        handset = self._new(normalize_number(number), **configuration)
        if not as_made:
            handset.made_as = None
        self._handsets[handset.number] = handset
        return handset

    def adopt(self, handset: Handset) -> None:
        """Know `handset` (one another `Handsets` of the same limits made) by its number."""
        self._handsets[handset.number] = handset

    def known(self, number: str) -> bool:
        """True when the handset exists already (configured, or used before)."""
        return normalize_number(number) in self._handsets

    def _implicit(self, number: str) -> Handset:
        try:
            parsed = phonenumbers.parse(number)
        except phonenumbers.NumberParseException:
            parsed = None
        valid = parsed is not None and phonenumbers.is_valid_number(parsed)
        if not valid or parsed is None:
            return self._new(number, None, valid=False, reachable=False, line_type="unknown", capabilities=[])
        line_type = line_type_of(parsed)
        country = phonenumbers.region_code_for_number(parsed)
        capabilities = ["SMS"] if line_type == "mobile" else []
        return self._new(number, country, valid=True, reachable=True, line_type=line_type, capabilities=capabilities)

    def _new(self, number: str, country: str | None, **fields: object) -> Handset:
        handset = Handset(
            number, country, inbox=deque(maxlen=self.max_messages), sent=deque(maxlen=self.max_messages), **fields  # type: ignore[arg-type]
        )
        handset.made_as = handset.configuration()
        return handset

    def receive(self, handset: Handset, message: HandsetMessage) -> None:
        handset = self._current(handset)
        self._hold(handset, handset.inbox, message)

    def record_sent(self, handset: Handset, message: HandsetMessage) -> None:
        handset = self._current(handset)
        self._hold(handset, handset.sent, message)

    def _current(self, handset: Handset) -> Handset:
        """The handset the network knows by that number now: one taken before it was forgotten
        (a message waiting out its latency) is known again, or gives way to the one made since."""
        return self._handsets.setdefault(handset.number, handset)

    def _hold(self, handset: Handset, box: deque[HandsetMessage], message: HandsetMessage) -> None:
        box.append(message)
        for owner in self._held.add(handset, box, message):
            if not owner.inbox and not owner.sent and owner.as_made \
                    and self._handsets.get(owner.number) is owner:
                del self._handsets[owner.number]
        self._notify()

    def clear(self, number: str) -> None:
        self.get(number).inbox.clear()
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, number: str, count: int, timeout: float) -> list[HandsetMessage]:
        """The inbox once it holds at least `count` messages; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while len(self.get(number).inbox) < count:  # got again: an emptied handset may be forgotten
                await self._changed.wait()
        return list(self.get(number).inbox)
