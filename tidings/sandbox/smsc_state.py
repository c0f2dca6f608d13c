"""One sandbox SMSC's state as JSON, for a restart: its rules, what it accepted and has not
delivered, what it owes its ESMEs, and what it must remember.

    rules        [{"prefix", …Behaviour.as_json()}]: its carrier behaviour by prefix
    message_ids  {"prefix", "next"}: the next start goes on from there, so no id is given twice
                 (a late receipt for an id given again could match the wrong submission)
    mo_accounts  {address: account}: the account a handset's reply to that address goes to
    reply_addresses  {address: [address, ton, npi]}: how a reply to a sender that is not
                 international goes back (a national number stays national); may be missing
    messages     MT messages not finished, with the outcome decided at submit (a restart draws
                 nothing again) and the parts that reached the handset; a concatenated one still
                 waiting for parts has its `parts_key` and `gives_up_at_ms` (when it is delivered
                 with the parts it has)
    scheduled    segments waiting out their latency: {"message": index in messages, "sequence",
                 "due_at_ms", "segment"}
    outboxes     {account: [hex of each deliver_sm / data_sm, encoded by tidings.smpp.pdu]}

Times are wall-clock epoch milliseconds (the sandbox's clock), so the rest of a latency is
honoured after a restart and what fell due while the sandbox was down arrives at once (a due time
is rounded up to the millisecond: never earlier than its latency). Receipts
an ESME was sent but had not answered when its session closed are back in the outbox by the time
the state is saved (`Sandbox.stop` closes the sessions first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tidings.sandbox.handsets import Handsets, InvalidNumber
from tidings.sandbox.rules import Behaviour, InvalidRule
from tidings.sandbox.smsc import MtMessage, MtSegment, Outcome, PartsKey, SmscHandler
from tidings.sandbox.state_file import UnreadableState, member, optional_member
from tidings.smpp.errors import PduError
from tidings.smpp.pdu import DataSm, DeliverSm, decode

__all__ = ["SavedSmsc", "read_smsc", "save_smsc"]


def save_smsc(smsc: SmscHandler, now_ms: int) -> dict[str, Any]:
    """The SMSC's state as JSON, `smsc.pause()`d first so that nothing moves meanwhile."""
    prefix, number = smsc.message_ids
    messages: list[dict[str, Any]] = []
    index: dict[int, int] = {}  # id(message) -> its place in `messages`

    def place(message: MtMessage, key: PartsKey | None, gives_up_in_s: float | None) -> int:
        if id(message) not in index:
            index[id(message)] = len(messages)
            messages.append(_message_json(message, key))
        at = index[id(message)]
        if gives_up_in_s is not None:
            messages[at]["gives_up_at_ms"] = now_ms + round(gives_up_in_s * 1000)
        return at

    for key, message, gives_up_in_s in smsc.assembling():
        place(message, key, gives_up_in_s)
    scheduled = [
        {"message": place(message, key, None), "sequence": sequence, "due_at_ms": now_ms + math.ceil(delay_s * 1000),
         "segment": {"message_id": segment_.message_id, "text": segment_.text,
                     "submitted_ms": segment_.submitted_ms, "registered_delivery": segment_.registered_delivery}}
        for delay_s, key, message, sequence, segment_ in smsc.scheduled()
    ]
    return {
        "rules": [{"prefix": prefix_, **behaviour.as_json()} for prefix_, behaviour in smsc.rules.items()],
        "message_ids": {"prefix": prefix, "next": number},
        "mo_accounts": dict(smsc.mo_accounts),
        "reply_addresses": {display: list(wire) for display, wire in smsc.reply_addresses.items()},
        "messages": messages,
        "scheduled": scheduled,
        "outboxes": {account: [pdu.encode().hex() for pdu in outbox.owed()]
                     for account, outbox in smsc.outboxes.items() if outbox.owed()},
    }


def _message_json(message: MtMessage, key: PartsKey | None) -> dict[str, Any]:
    outcome = message.outcome
    return {
        "account": message.account, "sender": message.sender, "sender_ton": message.sender_ton,
        "sender_npi": message.sender_npi, "handset": message.handset.number, "total": message.total,
        "data_coding": message.data_coding,
        "outcome": {"delivered": outcome.delivered, "error_code": outcome.error_code,
                    "latency_ms": outcome.latency_ms, "expired": outcome.expired},
        "receipt_loss_rate": message.receipt_loss_rate,
        "payloads": {str(sequence): payload.hex() for sequence, payload in message.payloads.items()},
        "arrived": sorted(message.arrived), "message_id": message.message_id,
        "valid_until_ms": message.valid_until_ms, "udh": message.udh.hex() if message.udh is not None else None,
        "parts_key": list(key) if key is not None else None, "gives_up_at_ms": None,
    }


@dataclass
class SavedSmsc:
    """A saved SMSC state, read and checked, ready to be given to a started SMSC."""

    rules: list[tuple[str, Behaviour]]
    message_ids: tuple[str, int]
    mo_accounts: dict[str, str]
    reply_addresses: dict[str, tuple[str, int, int]]
    assembling: list[tuple[PartsKey, MtMessage, int]]  # (key, message, gives up at ms)
    scheduled: list[tuple[int, PartsKey | None, MtMessage, int, MtSegment]]  # due at ms first
    outboxes: dict[str, list[DeliverSm | DataSm]]

    def give_to(self, smsc: SmscHandler, now_ms: int) -> list[str]:
        """Put it all back into `smsc` (started, its accounts added); the accounts whose saved
        outbox had to be dropped because the SMSC no longer has them."""
        for prefix, behaviour in self.rules:
            smsc.rules.set(prefix, behaviour)
        smsc.continue_message_ids(*self.message_ids)
        smsc.mo_accounts.update(self.mo_accounts)
        smsc.reply_addresses.update(self.reply_addresses)
        for parts_key, message, gives_up_at_ms in self.assembling:
            smsc.resume_assembling(parts_key, message, (gives_up_at_ms - now_ms) / 1000)
        for due_at_ms, key, message, sequence, segment_ in self.scheduled:
            smsc.schedule((due_at_ms - now_ms) / 1000, key, message, sequence, segment_)
        dropped = []
        for account, pdus in self.outboxes.items():
            outbox = smsc.outboxes.get(account)
            if outbox is None:
                dropped.append(account)
            else:
                outbox.put(*pdus)
        return dropped


def read_smsc(document: Any, handsets: Handsets) -> SavedSmsc:
    """Read what `save_smsc` wrote. Raises `UnreadableState`."""
    ids = member(document, "message_ids", dict)
    mo_accounts = member(document, "mo_accounts", dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mo_accounts.items()):
        raise UnreadableState("'mo_accounts' maps addresses to account names")
    reply_addresses = _reply_addresses(optional_member(document, "reply_addresses", dict) or {})
    messages: list[tuple[MtMessage, PartsKey | None, int | None]] = [
        _read_message(item, handsets) for item in member(document, "messages", list)]
    scheduled = []
    for item in member(document, "scheduled", list):
        at = member(item, "message", int)
        if not 0 <= at < len(messages):
            raise UnreadableState(f"a scheduled segment names message {at}, of {len(messages)}")
        message, key, _ = messages[at]
        segment_doc = member(item, "segment", dict)
        segment_ = MtSegment(member(segment_doc, "message_id", str), member(segment_doc, "text", str),
                             member(segment_doc, "submitted_ms", int), member(segment_doc, "registered_delivery", int))
        scheduled.append((member(item, "due_at_ms", int), key, message, member(item, "sequence", int), segment_))
    assembling = [(key, message, gives_up_at_ms) for message, key, gives_up_at_ms in messages
                  if key is not None and gives_up_at_ms is not None]
    outboxes = {str(account): [_read_pdu(hex_) for hex_ in _list(pdus, "outboxes")]
                for account, pdus in member(document, "outboxes", dict).items()}
    return SavedSmsc(_read_rules(document), (member(ids, "prefix", str), member(ids, "next", int)),
                     mo_accounts, reply_addresses, assembling, scheduled, outboxes)


def _reply_addresses(document: dict[Any, Any]) -> dict[str, tuple[str, int, int]]:
    out: dict[str, tuple[str, int, int]] = {}
    for display, wire in document.items():
        if not (isinstance(display, str) and isinstance(wire, list) and len(wire) == 3
                and isinstance(wire[0], str) and all(isinstance(v, int) for v in wire[1:])):
            raise UnreadableState("'reply_addresses' maps addresses to [address, ton, npi]")
        out[display] = (wire[0], wire[1], wire[2])
    return out


def _read_rules(document: Any) -> list[tuple[str, Behaviour]]:
    rules = []
    for item in member(document, "rules", list):
        options = dict(item) if isinstance(item, dict) else {}
        prefix = options.pop("prefix", None)
        if not isinstance(prefix, str):
            raise UnreadableState(f"a rule without a prefix: {item!r:.60}")
        try:
            rules.append((prefix, Behaviour.from_options(options)))
        except (InvalidRule, TypeError) as exc:
            raise UnreadableState(f"rule {prefix!r}: {exc}") from exc
    return rules


def _read_message(document: Any, handsets: Handsets) -> tuple[MtMessage, PartsKey | None, int | None]:
    outcome = member(document, "outcome", dict)
    key_doc = optional_member(document, "parts_key", list)
    key: PartsKey | None = None
    if key_doc is not None:
        if len(key_doc) != 5 or not all(isinstance(v, str) for v in key_doc[:3]) \
                or not all(isinstance(v, int) for v in key_doc[3:]):
            raise UnreadableState(f"a parts key is (account, sender, handset, reference, total): {key_doc!r:.60}")
        key = (key_doc[0], key_doc[1], key_doc[2], key_doc[3], key_doc[4])
    udh = optional_member(document, "udh", str)
    try:
        handset = handsets.get(member(document, "handset", str))
        payloads = {int(sequence): bytes.fromhex(_str(hex_, "payloads"))
                    for sequence, hex_ in member(document, "payloads", dict).items()}
        message = MtMessage(
            member(document, "account", str), member(document, "sender", str), member(document, "sender_ton", int),
            member(document, "sender_npi", int), handset, member(document, "total", int),
            member(document, "data_coding", int),
            Outcome(member(outcome, "delivered", bool), member(outcome, "error_code", int),
                    member(outcome, "latency_ms", int), member(outcome, "expired", bool)),
            member(document, "receipt_loss_rate", float), payloads,
            {int(sequence) for sequence in member(document, "arrived", list)},
            message_id=member(document, "message_id", str),
            valid_until_ms=optional_member(document, "valid_until_ms", int),
            udh=bytes.fromhex(udh) if udh is not None else None,
        )
    except (InvalidNumber, ValueError, TypeError) as exc:
        if isinstance(exc, UnreadableState):
            raise
        raise UnreadableState(f"a message: {exc}") from exc
    return message, key, optional_member(document, "gives_up_at_ms", int)


def _read_pdu(value: Any) -> DeliverSm | DataSm:
    try:
        pdu = decode(bytes.fromhex(_str(value, "outboxes")))
    except (ValueError, PduError) as exc:
        if isinstance(exc, UnreadableState):
            raise
        raise UnreadableState(f"an outbox entry: {exc}") from exc
    if not isinstance(pdu, (DeliverSm, DataSm)):
        raise UnreadableState(f"an outbox holds deliver_sm and data_sm, not {pdu.command_name}")
    return pdu


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise UnreadableState(f"{where!r} holds strings, not {value!r:.40}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnreadableState(f"{where!r} holds lists, not {value!r:.40}")
    return value
