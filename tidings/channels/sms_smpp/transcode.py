"""From an outbound SMS to the submit_sm PDUs that carry it.

A message longer than one part goes as the connection's `long_messages` says: parts each with a
concatenation UDH (`udh`, the default); the same parts without it, numbered by the SAR TLVs
(`sar`, for SMSCs that want them); or the whole text in one submit_sm's `message_payload` TLV
(`payload`), which the SMSC splits itself and answers with one message id and one receipt. The
parts are cut the same way in every mode (153 GSM septets / 67 UCS-2 units), so the segment count
a batch reports is the one the handset bills.

A binary message (`OutboundSms.payload`, at most 140 octets with its header: checked when the
batch was accepted) is one submit_sm with data_coding 0x04 (8-bit data), esm_class UDHI when it
has a user data header, and short_message = header + payload, whatever `long_messages` says.

Every PDU of a message with an expiry carries the same validity_period: the time left until
`expire_at_ms`, as a relative SMPP time (`tidings.smpp.times.validity_period`), so the carrier
stops trying when the batch expires instead of after its own default period.
"""

from __future__ import annotations

from functools import lru_cache

from tidings.channels.base import OutboundSms
from tidings.core.encoding import EncodedMessage, TooManyParts, segment
from tidings.core.errors import PermanentDeliveryError
from tidings.core.statuses import Code
from tidings.smpp.constants import DataCoding, EsmClass, Npi, RegisteredDelivery, Tag, Ton
from tidings.smpp.fields import TlvValue
from tidings.smpp.pdu import SubmitSm
from tidings.smpp.sar import sar_tlvs
from tidings.smpp.times import validity_period

# Data coding with message class 0 ("flash": shown at once, not stored): GSM 7-bit / UCS-2.
FLASH_GSM = 0x10
FLASH_UCS2 = 0x18
SHORT_CODE_MAX_DIGITS = 8


def address(value: str) -> tuple[str, int, int]:
    """(address, ton, npi): '+4670…' is international E.164, a short run of digits a short code,
    anything else an alphanumeric sender id."""
    if value.startswith("+") and value[1:].isdigit():
        return value[1:], Ton.INTERNATIONAL, Npi.ISDN
    if value.isdigit():
        if len(value) <= SHORT_CODE_MAX_DIGITS:
            return value, Ton.NETWORK_SPECIFIC, Npi.UNKNOWN
        return value, Ton.INTERNATIONAL, Npi.ISDN
    return value, Ton.ALPHANUMERIC, Npi.UNKNOWN


_NO_NUMBERING_PLAN = frozenset({Ton.ALPHANUMERIC, Ton.NETWORK_SPECIFIC, Ton.ABBREVIATED})


def sender_address(message: OutboundSms) -> tuple[str, int, int]:
    """The sender as `address` reads it, unless the batch set its type of number or numbering
    plan (XMS `from_ton`, `from_npi`): those go out as set, '+' left off a number. Given only a
    type, the plan follows it: none for an alphanumeric, network-specific or abbreviated
    sender, ISDN (E.164) for the others."""
    value = message.sender or ""
    detected = address(value)
    if message.sender_ton is None and message.sender_npi is None:
        return detected
    ton = detected[1] if message.sender_ton is None else message.sender_ton
    npi = message.sender_npi
    if npi is None:
        npi = Npi.UNKNOWN if ton in _NO_NUMBERING_PLAN else Npi.ISDN
    source = value[1:] if value.startswith("+") and value[1:].isdigit() else value
    return source, ton, npi


def encode_message(message: OutboundSms, reference: int) -> EncodedMessage:
    try:
        single = _single_part(message.body, message.max_parts, message.truncate)
        if single is not None:
            return single
        return segment(message.body, reference=reference, max_parts=message.max_parts,
                       truncate=message.truncate)
    except TooManyParts as exc:
        raise PermanentDeliveryError(str(exc), Code.EXCEEDED_PARTS_LIMIT) from exc


@lru_cache(maxsize=256)
def _single_part(body: str, max_parts: int | None, truncate: bool) -> EncodedMessage | None:
    """The encoding of a body that fits one part (no UDH, so no reference in it): a batch's
    recipients share one body, and segmenting it was ~4 % of the dispatch CPU. None for longer ones."""
    encoded = segment(body, reference=0, max_parts=max_parts, truncate=truncate)
    return encoded if len(encoded.parts) == 1 else None


def submit_pdus(message: OutboundSms, reference: int, long_messages: str = "udh", *,
                now_ms: int | None = None) -> list[SubmitSm]:
    """The submit_sm PDUs of `message`; `now_ms` (epoch ms) is the moment they go out, needed
    for a message with an expiry (their validity_period counts from it)."""
    if message.expire_at_ms is None:
        validity = ""
    elif now_ms is None:
        raise ValueError("a message with an expiry needs the time it is sent (now_ms)")
    else:
        validity = validity_period(message.expire_at_ms, now_ms)
    if message.payload is not None:
        return [_binary_pdu(message, validity)]
    encoded = encode_message(message, reference)
    source, source_ton, source_npi = sender_address(message)
    destination, dest_ton, dest_npi = address(message.recipient)
    data_coding = encoded.data_coding
    if message.flash:
        data_coding = FLASH_UCS2 if data_coding == DataCoding.UCS2 else FLASH_GSM

    def pdu(short_message: bytes, esm_class: int = EsmClass.DEFAULT,
            tlvs: dict[int, TlvValue] | None = None) -> SubmitSm:
        return SubmitSm(
            source_addr=source, source_addr_ton=source_ton, source_addr_npi=source_npi,
            destination_addr=destination, dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
            esm_class=esm_class, validity_period=validity,
            registered_delivery=RegisteredDelivery.ON_SUCCESS_OR_FAILURE,
            data_coding=data_coding, short_message=short_message, tlvs=tlvs or {},
        )

    if not encoded.udhi:
        return [pdu(encoded.parts[0])]
    if long_messages == "udh":
        return [pdu(part, EsmClass.UDHI) for part in encoded.parts]
    payloads = [part[part[0] + 1:] for part in encoded.parts]  # without the UDH (its length byte first)
    if long_messages == "payload":
        return [pdu(b"", tlvs={Tag.MESSAGE_PAYLOAD: b"".join(payloads)})]
    return [pdu(payload, tlvs=sar_tlvs(reference, len(payloads), sequence))
            for sequence, payload in enumerate(payloads, 1)]


def _binary_pdu(message: OutboundSms, validity: str) -> SubmitSm:
    assert message.payload is not None
    source, source_ton, source_npi = sender_address(message)
    destination, dest_ton, dest_npi = address(message.recipient)
    return SubmitSm(
        source_addr=source, source_addr_ton=source_ton, source_addr_npi=source_npi,
        destination_addr=destination, dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
        esm_class=EsmClass.UDHI if message.udh else EsmClass.DEFAULT, validity_period=validity,
        registered_delivery=RegisteredDelivery.ON_SUCCESS_OR_FAILURE,
        data_coding=DataCoding.OCTET_UNSPECIFIED_COMMON, short_message=message.udh + message.payload,
    )
