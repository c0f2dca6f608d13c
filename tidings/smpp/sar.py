"""The SAR TLVs (SMPP 3.4 5.3.2.22-24): a concatenated message's numbering carried beside the
text instead of in a UDH, for SMSCs and ESMEs that use them."""

from __future__ import annotations

from tidings.smpp.constants import Tag
from tidings.smpp.fields import TlvValue
from tidings.smpp.pdu import Pdu


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
