"""Wire primitives shared by every PDU body: C-octet strings, their limits, and TLVs.

C-octet strings are `str` encoded as Latin-1, which maps every octet to one character, so a
carrier's stray 8-bit byte decodes instead of failing and round-trips unchanged. TLVs are a dict
from tag to value in wire order: known integer tags decode to `int`, known text tags to `str`,
everything else (unknown tags included) stays raw `bytes`; a `bytes` value is written back
verbatim for any tag, so nothing a peer sent is lost. An integer TLV whose length is not the
specified width is kept as `bytes` rather than rejected.
"""

from __future__ import annotations

import struct

from tidings.smpp.constants import CommandStatus, Tag
from tidings.smpp.errors import EncodeError, PduError

__all__ = [
    "ADDRESS_RANGE_MAX",
    "DATA_SM_ADDRESS_MAX",
    "MESSAGE_ID_MAX",
    "PASSWORD_MAX",
    "SERVICE_TYPE_MAX",
    "SM_ADDRESS_MAX",
    "SYSTEM_ID_MAX",
    "SYSTEM_TYPE_MAX",
    "TEXT_ENCODING",
    "TIME_MAX",
    "TlvValue",
    "decode_cstr",
    "decode_tail_tlvs",
    "decode_tlvs",
    "encode_cstr",
    "encode_tlvs",
]

TlvValue = int | str | bytes

# Maximum octets of each C-octet string, not counting its terminating NUL (SMPP 3.4 section 4).
SYSTEM_ID_MAX = 15
PASSWORD_MAX = 8
SYSTEM_TYPE_MAX = 12
ADDRESS_RANGE_MAX = 40
SERVICE_TYPE_MAX = 5
SM_ADDRESS_MAX = 20
DATA_SM_ADDRESS_MAX = 64
MESSAGE_ID_MAX = 64
TIME_MAX = 16

TEXT_ENCODING = "latin-1"

_TLV_HEADER = struct.Struct(">HH")
_NUL = b"\0"
_TEXT = TEXT_ENCODING

_S = CommandStatus

# How a known TLV's value is typed: an int of that many octets, or text, or raw octets.
_TLV_OCTETS = 0
_TLV_TEXT = -1
_TLV_KINDS: dict[int, int] = {
    Tag.DEST_ADDR_SUBUNIT: 1,
    Tag.DEST_NETWORK_TYPE: 1,
    Tag.DEST_BEARER_TYPE: 1,
    Tag.DEST_TELEMATICS_ID: 2,
    Tag.SOURCE_ADDR_SUBUNIT: 1,
    Tag.SOURCE_NETWORK_TYPE: 1,
    Tag.SOURCE_BEARER_TYPE: 1,
    Tag.SOURCE_TELEMATICS_ID: 1,
    Tag.QOS_TIME_TO_LIVE: 4,
    Tag.PAYLOAD_TYPE: 1,
    Tag.ADDITIONAL_STATUS_INFO_TEXT: _TLV_TEXT,
    Tag.RECEIPTED_MESSAGE_ID: _TLV_TEXT,
    Tag.MS_MSG_WAIT_FACILITIES: 1,
    Tag.PRIVACY_INDICATOR: 1,
    Tag.USER_MESSAGE_REFERENCE: 2,
    Tag.USER_RESPONSE_CODE: 1,
    Tag.SOURCE_PORT: 2,
    Tag.DESTINATION_PORT: 2,
    Tag.SAR_MSG_REF_NUM: 2,
    Tag.LANGUAGE_INDICATOR: 1,
    Tag.SAR_TOTAL_SEGMENTS: 1,
    Tag.SAR_SEGMENT_SEQNUM: 1,
    Tag.SC_INTERFACE_VERSION: 1,
    Tag.CALLBACK_NUM_PRES_IND: 1,
    Tag.NUMBER_OF_MESSAGES: 1,
    Tag.DPF_RESULT: 1,
    Tag.SET_DPF: 1,
    Tag.MS_AVAILABILITY_STATUS: 1,
    Tag.DELIVERY_FAILURE_REASON: 1,
    Tag.MORE_MESSAGES_TO_SEND: 1,
    Tag.MESSAGE_STATE: 1,
    Tag.USSD_SERVICE_OP: 1,
    Tag.DISPLAY_TIME: 1,
    Tag.SMS_SIGNAL: 2,
    Tag.MS_VALIDITY: 1,
    Tag.ITS_REPLY_TYPE: 1,
}


def encode_cstr(value: str, limit: int, status: int, name: str) -> bytes:
    try:
        raw = value.encode(_TEXT)
    except (UnicodeEncodeError, AttributeError) as exc:
        raise EncodeError(status, f"{name} must be Latin-1 text") from exc
    if len(raw) > limit or _NUL in raw:
        raise EncodeError(status, f"{name} must be at most {limit} octets without NUL")
    return raw + _NUL


def decode_cstr(data: bytes, pos: int, limit: int, status: int, name: str) -> tuple[str, int]:
    end = data.find(_NUL, pos, pos + limit + 1)
    if end < 0:
        if len(data) > pos + limit:
            raise PduError(status, f"{name} longer than {limit} octets")
        raise PduError(_S.ESME_RINVCMDLEN, f"{name} runs past the end of the PDU")
    return data[pos:end].decode(_TEXT), end + 1


def encode_tlvs(tlvs: dict[int, TlvValue]) -> bytes:
    parts = []
    for tag, value in tlvs.items():
        if isinstance(value, bytes):
            raw = value
        else:
            kind = _TLV_KINDS.get(tag, _TLV_OCTETS)
            if isinstance(value, str) and kind == _TLV_TEXT:
                raw = value.encode(_TEXT) + _NUL
            elif isinstance(value, int) and kind > 0:
                try:
                    raw = value.to_bytes(kind, "big")
                except OverflowError as exc:
                    raise EncodeError(_S.ESME_RINVOPTPARAMVAL, f"TLV 0x{tag:04X} does not fit {kind} octets") from exc
            else:
                raise EncodeError(_S.ESME_RINVOPTPARAMVAL, f"TLV 0x{tag:04X} cannot hold {type(value).__name__}")
        parts.append(_TLV_HEADER.pack(tag, len(raw)))
        parts.append(raw)
    return b"".join(parts)


def decode_tlvs(data: bytes, pos: int) -> dict[int, TlvValue]:
    tlvs: dict[int, TlvValue] = {}
    size = len(data)
    while pos < size:
        if pos + _TLV_HEADER.size > size:
            raise PduError(_S.ESME_RINVOPTPARSTREAM, "truncated TLV header")
        tag, length = _TLV_HEADER.unpack_from(data, pos)
        pos += _TLV_HEADER.size
        end = pos + length
        if end > size:
            raise PduError(_S.ESME_RINVOPTPARSTREAM, f"TLV 0x{tag:04X} runs past the end of the PDU")
        raw = data[pos:end]
        kind = _TLV_KINDS.get(tag, _TLV_OCTETS)
        if kind == _TLV_TEXT:
            # Tolerant: some SMSCs omit the NUL of receipted_message_id.
            tlvs[tag] = (raw[:-1] if raw.endswith(_NUL) else raw).decode(_TEXT)
        elif kind > 0 and kind == length:
            tlvs[tag] = int.from_bytes(raw, "big")
        else:
            tlvs[tag] = raw
        pos = end
    return tlvs


def decode_tail_tlvs(data: bytes, pos: int) -> dict[int, TlvValue]:
    return decode_tlvs(data, pos) if pos < len(data) else {}
