"""SMPP 3.4 PDUs: one slotted dataclass per command, `encode()` to bytes and `decode()` back.

This is the hot path (every submit, receipt and response crosses it), so the codec is written out
per body shape rather than driven by a field table: precompiled `struct` headers, single-octet
integers read by indexing, C-octet strings found with `bytes.find` bounded by their maximum length,
one `b"".join` per encode, no intermediate dicts. Submit and deliver share one body, as do the three
binds, the three bind responses and the three message_id responses.

C-octet strings are `str` and TLVs a dict in `pdu.tlvs` (see `tidings.smpp.fields`); read TLVs with
`tlv_int`, `tlv_str` and `tlv_bytes` whichever form arrived. short_message is `bytes`: its
encoding is named by data_coding, and transcoding text belongs to the channel, not the codec.

Malformed input raises `PduError` carrying the command_status to answer with: ESME_RINVCMDLEN for
framing and truncation, ESME_RINVCMDID for an unknown command, ESME_RINVMSGLEN for a bad sm_length,
ESME_RINVOPTPARSTREAM for a broken TLV stream, and a field's own status (ESME_RINVSRCADR,
ESME_RINVPASWD...) for a field longer than the specification allows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Self

from tidings.smpp.constants import (
    HEADER_SIZE,
    INTERFACE_VERSION,
    MAX_SHORT_MESSAGE,
    RESPONSE_BIT,
    CommandId,
    CommandStatus,
)
from tidings.smpp.errors import EncodeError, PduError
from tidings.smpp.fields import (
    ADDRESS_RANGE_MAX,
    DATA_SM_ADDRESS_MAX,
    MESSAGE_ID_MAX,
    PASSWORD_MAX,
    SERVICE_TYPE_MAX,
    SM_ADDRESS_MAX,
    SYSTEM_ID_MAX,
    SYSTEM_TYPE_MAX,
    TEXT_ENCODING,
    TIME_MAX,
    TlvValue,
    decode_cstr,
    decode_tail_tlvs,
    encode_cstr,
    encode_tlvs,
)

__all__ = [
    "PDU_CLASSES",
    "BindReceiver",
    "BindReceiverResp",
    "BindRequest",
    "BindResponse",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CancelSm",
    "CancelSmResp",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "MessageIdResponse",
    "Pdu",
    "QuerySm",
    "QuerySmResp",
    "ReplaceSm",
    "ReplaceSmResp",
    "ShortMessage",
    "SubmitSm",
    "SubmitSmResp",
    "Unbind",
    "UnbindResp",
    "decode",
    "error_response",
    "read_command_length",
]

_HEADER = struct.Struct(">IIII")
_LENGTH = struct.Struct(">I")
_TWO = struct.Struct(">BB")
_THREE = struct.Struct(">BBB")
_FIVE = struct.Struct(">BBBBB")
_S = CommandStatus


@dataclass(slots=True, kw_only=True)
class Pdu:
    """Header fields and TLVs; subclasses add their mandatory body fields."""

    command_id: ClassVar[int]
    response_class: ClassVar[type[Pdu] | None] = None

    sequence_number: int = 0
    command_status: int = 0
    tlvs: dict[int, TlvValue] = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    @property
    def command_name(self) -> str:
        return CommandId(self.command_id).name.lower()

    def encode(self) -> bytes:
        try:
            body = self._encode_body()
            if self.tlvs:
                body += encode_tlvs(self.tlvs)
            header = _HEADER.pack(HEADER_SIZE + len(body), self.command_id, self.command_status, self.sequence_number)
        except (struct.error, TypeError) as exc:
            raise EncodeError(_S.ESME_RINVPARLEN, f"{type(self).__name__}: {exc}") from exc
        return header + body

    def _encode_body(self) -> bytes:
        return b""

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        return cls(sequence_number=sequence_number, command_status=command_status, tlvs=decode_tail_tlvs(data, HEADER_SIZE))

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Decode one whole PDU, which must be of this class (or any class when called on `Pdu`)."""
        pdu = decode(data)
        if not isinstance(pdu, cls):
            raise PduError(
                _S.ESME_RINVCMDID,
                f"expected {cls.__name__}, got {type(pdu).__name__}",
                command_id=pdu.command_id,
                sequence_number=pdu.sequence_number,
            )
        return pdu

    def response(self, command_status: int = _S.ESME_ROK) -> Pdu:
        """The response to this request, with its sequence number; body fields keep their defaults."""
        if self.response_class is None:
            raise TypeError(f"{type(self).__name__} has no response PDU")
        return self.response_class(sequence_number=self.sequence_number, command_status=command_status)

    def tlv_int(self, tag: int) -> int | None:
        value = self.tlvs.get(tag)
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, bytes) and 0 < len(value) <= 4:
            return int.from_bytes(value, "big")
        return None

    def tlv_str(self, tag: int) -> str | None:
        value = self.tlvs.get(tag)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.rstrip(b"\0").decode(TEXT_ENCODING)
        return None

    def tlv_bytes(self, tag: int) -> bytes | None:
        value = self.tlvs.get(tag)
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode(TEXT_ENCODING)
        return None


# -- header-only PDUs -------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class GenericNack(Pdu):
    command_id: ClassVar[int] = CommandId.GENERIC_NACK


@dataclass(slots=True, kw_only=True)
class UnbindResp(Pdu):
    command_id: ClassVar[int] = CommandId.UNBIND_RESP


@dataclass(slots=True, kw_only=True)
class Unbind(Pdu):
    command_id: ClassVar[int] = CommandId.UNBIND
    response_class: ClassVar[type[Pdu] | None] = UnbindResp


@dataclass(slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK_RESP


@dataclass(slots=True, kw_only=True)
class EnquireLink(Pdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK
    response_class: ClassVar[type[Pdu] | None] = EnquireLinkResp


# -- bind ----------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class BindResponse(Pdu):
    """bind_*_resp: the SMSC's system_id; the body is left out when the bind is refused."""

    system_id: str = ""

    def _encode_body(self) -> bytes:
        if self.command_status and not self.system_id:
            return b""
        return encode_cstr(self.system_id, SYSTEM_ID_MAX, _S.ESME_RINVSYSID, "system_id")

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        if len(data) == HEADER_SIZE:
            return cls(sequence_number=sequence_number, command_status=command_status)
        system_id, pos = decode_cstr(data, HEADER_SIZE, SYSTEM_ID_MAX, _S.ESME_RINVSYSID, "system_id")
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            system_id=system_id,
            tlvs=decode_tail_tlvs(data, pos),
        )


@dataclass(slots=True, kw_only=True)
class BindTransmitterResp(BindResponse):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(slots=True, kw_only=True)
class BindReceiverResp(BindResponse):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER_RESP


@dataclass(slots=True, kw_only=True)
class BindTransceiverResp(BindResponse):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(slots=True, kw_only=True)
class BindRequest(Pdu):
    """bind_transmitter, bind_receiver and bind_transceiver share this body."""

    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def _encode_body(self) -> bytes:
        return b"".join(
            (
                encode_cstr(self.system_id, SYSTEM_ID_MAX, _S.ESME_RINVSYSID, "system_id"),
                encode_cstr(self.password, PASSWORD_MAX, _S.ESME_RINVPASWD, "password"),
                encode_cstr(self.system_type, SYSTEM_TYPE_MAX, _S.ESME_RINVSYSTYP, "system_type"),
                _THREE.pack(self.interface_version, self.addr_ton, self.addr_npi),
                encode_cstr(self.address_range, ADDRESS_RANGE_MAX, _S.ESME_RINVPARLEN, "address_range"),
            )
        )

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        system_id, pos = decode_cstr(data, HEADER_SIZE, SYSTEM_ID_MAX, _S.ESME_RINVSYSID, "system_id")
        password, pos = decode_cstr(data, pos, PASSWORD_MAX, _S.ESME_RINVPASWD, "password")
        system_type, pos = decode_cstr(data, pos, SYSTEM_TYPE_MAX, _S.ESME_RINVSYSTYP, "system_type")
        interface_version, addr_ton, addr_npi = data[pos], data[pos + 1], data[pos + 2]
        address_range, pos = decode_cstr(data, pos + 3, ADDRESS_RANGE_MAX, _S.ESME_RINVPARLEN, "address_range")
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            system_id=system_id,
            password=password,
            system_type=system_type,
            interface_version=interface_version,
            addr_ton=addr_ton,
            addr_npi=addr_npi,
            address_range=address_range,
            tlvs=decode_tail_tlvs(data, pos),
        )


@dataclass(slots=True, kw_only=True)
class BindTransmitter(BindRequest):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER
    response_class: ClassVar[type[Pdu] | None] = BindTransmitterResp


@dataclass(slots=True, kw_only=True)
class BindReceiver(BindRequest):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER
    response_class: ClassVar[type[Pdu] | None] = BindReceiverResp


@dataclass(slots=True, kw_only=True)
class BindTransceiver(BindRequest):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER
    response_class: ClassVar[type[Pdu] | None] = BindTransceiverResp


# -- submit_sm / deliver_sm ------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class MessageIdResponse(Pdu):
    """submit_sm_resp, deliver_sm_resp and data_sm_resp: a message_id, omitted on error."""

    message_id: str = ""

    def _encode_body(self) -> bytes:
        if self.command_status and not self.message_id:
            return b""
        return encode_cstr(self.message_id, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id")

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        if len(data) == HEADER_SIZE:
            return cls(sequence_number=sequence_number, command_status=command_status)
        message_id, pos = decode_cstr(data, HEADER_SIZE, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id")
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            message_id=message_id,
            tlvs=decode_tail_tlvs(data, pos),
        )


@dataclass(slots=True, kw_only=True)
class SubmitSmResp(MessageIdResponse):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM_RESP


@dataclass(slots=True, kw_only=True)
class DeliverSmResp(MessageIdResponse):
    command_id: ClassVar[int] = CommandId.DELIVER_SM_RESP


@dataclass(slots=True, kw_only=True)
class DataSmResp(MessageIdResponse):
    command_id: ClassVar[int] = CommandId.DATA_SM_RESP


@dataclass(slots=True, kw_only=True)
class ShortMessage(Pdu):
    """The body shared by submit_sm and deliver_sm."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    def _encode_body(self) -> bytes:
        message = self.short_message
        if len(message) > MAX_SHORT_MESSAGE:
            raise EncodeError(_S.ESME_RINVMSGLEN,
                              f"short_message is {len(message)} octets, at most {MAX_SHORT_MESSAGE}")
        return b"".join(
            (
                encode_cstr(self.service_type, SERVICE_TYPE_MAX, _S.ESME_RINVSERTYP, "service_type"),
                _TWO.pack(self.source_addr_ton, self.source_addr_npi),
                encode_cstr(self.source_addr, SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr"),
                _TWO.pack(self.dest_addr_ton, self.dest_addr_npi),
                encode_cstr(self.destination_addr, SM_ADDRESS_MAX, _S.ESME_RINVDSTADR, "destination_addr"),
                _THREE.pack(self.esm_class, self.protocol_id, self.priority_flag),
                encode_cstr(self.schedule_delivery_time, TIME_MAX, _S.ESME_RINVSCHED, "schedule_delivery_time"),
                encode_cstr(self.validity_period, TIME_MAX, _S.ESME_RINVEXPIRY, "validity_period"),
                _FIVE.pack(
                    self.registered_delivery,
                    self.replace_if_present_flag,
                    self.data_coding,
                    self.sm_default_msg_id,
                    len(message),
                ),
                message,
            )
        )

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        service_type, pos = decode_cstr(data, HEADER_SIZE, SERVICE_TYPE_MAX, _S.ESME_RINVSERTYP, "service_type")
        source_addr_ton, source_addr_npi = data[pos], data[pos + 1]
        source_addr, pos = decode_cstr(data, pos + 2, SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr")
        dest_addr_ton, dest_addr_npi = data[pos], data[pos + 1]
        destination_addr, pos = decode_cstr(data, pos + 2, SM_ADDRESS_MAX, _S.ESME_RINVDSTADR, "destination_addr")
        esm_class, protocol_id, priority_flag = data[pos], data[pos + 1], data[pos + 2]
        schedule, pos = decode_cstr(data, pos + 3, TIME_MAX, _S.ESME_RINVSCHED, "schedule_delivery_time")
        validity, pos = decode_cstr(data, pos, TIME_MAX, _S.ESME_RINVEXPIRY, "validity_period")
        registered_delivery, replace_if_present, data_coding, default_msg_id, sm_length = _FIVE.unpack_from(data, pos)
        pos += _FIVE.size
        end = pos + sm_length
        if sm_length > MAX_SHORT_MESSAGE or end > len(data):
            raise PduError(_S.ESME_RINVMSGLEN, f"sm_length {sm_length} does not fit the PDU")
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            service_type=service_type,
            source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi,
            source_addr=source_addr,
            dest_addr_ton=dest_addr_ton,
            dest_addr_npi=dest_addr_npi,
            destination_addr=destination_addr,
            esm_class=esm_class,
            protocol_id=protocol_id,
            priority_flag=priority_flag,
            schedule_delivery_time=schedule,
            validity_period=validity,
            registered_delivery=registered_delivery,
            replace_if_present_flag=replace_if_present,
            data_coding=data_coding,
            sm_default_msg_id=default_msg_id,
            short_message=data[pos:end],
            tlvs=decode_tail_tlvs(data, end),
        )


@dataclass(slots=True, kw_only=True)
class SubmitSm(ShortMessage):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM
    response_class: ClassVar[type[Pdu] | None] = SubmitSmResp


@dataclass(slots=True, kw_only=True)
class DeliverSm(ShortMessage):
    command_id: ClassVar[int] = CommandId.DELIVER_SM
    response_class: ClassVar[type[Pdu] | None] = DeliverSmResp


# -- data_sm / query_sm ----------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class DataSm(Pdu):
    command_id: ClassVar[int] = CommandId.DATA_SM
    response_class: ClassVar[type[Pdu] | None] = DataSmResp

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0

    def _encode_body(self) -> bytes:
        return b"".join(
            (
                encode_cstr(self.service_type, SERVICE_TYPE_MAX, _S.ESME_RINVSERTYP, "service_type"),
                _TWO.pack(self.source_addr_ton, self.source_addr_npi),
                encode_cstr(self.source_addr, DATA_SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr"),
                _TWO.pack(self.dest_addr_ton, self.dest_addr_npi),
                encode_cstr(self.destination_addr, DATA_SM_ADDRESS_MAX, _S.ESME_RINVDSTADR, "destination_addr"),
                _THREE.pack(self.esm_class, self.registered_delivery, self.data_coding),
            )
        )

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        service_type, pos = decode_cstr(data, HEADER_SIZE, SERVICE_TYPE_MAX, _S.ESME_RINVSERTYP, "service_type")
        source_addr_ton, source_addr_npi = data[pos], data[pos + 1]
        source_addr, pos = decode_cstr(data, pos + 2, DATA_SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr")
        dest_addr_ton, dest_addr_npi = data[pos], data[pos + 1]
        destination_addr, pos = decode_cstr(data, pos + 2, DATA_SM_ADDRESS_MAX, _S.ESME_RINVDSTADR, "destination_addr")
        esm_class, registered_delivery, data_coding = data[pos], data[pos + 1], data[pos + 2]
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            service_type=service_type,
            source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi,
            source_addr=source_addr,
            dest_addr_ton=dest_addr_ton,
            dest_addr_npi=dest_addr_npi,
            destination_addr=destination_addr,
            esm_class=esm_class,
            registered_delivery=registered_delivery,
            data_coding=data_coding,
            tlvs=decode_tail_tlvs(data, pos + 3),
        )


@dataclass(slots=True, kw_only=True)
class QuerySmResp(Pdu):
    command_id: ClassVar[int] = CommandId.QUERY_SM_RESP

    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0

    def _encode_body(self) -> bytes:
        if self.command_status and not self.message_id:
            return b""
        return b"".join(
            (
                encode_cstr(self.message_id, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id"),
                encode_cstr(self.final_date, TIME_MAX, _S.ESME_RINVPARLEN, "final_date"),
                _TWO.pack(self.message_state, self.error_code),
            )
        )

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        if len(data) == HEADER_SIZE:
            return cls(sequence_number=sequence_number, command_status=command_status)
        message_id, pos = decode_cstr(data, HEADER_SIZE, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id")
        final_date, pos = decode_cstr(data, pos, TIME_MAX, _S.ESME_RINVPARLEN, "final_date")
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            message_id=message_id,
            final_date=final_date,
            message_state=data[pos],
            error_code=data[pos + 1],
            tlvs=decode_tail_tlvs(data, pos + 2),
        )


@dataclass(slots=True, kw_only=True)
class QuerySm(Pdu):
    command_id: ClassVar[int] = CommandId.QUERY_SM
    response_class: ClassVar[type[Pdu] | None] = QuerySmResp

    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""

    def _encode_body(self) -> bytes:
        return b"".join(
            (
                encode_cstr(self.message_id, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id"),
                _TWO.pack(self.source_addr_ton, self.source_addr_npi),
                encode_cstr(self.source_addr, SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr"),
            )
        )

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        message_id, pos = decode_cstr(data, HEADER_SIZE, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id")
        source_addr_ton, source_addr_npi = data[pos], data[pos + 1]
        source_addr, pos = decode_cstr(data, pos + 2, SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr")
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            message_id=message_id,
            source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi,
            source_addr=source_addr,
            tlvs=decode_tail_tlvs(data, pos),
        )


# -- cancel_sm / replace_sm ------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class CancelSmResp(Pdu):
    command_id: ClassVar[int] = CommandId.CANCEL_SM_RESP


@dataclass(slots=True, kw_only=True)
class CancelSm(Pdu):
    """Cancel a message not yet delivered: the one `message_id` names, or (message_id empty)
    every one from `source_addr` to `destination_addr` (of `service_type`, when given)."""

    command_id: ClassVar[int] = CommandId.CANCEL_SM
    response_class: ClassVar[type[Pdu] | None] = CancelSmResp

    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""

    def _encode_body(self) -> bytes:
        return b"".join(
            (
                encode_cstr(self.service_type, SERVICE_TYPE_MAX, _S.ESME_RINVSERTYP, "service_type"),
                encode_cstr(self.message_id, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id"),
                _TWO.pack(self.source_addr_ton, self.source_addr_npi),
                encode_cstr(self.source_addr, SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr"),
                _TWO.pack(self.dest_addr_ton, self.dest_addr_npi),
                encode_cstr(self.destination_addr, SM_ADDRESS_MAX, _S.ESME_RINVDSTADR, "destination_addr"),
            )
        )

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        service_type, pos = decode_cstr(data, HEADER_SIZE, SERVICE_TYPE_MAX, _S.ESME_RINVSERTYP, "service_type")
        message_id, pos = decode_cstr(data, pos, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id")
        source_addr_ton, source_addr_npi = data[pos], data[pos + 1]
        source_addr, pos = decode_cstr(data, pos + 2, SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr")
        dest_addr_ton, dest_addr_npi = data[pos], data[pos + 1]
        destination_addr, pos = decode_cstr(data, pos + 2, SM_ADDRESS_MAX, _S.ESME_RINVDSTADR, "destination_addr")
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            service_type=service_type,
            message_id=message_id,
            source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi,
            source_addr=source_addr,
            dest_addr_ton=dest_addr_ton,
            dest_addr_npi=dest_addr_npi,
            destination_addr=destination_addr,
            tlvs=decode_tail_tlvs(data, pos),
        )


@dataclass(slots=True, kw_only=True)
class ReplaceSmResp(Pdu):
    command_id: ClassVar[int] = CommandId.REPLACE_SM_RESP


@dataclass(slots=True, kw_only=True)
class ReplaceSm(Pdu):
    """Replace the text (and times, receipt mode) of a message not yet delivered. The new
    short_message is in the replaced message's data_coding; empty times keep the old ones."""

    command_id: ClassVar[int] = CommandId.REPLACE_SM
    response_class: ClassVar[type[Pdu] | None] = ReplaceSmResp

    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    def _encode_body(self) -> bytes:
        message = self.short_message
        if len(message) > MAX_SHORT_MESSAGE:
            raise EncodeError(_S.ESME_RINVMSGLEN,
                              f"short_message is {len(message)} octets, at most {MAX_SHORT_MESSAGE}")
        return b"".join(
            (
                encode_cstr(self.message_id, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id"),
                _TWO.pack(self.source_addr_ton, self.source_addr_npi),
                encode_cstr(self.source_addr, SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr"),
                encode_cstr(self.schedule_delivery_time, TIME_MAX, _S.ESME_RINVSCHED, "schedule_delivery_time"),
                encode_cstr(self.validity_period, TIME_MAX, _S.ESME_RINVEXPIRY, "validity_period"),
                _THREE.pack(self.registered_delivery, self.sm_default_msg_id, len(message)),
                message,
            )
        )

    @classmethod
    def _decode(cls, data: bytes, sequence_number: int, command_status: int) -> Self:
        message_id, pos = decode_cstr(data, HEADER_SIZE, MESSAGE_ID_MAX, _S.ESME_RINVMSGID, "message_id")
        source_addr_ton, source_addr_npi = data[pos], data[pos + 1]
        source_addr, pos = decode_cstr(data, pos + 2, SM_ADDRESS_MAX, _S.ESME_RINVSRCADR, "source_addr")
        schedule, pos = decode_cstr(data, pos, TIME_MAX, _S.ESME_RINVSCHED, "schedule_delivery_time")
        validity, pos = decode_cstr(data, pos, TIME_MAX, _S.ESME_RINVEXPIRY, "validity_period")
        registered_delivery, default_msg_id, sm_length = _THREE.unpack_from(data, pos)
        pos += _THREE.size
        end = pos + sm_length
        if sm_length > MAX_SHORT_MESSAGE or end > len(data):
            raise PduError(_S.ESME_RINVMSGLEN, f"sm_length {sm_length} does not fit the PDU")
        return cls(
            sequence_number=sequence_number,
            command_status=command_status,
            message_id=message_id,
            source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi,
            source_addr=source_addr,
            schedule_delivery_time=schedule,
            validity_period=validity,
            registered_delivery=registered_delivery,
            sm_default_msg_id=default_msg_id,
            short_message=data[pos:end],
            tlvs=decode_tail_tlvs(data, end),
        )


# -- decoding ----------------------------------------------------------------------------------------

PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        GenericNack,
        BindTransmitter,
        BindTransmitterResp,
        BindReceiver,
        BindReceiverResp,
        BindTransceiver,
        BindTransceiverResp,
        Unbind,
        UnbindResp,
        EnquireLink,
        EnquireLinkResp,
        SubmitSm,
        SubmitSmResp,
        DeliverSm,
        DeliverSmResp,
        DataSm,
        DataSmResp,
        QuerySm,
        QuerySmResp,
        CancelSm,
        CancelSmResp,
        ReplaceSm,
        ReplaceSmResp,
    )
}
"""Every command this codec understands, by command_id."""


def read_command_length(prefix: bytes) -> int:
    """The command_length announced by the first four octets of a frame."""
    return int(_LENGTH.unpack_from(prefix)[0])


def decode(data: bytes) -> Pdu:
    """Decode exactly one PDU; `data` must be the whole frame, command_length included."""
    size = len(data)
    if size < HEADER_SIZE:
        raise PduError(_S.ESME_RINVCMDLEN, f"{size} octets is shorter than a PDU header")
    length, command_id, command_status, sequence_number = _HEADER.unpack_from(data)
    if length != size:
        raise PduError(
            _S.ESME_RINVCMDLEN,
            f"command_length {length} but the frame has {size} octets",
            command_id=command_id,
            sequence_number=sequence_number,
        )
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise PduError(
            _S.ESME_RINVCMDID,
            f"unknown command_id 0x{command_id:08X}",
            command_id=command_id,
            sequence_number=sequence_number,
        )
    try:
        return cls._decode(data, sequence_number, command_status)
    except PduError as exc:
        exc.command_id = command_id
        exc.sequence_number = sequence_number
        raise
    except (IndexError, struct.error) as exc:
        raise PduError(
            _S.ESME_RINVCMDLEN,
            f"{cls.__name__} body is truncated",
            command_id=command_id,
            sequence_number=sequence_number,
        ) from exc


def error_response(error: PduError) -> Pdu:
    """What to send back for a PDU that failed to decode.

    A known request whose body is malformed gets its own response carrying the error status, as the
    specification asks; an unknown command, a broken frame, or a malformed response gets a
    generic_nack. Both reuse the offending sequence number when the header was readable.
    """
    sequence_number = error.sequence_number or 0
    cls = PDU_CLASSES.get(error.command_id) if error.command_id is not None else None
    if cls is not None and cls.response_class is not None and error.command_status != _S.ESME_RINVCMDLEN:
        return cls.response_class(sequence_number=sequence_number, command_status=error.command_status)
    return GenericNack(sequence_number=sequence_number, command_status=error.command_status)
