"""A message's text and its concatenation numbering, wherever a PDU carries them.

The text is in `short_message`, or in the `message_payload` TLV (always, in a data_sm). A part
of a concatenated message is numbered by a UDH concatenation element, or else by the SAR TLVs
(SMPP 3.4 5.3.2.22-24) for SMSCs and ESMEs that use them. Our ESME (receipts and MO), the
sandbox SMSC and the SMPP gateway all read PDUs through `numbered_text`; what must keep a UDH's
other elements (binary messages: application ports …) reads them through `numbered_message`.
"""

from __future__ import annotations

from tidings.core.encoding import Udh, split_udh, split_udh_elements
from tidings.smpp.constants import Tag
from tidings.smpp.fields import TlvValue
from tidings.smpp.pdu import DataSm, Pdu, ShortMessage


def message_bytes(pdu: ShortMessage | DataSm) -> bytes:
    """The message as the PDU carries it, UDH and all: short_message, else message_payload."""
    raw = pdu.short_message if isinstance(pdu, ShortMessage) else b""
    return raw or pdu.tlv_bytes(Tag.MESSAGE_PAYLOAD) or b""


def numbered_text(pdu: ShortMessage | DataSm) -> tuple[Udh | None, bytes]:
    """(numbering, the text's bytes without any UDH) of a submit_sm, deliver_sm or data_sm."""
    udh, payload = split_udh(message_bytes(pdu), pdu.esm_class)
    if udh is None and (sar := sar_numbering(pdu)) is not None:
        udh = Udh(reference=sar[0], total=sar[1], sequence=sar[2])
    return udh, payload


def numbered_message(pdu: ShortMessage | DataSm) -> tuple[Udh | None, bytes, bytes]:
    """(numbering, the UDH's elements other than concatenation as a header of their own — its
    length octet first, `b""` when none —, the payload) of a submit_sm, deliver_sm or data_sm."""
    udh, others, payload = split_udh_elements(message_bytes(pdu), pdu.esm_class)
    if udh is None and (sar := sar_numbering(pdu)) is not None:
        udh = Udh(reference=sar[0], total=sar[1], sequence=sar[2])
    return udh, others, payload


def sar_numbering(pdu: Pdu) -> tuple[int, int, int] | None:
    """(reference, total, sequence) from the SAR TLVs, when all three are there."""
    reference = pdu.tlv_int(Tag.SAR_MSG_REF_NUM)
    total = pdu.tlv_int(Tag.SAR_TOTAL_SEGMENTS)
    sequence = pdu.tlv_int(Tag.SAR_SEGMENT_SEQNUM)
    if reference is None or total is None or sequence is None:
        return None
    return reference, total, sequence


def sar_tlvs(reference: int, total: int, sequence: int) -> dict[int, TlvValue]:
    """The three TLVs for one part (reference 16 bits, total and sequence 8 bits each)."""
    return {Tag.SAR_MSG_REF_NUM: (reference & 0xFFFF).to_bytes(2, "big"),
            Tag.SAR_TOTAL_SEGMENTS: bytes((total,)), Tag.SAR_SEGMENT_SEQNUM: bytes((sequence,))}
