"""What a customer's submit_sm (or data_sm) asks for, as the send action's payload.

`parse_submit` reads one submit_sm or data_sm: addresses (an international or unknown-TON number
becomes `+digits`, an alphanumeric sender stays as it is, a NULL source_addr means the project's
default originator for the destination's country), the text (data_coding 0 GSM 03.38 unpacked,
1 IA5, 3 Latin-1, 8 UCS-2, and their message-class variants, class 0 meaning a flash message;
8-bit data, 0x04 or 0x02 and their class forms, as an `mt_binary` batch; anything else
ESME_RINVDCS), the concatenation UDH, registered_delivery, and schedule_delivery_time /
validity_period (absolute or relative SMPP times, read by `tidings.smpp.times`). What the send
action refuses comes back as a `RequestError`, mapped to an SMPP status by `status_for`.

The parts of a concatenated text message are joined durably by `tidings.gateway.parts`. 8-bit
data goes as it came, one batch per PDU with its whole user data header (a part of a longer
binary message keeps its concatenation element): what the application on the handset reads is
exactly what the customer's ESME wrote.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tidings.core.encoding import MAX_SHORT_MESSAGE, Udh, alphabet, decode, is_binary_coding, udh_error
from tidings.core.errors import RequestError
from tidings.smpp import times
from tidings.smpp.constants import CommandStatus, EsmClass, Tag, Ton
from tidings.smpp.pdu import DataSm, SubmitSm
from tidings.smpp.receipt import RECEIPT_TEXT_CHARS
from tidings.smpp.sar import message_bytes, numbered_text, sar_numbering

__all__ = [
    "Answer",
    "Submission",
    "SubmitRefused",
    "is_flash",
    "iso",
    "parse_smpp_time",
    "parse_submit",
    "receipt_wanted",
    "send_payload",
    "status_for",
    "text_of",
]

_TEXT_ALPHABETS = frozenset({0x00, 0x01, 0x03, 0x08})
_RECEIPT_MASK = 0x03


class SubmitRefused(Exception):
    """A submit_sm we answer with `status` without sending anything."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


@dataclass(frozen=True, slots=True)
class Submission:
    """One submit_sm, read."""

    source: str
    destination: str
    payload: bytes
    """short_message (or message_payload) without its UDH."""
    data_coding: int
    udh: Udh | None
    flash: bool
    registered_delivery: int
    send_at_ms: int | None
    expire_at_ms: int | None
    binary_udh: bytes | None = None
    """8-bit data (an `mt_binary` batch): its whole user data header as submitted, length octet
    first (`b""` for none), concatenation element and all; None for text."""

    @property
    def binary(self) -> bool:
        return self.binary_udh is not None

    @property
    def concatenated(self) -> bool:
        """Text in parts, joined before it is sent; a binary part is sent as it came."""
        return self.udh is not None and self.udh.total > 1 and self.binary_udh is None


def is_flash(data_coding: int) -> bool:
    """Message class 0 in a GSM 03.38 data coding scheme (0x10, 0x18, 0xF0 …)."""
    group = data_coding & 0xF0
    return group in (0x10, 0x30, 0xF0) and data_coding & 0x03 == 0


def parse_smpp_time(value: str, now_ms: int, *, status: int) -> int | None:
    """Epoch ms of an SMPP time (`tidings.smpp.times.parse_smpp_time`); None for an empty field.
    One that cannot be read refuses the submit_sm with `status`."""
    try:
        return times.parse_smpp_time(value, now_ms)
    except times.InvalidSmppTime as exc:
        raise SubmitRefused(status, str(exc)) from None


def _number(addr: str, ton: int) -> str | None:
    digits = addr.removeprefix("+")
    if not digits.isdigit():
        return None
    if addr.startswith("+") or ton in (Ton.INTERNATIONAL, Ton.UNKNOWN):
        return "+" + digits
    return None


def _source(addr: str, ton: int) -> str:
    """The sender as the batch takes it; "" for a NULL source_addr (SMPP 3.4: "if not known"),
    which goes out from the project's default originator for the destination's country."""
    if not addr:
        return ""
    if ton == Ton.ALPHANUMERIC:
        return addr
    if ton == Ton.INTERNATIONAL and addr.lstrip("+").isdigit():
        return "+" + addr.lstrip("+")
    return addr  # a short code or national number, sent as the customer wrote it


def _data_sm_expiry(pdu: DataSm, now_ms: int) -> int | None:
    """A data_sm's validity: its qos_time_to_live TLV (seconds), if any."""
    seconds = pdu.tlv_int(Tag.QOS_TIME_TO_LIVE)
    return None if seconds is None else now_ms + seconds * 1000


def parse_submit(pdu: SubmitSm | DataSm, now_ms: int) -> Submission:
    """Read a submit_sm (or a data_sm: the text in message_payload, no schedule, the validity in
    qos_time_to_live); raises `SubmitRefused` with the SMPP status for what cannot be sent."""
    destination = _number(pdu.destination_addr.strip(), pdu.dest_addr_ton)
    if destination is None:
        raise SubmitRefused(CommandStatus.ESME_RINVDSTADR, f"destination_addr {pdu.destination_addr!r}")
    source = _source(pdu.source_addr.strip(), pdu.source_addr_ton)
    if is_binary_coding(pdu.data_coding):
        return _binary_submission(pdu, source, destination, now_ms)
    if alphabet(pdu.data_coding) not in _TEXT_ALPHABETS:
        raise SubmitRefused(CommandStatus.ESME_RINVDCS,
                            f"data_coding 0x{pdu.data_coding:02X} is neither text nor 8-bit data")
    udh, payload = numbered_text(pdu)
    if not payload:
        raise SubmitRefused(CommandStatus.ESME_RINVMSGLEN, "the message is empty")
    if udh is not None and not 1 <= udh.sequence <= udh.total:
        raise SubmitRefused(CommandStatus.ESME_RINVESMCLASS, f"part {udh.sequence} of {udh.total}")
    send_at_ms, expire_at_ms = _schedule(pdu, now_ms)
    return Submission(
        source=source,
        destination=destination,
        payload=payload,
        data_coding=pdu.data_coding,
        udh=udh,
        flash=is_flash(pdu.data_coding),
        registered_delivery=pdu.registered_delivery,
        send_at_ms=send_at_ms,
        expire_at_ms=expire_at_ms,
    )


def _schedule(pdu: SubmitSm | DataSm, now_ms: int) -> tuple[int | None, int | None]:
    """(send_at_ms, expire_at_ms) a submit_sm or data_sm asks for."""
    if isinstance(pdu, DataSm):
        return None, _data_sm_expiry(pdu, now_ms)
    return (parse_smpp_time(pdu.schedule_delivery_time, now_ms, status=CommandStatus.ESME_RINVSCHED),
            parse_smpp_time(pdu.validity_period, now_ms, status=CommandStatus.ESME_RINVEXPIRY))


def split_data(message: bytes, *, udhi: bool) -> tuple[bytes, bytes]:
    """(header, payload) of 8-bit data as a PDU carries it: the user data header whole (length
    octet first; `b""` without UDHI), then the rest. Raises `SubmitRefused` for a header that
    is not sound, an empty message, or more than one SMS holds."""
    header = b""
    if udhi:
        if not message or message[0] + 1 > len(message):
            raise SubmitRefused(CommandStatus.ESME_RINVESMCLASS, "UDHI set but the header runs past the message")
        header = message[: message[0] + 1]
        problem = udh_error(header)
        if problem is not None:
            raise SubmitRefused(CommandStatus.ESME_RINVESMCLASS, f"user data header {problem}")
    if not message:
        raise SubmitRefused(CommandStatus.ESME_RINVMSGLEN, "the message is empty")
    if len(message) > MAX_SHORT_MESSAGE:
        raise SubmitRefused(CommandStatus.ESME_RINVMSGLEN,
                            f"{len(message)} octets of data: at most {MAX_SHORT_MESSAGE}")
    return header, message[len(header):]


def binary_payload(header: bytes, payload: bytes) -> dict[str, str]:
    """The fields of an `mt_binary` batch for 8-bit data."""
    return {"type": "mt_binary", "body": base64.b64encode(payload).decode("ascii"), "udh": header.hex()}


def data_head(header: bytes, payload: bytes) -> str:
    """What a receipt's `text:` shows of 8-bit data: its first octets in hex."""
    return (header + payload)[: RECEIPT_TEXT_CHARS // 2].hex()


def _binary_submission(pdu: SubmitSm | DataSm, source: str, destination: str, now_ms: int) -> Submission:
    """8-bit data, sent as it came: one `mt_binary` batch per PDU, its header (UDHI) kept whole —
    a part of a longer binary message keeps its concatenation element and goes on its own, as a
    carrier's SMSC passes data through; numbering by SAR TLVs has no place in such a batch and
    is refused."""
    if sar_numbering(pdu) is not None:
        raise SubmitRefused(CommandStatus.ESME_RINVOPTPARAMVAL, "SAR numbering of 8-bit data: put it in the UDH")
    header, payload = split_data(message_bytes(pdu), udhi=bool(pdu.esm_class & EsmClass.UDHI))
    send_at_ms, expire_at_ms = _schedule(pdu, now_ms)
    return Submission(source=source, destination=destination, payload=payload, data_coding=pdu.data_coding,
                      udh=None, flash=False, registered_delivery=pdu.registered_delivery, send_at_ms=send_at_ms,
                      expire_at_ms=expire_at_ms, binary_udh=header)


def iso(ms: int) -> str:
    """Epoch ms as the XMS API's ISO 8601 time."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def text_of(parts: Sequence[Submission]) -> str:
    """The message's text: the payloads joined before decoding (a UCS-2 surrogate pair or a GSM
    escape may straddle two parts)."""
    return decode(b"".join(p.payload for p in parts), parts[0].data_coding)


def send_payload(parts: Sequence[Submission], purpose: str = "information",
                 source_type: tuple[int, int] | None = None) -> dict[str, Any]:
    """The send action's body (an XMS batch) for a whole message, sent for `purpose` (the
    service plan's, from the project's policy settings); `source_type`, the source_addr_ton
    and source_addr_npi the customer gave, go on to the carrier as they are."""
    first = parts[0]
    payload: dict[str, Any] = {
        "to": [first.destination],
        "delivery_report": "none",
        "purpose": purpose,
    }
    if first.source:  # else the default originator (`from` left out)
        payload["from"] = first.source
        if source_type is not None:
            payload["from_ton"], payload["from_npi"] = source_type
    if first.binary_udh is not None:
        payload.update(binary_payload(first.binary_udh, first.payload))
    else:
        payload["body"] = text_of(parts)
    if first.flash:
        payload["flash_message"] = True
    if first.send_at_ms is not None:
        payload["send_at"] = iso(first.send_at_ms)
    if first.expire_at_ms is not None:
        payload["expire_at"] = iso(first.expire_at_ms)
    return payload


def receipt_wanted(parts: Sequence[Submission]) -> int:
    """The receipt mode asked for (registered_delivery bits 0-1), the strongest of the parts'."""
    return max(p.registered_delivery & _RECEIPT_MASK for p in parts)


def status_for(error: RequestError) -> int:
    """The SMPP status for a send the send action refused, from the field it names."""
    names = list(error.fields) or [""]
    name = names[0]
    if name.startswith("to"):
        return CommandStatus.ESME_RINVDSTADR
    if name == "from_ton":
        return CommandStatus.ESME_RINVSRCTON
    if name == "from_npi":
        return CommandStatus.ESME_RINVSRCNPI
    if name.startswith("from"):
        return CommandStatus.ESME_RINVSRCADR
    if name == "body":
        return CommandStatus.ESME_RINVMSGLEN
    if name == "send_at":
        return CommandStatus.ESME_RINVSCHED
    if name == "expire_at":
        return CommandStatus.ESME_RINVEXPIRY
    return CommandStatus.ESME_RSUBMITFAIL


Answer = tuple[int, str]
"""(command_status, message_id) of a submit_sm_resp."""
