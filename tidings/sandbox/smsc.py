"""The sandbox SMSC's behaviour: an `SmppServer` handler that plays a mobile network.

- bind: the system_id/password must match an account (`add_account`).
- submit_sm: the destination must be an E.164 number the numbering plan can parse
  (ESME_RINVDSTADR otherwise); the prefix rule may throttle (ESME_RTHROTTLED) or reject it
  (`reject_status`); otherwise it gets a fresh message id. Parts of a concatenated message
  (numbered by a UDH or by the SAR TLVs; a long text may also come whole in message_payload) are
  grouped per (account, sender, handset, reference, total); the whole message reaches the handset
  once every part has, `latency` after each part's submit.
- validity_period (relative or absolute, read by `tidings.smpp.times`; ESME_RINVEXPIRY when
  unreadable) is honoured as a carrier does: a message whose outcome would come after its
  validity ends (submit time + the drawn latency) never reaches the handset, and each segment's
  receipt says EXPIRED (message_state EXPIRED, err 000) at the moment the validity ends. Without
  a validity_period nothing changes: no draw depends on it.
- Outcome, decided once per message (its first part's submit time and validity decide expiry):
  an invalid number, an unreachable handset or one without SMS capability fails with GSM MAP
  errors 1, 27 and 21; otherwise `failure_rate` fails it with the rule's `error_code`.
- A receipt per segment (when registered_delivery asks for one, and unless `receipt_loss_rate`
  loses it) is queued in the account's `Outbox` as a deliver_sm built by `receipt_pdu`.
- Binary messages (8-bit data codings) keep their payload's bytes and the UDH elements other than
  concatenation (application ports …): the handset shows them as `BINARY`, the payload in Base64
  and the header in hex.
- Mobile-originated messages are segmented like any MT and queued the same way; binary ones go
  as data_coding 0x04, UDHI when they have a header, cut into concatenated parts (the header's
  elements on every part) when longer than one.
- An account added with `data_sm=True` gets its receipts and MO as data_sm instead, the text in
  the message_payload TLV, as some SMSCs send them.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import heapq
import itertools
import logging
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import phonenumbers

from tidings.core.encoding import alphabet, decode, is_binary_coding, segment, segment_binary
from tidings.sandbox.handsets import Handset, HandsetMessage, Handsets, InvalidNumber, normalize_number
from tidings.sandbox.outbox import Outbox
from tidings.sandbox.rules import Behaviour, Draw, Rules
from tidings.smpp.constants import CommandStatus, EsmClass, MessageState, Npi, Tag, Ton
from tidings.smpp.pdu import BindRequest, DataSm, DeliverSm, SubmitSm
from tidings.smpp.receipt import DeliveryReceipt, ReceiptStat, receipt_pdu
from tidings.smpp.sar import numbered_message, numbered_text
from tidings.smpp.server import ServerSession, SmppHandler
from tidings.smpp.times import InvalidSmppTime, parse_smpp_time

__all__ = ["ERROR_ABSENT_SUBSCRIBER", "ERROR_NO_SMS", "ERROR_UNKNOWN_SUBSCRIBER", "SmscHandler", "display_address"]

logger = logging.getLogger("tidings.sandbox.smsc")

ERROR_UNKNOWN_SUBSCRIBER = 1
ERROR_NO_SMS = 21
"""GSM MAP 'facility not supported': the line cannot take SMS."""
ERROR_ABSENT_SUBSCRIBER = 27
NETWORK_TYPE_GSM = 3
REASSEMBLY_TIMEOUT = 60.0
SHORT_CODE_MAX_DIGITS = 8
_RECEIPT_MASK = 0x03
_RECEIPT_ON_FAILURE = 0x02
_ENCODING_NAMES = {0x00: "GSM", 0x08: "UCS2", 0x01: "IA5", 0x03: "LATIN1", 0x04: "BINARY", 0x02: "BINARY"}
BINARY_DATA_CODING = 0x04


def display_address(addr: str, ton: int) -> str:
    """'+4670…' for an international number, the address as sent otherwise."""
    return "+" + addr if ton == Ton.INTERNATIONAL and addr.isdigit() else addr


def wire_address(value: str) -> tuple[str, int, int]:
    """(address, ton, npi) for a deliver_sm: '+…' international, a few digits a short code,
    other digits international, anything else alphanumeric."""
    if value.startswith("+") and value[1:].isdigit():
        return value[1:], Ton.INTERNATIONAL, Npi.ISDN
    if value.isdigit():
        if len(value) <= SHORT_CODE_MAX_DIGITS:
            return value, Ton.NETWORK_SPECIFIC, Npi.UNKNOWN
        return value, Ton.INTERNATIONAL, Npi.ISDN
    return value, Ton.ALPHANUMERIC, Npi.UNKNOWN


def is_flash(data_coding: int) -> bool:
    """Message class 0 in a GSM 03.38 data coding scheme (0x10, 0x18, 0xF0…)."""
    group = data_coding & 0xF0
    return (group in (0x10, 0x30) or group == 0xF0) and data_coding & 0x03 == 0


@functools.lru_cache(maxsize=64)
def encoding_name(data_coding: int) -> str:
    code = alphabet(data_coding)
    return _ENCODING_NAMES.get(code, f"0x{code:02X}")


def _datetime(at_ms: int) -> datetime:
    return _datetime_of_second(at_ms // 1000)


@functools.lru_cache(maxsize=256)
def _decoded(payload: bytes, data_coding: int) -> str:
    """A batch's recipients get the same bytes: decoded once (decoding was ~1.5 % of the CPU
    while delivering batches)."""
    return decode(payload, data_coding)


@functools.lru_cache(maxsize=16)
def _datetime_of_second(second: int) -> datetime:
    """Receipt dates are written to the minute: every receipt within the same second shares one."""
    return datetime.fromtimestamp(second, UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    error_code: int = 0
    latency_ms: int = 0
    expired: bool = False
    """The validity ended before the outcome: not delivered, an EXPIRED receipt when it ends."""


@dataclass
class MtSegment:
    """One submitted part, as its receipt will need it."""

    message_id: str
    text: str
    submitted_ms: int
    registered_delivery: int


@dataclass
class MtMessage:
    """One MT message being delivered, its parts as they come."""

    account: str
    sender: str
    sender_ton: int
    sender_npi: int
    handset: Handset
    total: int
    data_coding: int
    outcome: Outcome
    receipt_loss_rate: float = 0.0
    payloads: dict[int, bytes] = field(default_factory=dict)
    arrived: set[int] = field(default_factory=set)
    message_id: str = ""
    timer: asyncio.TimerHandle | None = None
    valid_until_ms: int | None = None
    """When its validity_period ends (epoch ms); None: no validity_period."""
    udh: bytes | None = None
    """A binary message's header elements other than concatenation (its first part's); None: text."""


PartsKey = tuple[str, str, str, int, int]
"""A concatenated message's parts belong together by (account, sender, handset, reference, total)."""


class SmscHandler(SmppHandler):
    """See the module docstring. `sessions` lists the server's open sessions (for the outboxes)."""

    def __init__(
        self,
        handsets: Handsets,
        rules: Rules,
        draw: Draw,
        clock: Callable[[], int],
        sessions: Callable[[], Iterable[ServerSession]],
    ) -> None:
        super().__init__()
        self.handsets = handsets
        self.rules = rules
        self.draw = draw
        self.clock = clock
        self._sessions = sessions
        self.accounts: dict[str, str] = {}
        self.data_sm_accounts: set[str] = set()
        self.outboxes: dict[str, Outbox] = {}
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(4)
        self._references = itertools.count(secrets.randbelow(256))
        self._messages: dict[PartsKey, MtMessage] = {}
        # Segments waiting out their latency: (due, order, callback, args) in a heap behind one
        # timer, instead of a loop timer per segment (a timer each cost ~4 % of the CPU at load).
        self._due: list[tuple[float, int, Callable[..., None], tuple[object, ...]]] = []
        self._due_order = itertools.count()
        self._wakeup: asyncio.TimerHandle | None = None
        self._wakeup_at = math.inf
        self._mo_account: dict[str, str] = {}
        # Senders whose type `wire_address` would not find from their display (a national number
        # sent as TON 2): a handset's reply to one goes back to it as it was sent.
        self._reply_address: dict[str, tuple[str, int, int]] = {}
        self._started = False
        self.reassembly_timeout = REASSEMBLY_TIMEOUT

    # -- accounts and lifecycle ------------------------------------------------------------------

    def add_account(self, system_id: str, password: str, *, data_sm: bool = False) -> None:
        self.accounts[system_id] = password
        if data_sm:
            self.data_sm_accounts.add(system_id)
        else:
            self.data_sm_accounts.discard(system_id)
        if system_id not in self.outboxes:
            outbox = self.outboxes[system_id] = Outbox(system_id, self._sessions)
            if self._started:
                outbox.start()

    def start(self) -> None:
        self._started = True
        for outbox in self.outboxes.values():
            outbox.start()

    async def stop(self) -> None:
        """Stop, dropping what is scheduled (save it first: see `pause`)."""
        self._started = False
        await self.pause()
        self._due.clear()
        self._messages.clear()

    def next_message_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):08x}"

    # -- unfinished work, kept across a restart (see `smsc_state.py`) ----------------------------

    async def pause(self) -> None:
        """Stop delivering and sending, keeping everything owed where it is (to be saved), until
        `stop` drops it."""
        if self._wakeup is not None:
            self._wakeup.cancel()
        self._wakeup, self._wakeup_at = None, math.inf
        for message in self._messages.values():
            if message.timer is not None:
                message.timer.cancel()
        for outbox in self.outboxes.values():
            await outbox.stop()

    @property
    def message_ids(self) -> tuple[str, int]:
        """(prefix, number of the next id): the ids given so far are the prefix and lower numbers."""
        number = next(self._ids)
        self._ids = itertools.count(number)
        return self._id_prefix, number

    def continue_message_ids(self, prefix: str, number: int) -> None:
        """Go on from the ids of an earlier run (`message_ids`), so that none is given twice."""
        self._id_prefix, self._ids = prefix, itertools.count(number)

    @property
    def mo_accounts(self) -> dict[str, str]:
        """The account that last sent as each address: where a handset's reply to it goes."""
        return self._mo_account

    @property
    def reply_addresses(self) -> dict[str, tuple[str, int, int]]:
        """(address, ton, npi) a reply goes to, for senders whose display does not say their
        type (a national number): as they were sent."""
        return self._reply_address

    def _reply_wire(self, to: str) -> tuple[str, int, int]:
        return self._reply_address.get(to) or wire_address(to)

    def scheduled(self) -> list[tuple[float, PartsKey | None, MtMessage, int, MtSegment]]:
        """Each segment waiting out its latency, soonest first: (seconds until due, its message's
        parts key, the message, the part's sequence, the segment)."""
        now = asyncio.get_running_loop().time()
        waiting: list[tuple[float, PartsKey | None, MtMessage, int, MtSegment]] = []
        for at, _, callback, args in sorted(self._due, key=lambda entry: entry[:2]):
            if callback == self._segment_arrived:
                key, message, sequence, segment_ = cast(tuple[PartsKey | None, MtMessage, int, MtSegment], args)
                waiting.append((at - now, key, message, sequence, segment_))
        return waiting

    def assembling(self) -> list[tuple[PartsKey, MtMessage, float]]:
        """Each concatenated message waiting for more parts, with the seconds until it reaches
        its handset as it is (`reassembly_timeout` after its first part)."""
        now = asyncio.get_running_loop().time()
        return [(key, message, message.timer.when() - now if message.timer is not None else 0.0)
                for key, message in self._messages.items()]

    def schedule(self, delay_s: float, key: PartsKey | None, message: MtMessage, sequence: int,
                 segment_: MtSegment) -> None:
        """A segment arrives in `delay_s` seconds (at once when negative), as if submitted so."""
        self._later(max(0.0, delay_s), self._segment_arrived, key, message, sequence, segment_)

    def resume_assembling(self, key: PartsKey, message: MtMessage, expires_in_s: float) -> None:
        """Wait again for the rest of a concatenated message's parts, `expires_in_s` at most."""
        self._messages[key] = message
        message.timer = asyncio.get_running_loop().call_later(max(0.0, expires_in_s), self._expire, key)

    # -- SmppServer hooks --------------------------------------------------------------------------

    async def handle_bind(self, session: ServerSession, pdu: BindRequest) -> int:
        password = self.accounts.get(pdu.system_id)
        if password is None:
            return CommandStatus.ESME_RINVSYSID
        if password != pdu.password:
            return CommandStatus.ESME_RINVPASWD
        # The session counts as bound once this answer is written: look at the outbox right after.
        asyncio.get_running_loop().call_soon(self.outboxes[pdu.system_id].wake)
        return CommandStatus.ESME_ROK

    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        outbox = self.outboxes.get(session.system_id or "")
        if outbox is not None:
            await outbox.room()
        return self._accept(session, pdu)

    def submit_sm_now(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str] | None:
        """The answer to a submit_sm, given in place; None while the account's outbox is full
        (then `handle_submit_sm` answers once there is room: see `outbox`)."""
        outbox = self.outboxes.get(session.system_id or "")
        if outbox is not None and outbox.full:
            return None
        return self._accept(session, pdu)

    def _accept(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        account = session.system_id or ""
        number = self._destination(pdu)
        if number is None:
            return CommandStatus.ESME_RINVDSTADR, ""
        now_ms = self.clock()
        try:
            valid_until_ms = parse_smpp_time(pdu.validity_period, now_ms)
        except InvalidSmppTime:
            return CommandStatus.ESME_RINVEXPIRY, ""
        behaviour = self.rules.match(number)
        throttled = self.draw.chance(behaviour.throttle_rate)
        rejected = self.draw.chance(behaviour.reject_rate)
        if throttled:
            return CommandStatus.ESME_RTHROTTLED, ""
        if rejected:
            return behaviour.reject_status, ""
        elements: bytes | None = None  # binary: the header's other elements (ports …), part of the message
        if is_binary_coding(pdu.data_coding):
            udh, elements, payload = numbered_message(pdu)
            text = payload[:10].hex()  # a receipt's text: the first octets, as hex
        else:
            udh, payload = numbered_text(pdu)
            text = _decoded(payload, pdu.data_coding)
        message_id = self.next_message_id()
        segment_ = MtSegment(message_id, text, now_ms, pdu.registered_delivery)
        sender = display_address(pdu.source_addr, pdu.source_addr_ton)
        self._mo_account[sender] = account
        if pdu.source_addr_ton != Ton.INTERNATIONAL:  # an international sender's display says it all
            self._reply_address[sender] = (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi)
        reference, total, sequence = (udh.reference, udh.total, udh.sequence) if udh and udh.total > 1 else (0, 1, 1)
        key: PartsKey | None = (account, sender, number, reference, total) if total > 1 else None
        message = self._messages.get(key) if key is not None else None
        if message is None:
            handset = self.handsets.get(number)
            outcome = self._outcome(handset, behaviour)
            if valid_until_ms is not None and valid_until_ms < now_ms + outcome.latency_ms:
                outcome = Outcome(False, 0, outcome.latency_ms, expired=True)
            message = MtMessage(
                account, pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi, handset, total,
                pdu.data_coding, outcome, behaviour.receipt_loss_rate,
                message_id=message_id, valid_until_ms=valid_until_ms, udh=elements,
            )
            if key is not None:
                self._messages[key] = message
                message.timer = asyncio.get_running_loop().call_later(self.reassembly_timeout, self._expire, key)
        message.payloads[sequence] = payload
        delay_ms = message.outcome.latency_ms
        if message.outcome.expired and message.valid_until_ms is not None:  # its receipt as the validity ends
            delay_ms = max(0, message.valid_until_ms - now_ms)
        self._later(delay_ms / 1000, self._segment_arrived, key, message, sequence, segment_)
        return CommandStatus.ESME_ROK, message_id

    # -- MT delivery -------------------------------------------------------------------------------

    @property
    def settled(self) -> bool:
        """No segment or receipt scheduled, and the outboxes settled (`Outbox.settled`)."""
        return not self._due and all(outbox.settled for outbox in self.outboxes.values())

    def _destination(self, pdu: SubmitSm) -> str | None:
        try:
            number = normalize_number(pdu.destination_addr)
        except InvalidNumber:
            return None
        if not self.handsets.known(number):
            try:
                phonenumbers.parse(number)
            except phonenumbers.NumberParseException:
                return None
        return number

    def _outcome(self, handset: Handset, behaviour: Behaviour) -> Outcome:
        latency_ms = self.draw.latency_ms(behaviour)
        failed = self.draw.chance(behaviour.failure_rate)
        if not handset.valid:
            return Outcome(False, ERROR_UNKNOWN_SUBSCRIBER, latency_ms)
        if not handset.reachable:
            return Outcome(False, ERROR_ABSENT_SUBSCRIBER, latency_ms)
        if not handset.receives_sms:
            return Outcome(False, ERROR_NO_SMS, latency_ms)
        if failed:
            return Outcome(False, behaviour.error_code, latency_ms)
        return Outcome(True, 0, latency_ms)

    def _later(self, delay: float, callback: Callable[..., None], *args: object) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time() + delay
        heapq.heappush(self._due, (at, next(self._due_order), callback, args))
        if at < self._wakeup_at:
            if self._wakeup is not None:
                self._wakeup.cancel()
            self._wakeup_at = at
            self._wakeup = loop.call_at(at, self._run_due)

    def _run_due(self) -> None:
        loop = asyncio.get_running_loop()
        self._wakeup, self._wakeup_at = None, math.inf
        # The loop may wake a little before a timer's time (its clock resolution): take what is
        # due within a millisecond, as the loop itself would.
        now = loop.time() + 0.001
        due = self._due
        while due and due[0][0] <= now:
            _, _, callback, args = heapq.heappop(due)
            try:
                callback(*args)
            except Exception:  # noqa: BLE001 - one message's bug must not stall the others
                logger.exception("sandbox smsc: delivering a segment failed")
        if due:
            self._wakeup_at = due[0][0]
            self._wakeup = loop.call_at(self._wakeup_at, self._run_due)

    def _segment_arrived(self, key: PartsKey | None, message: MtMessage, sequence: int, segment_: MtSegment) -> None:
        message.arrived.add(sequence)
        self._receipt(message, segment_)
        if len(message.arrived) >= message.total:
            self._finish(key, message)

    def _receipt(self, message: MtMessage, segment_: MtSegment) -> None:
        wanted = segment_.registered_delivery & _RECEIPT_MASK
        if not wanted or (wanted == _RECEIPT_ON_FAILURE and message.outcome.delivered):
            return
        if self.draw.chance(message.receipt_loss_rate):
            return
        outcome = message.outcome
        if outcome.delivered:
            stat, state = ReceiptStat.DELIVRD, MessageState.DELIVERED
        elif outcome.expired:
            stat, state = ReceiptStat.EXPIRED, MessageState.EXPIRED
        else:
            stat, state = ReceiptStat.UNDELIV, MessageState.UNDELIVERABLE
        receipt = DeliveryReceipt(
            message_id=segment_.message_id,
            stat=stat,
            message_state=state,
            submitted=1,
            delivered=1 if outcome.delivered else 0,
            submit_date=_datetime(segment_.submitted_ms),
            done_date=_datetime(self.clock()),
            error=f"{outcome.error_code:03d}",
            # No network error for an expired message: the network never answered within its validity.
            network_error=None if outcome.delivered or outcome.expired else (NETWORK_TYPE_GSM, outcome.error_code),
            # The receipt text travels as Latin-1: characters outside it are shown as '?'.
            text=segment_.text[:20].encode("latin-1", "replace").decode("latin-1"),
        )
        pdu = receipt_pdu(
            receipt,
            source_addr=message.handset.number[1:],
            source_addr_ton=Ton.INTERNATIONAL,
            source_addr_npi=Npi.ISDN,
            destination_addr=message.sender,
            dest_addr_ton=message.sender_ton,
            dest_addr_npi=message.sender_npi,
        )
        self._queue(message.account, pdu)

    def _queue(self, account: str, *pdus: DeliverSm) -> None:
        """Owe the account these PDUs: as they are, or as data_sm for an account that takes those."""
        if account in self.data_sm_accounts:
            self.outboxes[account].put(*(_as_data_sm(pdu) for pdu in pdus))
        else:
            self.outboxes[account].put(*pdus)

    def _finish(self, key: PartsKey | None, message: MtMessage) -> None:
        if message.timer is not None:
            message.timer.cancel()
        if key is not None and self._messages.get(key) is message:
            del self._messages[key]
        if not message.outcome.delivered or not message.arrived:
            return
        joined = b"".join(message.payloads[seq] for seq in sorted(message.arrived))
        if message.udh is not None:  # binary: the bytes as they came
            body = base64.b64encode(joined).decode("ascii")
        else:  # joined before decoding: some ESMEs split a UCS-2 surrogate pair or a GSM escape across parts
            body = _decoded(joined, message.data_coding)
        self.handsets.receive(
            message.handset,
            HandsetMessage(
                sender=display_address(message.sender, message.sender_ton),
                recipient=message.handset.number,
                body=body,
                encoding=encoding_name(message.data_coding),
                segments=len(message.arrived),
                received_at_ms=self.clock(),
                flash=is_flash(message.data_coding),
                message_id=message.message_id,
                udh=message.udh.hex() if message.udh is not None else None,
            ),
        )

    def _expire(self, key: PartsKey) -> None:
        message = self._messages.get(key)
        if message is not None:
            message.timer = None
            logger.info("sandbox smsc: message %s incomplete after %.0fs, delivering %d of %d parts",
                        message.message_id, self.reassembly_timeout, len(message.arrived), message.total)
            self._finish(key, message)

    # -- MO --------------------------------------------------------------------------------------

    def send_mo(self, sender: str, to: str, body: str, system_id: str | None = None) -> str:
        """Queue a message from handset `sender` to `to` for the account that sends as `to` (or
        `system_id`, or the first account); returns its message id."""
        handset = self.handsets.get(sender)
        account = system_id or self._mo_account.get(to) or next(iter(self.accounts), None)
        if account is None or account not in self.outboxes:
            raise LookupError("the sandbox SMSC has no ESME account to deliver to")
        encoded = segment(body, reference=next(self._references))
        destination, dest_ton, dest_npi = self._reply_wire(to)
        pdus = tuple(
            DeliverSm(
                source_addr=handset.number[1:],
                source_addr_ton=Ton.INTERNATIONAL,
                source_addr_npi=Npi.ISDN,
                destination_addr=destination,
                dest_addr_ton=dest_ton,
                dest_addr_npi=dest_npi,
                esm_class=EsmClass.UDHI if encoded.udhi else EsmClass.DEFAULT,
                data_coding=encoded.data_coding,
                short_message=part,
            )
            for part in encoded.parts
        )
        message_id = self.next_message_id()
        self._queue(account, *pdus)
        self.handsets.record_sent(
            handset,
            HandsetMessage(
                sender=handset.number, recipient=to, body=body, encoding=str(encoded.encoding),
                segments=len(pdus), received_at_ms=self.clock(), flash=False, message_id=message_id,
            ),
        )
        return message_id

    def send_mo_binary(self, sender: str, to: str, payload: bytes, udh: bytes = b"",
                       system_id: str | None = None) -> str:
        """`send_mo` for 8-bit data: deliver_sm with data_coding 0x04, the header (`udh`, length
        octet first, or b"") and the payload in short_message, UDHI when there is a header; more
        than 140 octets go as concatenated parts whose headers also carry `udh`'s elements.
        Raises ValueError (`TooManyParts` among them) for what cannot be cut so."""
        handset = self.handsets.get(sender)
        account = system_id or self._mo_account.get(to) or next(iter(self.accounts), None)
        if account is None or account not in self.outboxes:
            raise LookupError("the sandbox SMSC has no ESME account to deliver to")
        parts = segment_binary(payload, udh, reference=next(self._references))
        udhi = bool(udh) or len(parts) > 1
        destination, dest_ton, dest_npi = self._reply_wire(to)
        pdus = tuple(
            DeliverSm(
                source_addr=handset.number[1:], source_addr_ton=Ton.INTERNATIONAL, source_addr_npi=Npi.ISDN,
                destination_addr=destination, dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
                esm_class=EsmClass.UDHI if udhi else EsmClass.DEFAULT, data_coding=BINARY_DATA_CODING,
                short_message=part,
            )
            for part in parts
        )
        message_id = self.next_message_id()
        self._queue(account, *pdus)
        self.handsets.record_sent(
            handset,
            HandsetMessage(
                sender=handset.number, recipient=to, body=base64.b64encode(payload).decode("ascii"),
                encoding="BINARY", segments=len(pdus), received_at_ms=self.clock(), flash=False,
                message_id=message_id, udh=udh.hex(),
            ),
        )
        return message_id


def _as_data_sm(pdu: DeliverSm) -> DataSm:
    """The same message as a data_sm (SMPP 3.4 4.7.1): its text in the message_payload TLV."""
    tlvs = dict(pdu.tlvs)
    if pdu.short_message:
        tlvs[Tag.MESSAGE_PAYLOAD] = pdu.short_message
    return DataSm(
        service_type=pdu.service_type, source_addr_ton=pdu.source_addr_ton, source_addr_npi=pdu.source_addr_npi,
        source_addr=pdu.source_addr, dest_addr_ton=pdu.dest_addr_ton, dest_addr_npi=pdu.dest_addr_npi,
        destination_addr=pdu.destination_addr, esm_class=pdu.esm_class,
        registered_delivery=pdu.registered_delivery, data_coding=pdu.data_coding, tlvs=tlvs,
    )
